"""What every "point into this region" family shares: the item's ground truth and its scoring.

RefSpatial-Bench location and placement (and the families mirroring them) ask for a point and
grade it against a mask: the official score is the share of the answer's points inside the mask
(RoboRefer ``Evaluation/summarize_acc.py``), the shaped term is NNDC (paper section 4.3).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spacetools_env.scoring import score_mask_nndc, score_refspatial_mask
from spacetools_env.task import TaskItem
from tool_backends.geometry import format_points


@dataclass(frozen=True, kw_only=True)
class MaskPointItem(TaskItem):
    """Attributes: ``expression`` what to point at; ``mask`` its pixels (HxW bool, the ground
    truth); ``point`` a point well inside the mask; ``wrong_point`` a point outside it (the
    counterexample)."""

    expression: str
    mask: np.ndarray
    point: tuple[float, float]
    wrong_point: tuple[float, float]


def score(answer: str, item: MaskPointItem) -> float:
    """RefSpatial-Bench: the share of the answer's points inside the mask (0 when nothing parses)."""
    return score_refspatial_mask(answer, item.mask) or 0.0


def unparsable(answer: str, item: MaskPointItem) -> bool:
    """True where RoboRefer's parser raises, so its loop drops the sample (scored 0 by :func:`score`)."""
    return score_refspatial_mask(answer, item.mask) is None


def shaped(answer: str, item: MaskPointItem) -> float:
    """NNDC: the hit, or partial credit for a first point near the mask's centroid."""
    return score_mask_nndc(answer, item.mask)


def oracle(item: MaskPointItem) -> str:
    return format_points(np.asarray([item.point]))


def counterexample(item: MaskPointItem) -> str:
    return format_points(np.asarray([item.wrong_point]))
