"""Relation2D: where one object lies relative to another in the image (left/right, above/below).

Mirrors CV-Bench 2D Relation (SpaceTools eval key ``cvb2drelation``): "Considering the relative
positions of the mug and the red cube in the image provided, where is the mug located with
respect to the red cube? Select from the following choices.\\n(A) left\\n(B) right". The
relation is purely 2D, as in CV-Bench: "left"/"right" compare image columns, "above"/"below"
image rows (a farther object on the table is "above" a nearer one).

Ground truth: the centres of the two objects' visible 2D boxes (the tight box of the visible
mask, CV-Bench's annotation) differ along the asked axis by at least ``MIN_BOX_OFFSET``
(normalized image units). So that no reasonable reading of "where is it" disagrees, the mask
centroids and the points a pointing tool returns (the referents' interior points) must lie the
same way, at least ``MIN_POINT_OFFSET`` apart. Half of the questions ask left/right, half
above/below (falling back to the other axis when a scene has no clear pair); the option order
is drawn so the answer letter is A or B with equal probability. Score: CV-Bench's letter match
(:func:`~spacetools_env.scoring.score_choice_letter`). The original trace is two pointing calls
and a comparison.

Version history:
    v0: initial release.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from spacetools_env.task import TaskFamily
from spacetools_env.tasks import answer_kinds
from spacetools_env.tasks.answer_kinds import ChoiceItem
from spacetools_env.tasks.common import generate_with_retries, scene_truth
from spacetools_env.world import Scene, SceneConfig
from tool_backends.geometry import pixel_centre_normalized, pixel_to_normalized

MIN_BOX_OFFSET = 0.06
MIN_POINT_OFFSET = 0.03
QUESTION = (
    "Considering the relative positions of the {subject} and the {reference} in the image provided, "
    "where is the {subject} located with respect to the {reference}? Select from the following choices.\n"
    "(A) {first}\n(B) {second}"
)
# axis index in (x, y) -> (relation when the subject's coordinate is smaller, when larger)
RELATIONS = {0: ("left", "right"), 1: ("above", "below")}


@dataclass(frozen=True, kw_only=True)
class Relation2DItem(ChoiceItem):
    """Attributes: ``label`` the right letter; ``relation`` the true relation (``left``, ``right``,
    ``above``, ``below``); ``subject``/``reference`` the object names; ``choices`` the options (A, B)."""

    relation: str
    subject: str
    reference: str
    choices: tuple[str, str]


def object_positions(scene: Scene, points: np.ndarray) -> np.ndarray:
    """(3, N, 2) normalized (x, y) per object: visible-box centres, mask centroids, ``points``.

    Works on each object's bounding crop of the segmentation, so it costs well under a millisecond.
    """
    height, width = scene.segmentation.shape
    slices = ndimage.find_objects(scene.segmentation)
    out = np.empty((3, len(scene.objects), 2))
    for i, obj in enumerate(scene.objects):
        rows, cols = slices[obj.label - 1]
        vv, uu = np.nonzero(scene.segmentation[rows, cols] == obj.label)
        out[0, i] = pixel_to_normalized((cols.start + cols.stop) / 2, (rows.start + rows.stop) / 2, width, height)
        out[1, i] = pixel_centre_normalized(cols.start + uu.mean(), rows.start + vv.mean(), width, height)
    out[2] = points
    return out


def clear_pairs(positions: np.ndarray, axis: int) -> np.ndarray:
    """(K, 2) object index pairs (i, j) where i is clearly smaller than j along ``axis``."""
    coord = positions[:, :, axis]  # (3, N)
    diff = coord[:, None, :] - coord[:, :, None]  # diff[k, i, j] = coord_j - coord_i
    ok = (diff[0] >= MIN_BOX_OFFSET) & (diff[1] > 0) & (diff[2] >= MIN_POINT_OFFSET)
    return np.argwhere(ok)


def _build(scene: Scene, rng: np.random.Generator) -> Relation2DItem | None:
    if len(scene.objects) < 2:
        return None
    truth = scene_truth(scene)
    points = np.array([r.point for r in truth.referents[: len(scene.objects)]])
    positions = object_positions(scene, points)
    axes = (0, 1) if rng.random() < 0.5 else (1, 0)
    for axis in axes:
        pairs = clear_pairs(positions, axis)
        if len(pairs):
            break
    else:
        return None
    smaller, larger = pairs[int(rng.integers(len(pairs)))]
    # The subject is either object: asking about the smaller-coordinate one answers "left"/"above".
    subject_first = rng.random() < 0.5
    subject, reference = (smaller, larger) if subject_first else (larger, smaller)
    relation = RELATIONS[axis][0 if subject_first else 1]
    other = RELATIONS[axis][1 if subject_first else 0]
    label = "A" if rng.random() < 0.5 else "B"
    choices = (relation, other) if label == "A" else (other, relation)
    names = scene.objects[subject].name, scene.objects[reference].name
    return Relation2DItem(
        item_id="",
        question=QUESTION.format(subject=names[0], reference=names[1], first=choices[0], second=choices[1]),
        images=(scene.rgb,),
        truth=(truth,),
        meta={"question_type": "relation_2d", "relation": relation, "objects": list(names)},
        label=label,
        relation=relation,
        subject=names[0],
        reference=names[1],
        choices=choices,
    )


def generate(rng: np.random.Generator, config: SceneConfig) -> Relation2DItem:
    return generate_with_retries(rng, config, _build)


FAMILY = TaskFamily(
    name="Relation2D",
    item_type=Relation2DItem,
    score=answer_kinds.score_choice,
    oracle=answer_kinds.oracle_choice,
    generate=generate,
    description=__doc__ or "",
    eval_key="cvb2drelation",
    counterexample=answer_kinds.counterexample_choice,
)
