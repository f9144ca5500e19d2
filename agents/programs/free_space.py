"""FreeSpace program: ask the pointer for the vacant region by name, answer with its point.

This is the original RoboSpatial "Vacant" trace: one ``roborefer.detect_one`` whose ``obj_name``
names the region itself ("vacant space to the left of the bowl"; asking for the bare object makes
the pointer land on the object, not on free space), then the answer.
"""

from __future__ import annotations

import re
from collections.abc import Generator

from agents.programs.toolkit import answer, call, first_point, question_match, turn
from tool_backends.geometry import format_points

_QUESTION = re.compile(r"vacant space situated (.+?) the (.+?)\. Your final answer")


def program(question: str) -> Generator[str, list[str], None]:
    phrase, reference = question_match(_QUESTION, question)
    region = f"vacant space {phrase} the {reference}"
    responses = yield turn(
        call("roborefer.detect_one", obj_name=region, image_index=0),
        thought=f"I need free table space {phrase} the {reference}: let me point at that region directly.",
    )
    point = first_point(responses[0])
    yield answer(format_points([point]), thought=f"The {region} is at {point}.")
