"""Camera frame <-> pixels: back-projection, projection, and which pixel a point lands in.

Frames: the OpenCV camera frame (metres, x right, y down, z forward), continuous pixel
coordinates ``(u, v)`` (origin at the image's top-left corner) and normalized image coordinates
``(u / W, v / H)``; the pinhole has fx = fy = ``f`` and its principal point ``(cx, cy)`` at the
image centre ``(W / 2, H / 2)`` unless one is given (``principal_point=``, in the same continuous
pixel coordinates: an OpenCV ``cam_K``, whose pixel centres sit at integers, gives ``(cx + 0.5,
cy + 0.5)``). Leaving it out and passing the centre give bit-identical results.

Which continuous coordinate a depth-map entry ``depth[j, i]`` sits at is a convention:
:func:`backproject` uses ``(i, j) + pixel_offset``. The original tool uses integer indices
(``pixel_offset=0``); a depth sample really describes its pixel's centre (``pixel_offset=0.5``),
which is what the synthetic world renders and what the oracle depth tool uses, so that the
original's half-pixel bias does not leak into exact answers.
"""

from __future__ import annotations

import numpy as np

from tool_backends.geometry._types import ArrayLike

PrincipalPoint = tuple[float, float]


def _centre(principal_point: PrincipalPoint | None, width: int, height: int) -> tuple[float, float]:
    """``principal_point`` as floats, or the image centre when None."""
    if principal_point is None:
        return width / 2.0, height / 2.0
    return float(principal_point[0]), float(principal_point[1])


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


def project_pixels(
    points: ArrayLike, f: float, width: int, height: int, principal_point: PrincipalPoint | None = None
) -> np.ndarray:
    """Project OpenCV camera-frame points to continuous pixel coordinates ``(u, v)``.

    fx = fy = ``f``; the principal point is ``principal_point`` (pixels), default the image
    centre. Points with z <= 0 give inf/nan or mirrored coordinates; callers that care filter
    on z first.

    Returns:
        (N, 2) float64 pixel coordinates.
    """
    cx, cy = _centre(principal_point, width, height)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    with np.errstate(divide="ignore", invalid="ignore"):
        u = f * pts[:, 0] / pts[:, 2] + cx
        v = f * pts[:, 1] / pts[:, 2] + cy
    return np.stack([u, v], axis=1)


def project(
    points: ArrayLike, f: float, width: int, height: int, principal_point: PrincipalPoint | None = None
) -> np.ndarray:
    """Project OpenCV camera-frame points to normalized image coordinates ``(u / W, v / H)``.

    The inverse of :func:`backproject` (with the same principal point): a point back-projected
    from pixel ``(i, j)`` with offset ``o`` returns to ``((i + o) / W, (j + o) / H)``.

    Returns:
        (N, 2) float64 normalized coordinates (origin top-left, x right, y down).
    """
    pixels = project_pixels(points, f, width, height, principal_point)
    return pixels / np.array([width, height], dtype=np.float64)


def image_pixels_of_points(
    points: ArrayLike, f: float, width: int, height: int, principal_point: PrincipalPoint | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The pixel each camera-frame point projects into (the masking rule of ``compute_bbox``).

    A point projects (fx = fy = ``f``, principal point ``principal_point`` or the image centre)
    to continuous pixel coordinates; its pixel is the ``floor`` of those, counting values within 1e-6 px below an
    integer as that integer. Points behind the camera, outside the image or non-finite land in
    no pixel. (The original truncated with ``astype(int)``: round-off could move a point
    back-projected from pixel ``i`` into pixel ``i - 1``, and points up to a pixel left of or
    above the image landed in column or row 0.)

    Returns:
        ``(index, flat)``: indices of the points that land in the image, and their pixels as
        flat row-major indices ``row * width + col``.
    """
    cx, cy = _centre(principal_point, width, height)
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    z = pts[:, 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = f / z
        col = np.floor(pts[:, 0] * scale + (cx + 1e-6))
        row = np.floor(pts[:, 1] * scale + (cy + 1e-6))
    # Comparisons with NaN are False, so non-finite coordinates drop out without isfinite passes.
    index = np.flatnonzero((z > 0) & (z < np.inf) & (col >= 0) & (col < width) & (row >= 0) & (row < height))
    flat = row[index].astype(np.int64) * width + col[index].astype(np.int64)
    return index, flat


def mask_pixels_of_points(
    points: ArrayLike, mask: np.ndarray, f: float, principal_point: PrincipalPoint | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Which camera-frame points project into ``mask`` (see :func:`image_pixels_of_points`).

    Returns:
        ``(keep, pixels)``: (N,) bool, and (N, 2) int pixel indices (column, row; -1 where the
        point lands in no pixel).
    """
    height, width = mask.shape
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    index, flat = image_pixels_of_points(pts, f, width, height, principal_point)
    pixels = np.full((len(pts), 2), -1, dtype=np.int64)
    pixels[index, 0] = flat % width
    pixels[index, 1] = flat // width
    keep = np.zeros(len(pts), dtype=bool)
    keep[index] = mask.reshape(-1)[flat]
    return keep, pixels


__all__ = [
    "PrincipalPoint", "backproject", "image_pixels_of_points", "mask_pixels_of_points", "project", "project_pixels",
]
