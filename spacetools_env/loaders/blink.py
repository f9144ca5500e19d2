"""BLINK's per-subtask parquet (``BLINK-Benchmark/BLINK``), one file per subtask and split.

Layout of the hub release (notes section 2)::

    <root>/Relative_Depth/val-00000-of-00001.parquet
    <root>/Relative_Depth/test-00000-of-00001.parquet   # answers "hidden": not loaded
    ... (14 subtasks)

Columns read: ``idx`` (``val_Relative_Depth_1``), ``choices`` (option texts), ``answer``
(``"(A)"``), ``prompt`` (the question with its options: the text sent), ``image_1`` ..
``image_4`` (HF image cells ``{"bytes", "path"}``; null when unused, ``image_1`` always set).
``question`` and the card's other columns are not needed. Only split ``val`` exists here.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from spacetools_env.loaders.native import BLINK, NativeSource, decode_rgb
from spacetools_env.loaders.parquet_files import cell, column_values, read_table
from spacetools_env.loaders.rows import BenchmarkRow, CorruptRowError, RowError, describe
from spacetools_env.task import TaskFamily, TaskItem

if TYPE_CHECKING:
    from collections.abc import Callable

    from spacetools_env.config import EnvConfig

SUBTASKS = (
    "Art_Style",
    "Counting",
    "Forensic_Detection",
    "Functional_Correspondence",
    "IQ_Test",
    "Jigsaw",
    "Multi-view_Reasoning",
    "Object_Localization",
    "Relative_Depth",
    "Relative_Reflectance",
    "Semantic_Correspondence",
    "Spatial_Relation",
    "Visual_Correspondence",
    "Visual_Similarity",
)
SPLIT = "val"
IMAGE_COLUMNS = ("image_1", "image_2", "image_3", "image_4")
REQUIRED_COLUMNS = ("idx", "choices", "answer", "prompt", "image_1")
_TEXT_COLUMNS = ("idx", "choices", "answer", "prompt")


def relative_path(subtask: str) -> str:
    """``<Subtask>/val-00000-of-00001.parquet``; raises ValueError for an unknown subtask."""
    if subtask not in SUBTASKS:
        raise ValueError(f"unknown BLINK subtask {subtask!r}; subtasks: {list(SUBTASKS)}")
    return f"{subtask}/{SPLIT}-00000-of-00001.parquet"


def env_name(subtask: str) -> str:
    """The subtask in CamelCase for env ids: ``Multi-view_Reasoning`` -> ``MultiViewReasoning``."""
    parts = subtask.replace("-", "_").split("_")
    return "".join(part[:1].upper() + part[1:] for part in parts)


class BlinkFile:
    """One subtask's val parquet: text columns validated on open, images decoded per item."""

    def __init__(self, path: Path, subtask: str, build: Callable[[BenchmarkRow], TaskItem]) -> None:
        self.path, self.subtask, self.build = path, subtask, build
        self.fix = f"re-download it with `{BLINK.download_command}`"
        self._table = read_table(path, REQUIRED_COLUMNS, self.fix, "BLINK's per-subtask parquet")
        present = [c for c in IMAGE_COLUMNS if c in self._table.column_names]
        self._image_columns = [(c, self._table.column(c)) for c in present]
        self._text = [dict(zip(_TEXT_COLUMNS, v, strict=True)) for v in zip(
            *(column_values(self._table, c, path, self.fix) for c in _TEXT_COLUMNS), strict=True
        )]
        for row, values in enumerate(self._text):
            try:
                _check_text(values)
            except RowError as exc:
                raise CorruptRowError.for_field(path, row, exc.column, exc.expected, exc.found, self.fix) from None
        self.splits = {SPLIT: list(range(len(self._text)))}

    def locate(self, row: int) -> tuple[Path, int]:
        return self.path, row

    def item(self, split: str, index: int, row: int) -> TaskItem:
        values = self._text[row]
        cells = [cell(column, row, name) for name, column in self._image_columns]
        if cells[0] is None:
            raise RowError("image_1", "an image", "null")
        images = tuple(decode_rgb(value, f"image_{k + 1}") for k, value in enumerate(cells) if value is not None)
        stored = BenchmarkRow(
            key=f"blink-{self.subtask}",
            row=index,
            data_source=f"BLINK/{self.subtask}",
            system_prompt=None,
            question=values["prompt"],
            images=images,
            ground_truth=values["answer"],
            extra_info={"choices": values["choices"], "subtask": self.subtask, "idx": values["idx"]},
        )
        return replace(self.build(stored), item_id=f"blink/{self.subtask}/{split}/{index}")


def _check_text(values: dict[str, Any]) -> None:
    for name in ("idx", "prompt", "answer"):
        if not isinstance(values[name], str) or not values[name].strip():
            raise RowError(name, "a non-empty string", describe(values[name]))
    if values["answer"].strip().lower() == "hidden":
        raise RowError("answer", "a gold label such as '(A)' (the test split hides them: use val)", "'hidden'")


@dataclass(frozen=True)
class _BlinkOpener:
    """A picklable ``opener(path)`` for one subtask."""

    subtask: str
    build: Callable[[BenchmarkRow], TaskItem]

    def __call__(self, path: Path) -> BlinkFile:
        return BlinkFile(path, self.subtask, self.build)


def blink_source(
    family: TaskFamily, config: EnvConfig, *, subtask: str, build: Callable[[BenchmarkRow], TaskItem]
) -> NativeSource:
    """Source factory: ``functools.partial(blink_source, subtask=..., build=...)``."""
    del family
    return NativeSource(BLINK, relative_path(subtask), _BlinkOpener(subtask, build), data_dir=config.data_dir)
