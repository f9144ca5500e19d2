"""BLINK: the 14 BLINK subtasks as released (``BLINK-Benchmark/BLINK``), scored by BLINK's own code.

Multiple-choice questions on one to four real images (notes section 2): Relative_Depth,
Spatial_Relation, Multi-view_Reasoning, Object_Localization, Counting and nine more perception
tasks. Items come from the per-subtask parquet (loader :mod:`spacetools_env.loaders.blink`); the
question is the stored ``prompt`` (question plus lettered options), the images ``image_1`` ..
``image_4`` that are set, in order. Only split ``val`` has answers (test answers are hidden).

Scoring is BLINK's (:func:`~spacetools_env.scoring.score_blink`, ``eval/test_benchmark.py``
``analyze_answer`` then exact match with the gold ``"(X)"``): a bare ``B`` or ``(B)``, or exactly
one standalone ``(B)`` token in the last paragraph or the whole text. The GPT-3.5 fallback
upstream uses for anything else is replaced by a documented no-match (scored 0), so ``"The
answer is (B)."`` scores 0 here. The shaped term is the score. The oracle answers ``"(X)"``.

``meta["question_type"]`` is the subtask; ``meta["blink_idx"]`` the stored ``idx``. BLINK's
"Total" is the unweighted mean over the 14 subtask accuracies.

Registered ids: ``SpaceTools-BLINK-<Subtask>-v0`` with the subtask in CamelCase
(``SpaceTools-BLINK-RelativeDepth-v0``, ``SpaceTools-BLINK-MultiViewReasoning-v0``, ...; split ``val``).

Version history:
    v0: initial release.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from spacetools_env.loaders.rows import BenchmarkRow, RowError, describe
from spacetools_env.scoring import score_blink
from spacetools_env.task import TaskFamily
from spacetools_env.tasks.bench_common import ChoiceItem

_LETTERS = "ABCDE"
_GOLD = re.compile(r"\(([A-E])\)")


@dataclass(frozen=True, kw_only=True)
class BlinkItem(ChoiceItem):
    """A BLINK question. Attributes (beyond :class:`ChoiceItem`): ``options`` the option texts."""

    options: tuple[str, ...]


def item_from_native(row: BenchmarkRow) -> BlinkItem:
    """A :class:`BlinkItem` from a decoded BLINK row (``ground_truth`` is the stored ``answer``).

    ``row.extra_info`` holds ``choices`` (option texts), ``subtask`` and ``idx``.

    Raises:
        RowError: ``choices`` is not a list of 1-5 strings, or ``answer`` is not ``"(X)"`` for
            one of its options.
    """
    options = row.extra_info.get("choices")
    if not isinstance(options, list | tuple) or not 1 <= len(options) <= 5 or not all(
        isinstance(o, str) for o in options
    ):
        raise RowError("choices", "a list of 1 to 5 option strings", describe(options))
    letters = tuple(_LETTERS[: len(options)])
    gold = _GOLD.fullmatch(row.ground_truth.strip())
    if gold is None or gold.group(1) not in letters:
        raise RowError("answer", f"one of {[f'({x})' for x in letters]}", describe(row.ground_truth))
    fields = row.item_fields(str(row.extra_info.get("subtask", "")), blink_idx=row.extra_info.get("idx"))
    return BlinkItem(**fields, label=gold.group(1), choices=letters, options=tuple(options))


def score(answer: str, item: BlinkItem) -> float:
    """BLINK's extraction and exact match, the LLM fallback replaced by no-match."""
    return score_blink(answer, item.label, num_choices=len(item.choices))


def oracle(item: BlinkItem) -> str:
    return f"({item.label})"


def counterexample(item: BlinkItem) -> str:
    """Another option, or (with a single option) a label BLINK does not accept."""
    other = next((letter for letter in item.choices if letter != item.label), None)
    return "(Z)" if other is None else f"({other})"


FAMILY = TaskFamily(
    name="BLINK",
    item_type=BlinkItem,
    score=score,
    oracle=oracle,
    description=__doc__ or "",
    counterexample=counterexample,
)
