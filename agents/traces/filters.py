"""The paper's trace filters: keep correct episodes (or a minimum score), and mix sources at a ratio.

DIRL's teaching set keeps only correct traces and mixes point-tool IRL traces with universal-teacher
traces 1:3 (2k + 6k; notes: original_system.md section 2). :func:`mix` samples each source without
replacement, seeded, as many episodes as the scarcest source allows at the asked ratio (the others
rounded to the nearest count), and reports the mix it reached.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")

CORRECT = 1.0
"""The default minimum score: only correct episodes (the official scorer's 1.0)."""
DEFAULT_MIX = (1, 3)
"""The paper's mix: policy (point-tool IRL) traces : universal-teacher traces."""


def passes(score: Any, min_score: float = CORRECT) -> bool:
    """Whether an episode scored at least ``min_score`` (a skipped item, score None, never passes)."""
    if score is None or isinstance(score, bool) or not isinstance(score, int | float):
        return False
    return math.isfinite(float(score)) and float(score) >= min_score


def parse_mix(text: str) -> tuple[int, ...]:
    """``"1:3"`` -> ``(1, 3)``.

    Raises:
        ValueError: not positive integers separated by ``:``.
    """
    try:
        parts = tuple(int(p) for p in text.split(":"))
    except ValueError:
        parts = ()
    if len(parts) < 2 or any(p < 1 for p in parts):
        raise ValueError(f"--mix must be positive integers separated by ':', one per source (e.g. 1:3), got {text!r}")
    return parts


@dataclass(frozen=True)
class MixReport:
    """What :func:`mix` asked for and reached."""

    sources: tuple[str, ...]
    ratio: tuple[int, ...]
    available: tuple[int, ...]
    taken: tuple[int, ...]

    @property
    def short(self) -> tuple[str, ...]:
        """The sources that limited the mix (all of their episodes were taken)."""
        return tuple(s for s, a, t in zip(self.sources, self.available, self.taken, strict=True) if t == a)

    def format(self) -> str:
        asked = ":".join(map(str, self.ratio))
        reached = ":".join(map(str, self.taken))
        exact = all(t * self.ratio[0] == self.taken[0] * r for t, r in zip(self.taken, self.ratio, strict=True))
        lines = [f"mix asked {asked}, reached {reached} episodes" + ("" if exact else " (not exactly the ratio)")]
        for name, available, taken in zip(self.sources, self.available, self.taken, strict=True):
            lines.append(f"  {name}: {taken} of {available} kept episodes")
        if self.short:
            lines.append(f"  limited by: {', '.join(self.short)} (every episode of it taken)")
        return "\n".join(lines)


def mix(
    groups: Sequence[Sequence[T]], ratio: Sequence[int] = DEFAULT_MIX, *, seed: int = 0,
    names: Sequence[str] | None = None,
) -> tuple[list[list[T]], MixReport]:
    """Each group sampled to ``ratio`` (seeded, without replacement, original order kept).

    The scarcest group relative to its share sets the scale: ``k = min(len(group) / part)``; group
    ``i`` keeps ``k * ratio[i]`` episodes rounded to the nearest count (the scarcest keeps them all),
    the mix closest to the ratio that uses every episode of the source that runs short.

    Raises:
        ValueError: ``ratio`` and ``groups`` differ in length, or a part is not positive.
    """
    names = tuple(names) if names is not None else tuple(f"source {i + 1}" for i in range(len(groups)))
    if len(ratio) != len(groups) or len(names) != len(groups):
        raise ValueError(
            f"--mix {':'.join(map(str, ratio))} has {len(ratio)} parts but {len(groups)} sources were given; "
            "give one part per source (RUN_DIR), in order"
        )
    if any(int(p) < 1 for p in ratio):
        raise ValueError(f"mix parts must be positive, got {tuple(ratio)}")
    scale = min(len(g) / p for g, p in zip(groups, ratio, strict=True))
    picked: list[list[T]] = []
    for i, (group, part) in enumerate(zip(groups, ratio, strict=True)):
        count = min(len(group), math.floor(scale * part + 0.5))
        chosen = sorted(random.Random(f"{seed}:{i}").sample(range(len(group)), count))
        picked.append([group[j] for j in chosen])
    report = MixReport(names, tuple(int(p) for p in ratio), tuple(len(g) for g in groups),
                       tuple(len(p) for p in picked))
    return picked, report
