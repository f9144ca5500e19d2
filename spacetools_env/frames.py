"""Image coordinate frames and the only place that converts between them.

- ``normalized``: (x, y) in [0, 1], origin top-left, x to the right (SpaceTools, RoboSpatial).
- ``pixel``: (u, v) integer pixel indices; pixel (u, v) covers [u, u+1) x [v, v+1).
- ``per_mille``: (x, y) in [0, 1000] (Qwen3-VL, Gemini; Gemini writes [y, x]).
"""

from __future__ import annotations

from enum import StrEnum

import numpy as np
import numpy.typing as npt


class Frame(StrEnum):
    NORMALIZED = "normalized"
    PIXEL = "pixel"
    PER_MILLE = "per_mille"


def to_normalized(points: np.ndarray, frame: Frame, width: int, height: int) -> np.ndarray:
    """Convert (N, 2) points from ``frame`` to normalized coordinates (pixel centres for pixels)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    if frame is Frame.NORMALIZED:
        return pts
    if frame is Frame.PIXEL:
        return (pts + 0.5) / np.array([width, height], dtype=np.float64)
    if frame is Frame.PER_MILLE:
        return pts / 1000.0
    raise ValueError(f"unknown frame {frame!r}")


def to_pixels(points: np.ndarray, width: int, height: int) -> np.ndarray:
    """Normalized (N, 2) points to integer pixel indices (truncation, clipped into the image)."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    u = np.clip((pts[:, 0] * width).astype(np.int64), 0, width - 1)
    v = np.clip((pts[:, 1] * height).astype(np.int64), 0, height - 1)
    return np.stack([u, v], axis=1)


def format_points(points: npt.ArrayLike, decimals: int = 3) -> str:
    """Normalized points as the ``[(x, y), ...]`` text the SpaceTools answers use.

    >>> format_points(np.array([[0.5, 0.25], [0.1234, 1.0]]))
    '[(0.5, 0.25), (0.123, 1.0)]'
    """
    pairs = (
        f"({round(float(x), decimals)}, {round(float(y), decimals)})" for x, y in np.asarray(points).reshape(-1, 2)
    )
    return "[" + ", ".join(pairs) + "]"
