"""RefLocation program: point with the referring expression itself, answer with that point.

This is the original RefSpatial trace (one ``roborefer.detect_one`` with the expression, then
the answer), used by 100% of the original model's RefSpatial samples.
"""

from __future__ import annotations

import re
from collections.abc import Generator

from agents.programs.toolkit import answer, call, first_point, question_match, turn
from tool_backends.geometry import format_points

_QUESTION = re.compile(r"Please point out (.+?)\. Your answer should")


def program(question: str) -> Generator[str, list[str], None]:
    (expression,) = question_match(_QUESTION, question)
    responses = yield turn(
        call("roborefer.detect_one", obj_name=expression, image_index=0),
        thought=f"I need {expression}; the pointing tool can resolve the whole expression.",
    )
    point = first_point(responses[0])
    yield answer(format_points([point]), thought=f"{expression[:1].upper()}{expression[1:]} is at {point}.")
