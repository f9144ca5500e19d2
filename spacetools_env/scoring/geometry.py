"""2D geometry for the scorers: hulls, hull IoU, and the official point-in-region rules.

Points are ``(x, y)`` float pairs in any frame (the scorers use normalized [0, 1] image
coordinates). Nothing here raises on NaN or infinity: such input is treated as degenerate.

The hull, area, clipping and IoU arithmetic is :mod:`tool_backends.geometry`'s (one
implementation for tools, scorers and the world). What stays here reproduces official scoring
code and so keeps its own semantics:

- :func:`point_in_convex_polygon`, SpaceTools' context rule: a fixed absolute tolerance on the
  cross product and an empty degenerate hull, where ``tool_backends.geometry.point_in_convex_hull``
  uses a tolerance relative to the hull's size and lets a degenerate hull contain its segment.
- the RoboSpatial-Eval ray casts, current and legacy (bug included), over the vertices in listed
  order, which are not convex-hull tests at all;
- :func:`polygon_centroid`, used only by the shaped reward.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from tool_backends.geometry import convex_hull_2d, convex_polygon_iou, polygon_area

Point = tuple[float, float]

#: Tolerance of the boundary-inclusive convex tests, in squared coordinate units. Normalized
#: coordinates have cross products of order 1e-2, so 1e-12 only absorbs rounding.
BOUNDARY_EPS = 1e-12


def _cross(o: Point, a: Point, b: Point) -> float:
    """z of (a - o) x (b - o): > 0 when o -> a -> b turns counter-clockwise."""
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def _all_finite(points: Sequence[Point]) -> bool:
    return all(math.isfinite(x) and math.isfinite(y) for x, y in points)


def convex_hull(points: Sequence[Point]) -> list[Point]:
    """Counter-clockwise convex hull (Andrew's monotone chain), collinear points dropped.

    ``tool_backends.geometry.convex_hull_2d`` with the exact collinearity test (every strictly
    convex turn kept: a score must not depend on a tolerance tuned for the tools' point clouds),
    as a list of tuples. Returns fewer than 3 vertices for degenerate input (all points equal or
    collinear) and an empty list if any coordinate is NaN or infinite.

    >>> convex_hull([(0, 0), (1, 0), (1, 1), (0, 1), (0.5, 0.5)])
    [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    """
    pts = [(float(x), float(y)) for x, y in points]
    if not _all_finite(pts):
        return []
    return [(x, y) for x, y in convex_hull_2d(pts, collinear_tol=0.0).tolist()]


def polygon_centroid(polygon: Sequence[Point]) -> Point | None:
    """Area centroid of a simple polygon; the vertex mean if its area is zero; None if empty."""
    n = len(polygon)
    if n == 0:
        return None
    twice_area = cx = cy = 0.0
    for i in range(n):
        (x0, y0), (x1, y1) = polygon[i], polygon[(i + 1) % n]
        step = x0 * y1 - x1 * y0
        twice_area += step
        cx += (x0 + x1) * step
        cy += (y0 + y1) * step
    if twice_area == 0.0 or not math.isfinite(twice_area):
        return (sum(p[0] for p in polygon) / n, sum(p[1] for p in polygon) / n)
    return (cx / (3.0 * twice_area), cy / (3.0 * twice_area))


def point_in_convex_polygon(point: Point, hull: Sequence[Point], eps: float = BOUNDARY_EPS) -> bool:
    """True if ``point`` is inside or on the boundary of a counter-clockwise convex polygon.

    This is SpaceTools' context rule ("inside or on the boundary of the convex hull of the GT
    points", ``SpaceTools-RL:verl/utils/reward_score/robos_all.py``). A degenerate hull (fewer
    than 3 vertices) contains nothing: **UNVERIFIED** choice, irrelevant for real GT (10 points).
    """
    if len(hull) < 3:
        return False
    n = len(hull)
    # `>=` is False for NaN, so a NaN point is never inside.
    return all(_cross(hull[i], hull[(i + 1) % n], point) >= -eps for i in range(n))


def point_in_polygon_ray_cast(x: float, y: float, polygon: Sequence[Point]) -> bool:
    """Even-odd ray casting over the vertices in listed order (current RoboSpatial-Eval rule).

    ``chanhee-luke/RoboSpatial-Eval:evaluation.py`` ``point_in_polygon`` since commit ``3af8ceb``
    (Dec 2025): an edge toggles "inside" when it straddles the horizontal line through the point
    (one end strictly above, ``(yi > y) != (yj > y)``) and the crossing lies strictly to the
    right of the point. The polygon may self-intersect (GT vertices are sampled points).
    """
    inside = False
    n = len(polygon)
    j = n - 1
    for i in range(n):
        xi, yi = polygon[i]
        xj, yj = polygon[j]
        if (yi > y) != (yj > y) and x < (xj - xi) * (y - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def point_in_polygon_ray_cast_legacy(x: float, y: float, polygon: Sequence[Point]) -> bool:
    """The original (Mar 2025) RoboSpatial-Eval ray cast, bug included.

    An edge counts when ``min(y1, y2) < y <= max(y1, y2)``; it toggles "inside" when the point is
    left of or on the crossing, or **whenever the edge is vertical, whatever x is**. So the centre
    of an axis-aligned square is "outside" (two vertical edges toggle twice). SpaceTools (Dec
    2025) predates the fix, so results scored with the old RoboSpatial-Eval used this.
    """
    n = len(polygon)
    if n == 0:
        return False
    inside = False
    x1, y1 = polygon[0]
    for i in range(1, n + 1):
        x2, y2 = polygon[i % n]
        if min(y1, y2) < y <= max(y1, y2):
            # y1 == y2 cannot reach here (the y-range would be empty), so no division by zero.
            crossing = (y - y1) * (x2 - x1) / (y2 - y1) + x1
            if x1 == x2 or x <= crossing:
                inside = not inside
        x1, y1 = x2, y2
    return inside


def convex_hull_iou(points_a: Sequence[Point], points_b: Sequence[Point]) -> float:
    """IoU of the convex hulls of two point sets, in [0, 1]; 0.0 if either hull has no area.

    Order-invariant by construction: only the hulls matter. Used for the BOP-ASK pose score.
    """
    return convex_polygon_iou(convex_hull(points_a), convex_hull(points_b))


__all__ = [
    "BOUNDARY_EPS",
    "Point",
    "convex_hull",
    "convex_hull_iou",
    "point_in_convex_polygon",
    "point_in_polygon_ray_cast",
    "point_in_polygon_ray_cast_legacy",
    "polygon_area",
    "polygon_centroid",
]
