"""Building tool-call text and reading tool responses, for scripted tool programs.

A program only ever sees what a model sees: the question and the tool responses' text. These
helpers write calls in the Hermes format and parse the original tools' text templates.
"""

from __future__ import annotations

import json
import re
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
