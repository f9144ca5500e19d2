"""CV-Bench (``nyu-visionx/CV-Bench``) from its published parquet files.

Layout of the hub release (notes section 3)::

    <root>/test_2d.parquet    # tasks Count, Relation (ADE20K, COCO)
    <root>/test_3d.parquet    # tasks Depth, Distance (Omni3D)

Columns read (the ones the official snippet uses): ``source``, ``task``, ``answer`` (``"(A)"``),
``image`` (HF image cell), ``prompt`` (question with options: the text sent), ``choices``. One
source per task; its split ``test`` holds the file's rows of that task, in file order. The
``jsonl`` + ``img/`` variant is not read here (see the package note).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spacetools_env.loaders.native import CVBENCH, NativeSource, decode_rgb, read_parquet_columns
from spacetools_env.loaders.rows import BenchmarkRow, CorruptRowError, RowError, describe
from spacetools_env.task import TaskFamily, TaskItem

if TYPE_CHECKING:
    from collections.abc import Callable

    from spacetools_env.config import EnvConfig

TASKS = {"Count": "test_2d.parquet", "Relation": "test_2d.parquet", "Depth": "test_3d.parquet",
         "Distance": "test_3d.parquet"}
SPLIT = "test"
REQUIRED_COLUMNS = ("source", "task", "answer", "image", "prompt", "choices")
_TEXT_COLUMNS = ("source", "task", "answer", "prompt", "choices")


def _check_text(values: dict[str, Any]) -> None:
    for name in ("source", "task", "answer", "prompt"):
        if not isinstance(values[name], str) or not values[name].strip():
            raise RowError(name, "a non-empty string", describe(values[name]))
    if not isinstance(values["choices"], list):
        raise RowError("choices", "a list of options", describe(values["choices"]))


class CVBenchFile:
    """One ``test_2d``/``test_3d`` parquet restricted to one task; images decoded per item."""

    def __init__(self, path: Path, task: str, build: Callable[[BenchmarkRow], TaskItem]) -> None:
        self.path, self.task, self.build = path, task, build
        self.fix = f"re-download it with `{CVBENCH.download_command}`"
        table = read_parquet_columns(path, REQUIRED_COLUMNS, self.fix, "CV-Bench's test parquet")
        self._images = table.column("image")
        columns = [table.column(c).to_pylist() for c in _TEXT_COLUMNS]
        self._text = [dict(zip(_TEXT_COLUMNS, values, strict=True)) for values in zip(*columns, strict=True)]
        for row, values in enumerate(self._text):
            try:
                _check_text(values)
            except RowError as exc:
                raise CorruptRowError.for_field(path, row, exc.column, exc.expected, exc.found, self.fix) from None
        self.splits = {SPLIT: [row for row, values in enumerate(self._text) if values["task"] == task]}

    def locate(self, row: int) -> tuple[Path, int]:
        return self.path, row

    def item(self, split: str, index: int, row: int) -> TaskItem:
        values = self._text[row]
        image = decode_rgb(self._images[row].as_py(), "image")
        stored = BenchmarkRow(
            key=f"cvbench-{self.task}",
            row=index,
            data_source=f"CV-Bench/{values['source']}/{self.task}",
            system_prompt=None,
            question=values["prompt"],
            images=(image,),
            ground_truth=values["answer"],
            extra_info={"choices": values["choices"], "task": self.task, "source": values["source"], "index": row},
        )
        return replace(self.build(stored), item_id=f"cvbench/{self.task}/{split}/{index}")


@dataclass(frozen=True)
class _CVBenchOpener:
    """A picklable ``opener(path)`` for one task."""

    task: str
    build: Callable[[BenchmarkRow], TaskItem]

    def __call__(self, path: Path) -> CVBenchFile:
        return CVBenchFile(path, self.task, self.build)


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
    return NativeSource(CVBENCH, TASKS[task], _CVBenchOpener(task, build), data_dir=config.data_dir)
