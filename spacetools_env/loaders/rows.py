"""One validated row of a benchmark file, and the decoders and errors every loader shares.

A loader turns a stored row into a :class:`BenchmarkRow` (prompts, decoded images, ground-truth
text); the benchmark family's ``item_from_row`` turns that into its item type. Problems with one
field raise :class:`RowError` (the field, what was expected, what was found); the loader, which
knows the file and the row, re-raises it as :class:`CorruptRowError`. No pyarrow here: task
families import this module, and importing ``spacetools_env`` stays fast.
"""

from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

_DATA_URI_PREFIX = "data:image/"
_MAX_SHOWN = 60


def describe(value: Any) -> str:
    """A short description of a found value for error messages (type and a clipped repr)."""
    text = repr(value)
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 3] + "..."
    return f"{type(value).__name__} {text}"


class RowError(ValueError):
    """One field of a row is not what the format promises (the loader adds file and row)."""

    def __init__(self, column: str, expected: str, found: str) -> None:
        self.column, self.expected, self.found = column, expected, found
        super().__init__(f"column {column!r}: expected {expected}, got {found}")

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        return (type(self), (self.column, self.expected, self.found))


class CorruptRowError(ValueError):
    """A row of a benchmark file is malformed (built by :meth:`for_field`).

    Constructible from its message alone, as Gymnasium's async vector env re-raises worker errors.

    Attributes:
        path: The file.
        row: The row's index in the file (0-based).
        column: The column (``reward_model.ground_truth`` for a nested field).
    """

    def __init__(
        self, message: object, *, path: Path | None = None, row: int | None = None, column: str | None = None
    ) -> None:
        super().__init__(str(message))
        self.path, self.row, self.column = path, row, column

    @classmethod
    def for_field(cls, path: Path, row: int, column: str, expected: str, found: str, fix: str) -> CorruptRowError:
        message = f"{path}, row {row}, column {column!r}: expected {expected}, got {found}. Fix: {fix}"
        return cls(message, path=Path(path), row=row, column=column)


class CorruptFileError(ValueError):
    """A benchmark file cannot be read at all, or lacks a column (names the file and the fix)."""


@dataclass(frozen=True)
class BenchmarkRow:
    """One benchmark question as stored, images decoded.

    Attributes:
        key: The evaluation key (``robospatial``, ``blinkdepth``, ...).
        row: The row's index in its file; the item's index in split ``test``.
        data_source: The stored ``data_source`` (e.g. ``BLINK/Relative_Depth``).
        system_prompt: The stored system message (None when the row has none).
        question: The stored user text, without a leading ``<image>`` placeholder.
        images: The question images, HxWx3 uint8, read-only.
        ground_truth: ``reward_model.ground_truth`` as stored.
        extra_info: The stored ``extra_info`` dict (``question``, ``index``, per-benchmark extras).
    """

    key: str
    row: int
    data_source: str
    system_prompt: str | None
    question: str
    images: tuple[np.ndarray, ...]
    ground_truth: str
    extra_info: Mapping[str, Any] = field(default_factory=dict)

    @property
    def item_id(self) -> str:
        return f"{self.key}/test/{self.row}"

    def item_fields(self, question_type: str, **meta: Any) -> dict[str, Any]:
        """The :class:`~spacetools_env.task.TaskItem` fields every benchmark item shares.

        ``meta`` holds ``question_type``, ``data_source``, ``key`` and ``source_index`` (the
        stored ``extra_info.index``), plus the family's extras. The parquet ships no depth or
        masks for the tools, so ``truth`` is None per image (oracle tools answer "no ground truth").
        """
        source_index = self.extra_info.get("index")
        return {
            "item_id": self.item_id,
            "question": self.question,
            "images": self.images,
            "truth": (None,) * len(self.images),
            "system_prompt": self.system_prompt,
            "meta": {
                "question_type": question_type,
                "data_source": self.data_source,
                "key": self.key,
                "source_index": source_index if isinstance(source_index, int | str) else None,
                **meta,
            },
        }


def _b64decode(text: str, column: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise RowError(column, f"{what} in valid base64", f"corrupt base64 ({len(text)} characters)") from None


def _open_png(data: bytes, column: str, what: str) -> Image.Image:
    try:
        image = Image.open(io.BytesIO(data))
        image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise RowError(column, what, f"{len(data)} bytes that are no readable image ({exc})") from None
    return image


def _readonly(array: np.ndarray) -> np.ndarray:
    array = np.ascontiguousarray(array)
    array.flags.writeable = False  # items are cached and shared: nobody may draw on them
    return array


def decode_image_data_uri(value: Any, column: str = "images") -> np.ndarray:
    """An RGB image from a ``data:image/<type>;base64,<data>`` URI, as HxWx3 uint8 (read-only).

    Raises:
        RowError: not a string data URI, corrupt base64, or bytes that are not an image.
    """
    expected = "an image as a 'data:image/<type>;base64,...' string"
    if not isinstance(value, str) or not value.startswith(_DATA_URI_PREFIX) or ";base64," not in value:
        raise RowError(column, expected, describe(value))
    data = _b64decode(value.split(";base64,", 1)[1], column, "image bytes")
    image = _open_png(data, column, "an image file (PNG, JPEG, ...)")
    return _readonly(np.asarray(image.convert("RGB"), dtype=np.uint8))


def decode_mask(value: Any, column: str = "reward_model.ground_truth") -> np.ndarray:
    """A binary mask from a base64 PNG (bare or as a data URI), as HxW bool (read-only).

    As RoboRefer reads masks: channel 0 of a multi-channel image, any nonzero value is inside.

    Raises:
        RowError: not a string, corrupt base64, not an image, or no pixel inside the mask.
    """
    if not isinstance(value, str) or not value:
        raise RowError(column, "a base64-encoded PNG mask", describe(value))
    text = value.split(";base64,", 1)[1] if value.startswith(_DATA_URI_PREFIX) else value
    image = _open_png(_b64decode(text.strip(), column, "a PNG mask"), column, "a PNG mask")
    array = np.asarray(image)
    if array.ndim == 3:
        array = array[:, :, 0]
    mask = array > 0
    if not mask.any():
        raise RowError(column, "a mask with at least one foreground pixel", f"an empty {array.shape} mask")
    return _readonly(mask)
