"""CVBench: CV-Bench 2D Relation and 3D Depth as the SpaceTools evaluation ships them.

Keys ``cvb2drelation`` (650 questions: is object A left of / above object B, from ADE20K and
COCO) and ``cvb3ddepth`` (600: which of two objects is closer to the camera, from Omni3D); notes
section 3. Prompts are the ones stored in the data; the ground truth is the bare option letter.
Scoring is SpaceTools' binary letter match on the ``<answer>`` content
(:func:`~spacetools_env.scoring.score_choice_letter`, ``normalized``; **UNVERIFIED**, ``exact``
is the alternative). SpaceTools reports plain per-task accuracy; CV-Bench's official number
averages per source (2D = mean of ADE20K and COCO, 3D = Omni3D), so the row's ``source`` is kept
in ``meta["cvbench_source"]`` when present. The shaped term is the score; the oracle answers the
gold letter.

``meta["question_type"]`` is ``2D_Relation`` or ``3D_Depth``.

Registered ids: ``SpaceTools-CVBench-2DRelation-v0``, ``SpaceTools-CVBench-3DDepth-v0``
(split ``test``).

Version history:
    v0: initial release.
"""

from __future__ import annotations

from spacetools_env.loaders.rows import BenchmarkRow
from spacetools_env.task import TaskFamily
from spacetools_env.tasks.bench_common import (
    ChoiceItem,
    choice_item,
    counterexample_choice,
    oracle_choice,
    score_choice,
)

TASKS = {"cvb2drelation": "2D_Relation", "cvb3ddepth": "3D_Depth"}


def _question_type(row: BenchmarkRow) -> str:
    for task in TASKS.values():
        if task.lower() in row.data_source.lower():
            return task
    return TASKS.get(row.key, row.key)


def item_from_row(row: BenchmarkRow) -> ChoiceItem:
    """A :class:`~spacetools_env.tasks.bench_common.ChoiceItem` from a SpaceTools parquet row.

    Raises:
        RowError: the ground truth is not an option letter.
    """
    source = row.extra_info.get("source")
    extras = {"cvbench_source": source} if isinstance(source, str) else {}
    return choice_item(row, _question_type(row), **extras)


FAMILY = TaskFamily(
    name="CVBench",
    item_type=ChoiceItem,
    score=score_choice,
    oracle=oracle_choice,
    description=__doc__ or "",
    counterexample=counterexample_choice,
)
