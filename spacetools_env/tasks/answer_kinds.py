"""Items whose answer is one option: a letter (BLINK, CV-Bench) or yes/no (RoboSpatial).

Families of these kinds share the ground-truth field, the official scorer, the oracle and the
counterexample; a family file subclasses the item and adds what its question needs.
"""

from __future__ import annotations

from dataclasses import dataclass

from spacetools_env.scoring import score_choice_letter, score_yes_no
from spacetools_env.task import TaskItem


@dataclass(frozen=True, kw_only=True)
class ChoiceItem(TaskItem):
    """A two-option multiple-choice question; ``label`` is the right letter (``"A"`` or ``"B"``)."""

    label: str


def score_choice(answer: str, item: ChoiceItem) -> float:
    """SpaceTools' letter rule on the bare-letter ground truth (``score_choice_letter``)."""
    return score_choice_letter(answer, item.label)


def oracle_choice(item: ChoiceItem) -> str:
    return item.label


def counterexample_choice(item: ChoiceItem) -> str:
    return "B" if item.label == "A" else "A"


@dataclass(frozen=True, kw_only=True)
class YesNoItem(TaskItem):
    """A yes/no question; ``answer`` is ``"Yes"`` or ``"No"``."""

    answer: str


def score_yes_no_item(answer: str, item: YesNoItem) -> float:
    """RoboSpatial's rule: the lower-cased answer must start with the ground truth word."""
    return score_yes_no(answer, item.answer)


def oracle_yes_no(item: YesNoItem) -> str:
    return item.answer


def counterexample_yes_no(item: YesNoItem) -> str:
    return "No" if item.answer == "Yes" else "Yes"
