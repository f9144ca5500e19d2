"""RoboSpatial-Home: the official downloader's layout, else the hub parquet it is made from.

``download_benchmark.py`` of ``chanhee-luke/RoboSpatial-Eval`` writes (notes section 1)::

    <root>/annotations.json    # [{category, question, answer, img, depth_image, mask}, ...]
    <root>/images/             # the RGB, depth and mask PNGs the records name (relative paths)

As the official scorer does (``main.py``), **every** ``*.json`` in that folder is read and the
records concatenated (``annotations.json`` first, then the others by name).

The hub copy (``chanhee-luke/RoboSpatial-Home``, what ``spacetools data download
robospatial-home`` fetches) is parquet, one config, splits ``context``, ``compatibility``,
``configuration``; columns ``category``, ``question``, ``answer`` (strings), ``img``,
``depth_image``, ``mask`` (HF image cells ``{"bytes", "path"}``; ``depth_image`` and ``mask``
may be null or absent). **UNVERIFIED** file names: ``data/<split>-NNNNN-of-NNNNN.parquet`` (what
``push_to_hub`` writes; every ``data/<split>-*.parquet`` shard is read, by name). Its ``test``
order is the split order above, the order the downloader walks them (also **UNVERIFIED**: the
order ``load_dataset`` lists the splits), so item indices agree with a downloaded
``annotations.json``; a record's ``img`` is the name the downloader gives the PNG it writes
(``images/img_<split>_<i>.png``), the key RoboSpatial-Eval matches results on.

``<root>`` is found like every release (:mod:`spacetools_env.loaders.paths`): under ``data_dir=``,
``$SPACETOOLS_DATA_DIR`` or the HF cache, the first place holding either layout; the downloader
layout wins when one place holds both (:func:`~spacetools_env.loaders.native.find_layout`).

Splits: ``test`` (all records, in that order) and one per category (``configuration``,
``compatibility``, ``context``). Records are validated when the files open; images, depth and
mask are decoded per item. Depth and mask become the item's oracle-tool truth the same way in
both layouts (:func:`depth_truth`; units and focal length: see
:mod:`spacetools_env.tasks.bench_robospatial_home`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spacetools_env.loaders.json_files import read_json
from spacetools_env.loaders.native import ROBOSPATIAL_HOME, Layout, NativeSource, decode_raw, decode_rgb
from spacetools_env.loaders.open_files import files_stamp
from spacetools_env.loaders.parquet_files import cell, column_values, read_table
from spacetools_env.loaders.rows import BenchmarkRow, CorruptFileError, CorruptRowError, RowError, describe
from spacetools_env.task import TaskFamily, TaskItem
from tool_backends import GroundTruth

if TYPE_CHECKING:
    from spacetools_env.config import EnvConfig

ANNOTATIONS = "annotations.json"
CATEGORIES = ("configuration", "compatibility", "context")
HUB_SPLITS = ("context", "compatibility", "configuration")
"""The hub parquet's splits, in the order the downloader writes them (**UNVERIFIED** order)."""
HUB_PARQUET = f"data/{HUB_SPLITS[0]}-*.parquet"
"""The file marking the hub parquet layout (**UNVERIFIED** name: ``push_to_hub``'s)."""
HUB_COLUMNS = ("category", "question", "answer", "img")
"""Columns the hub parquet must have; ``depth_image`` and ``mask`` are read when present."""
SPLITS = ("test", *CATEGORIES)
DEPTH_SCALE_M = 0.001  # UNVERIFIED: 16-bit depth PNGs taken as millimetres
ASSUMED_HFOV_DEG = 60.0  # UNVERIFIED: the release ships no intrinsics
_TEXT_FIELDS = ("category", "question", "answer", "img")

HomeBuilder = Callable[[BenchmarkRow, GroundTruth | None], TaskItem]


@dataclass(frozen=True)
class _Record:
    file: Path  # the JSON file or parquet shard holding the record
    file_row: int
    category: str
    question: str
    answer: str
    img: str  # as annotations.json names it (images/...)
    depth_image: str | None
    mask: str | None


def _parse_record(value: Any, path: Path, index: int) -> _Record:
    if not isinstance(value, dict):
        raise RowError("<record>", "an object {category, question, answer, img, depth_image, mask}", describe(value))
    for name in _TEXT_FIELDS:
        if not isinstance(value.get(name), str) or not value[name].strip():
            raise RowError(name, "a non-empty string", describe(value.get(name)))
    for name in ("depth_image", "mask"):
        if value.get(name) is not None and not isinstance(value[name], str):
            raise RowError(name, "a relative image path or null", describe(value[name]))
    category = value["category"].strip().lower()
    if category not in CATEGORIES:
        raise RowError("category", f"one of {list(CATEGORIES)}", describe(value["category"]))
    return _Record(
        path, index, category, value["question"], value["answer"], value["img"],
        value.get("depth_image") or None, value.get("mask") or None,
    )


def depth_truth(depth: np.ndarray, mask: np.ndarray | None, image_shape: tuple[int, ...]) -> GroundTruth | None:
    """Oracle-tool truth from a stored depth image (and mask); None for 8-bit (non-metric) depth.

    Raises:
        RowError: depth or mask size differs from the image's.
    """
    height, width = image_shape[:2]
    if depth.shape != (height, width):
        raise RowError("depth_image", f"a {width}x{height} depth image (the RGB size)", f"shape {depth.shape}")
    if depth.dtype == np.uint8:
        return None
    metres = depth.astype(np.float32) * (DEPTH_SCALE_M if np.issubdtype(depth.dtype, np.integer) else 1.0)
    metres[~np.isfinite(metres) | (metres <= 0)] = np.inf
    segmentation = np.zeros((height, width), dtype=np.int32)
    if mask is not None:
        if mask.shape != (height, width):
            raise RowError("mask", f"a {width}x{height} mask (the RGB size)", f"shape {mask.shape}")
        segmentation[mask > 0] = 1
    focal = width / (2.0 * math.tan(math.radians(ASSUMED_HFOV_DEG) / 2.0))
    return GroundTruth(depth=metres, focal_length_px=focal, segmentation=segmentation)


class _HomeRecords:
    """Records validated on open, split by category; image, depth and mask decoded per item.

    A layout supplies ``records`` and ``_cells(row)``: the img, depth and mask cells as
    :func:`~spacetools_env.loaders.native.image_bytes` reads them (relative to ``base``).
    """

    path: Path
    fix: str
    base: Path | None = None

    def __init__(self, build: HomeBuilder, records: list[_Record]) -> None:
        self.build, self.records = build, records
        self.splits = {"test": list(range(len(records)))}
        for category in CATEGORIES:
            self.splits[category] = [i for i, r in enumerate(records) if r.category == category]

    def _cells(self, row: int) -> tuple[Any, Any, Any]:
        raise NotImplementedError

    def locate(self, row: int) -> tuple[Path, int]:
        record = self.records[row]
        return record.file, record.file_row

    def item(self, split: str, index: int, row: int) -> TaskItem:
        record = self.records[row]
        img, depth, mask = self._cells(row)
        image = decode_rgb(img, "img", self.base)
        truth = None
        if depth is not None:  # depth and mask are the RGB's size: checked from their headers, before decoding
            size = (image.shape[1], image.shape[0])
            mask_array = None if mask is None else decode_raw(mask, "mask", self.base, size)
            truth = depth_truth(decode_raw(depth, "depth_image", self.base, size), mask_array, image.shape)
        stored = BenchmarkRow(
            key="robospatial-home",
            row=index,
            data_source=f"RoboSpatial-Home/{record.category}",
            system_prompt=None,
            question=record.question,
            images=(image,),
            ground_truth=record.answer,
            extra_info={"category": record.category, "index": row, "img": record.img},
        )
        built = self.build(stored, truth)
        return replace(built, item_id=f"robospatial-home/{split}/{index}")


def _fix() -> str:
    return f"re-download with `{ROBOSPATIAL_HOME.download_command}` (or RoboSpatial-Eval's download_benchmark.py)"


class RoboSpatialHomeFile(_HomeRecords):
    """Every ``*.json`` of one downloader folder, records validated; images decoded per item.

    Raises (on construction):
        CorruptFileError: a JSON file cannot be read or is not a list.
        CorruptRowError: a record is malformed (names the JSON file, the record and the field).
    """

    def __init__(self, path: Path, build: HomeBuilder) -> None:
        self.path, self.root, self.base, self.fix = path, path.parent, path.parent, _fix()
        files = [path, *sorted(p for p in self.root.glob("*.json") if p.name != path.name)]
        records: list[_Record] = []
        for file in files:
            data = read_json(file, self.fix)
            if not isinstance(data, list):
                found = describe(data)
                raise CorruptFileError(
                    f"{file}: expected a JSON list of records, got {found}. Fix: {self.fix}.", path=file
                )
            for index, value in enumerate(data):
                try:
                    records.append(_parse_record(value, file, index))
                except RowError as exc:
                    fields = (exc.column, exc.expected, exc.found, self.fix)
                    raise CorruptRowError.for_field(file, index, *fields) from None
        super().__init__(build, records)

    def _cells(self, row: int) -> tuple[Any, Any, Any]:
        record = self.records[row]
        return record.img, record.depth_image, record.mask


class RoboSpatialHomeParquet(_HomeRecords):
    """The hub parquet: every ``<split>-*.parquet`` shard beside ``path``, in :data:`HUB_SPLITS` order.

    Raises (on construction):
        CorruptFileError: a split has no shard, a shard is unreadable or lacks a column.
        CorruptRowError: a row is malformed (names the shard, its row and the column).
    """

    def __init__(self, path: Path, build: HomeBuilder) -> None:
        self.path, self.fix = path, _fix()
        self._cells_at: list[tuple[Any, Any, Any, int]] = []  # per record: its shard's columns and row
        records: list[_Record] = []
        for split in HUB_SPLITS:
            shards = hub_shards(path.parent, split)
            if not shards:
                raise CorruptFileError(
                    f"{path.parent}: no {split!r} shard ({split}-*.parquet); RoboSpatial-Home's hub parquet has "
                    f"splits {list(HUB_SPLITS)}. Fix: {self.fix}.",
                    path=path.parent,
                )
            in_split = len(records)
            for shard in shards:
                records += self._read_shard(shard, split, len(records) - in_split)
        super().__init__(build, records)

    def _read_shard(self, shard: Path, split: str, first: int) -> list[_Record]:
        table = read_table(shard, HUB_COLUMNS, self.fix, "RoboSpatial-Home's hub parquet")
        text = {c: column_values(table, c, shard, self.fix) for c in _TEXT_FIELDS if c != "img"}
        images = table.column("img")
        optional = [table.column(c) if c in table.column_names else None for c in ("depth_image", "mask")]
        present = [[False] * table.num_rows if col is None else col.is_valid().to_pylist() for col in optional]
        img_valid = images.is_valid().to_pylist()
        records = []
        for row in range(table.num_rows):
            i = first + row
            value = {
                **{c: text[c][row] for c in text},
                "img": f"images/img_{split}_{i}.png",
                "depth_image": f"images/depth_{split}_{i}.png" if present[0][row] else None,
                "mask": f"images/mask_{split}_{i}.png" if present[1][row] else None,
            }
            try:
                if not img_valid[row]:
                    raise RowError("img", "an image cell {'bytes': ..., 'path': ...}", "null")
                records.append(_parse_record(value, shard, row))
            except RowError as exc:
                raise CorruptRowError.for_field(shard, row, exc.column, exc.expected, exc.found, self.fix) from None
            self._cells_at.append((images, optional[0], optional[1], row))
        return records

    def _cells(self, row: int) -> tuple[Any, Any, Any]:
        images, depth, mask, index = self._cells_at[row]
        record = self.records[row]
        return (
            cell(images, index, "img"),
            None if record.depth_image is None else cell(depth, index, "depth_image"),
            None if record.mask is None else cell(mask, index, "mask"),
        )


def hub_shards(folder: Path, split: str) -> list[Path]:
    """The parquet shards of one hub split in ``folder``, by name."""
    return sorted(p for p in folder.glob(f"{split}-*.parquet") if p.is_file())


@dataclass(frozen=True)
class _HomeOpener:
    """A picklable ``opener(path)`` bound to the family's builder."""

    build: HomeBuilder

    def __call__(self, path: Path) -> RoboSpatialHomeFile:
        return RoboSpatialHomeFile(path, self.build)

    @staticmethod
    def stamp(path: Path) -> tuple[tuple[str, int, int], ...]:
        """Name, size and mtime of every ``*.json`` read, so an edited sibling reopens the folder."""
        return files_stamp(sorted(path.parent.glob("*.json")), path.parent)


@dataclass(frozen=True)
class _HomeParquetOpener:
    """A picklable ``opener(path)`` for the hub parquet (``path``: any shard of its ``data/`` folder)."""

    build: HomeBuilder

    def __call__(self, path: Path) -> RoboSpatialHomeParquet:
        return RoboSpatialHomeParquet(path, self.build)

    @staticmethod
    def stamp(path: Path) -> tuple[tuple[str, int, int], ...]:
        """Name, size and mtime of every shard read, so a re-downloaded split reopens the folder."""
        return files_stamp((p for split in HUB_SPLITS for p in hub_shards(path.parent, split)), path.parent)


def robospatial_home_source(family: TaskFamily, config: EnvConfig, *, build: HomeBuilder) -> NativeSource:
    """Source factory: ``register_task(source=functools.partial(robospatial_home_source, build=...))``.

    Reads the downloader's ``annotations.json`` layout, else the hub parquet (module docstring).
    """
    del family
    parquet = Layout(HUB_PARQUET, _HomeParquetOpener(build), "the hub parquet, data/<split>-*.parquet")
    return NativeSource(
        ROBOSPATIAL_HOME, ANNOTATIONS, _HomeOpener(build), data_dir=config.data_dir, alternatives=(parquet,)
    )
