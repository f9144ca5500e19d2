"""BOPGrasp: BOP-ASK grasp keypoints as the SpaceTools evaluation ships them (key ``bopgrasp``).

60 questions on real grocery scenes (notes section 8): "What are the five normalized (x, y) points
between 0 and 1 in the image that outline the grasp plane for <object>? Your answer should be as
Grasp center: [], Left finger base: [], Right finger base: [], Left finger tip: [], Right finger
tip: []." Prompts are the ones stored in the data; the ground truth is that labelled string
(6 decimals).

The official score is SpaceTools' eval accuracy (:func:`~spacetools_env.scoring.score_grasp_success`):
1 when the normalized coordinate error NCE (mean keypoint error over the GT gripper width, the
better of the answer and its left/right mirror, capped at 10) is below 2. The shaped term is the
RL reward NNCE = 1 - NCE / 10 (:func:`~spacetools_env.scoring.score_grasp_nnce`). The paper's
MACE / SR columns come from an unpublished script and are not reproduced. The oracle answers the
ground truth.

``meta["question_type"]`` is the suffix of ``data_source`` after its last ``-`` (``grasp``).

Registered ids: ``SpaceTools-BOP-Grasp-v0`` (split ``test``).

Version history:
    v0: initial release.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from spacetools_env.loaders.rows import BenchmarkRow, RowError, describe
from spacetools_env.scoring import parse_grasp, score_grasp_nnce, score_grasp_success
from spacetools_env.task import TaskFamily, TaskItem
from spacetools_env.tasks.bench_common import GT_COLUMN, data_source_suffix

LABELS = ("Grasp center", "Left finger base", "Right finger base", "Left finger tip", "Right finger tip")


@dataclass(frozen=True, kw_only=True)
class BOPGraspItem(TaskItem):
    """Attributes: ``ground_truth`` as stored, ``"Grasp center: [x, y], Left finger base: [x, y], ..."``."""

    ground_truth: str


def item_from_row(row: BenchmarkRow) -> BOPGraspItem:
    """A :class:`BOPGraspItem` from a SpaceTools parquet row.

    Raises:
        RowError: the ground truth does not give the five keypoints, or its gripper has no width.
    """
    grasp = parse_grasp(row.ground_truth)
    if grasp is None or math.dist(grasp.left_base, grasp.right_base) == 0.0:
        expected = "'Grasp center: [x, y], Left finger base: [x, y], ...' with 5 keypoints and distinct finger bases"
        raise RowError(GT_COLUMN, expected, describe(row.ground_truth))
    return BOPGraspItem(**row.item_fields(data_source_suffix(row.data_source, "grasp")), ground_truth=row.ground_truth)


def score(answer: str, item: BOPGraspItem) -> float:
    """SpaceTools eval accuracy: 1 when NCE < 2."""
    return score_grasp_success(answer, item.ground_truth)


def shaped(answer: str, item: BOPGraspItem) -> float:
    """NNCE = 1 - min(NCE, 10) / 10."""
    return score_grasp_nnce(answer, item.ground_truth)


def oracle(item: BOPGraspItem) -> str:
    return item.ground_truth


def counterexample(item: BOPGraspItem) -> str:
    """Every keypoint moved right by ten gripper widths (plus one): NCE far above 2."""
    grasp = parse_grasp(item.ground_truth)
    if grasp is None:  # item_from_row rejects such rows; an empty answer scores 0 all the same
        return ""
    shift = 10.0 * math.dist(grasp.left_base, grasp.right_base) + 1.0
    return ", ".join(f"{label}: [{x + shift:.6f}, {y:.6f}]" for label, (x, y) in zip(LABELS, grasp, strict=True))


FAMILY = TaskFamily(
    name="BOPGrasp",
    item_type=BOPGraspItem,
    score=score,
    oracle=oracle,
    shaped=shaped,
    description=__doc__ or "",
    eval_key="bopgrasp",
    counterexample=counterexample,
)
