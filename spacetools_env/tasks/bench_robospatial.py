"""RoboSpatial: RoboSpatial-Home questions as the SpaceTools evaluation ships them (key ``robospatial``).

350 real indoor images (notes section 1): 228 yes/no questions about spatial configuration ("Is
the picture above the desk?") and object compatibility ("Can the microwave fit in front of the
fridge?"), and 122 "context" questions asking for a point in vacant space ("Pinpoint several
points within the vacant space situated to the left of the bowl ..."). Prompts (system and
user) are the ones stored in the data. The ground truth is ``"Yes"``/``"No"`` or RoboSpatial's
point list ``"[(0.434, 0.834), ...]"`` (sampled free-space points, normalized).

Scoring is SpaceTools' (:func:`~spacetools_env.scoring.score_robospatial`): yes/no by
RoboSpatial-Eval's prefix rule (the stripped, lower-cased answer starts with the answer word, so
``"Yes."`` is right and ``"**Yes**"`` wrong); points by the first predicted point lying in the
convex hull of the GT points, boundary inclusive. The shaped term is NNDC for point questions
(partial credit near the GT points' mean) and the score for yes/no. The oracle answers the
ground truth (for points, the GT list itself, whose first point is on the hull).

``meta["question_type"]`` is the RoboSpatial category (``configuration``, ``compatibility``,
``context``) where the row names it, else ``yes_no`` or ``context``; ``meta["answer_kind"]`` is
``yes_no`` or ``point``, SpaceTools' VQA / Vacant split (its Overall pools both).

Registered ids: ``SpaceTools-RoboSpatial-v0`` (split ``test``; data from
``siyich/spacetools-eval-benchmarks``, see :mod:`spacetools_env.loaders.paths`).

Version history:
    v0: initial release.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from spacetools_env.loaders.rows import BenchmarkRow, RowError, describe
from spacetools_env.scoring import parse_gt_points, score_context_nndc, score_robospatial
from spacetools_env.task import TaskFamily, TaskItem
from spacetools_env.tasks.bench_common import GT_COLUMN, format_pairs

CATEGORIES = ("configuration", "compatibility", "context")
_CATEGORY_FIELDS = ("category", "question_type", "split", "type")


@dataclass(frozen=True, kw_only=True)
class RoboSpatialItem(TaskItem):
    """Attributes: ``ground_truth`` as stored: ``"Yes"``/``"No"`` or ``"[(x, y), ...]"`` (normalized)."""

    ground_truth: str

    @property
    def is_yes_no(self) -> bool:
        return self.ground_truth.strip().lower() in ("yes", "no")


def _category(row: BenchmarkRow) -> str | None:
    texts = [row.data_source] + [str(row.extra_info.get(name, "")) for name in _CATEGORY_FIELDS]
    for text in texts:
        for category in CATEGORIES:
            if category in text.lower():
                return category
    return None


def item_from_row(row: BenchmarkRow) -> RoboSpatialItem:
    """A :class:`RoboSpatialItem` from a SpaceTools parquet row.

    Raises:
        RowError: the ground truth is neither yes/no nor a list of at least 3 points.
    """
    truth = row.ground_truth.strip()
    yes_no = truth.lower() in ("yes", "no")
    if not yes_no and parse_gt_points(truth) is None:
        expected = "'Yes', 'No' or a list of at least 3 normalized points such as '[(0.43, 0.83), ...]'"
        raise RowError(GT_COLUMN, expected, describe(row.ground_truth))
    category = _category(row) or ("yes_no" if yes_no else "context")
    fields = row.item_fields(category, answer_kind="yes_no" if yes_no else "point")
    return RoboSpatialItem(**fields, ground_truth=truth)


def score(answer: str, item: RoboSpatialItem) -> float:
    """SpaceTools: prefix rule for yes/no, first point in the GT convex hull for points."""
    return score_robospatial(answer, item.ground_truth, point_rule="convex_hull")


def shaped(answer: str, item: RoboSpatialItem) -> float:
    """NNDC for point questions, the official score for yes/no."""
    if item.is_yes_no:
        return score(answer, item)
    return score_context_nndc(answer, item.ground_truth, rule="convex_hull")


def oracle(item: RoboSpatialItem) -> str:
    """The ground truth; for points, the GT points' mean should the first GT point fall outside."""
    if item.is_yes_no or score(item.ground_truth, item) == 1.0:
        return item.ground_truth
    points = np.asarray(parse_gt_points(item.ground_truth))
    return format_pairs([tuple(points.mean(axis=0))])


def wrong_answer(item: RoboSpatialItem, score_fn: Callable[[str, RoboSpatialItem], float]) -> str:
    """The other answer word, or an image corner the point rule ``score_fn`` counts outside."""
    if item.is_yes_no:
        return "No" if item.ground_truth.lower() == "yes" else "Yes"
    for corner in ((0.0, 0.0), (1.0, 1.0), (0.0, 1.0), (1.0, 0.0), (2.0, 2.0)):
        text = format_pairs([corner], decimals=3)
        if score_fn(text, item) == 0.0:
            return text
    return "[]"


def counterexample(item: RoboSpatialItem) -> str:
    return wrong_answer(item, score)


FAMILY = TaskFamily(
    name="RoboSpatial",
    item_type=RoboSpatialItem,
    score=score,
    oracle=oracle,
    shaped=shaped,
    description=__doc__ or "",
    eval_key="robospatial",
    counterexample=counterexample,
)
