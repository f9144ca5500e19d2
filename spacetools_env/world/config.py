"""What a generated scene may look like: :class:`SceneConfig` and the difficulty presets."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from numbers import Integral, Real
from types import MappingProxyType

from spacetools_env.world.catalogue import CATEGORIES, catalogue_entries

MAX_OBJECTS = 16
"""Upper bound on objects per scene; more would not fit the table visibly."""


def _check_range(name: str, value: tuple[float, float], lo: float, hi: float, unit: str) -> None:
    ok = (
        isinstance(value, tuple)
        and len(value) == 2
        and all(isinstance(v, Real) and math.isfinite(v) for v in value)
    )
    if not ok or not (lo <= value[0] <= value[1] <= hi):
        raise ValueError(
            f"SceneConfig.{name} must be a (min, max) tuple with {lo} <= min <= max <= {hi} {unit}; "
            f"got {value!r}"
        )


@dataclass(frozen=True)
class SceneConfig:
    """How to sample a scene. Ranges are (min, max) tuples, sampled uniformly, inclusive.

    Attributes:
        num_objects: Range of the number of objects.
        min_spacing_m: Least distance between two objects' footprints on the table (metres);
            smaller values allow more clutter and occlusion.
        camera_distance_m: Range of the distance from the camera to its look-at point on the table.
        elevation_deg: Range of the camera pitch above the table plane (degrees).
        azimuth_deg: Range of the camera heading around the table (degrees); 0 looks from the
            table's -y side towards +y, positive values turn counter-clockwise seen from above.
        width: Image width in pixels.
        height: Image height in pixels.
        fov_deg: Vertical field of view (degrees).
        categories: Only draw objects of these categories (see ``catalogue.CATEGORIES``); None
            allows all.
        min_visible_px: Every object shows at least this many pixels; the scene is resampled
            otherwise (rarely: placement already avoids heavy occlusion).
    """

    num_objects: tuple[int, int] = (3, 6)
    min_spacing_m: float = 0.03
    camera_distance_m: tuple[float, float] = (0.7, 0.9)
    elevation_deg: tuple[float, float] = (40.0, 60.0)
    azimuth_deg: tuple[float, float] = (-60.0, 60.0)
    width: int = 640
    height: int = 480
    fov_deg: float = 60.0
    categories: tuple[str, ...] | None = None
    min_visible_px: int = 150

    def __post_init__(self) -> None:
        # Accept lists (e.g. from JSON or YAML configs) wherever a tuple is documented.
        for name in ("num_objects", "camera_distance_m", "elevation_deg", "azimuth_deg", "categories"):
            if isinstance(getattr(self, name), list):
                object.__setattr__(self, name, tuple(getattr(self, name)))
        n = self.num_objects
        if not (isinstance(n, tuple) and len(n) == 2 and all(isinstance(v, Integral) for v in n)) or not (
            1 <= n[0] <= n[1] <= MAX_OBJECTS
        ):
            raise ValueError(
                f"SceneConfig.num_objects must be a (min, max) tuple of ints with "
                f"1 <= min <= max <= {MAX_OBJECTS}; got {n!r}"
            )
        if not (isinstance(self.min_spacing_m, Real) and 0.0 <= self.min_spacing_m <= 0.3):
            raise ValueError(
                f"SceneConfig.min_spacing_m must be between 0 and 0.3 metres; got {self.min_spacing_m!r}"
            )
        _check_range("camera_distance_m", self.camera_distance_m, 0.3, 3.0, "metres")
        _check_range("elevation_deg", self.elevation_deg, 10.0, 85.0, "degrees")
        _check_range("azimuth_deg", self.azimuth_deg, -360.0, 360.0, "degrees")
        for name in ("width", "height"):
            value = getattr(self, name)
            if not (isinstance(value, Integral) and 32 <= value <= 4096):
                raise ValueError(f"SceneConfig.{name} must be an int from 32 to 4096 pixels; got {value!r}")
        if not (isinstance(self.fov_deg, Real) and 20.0 <= self.fov_deg <= 120.0):
            raise ValueError(f"SceneConfig.fov_deg must be between 20 and 120 degrees; got {self.fov_deg!r}")
        self._check_categories()
        if not (isinstance(self.min_visible_px, Integral) and 0 <= self.min_visible_px <= 5000):
            raise ValueError(
                f"SceneConfig.min_visible_px must be an int from 0 to 5000; got {self.min_visible_px!r}"
            )

    def _check_categories(self) -> None:
        cats = self.categories
        if cats is None:
            return
        if isinstance(cats, str):
            raise ValueError(
                f"SceneConfig.categories must be a tuple of names; got the string {cats!r}. "
                f"Did you mean ({cats!r},)?"
            )
        if not isinstance(cats, tuple) or not cats:
            raise ValueError(
                f"SceneConfig.categories must be None or a non-empty tuple of names from "
                f"{list(CATEGORIES)}; got {cats!r}"
            )
        unknown = [c for c in cats if c not in CATEGORIES]
        if unknown:
            raise ValueError(
                f"SceneConfig.categories has unknown names {unknown}; available: {list(CATEGORIES)}"
            )
        if len(set(cats)) != len(cats):
            raise ValueError(f"SceneConfig.categories lists a category twice: {cats!r}")
        available = len(catalogue_entries(cats))
        if available < self.num_objects[1]:
            raise ValueError(
                f"SceneConfig.categories {cats!r} allow only {available} distinct objects, fewer than "
                f"num_objects max {self.num_objects[1]}; add categories or lower num_objects"
            )


DIFFICULTIES: Mapping[str, SceneConfig] = MappingProxyType(
    {
        # Few, well separated objects seen from close and high up.
        "easy": SceneConfig(
            num_objects=(2, 4),
            min_spacing_m=0.06,
            camera_distance_m=(0.55, 0.7),
            elevation_deg=(50.0, 70.0),
            azimuth_deg=(-30.0, 30.0),
        ),
        "medium": SceneConfig(),
        # Clutter, near-touching objects, low grazing views from further away: more occlusion.
        "hard": SceneConfig(
            num_objects=(6, 9),
            min_spacing_m=0.01,
            camera_distance_m=(0.85, 1.1),
            elevation_deg=(25.0, 40.0),
            azimuth_deg=(-90.0, 90.0),
            min_visible_px=100,
        ),
    }
)
"""Named presets: clutter, occlusion and camera distance grow from easy to hard."""
