"""Item sources: the synthetic world (embedded default), with a process-wide item cache.

An item is addressed by ``(split, index)`` and generated from an RNG seeded by the family,
its version, the split and the index, so it never depends on what was generated before.
Generated items are kept in a small LRU shared by every env in the process, which makes a
repeated ``reset`` cheap (the figure to hold is under 5 ms).
"""

from __future__ import annotations

import dataclasses
import os
import zlib
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np

from spacetools_env.task import TaskFamily, TaskItem
from spacetools_env.world import DIFFICULTIES, SceneConfig

SPLITS: Mapping[str, int] = {"train": 0, "validation": 1, "test": 2}
DEFAULT_NUM_ITEMS: Mapping[str, int] = {"train": 100_000, "validation": 1_000, "test": 1_000}
_CACHE: OrderedDict[tuple[Any, ...], TaskItem] = OrderedDict()


def cache_items() -> int:
    """Items kept in the process's item cache: ``$SPACETOOLS_CACHE_ITEMS`` (16 by default), read at each
    insertion so a script may raise it before its first reset, after imports."""
    return int(os.environ.get("SPACETOOLS_CACHE_ITEMS", "16"))


def resolve_difficulty(difficulty: str | SceneConfig | Mapping[str, Any]) -> SceneConfig:
    """A :class:`SceneConfig` from a preset name, a config, or overrides of the ``medium`` preset.

    Raises:
        ValueError: an unknown preset name or field.
    """
    if isinstance(difficulty, SceneConfig):
        return difficulty
    if isinstance(difficulty, str):
        if difficulty not in DIFFICULTIES:
            raise ValueError(f"unknown difficulty {difficulty!r}; presets are {sorted(DIFFICULTIES)}")
        return DIFFICULTIES[difficulty]
    if isinstance(difficulty, Mapping):
        base = DIFFICULTIES[str(difficulty.get("preset", "medium"))]
        fields = {f.name for f in dataclasses.fields(SceneConfig)}
        unknown = sorted(set(difficulty) - fields - {"preset"})
        if unknown:
            raise ValueError(f"unknown scene settings {unknown}; settings are {sorted(fields)}")
        overrides: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in difficulty.items() if k != "preset"
        }
        return dataclasses.replace(base, **overrides)
    raise TypeError(f"difficulty must be a preset name, a SceneConfig or a dict, got {type(difficulty).__name__}")


class SyntheticSource:
    """Items of one family generated in the embedded PyBullet world.

    Args:
        family: The task family; it must define ``generate``.
        scene_config: Scene settings (clutter, occlusion, camera distance, resolution).
        num_items: Items per split; indices beyond it are rejected.
    """

    def __init__(
        self,
        family: TaskFamily,
        scene_config: SceneConfig,
        num_items: Mapping[str, int] | None = None,
    ) -> None:
        if family.generate is None:
            raise ValueError(f"family {family.name!r} has no synthetic generator; load it from a benchmark")
        self.family = family
        self.scene_config = scene_config
        self._num_items = dict(DEFAULT_NUM_ITEMS if num_items is None else num_items)

    def num_items(self, split: str) -> int:
        if split not in self._num_items:
            raise ValueError(f"unknown split {split!r}; splits are {sorted(self._num_items)}")
        return self._num_items[split]

    def get(self, split: str, index: int) -> TaskItem:
        count = self.num_items(split)
        if not 0 <= index < count:
            raise ValueError(f"index {index} is out of range for split {split!r} (0..{count - 1})")
        key = (self.family.name, self.family.version, split, index, self.scene_config)
        item = _CACHE.get(key)
        if item is not None:
            _CACHE.move_to_end(key)
            return item
        item = self.generate(split, index)
        _CACHE[key] = item
        while len(_CACHE) > cache_items():
            _CACHE.popitem(last=False)
        return item

    def generate(self, split: str, index: int) -> TaskItem:
        """Generate item ``index`` of ``split`` without touching the cache."""
        assert self.family.generate is not None
        rng = np.random.default_rng(self.item_seed(split, index))
        item = self.family.generate(rng, self.scene_config)
        for image in item.images:
            image.flags.writeable = False  # items are shared through the cache: nobody may draw on them
        return dataclasses.replace(item, item_id=f"{self.family.name}/{split}/{index}")

    def item_seed(self, split: str, index: int) -> list[int]:
        split_code = SPLITS.get(split, zlib.crc32(split.encode()))
        return [zlib.crc32(self.family.name.encode()), self.family.version, split_code, index]


def clear_cache() -> None:
    """Drop every cached item (benchmarks use it to time generation)."""
    _CACHE.clear()
