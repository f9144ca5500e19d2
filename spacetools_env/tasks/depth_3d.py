"""Depth3D: which of two boxed objects is closer to the camera.

Mirrors CV-Bench 3D Depth (SpaceTools eval key ``cvb3ddepth``): "Which object is closer to the
camera taking this photo, the mug (highlighted by a red box) or the red cube (highlighted by a
blue box)?\\n(A) mug\\n(B) red cube". The two objects' visible 2D boxes are drawn on the image,
red for the first, blue for the second, as CV-Bench draws its Omni3D boxes.

Ground truth: the object whose 3D box centre has the smaller depth (its z in the camera frame,
as CV-Bench compares Omni3D box centres). The larger depth is at least ``MIN_RATIO`` times the
smaller one, and the depth map read at each object's pointing location (the referents' interior
points, where a tool points) orders them the same way with a ratio of at least
``MIN_POINT_RATIO``, so the question has one right answer. Which object is named first is
drawn at random, so A and B are equally likely. Score: CV-Bench's letter match
(:func:`~spacetools_env.scoring.score_choice_letter`). The original trace: depth, two pointing
calls, two depth reads, compare.

Version history:
    v0: initial release.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spacetools_env.drawing import BLUE, RED, draw_rectangles
from spacetools_env.task import TaskFamily
from spacetools_env.tasks import answer_kinds
from spacetools_env.tasks.answer_kinds import ChoiceItem
from spacetools_env.tasks.common import generate_with_retries, scene_truth
from spacetools_env.world import Scene, SceneConfig
from tool_backends.geometry import pixel_indices, pixel_to_normalized

MIN_RATIO = 1.1
MIN_POINT_RATIO = 1.05
BOX_PAD_PX = 3
QUESTION = (
    "Which object is closer to the camera taking this photo, the {a} (highlighted by a red box) or the "
    "{b} (highlighted by a blue box)?\n(A) {a}\n(B) {b}"
)


@dataclass(frozen=True, kw_only=True)
class Depth3DItem(ChoiceItem):
    """Attributes: ``label`` the closer object's letter; ``objects`` the names of (A, B);
    ``depths`` camera depths of the box centres of (A, B) in metres; ``boxes`` the drawn normalized
    ``(x0, y0, x1, y1)`` boxes of (A, B)."""

    objects: tuple[str, str]
    depths: tuple[float, float]
    boxes: tuple[tuple[float, float, float, float], tuple[float, float, float, float]]


def point_depths(scene: Scene, points: np.ndarray) -> np.ndarray:
    """Depth-map values at normalized (N, 2) points, read the way ``vision_ops.index_at`` reads them."""
    height, width = scene.depth.shape
    pixels = pixel_indices(points, width, height)
    return scene.depth[pixels[:, 1], pixels[:, 0]].astype(np.float64)


def centre_depths(scene: Scene) -> np.ndarray:
    """(N,) depth (camera-frame z, metres) of each object's 3D box centre."""
    return scene.camera.world_to_camera(np.array([o.position for o in scene.objects]))[:, 2]


def clear_depth_pairs(
    centres: np.ndarray, points: np.ndarray, ratio: float = MIN_RATIO, point_ratio: float = MIN_POINT_RATIO
) -> np.ndarray:
    """(K, 2) object index pairs (i, j) where i is clearly closer than j.

    Args:
        centres: (N,) depths of the box centres.
        points: (N,) depth-map values at the objects' pointing locations.
        ratio: Least ratio of the centre depths.
        point_ratio: Least ratio of the point depths.
    """
    ok = (centres[None, :] >= ratio * centres[:, None]) & (points[None, :] >= point_ratio * points[:, None])
    return np.argwhere(ok)


def _visible_box(scene: Scene, index: int) -> tuple[float, float, float, float]:
    mask = scene.objects[index].mask
    height, width = mask.shape
    cols = np.flatnonzero(mask.any(axis=0))
    rows = np.flatnonzero(mask.any(axis=1))
    x0, x1 = max(cols[0] - BOX_PAD_PX, 0), min(cols[-1] + 1 + BOX_PAD_PX, width - 1)
    y0, y1 = max(rows[0] - BOX_PAD_PX, 0), min(rows[-1] + 1 + BOX_PAD_PX, height - 1)
    return (*pixel_to_normalized(x0, y0, width, height), *pixel_to_normalized(x1, y1, width, height))


def _build(scene: Scene, rng: np.random.Generator) -> Depth3DItem | None:
    if len(scene.objects) < 2:
        return None
    truth = scene_truth(scene)
    depths = centre_depths(scene)
    points = np.array([r.point for r in truth.referents[: len(scene.objects)]])
    pairs = clear_depth_pairs(depths, point_depths(scene, points))
    if len(pairs) == 0:
        return None
    near, far = pairs[int(rng.integers(len(pairs)))]
    order = (near, far) if rng.random() < 0.5 else (far, near)
    names = tuple(scene.objects[i].name for i in order)
    boxes = tuple(_visible_box(scene, i) for i in order)
    image = draw_rectangles(scene.rgb, [(boxes[0], RED), (boxes[1], BLUE)])
    return Depth3DItem(
        item_id="",
        question=QUESTION.format(a=names[0], b=names[1]),
        images=(image,),
        truth=(truth,),
        meta={"question_type": "depth_3d", "objects": list(names)},
        label="A" if order[0] == near else "B",
        objects=(names[0], names[1]),
        depths=(float(depths[order[0]]), float(depths[order[1]])),
        boxes=(boxes[0], boxes[1]),
    )


def generate(rng: np.random.Generator, config: SceneConfig) -> Depth3DItem:
    return generate_with_retries(rng, config, _build)


FAMILY = TaskFamily(
    name="Depth3D",
    item_type=Depth3DItem,
    score=answer_kinds.score_choice,
    oracle=answer_kinds.oracle_choice,
    generate=generate,
    description=__doc__ or "",
    eval_key="cvb3ddepth",
    counterexample=answer_kinds.counterexample_choice,
)
