"""NNDC: the shaped pointing reward of SpaceTools RL (training only, never an eval metric).

Paper §4.3 / App. E.4 (via notes/original_system.md §5.1): "normalised negative distance to the
centroid of the target region, combined with a binary in-region term by max and clipped". The
exact normaliser was not recovered; we use the form given in the brief::

    nndc(d) = (exp(-5 d) - exp(-5 sqrt 2)) / (1 - exp(-5 sqrt 2))
    reward  = clip(max(hit, nndc(d)), 0, 1)

with ``d`` the distance in normalized image coordinates (so ``d <= sqrt 2`` inside the image and
``nndc`` runs from 1 at the centroid to 0 at the far corner).
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np

from spacetools_env.scoring._common import check_option, clip01
from spacetools_env.scoring.geometry import Point, convex_hull, polygon_centroid
from spacetools_env.scoring.points import PointFormat, parse_first_point_robospatial, parse_points
from spacetools_env.scoring.regions import (
    CONTEXT_RULES,
    ContextRule,
    mask_values,
    parse_gt_points,
    point_in_context_region,
)

_FLOOR = math.exp(-5.0 * math.sqrt(2.0))

Centroid = Literal["points_mean", "hull"]


def nndc_term(distance: float) -> float:
    """The distance part of NNDC, in [0, 1]: 1 at distance 0, 0 at sqrt(2) or beyond (or NaN)."""
    if not distance >= 0.0:
        return 0.0
    return clip01((math.exp(-5.0 * distance) - _FLOOR) / (1.0 - _FLOOR))


def nndc_reward(point: Point | None, centroid: Point | None, *, hit: bool) -> float:
    """NNDC = clip(max(hit, nndc_term(|point - centroid|)), 0, 1), normalized coordinates.

    A missing point scores 0.0; a missing centroid leaves only the binary term.

    >>> nndc_reward((0.5, 0.5), (0.5, 0.5), hit=False)
    1.0
    """
    binary = 1.0 if hit else 0.0
    if point is None:
        return 0.0
    if centroid is None:
        return binary
    distance = math.hypot(point[0] - centroid[0], point[1] - centroid[1])
    return clip01(max(binary, nndc_term(distance)))


def score_context_nndc(
    prediction: str,
    ground_truth: str,
    *,
    rule: ContextRule = "convex_hull",
    centroid: Centroid = "points_mean",
) -> float:
    """NNDC for a RoboSpatial-style answer against GT points ``"[(x, y), ...]"``.

    The first point is parsed as in :func:`score_context_point`, ``hit`` uses ``rule``.
    ``centroid``: ``"points_mean"`` (default) is the mean of the GT points; ``"hull"`` the area
    centroid of their convex hull. Which one SpaceTools used is **UNVERIFIED**.

    Raises:
        ValueError: unknown ``rule`` or ``centroid``.
    """
    check_option("rule", rule, CONTEXT_RULES)
    check_option("centroid", centroid, ("points_mean", "hull"))
    gt_points = parse_gt_points(ground_truth)
    point = parse_first_point_robospatial(prediction)
    if gt_points is None or point is None:
        return 0.0
    hit = point_in_context_region(point, gt_points, rule)
    if centroid == "hull":
        center = polygon_centroid(convex_hull(gt_points))
    else:
        n = len(gt_points)
        center = (sum(p[0] for p in gt_points) / n, sum(p[1] for p in gt_points) / n)
    return nndc_reward(point, center, hit=hit)


def score_mask_nndc(
    prediction: str, mask: np.ndarray, *, point_format: PointFormat = "tuple_relative"
) -> float:
    """NNDC for an answer against a GT mask (RefSpatial-style), using the first parsed point.

    The point is parsed in the mask's pixel frame (a box stands for its centre); ``hit`` is the
    binarized mask at that pixel; the centroid is the mean of the mask's pixels; distances are
    divided by (W, H). No point or an empty mask gives 0.0.

    Raises:
        ValueError: unknown ``point_format`` or bad mask shape.
    """
    values = mask_values(mask, binarize=True)
    height, width = values.shape
    parsed = parse_points(prediction, width, height, point_format, first_only=True)
    ys, xs = np.nonzero(values)
    if parsed is None or len(xs) == 0:
        return 0.0
    if len(parsed.points):
        px, py = float(parsed.points[0, 0]), float(parsed.points[0, 1])
    elif len(parsed.boxes):
        x0, y0, x1, y1 = (float(v) for v in parsed.boxes[0])
        px, py = (x0 + x1 - 1.0) / 2.0, (y0 + y1 - 1.0) / 2.0
    else:
        return 0.0
    col, row = math.floor(px), math.floor(py)
    hit = 0 <= col < width and 0 <= row < height and values[row, col] > 0
    point = (px / width, py / height)
    center = (float(xs.mean()) / width, float(ys.mean()) / height)
    return nndc_reward(point, center, hit=bool(hit))
