"""Type aliases shared by the geometry modules."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

ArrayLike = np.ndarray | Sequence[Sequence[float]]
"""Points as an (N, D) array or a sequence of coordinate sequences."""

VectorLike = np.ndarray | Sequence[float]
"""One vector (a point, a size) as a (D,) array or a sequence of numbers."""
