"""Region scorers: RoboSpatial-Home context points, RefSpatial-Bench masks, Where2Place soft masks."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from spacetools_env.scoring._common import check_option, clip01, guarded_literal_eval
from spacetools_env.scoring.choices import YesNoRule, score_yes_no
from spacetools_env.scoring.geometry import (
    convex_hull,
    point_in_convex_polygon,
    point_in_polygon_ray_cast,
    point_in_polygon_ray_cast_legacy,
)
from spacetools_env.scoring.points import (
    PixelPoints,
    PointFormat,
    parse_first_point_robospatial,
    parse_points,
    parse_points_tuples,
)

ContextRule = Literal["convex_hull", "polygon", "polygon_legacy"]
CONTEXT_RULES: tuple[str, ...] = ("convex_hull", "polygon", "polygon_legacy")

#: Where2Place answers are scaled to this frame whatever the mask size (RoboPoint's defaults).
WHERE2PLACE_SIZE = (640, 480)


def parse_gt_points(ground_truth: str) -> list[tuple[float, float]] | None:
    """Parse a RoboSpatial context ground truth such as ``"[(0.434, 0.834), ...]"``.

    Literal parse as ``evaluate_answer`` does; it must be a list of at least 3 items, each a pair
    of real numbers (upstream unpacks each as ``xi, yi`` and would fail otherwise). Returns None
    for anything else (scored wrong).
    """
    if not isinstance(ground_truth, str):
        return None
    try:
        value = guarded_literal_eval(ground_truth)
    except Exception:
        return None
    if not isinstance(value, list) or len(value) < 3:
        return None
    points: list[tuple[float, float]] = []
    for item in value:
        if not isinstance(item, tuple | list) or len(item) != 2:
            return None
        if not all(isinstance(v, int | float) and math.isfinite(v) for v in item):
            return None
        points.append((float(item[0]), float(item[1])))
    return points


def point_in_context_region(
    point: tuple[float, float], gt_points: list[tuple[float, float]], rule: str
) -> bool:
    """Whether ``point`` lies in the GT region under ``rule`` (see :func:`score_context_point`)."""
    check_option("rule", rule, CONTEXT_RULES)
    if rule == "convex_hull":
        return point_in_convex_polygon(point, convex_hull(gt_points))
    if rule == "polygon":
        return point_in_polygon_ray_cast(point[0], point[1], gt_points)
    return point_in_polygon_ray_cast_legacy(point[0], point[1], gt_points)


def score_context_point(prediction: str, ground_truth: str, *, rule: ContextRule = "convex_hull") -> float:
    """Score a RoboSpatial-Home context (vacant-space) answer: 1.0 if its first point is in the region.

    The first point comes from :func:`parse_first_point_robospatial` (official steps a-d); the GT
    from :func:`parse_gt_points` (fewer than 3 points, or unparsable: 0.0).

    Args:
        prediction: the answer text.
        ground_truth: the GT point list string.
        rule: which "in" test:

            - ``"convex_hull"`` (default, SpaceTools): inside or on the boundary of the convex
              hull of the GT points (``SpaceTools-RL:verl/utils/reward_score/robos_all.py``,
              ``point_evaluation_method="convex_hull"``; notes §0, matched 122/122 by qyYue).
            - ``"polygon"``: even-odd ray casting over the GT points in listed order, the current
              official rule (``chanhee-luke/RoboSpatial-Eval:evaluation.py``, commit ``3af8ceb``).
            - ``"polygon_legacy"``: the original buggy ray cast (vertical edges always toggle).

    Raises:
        ValueError: unknown ``rule``.

    >>> square = "[(0.2, 0.2), (0.8, 0.2), (0.8, 0.8), (0.2, 0.8)]"
    >>> [score_context_point("[(0.5, 0.5)]", square, rule=r) for r in CONTEXT_RULES]
    [1.0, 1.0, 0.0]
    """
    check_option("rule", rule, CONTEXT_RULES)
    gt_points = parse_gt_points(ground_truth)
    if gt_points is None:
        return 0.0
    point = parse_first_point_robospatial(prediction)
    if point is None:
        return 0.0
    return 1.0 if point_in_context_region(point, gt_points, rule) else 0.0


def score_robospatial(
    prediction: str,
    ground_truth: str,
    *,
    point_rule: ContextRule = "convex_hull",
    yes_no_rule: YesNoRule = "prefix",
) -> float:
    """Score any RoboSpatial-Home item, choosing the scorer from the GT as upstream does.

    GT ``yes``/``no`` (after strip/lower) -> :func:`score_yes_no`; otherwise
    :func:`score_context_point`.

    Raises:
        ValueError: unknown ``point_rule`` or ``yes_no_rule``.
    """
    check_option("point_rule", point_rule, CONTEXT_RULES)
    check_option("yes_no_rule", yes_no_rule, ("prefix", "exact"))
    if not isinstance(ground_truth, str):
        return 0.0
    if ground_truth.strip().lower() in ("yes", "no"):
        return score_yes_no(prediction, ground_truth, rule=yes_no_rule)
    return score_context_point(prediction, ground_truth, rule=point_rule)


def mask_values(mask: np.ndarray, *, binarize: bool) -> np.ndarray:
    """The per-pixel credit of a GT mask, as a 2D float64 array.

    RoboRefer: ``mask / 255``, channel 0 if 3-channel, then ``> 0`` (``binarize=True``).
    RoboPoint: ``mask / 255`` kept soft (``binarize=False``); upstream assumes a single channel,
    here channel 0 is taken. Pass the mask as stored on disk (uint8, 0-255); a boolean mask
    counts True as full credit.

    Raises:
        ValueError: the mask is not 2D or 3D (a bug in the caller's data, not in the model's text).
    """
    array = np.asarray(mask)
    if array.ndim == 3:
        array = array[:, :, 0]
    if array.ndim != 2:
        raise ValueError(f"mask must be an (H, W) or (H, W, C) array, got shape {array.shape}.")
    values = array.astype(np.float64) if array.dtype == bool else array.astype(np.float64) / 255.0
    return (values > 0).astype(np.float64) if binarize else values


def score_mask_points(points: PixelPoints | None, mask: np.ndarray, *, binarize: bool = True) -> float | None:
    """Mean GT-mask credit over every parsed pixel: the RefSpatial-Bench / Where2Place per-sample acc.

    Points outside the mask count 0; a box contributes each of its pixels; no points gives 0.0.

    Returns:
        The score in [0, 1], or None when ``points`` is None (a parse failure: the official loop
        skips the sample, dropping it from the denominator).

    Raises:
        ValueError: bad mask shape (see :func:`mask_values`).
    """
    values = mask_values(mask, binarize=binarize)
    if points is None:
        return None
    height, width = values.shape
    total, count = 0.0, float(len(points.points))
    if len(points.points):
        xs, ys = points.points[:, 0], points.points[:, 1]
        inside = (xs >= 0) & (xs < width) & (ys >= 0) & (ys < height)
        total += float(values[ys[inside], xs[inside]].sum())
    if len(points.boxes):
        box_sum, box_count = _box_credit(points.boxes, values)
        total, count = total + box_sum, count + box_count
    return clip01(total / count) if count > 0 else 0.0


def _box_credit(boxes: np.ndarray, values: np.ndarray) -> tuple[float, float]:
    """Sum of mask values over each box's pixels inside the mask, and the boxes' pixel counts."""
    height, width = values.shape
    integral = np.zeros((height + 1, width + 1), dtype=np.float64)
    integral[1:, 1:] = values.cumsum(axis=0).cumsum(axis=1)
    x0, x1 = np.clip(boxes[:, 0], 0, width), np.clip(boxes[:, 2], 0, width)
    y0, y1 = np.clip(boxes[:, 1], 0, height), np.clip(boxes[:, 3], 0, height)
    sums = integral[y1, x1] - integral[y0, x1] - integral[y1, x0] + integral[y0, x0]
    areas = (boxes[:, 2] - boxes[:, 0]).astype(np.float64) * (boxes[:, 3] - boxes[:, 1]).astype(np.float64)
    return float(sums.sum()), float(areas.sum())


def score_refspatial_mask(
    prediction: str,
    mask: np.ndarray,
    *,
    point_format: PointFormat = "tuple_relative",
    first_only: bool = False,
) -> float | None:
    """RefSpatial-Bench per-sample accuracy (``Zhoues/RoboRefer:Evaluation/summarize_acc.py``).

    The answer is parsed in the mask's own pixel frame (W, H from the mask) with the parser for
    ``point_format``; the score is the mean of the binarized mask (``> 0``) over *all* parsed
    points, out-of-image points counting 0, no points 0.0.

    Args:
        prediction: the answer text.
        mask: the GT mask, uint8 0/255 (or bool), (H, W) or (H, W, C).
        point_format: see :func:`spacetools_env.scoring.parse_points`.
        first_only: score only the first parsed point (or box). SpaceTools' own
            ``refspatial_bench.compute_score`` is not public; the notes guess "first point,
            normalized" (**UNVERIFIED**). Default False is the official RoboRefer rule.

    Returns:
        Score in [0, 1], or None when parsing fails (the official loop skips the sample).

    Raises:
        ValueError: unknown ``point_format`` or bad mask shape.
    """
    values_shape = np.shape(mask)
    if len(values_shape) not in (2, 3):
        raise ValueError(f"mask must be an (H, W) or (H, W, C) array, got shape {values_shape}.")
    height, width = int(values_shape[0]), int(values_shape[1])
    points = parse_points(prediction, width, height, point_format, first_only=first_only)
    return score_mask_points(points, mask, binarize=True)


def score_where2place(prediction: str, mask: np.ndarray) -> float | None:
    """Where2Place per-sample accuracy (``wentaoyuan/RoboPoint:robopoint/eval/summarize_vqa.py``).

    Tuples are parsed with RoboPoint's ``text2pts`` in its default **640 x 480** frame (upstream
    never passes the mask size); the mask is ``/255`` and **not binarized**, so soft JPEG edges
    give fractional credit. Mean over all points, out-of-range 0, none 0.0.

    Returns:
        Score in [0, 1], or None when parsing fails (upstream skips the sample).

    Raises:
        ValueError: bad mask shape.
    """
    width, height = WHERE2PLACE_SIZE
    points = parse_points_tuples(prediction, width, height, variant="robopoint")
    return score_mask_points(points, mask, binarize=False)
