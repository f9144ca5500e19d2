"""Pieces the benchmark families share: multiple-choice items, point text, data-source parsing.

Benchmark families (``bench_*.py``) have no synthetic generator: their items come from a loader
(:mod:`spacetools_env.loaders`), which hands each family's ``item_from_row`` a validated
:class:`~spacetools_env.loaders.BenchmarkRow`. A malformed ground truth raises
:class:`~spacetools_env.loaders.RowError` naming the column; the loader adds the file and row.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from spacetools_env.loaders.rows import BenchmarkRow, RowError, describe
from spacetools_env.scoring import score_choice_letter
from spacetools_env.task import TaskItem

GT_COLUMN = "reward_model.ground_truth"
_GT_LETTER = re.compile(r"\(?([A-Z])\)?")
_OPTION = re.compile(r"\(([A-Z])\)")


def format_pairs(points: Iterable[tuple[float, float]], decimals: int = 6) -> str:
    """``[(x, y), ...]`` with a fixed number of decimals (BOP-ASK writes 6).

    >>> format_pairs([(0.5, 0.25)], decimals=3)
    '[(0.500, 0.250)]'
    """
    return "[" + ", ".join(f"({x:.{decimals}f}, {y:.{decimals}f})" for x, y in points) + "]"


def data_source_suffix(data_source: str, default: str) -> str:
    """The question type a data source names after its last ``-`` or ``/`` (``...-pose`` -> ``pose``)."""
    tail = re.split(r"[-/]", data_source.strip())[-1]
    return tail or default


@dataclass(frozen=True, kw_only=True)
class ChoiceItem(TaskItem):
    """A multiple-choice question. Attributes: ``label`` the gold letter (``"B"``); ``choices``
    the option letters the question offers (``("A", "B")``)."""

    label: str
    choices: tuple[str, ...]


def choice_item(row: BenchmarkRow, question_type: str, **meta: object) -> ChoiceItem:
    """A :class:`ChoiceItem` from a row whose ground truth is a letter (``"B"`` or ``"(B)"``).

    Raises:
        RowError: the ground truth is not a single capital letter.
    """
    match = _GT_LETTER.fullmatch(row.ground_truth.strip())
    if match is None:
        raise RowError(GT_COLUMN, "an option letter such as 'A' or '(A)'", describe(row.ground_truth))
    offered = tuple(dict.fromkeys(_OPTION.findall(row.question)))
    choices = offered if len(offered) >= 2 and match.group(1) in offered else ("A", "B")
    return ChoiceItem(**row.item_fields(question_type, **meta), label=match.group(1), choices=choices)


def score_choice(answer: str, item: ChoiceItem) -> float:
    """SpaceTools' letter match (:func:`~spacetools_env.scoring.score_choice_letter`, ``normalized``)."""
    return score_choice_letter(answer, item.label)


def oracle_choice(item: ChoiceItem) -> str:
    return item.label


def counterexample_choice(item: ChoiceItem) -> str:
    """Another option letter the question offers."""
    return next(letter for letter in (*item.choices, "A", "B") if letter != item.label)
