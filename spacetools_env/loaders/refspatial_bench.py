"""RefSpatial-Bench (``BAAI/RefSpatial-Bench``) from its raw folders, as RoboRefer's eval reads them.

Layout (notes section 4)::

    <root>/Location/question.json   # [{id, object, prompt, suffix, rgb_path, mask_path, category, step}]
    <root>/Location/image/...       # rgb_path, relative to the task folder
    <root>/Location/mask/...        # mask_path: binary mask image (channel 0, > 0 is inside)
    <root>/Placement/..., <root>/Unseen/...

One source per task folder; split ``test`` is every record, in order. The question is RoboRefer's
default prompt ``f"{prompt} {suffix}"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spacetools_env.loaders.json_files import read_json
from spacetools_env.loaders.native import NativeSource, decode_raw, decode_rgb
from spacetools_env.loaders.paths import HubDataset
from spacetools_env.loaders.rows import BenchmarkRow, CorruptFileError, CorruptRowError, RowError, describe
from spacetools_env.task import TaskFamily, TaskItem

if TYPE_CHECKING:
    from spacetools_env.config import EnvConfig

REFSPATIAL_BENCH = HubDataset(name="refspatial-bench", repo_id="BAAI/RefSpatial-Bench")
TASKS = ("Location", "Placement", "Unseen")
SPLIT = "test"
_TEXT_FIELDS = ("prompt", "suffix", "rgb_path", "mask_path")

MaskBuilder = Callable[[BenchmarkRow, np.ndarray], TaskItem]


def _check(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RowError("<record>", "an object {id, object, prompt, suffix, rgb_path, mask_path, ...}", describe(value))
    for name in _TEXT_FIELDS:
        if not isinstance(value.get(name), str) or (name != "suffix" and not value[name].strip()):
            raise RowError(name, "a string" if name == "suffix" else "a non-empty string", describe(value.get(name)))
    return value


class RefSpatialBenchFile:
    """One task folder's ``question.json``, validated on open; image and mask decoded per item."""

    def __init__(self, path: Path, task: str, build: MaskBuilder) -> None:
        self.path, self.task, self.build, self.root = path, task, build, path.parent
        self.fix = f"re-download with `{REFSPATIAL_BENCH.download_command}`"
        data = read_json(path, self.fix)
        if not isinstance(data, list):
            found = describe(data)
            raise CorruptFileError(f"{path}: expected a JSON list of records, got {found}. Fix: {self.fix}.", path=path)
        self.records: list[dict[str, Any]] = []
        for row, value in enumerate(data):
            try:
                self.records.append(_check(value))
            except RowError as exc:
                raise CorruptRowError.for_field(path, row, exc.column, exc.expected, exc.found, self.fix) from None
        self.splits = {SPLIT: list(range(len(self.records)))}

    def locate(self, row: int) -> tuple[Path, int]:
        return self.path, row

    def item(self, split: str, index: int, row: int) -> TaskItem:
        record = self.records[row]
        image = decode_rgb(record["rgb_path"], "rgb_path", self.root)
        mask = decode_raw(record["mask_path"], "mask_path", self.root)
        extra = {k: record.get(k) for k in ("id", "step", "category", "object")} | {"split": self.task.lower()}
        stored = BenchmarkRow(
            key=f"refspatial-bench-{self.task.lower()}", row=index, data_source=f"RefSpatial-Bench/{self.task}",
            system_prompt=None, question=f"{record['prompt']} {record['suffix']}".strip(), images=(image,),
            ground_truth="", extra_info=extra,
        )
        return replace(self.build(stored, mask), item_id=f"refspatial-bench/{self.task}/{split}/{index}")


@dataclass(frozen=True)
class _RefOpener:
    """A picklable ``opener(path)`` for one task folder."""

    task: str
    build: MaskBuilder

    def __call__(self, path: Path) -> RefSpatialBenchFile:
        return RefSpatialBenchFile(path, self.task, self.build)


def refspatial_bench_source(family: TaskFamily, config: EnvConfig, *, task: str, build: MaskBuilder) -> NativeSource:
    """Source factory: ``functools.partial(refspatial_bench_source, task=..., build=...)``.

    Raises:
        ValueError: an unknown task folder.
    """
    del family
    if task not in TASKS:
        raise ValueError(f"unknown RefSpatial-Bench task {task!r}; tasks: {list(TASKS)}")
    return NativeSource(REFSPATIAL_BENCH, f"{task}/question.json", _RefOpener(task, build), data_dir=config.data_dir)
