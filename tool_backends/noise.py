"""How an oracle tool deviates from the truth, so agents learn to cope with imperfect tools.

A :class:`ToolNoise` is attached to an oracle tool (or a whole namespace) through
``oracle_toolsets(noise={"roborefer": ToolNoise(point_sigma=0.02), ...})``. All randomness is
drawn from the per-call generator the client hands the tool (``ctx.rng``, seeded from the
episode seed and the call's position), so an episode replays bit for bit. The default,
``ToolNoise()``, is exact and draws nothing.

What ``failure_rate`` does is tool-specific and mimics the real model's failures, with the real
tool's ordinary output text (never a generic error):

- pointing (RoboRefer, Molmo): finds nothing (``Detected 0 instance(s) ...``) or points at a
  different referent of the image;
- depth (DepthPro): misjudges the focal length, scaling the whole depth map and focal length by
  a factor in [0.65, 0.85] or [1.2, 1.5];
- segmentation (SAM 2): returns the neighbouring segment that shares the longest border with the
  intended one (typically the supporting surface), with a plausible IoU score.

A failure that changes the output flags the call's result (``ToolResult.fault``): ``"failure"``
for an empty detection, ``"wrong"`` for another referent, a scaled depth map or another segment
(a failure drawn where it changes nothing, e.g. on a query that matches no referent, is no fault).
The jitter, depth noise and erosion below never flag a call: they perturb every call by a set
amount and keep the object, so a flag would mark every call and tell nothing about recovery
(:mod:`tool_backends.faults`). Injected faults (errors, timeouts, latency) for any backend are
separate, on their own random stream: :class:`~tool_backends.faults.FaultInjectingClient`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import ndimage


@dataclass(frozen=True)
class ToolNoise:
    """Noise and failure model of one oracle tool.

    Attributes:
        failure_rate: Probability in [0, 1] that a call fails the way the real model does
            (see the module docstring for each tool's failure).
        point_sigma: Standard deviation of Gaussian jitter added to each returned normalized
            point (x and y independently), clipped back into [0, 1].
        depth_sigma: Relative depth noise: every depth value is multiplied by
            ``exp(depth_sigma * N(0, 1))`` independently (so depths stay positive; for small
            values the relative standard deviation is about ``depth_sigma``).
        mask_erode_px: Erode returned segmentation masks with a square of side
            ``2 * mask_erode_px + 1`` pixels; 3 reproduces the original tool's 7x7 erosion.
            The image border does not erode (as OpenCV's ``erode``).
    """

    failure_rate: float = 0.0
    point_sigma: float = 0.0
    depth_sigma: float = 0.0
    mask_erode_px: int = 0

    def __post_init__(self) -> None:
        for name in ("failure_rate", "point_sigma", "depth_sigma"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"ToolNoise.{name} must be a finite number, got {value!r}")
            if value < 0:
                raise ValueError(f"ToolNoise.{name} must be >= 0, got {value!r}")
        if self.failure_rate > 1:
            raise ValueError(f"ToolNoise.failure_rate is a probability in [0, 1], got {self.failure_rate!r}")
        erode = self.mask_erode_px
        if isinstance(erode, bool) or not isinstance(erode, int) or erode < 0:
            raise ValueError(
                "ToolNoise.mask_erode_px must be a non-negative integer (3 = the original 7x7 kernel), "
                f"got {erode!r}"
            )

    @property
    def is_exact(self) -> bool:
        """True when the tool answers exactly (and draws no random numbers)."""
        return self == NO_NOISE

    def fails(self, rng: np.random.Generator) -> bool:
        """Draw whether this call fails; draws nothing when ``failure_rate`` is 0."""
        return self.failure_rate > 0 and bool(rng.random() < self.failure_rate)

    def jitter(self, point: tuple[float, float], rng: np.random.Generator) -> tuple[float, float]:
        """``point`` (normalized) plus Gaussian jitter, clipped to [0, 1]."""
        if self.point_sigma == 0:
            return point
        dx, dy = rng.normal(0.0, self.point_sigma, size=2)
        return (float(np.clip(point[0] + dx, 0.0, 1.0)), float(np.clip(point[1] + dy, 0.0, 1.0)))

    def perturb_depth(self, depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """A noisy copy of ``depth`` (same dtype); ``depth`` itself when ``depth_sigma`` is 0."""
        if self.depth_sigma == 0:
            return depth
        factor = np.exp(self.depth_sigma * rng.standard_normal(depth.shape, dtype=np.float32))
        return (depth * factor).astype(depth.dtype, copy=False)

    def erode(self, mask: np.ndarray) -> np.ndarray:
        """``mask`` eroded by ``mask_erode_px`` (``mask`` itself when 0)."""
        if self.mask_erode_px == 0:
            return mask
        size = 2 * self.mask_erode_px + 1
        return ndimage.binary_erosion(mask, structure=np.ones((size, size), bool), border_value=1)


NO_NOISE = ToolNoise()
"""Exact answers (the default)."""

__all__ = ["NO_NOISE", "ToolNoise"]
