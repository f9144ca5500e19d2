"""``vision_ops.index_at``: read one value of a stored 2D array at normalized coordinates.

Not a model but a plain array lookup, so the oracle and every other backend compute it the
same way and it takes no noise. Output text, as the original tool prints it::

    Pixel value at (0.500, 0.400) is 1.2000000476837158

Number formatting follows the original exactly: the value is converted to the matching Python
scalar (``.item()``) and printed with ``str``; a float32 depth of 1.2 m therefore prints as
``1.2000000476837158``, a mask value as ``True``, an (H, W, C) array's pixel as a list.

Index rule: ``data[int(v * H), int(u * W)]`` as the original, with exactly 1.0 clamped to the
last row/column (the original raised IndexError there) and coordinates outside [0, 1] rejected
(the original silently wrapped negative ones around to the far edge); the rule is
:func:`~tool_backends.geometry.frames.pixel_index`.

``vision_ops.crop`` and ``vision_ops.zoom`` return an image: a region of a conversation image,
cut out (``crop``, at the source's pixels) or magnified to the source's size (``zoom``). The
original Toolshed kept its image operations (``point_crop``, ``mask_crop``) out of the policy's
tool list, and so do we: they are not in :data:`~tool_backends.backends.DEFAULT_TOOLS`; ask for them
with ``tools=[*DEFAULT_TOOLS, *IMAGE_TOOLS]`` and show their images with ``tool_images=True``. Their
arguments and texts are ours (the original's are unpublished). Bounds: an output image is at most
:data:`MAX_SIDE_PX` pixels a side (and upscaled, nearest neighbour, to at least :data:`MIN_SIDE_PX`
where that cap allows, the smallest image a VLM processor takes), the zoom factor at most
:data:`MAX_ZOOM`, and an episode's conversation at most :data:`MAX_IMAGES` images, those tools returned
:data:`MAX_RETURNED_PIXELS` pixels in all. With
``tool_images=True`` the image joins the conversation as the next image index (question images
first, then tool images in order; the text names the index) and later calls can address it; tool
images carry no ground truth, so oracle pointing, depth and segmentation refuse them while crop
and zoom work on them.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tool_backends.client import CallContext
from tool_backends.declaration import Variable, tool_method
from tool_backends.geometry.frames import normalized_to_pixel, pixel_index, pixel_to_normalized
from tool_backends.oracle.base import OracleToolset
from tool_backends.result import ToolError, ToolResult

MAX_SIDE_PX = 2048
"""Pixels a side of an image ``crop`` or ``zoom`` returns (larger regions are scaled down)."""
MIN_SIDE_PX = 28
"""A returned image is upscaled until its shorter side has this many pixels (Qwen2.5-VL's patch grid)."""
MAX_ZOOM = 8.0
"""Largest ``zoom`` factor."""
MAX_IMAGES = 64
"""Images one episode's conversation may hold with tool images shown (8 turns x 8 calls); a crop past it fails."""
MAX_RETURNED_PIXELS = 32 * 2**20
"""Pixels of all the images tools returned in one episode (32 MP, ~100 MB as RGB); a crop past it fails."""


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return type(value).__name__


class VisionOpsOracle(OracleToolset):
    """``vision_ops.*``: array operations on stored variables (exact in every backend)."""

    namespace = "vision_ops"

    @tool_method
    def index_at(self, ctx: CallContext, data: Variable, u: float, v: float) -> ToolResult:
        """Get the pixel value in the numpy ndarray `data` at the given normalized coordinates (u, v).

        Note the input arguments are called `data`, `u`, `v`. Text output: the value at the given
        coordinates, e.g. the depth in meters when data is $depth_map.

        Args:
            data: A stored 2D array of shape (H, W) such as "$depth_map" or "$segmentation_mask"
                (an (H, W, C) array gives the C values of the pixel).
            u: Normalized x-coordinate in [0, 1] (0 = left edge).
            v: Normalized y-coordinate in [0, 1] (0 = top edge).
        """
        if not isinstance(data, np.ndarray) or data.ndim not in (2, 3):
            raise ToolError(
                f"data must be a 2-D array such as $depth_map, got {_describe(data)}. "
                "Pass a stored variable with the $ syntax, e.g. \"data\": \"$depth_map\""
            )
        for name, value in (("u", u), ("v", v)):
            if not 0.0 <= value <= 1.0:
                raise ToolError(
                    f"{name} must be in [0, 1] (normalized image coordinates, origin top-left), got {value}"
                )
        height, width = data.shape[:2]
        col, row = pixel_index(u, v, width, height)
        value = data[row, col]
        if isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, np.generic):
            value = value.item()
        return ToolResult(
            ok=True,
            text=f"Pixel value at ({u:.3f}, {v:.3f}) is {value}",
            data={"value": value, "pixel": (col, row)},
        )

    @tool_method
    def crop(self, ctx: CallContext, x1: float, y1: float, x2: float, y2: float, image_index: int) -> ToolResult:
        """Crop a rectangular region of an image; the crop is returned as a new image (at most 2048 pixels a side).

        Text output: the region and the size of the new image, and its image_index when tool images are
        shown (question images come first, then tool images in the order they were returned).

        Args:
            x1: Normalized x-coordinate of the region's left edge in [0, 1] (0 = left edge of the image).
            y1: Normalized y-coordinate of the region's top edge in [0, 1] (0 = top edge of the image).
            x2: Normalized x-coordinate of the region's right edge in [0, 1], greater than x1.
            y2: Normalized y-coordinate of the region's bottom edge in [0, 1], greater than y1.
            image_index: 0-based index of an image already present in the conversation. Use this to
                reference an inline image by its order (0 = first, 1 = second, ...).
        """
        image = _source(ctx, image_index)
        _check_region(x1, y1, x2, y2)
        height, width = image.shape[:2]
        left, top = normalized_to_pixel(x1, y1, width, height)
        right, bottom = normalized_to_pixel(x2, y2, width, height)
        box = _pixel_box(left, top, right, bottom, width, height)
        return _image_result(ctx, "Cropped", image_index, image, box, _output_size(box[2] - box[0], box[3] - box[1]))

    @tool_method
    def zoom(self, ctx: CallContext, x: float, y: float, factor: float, image_index: int) -> ToolResult:
        """Zoom into an image around a point; the magnified region is returned as a new image of the same size.

        The new image is at most 2048 pixels a side.

        The region is 1/factor of the image's width and height, centred on (x, y) and moved inside the image
        at its borders. Text output: the region and the size of the new image, and its image_index when tool
        images are shown (question images come first, then tool images in the order they were returned).

        Args:
            x: Normalized x-coordinate of the zoom centre in [0, 1] (0 = left edge).
            y: Normalized y-coordinate of the zoom centre in [0, 1] (0 = top edge).
            factor: Magnification from 1 (the whole image) to 8.
            image_index: 0-based index of an image already present in the conversation. Use this to
                reference an inline image by its order (0 = first, 1 = second, ...).
        """
        image = _source(ctx, image_index)
        _check_unit(("x", x), ("y", y))
        if not 1.0 <= factor <= MAX_ZOOM:
            raise ToolError(f"factor must be from 1 to {MAX_ZOOM:g} (1 = the whole image), got {factor}")
        height, width = image.shape[:2]
        region_w, region_h = max(1, round(width / factor)), max(1, round(height / factor))
        cx, cy = normalized_to_pixel(x, y, width, height)
        left = min(max(0, round(cx - region_w / 2)), width - region_w)
        top = min(max(0, round(cy - region_h / 2)), height - region_h)
        box = (left, top, left + region_w, top + region_h)
        verb = f"Zoomed {factor:g}x at ({x:.3f}, {y:.3f}) into"
        return _image_result(ctx, verb, image_index, image, box, _output_size(width, height))


def _source(ctx: CallContext, image_index: int) -> np.ndarray:
    """The image to cut from, once the episode has room for another tool image."""
    image = ctx.image(image_index)
    if ctx.episode.tool_images and len(ctx.episode.images) >= MAX_IMAGES:
        raise ToolError(
            f"the conversation already holds {len(ctx.episode.images)} images, the most an episode may "
            f"({MAX_IMAGES}); work with the images already in it"
        )
    if image.ndim not in (2, 3) or min(image.shape[:2]) < 1:
        raise ToolError(f"image {image_index} is an array of shape {image.shape}, not an image")
    return image


def _check_unit(*values: tuple[str, float]) -> None:
    for name, value in values:
        if not 0.0 <= value <= 1.0:
            raise ToolError(f"{name} must be in [0, 1] (normalized image coordinates, origin top-left), got {value}")


def _check_region(x1: float, y1: float, x2: float, y2: float) -> None:
    _check_unit(("x1", x1), ("y1", y1), ("x2", x2), ("y2", y2))
    if x2 <= x1 or y2 <= y1:
        raise ToolError(
            f"the region ({x1}, {y1})-({x2}, {y2}) is empty: x2 must be greater than x1 and y2 greater than y1 "
            "(x1, y1 the top-left corner, x2, y2 the bottom-right one)"
        )


def _pixel_box(left: float, top: float, right: float, bottom: float, width: int, height: int) -> tuple[int, ...]:
    """Whole pixels covering a continuous region, at least one pixel a side, inside the image."""
    x0, y0 = min(math.floor(left), width - 1), min(math.floor(top), height - 1)
    return x0, y0, max(min(math.ceil(right), width), x0 + 1), max(min(math.ceil(bottom), height), y0 + 1)


def _output_size(width: int, height: int) -> tuple[int, int]:
    """``width`` x ``height`` scaled into [MIN_SIDE_PX, MAX_SIDE_PX] a side, aspect kept (the cap wins)."""
    scale = max(1.0, MIN_SIDE_PX / min(width, height))
    scale = min(scale, MAX_SIDE_PX / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _resample(image: np.ndarray, box: tuple[int, ...], out_w: int, out_h: int) -> np.ndarray:
    """The box of ``image`` at ``out_w`` x ``out_h``, nearest neighbour (exact and deterministic)."""
    left, top, right, bottom = box
    cols = ((np.arange(out_w) + 0.5) * ((right - left) / out_w)).astype(np.intp)
    rows = ((np.arange(out_h) + 0.5) * ((bottom - top) / out_h)).astype(np.intp)
    # two takes on the region: half the time of one (out_h, out_w) fancy index
    return image[top:bottom, left:right].take(rows, axis=0).take(cols, axis=1)


def _returned_pixels(ctx: CallContext) -> int:
    images = ctx.episode.images
    return sum(im.shape[0] * im.shape[1] for im in images[len(images) - ctx.episode.returned_images:])


def _image_result(
    ctx: CallContext, verb: str, index: int, image: np.ndarray, box: tuple[int, ...], size: tuple[int, int]
) -> ToolResult:
    """The new image, its text (with the image_index it is shown as) and data (region, sizes)."""
    height, width = image.shape[:2]
    out_w, out_h = size
    if ctx.episode.tool_images and _returned_pixels(ctx) + out_w * out_h > MAX_RETURNED_PIXELS:
        raise ToolError(
            f"a {out_w}x{out_h} image would take the images tools returned this episode past "
            f"{MAX_RETURNED_PIXELS:,} pixels; crop a smaller region or work with the images already shown"
        )
    x1, y1 = pixel_to_normalized(box[0], box[1], width, height)
    x2, y2 = pixel_to_normalized(box[2], box[3], width, height)
    new_index = len(ctx.episode.images) if ctx.episode.tool_images else None
    shown = (
        f"shown as image_index {new_index}" if new_index is not None
        else "not shown: tool images are off in this environment (tool_images=False)"
    )
    text = (
        f"{verb} the region ({x1:.3f}, {y1:.3f})-({x2:.3f}, {y2:.3f}) of image {index}: "
        f"a {out_w}x{out_h} image, {shown}."
    )
    data = {"source_image": index, "region": (x1, y1, x2, y2), "pixel_box": tuple(box), "size": (out_w, out_h),
            "image_index": new_index}
    return ToolResult(ok=True, text=text, images=(_resample(image, box, out_w, out_h),), data=data)


__all__ = ["MAX_IMAGES", "MAX_RETURNED_PIXELS", "MAX_SIDE_PX", "MAX_ZOOM", "MIN_SIDE_PX", "VisionOpsOracle"]
