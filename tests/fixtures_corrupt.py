"""Corrupt and hostile files for the loader tests: honest PNG bombs, cut images, flipped bytes, deep JSON.

Everything is built byte by byte in a test's folder, so each test shows exactly what is on disk:

- :func:`bomb_png`: a real PNG (it decodes) declaring ``width x height`` grey pixels, all zero, so
  it compresses to a few hundred KB (13000x13000: about 165 KB; decoded, 169 MB grey or 507 MB
  as RGB);
- :func:`truncated_png`: a PNG cut short, which PIL pads with black if ``LOAD_TRUNCATED_IMAGES``;
- :func:`flip`: one occurrence of a byte string in a file replaced, as a bad disk would;
- :func:`deep_json`, :func:`long_int_json`: JSON that ``json.loads`` rejects with the wrong
  exception (``RecursionError``, a ``ValueError`` about ``sys.set_int_max_str_digits``).
"""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def bomb_png(width: int, height: int) -> bytes:
    """A valid 8-bit greyscale PNG of ``width x height`` zero pixels (compressed row by row)."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    compressor = zlib.compressobj(9)
    row = b"\x00" * (1 + width)  # filter byte 0, then the row's pixels
    block = row * max(1, 4_000_000 // len(row))
    parts, left = [], height
    while left:
        rows = min(left, len(block) // len(row))
        parts.append(compressor.compress(block[: rows * len(row)]))
        left -= rows
    parts.append(compressor.flush())
    return b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", b"".join(parts)) + _chunk(b"IEND", b"")


def png(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def truncated_png(width: int = 16, height: int = 12, keep: float = 0.6) -> bytes:
    """A noisy RGB PNG cut after ``keep`` of its bytes."""
    data = png(np.random.default_rng(0).integers(0, 256, size=(height, width, 3), dtype=np.uint8))
    return data[: int(len(data) * keep)]


def flip(path: Path, needle: bytes, replacement: bytes, occurrence: int = 0) -> None:
    """Replace occurrence ``occurrence`` (0-based) of ``needle`` in the file by ``replacement`` (same length)."""
    assert len(needle) == len(replacement)
    data = path.read_bytes()
    at = -1
    for _ in range(occurrence + 1):
        at = data.find(needle, at + 1)
        assert at >= 0, f"fewer than {occurrence + 1} of {needle!r} in {path}"
    path.write_bytes(data[:at] + replacement + data[at + len(needle):])


def deep_json(depth: int = 100_000) -> str:
    """A JSON array nested ``depth`` levels deep."""
    return "[" * depth + "]" * depth


def long_int_json(digits: int = 5000) -> str:
    """A JSON integer of ``digits`` digits (past Python's 4300-digit conversion limit)."""
    return "1" * digits
