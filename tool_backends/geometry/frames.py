"""Image coordinate frames and the only place that converts between them.

Frames:

- ``normalized``: (x, y) in [0, 1], origin top-left, x to the right (SpaceTools, RoboSpatial);
  what the model reads and writes.
- ``pixel`` (index): (u, v) integer column and row; pixel (u, v) covers [u, u+1) x [v, v+1),
  so its centre is (u + 0.5, v + 0.5).
- ``pixel`` (continuous): (u, v) real, the same axes, pixel edges at integers;
  normalized = (u / W, v / H).
- ``per_mille``: (x, y) in [0, 1000] (Qwen3-VL, Gemini; Gemini writes [y, x]).

Which rule each side uses (they differ by half a pixel and must not be mixed):

- **Pixel -> normalized, pixel centres** (:func:`pixel_centre_normalized`,
  :func:`pixel_centres_normalized`): ``((u + 0.5) / W, (v + 0.5) / H)``. Every point the oracle
  or a generator writes (interior points, mask centroids, marker positions, wrong answers) is
  a pixel centre, so the truncation rule below maps it back to the same pixel.
- **Normalized -> pixel index, truncation** (:func:`pixel_index`, :func:`pixel_indices`):
  ``min(int(x * W), W - 1)``: truncate toward zero, and exactly 1.0 goes to the last pixel.
  The original tools index this way (``vision_ops.index_at``, ``sam2.segment_from_point``,
  which reject coordinates outside [0, 1] first; values outside [0, 1] are the caller's to
  reject, there is no lower clamp). The official point scorers truncate the same way but do
  not clamp (RefSpatial-Bench and Where2Place ``int(x * W)``, in
  ``spacetools_env/scoring/points.py``): there a point at exactly 1.0 falls outside the image
  and misses. A pixel centre written by the oracle truncates back to its own pixel under both.
- **Continuous pixel <-> normalized** (:func:`pixel_to_normalized`,
  :func:`normalized_to_pixel`): ``(u / W, v / H)`` and ``(x * W, y * H)``, for box edges,
  cell centres, drawing and areas measured in pixels.

The arithmetic is written once here in the exact order the callers used, because the
project guarantees bit-identical episodes per seed: ``(u + 0.5) / W`` and ``u / W + 0.5 / W``
round differently.

>>> pixel_centre_normalized(0, 0, 4, 2)
(0.125, 0.25)
>>> pixel_index(0.125, 0.25, 4, 2), pixel_index(1.0, 1.0, 4, 2)
((0, 0), (3, 1))
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import numpy.typing as npt


class Frame(StrEnum):
    NORMALIZED = "normalized"
    PIXEL = "pixel"
    PER_MILLE = "per_mille"


def pixel_centre_normalized(u: float, v: float, width: int, height: int) -> tuple[float, float]:
    """Normalized ``(x, y)`` of the centre of pixel (column ``u``, row ``v``): ``((u + 0.5) / W, (v + 0.5) / H)``.

    ``u`` and ``v`` may be fractional (a mean of pixel indices); numpy scalars stay numpy scalars.

    Args:
        u: Column index (pixel frame).
        v: Row index (pixel frame).
        width: Image width W in pixels.
        height: Image height H in pixels.

    Returns:
        The normalized point.
    """
    return (u + 0.5) / width, (v + 0.5) / height


def pixel_centres_normalized(us: npt.ArrayLike, vs: npt.ArrayLike, width: int, height: int) -> np.ndarray:
    """Vectorised :func:`pixel_centre_normalized`: columns ``us`` and rows ``vs`` to (N, 2) normalized points."""
    return np.stack([(np.asarray(us) + 0.5) / width, (np.asarray(vs) + 0.5) / height], axis=1)


def pixel_index(x: float, y: float, width: int, height: int) -> tuple[int, int]:
    """Pixel (column, row) containing normalized ``(x, y)``: ``min(int(x * W), W - 1)``.

    Truncation as the official scorers and the original tools index; exactly 1.0 maps to the
    last column/row. ``x`` and ``y`` must lie in [0, 1] (callers reject others).

    Args:
        x: Normalized x (0 = left edge).
        y: Normalized y (0 = top edge).
        width: Image width W in pixels.
        height: Image height H in pixels.

    Returns:
        ``(u, v)``: column and row indices.
    """
    return min(int(x * width), width - 1), min(int(y * height), height - 1)


def pixel_indices(points: npt.ArrayLike, width: int, height: int) -> np.ndarray:
    """Vectorised :func:`pixel_index`: normalized (N, 2) points to (N, 2) int64 ``(u, v)`` indices.

    The product is taken in the points' own dtype, as a caller's inline ``x * W`` would be.
    """
    pts = np.asarray(points).reshape(-1, 2)
    u = np.minimum((pts[:, 0] * width).astype(np.int64), width - 1)
    v = np.minimum((pts[:, 1] * height).astype(np.int64), height - 1)
    return np.stack([u, v], axis=1)


def pixel_to_normalized(u: float, v: float, width: int, height: int) -> tuple[float, float]:
    """Continuous pixel coordinates (edges at integers) to normalized: ``(u / W, v / H)``."""
    return u / width, v / height


def normalized_to_pixel(x: float, y: float, width: int, height: int) -> tuple[float, float]:
    """Normalized ``(x, y)`` to continuous pixel coordinates (edges at integers): ``(x * W, y * H)``."""
    return x * width, y * height


def to_normalized(points: npt.ArrayLike, frame: Frame, width: int, height: int) -> np.ndarray:
    """Convert (N, 2) points from ``frame`` to normalized coordinates (pixel centres for pixels)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if frame is Frame.NORMALIZED:
        return pts
    if frame is Frame.PIXEL:
        return pixel_centres_normalized(pts[:, 0], pts[:, 1], width, height)
    if frame is Frame.PER_MILLE:
        return pts / 1000.0
    raise ValueError(f"unknown frame {frame!r}; expected one of {[f.value for f in Frame]}")


def format_points(points: npt.ArrayLike, decimals: int = 3) -> str:
    """Normalized points as the ``[(x, y), ...]`` text the SpaceTools answers use.

    >>> format_points(np.array([[0.5, 0.25], [0.1234, 1.0]]))
    '[(0.5, 0.25), (0.123, 1.0)]'
    """
    pairs = (
        f"({round(float(x), decimals)}, {round(float(y), decimals)})" for x, y in np.asarray(points).reshape(-1, 2)
    )
    return "[" + ", ".join(pairs) + "]"


__all__ = [
    "Frame",
    "format_points",
    "normalized_to_pixel",
    "pixel_centre_normalized",
    "pixel_centres_normalized",
    "pixel_index",
    "pixel_indices",
    "pixel_to_normalized",
    "to_normalized",
]
