"""CV-Bench (``nyu-visionx/CV-Bench``) from its published files: parquet, or jsonl + ``img/``.

Layouts of the hub release (notes section 3)::

    <root>/test_2d.parquet    # tasks Count, Relation (ADE20K, COCO); images embedded
    <root>/test_3d.parquet    # tasks Depth, Distance (Omni3D)
    <root>/test_2d.jsonl      # the same rows, one JSON object per line, images as files:
    <root>/test_3d.jsonl      #   "filename": "img/2D/count/coco_287.png" (relative to <root>)
    <root>/img/2D/{count,relation}/..., <root>/img/3D/{depth,distance}/...

Older revisions hold one ``test.parquet`` / ``test.jsonl`` with all four tasks instead. Each task
is read from the first of ``test_<2d|3d>.parquet``, ``test_<2d|3d>.jsonl``, ``test.parquet``,
``test.jsonl`` present (:func:`~spacetools_env.loaders.native.find_layout`: the first place, in
``data_dir=`` / ``$SPACETOOLS_DATA_DIR`` / HF cache order, holding any of them; within a place,
parquet before jsonl, the current split files before the old single file). Both formats give the
same items, so one family serves both.

Fields read (the ones the official snippet uses): ``source``, ``task``, ``answer`` (``"(A)"``),
``prompt`` (question with options: the text sent), ``choices``; the image is the parquet's
``image`` cell, or in jsonl the file named by ``filename`` (**UNVERIFIED** name, from the row
schema quoted by third-party loaders; a string ``image`` field is the accepted alternative).
One source per task; its split ``test`` holds the file's rows of that task, in file order.
Item meta carries ``source`` and ``task`` for the official aggregation.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spacetools_env.loaders.json_files import json_line, json_lines
from spacetools_env.loaders.native import CVBENCH, Layout, NativeSource, decode_rgb
from spacetools_env.loaders.parquet_files import cell, column_values, read_table
from spacetools_env.loaders.rows import BenchmarkRow, CorruptRowError, RowError, describe
from spacetools_env.task import TaskFamily, TaskItem

if TYPE_CHECKING:
    from collections.abc import Callable

    from spacetools_env.config import EnvConfig

TASKS = {"Count": "test_2d.parquet", "Relation": "test_2d.parquet", "Depth": "test_3d.parquet",
         "Distance": "test_3d.parquet"}
"""Task -> its preferred file; the other layouts are in :func:`layouts`."""
SPLIT = "test"
REQUIRED_COLUMNS = ("source", "task", "answer", "image", "prompt", "choices")
_TEXT_COLUMNS = ("source", "task", "answer", "prompt", "choices")
IMAGE_PATH_FIELDS = ("filename", "image")
"""jsonl fields naming the image file, the first string one wins (``filename``: **UNVERIFIED**)."""


def _check_text(values: dict[str, Any]) -> None:
    for name in ("source", "task", "answer", "prompt"):
        if not isinstance(values.get(name), str) or not values[name].strip():
            raise RowError(name, "a non-empty string", describe(values.get(name)))
    if not isinstance(values.get("choices"), list):
        raise RowError("choices", "a list of options", describe(values.get("choices")))


class _CVBenchRows:
    """The text of every row validated on open, restricted to one task; images decoded per item."""

    def __init__(self, path: Path, task: str, build: Callable[[BenchmarkRow], TaskItem]) -> None:
        self.path, self.task, self.build = path, task, build
        self.fix = f"re-download it with `{CVBENCH.download_command}`"
        self._text = self._read_text()
        for row, values in enumerate(self._text):
            try:
                _check_text(values)
            except RowError as exc:
                raise CorruptRowError.for_field(path, row, exc.column, exc.expected, exc.found, self.fix) from None
        self.splits = {SPLIT: [row for row, values in enumerate(self._text) if values["task"] == task]}

    def _read_text(self) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _image(self, row: int) -> np.ndarray:
        raise NotImplementedError

    def locate(self, row: int) -> tuple[Path, int]:
        return self.path, row

    def item(self, split: str, index: int, row: int) -> TaskItem:
        values = self._text[row]
        stored = BenchmarkRow(
            key=f"cvbench-{self.task}",
            row=index,
            data_source=f"CV-Bench/{values['source']}/{self.task}",
            system_prompt=None,
            question=values["prompt"],
            images=(self._image(row),),
            ground_truth=values["answer"],
            extra_info={"choices": values["choices"], "task": self.task, "source": values["source"], "index": row},
        )
        return replace(self.build(stored), item_id=f"cvbench/{self.task}/{split}/{index}")


class CVBenchFile(_CVBenchRows):
    """One ``test_2d``/``test_3d`` (or old ``test``) parquet restricted to one task."""

    def _read_text(self) -> list[dict[str, Any]]:
        table = read_table(self.path, REQUIRED_COLUMNS, self.fix, "CV-Bench's test parquet")
        self._images = table.column("image")
        columns = [column_values(table, c, self.path, self.fix) for c in _TEXT_COLUMNS]
        return [dict(zip(_TEXT_COLUMNS, values, strict=True)) for values in zip(*columns, strict=True)]

    def _image(self, row: int) -> np.ndarray:
        return decode_rgb(cell(self._images, row, "image"), "image")


class CVBenchJsonlFile(_CVBenchRows):
    """One ``test_2d``/``test_3d`` (or old ``test``) jsonl restricted to one task; images under ``img/``."""

    def _read_text(self) -> list[dict[str, Any]]:
        rows = []
        for row, line in enumerate(json_lines(self.path, self.fix)):
            try:
                rows.append(_jsonl_record(line))
            except RowError as exc:
                raise CorruptRowError.for_field(self.path, row, exc.column, exc.expected, exc.found, self.fix) from None
        return rows

    def _image(self, row: int) -> np.ndarray:
        values = self._text[row]
        return decode_rgb(values["_image_path"], values["_image_field"], self.path.parent)


def _jsonl_record(line: str) -> dict[str, Any]:
    """One jsonl line, with the image path found under ``_image_path`` (field in ``_image_field``)."""
    value = json_line(line)
    if not isinstance(value, dict):
        expected = "a JSON object {source, task, answer, prompt, choices, filename, ...}"
        raise RowError("<line>", expected, describe(value))
    field = next((f for f in IMAGE_PATH_FIELDS if isinstance(value.get(f), str) and value[f].strip()), None)
    if field is None:
        expected = "a relative image path such as 'img/2D/count/coco_287.png'"
        raise RowError(IMAGE_PATH_FIELDS[0], expected, describe(value.get(IMAGE_PATH_FIELDS[0])))
    return {**{c: value.get(c) for c in _TEXT_COLUMNS}, "_image_path": value[field], "_image_field": field}


@dataclass(frozen=True)
class _CVBenchOpener:
    """A picklable ``opener(path)`` for one task and one format."""

    task: str
    build: Callable[[BenchmarkRow], TaskItem]
    reader: type[_CVBenchRows] = CVBenchFile

    def __call__(self, path: Path) -> _CVBenchRows:
        return self.reader(path, self.task, self.build)


def layouts(task: str, build: Callable[[BenchmarkRow], TaskItem]) -> tuple[Layout, ...]:
    """The files ``task`` may be read from, preferred first (see the module docstring)."""
    dim = TASKS[task].removesuffix(".parquet")
    parquet, jsonl = _CVBenchOpener(task, build), _CVBenchOpener(task, build, CVBenchJsonlFile)
    return (
        Layout(f"{dim}.parquet", parquet, "parquet, images embedded"),
        Layout(f"{dim}.jsonl", jsonl, "jsonl + img/"),
        Layout("test.parquet", parquet, "older revisions: one parquet for all tasks"),
        Layout("test.jsonl", jsonl, "older revisions: one jsonl + img/ for all tasks"),
    )


def cvbench_source(
    family: TaskFamily, config: EnvConfig, *, task: str, build: Callable[[BenchmarkRow], TaskItem]
) -> NativeSource:
    """Source factory: ``functools.partial(cvbench_source, task=..., build=...)``.

    Raises:
        ValueError: an unknown task.
    """
    del family
    if task not in TASKS:
        raise ValueError(f"unknown CV-Bench task {task!r}; tasks: {list(TASKS)}")
    preferred, *others = layouts(task, build)
    return NativeSource(
        CVBENCH, preferred.relative_path, preferred.opener, data_dir=config.data_dir, alternatives=others
    )
