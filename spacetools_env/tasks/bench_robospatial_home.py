"""RoboSpatialHome: RoboSpatial-Home as its authors release it, scored by RoboSpatial-Eval.

The same 350 questions as :mod:`~spacetools_env.tasks.bench_robospatial` (notes section 1), read
from the official downloader's layout (``annotations.json`` + ``images/``) when the local copy has
it, else from the hub parquet the downloader reads (loader
:mod:`spacetools_env.loaders.robospatial_home`; the same items either way, ``test`` in the
downloader's split order, **UNVERIFIED**), with the question text as released (no SpaceTools
system prompt, no "several points" rewrite). Categories: ``configuration`` and
``compatibility`` (yes/no) and ``context`` (a point in vacant space; the GT is RoboSpatial's
sampled point list).

Scoring is RoboSpatial-Eval's ``evaluate_answer`` (:func:`~spacetools_env.scoring.score_robospatial`):
yes/no by the prefix rule; a point by the first predicted point lying inside the GT points taken
as a polygon in listed order, even-odd ray casting, the current fixed version (``POINT_RULE =
"polygon"``). ``"polygon_legacy"`` (the March 2025 scorer SpaceTools-era numbers used) and
``"convex_hull"`` (SpaceTools' rule, the family RoboSpatial) are the alternatives, available from
the scoring function. The shaped term is NNDC for points and the score for yes/no. The oracle
answers the GT word, or a point the official rule counts inside (searched on a 0.01 grid).

Items carry oracle-tool ground truth where the release ships it, in either layout: the depth
image (16-bit values read as millimetres, 0 = no reading; **UNVERIFIED**) and the mask when
present (one segment inside, one outside). The release has no intrinsics: the focal length
assumes a 60 degree horizontal field of view (**UNVERIFIED**). 8-bit depth images are taken as
non-metric and give no ground truth.

``meta["question_type"]`` is the category; ``meta["answer_kind"]`` is ``yes_no`` or ``point``.
The leaderboard "Total" is the mean of the three category accuracies; "overall" is pooled.

Registered ids: ``SpaceTools-RoboSpatialHome-v0`` (splits ``test`` = all, ``configuration``,
``compatibility``, ``context``).

Version history:
    v0: initial release.
"""

from __future__ import annotations

import numpy as np

from spacetools_env.loaders.rows import BenchmarkRow, RowError, describe
from spacetools_env.scoring import parse_gt_points, score_context_nndc, score_robospatial
from spacetools_env.scoring.regions import ContextRule
from spacetools_env.task import TaskFamily
from spacetools_env.tasks.bench_common import format_pairs
from spacetools_env.tasks.bench_robospatial import CATEGORIES, RoboSpatialItem, wrong_answer
from tool_backends import GroundTruth

POINT_RULE: ContextRule = "polygon"
_GRID = np.round(np.linspace(0.005, 0.995, 100), 3)


def item_from_native(row: BenchmarkRow, truth: GroundTruth | None) -> RoboSpatialItem:
    """A :class:`RoboSpatialItem` from one ``annotations.json`` record (already decoded).

    ``row.extra_info["category"]`` is the record's category; ``truth`` the oracle-tool truth.

    Raises:
        RowError: the answer is neither yes/no nor a list of at least 3 points, or the category
            is unknown.
    """
    answer = row.ground_truth.strip()
    yes_no = answer.lower() in ("yes", "no")
    if not yes_no and parse_gt_points(answer) is None:
        expected = "'Yes', 'No' or a list of at least 3 normalized points such as '[(0.43, 0.83), ...]'"
        raise RowError("answer", expected, describe(row.ground_truth))
    category = row.extra_info.get("category")
    if category not in CATEGORIES:
        raise RowError("category", f"one of {list(CATEGORIES)}", describe(category))
    fields = {**row.item_fields(category, answer_kind="yes_no" if yes_no else "point"), "truth": (truth,)}
    return RoboSpatialItem(**fields, ground_truth=answer)


def score(answer: str, item: RoboSpatialItem) -> float:
    """RoboSpatial-Eval: prefix rule for yes/no, first point inside the GT polygon (fixed ray cast)."""
    return score_robospatial(answer, item.ground_truth, point_rule=POINT_RULE)


def shaped(answer: str, item: RoboSpatialItem) -> float:
    """NNDC for point questions, the official score for yes/no."""
    if item.is_yes_no:
        return score(answer, item)
    return score_context_nndc(answer, item.ground_truth, rule=POINT_RULE)


def oracle(item: RoboSpatialItem) -> str:
    """The GT word, or the first point (GT mean, then a 0.01 grid) the official rule counts inside."""
    if item.is_yes_no:
        return item.ground_truth
    points = np.asarray(parse_gt_points(item.ground_truth))
    mean = points.mean(axis=0)
    candidates = [(float(mean[0]), float(mean[1]))] + [(float(x), float(y)) for y in _GRID for x in _GRID]
    for point in candidates:
        text = format_pairs([point], decimals=3)
        if score(text, item) == 1.0:
            return text
    return item.ground_truth  # a degenerate polygon: nothing is inside, nothing can score


def counterexample(item: RoboSpatialItem) -> str:
    """The other answer word, or a point outside the GT polygon."""
    return wrong_answer(item, score)


FAMILY = TaskFamily(
    name="RoboSpatialHome",
    item_type=RoboSpatialItem,
    score=score,
    oracle=oracle,
    shaped=shaped,
    description=__doc__ or "",
    counterexample=counterexample,
)
