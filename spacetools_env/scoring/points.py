"""Point parsers of the official pointing scorers: RoboSpatial, RoboRefer/RoboPoint, Gemini, Molmo.

Every parser is linear-time and never raises. Two families:

- :func:`parse_first_point_robospatial` returns the first point as floats in the model's own
  frame (RoboSpatial compares it directly with normalized GT).
- the RefSpatial-Bench / Where2Place parsers return :class:`PixelPoints` in the mask's pixel
  frame, or None when the official parser would raise (the official loop then *skips* the
  sample). Boxes are kept as rectangles rather than expanded, so a huge box cannot exhaust memory;
  :func:`spacetools_env.scoring.score_mask_points` counts every pixel of a box exactly as the
  official expansion does.
"""

from __future__ import annotations

import functools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from spacetools_env.scoring._common import UNSIGNED_NUMBER, check_option, guarded_literal_eval

PointFormat = Literal["tuple_relative", "tuple_absolute", "molmo_xml", "gemini_json"]
POINT_FORMATS: tuple[str, ...] = ("tuple_relative", "tuple_absolute", "molmo_xml", "gemini_json")

_N = UNSIGNED_NUMBER
_RS_TUPLE = re.compile(rf"\(\s*+({_N})\s*+,\s*+({_N})\s*+\)")
_RS_LIST = re.compile(rf"\[\s*+({_N})\s*+,\s*+({_N})\s*+\]")
_COMMA_NO_SPACE = re.compile(r",(\S)")
# RoboRefer/RoboPoint ``text2pts``: every "( n, n, ... )" group of signed numbers.
_TUPLE_GROUP = re.compile(rf"\(([-+]?{_N}(?:,\s*+[-+]?{_N})*+)\)")
# RoboRefer ``xml2pts``: numbered attribute pairs only (x1="..." y1="...").
_MOLMO_PAIR = re.compile(rf'(x\d++)="(-?{_N})"\s++(y\d++)="(-?{_N})"')
# RoboRefer ``json2pts``: the first fenced block.
_FENCE = re.compile(r"```(?:\w++)?+\n(.*?)```", re.DOTALL)

# Pixel coordinates are stored as int64; anything beyond this is ~10^8 image widths away and is
# clamped (the official numpy code would overflow or crash on such values).
_COORD_LIMIT = 2**40

_EMPTY_POINTS = np.zeros((0, 2), dtype=np.int64)
_EMPTY_BOXES = np.zeros((0, 4), dtype=np.int64)


@dataclass(frozen=True, eq=False)
class PixelPoints:
    """Parsed prediction in the pixel frame of the mask it will be scored against.

    Attributes:
        points: ``(N, 2)`` int64 ``(x, y)`` pixels, duplicates kept (each counts once in the mean).
        boxes: ``(M, 4)`` int64 ``(x0, y0, x1, y1)``: every pixel ``x0 <= x < x1``,
            ``y0 <= y < y1`` counts as one point (RoboRefer/RoboPoint expand 4-tuples this way).
    """

    points: np.ndarray = field(default_factory=lambda: _EMPTY_POINTS)
    boxes: np.ndarray = field(default_factory=lambda: _EMPTY_BOXES)

    @property
    def count(self) -> int:
        """Number of scored pixels: points plus every pixel of every box."""
        widths = self.boxes[:, 2].astype(object) - self.boxes[:, 0].astype(object)
        heights = self.boxes[:, 3].astype(object) - self.boxes[:, 1].astype(object)
        return len(self.points) + int(sum(widths * heights))


def parse_first_point_robospatial(text: str) -> tuple[float, float] | None:
    """First predicted point, exactly as ``chanhee-luke/RoboSpatial-Eval:evaluation.py`` finds it.

    a. the first ``(num, num)`` anywhere, numbers matching ``\\d+\\.?\\d*`` (so no sign, no
       ``.5``, no exponent);
    b. else the first ``[num, num]``;
    c. else the first ``[...]`` block (up to the first ``]``): a space is put after every comma,
       a trailing comma dropped, and ``[`` + block + ``]`` literal-parsed. A flat pair of numbers
       is the point; else the first item if it is a tuple, or a 2-item list; a block that does not
       parse falls back to its first ``(num, num)``. Blocks over 20,000 characters are treated as
       not parsing (our guard; the official code has none);
    d. else None (unparsable, scored wrong).

    >>> parse_first_point_robospatial("[(0.25, 0.5), (0.1, 0.2)]")
    (0.25, 0.5)
    >>> parse_first_point_robospatial("[1e-1, .2]")
    (0.1, 0.2)
    """
    if not isinstance(text, str):
        return None
    for pattern in (_RS_TUPLE, _RS_LIST):
        match = pattern.search(text)
        if match:
            return float(match.group(1)), float(match.group(2))
    return _first_point_from_block(text)


def _first_point_from_block(text: str) -> tuple[float, float] | None:
    start = text.find("[")
    end = text.find("]", start + 1) if start >= 0 else -1
    if end < 0:
        return None
    content = _COMMA_NO_SPACE.sub(r", \1", text[start + 1 : end]).strip()
    if content.endswith(","):
        content = content[:-1]
    try:
        value = guarded_literal_eval(f"[{content}]")
    except (SyntaxError, ValueError):
        match = _RS_TUPLE.search(content)
        return (float(match.group(1)), float(match.group(2))) if match else None
    except Exception:  # upstream's outer `except Exception`: unparsable, no tuple fallback
        return None
    if not isinstance(value, list) or not value:
        return None
    if len(value) == 2 and all(isinstance(v, int | float) for v in value):
        point: Any = tuple(value)
    elif isinstance(value[0], tuple):
        point = value[0]
    elif isinstance(value[0], list) and len(value[0]) == 2:
        point = tuple(value[0])
    else:
        return None
    if len(point) != 2:
        return None
    try:
        return float(point[0]), float(point[1])
    except (TypeError, ValueError, OverflowError):
        return None


def _number(token: str) -> int | float:
    """RoboRefer's token rule: a "." makes a float, otherwise an int (raises on >4300 digits)."""
    return float(token) if "." in token else int(token)


def _pixel(value: float | int) -> int:
    return max(-_COORD_LIMIT, min(_COORD_LIMIT, int(value)))


def _scale(value: int | float, size: int) -> int:
    return int(value * size)


def _roborefer_item(vector: list[int | float], width: int, height: int, absolute: bool) -> tuple | None:
    """One parsed tuple of ``Evaluation/summarize_acc.py`` ``text2pts``; raises where it raises."""
    if len(vector) == 2:
        x, y = vector
        if not absolute and (isinstance(x, float) or isinstance(y, float)):
            x, y = _scale(x, width), _scale(y, height)
        if isinstance(x, float) or isinstance(y, float):
            # Absolute mode keeps floats, and upstream then crashes indexing the mask with them.
            raise TypeError("float pixel coordinates in absolute mode")
        return ("point", (x, y))
    if len(vector) == 4:
        x0, y0, x1, y1 = vector
        if not absolute:
            x0, y0, x1, y1 = _scale(x0, width), _scale(y0, height), _scale(x1, width), _scale(y1, height)
        if not all(isinstance(v, int) for v in (x0, y0, x1, y1)):
            raise TypeError("np.ones needs integer box sizes")
        if x1 < x0 or y1 < y0:
            raise ValueError("negative box dimensions")  # np.ones((y1 - y0, x1 - x0)) raises
        return ("box", (x0, y0, x1, y1))
    return None  # other lengths are ignored upstream


def _robopoint_item(vector: list[int | float], width: int, height: int) -> tuple | None:
    """One parsed tuple of ``robopoint/eval/summarize_vqa.py`` ``text2pts``; raises where it raises."""
    if len(vector) == 2:
        return _roborefer_item(vector, width, height, absolute=False)
    if len(vector) == 4:
        x0, y0, x1, y1 = vector
        if isinstance(x0, float):  # only x0 decides whether the box is scaled
            x0, y0, x1, y1 = _scale(x0, width), _scale(y0, height), _scale(x1, width), _scale(y1, height)
        # Spelled out (not all(...)) so the type checker sees four ints below.
        if not (isinstance(x0, int) and isinstance(y0, int) and isinstance(x1, int) and isinstance(y1, int)):
            raise TypeError("slice indices must be integers")
        # mask = zeros((height, width)); mask[y0:y1, x0:x1] = 1: numpy slicing semantics, so
        # negative indices wrap and the box is clipped to the width x height frame.
        cols, rows = range(width)[x0:x1], range(height)[y0:y1]
        if not cols or not rows:
            return ("box", (0, 0, 0, 0))
        return ("box", (cols.start, rows.start, cols.stop, rows.stop))
    return None


def _collect(
    groups: Iterable[tuple[str, int]], make: Callable[[list[int | float]], tuple | None], first_only: bool
) -> PixelPoints:
    """Parse ``(group, multiplicity)`` pairs one by one with the exact upstream rules."""
    points: list[tuple[int, ...]] = []  # (x, y) pairs
    point_counts: list[int] = []
    boxes: list[tuple[int, ...]] = []  # (x0, y0, x1, y1)
    box_counts: list[int] = []
    for group, count in groups:
        item = make([_number(token) for token in group.split(",")])
        if item is None:
            continue
        kind, coords = item
        target, counts = (points, point_counts) if kind == "point" else (boxes, box_counts)
        target.append(tuple(_pixel(v) for v in coords))
        counts.append(count)
        if first_only:
            break
    return PixelPoints(
        points=np.repeat(np.array(points, dtype=np.int64).reshape(-1, 2), point_counts, axis=0),
        boxes=np.repeat(np.array(boxes, dtype=np.int64).reshape(-1, 4), box_counts, axis=0),
    )


def _pairs_fast(
    pairs: list[str], counts: list[int], width: int, height: int, absolute: bool
) -> np.ndarray | None:
    """The 2-tuple rule vectorised; None when a token is too long for float64 to be exact.

    Ints of at most 15 characters are exact in float64, and ``trunc(x * width)`` in float64 is the
    same IEEE operation as Python's ``int(x * width)`` on a float.
    """
    if not pairs:
        return _EMPTY_POINTS
    tokens = ",".join(pairs).split(",")
    if max(map(len, tokens)) > 15:
        return None
    values = np.fromiter(map(float, tokens), dtype=np.float64, count=len(tokens))
    has_dot = np.fromiter(("." in token for token in tokens), dtype=bool, count=len(tokens))
    xs, ys = values[0::2], values[1::2]
    scaled = has_dot[0::2] | has_dot[1::2]
    if absolute and scaled.any():
        raise TypeError("float pixel coordinates in absolute mode")
    if not absolute:
        xs = np.where(scaled, np.trunc(xs * width), xs)
        ys = np.where(scaled, np.trunc(ys * height), ys)
    limit = float(_COORD_LIMIT)
    pixels = np.clip(np.stack([xs, ys], axis=1), -limit, limit).astype(np.int64)
    return np.repeat(pixels, counts, axis=0)


def _parse_groups(
    groups: list[str],
    make: Callable[[list[int | float]], tuple | None],
    first_only: bool,
    fast: Callable[[list[str], list[int]], np.ndarray | None],
) -> PixelPoints:
    """All groups of one answer: each distinct group parsed once, 2-tuples vectorised."""
    if first_only:
        return _collect(((group, 1) for group in groups), make, first_only=True)
    counted = Counter(groups)  # megabytes of a repeated point collapse to one entry
    pairs: list[str] = []
    others: list[tuple[str, int]] = []
    for group, count in counted.items():
        if group.count(",") == 1:
            pairs.append(group)
        else:
            others.append((group, count))
    fast_points = fast(pairs, [counted[group] for group in pairs])
    if fast_points is None:
        return _collect(counted.items(), make, first_only=False)
    rest = _collect(others, make, first_only=False)
    return PixelPoints(points=np.concatenate([fast_points, rest.points]), boxes=rest.boxes)


def parse_points_tuples(
    text: str,
    width: int,
    height: int,
    *,
    absolute: bool = False,
    variant: Literal["roborefer", "robopoint"] = "roborefer",
    first_only: bool = False,
) -> PixelPoints | None:
    """RoboRefer / RoboPoint ``text2pts``: every ``( ... )`` group of comma-separated numbers.

    Sources: ``Zhoues/RoboRefer:Evaluation/summarize_acc.py`` (``variant="roborefer"``, RefSpatial-
    Bench) and ``wentaoyuan/RoboPoint:robopoint/eval/summarize_vqa.py`` (``"robopoint"``,
    Where2Place). A token with a "." is a float, otherwise an int.

    - 2-tuple: a point. If *either* coordinate is a float, both are scaled by ``width``/``height``
      and truncated with ``int()``; pure-int tuples are already pixels. ``absolute=True`` (the
      RoboBrain/Qwen mode) never scales; a float coordinate there crashes upstream, here the
      sample is unparsable (None).
    - 4-tuple: a box ``(x0, y0, x1, y1)`` expanded to every pixel ``x0..x1-1 x y0..y1-1``.
      RoboRefer scales it whenever not absolute; a negative size raises upstream (-> None).
      RoboPoint scales it only when ``x0`` is a float and clips it to the frame with numpy
      slicing (negative indices wrap); a non-int after that raises upstream (-> None).
    - other lengths are ignored.

    Args:
        text: the answer text.
        width, height: the frame for scaling (RefSpatial: the mask's size; Where2Place: the
            upstream default 640 x 480 whatever the mask).
        absolute: RefSpatial's absolute-pixel mode.
        variant: ``"roborefer"`` or ``"robopoint"``.
        first_only: keep only the first parsed point or box (the **UNVERIFIED** SpaceTools
            reading of RefSpatial, see :func:`score_refspatial_mask`).

    Returns:
        :class:`PixelPoints`, or None where the official parser raises (the sample is skipped).
    """
    check_option("variant", variant, ("roborefer", "robopoint"))
    if variant == "robopoint" and absolute:
        raise ValueError(
            "RoboPoint's text2pts has no absolute mode; use variant='roborefer' with absolute=True."
        )
    if not isinstance(text, str):
        return None
    make: Callable[[list[int | float]], tuple | None]
    if variant == "robopoint":
        make = functools.partial(_robopoint_item, width=width, height=height)
    else:
        make = functools.partial(_roborefer_item, width=width, height=height, absolute=absolute)
    fast = functools.partial(_pairs_fast, width=width, height=height, absolute=absolute)
    try:
        return _parse_groups(_TUPLE_GROUP.findall(text), make, first_only, fast)
    except (ValueError, TypeError, OverflowError, MemoryError):
        return None


def parse_points_molmo(text: str, width: int, height: int, *, first_only: bool = False) -> PixelPoints | None:
    """RoboRefer ``xml2pts`` for Molmo: ``x<k>="..." y<k>="..."`` percent pairs -> pixels.

    ``x = int(float(v) / 100 * width)``. Only *numbered* attributes match (``x1=``), so a
    single ``<point x="..." y="...">`` yields no points (score 0, not skipped). Returns None where
    upstream raises (an infinite value).
    """
    if not isinstance(text, str):
        return None
    pairs = _MOLMO_PAIR.findall(text)
    counted = Counter((x, y) for _, x, _, y in (pairs[:1] if first_only else pairs))
    try:
        found = [(int(float(x) / 100 * width), int(float(y) / 100 * height)) for x, y in counted]
    except (ValueError, OverflowError):
        return None
    return PixelPoints(points=_points_array(found, list(counted.values())))


def parse_points_gemini(
    text: str, width: int, height: int, *, first_only: bool = False
) -> PixelPoints | None:
    """RoboRefer ``json2pts`` for Gemini: a fenced JSON list of ``{"point": [y, x]}``, 0-1000.

    Note the **[y, x]** order: ``x = int(x / 1000 * width)``, ``y = int(y / 1000 * height)``.
    No fenced block, or JSON that does not decode, gives no points (score 0). Anything that raises
    upstream (a non-dict item such as a number, non-numeric coordinates, deep nesting, infinite
    values) gives None (skipped).
    """
    if not isinstance(text, str):
        return None
    match = _FENCE.search(text)
    if not match:
        return PixelPoints()
    try:
        data = json.loads(match.group(1).strip())
    except json.JSONDecodeError:
        return PixelPoints()
    except (ValueError, RecursionError, MemoryError):
        return None
    found: list[tuple[int, int]] = []
    try:
        for item in data:
            if "point" in item and isinstance(item["point"], list) and len(item["point"]) == 2:
                y_norm, x_norm = item["point"]
                found.append((int(x_norm / 1000 * width), int(y_norm / 1000 * height)))
                if first_only:
                    break
    except (TypeError, ValueError, OverflowError, KeyError, IndexError, RecursionError):
        return None
    return PixelPoints(points=_points_array(found, [1] * len(found)))


def _points_array(points: list[tuple[int, int]], counts: list[int]) -> np.ndarray:
    clamped = [(_pixel(x), _pixel(y)) for x, y in points]
    return np.repeat(np.array(clamped, dtype=np.int64).reshape(-1, 2), counts, axis=0)


def parse_points(
    text: str,
    width: int,
    height: int,
    point_format: PointFormat = "tuple_relative",
    *,
    first_only: bool = False,
) -> PixelPoints | None:
    """Dispatch to the RefSpatial-Bench parser for ``point_format`` (RoboRefer picks it by model name).

    ``"tuple_relative"``: RoboPoint/Claude/GPT-4o/RoboRefer (and SpaceTools); ``"tuple_absolute"``:
    RoboBrain/Qwen; ``"molmo_xml"``: Molmo; ``"gemini_json"``: Gemini.

    Raises:
        ValueError: unknown ``point_format``.
    """
    check_option("point_format", point_format, POINT_FORMATS)
    if point_format == "molmo_xml":
        return parse_points_molmo(text, width, height, first_only=first_only)
    if point_format == "gemini_json":
        return parse_points_gemini(text, width, height, first_only=first_only)
    absolute = point_format == "tuple_absolute"
    return parse_points_tuples(text, width, height, absolute=absolute, first_only=first_only)
