"""``bounding_box.compute_bbox``: the oriented 3D box of a masked part of a point cloud.

Not a model but geometry, computed for real in every backend (and taking no noise): project the
cloud into the mask's H x W image (fx = fy = focal length; principal point at the image centre,
as the original, unless the episode's ground truth of an image of that size has a
``principal_point``: the camera the oracle depth tool back-projected with, so a BOP cloud lands
on its own pixels and the box's 2D corners are the true projections), keep the points whose
pixel is in the mask, and fit the minimum-volume oriented box
(:func:`~tool_backends.geometry.minimal_oriented_box`, in place of Open3D's
``get_minimal_oriented_bounding_box``). Output text, as the original prints it (including the
missing space after "points." and the trailing newline)::

    Oriented bounding box computed from 1834/307200 points.Corners in 3D: [[x, y, z], ...]
    Corners in normalized image coordinates: [[x, y], ...]
    Edges: [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), (0, 4), (1, 5), (2, 6), (3, 7)]
    Extent: [a, b, c]
    Volume: v

Numbers are rounded to 3 decimals (``np.around(...).tolist()``, ``-0.0`` printed as ``0.0``).
3D corners are metres in the OpenCV camera frame; 2D corners are ``(u / W, v / H)``; the extent
lists the side lengths along the box axes a0, a1, a2 (a2 the one closest to camera-up). The mask
is used as given (the original's extra erosion here was switched off too).

Corner order differs from the original on purpose: the original printed Open3D's corner order
with an edge list that assumes another order, so its "edges" joined wrong corners. Here corners
0-3 are the bottom face (counter-clockwise about the up axis), 4-7 the top face with corner
``i + 4`` above corner ``i``, which is exactly the order the printed edge list describes.
"""

from __future__ import annotations

import numbers
import weakref
from collections.abc import Mapping
from typing import Any

import numpy as np

from tool_backends.client import CallContext
from tool_backends.declaration import Variable, tool_method
from tool_backends.geometry import (
    BOX_EDGES,
    box_volume,
    image_pixels_of_points,
    minimal_oriented_box,
    project,
)
from tool_backends.noise import ToolNoise
from tool_backends.oracle.base import OracleToolset
from tool_backends.result import ToolError, ToolResult

MIN_BOX_POINTS = 4
_PROJECTION_CACHE_SIZE = 8
_DOLLAR_HINT = "Did you use the $ syntax to access the variable?"


def _rounded(values: np.ndarray) -> list[Any]:
    return (np.around(values, 3) + 0.0).tolist()  # + 0.0 turns -0.0 into 0.0


def _point_cloud(value: Any) -> np.ndarray:
    if isinstance(value, str):
        raise ToolError(f"point_cloud must be Nx3 numpy array, got str. {_DOLLAR_HINT}")
    if not isinstance(value, np.ndarray | list | tuple):
        raise ToolError(f"point_cloud must be Nx3 numpy array, got {type(value).__name__}")
    try:
        points = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ToolError(f"point_cloud must be Nx3 numpy array, got {type(value).__name__}") from None
    if points.ndim != 2 or points.shape[1] != 3:
        raise ToolError(
            f"point_cloud must be Nx3 numpy array, got array with shape {points.shape}. "
            "Use $point_cloud from depth_estimator.estimate_depth_with_pointcloud."
        )
    return points


def _mask(value: Any) -> np.ndarray:
    if isinstance(value, str):
        raise ToolError(f"mask must be numpy array, got str. {_DOLLAR_HINT}")
    if not isinstance(value, np.ndarray):
        raise ToolError(f"mask must be numpy array, got {type(value).__name__}. Use $segmentation_mask.")
    if value.ndim != 2:
        raise ToolError(
            f"mask must be a 2-D (H, W) boolean array such as $segmentation_mask, got shape {value.shape}"
        )
    return value.astype(bool, copy=False)


def _focal(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ToolError(
            f"focal_length_px must be a number such as $focal_length_px, got {type(value).__name__}"
            + (f". {_DOLLAR_HINT}" if isinstance(value, str) else "")
        )
    focal = float(value)
    if not np.isfinite(focal) or focal <= 0:
        raise ToolError(f"focal_length_px must be a positive number of pixels, got {focal}")
    return focal


def _principal_point(ctx: CallContext, width: int, height: int) -> tuple[float, float] | None:
    """The principal point of the episode's first image of size ``width`` x ``height`` with truth.

    None (the image centre) when no such image has truth or its truth has no principal point:
    the tool's arguments (cloud, mask, focal length) carry no principal point, and the mask's size
    tells which image the cloud was made from. (A backend whose depth model assumes the image
    centre, as DepthPro's cloud does, would pass its own cloud with this truth's point: such a
    backend must not take the principal point from the truth.)
    """
    for truth in ctx.episode.truth:
        if truth is not None and truth.size == (width, height):
            return truth.principal_point
    return None


class BoundingBoxOracle(OracleToolset):
    """``bounding_box.*``: oriented 3D boxes from a point cloud and a mask (exact in every backend)."""

    namespace = "bounding_box"

    def __init__(self, noise: Mapping[str, ToolNoise] | None = None) -> None:
        super().__init__(noise)
        # id(cloud) -> (weak ref, (f, width, height, principal point), projection); see _project.
        self._projections: dict[int, tuple[weakref.ref[np.ndarray], tuple[Any, ...], Any]] = {}
        # (id(cloud), id(mask)) -> (weak refs, (f, width, height, principal point), box); see _fit.
        self._boxes: dict[tuple[int, int], tuple[tuple[weakref.ref[np.ndarray], ...], tuple[Any, ...], Any]] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_projections": {}, "_boxes": {}}  # weak references do not pickle

    @tool_method
    def compute_bbox(
        self, ctx: CallContext, point_cloud: Variable, mask: Variable, focal_length_px: Variable
    ) -> ToolResult:
        """Compute an oriented bounding box for a masked subset of a point cloud.

        Text output: summary with the number of points used, the 8 box corners in 3D (meters,
        OpenCV camera frame: x right, y down, z forward) and in normalized image coordinates,
        the edges (pairs of corner indices), the box extent and volume. Stored variables:
        $obb_corners_3d (8x3, meters in the camera frame), $obb_corners_2d (8x2, normalized image
        coordinates), $edges (list of pairs of corner indices). Corners 0-3 are the bottom face,
        4-7 the top face, corner i+4 above corner i.

        Args:
            point_cloud: Scene point cloud, an (N, 3) array, usually "$point_cloud".
            mask: (H, W) boolean array segmenting the target object, usually
                "$segmentation_mask". Its size is the image size used for the projection.
            focal_length_px: Camera focal length in pixels (square pixels), usually
                "$focal_length_px".
        """
        points = _point_cloud(point_cloud)
        mask_array = _mask(mask)
        focal = _focal(focal_length_px)
        height, width = mask_array.shape
        principal = _principal_point(ctx, width, height)
        index, flat = self._project(point_cloud, points, focal, width, height, principal)
        selected = points[index[mask_array.reshape(-1)[flat]]]
        if len(selected) == 0:
            raise ToolError(
                f"Mask removed all points (total {len(points)}, kept 0). Check intrinsics and mask alignment."
            )
        if len(selected) < MIN_BOX_POINTS:
            raise ToolError(
                f"Only {len(selected)} of {len(points)} points fall inside the mask; a 3D box needs at "
                f"least {MIN_BOX_POINTS}. Segment a larger part of the object."
            )
        corners, extent = self._fit(point_cloud, mask, (focal, width, height, principal), selected)
        corners_2d = project(corners, focal, width, height, principal)
        edges = list(BOX_EDGES)
        volume = box_volume(extent)
        text = (
            f"Oriented bounding box computed from {len(selected)}/{len(points)} points."
            f"Corners in 3D: {_rounded(corners)}\n"
            f"Corners in normalized image coordinates: {_rounded(corners_2d)}\n"
            f"Edges: {edges}\n"
            f"Extent: {_rounded(extent)}\n"
            f"Volume: {volume:.3f}\n"
        )
        return ToolResult(
            ok=True,
            text=text,
            variables={"obb_corners_3d": corners, "obb_corners_2d": corners_2d, "edges": edges},
            data={"corners_3d": corners, "corners_2d": corners_2d, "extent": extent, "volume": volume,
                  "num_points": len(selected)},
        )


    def _project(
        self, original: Any, points: np.ndarray, focal: float, width: int, height: int,
        principal: tuple[float, float] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pixels of the cloud's points, cached for read-only clouds such as the stored $point_cloud.

        A read-only array cannot change under the cache, and the depth tool hands out the same
        read-only cloud for every call on an image, so repeated boxes (GRPO groups replay the
        same item) skip re-projecting hundreds of thousands of points.
        """
        key = (focal, width, height, principal)
        cacheable = isinstance(original, np.ndarray) and not original.flags.writeable
        if cacheable:
            entry = self._projections.get(id(original))
            if entry is not None and entry[0]() is original and entry[1] == key:
                return entry[2]
        projection = image_pixels_of_points(points, focal, width, height, principal)
        if cacheable:
            if len(self._projections) >= _PROJECTION_CACHE_SIZE:
                self._projections.pop(next(iter(self._projections)))
            self._projections[id(original)] = (weakref.ref(original), key, projection)
        return projection

    def _fit(self, cloud: Any, mask: Any, key: tuple[Any, ...], selected: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The box of ``selected``, cached when the cloud and the mask are read-only arrays.

        Stored variables are such arrays, so a repeated box (GRPO groups replay an item; a model
        re-asks) costs nothing; a box of a table-sized mask (200,000+ points) costs ~0.1 s.
        Copies are returned, so the results of two calls never share arrays.
        """
        arrays = (cloud, mask)
        cacheable = all(isinstance(a, np.ndarray) and not a.flags.writeable for a in arrays)
        ident = (id(cloud), id(mask))
        entry = self._boxes.get(ident) if cacheable else None
        if entry is not None and all(r() is a for r, a in zip(entry[0], arrays, strict=True)) and entry[1] == key:
            corners, extent = entry[2]
        else:
            corners, extent = minimal_oriented_box(selected)
            if cacheable:
                if len(self._boxes) >= _PROJECTION_CACHE_SIZE:
                    self._boxes.pop(next(iter(self._boxes)))
                self._boxes[ident] = ((weakref.ref(cloud), weakref.ref(mask)), key, (corners, extent))
        return corners.copy(), extent.copy()


__all__ = ["MIN_BOX_POINTS", "BoundingBoxOracle"]
