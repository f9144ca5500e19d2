"""Geometry behind the tools: back-projection, oriented 3D boxes, 2D convex hulls, mask points.

Frames (every function names the one it uses):

- **Camera frame** (OpenCV): metres, x right, y down, z forward (along the optical axis).
- **Pixel coordinates** (continuous): ``(u, v)`` with u along the image width, v down, origin at
  the top-left corner of the image. The intrinsics are a pinhole with fx = fy = ``f`` and the
  principal point at the image centre ``(W / 2, H / 2)``.
- **Normalized image coordinates**: ``(u / W, v / H)`` in [0, 1], origin top-left; this is what
  the model reads and writes.

Which continuous coordinate a depth-map entry ``depth[j, i]`` sits at is a convention:
:func:`backproject` uses ``(i, j) + pixel_offset``. The original tool uses integer indices
(``pixel_offset=0``); a depth sample really describes its pixel's centre (``pixel_offset=0.5``),
which is what the synthetic world renders and what the oracle depth tool uses, so that the
original's half-pixel bias does not leak into exact answers.

Everything here is vectorised numpy/scipy; nothing keeps state.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage
from scipy.spatial import ConvexHull, QhullError

from tool_backends.result import ToolError

ArrayLike = np.ndarray | Sequence[Sequence[float]]
_Box = tuple[np.ndarray, np.ndarray, np.ndarray]  # centre (3,), axes as columns (3, 3), extents (3,)

BOX_EDGES: tuple[tuple[int, int], ...] = (
    (0, 1), (1, 2), (2, 3), (3, 0),
    (4, 5), (5, 6), (6, 7), (7, 4),
    (0, 4), (1, 5), (2, 6), (3, 7),
)
"""The 12 edges of a box in :func:`minimal_oriented_box` corner order (the original tool's list)."""

# Signs of the 8 corners along the box axes (0, 1, 2): face -axis2 counter-clockwise about +axis2
# (right-hand rule), then face +axis2 in the same order, so corner i + 4 is above corner i.
_CORNER_SIGNS = np.array(
    [[-1, -1, -1], [1, -1, -1], [1, 1, -1], [-1, 1, -1],
     [-1, -1, 1], [1, -1, 1], [1, 1, 1], [-1, 1, 1]],
    dtype=np.float64,
)
CAMERA_UP = (0.0, -1.0, 0.0)
"""Upward direction of an upright camera in the OpenCV camera frame (y points down)."""

# Boxes whose volumes differ by less than this fraction are treated as equally small (see
# minimal_oriented_box): points seen on two adjacent faces of a cuboid fit a wedge, and a wedge
# has two boxes of exactly the same volume.
_VOLUME_TIE = 1e-2
# At most this many face orientations (largest hull area first) are tried; noisy clouds have
# thousands of tiny facets whose orientations are all close to the big ones.
_MAX_CANDIDATES = 128


# ----------------------------------------------------------------------------- camera
def backproject(
    depth: np.ndarray, f: float, cx: float | None = None, cy: float | None = None, pixel_offset: float = 0.0
) -> np.ndarray:
    """Back-project a depth map into the OpenCV camera frame.

    Pixel ``(i, j)`` (column, row) sits at continuous pixel coordinates
    ``(u, v) = (i + pixel_offset, j + pixel_offset)`` and maps to
    ``((u - cx) z / f, (v - cy) z / f, z)`` with ``z = depth[j, i]``.

    Args:
        depth: HxW depth along the camera z axis (metres); non-finite values stay non-finite.
        f: Focal length in pixels (fx = fy).
        cx: Principal point x in pixels; default ``W / 2`` (the image centre, as the original).
        cy: Principal point y in pixels; default ``H / 2``.
        pixel_offset: 0 for the original tool's integer pixel indices, 0.5 for pixel centres.

    Returns:
        (H, W, 3) float64 points in the OpenCV camera frame (metres).

    >>> backproject(np.full((2, 2), 2.0), f=1.0)[0, 0].tolist()
    [-2.0, -2.0, 2.0]
    """
    depth = np.asarray(depth)
    if depth.ndim != 2:
        raise ValueError(f"depth must be an HxW array, got shape {depth.shape}")
    height, width = depth.shape
    cx = width / 2.0 if cx is None else cx
    cy = height / 2.0 if cy is None else cy
    z = depth.astype(np.float64, copy=False)
    out = np.empty((height, width, 3), dtype=np.float64)
    xs = (np.arange(width, dtype=np.float64) + pixel_offset - cx) / f
    ys = (np.arange(height, dtype=np.float64) + pixel_offset - cy) / f
    with np.errstate(invalid="ignore"):  # inf depth on the centre row/column gives 0 * inf = nan
        np.multiply(z, xs[None, :], out=out[..., 0])
        np.multiply(z, ys[:, None], out=out[..., 1])
    out[..., 2] = z
    return out


def project_pixels(points: ArrayLike, f: float, width: int, height: int) -> np.ndarray:
    """Project OpenCV camera-frame points to continuous pixel coordinates ``(u, v)``.

    Principal point at the image centre, fx = fy = ``f``. Points with z <= 0 give inf/nan
    or mirrored coordinates; callers that care filter on z first.

    Returns:
        (N, 2) float64 pixel coordinates.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = f * pts[:, 0] / pts[:, 2] + width / 2.0
        v = f * pts[:, 1] / pts[:, 2] + height / 2.0
    return np.stack([u, v], axis=1)


def project(points: ArrayLike, f: float, width: int, height: int) -> np.ndarray:
    """Project OpenCV camera-frame points to normalized image coordinates ``(u / W, v / H)``.

    The inverse of :func:`backproject`: a point back-projected from pixel ``(i, j)`` with offset
    ``o`` returns to ``((i + o) / W, (j + o) / H)``.

    Returns:
        (N, 2) float64 normalized coordinates (origin top-left, x right, y down).
    """
    return project_pixels(points, f, width, height) / np.array([width, height], dtype=np.float64)


# ----------------------------------------------------------------------------- 3D boxes
def minimal_oriented_box(points: ArrayLike, up: Sequence[float] = CAMERA_UP) -> tuple[np.ndarray, np.ndarray]:
    """The (approximately) minimum-volume oriented bounding box of a 3D point set.

    Algorithm: every face orientation of the 3D convex hull is a candidate box axis (faces of
    nearly equal orientation are merged, area-weighted); for each, the hull is projected onto the
    face plane and the minimum-area enclosing rectangle is found by rotating calipers on the 2D
    hull, giving the other two axes. The principal axes (PCA) are one more candidate. The box of
    smallest volume wins; boxes within 1 % of the smallest volume count as tied and the one with
    the smallest surface area wins among them. That tie-break matters for partial views: the
    points of two adjacent faces of a cuboid (a top and one side) fill a wedge, which has two
    boxes of the same volume, the cuboid itself and one tilted along the wedge's diagonal; the
    cuboid has the smaller surface. The idea is Open3D's ``get_minimal_oriented_bounding_box``
    (one box face flush with a hull face), with the in-plane rotation optimised exactly by the
    calipers instead of taken from a hull edge. At most 128 face orientations are tried (the
    largest), which bounds the time on noisy clouds with thousands of tiny facets.

    Degenerate inputs give flat boxes: coplanar points a box of zero thickness (the minimum-area
    rectangle in their plane), collinear points a segment, a single point a point.

    Corner order (fixed): with box axes ``a0, a1, a2`` (right-handed, ``a2 = a0 x a1``) and
    half extents ``h``, corner ``k`` is ``centre + sum(s_k[i] * h[i] * a_i)`` with signs ``s_k``
    ``(-,-,-) (+,-,-) (+,+,-) (-,+,-)`` for the face at ``-a2`` (counter-clockwise about ``+a2``),
    then the same four with ``+a2``; corner ``k + 4`` is opposite corner ``k`` across the box, and
    :data:`BOX_EDGES` lists the 12 edges. The axes are made canonical: ``a2`` is the box axis
    closest to ``up`` (pointing up, so corners 0-3 are the bottom face), ``a0`` the remaining axis
    closest to the camera x axis (pointing right).

    Args:
        points: (N, 3) points, e.g. in the OpenCV camera frame (metres).
        up: Direction called "up" in the points' frame; default camera-up (0, -1, 0).

    Returns:
        ``(corners, extents)``: (8, 3) corners in the input frame, and the (3,) full side
        lengths along ``a0, a1, a2``.

    Raises:
        ToolError: no points, non-finite values, or not an (N, 3) array.
    """
    pts = _as_points3(points)
    center, axes, extents = _fit_box(pts)
    axes, extents = _canonical_axes(axes, extents, np.asarray(up, dtype=np.float64))
    corners = center + (_CORNER_SIGNS * (extents / 2.0)) @ axes.T
    return corners, extents


def box_volume(extents: ArrayLike) -> float:
    """Volume of a box with these side lengths."""
    return float(np.prod(np.asarray(extents, dtype=np.float64)))


def _as_points3(points: ArrayLike) -> np.ndarray:
    try:
        pts = np.asarray(points, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ToolError(f"points must be an Nx3 array of numbers: {exc}") from None
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ToolError(f"points must be an Nx3 array, got shape {pts.shape}")
    if len(pts) == 0:
        raise ToolError("cannot fit a box to 0 points")
    if not np.all(np.isfinite(pts)):
        raise ToolError("points contain NaN or inf values; drop invalid points first")
    return pts


def _fit_box(pts: np.ndarray) -> _Box:
    """(centre, axes as columns, extents) of the best box; see :func:`minimal_oriented_box`."""
    mean = pts.mean(axis=0)
    centred = pts - mean
    pca = _principal_axes(centred)
    scale = float(np.abs(centred).max())
    if scale == 0.0:
        return mean, np.eye(3), np.zeros(3)
    try:
        hull = ConvexHull(centred)
    except (QhullError, ValueError):  # coplanar, collinear or fewer than 4 points
        return _flat_box(centred, mean, pca)
    vertices = centred[hull.vertices]
    candidates = np.vstack([_face_normals(centred, hull), pca.T])
    results = []
    for normal in candidates:
        axes = _box_axes_for_normal(vertices, normal)
        local = vertices @ axes
        ext = local.max(axis=0) - local.min(axis=0)
        surface = float(ext[0] * ext[1] + ext[1] * ext[2] + ext[0] * ext[2])
        results.append((float(np.prod(ext)), surface, axes))
    min_volume = min(r[0] for r in results)
    tied = [r for r in results if r[0] <= min_volume * (1.0 + _VOLUME_TIE)]
    axes = min(tied, key=lambda r: r[1])[2]  # min() keeps the first of equal surfaces
    local = vertices @ axes
    lo, hi = local.min(axis=0), local.max(axis=0)
    return mean + axes @ ((lo + hi) / 2.0), axes, hi - lo


def _principal_axes(centred: np.ndarray) -> np.ndarray:
    """Orthonormal right-handed principal axes as columns, largest variance first."""
    if len(centred) < 3:
        # One or two points: the spanned direction, completed to a frame.
        return _frame_from(centred[np.argmax(np.linalg.norm(centred, axis=1))])
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt.T.copy()
    if np.linalg.det(axes) < 0:
        axes[:, 2] *= -1.0
    return axes


def _frame_from(direction: np.ndarray) -> np.ndarray:
    """A right-handed orthonormal frame whose first axis is ``direction`` (any if zero)."""
    x, y, z = (float(c) for c in direction)
    norm = (x * x + y * y + z * z) ** 0.5
    if norm == 0.0:
        return np.eye(3)
    x, y, z = x / norm, y / norm, z / norm
    # b = a x helper, with helper the basis vector least aligned with a (no np.cross: hot loop).
    b = (0.0, z, -y) if abs(x) < 0.9 else (-z, 0.0, x)
    nb = (b[0] ** 2 + b[1] ** 2 + b[2] ** 2) ** 0.5
    b = (b[0] / nb, b[1] / nb, b[2] / nb)
    c = (y * b[2] - z * b[1], z * b[0] - x * b[2], x * b[1] - y * b[0])
    return np.array([[x, b[0], c[0]], [y, b[1], c[1]], [z, b[2], c[2]]])


def _face_normals(centred: np.ndarray, hull: ConvexHull) -> np.ndarray:
    """Distinct hull face orientations, merged when within ~1e-2 rad, largest total area first.

    Merging is safe because each candidate only fixes one box axis: the rotating calipers then
    find the best other two exactly, and merged normals are area-weighted averages, which is what
    a noisy planar face's facets average to.
    """
    normals = hull.equations[:, :3].copy()
    tri = centred[hull.simplices]
    areas = 0.5 * np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=1)
    # n and -n give the same box: make the largest component positive.
    pivot = np.argmax(np.abs(normals), axis=1)
    normals *= np.sign(normals[np.arange(len(normals)), pivot])[:, None]
    keys = np.round(normals * 1e2).astype(np.int64)
    _, inverse = np.unique(keys, axis=0, return_inverse=True)
    inverse = inverse.reshape(-1)
    summed = np.zeros((inverse.max() + 1, 3))
    np.add.at(summed, inverse, normals * areas[:, None])
    weight = np.bincount(inverse, weights=areas)
    order = np.argsort(-weight, kind="stable")[:_MAX_CANDIDATES]
    summed = summed[order]
    norms = np.linalg.norm(summed, axis=1)
    keep = norms > 0
    return summed[keep] / norms[keep, None]


def _box_axes_for_normal(vertices: np.ndarray, normal: np.ndarray) -> np.ndarray:
    """Axes (columns) of the tightest box with one axis along ``normal``: rotating calipers."""
    frame = _frame_from(normal)
    u, v = frame[:, 1], frame[:, 2]
    flat = np.stack([vertices @ u, vertices @ v], axis=1)
    angle = _min_area_rect_angle(flat)
    c, s = np.cos(angle), np.sin(angle)
    a0 = c * u + s * v
    a1 = -s * u + c * v
    return np.stack([a0, a1, normal], axis=1)


def _min_area_rect_angle(points2: np.ndarray) -> float:
    """Direction (radians) of one side of the minimum-area rectangle enclosing 2D points."""
    hull = _hull_vertices_2d(points2)
    if len(hull) < 3:
        if len(hull) == 2:
            d = hull[1] - hull[0]
            return float(np.arctan2(d[1], d[0]))
        return 0.0
    edges = np.roll(hull, -1, axis=0) - hull
    lengths = np.linalg.norm(edges, axis=1)
    edges, lengths = edges[lengths > 0], lengths[lengths > 0]
    dirs = edges / lengths[:, None]
    perps = np.stack([-dirs[:, 1], dirs[:, 0]], axis=1)
    along = hull @ dirs.T
    across = hull @ perps.T
    areas = (along.max(axis=0) - along.min(axis=0)) * (across.max(axis=0) - across.min(axis=0))
    k = int(np.argmin(areas))
    return float(np.arctan2(dirs[k, 1], dirs[k, 0]))


def _hull_vertices_2d(points2: np.ndarray) -> np.ndarray:
    """Counter-clockwise 2D hull; qhull (C) when it can, the exact monotone chain otherwise."""
    if len(points2) > 16:
        try:
            return points2[ConvexHull(points2).vertices]
        except (QhullError, ValueError):
            pass
    return convex_hull_2d(points2)


def _flat_box(centred: np.ndarray, mean: np.ndarray, pca: np.ndarray) -> _Box:
    """Box of (near) coplanar or collinear points: min-area rectangle in the best-fit plane."""
    normal = pca[:, 2]
    axes = _box_axes_for_normal(centred, normal)
    local = centred @ axes
    lo, hi = local.min(axis=0), local.max(axis=0)
    return mean + axes @ ((lo + hi) / 2.0), axes, hi - lo


def _canonical_axes(axes: np.ndarray, extents: np.ndarray, up: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reorder/flip box axes: a2 closest to ``up`` and pointing up, a0 closest to +x."""
    up = up / np.linalg.norm(up)
    right = np.array([1.0, 0.0, 0.0]) - up[0] * up  # the frame's x axis, made orthogonal to up
    if np.linalg.norm(right) < 1e-6:
        right = np.array([0.0, 0.0, 1.0]) - up[2] * up
    k2 = int(np.argmax(np.abs(axes.T @ up)))
    rest = [k for k in range(3) if k != k2]
    k0 = rest[int(np.argmax(np.abs(axes[:, rest].T @ right)))]
    k1 = rest[1] if k0 == rest[0] else rest[0]
    a2 = axes[:, k2] * (1.0 if axes[:, k2] @ up >= 0 else -1.0)
    a0 = axes[:, k0] * (1.0 if axes[:, k0] @ right >= 0 else -1.0)
    a1 = np.cross(a2, a0)
    return np.stack([a0, a1, a2], axis=1), np.array([extents[k0], extents[k1], extents[k2]])


# ----------------------------------------------------------------------------- 2D hulls
def convex_hull_2d(points: ArrayLike) -> np.ndarray:
    """Vertices of the convex hull of 2D points, counter-clockwise (x right, y up), no repeats.

    Andrew's monotone chain; collinear points on edges are dropped. Degenerate inputs return
    what is left: 1 vertex for identical points, 2 for collinear points, 0 for none.

    Args:
        points: (N, 2) coordinates in any 2D frame.

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
    eps = 1e-12 * scale * scale
    seq = [tuple(p) for p in pts.tolist()]

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
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))


def polygon_area(polygon: ArrayLike) -> float:
    """Area of a simple polygon given by its vertices in order (shoelace formula); 0 if < 3."""
    poly = np.asarray(polygon, dtype=np.float64).reshape(-1, 2)
    if len(poly) < 3:
        return 0.0
    x, y = poly[:, 0], poly[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def convex_polygon_intersection(poly_a: ArrayLike, poly_b: ArrayLike) -> np.ndarray:
    """Intersection of two convex polygons (Sutherland-Hodgman clipping).

    Args:
        poly_a: (K, 2) convex polygon, vertices in order.
        poly_b: (M, 2) convex polygon, counter-clockwise (as :func:`convex_hull_2d` returns).

    Returns:
        (L, 2) vertices of the intersection (possibly empty).
    """
    subject = [np.asarray(p, dtype=np.float64) for p in np.asarray(poly_a, dtype=np.float64).reshape(-1, 2)]
    clip = np.asarray(poly_b, dtype=np.float64).reshape(-1, 2)
    if len(clip) < 3 or len(subject) < 3:
        return np.zeros((0, 2))
    for i in range(len(clip)):
        a, b = clip[i], clip[(i + 1) % len(clip)]
        if not subject:
            break
        current, subject = subject, []
        prev = current[-1]
        prev_side = _cross(a, b, prev)
        for point in current:
            side = _cross(a, b, point)
            if side >= 0:
                if prev_side < 0:
                    subject.append(_segment_line_intersection(prev, point, prev_side, side))
                subject.append(point)
            elif prev_side >= 0:
                subject.append(_segment_line_intersection(prev, point, prev_side, side))
            prev, prev_side = point, side
    return np.array(subject) if subject else np.zeros((0, 2))


def _segment_line_intersection(p: np.ndarray, q: np.ndarray, side_p: float, side_q: float) -> np.ndarray:
    t = side_p / (side_p - side_q)
    return p + t * (q - p)


def hull_iou(points_a: ArrayLike, points_b: ArrayLike) -> float:
    """IoU of the convex hulls of two 2D point sets (order-invariant; any number of points).

    Returns 0.0 when either hull has no area (fewer than 3 non-collinear points).

    >>> hull_iou([(0, 0), (1, 0), (1, 1), (0, 1)], [(0, 1), (1, 1), (1, 0), (0, 0)])
    1.0
    """
    hull_a, hull_b = convex_hull_2d(points_a), convex_hull_2d(points_b)
    area_a, area_b = polygon_area(hull_a), polygon_area(hull_b)
    if area_a <= 0.0 or area_b <= 0.0:
        return 0.0
    inter = polygon_area(convex_polygon_intersection(hull_a, hull_b))
    union = area_a + area_b - inter
    return float(min(1.0, max(0.0, inter / union))) if union > 0 else 0.0


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


# ----------------------------------------------------------------------------- masks
def interior_point(mask: np.ndarray) -> tuple[float, float]:
    """A point well inside a mask: the pixel farthest from the mask's boundary.

    The distance is the Euclidean distance transform with everything outside the mask, the image
    border included, counted as boundary. Ties go to the tied pixel nearest the tied pixels'
    centroid, then to the first in row-major order, so the answer is deterministic (a
    rectangle's point is its centre).

    Args:
        mask: HxW boolean mask (nonzero = inside).

    Returns:
        Normalized ``(x, y)`` of the pixel's centre: ``((i + 0.5) / W, (j + 0.5) / H)``.

    Raises:
        ValueError: the mask is empty or not 2-D.
    """
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"mask must be an HxW array, got shape {m.shape}")
    m = m.astype(bool, copy=False)
    rows = np.flatnonzero(m.any(axis=1))
    if len(rows) == 0:
        raise ValueError("mask is empty: no pixel to point at")
    cols = np.flatnonzero(m.any(axis=0))
    r0, r1, c0, c1 = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    # Pad the bounding box with one background pixel so the image border counts as boundary.
    crop = np.pad(m[r0:r1, c0:c1], 1)
    dist = ndimage.distance_transform_edt(crop)[1:-1, 1:-1]
    best = dist.max()
    jj, ii = np.nonzero(dist >= best - 1e-9)
    if len(jj) > 1:
        cj, ci = jj.mean(), ii.mean()
        k = int(np.argmin((jj - cj) ** 2 + (ii - ci) ** 2))  # argmin: first in row-major order
    else:
        k = 0
    height, width = m.shape
    return (float((c0 + ii[k] + 0.5) / width), float((r0 + jj[k] + 0.5) / height))


def image_pixels_of_points(
    points: ArrayLike, f: float, width: int, height: int
) -> tuple[np.ndarray, np.ndarray]:
    """The pixel each camera-frame point projects into (the masking rule of ``compute_bbox``).

    A point projects (principal point at the centre, fx = fy = ``f``) to continuous pixel
    coordinates; its pixel is the ``floor`` of those, counting values within 1e-6 px below an
    integer as that integer. Points behind the camera, outside the image or non-finite land in
    no pixel. (The original truncated with ``astype(int)``: round-off could move a point
    back-projected from pixel ``i`` into pixel ``i - 1``, and points up to a pixel left of or
    above the image landed in column or row 0.)

    Returns:
        ``(index, flat)``: indices of the points that land in the image, and their pixels as
        flat row-major indices ``row * width + col``.
    """
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    z = pts[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = f / z
        col = np.floor(pts[:, 0] * scale + (width / 2.0 + 1e-6))
        row = np.floor(pts[:, 1] * scale + (height / 2.0 + 1e-6))
    # Comparisons with NaN are False, so non-finite coordinates drop out without isfinite passes.
    index = np.flatnonzero((z > 0) & (z < np.inf) & (col >= 0) & (col < width) & (row >= 0) & (row < height))
    flat = row[index].astype(np.int64) * width + col[index].astype(np.int64)
    return index, flat


def mask_pixels_of_points(points: ArrayLike, mask: np.ndarray, f: float) -> tuple[np.ndarray, np.ndarray]:
    """Which camera-frame points project into ``mask`` (see :func:`image_pixels_of_points`).

    Returns:
        ``(keep, pixels)``: (N,) bool, and (N, 2) int pixel indices (column, row; -1 where the
        point lands in no pixel).
    """
    height, width = mask.shape
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    index, flat = image_pixels_of_points(pts, f, width, height)
    pixels = np.full((len(pts), 2), -1, dtype=np.int64)
    pixels[index, 0] = flat % width
    pixels[index, 1] = flat // width
    keep = np.zeros(len(pts), dtype=bool)
    keep[index] = mask.reshape(-1)[flat]
    return keep, pixels


__all__ = [
    "BOX_EDGES",
    "CAMERA_UP",
    "backproject",
    "box_volume",
    "convex_hull_2d",
    "convex_polygon_intersection",
    "hull_iou",
    "image_pixels_of_points",
    "interior_point",
    "mask_pixels_of_points",
    "minimal_oriented_box",
    "point_in_convex_hull",
    "polygon_area",
    "project",
    "project_pixels",
]
