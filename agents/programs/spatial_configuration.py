"""SpatialConfiguration program: point at both objects; compare columns, or depths for front/behind.

The original RoboSpatial trace is two pointing calls, then the answer; front/behind questions
also read the depth map at both points (the step the released policy was seen to skip). With
``thoughts="decisions"`` the last thought compares the deciding numbers digit by digit, names the
relation found and checks it against the one asked (``x: 0.451 vs 0.665; 4<6; so to the left of;
asked to the left of: Yes``).
"""

from __future__ import annotations

import re
from collections.abc import Generator

from agents.programs.toolkit import (
    aligned,
    answer,
    call,
    check_thoughts,
    compare_digits,
    depths_at,
    first_point,
    question_match,
    turn,
)

_QUESTION = re.compile(r"Is the (.+?) (to the left of|to the right of|in front of|behind) the (.+?)\? Answer yes or no")


def program(question: str, thoughts: str = "default") -> Generator[str, list[str], None]:
    check_thoughts(thoughts)
    subject, relation, reference = question_match(_QUESTION, question)
    detect = [call("roborefer.detect_one", obj_name=name, image_index=0) for name in (subject, reference)]
    if relation in ("to the left of", "to the right of"):
        responses = yield turn(*detect, thought=f"I need where the {subject} and the {reference} are in the image.")
        (xs, _), (xr, _) = first_point(responses[0]), first_point(responses[1])
        if thoughts == "decisions":
            yield _decided("x", *aligned(xs, xr, 3), relation, ("to the left of", "to the right of"))
            return
        holds = xs < xr if relation == "to the left of" else xs > xr
        thought = f"The {subject} is at x={xs:.3f}, the {reference} at x={xr:.3f}."
        yield answer("Yes" if holds else "No", thought=thought)
        return
    ds, dr = yield from depths_at(subject, reference)
    if thoughts == "decisions":
        yield _decided("depth", *aligned(ds, dr, 2), relation, ("in front of", "behind"))
        return
    holds = ds < dr if relation == "in front of" else ds > dr
    yield answer("Yes" if holds else "No", thought=f"The {subject} is {ds:.2f} m away and the {reference} {dr:.2f} m.")


def _decided(quantity: str, a: str, b: str, asked: str, relations: tuple[str, str]) -> str:
    """The answer turn whose thought decides from the printed digits: the relation found, then the check."""
    chain, sign = compare_digits(a, b)
    found = relations[0] if sign == "<" else relations[1]
    verdict = "Yes" if found == asked else "No"
    return answer(verdict, thought=f"{quantity}: {a} vs {b}; {chain}; so {found}; asked {asked}: {verdict}.")
