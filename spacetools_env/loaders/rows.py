"""One validated row of a benchmark file, and the data-URI decoders of the evaluation parquet.

A loader turns a stored row into a :class:`BenchmarkRow` (prompts, decoded images, ground-truth
text); the benchmark family's ``item_from_row`` turns that into its item type. Problems with one
field raise :class:`RowError` (the field, what was expected, what was found); the loader, which
knows the file and the row, re-raises it as :class:`CorruptRowError` (the errors live in
:mod:`~spacetools_env.loaders.errors` and are re-exported here; images are opened by
:mod:`~spacetools_env.loaders.images`, within the pixel budget). No pyarrow here: task families
import this module, and importing ``spacetools_env`` stays fast.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from spacetools_env.loaders.errors import CorruptDataError, CorruptFileError, CorruptRowError, RowError, describe
from spacetools_env.loaders.images import image_array

_DATA_URI_PREFIX = "data:image/"

__all__ = [
    "BenchmarkRow",
    "CorruptDataError",
    "CorruptFileError",
    "CorruptRowError",
    "RowError",
    "decode_image_data_uri",
    "decode_mask",
    "describe",
]


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
    return image_array(data, column, rgb=True)


def decode_mask(value: Any, column: str = "reward_model.ground_truth") -> np.ndarray:
    """A binary mask from a base64 PNG (bare or as a data URI), as HxW bool (read-only).

    As RoboRefer reads masks: channel 0 of a multi-channel image, any nonzero value is inside.

    Raises:
        RowError: not a string, corrupt base64, not an image, or no pixel inside the mask.
    """
    if not isinstance(value, str) or not value:
        raise RowError(column, "a base64-encoded PNG mask", describe(value))
    text = value.split(";base64,", 1)[1] if value.startswith(_DATA_URI_PREFIX) else value
    array = image_array(_b64decode(text.strip(), column, "a PNG mask"), column, what="a PNG mask")
    if array.ndim == 3:
        array = array[:, :, 0]
    mask = array > 0
    if not mask.any():
        raise RowError(column, "a mask with at least one foreground pixel", f"an empty {array.shape} mask")
    return _readonly(mask)
