"""The SpaceTools evaluation parquet (``siyich/spacetools-eval-benchmarks``) as an item source.

One file per evaluation key, ``data/<key>.parquet``, in verl's RL-dataset format (notes section 0).
Each row has:

- ``data_source`` (str), e.g. ``BLINK/Relative_Depth``;
- ``prompt``: the chat messages sent, ``[{"role": "system", ...}, {"role": "user", ...}]``;
  the user text starts with an ``<image>`` placeholder, which we drop (the image is its own part);
- ``images``: ``[{"image": "data:image/png;base64,..."}]``;
- ``ability`` (str, unused), ``reward_model`` (``{"ground_truth": str, "style": "rule"}``);
- ``extra_info`` (dict: ``question``, ``index`` and per-benchmark extras).

Reading is cheap to repeat. The first ``num_items``/``get`` (the env's ``gym.make``, which so
raises the missing-data error) opens the file once and reads and validates its small columns,
every row (:mod:`~spacetools_env.loaders.parquet_files`: a corrupt file is a typed error); images stay in the file
and are decoded by ``get`` for that row only (the images column is read one row group at a time,
the last two kept). Opened files are shared by every source in the process; decoded items are
kept in a small per-source LRU, so a repeated ``reset`` costs a dictionary lookup.

An eval runner enumerates a benchmark with ``source.num_items("test")`` and
``source.get("test", i)``; ``source.validate()`` decodes every row once (a data check).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spacetools_env.loaders.item_source import CachedItemSource
from spacetools_env.loaders.open_files import open_shared
from spacetools_env.loaders.parquet_files import cell, column_values, open_parquet, read_columns, read_row_group
from spacetools_env.loaders.paths import SPACETOOLS_EVAL, find_benchmark_file
from spacetools_env.loaders.rows import (
    BenchmarkRow,
    CorruptRowError,
    RowError,
    decode_image_data_uri,
    describe,
)
from spacetools_env.task import TaskFamily, TaskItem

if TYPE_CHECKING:
    from spacetools_env.config import EnvConfig

KEYS = (
    "robospatial",
    "reflocation",
    "refplacement",
    "refunseen",
    "blinkdepth",
    "cvb2drelation",
    "cvb3ddepth",
    "boppose",
    "bopgrasp",
)
SPLIT = "test"
REQUIRED_COLUMNS = ("data_source", "prompt", "images", "reward_model", "extra_info")
_SMALL_COLUMNS = ("data_source", "prompt", "reward_model", "extra_info")
_PROMPT_SHAPE = "a list of chat messages [{'role': 'system', 'content': str}, {'role': 'user', 'content': str}]"
_IMAGE_PLACEHOLDER = "<image>"

RowBuilder = Callable[[BenchmarkRow], TaskItem]


def relative_path(key: str) -> str:
    """The file of ``key`` inside the release (``data/<key>.parquet``).

    Raises:
        ValueError: an unknown key.
    """
    if key not in KEYS:
        raise ValueError(f"unknown SpaceTools evaluation key {key!r}; keys: {list(KEYS)}")
    return f"data/{key}.parquet"


def strip_image_placeholders(text: str) -> str:
    """The user text without its leading ``<image>`` placeholders (and the newline after each)."""
    while text.startswith(_IMAGE_PLACEHOLDER):
        text = text[len(_IMAGE_PLACEHOLDER) :].removeprefix("\n")
    return text


@dataclass(frozen=True)
class _StoredRow:
    """The small, validated fields of one row (everything but the images)."""

    data_source: str
    system_prompt: str | None
    question: str
    ground_truth: str
    extra_info: dict[str, Any]


def _parse_prompt(value: Any) -> tuple[str | None, str]:
    """(system text or None, user text) of a stored ``prompt``; raises RowError otherwise."""
    messages = value if isinstance(value, list) else []
    roles = [m.get("role") if isinstance(m, dict) else None for m in messages]
    if roles not in (["system", "user"], ["user"]) or not all(isinstance(m.get("content"), str) for m in messages):
        raise RowError("prompt", _PROMPT_SHAPE, describe(value))
    system = messages[0]["content"] if roles[0] == "system" else None
    return system, strip_image_placeholders(messages[-1]["content"])


def _parse_small(data_source: Any, prompt: Any, reward_model: Any, extra_info: Any) -> _StoredRow:
    if not isinstance(data_source, str):
        raise RowError("data_source", "a string", describe(data_source))
    system, question = _parse_prompt(prompt)
    truth = reward_model.get("ground_truth") if isinstance(reward_model, dict) else None
    if not isinstance(truth, str) or not truth.strip():
        raise RowError("reward_model", "a dict with a non-empty string 'ground_truth'", describe(reward_model))
    if extra_info is not None and not isinstance(extra_info, dict):
        raise RowError("extra_info", "a dict (question, index, ...)", describe(extra_info))
    # Arrow gives every row the union of the struct's fields; drop the ones this row lacks.
    extra = {k: v for k, v in (extra_info or {}).items() if v is not None}
    return _StoredRow(data_source, system, question, truth, extra)


def _decode_images(value: Any) -> tuple[np.ndarray, ...]:
    shape = "a non-empty list of {'image': 'data:image/<type>;base64,...'}"
    if not isinstance(value, list) or not value or not all(isinstance(v, dict) for v in value):
        raise RowError("images", shape, describe(value))
    images = []
    for k, entry in enumerate(value):
        column = f"images[{k}].image"
        if "image" not in entry:
            raise RowError(f"images[{k}]", shape, describe(entry))
        images.append(decode_image_data_uri(entry["image"], column))
    return tuple(images)


class SpaceToolsEvalFile:
    """One opened ``data/<key>.parquet``: small columns validated and held, images read on demand.

    Raises (on construction):
        CorruptFileError: not a readable parquet file, or a required column is missing.
        CorruptRowError: a row's small fields are malformed or unreadable (names file, row and column).
    """

    def __init__(self, path: Path, key: str) -> None:
        self.path, self.key = path, key
        self.fix = f"re-download it with `{SPACETOOLS_EVAL.download_command}`"
        what = "the SpaceTools evaluation parquet (and 'ability')"
        self._file = open_parquet(path, REQUIRED_COLUMNS, self.fix, what)
        table = read_columns(self._file, path, self.fix, list(_SMALL_COLUMNS))
        columns = [column_values(table, name, path, self.fix) for name in _SMALL_COLUMNS]
        self.rows: list[_StoredRow] = []
        for row, values in enumerate(zip(*columns, strict=True)):
            try:
                self.rows.append(_parse_small(*values))
            except RowError as exc:
                raise self.error(row, exc) from None
        metadata = self._file.metadata
        self._group_starts = np.cumsum([0] + [metadata.row_group(g).num_rows for g in range(metadata.num_row_groups)])
        self._groups: OrderedDict[int, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.rows)

    def error(self, row: int, exc: RowError) -> CorruptRowError:
        return CorruptRowError.for_field(self.path, row, exc.column, exc.expected, exc.found, self.fix)

    def _images_value(self, row: int) -> Any:
        group = int(np.searchsorted(self._group_starts, row, side="right") - 1)
        with self._lock:
            column = self._groups.get(group)
            if column is None:
                column = read_row_group(self._file, group, ["images"]).column(0)
                self._groups[group] = column
                while len(self._groups) > 2:
                    self._groups.popitem(last=False)
            else:
                self._groups.move_to_end(group)
            return cell(column, row - int(self._group_starts[group]), "images")

    def row(self, row: int) -> BenchmarkRow:
        """Row ``row`` with its images decoded.

        Raises:
            CorruptRowError: the images are malformed.
        """
        stored = self.rows[row]
        try:
            images = _decode_images(self._images_value(row))
        except RowError as exc:
            raise self.error(row, exc) from None
        return BenchmarkRow(
            key=self.key,
            row=row,
            data_source=stored.data_source,
            system_prompt=stored.system_prompt,
            question=stored.question,
            images=images,
            ground_truth=stored.ground_truth,
            extra_info=stored.extra_info,
        )


def open_eval_file(path: Path, key: str) -> SpaceToolsEvalFile:
    """The opened file at ``path``, shared process-wide while unchanged on disk."""
    return open_shared(path, lambda p: SpaceToolsEvalFile(p, key), ("spacetools-eval", key))


class SpaceToolsEvalSource(CachedItemSource[SpaceToolsEvalFile]):
    """The items of one evaluation key (an :class:`~spacetools_env.task.ItemSource`).

    Args:
        key: The evaluation key, one of :data:`KEYS`.
        build: The family's ``item_from_row``: a :class:`BenchmarkRow` to its item type; raises
            :class:`RowError` for a malformed ground truth.
        data_dir: The ``data_dir=`` argument (see :mod:`spacetools_env.loaders.paths`).
        cache_items: Decoded items kept per source.

    Only split ``"test"`` exists; item ``i`` is row ``i`` of the file. Laziness, the item LRU,
    ``num_items``/``get``/``validate`` and pickling come from :class:`CachedItemSource`.
    """

    def __init__(
        self, key: str, build: RowBuilder, data_dir: str | os.PathLike[str] | None = None, cache_items: int = 16
    ) -> None:
        super().__init__(cache_items)
        self.key, self.build = key, build
        self.relative_path = relative_path(key)
        self.data_dir = None if data_dir is None else os.fspath(data_dir)

    def _open_file(self) -> SpaceToolsEvalFile:
        path = find_benchmark_file(SPACETOOLS_EVAL, self.relative_path, self.data_dir)
        return open_eval_file(path, self.key)

    def _splits(self, opened: SpaceToolsEvalFile) -> Mapping[str, Sequence[int]]:
        return {SPLIT: range(len(opened))}

    def _decode(self, opened: SpaceToolsEvalFile, split: str, index: int, row: int) -> TaskItem:
        return self.build(opened.row(row))

    def _corrupt(self, opened: SpaceToolsEvalFile, row: int, exc: RowError) -> CorruptRowError:
        return opened.error(row, exc)

    def _label(self) -> str:
        return repr(self.key)

    def _unknown_split(self, split: str, splits: Mapping[str, Sequence[int]]) -> str:
        return f"unknown split {split!r} for {self._label()}: this benchmark has only split {SPLIT!r}"


def spacetools_eval_source(
    family: TaskFamily, config: EnvConfig, *, key: str, build: RowBuilder
) -> SpaceToolsEvalSource:
    """Source factory for ``register_task(source=functools.partial(spacetools_eval_source, key=..., build=...))``."""
    del family  # the builder already knows its family's item type
    return SpaceToolsEvalSource(key, build, data_dir=config.data_dir)
