"""The submission directory as untrusted input: sizes, links, code-carrying files, strict JSON.

Nothing here executes or deserializes code: files are read as bytes and parsed with :mod:`json`
only. ``.npy`` headers are read as text (numpy's header parser uses ``ast.literal_eval``) to
tell an object array apart; the array itself is never loaded.
"""

from __future__ import annotations

import io
import os
import pickletools
import re
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.leaderboard.limits import MB, Limits
from benchmarks.leaderboard.report import ValidationReport
from benchmarks.leaderboard.strict_json import JsonTextError, loads

__all__ = ["CODE_SUFFIXES", "MB", "Limits", "code_problem", "loads", "read_json_file", "scan_directory"]

CODE_SUFFIXES = (".pkl", ".pickle", ".npz", ".pt", ".pth", ".joblib", ".ckpt", ".dill", ".cloudpickle")
"""Formats that unpickle on load; any file with one of these suffixes rejects the submission."""
_PICKLE_PROTOCOLS = (2, 3, 4, 5)
_PICKLE_WINDOW = 16 * 1024
"""Bytes of a file read as pickle opcodes (protocols 0 and 1 have no header; see :func:`_pickle_opcodes`)."""
_IMPORTS = frozenset({"GLOBAL", "STACK_GLOBAL", "INST"})
"""Opcodes that import a name: what lets a pickle run code."""
_IMPORT_ARG = re.compile(r"[A-Za-z_][\w.]* [A-Za-z_][\w.]*")
"""``GLOBAL``/``INST``'s argument when it names a module and an attribute (prose rarely does)."""


def scan_directory(root: Path, limits: Limits, report: ValidationReport) -> None:
    """Reject links, files that could carry code, and oversized contents anywhere under ``root``."""
    total, count = 0, 0
    real_root = root.resolve()
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in sorted(dirs + files):
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                report.add(rel, _link_problem(path, real_root))
                continue
            if name in dirs:
                continue
            if not path.is_file():
                report.add(rel, "is not a regular file (device, socket or pipe); only plain files are accepted")
                continue
            count += 1
            total += path.stat().st_size
            problem = code_problem(path)
            if problem:
                report.add(rel, problem)
    if count > limits.max_files:
        report.add(".", f"holds {count} files; at most {limits.max_files} are accepted")
    if total > limits.total_bytes:
        report.add(".", f"holds {total} bytes; at most {limits.total_bytes} are accepted")


def _link_problem(path: Path, real_root: Path) -> str:
    target = os.readlink(path)
    resolved = path.resolve()
    if not resolved.is_relative_to(real_root):
        return f"is a symlink to {target!r}, which resolves outside the submission directory; ship plain files"
    return f"is a symlink (to {target!r}); links are not accepted, ship plain files"


def code_problem(path: Path) -> str | None:
    """Why ``path`` could execute code when loaded (pickle and friends), or None. Never loads it."""
    suffix = path.suffix.lower()
    if suffix in CODE_SUFFIXES:
        return f"{suffix} files can execute code when loaded (pickle); submissions are JSON only, remove it"
    with open(path, "rb") as handle:
        if suffix == ".npy":
            return _npy_problem(handle)
        head = handle.read(_PICKLE_WINDOW)
        whole = not handle.read(1)
    if len(head) >= 2 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOLS:
        return "looks like a pickle (starts with a pickle protocol header); submissions are JSON only, remove it"
    opcodes = _pickle_opcodes(head, whole)
    if opcodes:
        return (
            f"looks like a pickle (its bytes read as pickle opcodes {', '.join(opcodes[:4])}, ...: protocol 0 or 1 "
            "has no header); submissions are JSON only, remove it"
        )
    return None


def _pickle_opcodes(head: bytes, whole: bool) -> list[str]:
    """The opcodes ``head`` reads as when it is a pickle (any protocol), else []. Parses, never unpickles.

    JSON and prose fail within a few bytes: ``{``, ``[`` and ``"`` are no opcodes, and text
    soon holds a byte that is none. A pickle is a stream of valid opcodes that either reaches
    ``STOP`` (3 opcodes or more, or the file's last byte: ``N.`` alone is a pickle of None, "N. B."
    a note) or imports a name (what runs code, even in a stream cut short), or fills the whole
    window with valid opcodes.
    """
    names: list[str] = []
    imports = False
    stream = io.BytesIO(head)
    try:
        for opcode, arg, _ in pickletools.genops(stream):
            names.append(opcode.name)
            imports = imports or (opcode.name in _IMPORTS and (arg is None or bool(_IMPORT_ARG.fullmatch(str(arg)))))
            if opcode.name == "STOP":
                complete = whole and stream.tell() == len(head)
                return names if imports or len(names) >= 3 or complete else []
    except ValueError:  # an invalid opcode or argument, or the bytes ran out before STOP
        ran_out = stream.tell() >= len(head)
        if ran_out and len(names) >= 3 and (imports or not whole):
            return names
    return []


def _npy_problem(handle: Any) -> str | None:
    try:
        version = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        _, _, dtype = read_header(handle)  # the header only (parsed with ast.literal_eval)
    except (ValueError, OSError, SyntaxError) as exc:
        return f"is not a readable .npy file ({exc}); remove it"
    if dtype.hasobject:
        return "is a .npy array of Python objects (loading it unpickles); submissions are JSON only, remove it"
    return None


def read_json_file(root: Path, name: str, limit: int, report: ValidationReport) -> Any | None:
    """The parsed JSON file ``root/name``, or None after adding why it cannot be accepted.

    The problem names the line (``manifest.json:3``) when the JSON text is wrong at one.
    """
    path = root / name
    if path.is_symlink() or not path.exists():
        if not path.is_symlink():
            report.add(name, f"is missing; a submission needs {name} (see benchmarks/leaderboard/__init__.py)")
        return None
    size = path.stat().st_size
    if size > limit:
        report.add(name, f"is {size} bytes; the limit is {limit} bytes")
        return None
    try:
        return loads(path.read_bytes())
    except JsonTextError as exc:
        report.add(f"{name}:{exc.line}" if exc.line else name, f"is not valid JSON ({exc})")
        return None
