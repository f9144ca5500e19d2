"""Building tool-call text and reading tool responses, for scripted tool programs.

A program only ever sees what a model sees: the question and the tool responses' text. These
helpers write calls in the Hermes format and parse the original tools' text templates.
"""

from __future__ import annotations

import json
import re
from collections.abc import Generator
from typing import Any

_FLOAT = r"-?\d+(?:\.\d+)?(?:e-?\d+)?"
_POINT = re.compile(rf"\(\s*({_FLOAT})\s*,\s*({_FLOAT})\s*\)")
_DETECTED = re.compile(r"Detected (\d+) instance\(s\) of '(.*)': (\[.*\])", re.DOTALL)
_PIXEL_VALUE = re.compile(rf"Pixel value at \(.*?\) is ({_FLOAT}|inf|nan)")


class ProgramError(RuntimeError):
    """A tool response did not have the expected form (the program gives up with a fallback answer)."""


def call(name: str, **arguments: Any) -> str:
    """One ``<tool_call>`` block."""
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


def turn(*calls: str, thought: str = "") -> str:
    """An assistant turn: an optional ``<think>`` and the calls."""
    head = f"<think>{thought}</think>\n" if thought else ""
    return head + "\n".join(calls)


def answer(text: str, thought: str = "") -> str:
    head = f"<think>{thought}</think>\n" if thought else ""
    return f"{head}<answer>{text}</answer>"


THOUGHTS = ("default", "decisions")
"""Teacher-thought styles of the programs: ``default`` (the original traces' short thoughts) and
``decisions`` (each decision stated one step from text copied just before it, see :func:`compare_digits`)."""


def check_thoughts(thoughts: str) -> None:
    """Raise ``ValueError`` naming the styles when ``thoughts`` is not one of :data:`THOUGHTS`."""
    if thoughts not in THOUGHTS:
        raise ValueError(f"unknown thoughts style {thoughts!r}; styles: {list(THOUGHTS)}")


def aligned(a: float, b: float, decimals: int) -> tuple[str, str]:
    """``a`` and ``b`` with ``decimals`` decimals, the shorter zero-padded on the left to the same length."""
    left, right = f"{a:.{decimals}f}", f"{b:.{decimals}f}"
    width = max(len(left), len(right))
    return left.zfill(width), right.zfill(width)


def compare_digits(a: str, b: str) -> tuple[str, str]:
    """Compare two aligned non-negative decimals digit by digit from the left, as a student can.

    A small model that copied both numbers cannot see ``0.465 < 0.591`` at once, but it can compare
    two single digits it just wrote; the chain stops at the first digit that differs, so every
    token of it is one step from the text before it.

    Returns:
        ``(chain, sign)``: e.g. ``("4<5", "<")`` or ``("4=4 6>5", ">")``; ``sign`` is ``=`` when equal.

    >>> compare_digits("0.465", "0.591")
    ('4<5', '<')
    >>> compare_digits("1.25", "1.20")
    ('1=1 2=2 5>0', '>')
    """
    steps: list[str] = []
    for x, y in zip(a, b, strict=True):
        if not x.isdigit() or (not steps and x == y == "0"):
            continue  # the point and the shared leading zero carry no decision
        sign = "<" if x < y else ">" if x > y else "="
        steps.append(f"{x}{sign}{y}")
        if sign != "=":
            return " ".join(steps), sign
    return " ".join(steps), "="


def parse_points(text: str) -> list[tuple[float, float]]:
    """All ``(x, y)`` pairs in a text."""
    return [(float(x), float(y)) for x, y in _POINT.findall(text)]


def detected_points(response: str) -> list[tuple[float, float]]:
    """Points of a ``Detected N instance(s) of 'X': [...]`` response.

    Raises:
        ProgramError: the response is an error or has another form.
    """
    match = _DETECTED.search(response)
    if not match:
        raise ProgramError(f"not a detection response: {response[:120]!r}")
    return parse_points(match.group(3))


def first_point(response: str) -> tuple[float, float]:
    points = detected_points(response)
    if not points:
        raise ProgramError(f"nothing detected: {response[:120]!r}")
    return points[0]


def pixel_value(response: str) -> float:
    """The value of a ``Pixel value at (u, v) is val`` response."""
    match = _PIXEL_VALUE.search(response)
    if not match:
        raise ProgramError(f"not an index_at response: {response[:120]!r}")
    return float(match.group(1))


def question_match(pattern: re.Pattern[str], question: str) -> tuple[str, ...]:
    """The groups of ``pattern`` in the question.

    Raises:
        ProgramError: the question does not have the family's form.
    """
    match = pattern.search(question)
    if not match:
        raise ProgramError(f"the question does not match {pattern.pattern!r}: {question[:120]!r}")
    return match.groups()


_BBOX_3D = re.compile(r"Corners in 3D: \[(.*?)\]\]")
_BBOX_2D = re.compile(r"Corners in normalized image coordinates: \[(.*?)\]\]")
_BBOX_EDGES = re.compile(r"Edges: \[(.*?)\]\n")
_NUMBER = re.compile(_FLOAT)


def bbox_corners(response: str) -> tuple[list[tuple[float, ...]], list[tuple[float, ...]], list[tuple[int, int]]]:
    """The 3D corners, 2D corners and edges of a ``bounding_box.compute_bbox`` response.

    Returns:
        ``(corners_3d, corners_2d, edges)``: 8 (x, y, z) in metres (camera frame), 8 normalized
        (x, y), and the pairs of corner indices joined by box edges.

    Raises:
        ProgramError: the response is an error or has another form.
    """
    found = [pattern.search(response) for pattern in (_BBOX_3D, _BBOX_2D, _BBOX_EDGES)]
    if not all(found):
        raise ProgramError(f"not a compute_bbox response: {response[:120]!r}")
    numbers = [[float(v) for v in _NUMBER.findall(m.group(1))] for m in found]  # type: ignore[union-attr]
    if len(numbers[0]) != 24 or len(numbers[1]) != 16 or len(numbers[2]) % 2:
        raise ProgramError(f"compute_bbox response without 8 corners: {response[:120]!r}")
    corners_3d = [tuple(numbers[0][i : i + 3]) for i in range(0, 24, 3)]
    corners_2d = [tuple(numbers[1][i : i + 2]) for i in range(0, 16, 2)]
    edges = [(int(numbers[2][i]), int(numbers[2][i + 1])) for i in range(0, len(numbers[2]), 2)]
    return corners_3d, corners_2d, edges


def depths_at(first: str, second: str) -> Generator[str, list[str], tuple[float, float]]:
    """Sub-program (use with ``yield from``): locate two things, read the depth map at both.

    The original BLINK / CV-Bench depth trace: ``estimate_depth`` and two ``detect_one`` calls in
    one turn, then two ``index_at`` reads. Returns the two depths in metres.
    """
    responses = yield turn(
        call("roborefer.detect_one", obj_name=first, image_index=0),
        call("roborefer.detect_one", obj_name=second, image_index=0),
        call("depth_estimator.estimate_depth", image_index=0),
        thought=f"I need the distance to the camera of the {first} and the {second}: locate both, then read the "
        "depth map there.",
    )
    a, b = first_point(responses[0]), first_point(responses[1])
    responses = yield turn(
        call("vision_ops.index_at", data="$depth_map", u=a[0], v=a[1]),
        call("vision_ops.index_at", data="$depth_map", u=b[0], v=b[1]),
    )
    return pixel_value(responses[0]), pixel_value(responses[1])
