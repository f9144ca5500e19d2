"""What to draw for a tool result or an answer: shapes in normalized image coordinates.

One extraction, two renderers: :mod:`spacetools_env.drawing` rasterizes shapes onto an image (the
demo, ``render``), and the leaderboard's trajectory viewer turns them into SVG. Extraction is by
the *data* a tool returns, not by tool name, so a new backend that returns the same keys is drawn
with no change here:

- ``mask``: an HxW boolean array -> :class:`MaskShape`
- ``corners_2d``: 8 normalized corners (bottom face, then top face) -> :class:`BoxShape`
- ``points``: normalized (x, y) points -> :class:`PointsShape`
- ``grasps``: grasps as 5 normalized keypoints each (centre, left/right finger base, left/right
  finger tip, the BOP-ASK order) -> :class:`GraspShape`

Answers are drawn by their family's ``eval_key``: BOP pose answers as a box, BOP grasp answers as a
grasp, any other answer holding number pairs as points (see :func:`answer_shapes`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tool_backends.geometry import pixel_to_normalized

Point = tuple[float, float]


@dataclass(frozen=True)
class PointsShape:
    points: tuple[Point, ...]
    label: str = ""


@dataclass(frozen=True)
class BoxShape:
    """A projected 3D box: 8 corners whose 12 edges are ``tool_backends.geometry.BOX_EDGES``."""

    corners: tuple[Point, ...]
    label: str = ""


@dataclass(frozen=True)
class GraspShape:
    """A parallel-jaw grasp: centre, left base, right base, left tip, right tip."""

    keypoints: tuple[Point, ...]
    label: str = ""


@dataclass(frozen=True, eq=False)
class MaskShape:
    mask: np.ndarray
    label: str = ""


Shape = PointsShape | BoxShape | GraspShape | MaskShape

_NUMBER = r"-?(?:\d+(?:\.\d+)?|\.\d+)(?:e-?\d+)?"  # no nested optional digits: linear, not quadratic
_PAIR = re.compile(rf"[\[(]\s*({_NUMBER})\s*,\s*({_NUMBER})\s*[\])]")
MAX_ANSWER_SCAN = 20_000
"""Characters of an answer searched for pairs (display only: a 1 MB answer must not stall a page)."""
"""An ``(x, y)`` or ``[x, y]`` number pair, as the BOP-ASK and RoboSpatial answers write them."""


def _pairs(value: Any) -> tuple[Point, ...] | None:
    try:
        array = np.asarray(value, dtype=float).reshape(-1, 2)
    except (TypeError, ValueError):
        return None
    if not np.all(np.isfinite(array)):
        return None
    return tuple((float(x), float(y)) for x, y in array)


def result_shapes(data: Mapping[str, Any] | None, label: str = "") -> list[Shape]:
    """The shapes in one tool result's ``data`` (see the module docstring for the keys)."""
    if not isinstance(data, Mapping):
        return []
    shapes: list[Shape] = []
    mask = data.get("mask")
    if isinstance(mask, np.ndarray) and mask.ndim == 2:
        shapes.append(MaskShape(mask.astype(bool), label))
    corners = _pairs(data.get("corners_2d")) if data.get("corners_2d") is not None else None
    if corners is not None and len(corners) == 8:
        shapes.append(BoxShape(corners, label))
    points = _pairs(data.get("points")) if data.get("points") else None
    if points:
        shapes.append(PointsShape(points, label))
    for grasp in data.get("grasps") or ():
        keypoints = _pairs(grasp)
        if keypoints is not None and len(keypoints) == 5:
            shapes.append(GraspShape(keypoints, label))
    return shapes


def answer_shapes(answer: str | None, eval_key: str | None, size: tuple[int, int] | None = None) -> list[Shape]:
    """The shapes an answer text describes; [] for yes/no, letters, or text with no number pairs.

    Pairs are read as normalized when every coordinate is in [0, 1]; otherwise, given the image
    ``size`` (width, height), as pixels (several benchmarks answer in pixels). Only for display:
    scoring is each family's official scorer.

    >>> answer_shapes("[(0.25, 0.5)]", "robospatial")
    [PointsShape(points=((0.25, 0.5),), label='answer')]
    """
    if not answer:
        return []
    pairs = [(float(x), float(y)) for x, y in _PAIR.findall(answer[:MAX_ANSWER_SCAN])]
    if not pairs:
        return []
    if not all(0.0 <= v <= 1.0 for pair in pairs for v in pair):
        if size is None:
            return []
        width, height = size
        pairs = [pixel_to_normalized(x, y, width, height) for x, y in pairs]
    points = tuple(pairs)
    if eval_key == "boppose" and len(points) == 8:
        return [BoxShape(points, "answer")]
    if eval_key == "bopgrasp" and len(points) == 5:
        return [GraspShape(points, "answer")]
    return [PointsShape(points, "answer")]


def shapes_of(results: Sequence[Mapping[str, Any]]) -> list[Shape]:
    """The shapes of several ``info["tool_results"]`` records, labelled by tool name."""
    return [shape for r in results for shape in result_shapes(r.get("data"), str(r.get("name", "")))]
