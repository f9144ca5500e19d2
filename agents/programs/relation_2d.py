"""Relation2D program: point at both objects and compare their image coordinates.

The original CV-Bench 2D trace: two pointing calls, then the option letter. With
``thoughts="decisions"`` the last thought compares the one coordinate that decides, digit by digit
(``below (A), above (B); y: 0.461 vs 0.824; 4<8; so above (B)``): the options restated word
first (also in the first thought, right after the question), the comparison, then the decided word
and its letter.
"""

from __future__ import annotations

import re
from collections.abc import Generator

from agents.programs.toolkit import (
    ProgramError,
    aligned,
    answer,
    call,
    check_thoughts,
    compare_digits,
    first_point,
    question_match,
    turn,
)

_QUESTION = re.compile(r"relative positions of the (.+?) and the (.+?) in the image provided")
_OPTION = re.compile(r"^\(([A-Z])\) (\w+)\s*$", re.MULTILINE)


def program(question: str, thoughts: str = "default") -> Generator[str, list[str], None]:
    check_thoughts(thoughts)
    subject, reference = question_match(_QUESTION, question)
    options = {text: letter for letter, text in _OPTION.findall(question)}
    if not (set(options) <= {"left", "right", "above", "below"} and len(options) == 2):
        raise ProgramError(f"unexpected options {sorted(options)}")
    # The options restated word-first ("right (A), left (B)"), so the letter after the decided word is
    # a copy of what followed that word before (an induction step), not a lookup of the letter before
    # it in the question. Decision thoughts restate them in the first thought, right after the question
    # (a short-range copy: restated only at the end, the student wrote them in a fixed order).
    listed = ", ".join(f"{text} ({key})" for key, text in _OPTION.findall(question))
    first = f"I need where the {subject} and the {reference} are in the image."
    responses = yield turn(
        call("roborefer.detect_one", obj_name=subject, image_index=0),
        call("roborefer.detect_one", obj_name=reference, image_index=0),
        thought=f"{listed}. {first}" if thoughts == "decisions" else first,
    )
    (xs, ys), (xr, yr) = first_point(responses[0]), first_point(responses[1])
    horizontal = "left" in options
    if thoughts == "decisions":
        # Decided on the printed digits, so the thought and the answer never disagree.
        axis, (a, b) = ("x", aligned(xs, xr, 3)) if horizontal else ("y", aligned(ys, yr, 3))
        chain, sign = compare_digits(a, b)
        relation = ("left" if sign == "<" else "right") if horizontal else ("above" if sign == "<" else "below")
        letter = options.get(relation, "")
        yield answer(letter, thought=f"{listed}; {axis}: {a} vs {b}; {chain}; so {relation} ({letter}).")
        return
    relation = ("left" if xs < xr else "right") if horizontal else ("above" if ys < yr else "below")
    yield answer(
        options.get(relation, ""),
        thought=f"The {subject} is at ({xs:.3f}, {ys:.3f}) and the {reference} at ({xr:.3f}, {yr:.3f}): {relation}.",
    )
