"""Points in segmentation masks: a point well inside a mask."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from tool_backends.geometry.frames import pixel_centre_normalized


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
    x, y = pixel_centre_normalized(c0 + ii[k], r0 + jj[k], width, height)
    return float(x), float(y)


__all__ = ["interior_point"]
