"""Drawing on images: question markers (BLINK-style labelled circles, CV-Bench boxes) and tool results.

All coordinates are normalized (x, y) in [0, 1], origin top-left; drawing never mutates its input.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from spacetools_env.overlays import BoxShape, GraspShape, MaskShape, PointsShape, Shape, shapes_of
from tool_backends.geometry import BOX_EDGES, normalized_to_pixel

Color = tuple[int, int, int]
RED: Color = (230, 30, 30)
BLUE: Color = (30, 80, 230)
GREEN: Color = (20, 200, 60)
YELLOW: Color = (250, 210, 0)


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has no sized default font
        return ImageFont.load_default()


# Pillow's default FreeType font (Aileron) draws a space 2 px wide at caption sizes, so captions
# read "fitontopof"; these system fonts space words normally.
_TEXT_FONTS = ("DejaVuSans.ttf", "LiberationSans-Regular.ttf", "Arial.ttf")


def text_font(size: int = 13) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    """A font for running text (captions, legends) whose spaces are a third of an ``n`` or wider.

    The first of :data:`_TEXT_FONTS` found, else Pillow's bitmap font (fixed width, so its
    spaces are whole characters).
    """
    for name in _TEXT_FONTS:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default_imagefont()


def _px(image: Image.Image, xy: Sequence[float]) -> tuple[float, float]:
    return normalized_to_pixel(float(xy[0]), float(xy[1]), image.width, image.height)


def draw_labelled_circles(
    image: np.ndarray, points: Sequence[tuple[str, Sequence[float]]], color: Color = RED
) -> np.ndarray:
    """BLINK-style markers: a ring around each point and its label beside it."""
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    radius = max(6, canvas.height // 48)
    font = _font(max(12, canvas.height // 24))
    for label, xy in points:
        x, y = _px(canvas, xy)
        ring = max(2, radius // 3)
        # a white halo keeps the marker visible on objects of the marker's own colour
        halo = radius + ring
        draw.ellipse((x - halo, y - halo, x + halo, y + halo), outline=(255, 255, 255), width=ring)
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), outline=color, width=ring)
        draw.text(
            (x + radius + 2, y - 2 * radius), label, fill=color, font=font, stroke_width=2, stroke_fill=(255, 255, 255)
        )
    return np.asarray(canvas)


def draw_rectangles(image: np.ndarray, boxes: Sequence[tuple[Sequence[float], Color]], width: int = 3) -> np.ndarray:
    """Axis-aligned boxes ``(x0, y0, x1, y1)`` normalized, each with its colour (CV-Bench style)."""
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    for box, color in boxes:
        x0, y0 = _px(canvas, box[:2])
        x1, y1 = _px(canvas, box[2:])
        draw.rectangle((x0, y0, x1, y1), outline=color, width=width)
    return np.asarray(canvas)


def outline_mask(image: np.ndarray, mask: np.ndarray, color: Color = GREEN, width: int = 2) -> np.ndarray:
    """Draw the mask's boundary, ``width`` pixels wide, inside it; the object keeps its own colours.

    A filled tint would repaint the object (a purple cylinder shown green), and colour is what
    many questions ask about.
    """
    mask = np.asarray(mask, dtype=bool)
    interior = mask.copy()
    for _ in range(max(1, width)):
        # 4-neighbour erosion; pixels on the image border count as boundary
        padded = np.pad(interior, 1, constant_values=False)
        interior = (
            interior & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
        )
    out = image.copy()
    out[mask & ~interior] = color
    return out


def draw_points(
    image: np.ndarray, points: Iterable[Sequence[float]], color: Color = YELLOW, radius: int | None = None
) -> np.ndarray:
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    r = radius or max(4, canvas.height // 80)
    for xy in points:
        x, y = _px(canvas, xy)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=color, outline=(0, 0, 0), width=1)
    return np.asarray(canvas)


def draw_box_corners(image: np.ndarray, corners: Sequence[Sequence[float]], color: Color = BLUE) -> np.ndarray:
    """The 12 edges of a projected 3D box given its 8 normalized corners (bottom face, then top)."""
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    pts = [_px(canvas, c) for c in corners]
    if len(pts) == 8:
        for i, j in BOX_EDGES:
            draw.line((pts[i], pts[j]), fill=color, width=2)
    return np.asarray(canvas)


def draw_grasp(image: np.ndarray, keypoints: Sequence[Sequence[float]], color: Color = RED) -> np.ndarray:
    """A parallel-jaw grasp from its 5 normalized keypoints (centre, left/right base, left/right tip)."""
    canvas = Image.fromarray(image)
    draw = ImageDraw.Draw(canvas)
    centre, left_base, right_base, left_tip, right_tip = (_px(canvas, k) for k in keypoints)
    for a, b in ((left_base, right_base), (left_base, left_tip), (right_base, right_tip)):
        draw.line((a, b), fill=color, width=3)
    r = max(3, canvas.height // 120)
    draw.ellipse((centre[0] - r, centre[1] - r, centre[0] + r, centre[1] + r), fill=color)
    return np.asarray(canvas)


SHAPE_COLORS: dict[type, Color] = {MaskShape: GREEN, BoxShape: BLUE, GraspShape: RED, PointsShape: YELLOW}
"""The colour of each kind of tool result (what a picture's legend names)."""


def draw_shapes(image: np.ndarray, shapes: Iterable[Shape], color: Color | None = None) -> np.ndarray:
    """Rasterize :mod:`spacetools_env.overlays` shapes: masks (outlined) first, then boxes, grasps and points.

    Args:
        image: HxWx3 uint8; not modified.
        shapes: What to draw.
        color: One colour for every shape (an answer); None: :data:`SHAPE_COLORS` by kind.
    """
    out = image
    ordered = sorted(shapes, key=lambda s: not isinstance(s, MaskShape))
    for shape in ordered:
        shape_color = color or SHAPE_COLORS[type(shape)]
        if isinstance(shape, MaskShape):
            if shape.mask.shape == image.shape[:2]:
                out = outline_mask(out, shape.mask, shape_color)
        elif isinstance(shape, BoxShape):
            out = draw_box_corners(out, shape.corners, shape_color)
        elif isinstance(shape, GraspShape):
            out = draw_grasp(out, shape.keypoints, shape_color)
        else:
            out = draw_points(out, shape.points, shape_color)
    return out


def draw_tool_results(image: np.ndarray, results: Iterable[dict[str, Any]]) -> np.ndarray:
    """Draw what tools returned (``info["tool_results"]`` records): masks, boxes, grasps, points."""
    return draw_shapes(image, shapes_of(list(results)))
