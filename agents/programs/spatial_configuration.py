"""SpatialConfiguration program: point at both objects; compare columns, or depths for front/behind.

The original RoboSpatial trace is two pointing calls, then the answer; front/behind questions
also read the depth map at both points (the step the released policy was seen to skip).
"""

from __future__ import annotations

import re
from collections.abc import Generator

from agents.programs.toolkit import answer, call, depths_at, first_point, question_match, turn

_QUESTION = re.compile(r"Is the (.+?) (to the left of|to the right of|in front of|behind) the (.+?)\? Answer yes or no")


def program(question: str) -> Generator[str, list[str], None]:
    subject, relation, reference = question_match(_QUESTION, question)
    detect = [call("roborefer.detect_one", obj_name=name, image_index=0) for name in (subject, reference)]
    if relation in ("to the left of", "to the right of"):
        responses = yield turn(*detect, thought=f"I need where the {subject} and the {reference} are in the image.")
        (xs, _), (xr, _) = first_point(responses[0]), first_point(responses[1])
        holds = xs < xr if relation == "to the left of" else xs > xr
        thought = f"The {subject} is at x={xs:.3f}, the {reference} at x={xr:.3f}."
        yield answer("Yes" if holds else "No", thought=thought)
        return
    ds, dr = yield from depths_at(subject, reference)
    holds = ds < dr if relation == "in front of" else ds > dr
    yield answer("Yes" if holds else "No", thought=f"The {subject} is {ds:.2f} m away and the {reference} {dr:.2f} m.")
