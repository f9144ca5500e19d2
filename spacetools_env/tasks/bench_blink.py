"""BLINKDepth: BLINK Relative_Depth as the SpaceTools evaluation ships it (key ``blinkdepth``).

124 validation questions (notes section 2): two points are marked A and B on a real photo; which
is closer to the camera? The user text (stored with the data, ``<image>`` placeholder dropped)
ends with ``Select from the following choices. (A) ... (B) ...``; the ground truth is the bare
letter. Scoring is SpaceTools' binary letter match on the ``<answer>`` content
(:func:`~spacetools_env.scoring.score_choice_letter`, ``normalized``: ``B``, ``(B)``, ``B.`` and
``B) B is closer`` count; the exact normalisation is **UNVERIFIED**, ``rule="exact"`` is the
alternative). The shaped term is the score. The oracle answers the gold letter.

``meta["question_type"]`` is the BLINK subtask named by ``data_source`` (``Relative_Depth``).

Registered ids: ``SpaceTools-BLINK-Depth-v0`` (split ``test``; BLINK's val split).

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
    data_source_suffix,
    oracle_choice,
    score_choice,
)


def item_from_row(row: BenchmarkRow) -> ChoiceItem:
    """A :class:`~spacetools_env.tasks.bench_common.ChoiceItem` from a SpaceTools parquet row.

    Raises:
        RowError: the ground truth is not an option letter.
    """
    return choice_item(row, data_source_suffix(row.data_source, "Relative_Depth"))


FAMILY = TaskFamily(
    name="BLINKDepth",
    item_type=ChoiceItem,
    score=score_choice,
    oracle=oracle_choice,
    description=__doc__ or "",
    eval_key="blinkdepth",
    counterexample=counterexample_choice,
)
