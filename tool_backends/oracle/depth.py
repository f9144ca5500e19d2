"""Depth oracle: ``depth_estimator.estimate_depth`` and ``estimate_depth_with_pointcloud``.

Stands in for DepthPro (metric depth plus an estimated focal length) and answers with the
ground-truth depth and focal length. Output texts, as the original tool prints them (note the
original writes ``px`` and ``m`` without a space)::

    Estimated depth map for 640x480 image. Focal length: 554.3px. Depth range: 0.52m to 2.31m
    (mean: 1.20m). Use $depth_map (numpy array, 480x640) to reference the depth data and
    $focal_length_px (float) to reference the focal length.

    Generated 640x480 depth map and 307,200 3D points. Depth range in point cloud: 0.52m to
    2.31m (mean: 1.20m). Use $depth_map (numpy array, 480x640), $point_cloud (numpy array,
    307200x3) and $focal_length_px (float) to reference the results.

(each on one line). The depth statistics are over finite values; the point-cloud statistics
over the kept points. A statistics sentence is left out when there is nothing to summarise,
as in the original.

The point cloud is the back-projection of the depth map (OpenCV camera frame, fx = fy = focal
length, principal point at the image centre as the original, or the ground truth's
``principal_point`` where it has one, e.g. a BOP camera's ``cam_K``, so that the cloud is the
true geometry; the 3D box tool projects with the same point), dropping NaN/inf points and those
with z <= 0 or z >= 100 m, in row-major pixel order, as the original. One deliberate
difference: by default a pixel's point goes through the pixel's centre (``pixel_centers=True``),
because that is where a depth sample is taken; the original used integer pixel indices, a
half-pixel shift that makes exact answers (e.g. box corners) slightly wrong.
``pixel_centers=False`` restores it.

Stored arrays are read-only views shared across calls (and cached per image when no noise is
configured), so calls cost microseconds after the first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from tool_backends.client import CallContext
from tool_backends.declaration import tool_method
from tool_backends.geometry import backproject
from tool_backends.noise import ToolNoise
from tool_backends.oracle.base import OracleToolset, read_only
from tool_backends.result import ToolResult
from tool_backends.truth import GroundTruth

MAX_POINT_DEPTH_M = 100.0
# A failing DepthPro misjudges the focal length; metric depth scales with it.
_FAILURE_SCALES = ((0.65, 0.85), (1.2, 1.5))


@dataclass(frozen=True)
class _DepthAnswer:
    depth: np.ndarray
    focal: float
    stats: tuple[float, float, float] | None
    cloud: np.ndarray | None = None
    cloud_stats: tuple[float, float, float] | None = None
    fault: str | bool = False


def _stats(values: np.ndarray) -> tuple[float, float, float] | None:
    if values.size == 0:
        return None
    return float(values.min()), float(values.max()), float(values.mean(dtype=np.float64))


def _finite_stats(depth: np.ndarray) -> tuple[float, float, float] | None:
    finite = np.isfinite(depth)
    return _stats(depth if finite.all() else depth[finite])


def point_cloud(
    depth: np.ndarray, focal: float, pixel_offset: float, principal_point: tuple[float, float] | None = None
) -> np.ndarray:
    """The original tool's point cloud: valid back-projected points in row-major pixel order.

    ``principal_point`` (pixels) defaults to the image centre, as the original.
    """
    cx, cy = (None, None) if principal_point is None else principal_point
    points = backproject(depth, focal, cx, cy, pixel_offset=pixel_offset).reshape(-1, 3)
    z = points[:, 2]
    keep = np.isfinite(points).all(axis=1) & (z > 0) & (z < MAX_POINT_DEPTH_M)
    return points if keep.all() else points[keep]


class DepthOracle(OracleToolset):
    """``depth_estimator.*``: metric depth (DepthPro) answered from the ground truth.

    Args:
        noise: Noise per tool name or namespace (see :class:`~tool_backends.noise.ToolNoise`).
        pixel_centers: Back-project through pixel centres (True) or integer pixel indices as the
            original tool (False).
    """

    namespace = "depth_estimator"
    noisy_tools = ("estimate_depth", "estimate_depth_with_pointcloud")

    def __init__(self, noise: Mapping[str, ToolNoise] | None = None, pixel_centers: bool = True) -> None:
        super().__init__(noise)
        self.pixel_offset = 0.5 if pixel_centers else 0.0

    @tool_method
    def estimate_depth(self, ctx: CallContext, image_index: int) -> ToolResult:
        """Estimate a metric depth map from a single image.

        Text output: summary of the depth estimation: image size, focal length and depth
        statistics. Stored variables: $depth_map, a 2D array (H x W) of depth values in meters
        along the camera axis; $focal_length_px, the estimated focal length in pixels.

        Args:
            image_index: 0-based index of an image already present in the conversation. Use this
                to reference an inline image by its order (0 = first, 1 = second, ...).
        """
        truth = ctx.truth(image_index)
        answer = self._answer(ctx, truth, "estimate_depth", with_cloud=False)
        height, width = answer.depth.shape
        text = f"Estimated depth map for {width}x{height} image. Focal length: {answer.focal:.1f}px."
        if answer.stats is not None:
            low, high, mean = answer.stats
            text += f" Depth range: {low:.2f}m to {high:.2f}m (mean: {mean:.2f}m)."
        text += (
            f" Use $depth_map (numpy array, {height}x{width}) to reference the depth data and "
            "$focal_length_px (float) to reference the focal length."
        )
        return ToolResult(
            ok=True,
            text=text,
            variables={"depth_map": answer.depth, "focal_length_px": answer.focal},
            data={"width": width, "height": height, "focal_length_px": answer.focal,
                  "depth_stats": answer.stats},
            fault=answer.fault,
        )

    @tool_method
    def estimate_depth_with_pointcloud(self, ctx: CallContext, image_index: int) -> ToolResult:
        """Estimate a metric depth map and the 3D point cloud of a single image.

        Text output: summary of the depth estimation and point cloud: image size, number of
        points and their depth statistics. Stored variables: $depth_map, a 2D array (H x W) of
        depth values in meters; $point_cloud, an Nx3 array of 3D points (x, y, z) in meters in
        the camera frame (x right, y down, z forward; principal point at the image centre);
        $focal_length_px, the estimated focal length in pixels.

        Args:
            image_index: 0-based index of an image already present in the conversation. Use this
                to reference an inline image by its order (0 = first, 1 = second, ...).
        """
        truth = ctx.truth(image_index)
        answer = self._answer(ctx, truth, "estimate_depth_with_pointcloud", with_cloud=True)
        height, width = answer.depth.shape
        cloud = answer.cloud if answer.cloud is not None else np.zeros((0, 3))
        text = f"Generated {width}x{height} depth map and {len(cloud):,} 3D points."
        if answer.cloud_stats is not None:
            low, high, mean = answer.cloud_stats
            text += f" Depth range in point cloud: {low:.2f}m to {high:.2f}m (mean: {mean:.2f}m)."
        text += (
            f" Use $depth_map (numpy array, {height}x{width}), $point_cloud (numpy array, {len(cloud)}x3) "
            "and $focal_length_px (float) to reference the results."
        )
        return ToolResult(
            ok=True,
            text=text,
            variables={"depth_map": answer.depth, "point_cloud": cloud, "focal_length_px": answer.focal},
            data={"width": width, "height": height, "focal_length_px": answer.focal,
                  "num_points": len(cloud), "depth_stats": answer.cloud_stats},
            fault=answer.fault,
        )

    # ------------------------------------------------------------------ helpers
    def _answer(self, ctx: CallContext, truth: GroundTruth, method: str, *, with_cloud: bool) -> _DepthAnswer:
        noise = self.noise(method)
        principal = truth.principal_point
        if noise.is_exact:
            return self._cache.get(truth, ("depth", with_cloud, self.pixel_offset),
                                   lambda: self._compute(truth.depth, truth.focal_length_px, with_cloud, principal))
        depth, focal, failed = _noisy_depth(truth, noise, ctx.rng)
        return replace(self._compute(depth, focal, with_cloud, principal), fault="wrong" if failed else False)

    def _compute(self, depth: np.ndarray, focal: float, with_cloud: bool,
                 principal_point: tuple[float, float] | None = None) -> _DepthAnswer:
        depth = np.asarray(depth, dtype=np.float32)
        answer = _DepthAnswer(read_only(depth), float(focal), _finite_stats(depth))
        if not with_cloud:
            return answer
        cloud = point_cloud(depth, float(focal), self.pixel_offset, principal_point)
        return _DepthAnswer(answer.depth, answer.focal, answer.stats, read_only(cloud), _stats(cloud[:, 2]))


def _noisy_depth(truth: GroundTruth, noise: ToolNoise, rng: np.random.Generator) -> tuple[np.ndarray, float, bool]:
    """Depth and focal length as the noisy tool answers, and whether a failure (a scale) was drawn."""
    depth = np.asarray(truth.depth, dtype=np.float32)
    focal = float(truth.focal_length_px)
    failed = noise.fails(rng)
    if failed:
        low, high = _FAILURE_SCALES[int(rng.integers(len(_FAILURE_SCALES)))]
        scale = float(rng.uniform(low, high))
        depth, focal = depth * np.float32(scale), focal * scale
    return noise.perturb_depth(depth, rng), focal, failed


__all__ = ["MAX_POINT_DEPTH_M", "DepthOracle", "point_cloud"]
