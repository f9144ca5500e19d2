"""RefSpatial: RefSpatial-Bench pointing questions as the SpaceTools evaluation ships them.

One family for the three splits (keys ``reflocation``, ``refplacement``, ``refunseen``; 100, 100
and 77 questions, notes section 4): point at the object a spatial referring expression picks out
(location) or at free space where something should go (placement); ``unseen`` holds placement-
style questions with novel spatial relations. Prompts are the ones stored in the data; the
ground truth is a base64 PNG mask.

Scoring is RefSpatial-Bench's (:func:`~spacetools_env.scoring.score_refspatial_mask`, RoboRefer
``Evaluation/summarize_acc.py``, tuple parser in relative mode): the share of the answer's points
that fall inside the mask, in the mask's own pixel frame; an answer with no parsable point (which
the official loop would skip) scores 0 here, since an episode must have a score. SpaceTools' own
``refspatial_bench`` may score the first point only (**UNVERIFIED**); for single-point answers, the
suffix's format, the two agree. The shaped term is NNDC on the distance from the first point to
the mask's centroid. The oracle answers the centre of the mask pixel farthest from the mask's
boundary, with 6 decimals so the official ``int(x * W)`` lands on that pixel.

``meta["question_type"]`` is the split (``location``, ``placement``, ``unseen``); ``step`` (the
number of reasoning steps) and ``qa_type`` are kept when the row has them. The benchmark reports
each split's mean and, in SpaceTools' table, the pooled mean over 277 (53.07 = 147/277).

Registered ids: ``SpaceTools-RefSpatial-Location-v0``, ``SpaceTools-RefSpatial-Placement-v0``,
``SpaceTools-RefSpatial-Unseen-v0`` (split ``test``).

Version history:
    v0: initial release.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spacetools_env.loaders.rows import BenchmarkRow, decode_mask
from spacetools_env.scoring import score_mask_nndc, score_refspatial_mask
from spacetools_env.task import TaskFamily, TaskItem
from spacetools_env.tasks.bench_common import GT_COLUMN, format_pairs
from tool_backends.geometry import interior_point, pixel_centre_normalized

SPLITS = {"reflocation": "location", "refplacement": "placement", "refunseen": "unseen"}


@dataclass(frozen=True, kw_only=True)
class RefSpatialItem(TaskItem):
    """Attributes: ``mask`` the GT region (HxW bool); ``point`` a normalized point deep inside it
    (the oracle); ``wrong_point`` a normalized point outside it, or None when the mask covers
    the whole image."""

    mask: np.ndarray
    point: tuple[float, float]
    wrong_point: tuple[float, float] | None


def outside_point(mask: np.ndarray) -> tuple[float, float] | None:
    """The first pixel outside the mask (row-major), normalized; None when the mask covers all."""
    rows, cols = np.nonzero(~mask)
    if len(rows) == 0:
        return None
    height, width = mask.shape
    x, y = pixel_centre_normalized(cols[0], rows[0], width, height)
    return float(x), float(y)


def item_from_row(row: BenchmarkRow) -> RefSpatialItem:
    """A :class:`RefSpatialItem` from a SpaceTools parquet row (the mask decoded from the GT).

    Raises:
        RowError: the ground truth is not a base64 PNG with at least one foreground pixel.
    """
    mask = decode_mask(row.ground_truth, GT_COLUMN)
    extras = {k: row.extra_info[k] for k in ("step", "qa_type") if isinstance(row.extra_info.get(k), int | str)}
    return RefSpatialItem(
        **row.item_fields(SPLITS.get(row.key, row.key), **extras),
        mask=mask,
        point=interior_point(mask),
        wrong_point=outside_point(mask),
    )


def score(answer: str, item: RefSpatialItem) -> float:
    """RefSpatial-Bench: the share of the answer's points inside the mask (0 when nothing parses)."""
    return score_refspatial_mask(answer, item.mask) or 0.0


def unparsable(answer: str, item: RefSpatialItem) -> bool:
    """True where RoboRefer's parser raises, so its loop drops the sample (scored 0 by :func:`score`)."""
    return score_refspatial_mask(answer, item.mask) is None


def shaped(answer: str, item: RefSpatialItem) -> float:
    """NNDC: the hit, or partial credit for a first point near the mask's centroid."""
    return score_mask_nndc(answer, item.mask)


def oracle(item: RefSpatialItem) -> str:
    return format_pairs([item.point])


def counterexample(item: RefSpatialItem) -> str:
    """A point outside the mask; no point at all when the mask covers the image."""
    return "[]" if item.wrong_point is None else format_pairs([item.wrong_point])


FAMILY = TaskFamily(
    name="RefSpatial",
    item_type=RefSpatialItem,
    score=score,
    oracle=oracle,
    shaped=shaped,
    description=__doc__ or "",
    counterexample=counterexample,
    unparsable=unparsable,
)
