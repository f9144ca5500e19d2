"""Where2Place: RoboPoint's free-space pointing benchmark as released (``wentao-yuan/where2place``).

100 cluttered real scenes (notes section 5): point at free space matching a relation ("the empty
spot left of the mug"). Items come from ``point_questions.jsonl`` + ``images/`` + ``masks/`` (loader
:mod:`spacetools_env.loaders.where2place`); the question is the stored ``text``.

Scoring is RoboPoint's ``summarize_vqa.py`` (:func:`~spacetools_env.scoring.score_where2place`):
every parsed point or box, scaled in the fixed **640 x 480** frame (images are that size), credited
with the soft JPEG mask value ``/255`` (not binarized), averaged; out-of-range points count 0. A
parse failure, which upstream skips, scores 0 here (an episode must have a score). The shaped
term is the score. The oracle answers the centre of a full-credit mask pixel (value 255), with 6
decimals so upstream's ``int(x * 640)`` lands on it.

``meta["question_type"]`` is the stored ``category``; ``meta["question_id"]`` the stored id.

Registered ids: ``SpaceTools-Where2Place-v0`` (split ``test``).

Version history:
    v0: initial release.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from spacetools_env.loaders.rows import BenchmarkRow, RowError
from spacetools_env.scoring import score_where2place
from spacetools_env.task import TaskFamily, TaskItem
from spacetools_env.tasks.bench_common import format_pairs
from tool_backends.geometry import pixel_centre_normalized

FRAME = (640, 480)  # RoboPoint's default text2pts frame


@dataclass(frozen=True, kw_only=True)
class Where2PlaceItem(TaskItem):
    """Attributes: ``mask`` the soft GT mask as stored (HxW uint8, 0-255); ``point`` a normalized
    point on a full-credit pixel (None when no pixel is 255); ``wrong_point`` one on a zero pixel."""

    mask: np.ndarray
    point: tuple[float, float] | None
    wrong_point: tuple[float, float] | None


def _normalized(ys: np.ndarray, xs: np.ndarray, pick: int) -> tuple[float, float] | None:
    if len(xs) == 0:
        return None
    x, y = pixel_centre_normalized(xs[pick], ys[pick], FRAME[0], FRAME[1])
    return float(x), float(y)


def item_from_native(row: BenchmarkRow, mask: np.ndarray) -> Where2PlaceItem:
    """A :class:`Where2PlaceItem` from a decoded record and its mask (HxW uint8).

    Raises:
        RowError: the mask has no pixel with any credit.
    """
    view = mask[: FRAME[1], : FRAME[0]]
    if not (view > 0).any():
        raise RowError("mask", f"a mask with credit inside the {FRAME[0]}x{FRAME[1]} frame", "an empty mask")
    full_ys, full_xs = np.nonzero(view == 255)
    zero_ys, zero_xs = np.nonzero(view == 0)
    extras = {k: row.extra_info[k] for k in ("question_id",) if isinstance(row.extra_info.get(k), int | str)}
    return Where2PlaceItem(
        **row.item_fields(str(row.extra_info.get("category", "")), **extras),
        mask=mask,
        point=_normalized(full_ys, full_xs, len(full_xs) // 2),
        wrong_point=_normalized(zero_ys, zero_xs, 0),
    )


def score(answer: str, item: Where2PlaceItem) -> float:
    """RoboPoint: mean soft-mask credit of every parsed point (0 when nothing parses)."""
    return score_where2place(answer, item.mask) or 0.0


def unparsable(answer: str, item: Where2PlaceItem) -> bool:
    """True where RoboPoint's parser raises, so ``summarize_vqa.py`` skips the sample (scored 0 by :func:`score`)."""
    return score_where2place(answer, item.mask) is None


def oracle(item: Where2PlaceItem) -> str:
    return "[]" if item.point is None else format_pairs([item.point])


def counterexample(item: Where2PlaceItem) -> str:
    """A point on a zero-credit pixel, or a point outside the frame."""
    return format_pairs([item.wrong_point if item.wrong_point is not None else (2.0, 2.0)])


FAMILY = TaskFamily(
    name="Where2Place",
    item_type=Where2PlaceItem,
    score=score,
    oracle=oracle,
    description=__doc__ or "",
    counterexample=counterexample,
    unparsable=unparsable,
)
