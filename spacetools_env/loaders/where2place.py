"""Where2Place (``wentao-yuan/where2place``) in its released layout.

Layout (notes section 5)::

    <root>/point_questions.jsonl   # one {question_id, image, text, category} per line
    <root>/images/<image>          # 640x480 RGB
    <root>/masks/<NN>.jpg          # soft JPEG mask of line NN (two digits, 0-based)

Upstream aligns questions, answers and masks **by line order**, so the mask of line ``i`` is
``masks/{i:02d}.jpg`` (**UNVERIFIED** that it never follows ``question_id``; the two agree in the
release as described). Split ``test`` is every line, in order. ``bbox_questions.jsonl`` is not read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spacetools_env.loaders.json_files import json_line, json_lines
from spacetools_env.loaders.native import NativeSource, decode_raw, decode_rgb
from spacetools_env.loaders.paths import HubDataset
from spacetools_env.loaders.rows import BenchmarkRow, CorruptRowError, RowError, describe
from spacetools_env.task import TaskFamily, TaskItem

if TYPE_CHECKING:
    from spacetools_env.config import EnvConfig

WHERE2PLACE = HubDataset(name="where2place", repo_id="wentao-yuan/where2place")
QUESTIONS = "point_questions.jsonl"
SPLIT = "test"

W2PBuilder = Callable[[BenchmarkRow, np.ndarray], TaskItem]


def _check(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RowError("<line>", "a JSON object {question_id, image, text, category}", describe(value))
    for name in ("image", "text"):
        if not isinstance(value.get(name), str) or not value[name].strip():
            raise RowError(name, "a non-empty string", describe(value.get(name)))
    return value


class Where2PlaceFile:
    """``point_questions.jsonl`` validated on open; image and mask decoded per item."""

    def __init__(self, path: Path, build: W2PBuilder) -> None:
        self.path, self.build, self.root = path, build, path.parent
        self.fix = f"re-download with `{WHERE2PLACE.download_command}`"
        self.records: list[dict[str, Any]] = []
        for row, line in enumerate(json_lines(path, self.fix)):
            try:
                self.records.append(_check(json_line(line)))
            except RowError as exc:
                raise CorruptRowError.for_field(path, row, exc.column, exc.expected, exc.found, self.fix) from None
        self.splits = {SPLIT: list(range(len(self.records)))}

    def locate(self, row: int) -> tuple[Path, int]:
        return self.path, row

    def item(self, split: str, index: int, row: int) -> TaskItem:
        record = self.records[row]
        image = decode_rgb(f"images/{record['image']}", "image", self.root)
        mask = decode_raw(f"masks/{row:02d}.jpg", "mask", self.root)
        extra = {"category": record.get("category"), "question_id": record.get("question_id"), "index": row}
        stored = BenchmarkRow(
            key="where2place", row=index, data_source="Where2Place", system_prompt=None,
            question=record["text"], images=(image,), ground_truth="", extra_info=extra,
        )
        return replace(self.build(stored, mask), item_id=f"where2place/{split}/{index}")


@dataclass(frozen=True)
class _W2POpener:
    """A picklable ``opener(path)`` bound to the family's builder."""

    build: W2PBuilder

    def __call__(self, path: Path) -> Where2PlaceFile:
        return Where2PlaceFile(path, self.build)


def where2place_source(family: TaskFamily, config: EnvConfig, *, build: W2PBuilder) -> NativeSource:
    """Source factory: ``functools.partial(where2place_source, build=...)``."""
    del family
    return NativeSource(WHERE2PLACE, QUESTIONS, _W2POpener(build), data_dir=config.data_dir)
