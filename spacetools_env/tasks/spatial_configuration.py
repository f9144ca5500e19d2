"""SpatialConfiguration: yes/no questions on how two objects are arranged, seen from the camera.

Mirrors RoboSpatial-Home "configuration" (SpaceTools eval key ``robospatial``): "Is the mug to
the left of the red cube? Answer yes or no." Relations are taken from the camera's viewpoint
(RoboSpatial's ego-centric frame):

- "to the left of" / "to the right of": the subject's visible mask centroid is at least
  ``MIN_COLUMN_OFFSET`` (normalized image width) to that side of the reference's; the
  projections of the 3D box centres and the points a pointing tool returns (the referents'
  interior points, by at least ``MIN_POINT_OFFSET``) lie the same way.
- "in front of" / "behind": the subject's 3D box centre is nearer / farther in depth (camera-frame
  z) than the reference's by the factor ``MIN_DEPTH_RATIO``, and the depth map read at the
  pointing locations orders them the same way with ratio ``MIN_POINT_DEPTH_RATIO``.

Each relation is asked a quarter of the time (left/right questions fall back to front/behind
and back when a scene has no clear pair), and the answer is "Yes" or "No" with equal
probability: a clear pair asked in its true order answers yes, swapped answers no. Score: the
official RoboSpatial-Eval rule (:func:`~spacetools_env.scoring.score_yes_no`, prefix match after
lower-casing). The original trace: two pointing calls (and, for front/behind, depth reads).

Version history:
    v0: initial release.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spacetools_env.task import TaskFamily
from spacetools_env.tasks import answer_kinds
from spacetools_env.tasks.answer_kinds import YesNoItem
from spacetools_env.tasks.common import generate_with_retries, scene_truth, yes_no
from spacetools_env.tasks.depth_3d import centre_depths, clear_depth_pairs, point_depths
from spacetools_env.tasks.relation_2d import object_positions
from spacetools_env.world import Scene, SceneConfig

MIN_COLUMN_OFFSET = 0.06
MIN_POINT_OFFSET = 0.03
MIN_DEPTH_RATIO = 1.1
MIN_POINT_DEPTH_RATIO = 1.05
QUESTION = "Is the {subject} {relation} the {reference}? Answer yes or no."
# (relation holding for (i, j) of a clear pair, its converse): i is left of / in front of j.
RELATION_PAIRS = {
    "horizontal": ("to the left of", "to the right of"),
    "depth": ("in front of", "behind"),
}


@dataclass(frozen=True, kw_only=True)
class SpatialConfigurationItem(YesNoItem):
    """Attributes: ``answer`` ``"Yes"`` or ``"No"``; ``relation`` the asked relation;
    ``subject``/``reference`` the object names."""

    relation: str
    subject: str
    reference: str


def _horizontal_pairs(scene: Scene, points: np.ndarray) -> np.ndarray:
    """(K, 2) pairs (i, j): object i clearly left of object j in the image."""
    centre_x = scene.camera.project(np.array([o.position for o in scene.objects]))[:, 0]
    xs = np.stack([object_positions(scene, points)[1, :, 0], centre_x, points[:, 0]])  # (3, N)
    diff = xs[:, None, :] - xs[:, :, None]  # diff[k, i, j] = x_j - x_i
    ok = (diff[0] >= MIN_COLUMN_OFFSET) & (diff[1] > 0) & (diff[2] >= MIN_POINT_OFFSET)
    return np.argwhere(ok)


def _depth_pairs(scene: Scene, points: np.ndarray) -> np.ndarray:
    """(K, 2) pairs (i, j): object i clearly closer to the camera than object j."""
    return clear_depth_pairs(centre_depths(scene), point_depths(scene, points), MIN_DEPTH_RATIO, MIN_POINT_DEPTH_RATIO)


def _build(scene: Scene, rng: np.random.Generator) -> SpatialConfigurationItem | None:
    if len(scene.objects) < 2:
        return None
    truth = scene_truth(scene)
    points = np.array([r.point for r in truth.referents[: len(scene.objects)]])
    kinds = ("horizontal", "depth") if rng.random() < 0.5 else ("depth", "horizontal")
    for kind in kinds:
        pairs = _horizontal_pairs(scene, points) if kind == "horizontal" else _depth_pairs(scene, points)
        if len(pairs):
            break
    else:
        return None
    first, second = pairs[int(rng.integers(len(pairs)))]
    holds, converse = RELATION_PAIRS[kind]
    # Ask "i <holds> j" or "j <converse> i" (both true), then swap the objects for a "No".
    relation, subject, reference = (holds, first, second) if rng.random() < 0.5 else (converse, second, first)
    answer = rng.random() < 0.5
    if not answer:
        subject, reference = reference, subject
    names = scene.objects[subject].name, scene.objects[reference].name
    return SpatialConfigurationItem(
        item_id="",
        question=QUESTION.format(subject=names[0], relation=relation, reference=names[1]),
        images=(scene.rgb,),
        truth=(truth,),
        meta={"question_type": "configuration", "relation": relation, "objects": list(names)},
        answer=yes_no(answer),
        relation=relation,
        subject=names[0],
        reference=names[1],
    )


def generate(rng: np.random.Generator, config: SceneConfig) -> SpatialConfigurationItem:
    return generate_with_retries(rng, config, _build)


FAMILY = TaskFamily(
    name="SpatialConfiguration",
    item_type=SpatialConfigurationItem,
    score=answer_kinds.score_yes_no_item,
    oracle=answer_kinds.oracle_yes_no,
    generate=generate,
    description=__doc__ or "",
    eval_key="robospatial",
    counterexample=answer_kinds.counterexample_yes_no,
)
