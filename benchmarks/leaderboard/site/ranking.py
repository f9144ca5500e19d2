"""Which number ranks a submission on each benchmark, and the ranking itself.

Each benchmark's headline is the number its paper row reports (SpaceTools Table 2): RoboSpatial
``Overall`` (pooled over all items), RefSpatial ``pooled`` (147/277 in the paper), CV-Bench's
official (2D + 3D) / 2 where the native release gives it, Where2Place ``accuracy``, BOP pose IoU
and grasp success; a benchmark with several tasks and no overall number (BLINK, the SpaceTools
CV-Bench keys) uses the mean of its tasks.

Headlines are read from ``metrics_pct``, the **strict** aggregate: an answer the official
RefSpatial-Bench or Where2Place script cannot parse (and drops from its denominator) counts 0, so
garbage on hard items cannot raise a rank; the official aggregate (``official_metrics_pct``) is
shown beside it, never ranked.

A submission's rank is by the unweighted mean of its benchmark headlines, so a benchmark with
many items does not outweigh one with few (decision: the paper reports benchmarks side by side,
never pooled across them); a benchmark of the group without a headline counts as 0. Submissions
are ranked only against others on the same suite, suite version and make options (the build
groups them): numbers from different question lists or scene settings are not comparable.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

HEADLINE = {
    "RoboSpatial": "Overall",
    "RoboSpatial-Home": "Overall",
    "RefSpatial": "pooled",
    "RefSpatial-Bench": "pooled",
    "CV-Bench": "CV-Bench",
    "Where2Place": "accuracy",
}
_VARIANT = re.compile(r" \((synthetic|native)\)$")
_NOT_TASKS = frozenset({"pooled", "mean", "Overall"})


def headline(benchmark: str, metrics: Mapping[str, float]) -> tuple[str, float] | None:
    """(metric name, value) ranking ``benchmark``; None when it has no metric."""
    name = HEADLINE.get(_VARIANT.sub("", benchmark))
    if name is not None and name in metrics:
        return name, float(metrics[name])
    values = {k: float(v) for k, v in metrics.items() if not k.endswith("_n")}
    if len(values) == 1:
        return next(iter(values.items()))
    tasks = {k: v for k, v in values.items() if k not in _NOT_TASKS}
    if not tasks:
        return None
    return "mean of tasks", sum(tasks.values()) / len(tasks)


@dataclass(frozen=True)
class Standing:
    """One submission's row: its benchmark headlines and their mean."""

    headlines: dict[str, float]
    mean: float | None


def standing(summary: Mapping[str, Any] | None, benchmarks: Sequence[str] | None = None) -> Standing:
    """The row of a validated submission's re-scored summary.

    Args:
        summary: The re-scored summary (``ValidationReport.summary``); its strict ``metrics_pct`` rank.
        benchmarks: The benchmarks of its ranking group; each counts in the mean, a benchmark
            without a headline (none of its items submitted) as 0. Default: the submission's own.
    """
    headlines: dict[str, float] = {}
    reported = (summary or {}).get("benchmarks") or {}
    for name, bench in reported.items():
        found = headline(name, bench.get("metrics_pct") or {})
        if found is not None:
            headlines[name] = found[1]
    counted = list(benchmarks) if benchmarks is not None else list(reported)
    mean = sum(headlines.get(b, 0.0) for b in counted) / len(counted) if counted else None
    return Standing(headlines, mean)
