"""Depth3D program: depth map, point at both boxed objects, read the depth there, pick the closer.

This is the original CV-Bench 3D trace: depth + two pointing calls, then two ``index_at`` reads.
"""

from __future__ import annotations

import re
from collections.abc import Generator

from agents.programs.toolkit import answer, depths_at, question_match

_QUESTION = re.compile(
    r"taking this photo, the (.+?) \(highlighted by a red box\) or the (.+?) \(highlighted by a blue box\)"
)


def program(question: str) -> Generator[str, list[str], None]:
    first, second = question_match(_QUESTION, question)
    depth_a, depth_b = yield from depths_at(first, second)
    yield answer(
        "A" if depth_a < depth_b else "B",
        thought=f"The {first} is {depth_a:.2f} m away and the {second} is {depth_b:.2f} m away.",
    )
