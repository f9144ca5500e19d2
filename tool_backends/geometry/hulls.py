"""2D convex polygons: convex hulls, polygon area, clipping, IoU and point containment.

Points are ``(x, y)`` in any 2D frame. The tools, the scorers (through
``spacetools_env.scoring.geometry``) and the synthetic world's footprints share these, so one
hull and one clipping serve all three. Areas and clipping run in Python floats: the polygons
have a handful of vertices, and coordinates parsed from model text so large that a product
overflows give inf or nan (then an IoU of 0.0), never a numpy warning.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from tool_backends.geometry._types import ArrayLike

_Point = tuple[float, float]


def convex_hull_2d(points: ArrayLike, *, collinear_tol: float = 1e-12) -> np.ndarray:
    """Vertices of the convex hull of 2D points, counter-clockwise (x right, y up), no repeats.

    Andrew's monotone chain; collinear points on edges are dropped. Degenerate inputs return
    what is left: 1 vertex for identical points, 2 for collinear points, 0 for none.

    Args:
        points: (N, 2) coordinates in any 2D frame.
        collinear_tol: A turn whose cross product is at most this times the squared coordinate
            scale (the largest absolute coordinate) counts as straight, and its middle point is
            dropped, so that rounding noise adds no sliver vertices. 0 is the exact test: every
            strictly counter-clockwise turn is kept.

    Returns:
        (K, 2) float64 vertices, starting at the lowest-x (then lowest-y) point. In image
        coordinates (y down) the same order appears clockwise on screen.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if len(pts) == 0:
        return np.zeros((0, 2))
    pts = np.unique(pts, axis=0)  # sorted by x, then y
    if len(pts) <= 2:
        return pts
    scale = float(np.abs(pts).max()) or 1.0
    eps = collinear_tol * scale * scale if collinear_tol else 0.0
    seq = [(x, y) for x, y in pts.tolist()]  # float64 rows, so Python floats

    def chain(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        out: list[tuple[float, float]] = []
        for p in points:
            while len(out) >= 2 and _cross(out[-2], out[-1], p) <= eps:
                out.pop()
            out.append(p)
        return out

    hull = chain(seq)[:-1] + chain(seq[::-1])[:-1]
    if len(hull) < 3:  # all collinear: keep the two extremes
        return np.array([seq[0], seq[-1]])
    return np.array(hull)


def _cross(o: Sequence[float], a: Sequence[float], b: Sequence[float]) -> float:
    """z of (a - o) x (b - o): > 0 when o -> a -> b turns counter-clockwise."""
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))


def _as_tuples(polygon: ArrayLike) -> list[_Point]:
    return [(x, y) for x, y in np.asarray(polygon, dtype=np.float64).reshape(-1, 2).tolist()]


def polygon_area(polygon: ArrayLike) -> float:
    """Area of a simple polygon given by its vertices in order (shoelace formula); 0 if < 3.

    >>> polygon_area([(0, 0), (2, 0), (2, 1), (0, 1)])
    2.0
    """
    poly = _as_tuples(polygon)
    n = len(poly)
    if n < 3:
        return 0.0
    twice = 0.0
    for i in range(n):
        (x0, y0), (x1, y1) = poly[i], poly[(i + 1) % n]
        twice += x0 * y1 - x1 * y0
    return abs(twice) / 2.0


def convex_polygon_intersection(poly_a: ArrayLike, poly_b: ArrayLike) -> np.ndarray:
    """Intersection of two convex polygons (Sutherland-Hodgman clipping).

    Args:
        poly_a: (K, 2) convex polygon, vertices in order.
        poly_b: (M, 2) convex polygon, counter-clockwise (as :func:`convex_hull_2d` returns).

    Returns:
        (L, 2) vertices of the intersection, L >= 3, or an empty (0, 2) array.
    """
    subject, clip = _as_tuples(poly_a), _as_tuples(poly_b)
    if len(clip) < 3 or len(subject) < 3:
        return np.zeros((0, 2))
    for i in range(len(clip)):
        subject = _clip_edge(subject, clip[i], clip[(i + 1) % len(clip)])
        if len(subject) < 3:
            return np.zeros((0, 2))
    return np.array(subject)


def _clip_edge(subject: list[_Point], a: _Point, b: _Point) -> list[_Point]:
    """Keep the part of ``subject`` left of (or on) the directed line a -> b."""
    out: list[_Point] = []
    previous = subject[-1]
    prev_side = _cross(a, b, previous)
    for current in subject:
        side = _cross(a, b, current)
        if (side >= 0.0) != (prev_side >= 0.0):
            dx, dy = current[0] - previous[0], current[1] - previous[1]
            # side - prev_side, computed from the edge itself (no cancellation); 0 only by rounding.
            denom = (b[0] - a[0]) * dy - (b[1] - a[1]) * dx
            if denom != 0.0:
                t = prev_side / -denom
                out.append((previous[0] + t * dx, previous[1] + t * dy))
        if side >= 0.0:
            out.append(current)
        previous, prev_side = current, side
    return out


def convex_polygon_iou(poly_a: ArrayLike, poly_b: ArrayLike) -> float:
    """IoU of two counter-clockwise convex polygons (as :func:`convex_hull_2d` returns), in [0, 1].

    Returns 0.0 when either polygon has no area, or an area overflows to inf or nan.

    >>> convex_polygon_iou([(0, 0), (2, 0), (2, 1), (0, 1)], [(1, 0), (3, 0), (3, 1), (1, 1)])
    0.3333333333333333
    """
    area_a, area_b = polygon_area(poly_a), polygon_area(poly_b)
    if not (area_a > 0.0 and area_b > 0.0) or not math.isfinite(area_a + area_b):
        return 0.0
    inter = polygon_area(convex_polygon_intersection(poly_a, poly_b))
    union = area_a + area_b - inter
    if not union > 0.0:
        return 0.0
    return min(1.0, max(0.0, inter / union))


def hull_iou(points_a: ArrayLike, points_b: ArrayLike) -> float:
    """IoU of the convex hulls of two 2D point sets (order-invariant; any number of points).

    Returns 0.0 when either hull has no area (fewer than 3 non-collinear points).

    >>> hull_iou([(0, 0), (1, 0), (1, 1), (0, 1)], [(0, 1), (1, 1), (1, 0), (0, 0)])
    1.0
    """
    return convex_polygon_iou(convex_hull_2d(points_a), convex_hull_2d(points_b))


def point_in_convex_hull(point: Sequence[float], points: ArrayLike, boundary_inclusive: bool = True) -> bool:
    """Whether a 2D point lies inside the convex hull of ``points``.

    Args:
        point: (x, y) in the same frame as ``points``.
        points: (N, 2) points whose convex hull is the region.
        boundary_inclusive: Count points on the hull boundary (within 1e-9 of the hull's size)
            as inside. Degenerate hulls (a point or a segment) contain only their boundary.
    """
    p = np.asarray(point, dtype=np.float64).reshape(2)
    hull = convex_hull_2d(points)
    if len(hull) == 0 or not np.all(np.isfinite(p)):
        return False
    scale = max(float(np.abs(hull).max()), float(np.abs(p).max()), 1e-12)
    tol = 1e-9 * scale
    if len(hull) < 3:
        if not boundary_inclusive:
            return False
        a, b = hull[0], hull[-1]
        ab = b - a
        length_sq = float(ab @ ab)
        t = 0.0 if length_sq == 0 else float(np.clip((p - a) @ ab / length_sq, 0.0, 1.0))
        return bool(np.linalg.norm(a + t * ab - p) <= tol)
    edges = np.roll(hull, -1, axis=0) - hull
    rel = p - hull
    cross = edges[:, 0] * rel[:, 1] - edges[:, 1] * rel[:, 0]
    # cross / |edge| is the signed distance from the edge line (positive inside for CCW hulls).
    dist = cross / np.linalg.norm(edges, axis=1)
    return bool(np.all(dist >= -tol)) if boundary_inclusive else bool(np.all(dist > tol))


__all__ = [
    "convex_hull_2d",
    "convex_polygon_intersection",
    "convex_polygon_iou",
    "hull_iou",
    "point_in_convex_hull",
    "polygon_area",
]
