"""Segmentation oracle: ``sam2.segment_from_point`` and ``sam2.segment_from_points``.

Stands in for SAM 2.1 prompted with foreground points. The oracle returns the ground-truth
segment (label of ``GroundTruth.segmentation``) under the prompt: a boolean mask of all pixels
with that label. Output texts, as the original tool prints them::

    Segmented object at normalized coords (0.500, 0.400) with IoU score: 1.000. Use
    $segmentation_mask (boolean array, 480x640) to reference it.

    Segmented object using 2 normalized points with best IoU score: 1.000. Use
    $segmentation_mask (boolean array, 480x640) to reference it.

(each on one line). A normalized point ``(x, y)`` falls in pixel ``(int(x * W), int(y * H))``
as in the original (clamped to the last pixel at exactly 1.0;
:func:`~tool_backends.geometry.frames.pixel_index`); coordinates outside [0, 1] are
an error, as in the original.

Decisions:

- Several points: the segment hit by most of the points (ties: the one hit first). SAM returns
  one object mask; a prompt spread over two objects is the model's mistake and should not come
  back as a neat union of both.
- The IoU score: SAM reports its own predicted IoU of the mask before the original's 7x7
  erosion; the exact oracle reports 1.000. A failing call (``ToolNoise.failure_rate``) returns
  the neighbouring segment sharing the longest border with the intended one, with a plausible
  score drawn in [0.70, 0.95), since SAM's confidence does not reveal its mistakes.
- No erosion by default; ``ToolNoise(mask_erode_px=3)`` reproduces the original's 7x7 erosion.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import ndimage

from tool_backends.client import CallContext
from tool_backends.declaration import tool_method
from tool_backends.geometry.frames import pixel_index
from tool_backends.oracle.base import OracleToolset, read_only
from tool_backends.result import ToolError, ToolResult
from tool_backends.truth import GroundTruth

_FAILURE_SCORES = (0.70, 0.95)
_FRAME = "normalized image coordinates, origin top-left"


class SegmentationOracle(OracleToolset):
    """``sam2.*``: point-prompted segmentation (SAM 2) answered from the ground truth."""

    namespace = "sam2"
    noisy_tools = ("segment_from_point", "segment_from_points")

    @tool_method
    def segment_from_point(self, ctx: CallContext, x: float, y: float, image_index: int) -> ToolResult:
        """Segment the object at normalized coordinates.

        Text output: summary of the segmentation, including the mask size and the IoU
        confidence score. Stored variables: $segmentation_mask, a boolean array of shape (H, W)
        where True marks the segmented pixels.

        Args:
            x: X-coordinate in normalized range [0, 1] (0 = left edge).
            y: Y-coordinate in normalized range [0, 1] (0 = top edge).
            image_index: 0-based index of an image already present in the conversation. Use this
                to reference an inline image by its order (0 = first, 1 = second, ...).
        """
        truth = ctx.truth(image_index)
        if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
            raise ToolError(
                f"Coordinates ({x}, {y}) must be in range [0, 1] ({_FRAME})"
            )
        mask, score, label, fault = self._segment(ctx, truth, [(x, y)], "segment_from_point")
        height, width = mask.shape
        text = (
            f"Segmented object at normalized coords ({x:.3f}, {y:.3f}) with IoU score: {score:.3f}."
            f" Use $segmentation_mask (boolean array, {height}x{width}) to reference it."
        )
        return ToolResult(ok=True, text=text, variables={"segmentation_mask": mask},
                          data={"label": label, "iou_score": score, "mask": mask}, fault=fault)

    @tool_method
    def segment_from_points(
        self, ctx: CallContext, points: list[tuple[float, float]], image_index: int
    ) -> ToolResult:
        """Segment an object using multiple normalized coordinates.

        Text output: summary of the segmentation, including the mask size and the best IoU
        score. Stored variables: $segmentation_mask, a boolean array of shape (H, W) where True
        marks the segmented pixels.

        Args:
            points: Foreground points on the object, a list of (x, y) normalized coordinates in
                [0, 1], e.g. [(0.2, 0.3), (0.25, 0.35)].
            image_index: 0-based index of an image already present in the conversation. Use this
                to reference an inline image by its order (0 = first, 1 = second, ...).
        """
        truth = ctx.truth(image_index)
        if not points:
            raise ToolError("At least one point must be provided, e.g. points=[(0.5, 0.4)]")
        for i, (x, y) in enumerate(points):
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ToolError(
                    f"Point {i} ({x}, {y}) must be in range [0, 1] ({_FRAME})"
                )
        mask, score, label, fault = self._segment(ctx, truth, points, "segment_from_points")
        height, width = mask.shape
        text = (
            f"Segmented object using {len(points)} normalized points with best IoU score: {score:.3f}."
            f" Use $segmentation_mask (boolean array, {height}x{width}) to reference it."
        )
        return ToolResult(ok=True, text=text, variables={"segmentation_mask": mask},
                          data={"label": label, "iou_score": score, "mask": mask}, fault=fault)

    # ------------------------------------------------------------------ helpers
    def _segment(
        self, ctx: CallContext, truth: GroundTruth, points: Sequence[tuple[float, float]], method: str
    ) -> tuple[np.ndarray, float, int, str | bool]:
        """Mask, IoU score, label and fault (``"wrong"`` when a failure picked another segment)."""
        segmentation = truth.segmentation
        height, width = segmentation.shape
        pixels = [pixel_index(x, y, width, height) for x, y in points]
        labels = [int(segmentation[row, col]) for col, row in pixels]
        values, counts = np.unique(labels, return_counts=True)
        winners = set(values[counts == counts.max()].tolist())
        label = next(lab for lab in labels if lab in winners)
        noise = self.noise(method)
        score, exact = 1.0, label
        if noise.fails(ctx.rng):
            label = _neighbour_label(segmentation, self._mask(truth, label), label)
            score = float(ctx.rng.uniform(*_FAILURE_SCORES))
        mask = self._mask(truth, label)
        if noise.mask_erode_px:
            mask = read_only(noise.erode(mask))
        return mask, score, label, "wrong" if label != exact else False

    def _mask(self, truth: GroundTruth, label: int) -> np.ndarray:
        return self._cache.get(truth, ("mask", label), lambda: read_only(truth.segmentation == label))


def _neighbour_label(segmentation: np.ndarray, mask: np.ndarray, label: int) -> int:
    """The label sharing the longest border with ``mask`` (``label`` itself if it has none)."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    r0, r1 = max(rows[0] - 1, 0), min(rows[-1] + 2, mask.shape[0])
    c0, c1 = max(cols[0] - 1, 0), min(cols[-1] + 2, mask.shape[1])
    crop = mask[r0:r1, c0:c1]
    ring = ndimage.binary_dilation(crop) & ~crop
    around = segmentation[r0:r1, c0:c1][ring]
    if around.size == 0:
        return label
    values, counts = np.unique(around, return_counts=True)
    return int(values[int(np.argmax(counts))])  # argmax: the smallest label among ties


__all__ = ["SegmentationOracle"]
