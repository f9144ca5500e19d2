"""Geometry behind the tools: image frames, back-projection, oriented 3D boxes, 2D hulls, mask points.

One module per concept:

- :mod:`~tool_backends.geometry.projection`: camera frame <-> pixels (back-projection,
  projection, which pixel a point lands in).
- :mod:`~tool_backends.geometry.boxes`: minimum-volume oriented 3D boxes and their corner order.
- :mod:`~tool_backends.geometry.hulls`: 2D convex hulls, polygon area, clipping, IoU, containment.
- :mod:`~tool_backends.geometry.masks`: a point well inside a mask.
- :mod:`~tool_backends.geometry.frames`: normalized <-> pixel <-> per-mille image coordinates,
  the one place that converts between them (pixel centres one way, truncation the other).

Frames (every function names the one it uses):

- **Camera frame** (OpenCV): metres, x right, y down, z forward (along the optical axis).
- **Pixel coordinates** (continuous): ``(u, v)`` with u along the image width, v down, origin at
  the top-left corner of the image. The intrinsics are a pinhole with fx = fy = ``f`` and the
  principal point at the image centre ``(W / 2, H / 2)``.
- **Normalized image coordinates**: ``(u / W, v / H)`` in [0, 1], origin top-left; this is what
  the model reads and writes.

Everything here is vectorised numpy/scipy; nothing keeps state.
"""

from __future__ import annotations

from tool_backends.geometry.boxes import BOX_EDGES, CAMERA_UP, box_corners, box_volume, minimal_oriented_box
from tool_backends.geometry.frames import (
    Frame,
    format_points,
    normalized_to_pixel,
    pixel_centre_normalized,
    pixel_centres_normalized,
    pixel_index,
    pixel_indices,
    pixel_to_normalized,
    to_normalized,
)
from tool_backends.geometry.hulls import (
    convex_hull_2d,
    convex_polygon_intersection,
    convex_polygon_iou,
    hull_iou,
    point_in_convex_hull,
    polygon_area,
)
from tool_backends.geometry.masks import interior_point
from tool_backends.geometry.projection import (
    backproject,
    image_pixels_of_points,
    mask_pixels_of_points,
    project,
    project_pixels,
)

__all__ = [
    "BOX_EDGES",
    "CAMERA_UP",
    "Frame",
    "backproject",
    "box_corners",
    "box_volume",
    "convex_hull_2d",
    "convex_polygon_intersection",
    "convex_polygon_iou",
    "format_points",
    "hull_iou",
    "image_pixels_of_points",
    "interior_point",
    "mask_pixels_of_points",
    "minimal_oriented_box",
    "normalized_to_pixel",
    "pixel_centre_normalized",
    "pixel_centres_normalized",
    "pixel_index",
    "pixel_indices",
    "pixel_to_normalized",
    "point_in_convex_hull",
    "polygon_area",
    "project",
    "project_pixels",
    "to_normalized",
]
