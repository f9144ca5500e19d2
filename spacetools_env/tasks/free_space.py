"""FreeSpace: pinpoint vacant table space on one side of an object.

Mirrors the RoboSpatial-Home "context" questions (SpaceTools eval key ``robospatial``, the
"Vacant" rows): "In the image, there is a bowl. Pinpoint several points within the vacant space
situated to the left of the bowl. ...". As in RoboSpatial's generator (camera-centric frame), a
table point is to the *left*/*right* of the reference when its image column lies beyond the
reference's projected 3D box, and *in front of*/*behind* it when its depth is below/above the
depth range of the box's footprint. We make the four sides exclusive (a left point also lies
within the footprint's depth range, a front point within the box's columns), so no point counts
for two sides, and a point behind must also show above the box in the image (table beside a tall
object can be behind its footprint yet look beside it). Candidates are visible table pixels more
than ``CLEARANCE_M`` from every object's footprint and within ``REACH_M`` of the reference's;
the ground truth is ``NUM_POINTS`` of them, sampled as RoboSpatial's ``context_num_samples``
and written as its answer strings (``"[(0.434, 0.834), ...]"``, 3 decimals).

Scoring is SpaceTools' rule: the first predicted point scores 1 iff it lies in the convex hull of
the ground-truth points (boundary inclusive). The shaped term is NNDC on the distance from that
point to the ground-truth centroid. For the oracle pointing tool the region is registered as the
referent "vacant space to the left of the bowl" (with "free space ..."/"empty area ..."
aliases), whose point lies at least ``HULL_MARGIN`` inside the hull: the original RoboRefer
was asked exactly such expressions.

Version history:
    v0: initial release.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.spatial import ConvexHull, QhullError

from spacetools_env.scoring import score_context_nndc, score_context_point
from spacetools_env.task import TaskFamily, TaskItem
from spacetools_env.tasks.common import generate_with_retries, scene_truth
from spacetools_env.world import TABLE_LABEL, ObjectInstance, Scene, SceneConfig
from spacetools_env.world.geometry import polygon_distance
from tool_backends import Referent
from tool_backends.geometry import format_points, interior_point, pixel_centres_normalized

DIRECTIONS: dict[str, str] = {
    "left": "to the left of",
    "right": "to the right of",
    "front": "in front of",
    "behind": "behind",
}
CLEARANCE_M = 0.02
"""Free space keeps this distance from every object's footprint."""
REACH_M = 0.15
"""Candidate points lie within this distance of the reference's footprint (RoboSpatial ``context_threshold``)."""
NUM_POINTS = 10
MIN_REGION_PX = 40
HULL_MARGIN = 0.004
"""The referent's point lies this far (normalized units) inside the hull, so 3-decimal rounding keeps it in."""
MIN_HULL_AREA = 2e-4
QUESTION = (
    "In the image, there is {article} {reference}. Pinpoint several points within the vacant space situated "
    "{phrase} the {reference}. Your final answer should be formatted as a list of tuples, i.e. "
    "[(x1, y1), (x2, y2), ...], where each tuple contains the x and y coordinates of a point satisfying the "
    "conditions above. The coordinates should be between 0 and 1, indicating the normalized pixel locations of "
    "the points in the image."
)
REGION_NOUNS = ("vacant space", "free space", "empty space", "vacant area", "free area", "empty area")


@dataclass(frozen=True, kw_only=True)
class FreeSpaceItem(TaskItem):
    """Attributes: ``ground_truth`` the free-space points as RoboSpatial writes them
    (``"[(0.434, 0.834), ...]"``, normalized, 3 decimals); ``reference`` the object's name;
    ``direction`` a key of :data:`DIRECTIONS`; ``reference_point`` a point on the reference object."""

    ground_truth: str
    reference: str
    direction: str
    reference_point: tuple[float, float]


# ---------------------------------------------------------------------------- regions
@dataclass(frozen=True)
class FreeSpaceGrid:
    """Free table pixels of one window of the scene, with their geometry.

    Only the window matters to a question about one or two objects, and working on it alone
    keeps generation cheap (the full-image free-space mask costs as much as a render).

    Attributes:
        pixels: (N, 2) pixel indices (row, column) of visible table pixels whose world point is
            more than ``clearance_m`` from every object's footprint and inside the table by as much
            (the rule of :meth:`spacetools_env.world.Scene.free_space_mask`).
        ground: (N, 2) their world (x, y) on the table.
        depth: (N,) their camera depth (metres along the optical axis).
        xy: (N, 2) their normalized image coordinates (pixel centres).
        shape: Image (height, width).
    """

    pixels: np.ndarray
    ground: np.ndarray
    depth: np.ndarray
    xy: np.ndarray
    shape: tuple[int, int]

    @classmethod
    def around(
        cls, scene: Scene, objects: Sequence[ObjectInstance], margin_m: float, clearance_m: float = CLEARANCE_M
    ) -> FreeSpaceGrid:
        """The free pixels within ``margin_m`` (per axis) of the objects' footprints."""
        footprints = np.concatenate([o.footprint_xy for o in objects])
        lo, hi = footprints.min(axis=0) - margin_m, footprints.max(axis=0) + margin_m
        rows, cols = _table_pixels_in(scene, lo, hi)
        camera = scene.camera
        height, width = scene.depth.shape
        depth = scene.depth[rows, cols].astype(np.float64)
        f = camera.focal_length_px
        cx, cy = camera.principal_point
        # The world point of a pixel is position + depth * (x_n * cam_x + y_n * cam_y + cam_z), with
        # the camera axes in world coordinates; elementwise, it is several times cheaper than matmuls.
        axes = camera.camera_to_world(np.eye(3)) - camera.position  # rows: camera x, y, z axes in the world
        xn, yn = (cols + 0.5 - cx) / f, (rows + 0.5 - cy) / f
        gx = camera.position[0] + depth * (xn * axes[0, 0] + yn * axes[1, 0] + axes[2, 0])
        gy = camera.position[1] + depth * (xn * axes[0, 1] + yn * axes[1, 1] + axes[2, 1])
        table = scene.table
        keep = (
            (gx >= max(lo[0], table.x_min + clearance_m)) & (gx <= min(hi[0], table.x_max - clearance_m))
            & (gy >= max(lo[1], table.y_min + clearance_m)) & (gy <= min(hi[1], table.y_max - clearance_m))
        )
        for obj in scene.objects:
            fp = obj.footprint_xy
            (x0, y0), (x1, y1) = fp.min(axis=0) - clearance_m, fp.max(axis=0) + clearance_m
            if x1 < lo[0] or x0 > hi[0] or y1 < lo[1] or y0 > hi[1]:
                continue
            idx = np.flatnonzero(keep & (gx >= x0) & (gx <= x1) & (gy >= y0) & (gy <= y1))
            if len(idx):
                keep[idx] = polygon_distance(np.stack([gx[idx], gy[idx]], axis=1), fp) > clearance_m
        rows, cols, depth = rows[keep], cols[keep], depth[keep]
        ground = np.stack([gx[keep], gy[keep]], axis=1)
        xy = pixel_centres_normalized(cols, rows, width, height)
        return cls(pixels=np.stack([rows, cols], axis=1), ground=ground, depth=depth, xy=xy, shape=(height, width))

    def mask(self, index: np.ndarray) -> np.ndarray:
        """HxW bool mask of the pixels at ``index``."""
        out = np.zeros(self.shape, dtype=bool)
        out[self.pixels[index, 0], self.pixels[index, 1]] = True
        return out


def _table_pixels_in(scene: Scene, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows and columns of table pixels inside the image box of a world rectangle on the table."""
    height, width = scene.depth.shape
    corners = np.array([[lo[0], lo[1]], [hi[0], lo[1]], [hi[0], hi[1]], [lo[0], hi[1]]])
    corners = np.hstack([corners, np.full((4, 1), scene.table.z)])
    uv = scene.camera.project_pixels(corners)
    r0, r1, c0, c1 = 0, height, 0, width
    if np.all(np.isfinite(uv)):  # a corner behind the camera: keep the whole image
        c0, c1 = int(np.clip(np.floor(uv[:, 0].min()), 0, width)), int(np.clip(np.ceil(uv[:, 0].max()), 0, width))
        r0, r1 = int(np.clip(np.floor(uv[:, 1].min()), 0, height)), int(np.clip(np.ceil(uv[:, 1].max()), 0, height))
    rows, cols = np.nonzero(scene.segmentation[r0:r1, c0:c1] == TABLE_LABEL)
    return rows + r0, cols + c0


def side_of(
    grid: FreeSpaceGrid, scene: Scene, obj: ObjectInstance, direction: str, reach_m: float = REACH_M
) -> np.ndarray:
    """Indices into ``grid`` of the free pixels on one side of ``obj`` (camera-centric, exclusive sides).

    Raises:
        ValueError: ``direction`` is not a key of :data:`DIRECTIONS`.
    """
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r}; directions are {sorted(DIRECTIONS)}")
    corners = np.asarray(obj.corners_world, dtype=np.float64)
    silhouette = scene.camera.project(corners)
    u_box = silhouette[:, 0]
    z_box = scene.camera.world_to_camera(corners[:4])[:, 2]  # the footprint's depths, on the table
    u, v = grid.xy[:, 0], grid.xy[:, 1]
    in_columns = (u >= u_box.min()) & (u <= u_box.max())
    in_depths = (grid.depth >= z_box.min()) & (grid.depth <= z_box.max())
    side = {
        "left": (u < u_box.min()) & in_depths,
        "right": (u > u_box.max()) & in_depths,
        "front": (grid.depth < z_box.min()) & in_columns,
        # Table seen beside a tall object can lie behind its footprint; keep only what shows above it.
        "behind": (grid.depth > z_box.max()) & in_columns & (v < silhouette[:, 1].min()),
    }[direction]
    index = np.flatnonzero(side)
    return index[polygon_distance(grid.ground[index], obj.footprint_xy) <= reach_m]


def region_expressions(noun_phrases: Sequence[str], phrase: str, reference_names: Sequence[str]) -> tuple[str, ...]:
    """Every ``"<noun> <phrase> the <reference>"`` combination, e.g. ``"free space behind the mug"``."""
    return tuple(f"{noun} {phrase} the {ref}" for noun in noun_phrases for ref in reference_names)


def reference_names(scene: Scene, obj: ObjectInstance) -> tuple[str, ...]:
    """The object's unique name, plus its category when no other object shares it."""
    if obj.category != obj.name and sum(o.category == obj.category for o in scene.objects) == 1:
        return (obj.name, obj.category)
    return (obj.name,)


# ---------------------------------------------------------------------------- generation
def _build(scene: Scene, rng: np.random.Generator) -> FreeSpaceItem | None:
    candidates = [(obj, d) for obj in scene.objects if obj.pixel_count > 0 for d in DIRECTIONS]
    grids: dict[str, FreeSpaceGrid] = {}
    for k in rng.permutation(len(candidates)):
        obj, direction = candidates[k]
        if obj.name not in grids:
            grids[obj.name] = FreeSpaceGrid.around(scene, [obj], REACH_M)
        item = _try(scene, grids[obj.name], obj, direction, rng)
        if item is not None:
            return item
    return None


def _try(
    scene: Scene, grid: FreeSpaceGrid, obj: ObjectInstance, direction: str, rng: np.random.Generator
) -> FreeSpaceItem | None:
    region = side_of(grid, scene, obj, direction)
    if len(region) < MIN_REGION_PX:
        return None
    chosen = region[rng.choice(len(region), size=NUM_POINTS, replace=False)]
    points = np.round(grid.xy[chosen], 3)
    try:
        hull = ConvexHull(points)
    except (QhullError, ValueError):  # collinear samples
        return None
    if hull.volume < MIN_HULL_AREA:
        return None
    # The pointer answers with the region pixel nearest the samples' mean that lies well inside their hull
    # (Qhull's facet equations are unit normals and offsets: minus the largest is the depth inside).
    candidates = grid.xy[region]
    depth_inside = -(candidates @ hull.equations[:, :2].T + hull.equations[:, 2]).max(axis=1)
    distance = np.where(depth_inside >= HULL_MARGIN, np.linalg.norm(candidates - points.mean(axis=0), axis=1), np.inf)
    best = int(np.argmin(distance))
    if not np.isfinite(distance[best]):
        return None
    phrase = DIRECTIONS[direction]
    expressions = region_expressions(REGION_NOUNS, phrase, reference_names(scene, obj))
    referent = Referent(
        name=expressions[0],
        mask=grid.mask(region),
        point=(float(candidates[best, 0]), float(candidates[best, 1])),
        aliases=(*expressions[1:], *(f"{lead} in the {e}" for lead in ("point", "points") for e in expressions)),
        category="free space",
    )
    on_object = interior_point(obj.mask)
    return FreeSpaceItem(
        item_id="",
        question=QUESTION.format(article=_article(obj.name), reference=obj.name, phrase=phrase),
        images=(scene.rgb,),
        truth=(scene_truth(scene, [referent]),),
        meta={"question_type": "context", "direction": direction, "reference": obj.name},
        ground_truth=format_points(points),
        reference=obj.name,
        direction=direction,
        reference_point=(float(on_object[0]), float(on_object[1])),
    )


def _article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" else "a"


def generate(rng: np.random.Generator, config: SceneConfig) -> FreeSpaceItem:
    return generate_with_retries(rng, config, _build)


# ---------------------------------------------------------------------------- scoring
def score(answer: str, item: FreeSpaceItem) -> float:
    """SpaceTools' rule: the first point lies in the convex hull of the ground-truth points."""
    return score_context_point(answer, item.ground_truth, rule="convex_hull")


def shaped(answer: str, item: FreeSpaceItem) -> float:
    """NNDC: the hit, or partial credit for a first point near the ground-truth points' mean."""
    return score_context_nndc(answer, item.ground_truth, rule="convex_hull")


def oracle(item: FreeSpaceItem) -> str:
    return item.ground_truth


def counterexample(item: FreeSpaceItem) -> str:
    """A point on the reference object (occupied), or an image corner should that fall in the hull."""
    for point in (item.reference_point, (0.0, 0.0), (1.0, 1.0), (0.0, 1.0), (1.0, 0.0)):
        text = format_points(np.asarray([point]))
        if score(text, item) == 0.0:
            return text
    return "[]"


FAMILY = TaskFamily(
    name="FreeSpace",
    item_type=FreeSpaceItem,
    score=score,
    oracle=oracle,
    generate=generate,
    shaped=shaped,
    description=__doc__ or "",
    eval_key="robospatial",
    counterexample=counterexample,
)
