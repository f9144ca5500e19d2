"""Small, dependency-free 2D geometry for the scorers: hulls, point-in-polygon, convex clipping.

Points are ``(x, y)`` float pairs in any frame (the scorers use normalized [0, 1] image
coordinates). Nothing here raises on NaN or infinity: such input is treated as degenerate.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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

    Returns fewer than 3 vertices for degenerate input (all points equal or collinear) and an
    empty list if any coordinate is NaN or infinite.

    >>> convex_hull([(0, 0), (1, 0), (1, 1), (0, 1), (0.5, 0.5)])
    [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]
    """
    pts = sorted({(float(x), float(y)) for x, y in points})
    if not _all_finite(pts):
        return []
    if len(pts) < 3:
        return pts
    lower: list[Point] = []
    for p in pts:
        while len(lower) >= 2 and _cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[Point] = []
    for p in reversed(pts):
        while len(upper) >= 2 and _cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return lower[:-1] + upper[:-1]


def polygon_area(polygon: Sequence[Point]) -> float:
    """Unsigned shoelace area of a simple polygon (0.0 for fewer than 3 vertices)."""
    n = len(polygon)
    if n < 3:
        return 0.0
    twice = 0.0
    for i in range(n):
        (x0, y0), (x1, y1) = polygon[i], polygon[(i + 1) % n]
        twice += x0 * y1 - x1 * y0
    return abs(twice) / 2.0


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


def _clip_edge(subject: list[Point], a: Point, b: Point) -> list[Point]:
    """Keep the part of ``subject`` left of (or on) the directed line a -> b."""
    out: list[Point] = []
    n = len(subject)
    for i in range(n):
        current, previous = subject[i], subject[i - 1]
        cur_in = _cross(a, b, current) >= 0.0
        prev_in = _cross(a, b, previous) >= 0.0
        if cur_in != prev_in:
            dx, dy = current[0] - previous[0], current[1] - previous[1]
            denom = (b[0] - a[0]) * dy - (b[1] - a[1]) * dx
            if denom != 0.0:
                t = ((a[0] - previous[0]) * (b[1] - a[1]) - (a[1] - previous[1]) * (b[0] - a[0])) / -denom
                out.append((previous[0] + t * dx, previous[1] + t * dy))
        if cur_in:
            out.append(current)
    return out


def convex_polygon_intersection(subject: Sequence[Point], clip: Sequence[Point]) -> list[Point]:
    """Intersection of two counter-clockwise convex polygons (Sutherland-Hodgman clipping)."""
    result = list(subject)
    m = len(clip)
    for i in range(m):
        if len(result) < 3:
            return []
        result = _clip_edge(result, clip[i], clip[(i + 1) % m])
    return result if len(result) >= 3 else []


def convex_hull_iou(points_a: Sequence[Point], points_b: Sequence[Point]) -> float:
    """IoU of the convex hulls of two point sets, in [0, 1]; 0.0 if either hull has no area.

    Order-invariant by construction: only the hulls matter. Used for the BOP-ASK pose score.
    """
    hull_a, hull_b = convex_hull(points_a), convex_hull(points_b)
    area_a, area_b = polygon_area(hull_a), polygon_area(hull_b)
    if not (area_a > 0.0 and area_b > 0.0) or not math.isfinite(area_a + area_b):
        return 0.0
    inter = polygon_area(convex_polygon_intersection(hull_a, hull_b))
    union = area_a + area_b - inter
    if not union > 0.0:
        return 0.0
    return min(1.0, max(0.0, inter / union))
