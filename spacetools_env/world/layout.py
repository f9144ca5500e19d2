"""Sampling a scene's camera and object layout, before anything is rendered.

Pure geometry on top of the camera model: objects stand upright on the table with a random yaw,
their footprints keep ``min_spacing_m`` apart and inside the table, their whole 3D box projects
inside the image, and a coarse occlusion estimate keeps every object visible enough that the
rendered scene rarely needs resampling.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from spacetools_env.world.camera import Camera
from spacetools_env.world.catalogue import MESH_MODELS, PRIMITIVE_MODELS, CatalogueEntry, catalogue_entries
from spacetools_env.world.config import SceneConfig
from spacetools_env.world.geometry import box_corners, polygons_apart, yaw_matrix
from spacetools_env.world.pool import ModelGeometry, ModelKey
from spacetools_env.world.scene import TableTop

NEAR_M = 0.05
"""Near clipping plane of generated cameras; cameras stay >= 0.3 m from the table."""
FAR_M = 10.0
"""Far clipping plane; beyond the floor in every preset view."""

_TARGET_JITTER_M = 0.08  # look-at point offset from the table centre
_IMAGE_MARGIN = 0.02  # box corners keep this far (normalized) from the image border
_TABLE_MARGIN_M = 0.02  # footprints keep this far from the table edge
_ATTEMPTS_PER_OBJECT = 40
_CELL_PX = 8  # coarse occlusion grid
_FILL = 0.5  # silhouette area as a fraction of its projected bounding box, pessimistic
_SAFETY = 1.5  # estimated visible pixels must exceed min_visible_px by this factor


@dataclass(frozen=True, eq=False)
class Placement:
    """One object's sampled pose, before rendering.

    Attributes:
        entry: Which catalogue object.
        key: Pool key of its model.
        geometry: Box geometry of that model.
        center: (3,) world centre of its 3D box.
        yaw: Rotation about the world z axis (radians).
        corners: (8, 3) world box corners.
    """

    entry: CatalogueEntry
    key: ModelKey
    geometry: ModelGeometry
    center: np.ndarray
    yaw: float
    corners: np.ndarray

    @property
    def footprint(self) -> np.ndarray:
        """(4, 2) bottom face, counter-clockwise from above."""
        return self.corners[:4, :2]


def sample_camera(rng: np.random.Generator, config: SceneConfig, table: TableTop) -> Camera:
    """Place the camera around a look-at point near the table centre."""
    jitter = rng.uniform(-_TARGET_JITTER_M, _TARGET_JITTER_M, size=2)
    distance = rng.uniform(*config.camera_distance_m)
    elevation = math.radians(rng.uniform(*config.elevation_deg))
    azimuth = math.radians(rng.uniform(*config.azimuth_deg))
    target = table.center + np.array([jitter[0], jitter[1], 0.0])
    # Azimuth 0 puts the camera on the -y side; positive turns counter-clockwise seen from above.
    direction = np.array(
        [
            math.cos(elevation) * math.sin(azimuth),
            -math.cos(elevation) * math.cos(azimuth),
            math.sin(elevation),
        ]
    )
    return Camera.look_at(
        target + distance * direction,
        target,
        width=config.width,
        height=config.height,
        fov_deg=config.fov_deg,
        near=NEAR_M,
        far=FAR_M,
    )


def choose_entries(rng: np.random.Generator, count: int, config: SceneConfig) -> list[CatalogueEntry]:
    """Draw ``count`` distinct entries: a category uniformly among those with entries left, then
    a colour, so meshes are not swamped by the many colours of primitives."""
    remaining: dict[str, list[CatalogueEntry]] = {}
    for entry in catalogue_entries(config.categories):
        remaining.setdefault(entry.category, []).append(entry)
    chosen = []
    for _ in range(count):
        categories = [c for c, entries in remaining.items() if entries]
        options = remaining[categories[rng.integers(len(categories))]]
        chosen.append(options.pop(int(rng.integers(len(options)))))
    return chosen


def _model_key(rng: np.random.Generator, entry: CatalogueEntry) -> ModelKey:
    if entry.category in MESH_MODELS:
        return (entry.category, ())
    return (entry.category, PRIMITIVE_MODELS[entry.category].sample_size_cm(rng))


def _visible_estimates(camera: Camera, placements: list[Placement]) -> np.ndarray:
    """Pessimistic visible pixel counts: projected boxes minus nearer boxes, on a coarse grid."""
    grid = np.zeros((camera.height // _CELL_PX + 1, camera.width // _CELL_PX + 1), dtype=bool)
    depths = [camera.world_to_camera(p.center[None])[0, 2] for p in placements]
    estimates = np.zeros(len(placements))
    for i in np.argsort(depths, kind="stable"):
        uv = camera.project_pixels(placements[i].corners)
        (u0, v0), (u1, v1) = uv.min(0) / _CELL_PX, uv.max(0) / _CELL_PX
        cells = grid[int(v0) : math.ceil(v1), int(u0) : math.ceil(u1)]
        estimates[i] = np.count_nonzero(~cells) * _CELL_PX**2 * _FILL
        cells[...] = True
    return estimates


def _try_place(
    rng: np.random.Generator,
    entry: CatalogueEntry,
    key: ModelKey,
    geometry: ModelGeometry,
    camera: Camera,
    table: TableTop,
) -> Placement | None:
    """One attempt: a footprint centre under a random image point and a random yaw."""
    point = rng.uniform(_IMAGE_MARGIN, 1.0 - _IMAGE_MARGIN, size=2)
    yaw = float(rng.uniform(0.0, 2.0 * math.pi))
    ray = camera.rays(point[None])[0]
    if ray[2] >= 0.0:
        return None
    ground = camera.position + (table.z - camera.position[2]) / ray[2] * ray
    center = np.array([ground[0], ground[1], table.z + geometry.extents[2] / 2.0])
    corners = box_corners(center, yaw_matrix(yaw), geometry.extents)
    if not table.contains_xy(corners[:4, :2], margin=_TABLE_MARGIN_M).all():
        return None
    xy = camera.project(corners)
    if not (np.isfinite(xy).all() and (xy >= _IMAGE_MARGIN).all() and (xy <= 1 - _IMAGE_MARGIN).all()):
        return None
    return Placement(entry, key, geometry, center, yaw, corners)


def sample_layout(
    rng: np.random.Generator,
    config: SceneConfig,
    camera: Camera,
    table: TableTop,
    geometry_of: Callable[[ModelKey], ModelGeometry],
) -> list[Placement] | None:
    """Sample object placements for one scene.

    Args:
        rng: Source of all randomness.
        config: Scene configuration.
        camera: The scene's camera.
        table: The table top.
        geometry_of: Box geometry of a model key (from the body pool).

    Returns:
        The placements, or None when fewer than ``config.num_objects[0]`` objects fit.
    """
    count = int(rng.integers(config.num_objects[0], config.num_objects[1] + 1))
    placed: list[Placement] = []
    for entry in choose_entries(rng, count, config):
        key = _model_key(rng, entry)
        geometry = geometry_of(key)
        for _ in range(_ATTEMPTS_PER_OBJECT):
            candidate = _try_place(rng, entry, key, geometry, camera, table)
            if candidate is None or not all(
                polygons_apart(candidate.footprint, p.footprint, config.min_spacing_m) for p in placed
            ):
                continue
            estimates = _visible_estimates(camera, [*placed, candidate])
            if estimates.min() >= _SAFETY * config.min_visible_px:
                placed.append(candidate)
                break
    return placed if len(placed) >= config.num_objects[0] else None
