"""BOPPose: BOP-ASK object pose as the SpaceTools evaluation ships it (key ``boppose``).

60 questions on real grocery scenes (notes section 8): "What are the eight normalized (x, y)
image coordinates between 0 and 1 of the cuboid corners for <object>? ... bottom face first then
top face, all counter-clockwise ... a list of 8 tuples like [(x1, y1), (x2, y2), ...]". Prompts
are the ones stored in the data; the ground truth is the 8 projected corners (6 decimals).

Scoring is BOP-ASK's as SpaceTools runs it (:func:`~spacetools_env.scoring.score_pose_iou`): the
IoU of the convex hulls of the predicted and true corners, 0 unless both have exactly 8 points
(order-invariant). The paper reports the mean x 100. The shaped term is the same IoU. The oracle
answers the ground truth.

``meta["question_type"]`` is the suffix of ``data_source`` after its last ``-`` (``pose``).

Registered ids: ``SpaceTools-BOP-Pose-v0`` (split ``test``).

Version history:
    v0: initial release.
"""

from __future__ import annotations

from dataclasses import dataclass

from spacetools_env.loaders.rows import BenchmarkRow, RowError, describe
from spacetools_env.scoring import extract_bop_points, score_pose_iou
from spacetools_env.scoring.pose import POSE_CORNERS
from spacetools_env.task import TaskFamily, TaskItem
from spacetools_env.tasks.bench_common import GT_COLUMN, data_source_suffix, format_pairs


@dataclass(frozen=True, kw_only=True)
class BOPPoseItem(TaskItem):
    """Attributes: ``ground_truth`` the 8 corners as stored, ``"[(x1, y1), ..., (x8, y8)]"`` (normalized)."""

    ground_truth: str


def item_from_row(row: BenchmarkRow) -> BOPPoseItem:
    """A :class:`BOPPoseItem` from a SpaceTools parquet row.

    Raises:
        RowError: the ground truth does not hold exactly 8 ``(x, y)`` points.
    """
    if len(extract_bop_points(row.ground_truth, limit=POSE_CORNERS + 1)) != POSE_CORNERS:
        raise RowError(GT_COLUMN, "exactly 8 normalized (x, y) corner points", describe(row.ground_truth))
    return BOPPoseItem(**row.item_fields(data_source_suffix(row.data_source, "pose")), ground_truth=row.ground_truth)


def score(answer: str, item: BOPPoseItem) -> float:
    """BOP-ASK pose: convex-hull IoU of exactly 8 predicted and 8 true corners."""
    return score_pose_iou(answer, item.ground_truth)


def oracle(item: BOPPoseItem) -> str:
    return item.ground_truth


def counterexample(item: BOPPoseItem) -> str:
    """The true corners moved right by more than the image width: 8 points, disjoint hull, IoU 0."""
    return format_pairs([(x + 2.0, y) for x, y in extract_bop_points(item.ground_truth)])


FAMILY = TaskFamily(
    name="BOPPose",
    item_type=BOPPoseItem,
    score=score,
    oracle=oracle,
    description=__doc__ or "",
    eval_key="boppose",
    counterexample=counterexample,
)
