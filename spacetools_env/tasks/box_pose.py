"""BoxPose: the eight image corners of a cuboid object's 3D box.

Mirrors BOP-ASK "pose" (SpaceTools eval key ``boppose``): "What are the eight normalized (x, y)
image coordinates between 0 and 1 of the cuboid corners for the red box? ...". Scenes hold
cuboid objects only (the ``cube`` and ``box`` categories; the difficulty preset's other settings
are kept), because the 3D box then *is* the object, as for BOP-ASK's grocery boxes. The target:

- is unoccluded and inside the image: its visible pixels cover at least ``MIN_VISIBLE_FRACTION``
  of the silhouette (the convex hull of its projected corners, a cuboid being convex), and all
  eight corners project at least ``BORDER`` inside the image;
- shows at least ``MIN_TARGET_PX`` pixels.

The ground truth is its eight box corners projected to normalized image coordinates (6
decimals, as BOP-ASK writes them), bottom face first then top face, each counter-clockwise as
seen in the image starting from the bottom corner lowest in the image, the top face starting
above it. The score is BOP-ASK's: the IoU of the convex hulls of the predicted and true corners,
0 unless both have exactly 8 points (order-invariant, so the ordering is documentation only).
The shaped term is the same IoU. The original trace is pointing -> segmentation -> depth point
cloud -> oriented 3D box; with exact oracle tools it recovers an unoccluded cuboid to about 0.99
IoU (the box is fitted to pixel-centre samples of the visible faces, and the tool prints corners
to 3 decimals).

Version history:
    v0: initial release.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from spacetools_env.scoring import extract_bop_points, score_pose_iou
from spacetools_env.scoring.geometry import convex_hull, polygon_area
from spacetools_env.task import TaskFamily, TaskItem
from spacetools_env.tasks.common import generate_with_retries, scene_truth
from spacetools_env.world import ObjectInstance, Scene, SceneConfig
from tool_backends.geometry import format_points, normalized_to_pixel

CUBOID_CATEGORIES = ("cube", "box")
MIN_TARGET_PX = 300
MIN_VISIBLE_FRACTION = 0.9
BORDER = 0.01
DECIMALS = 6
QUESTION = (
    "What are the eight normalized (x, y) image coordinates between 0 and 1 of the cuboid corners for the "
    "{name}? Your answer should be a list of normalized (x, y) image coordinates between 0 and 1 with bottom "
    "face first then top face, all counter-clockwise. Your answer should be formated as a list of 8 tuples "
    "like [(x1, y1), (x2, y2), ...]."
)


@dataclass(frozen=True, kw_only=True)
class BoxPoseItem(TaskItem):
    """Attributes: ``target`` the object's name; ``ground_truth`` its 8 projected box corners as
    BOP-ASK writes them (normalized, 6 decimals, bottom face then top face, each counter-clockwise
    in the image)."""

    target: str
    ground_truth: str


def order_box_corners(corners_2d: np.ndarray, corners_3d: np.ndarray, up: np.ndarray) -> np.ndarray:
    """Indices ordering 8 box corners: bottom face, then top face, each counter-clockwise in the image.

    Args:
        corners_2d: (8, 2) normalized image coordinates (y down).
        corners_3d: (8, 3) the same corners in 3D, any frame.
        up: (3,) the upward direction in that frame.

    Returns:
        (8,) indices: the bottom face from its corner lowest in the image, counter-clockwise as
        seen in the image; then, in the same order, the top corner above each bottom corner.
    """
    corners_2d, corners_3d = np.asarray(corners_2d, dtype=np.float64), np.asarray(corners_3d, dtype=np.float64)
    by_height = np.argsort(corners_3d @ np.asarray(up, dtype=np.float64), kind="stable")
    bottom, top = by_height[:4], by_height[4:]
    offsets = corners_2d[bottom] - corners_2d[bottom].mean(axis=0)
    # Image y points down, so a turn that looks counter-clockwise decreases atan2(y, x).
    bottom = bottom[np.argsort(-np.arctan2(offsets[:, 1], offsets[:, 0]), kind="stable")]
    bottom = np.roll(bottom, -int(np.argmax(corners_2d[bottom, 1])))
    # The corner straight above is the nearest top corner (the others add a face diagonal).
    above = [top[int(np.argmin(np.linalg.norm(corners_3d[top] - corners_3d[b], axis=1)))] for b in bottom]
    return np.concatenate([bottom, np.asarray(above, dtype=bottom.dtype)])


def _cuboid_config(config: SceneConfig) -> SceneConfig:
    """The scene settings with cuboid categories only (the requested ones among them, if any)."""
    requested = tuple(c for c in (config.categories or ()) if c in CUBOID_CATEGORIES)
    return dataclasses.replace(config, categories=requested or CUBOID_CATEGORIES)


def _projected(scene: Scene, obj: ObjectInstance) -> np.ndarray:
    return scene.camera.project(np.asarray(obj.corners_world, dtype=np.float64))


def _qualifies(scene: Scene, obj: ObjectInstance) -> bool:
    if not obj.is_cuboid or obj.pixel_count < MIN_TARGET_PX:
        return False
    corners = _projected(scene, obj)
    if not np.all(np.isfinite(corners)) or corners.min() < BORDER or corners.max() > 1 - BORDER:
        return False
    width, height = scene.size
    silhouette_px = polygon_area(convex_hull([normalized_to_pixel(x, y, width, height) for x, y in corners]))
    return obj.pixel_count >= MIN_VISIBLE_FRACTION * silhouette_px


def _build(scene: Scene, rng: np.random.Generator) -> BoxPoseItem | None:
    candidates = [o for o in scene.objects if _qualifies(scene, o)]
    if not candidates:
        return None
    obj = candidates[int(rng.integers(len(candidates)))]
    corners = _projected(scene, obj)
    ordered = corners[order_box_corners(corners, obj.corners_world, np.array([0.0, 0.0, 1.0]))]
    ordered = np.round(ordered, DECIMALS)
    return BoxPoseItem(
        item_id="",
        question=QUESTION.format(name=obj.name),
        images=(scene.rgb,),
        truth=(scene_truth(scene),),
        meta={"question_type": "pose", "target": obj.name},
        target=obj.name,
        ground_truth=format_points(ordered, decimals=DECIMALS),
    )


def generate(rng: np.random.Generator, config: SceneConfig) -> BoxPoseItem:
    return generate_with_retries(rng, _cuboid_config(config), _build)


def score(answer: str, item: BoxPoseItem) -> float:
    """BOP-ASK: IoU of the convex hulls of the predicted and true corners; 0 unless both have 8."""
    return score_pose_iou(answer, item.ground_truth)


def oracle(item: BoxPoseItem) -> str:
    return item.ground_truth


def counterexample(item: BoxPoseItem) -> str:
    """The true corners moved clear of the box (right, left, down or up, wherever there is room)."""
    corners = np.asarray(extract_bop_points(item.ground_truth))
    low, high = corners.min(axis=0), corners.max(axis=0)
    size = high - low + 0.01
    for axis in (0, 1):
        for step in (size[axis], -size[axis]):
            moved = corners.copy()
            moved[:, axis] += step
            if moved.min() >= 0.0 and moved.max() <= 1.0:
                return format_points(moved, decimals=DECIMALS)
    return format_points(corners[:7], decimals=DECIMALS)  # seven corners score 0 by the 8-point rule


FAMILY = TaskFamily(
    name="BoxPose",
    item_type=BoxPoseItem,
    score=score,
    oracle=oracle,
    generate=generate,
    description=__doc__ or "",
    eval_key="boppose",
    counterexample=counterexample,
)
