"""BOP-ASK scorers used by SpaceTools: 8-corner pose hull IoU and 5-keypoint grasp error (NCE).

Source: ``SpaceTools-RL:verl/utils/reward_score/bop_ask_bench.py`` (not public), reconstructed
from the Toolshed wrapper ``evals/bop_ask.py``, the paper (§4.3) and qyYue1389's re-computation,
which matched all 60 dumped pose scores and the worked grasp example (notes §0, §8).
"""

from __future__ import annotations

import math
import re
from typing import NamedTuple

from spacetools_env.scoring.geometry import Point, convex_hull_iou

#: Non-negative decimals only, as ``_PT_RE`` / ``_PT_SQ_RE`` (possessive, same matches).
_DECIMAL = r"[0-9]++(?:\.[0-9]++)?+"
_PAIR = rf"\(\s*+({_DECIMAL})\s*+,\s*+({_DECIMAL})\s*+\)|\[\s*+({_DECIMAL})\s*+,\s*+({_DECIMAL})\s*+\]"
_PAIR_RE = re.compile(_PAIR)

POSE_CORNERS = 8
GRASP_NCE_CAP = 10.0
GRASP_SUCCESS_NCE = 2.0

_GRASP_LABELS = {
    "grasp center": "center",
    "left finger base": "left_base",
    "right finger base": "right_base",
    "left finger tip": "left_tip",
    "right finger tip": "right_tip",
}
# Matched against the lower-cased text: re.IGNORECASE would make this scan ~10x slower.
_LABELLED_RE = re.compile(
    rf"((?:grasp|left|right)\s++(?:center|finger\s++(?:base|tip)))\s*+:?+\s*+(?:{_PAIR})"
)


def extract_bop_points(text: str, *, limit: int | None = None) -> list[Point]:
    """All ``(x, y)`` and ``[x, y]`` pairs of non-negative decimals, in text order.

    bop_ask_bench accepts both bracket styles (``_PT_RE``, ``_PT_SQ_RE``); how it combines them is
    **UNVERIFIED**: we take their union in text order (identical whenever an answer uses one
    style, as the GT and all dumped answers do). ``limit`` stops the scan early (a caller that
    needs exactly 8 can ask for 9).
    """
    if not isinstance(text, str):
        return []
    points: list[Point] = []
    for match in _PAIR_RE.finditer(text):
        a, b, c, d = match.groups()
        points.append((float(a if a is not None else c), float(b if b is not None else d)))
        if limit is not None and len(points) >= limit:
            break
    return points


def score_pose_iou(prediction: str, ground_truth: str) -> float:
    """BOP-ASK pose score: IoU of the convex hulls of the 8 predicted and 8 GT corners.

    If either side does not have exactly 8 pairs (see :func:`extract_bop_points`) the score is 0.0
    (paper App. E.4: "R_IoU = IoU(C, Ĉ) when |Ĉ| = |C| = 8, and 0 otherwise"). Order-invariant:
    shuffled corners score the same. The paper reports the mean x 100.

    >>> square = "(0.1, 0.1), (0.5, 0.1), (0.5, 0.5), (0.1, 0.5)"
    >>> round(score_pose_iou(f"[{square}, {square}]", f"[{square}, {square}]"), 9)
    1.0
    """
    gt = extract_bop_points(ground_truth, limit=POSE_CORNERS + 1)
    pred = extract_bop_points(prediction, limit=POSE_CORNERS + 1)
    if len(gt) != POSE_CORNERS or len(pred) != POSE_CORNERS:
        return 0.0
    return convex_hull_iou(pred, gt)


class GraspKeypoints(NamedTuple):
    """The five BOP-ASK gripper keypoints, normalized image ``(x, y)``."""

    center: Point
    left_base: Point
    right_base: Point
    left_tip: Point
    right_tip: Point

    def mirrored(self) -> GraspKeypoints:
        """The same gripper with its left and right fingers swapped."""
        return GraspKeypoints(self.center, self.right_base, self.left_base, self.right_tip, self.left_tip)


def parse_grasp(text: str) -> GraspKeypoints | None:
    """Parse ``Grasp center: [x, y], Left finger base: [x, y], Right finger base: ..., ...tip: ...``.

    Labelled form first (labels case-insensitive, colon optional, ``[]`` or ``()``; the first
    occurrence of each label wins). Failing that, exactly 5 unlabelled pairs are read in the
    question's order: centre, left base, right base, left tip, right tip. Both fallbacks are our
    **UNVERIFIED** reading of bop_ask_bench. Returns None otherwise (fewer than 5 points: the
    official score is the cap, 10).
    """
    if not isinstance(text, str):
        return None
    found: dict[str, Point] = {}
    for match in _LABELLED_RE.finditer(text.lower()):
        key = _GRASP_LABELS.get(" ".join(match.group(1).split()))
        if key is not None and key not in found:
            a, b, c, d = match.group(2, 3, 4, 5)
            found[key] = (float(a if a is not None else c), float(b if b is not None else d))
        if len(found) == len(_GRASP_LABELS):
            return GraspKeypoints(**found)
    points = extract_bop_points(text, limit=6)
    return GraspKeypoints(*points) if len(points) == 5 else None


def grasp_nce(prediction: str, ground_truth: str, *, cap: float = GRASP_NCE_CAP) -> float:
    """BOP-ASK grasp normalized coordinate error (lower is better), in [0, cap].

    NCE = mean over the 5 keypoints of the L2 error / the GT gripper width (distance between the
    GT left and right finger bases), taking the better of the prediction and its left/right
    mirror, capped at ``cap`` (qyYue1389 ``docs/full_report_v1.md`` §10.2 worked example:
    width 0.0701, mean error 0.1495, NCE 2.13). An unparsable prediction, an unparsable GT or a
    zero GT width give ``cap`` (a dumped prediction with fewer than 5 points scored 10.0).
    """
    truth, guess = parse_grasp(ground_truth), parse_grasp(prediction)
    if truth is None or guess is None:
        return cap
    width = math.dist(truth.left_base, truth.right_base)
    errors = [
        sum(math.dist(p, q) for p, q in zip(candidate, truth, strict=True)) / len(truth)
        for candidate in (guess, guess.mirrored())
    ]
    nce = min(errors) / width if width > 0.0 else math.inf
    return min(nce, cap) if nce == nce else cap  # NaN (from infinite coordinates) -> cap


def score_grasp_nnce(prediction: str, ground_truth: str, *, cap: float = GRASP_NCE_CAP) -> float:
    """The RL grasp reward NNCE = 1 - min(cap, NCE) / cap, in [0, 1] (paper §4.3).

    The cap of the RL transform is **UNVERIFIED**; we reuse the eval cap (10).
    """
    return 1.0 - min(cap, grasp_nce(prediction, ground_truth, cap=cap)) / cap


def score_grasp_success(prediction: str, ground_truth: str, *, threshold: float = GRASP_SUCCESS_NCE) -> float:
    """SpaceTools eval accuracy for grasps: 1.0 if NCE < 2.0 (``evals/bop_ask.py``), else 0.0.

    The paper's MACE / SR columns come from a separate, unpublished script
    (``analysis/analyze_grasp_result.py``) and are not reproduced here.
    """
    return 1.0 if grasp_nce(prediction, ground_truth) < threshold else 0.0
