"""RoboSpatial-Home in the official downloader's layout (``chanhee-luke/RoboSpatial-Eval``).

``download_benchmark.py`` writes (notes section 1)::

    <root>/annotations.json    # [{category, question, answer, img, depth_image, mask}, ...]
    <root>/images/             # the RGB, depth and mask PNGs the records name (relative paths)

``<root>`` is found like every release (:mod:`spacetools_env.loaders.paths`): the file
``annotations.json`` of dataset ``RoboSpatial-Home`` under ``data_dir=``, ``$SPACETOOLS_DATA_DIR``
or the HF cache. As the official scorer does (``main.py``), **every** ``*.json`` in that folder is
read and the records concatenated (``annotations.json`` first, then the others by name).

Splits: ``test`` (all records, in that order) and one per category (``configuration``,
``compatibility``, ``context``). Records are validated when the file opens; images, depth and
mask are decoded per item. Depth and mask become the item's oracle-tool truth (units and focal
length: see :mod:`spacetools_env.tasks.bench_robospatial_home`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spacetools_env.loaders.native import ROBOSPATIAL_HOME, NativeSource, decode_raw, decode_rgb
from spacetools_env.loaders.rows import BenchmarkRow, CorruptFileError, CorruptRowError, RowError, describe
from spacetools_env.task import TaskFamily, TaskItem
from tool_backends import GroundTruth

if TYPE_CHECKING:
    from spacetools_env.config import EnvConfig

ANNOTATIONS = "annotations.json"
CATEGORIES = ("configuration", "compatibility", "context")
SPLITS = ("test", *CATEGORIES)
DEPTH_SCALE_M = 0.001  # UNVERIFIED: 16-bit depth PNGs taken as millimetres
ASSUMED_HFOV_DEG = 60.0  # UNVERIFIED: the release ships no intrinsics
_TEXT_FIELDS = ("category", "question", "answer", "img")

HomeBuilder = Callable[[BenchmarkRow, GroundTruth | None], TaskItem]


@dataclass(frozen=True)
class _Record:
    json_path: Path
    json_index: int
    category: str
    question: str
    answer: str
    img: str
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


class RoboSpatialHomeFile:
    """Every ``*.json`` of one downloader folder, records validated; images decoded per item.

    Raises (on construction):
        CorruptFileError: a JSON file cannot be read or is not a list.
        CorruptRowError: a record is malformed (names the JSON file, the record and the field).
    """

    def __init__(self, path: Path, build: HomeBuilder) -> None:
        self.path, self.build, self.root = path, build, path.parent
        self.fix = (
            f"re-download with `{ROBOSPATIAL_HOME.download_command}` "
            "(or RoboSpatial-Eval's download_benchmark.py)"
        )
        files = [path, *sorted(p for p in self.root.glob("*.json") if p.name != path.name)]
        self.records: list[_Record] = []
        for file in files:
            try:
                data = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise CorruptFileError(f"{file}: not readable JSON ({exc}). Fix: {self.fix}.") from None
            if not isinstance(data, list):
                found = describe(data)
                raise CorruptFileError(f"{file}: expected a JSON list of records, got {found}. Fix: {self.fix}.")
            for index, value in enumerate(data):
                try:
                    self.records.append(_parse_record(value, file, index))
                except RowError as exc:
                    fields = (exc.column, exc.expected, exc.found, self.fix)
                    raise CorruptRowError.for_field(file, index, *fields) from None
        self.splits = {"test": list(range(len(self.records)))}
        for category in CATEGORIES:
            self.splits[category] = [i for i, r in enumerate(self.records) if r.category == category]

    def locate(self, row: int) -> tuple[Path, int]:
        record = self.records[row]
        return record.json_path, record.json_index

    def item(self, split: str, index: int, row: int) -> TaskItem:
        record = self.records[row]
        image = decode_rgb(record.img, "img", self.root)
        truth = None
        if record.depth_image is not None:
            mask = None if record.mask is None else decode_raw(record.mask, "mask", self.root)
            truth = depth_truth(decode_raw(record.depth_image, "depth_image", self.root), mask, image.shape)
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


@dataclass(frozen=True)
class _HomeOpener:
    """A picklable ``opener(path)`` bound to the family's builder."""

    build: HomeBuilder

    def __call__(self, path: Path) -> RoboSpatialHomeFile:
        return RoboSpatialHomeFile(path, self.build)

    @staticmethod
    def stamp(path: Path) -> tuple[tuple[str, int, int], ...]:
        """Name, size and mtime of every ``*.json`` read, so an edited sibling reopens the folder."""
        stats = ((p.name, p.stat()) for p in sorted(path.parent.glob("*.json")))
        return tuple((name, st.st_size, st.st_mtime_ns) for name, st in stats)


def robospatial_home_source(family: TaskFamily, config: EnvConfig, *, build: HomeBuilder) -> NativeSource:
    """Source factory: ``register_task(source=functools.partial(robospatial_home_source, build=...))``."""
    del family
    return NativeSource(ROBOSPATIAL_HOME, ANNOTATIONS, _HomeOpener(build), data_dir=config.data_dir)
