"""CVBenchNative: CV-Bench (Cambrian-1) as released (``nyu-visionx/CV-Bench``), one id per task.

All four tasks (notes section 3): ``Count`` (788) and ``Relation`` (650) from ADE20K and COCO in
``test_2d``; ``Depth`` (600) and ``Distance`` (600) from Omni3D in ``test_3d`` (loader
:mod:`spacetools_env.loaders.cvbench`). The question is the stored ``prompt`` (options included);
the gold is the stored ``answer`` ``"(X)"``; the option letters follow the ``choices`` column.

CV-Bench leaves answer extraction to the user; scoring reuses the letter match of the SpaceTools
CV-Bench family (:func:`~spacetools_env.scoring.score_choice_letter`, ``normalized``: ``B``,
``(B)``, ``B.`` count; **UNVERIFIED**, ``rule="exact"`` is the alternative). The shaped term is
the score; the oracle answers the gold.

``meta["source"]`` (``ADE20K``, ``COCO``, ``Omni3D``; also as ``cvbench_source``, the key the
SpaceTools-parquet CV-Bench family uses) and ``meta["task"]`` feed the official aggregation of
``benchmarks.eval.aggregate``: accuracy per source, 2D = mean of the ADE20K and COCO accuracies,
3D = the Omni3D accuracy, CV-Bench = mean of 2D and 3D. ``meta["question_type"]`` is the task.
The items are the same whichever layout the local copy has (parquet, or jsonl + ``img/``).

Registered ids: ``SpaceTools-CVBench-Count-v0``, ``SpaceTools-CVBench-Relation-v0``,
``SpaceTools-CVBench-Depth-v0``, ``SpaceTools-CVBench-Distance-v0`` (split ``test``).

Version history:
    v0: initial release.
"""

from __future__ import annotations

import re

from spacetools_env.loaders.rows import BenchmarkRow, RowError, describe
from spacetools_env.task import TaskFamily
from spacetools_env.tasks.bench_common import ChoiceItem, counterexample_choice, oracle_choice, score_choice

_LETTERS = "ABCDEF"
_GOLD = re.compile(r"\(([A-F])\)")


def item_from_native(row: BenchmarkRow) -> ChoiceItem:
    """A :class:`~spacetools_env.tasks.bench_common.ChoiceItem` from a decoded CV-Bench row.

    ``row.extra_info`` holds ``choices`` (option texts), ``task`` and ``source``.

    Raises:
        RowError: ``choices`` is not a list of 2-6 options, or ``answer`` is not ``"(X)"`` for one.
    """
    options = row.extra_info.get("choices")
    if not isinstance(options, list | tuple) or not 2 <= len(options) <= len(_LETTERS):
        raise RowError("choices", f"a list of 2 to {len(_LETTERS)} options", describe(options))
    letters = tuple(_LETTERS[: len(options)])
    gold = _GOLD.fullmatch(row.ground_truth.strip())
    if gold is None or gold.group(1) not in letters:
        raise RowError("answer", f"one of {[f'({x})' for x in letters]}", describe(row.ground_truth))
    source, task = row.extra_info.get("source"), str(row.extra_info.get("task", ""))
    fields = row.item_fields(task, source=source, task=task, cvbench_source=source)
    return ChoiceItem(**fields, label=gold.group(1), choices=letters)


FAMILY = TaskFamily(
    name="CVBenchNative",
    item_type=ChoiceItem,
    score=score_choice,
    oracle=oracle_choice,
    description=__doc__ or "",
    counterexample=counterexample_choice,
)
