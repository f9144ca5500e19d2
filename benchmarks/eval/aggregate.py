"""Aggregation rules: records -> the numbers each benchmark's official code reports.

Records are grouped by benchmark through their ``eval_key`` (see :data:`BENCHMARK_OF_KEY`);
synthetic families that mirror a key get the same rule under ``"<Benchmark> (synthetic)"``.
Families reading a benchmark's own release (no SpaceTools key) are grouped by family name
(:data:`BENCHMARK_OF_FAMILY`) under ``"<Benchmark> (native)"``. Each group's rule is in
:data:`RULES`. Benchmark metrics are percentages, as published (notes/benchmarks.md §0-4, 8):

- RoboSpatial: ``VQA`` (yes/no items pooled), ``Vacant`` (context points), ``Overall`` pooled
  over all items (SpaceTools, Table 2); per category and, when every item's category is known
  and all three occur, the RoboSpatial-Eval leaderboard's ``VQA avg`` (mean of configuration
  and compatibility) and ``Total`` (mean of the three category accuracies). The category is the
  item meta's ``category`` or ``question_type``; yes/no vs point is its ``answer_kind``.
- RefSpatial: per split, ``pooled`` (all items; the paper's 53.07 = 147/277) and ``mean`` (the
  simple mean of the splits).
- BLINK, CV-Bench: accuracy per task (the SpaceTools keys: 2D-Relation, 3D-Depth).
- CV-Bench (native): the official rule of the CV-Bench card: accuracy per ``source``
  (``ADE20K``, ``COCO``, ``Omni3D``; all tasks of a source pooled), ``2D`` = mean of the ADE20K
  and COCO accuracies, ``3D`` = the Omni3D accuracy, ``CV-Bench`` = mean of 2D and 3D; plus
  accuracy per task. 2D (3D) is reported only when both of its sources (its source) and both of
  its tasks (Count and Relation; Depth and Distance) were evaluated, so a suite of Relation
  alone reports no official 2D; ``CV-Bench`` needs both. The source and task are the item
  meta's ``source`` (or ``cvbench_source``) and ``task`` (or ``question_type``); records with
  another source are counted in ``unsourced_n`` and leave the source means.
- RoboSpatial-Home (native): the RoboSpatial rule. RefSpatial-Bench (native): the RefSpatial rule
  by the item meta's split (``question_type``). BLINK (native): accuracy per subtask.
- Where2Place (native): ``accuracy``, the mean soft-mask credit over parsed samples (RoboPoint's
  ``summarize_vqa.py``). BOP scenes pose (native): the BOP-ASK pose rule.
- BOP-ASK pose: mean convex-hull IoU x100. Grasp: success rate, the share with NCE < 2 (the
  family's official score is that success indicator).

Unparsable answers, two aggregates. RefSpatial-Bench's and Where2Place's official scripts drop
a sample whose answer their parser cannot read, so garbage on hard items would raise a score.
A record says so in ``unparsable`` (its family's :meth:`~spacetools_env.task.TaskFamily.is_unparsable`;
its ``score`` and reward are 0 all the same). Every benchmark therefore reports ``metrics_pct``,
the **strict** aggregate (unparsable counts 0: what the leaderboard ranks and shows), and
``official_metrics_pct``, the rule over the records the official script keeps (for comparison
with published numbers), with the dropped count in ``unparsable``. A record with a null score
(an older file, a NaN) counts as unparsable. A rule leaves out any record with a null score.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any

from tool_backends.faults import recovery_summary

Record = Mapping[str, Any]
Rule = Callable[[Sequence[Record]], dict[str, float]]

BENCHMARK_OF_KEY: Mapping[str, str] = MappingProxyType(
    {
        "robospatial": "RoboSpatial",
        "reflocation": "RefSpatial",
        "refplacement": "RefSpatial",
        "refunseen": "RefSpatial",
        "blinkdepth": "BLINK",
        "cvb2drelation": "CV-Bench",
        "cvb3ddepth": "CV-Bench",
        "boppose": "BOP-ASK Pose",
        "bopgrasp": "BOP-ASK Grasp",
    }
)
TASK_OF_KEY: Mapping[str, str] = MappingProxyType(
    {
        "reflocation": "Location",
        "refplacement": "Placement",
        "refunseen": "Unseen",
        "blinkdepth": "Relative_Depth",
        "cvb2drelation": "2D-Relation",
        "cvb3ddepth": "3D-Depth",
    }
)
BENCHMARK_OF_FAMILY: Mapping[str, str] = MappingProxyType(
    {
        "CVBenchNative": "CV-Bench (native)",
        "RoboSpatialHome": "RoboSpatial-Home (native)",
        "BLINK": "BLINK (native)",
        "RefSpatial": "RefSpatial-Bench (native)",
        "Where2Place": "Where2Place (native)",
        "BOPScenesPose": "BOP scenes pose (native)",
    }
)
"""Family name -> benchmark, for families that read a release natively (their records carry no eval key)."""
CVBENCH_2D_SOURCES = ("ADE20K", "COCO")
CVBENCH_3D_SOURCES = ("Omni3D",)
CVBENCH_2D_TASKS = ("Count", "Relation")
CVBENCH_3D_TASKS = ("Depth", "Distance")
YES_NO_CATEGORIES = ("configuration", "compatibility")
VACANT_CATEGORIES = ("context",)


def scored(records: Iterable[Record]) -> list[Record]:
    """Records with a score (a rule's own guard; the two views below have no null scores)."""
    return [r for r in records if r.get("score") is not None]


def dropped(record: Record) -> bool:
    """Whether the official evaluation leaves ``record`` out: its answer is unparsable (or it has no score)."""
    return bool(record.get("unparsable")) or record.get("score") is None


def strict(records: Iterable[Record]) -> list[Record]:
    """Every record, an unparsable one scoring 0: the aggregate that ranks."""
    return [{**r, "score": 0.0} if r.get("score") is None else r for r in records]


def official(records: Iterable[Record]) -> list[Record]:
    """The records the official script keeps (unparsable answers dropped from every denominator)."""
    return [r for r in records if not dropped(r)]


def pct(records: Sequence[Record]) -> float | None:
    """Mean official score x100 (None for no records)."""
    return mean_pct(records) if records else None


def mean_pct(records: Sequence[Record]) -> float:
    """Mean official score x100 of a non-empty group (raises ZeroDivisionError for none)."""
    return 100.0 * sum(float(r["score"]) for r in records) / len(records)


def category(record: Record) -> str | None:
    meta = record.get("meta") or {}
    value = meta.get("category", meta.get("question_type"))
    return str(value).lower() if value is not None else None


def robospatial(records: Sequence[Record]) -> dict[str, float]:
    rows = scored(records)
    yes_no = [r for r in rows if _answer_kind(r) == "yes_no"]
    vacant = [r for r in rows if _answer_kind(r) == "point"]
    metrics = {"VQA": pct(yes_no), "Vacant": pct(vacant), "Overall": pct(rows)}
    by_cat: dict[str | None, list[Record]] = defaultdict(list)
    for r in rows:
        by_cat[category(r)].append(r)
    categories = (*YES_NO_CATEGORIES, *VACANT_CATEGORIES)
    for c in categories:
        metrics[c] = pct(by_cat.get(c, []))
    uncategorized = sum(len(v) for c, v in by_cat.items() if c not in categories)
    if uncategorized:
        metrics["uncategorized_n"] = float(uncategorized)
    elif all(by_cat.get(c) for c in categories):
        config, compat, context = (mean_pct(by_cat[c]) for c in categories)
        metrics["VQA avg (leaderboard)"] = (config + compat) / 2
        metrics["Total (leaderboard)"] = (config + compat + context) / 3
    return _drop_none(metrics)


def _answer_kind(record: Record) -> str | None:
    """``yes_no`` or ``point``: the item meta's ``answer_kind``, else implied by the category."""
    kind = (record.get("meta") or {}).get("answer_kind")
    if kind is not None:
        return str(kind)
    c = category(record)
    if c in YES_NO_CATEGORIES or c == "yes_no":
        return "yes_no"
    return "point" if c in VACANT_CATEGORIES else None


def refspatial(records: Sequence[Record]) -> dict[str, float]:
    rows = scored(records)
    splits = _by_task(rows)
    metrics = {name: pct(split) for name, split in splits.items()}
    metrics["pooled"] = pct(rows)
    if splits:
        metrics["mean"] = sum(mean_pct(s) for s in splits.values()) / len(splits)
    return _drop_none(metrics)


def accuracy_per_task(records: Sequence[Record]) -> dict[str, float]:
    rows = scored(records)
    return _drop_none({name: pct(task) for name, task in _by_task(rows).items()})


def cvbench_official(records: Sequence[Record]) -> dict[str, float]:
    """CV-Bench's card: per-source accuracy, 2D = mean(ADE20K, COCO), 3D = Omni3D, overall = mean(2D, 3D)."""
    rows = scored(records)
    by_task = _grouped(rows, lambda r: _meta(r, "task", "question_type"))
    by_source = _grouped(rows, lambda r: _meta(r, "source", "cvbench_source"))
    metrics: dict[str, float | None] = {task: pct(group) for task, group in by_task.items()}
    sources = (*CVBENCH_2D_SOURCES, *CVBENCH_3D_SOURCES)
    metrics.update({source: pct(by_source.get(source, [])) for source in sources})
    unsourced = sum(len(group) for source, group in by_source.items() if source not in sources)
    unsourced += sum(1 for r in rows if _meta(r, "source", "cvbench_source") is None)
    if unsourced:
        metrics["unsourced_n"] = float(unsourced)
    halves = {"2D": (CVBENCH_2D_SOURCES, CVBENCH_2D_TASKS), "3D": (CVBENCH_3D_SOURCES, CVBENCH_3D_TASKS)}
    means: dict[str, float] = {}
    for half, (half_sources, half_tasks) in halves.items():
        if all(by_source.get(s) for s in half_sources) and all(by_task.get(t) for t in half_tasks):
            means[half] = sum(mean_pct(by_source[s]) for s in half_sources) / len(half_sources)
    metrics.update(means)
    if "2D" in means and "3D" in means:
        metrics["CV-Bench"] = (means["2D"] + means["3D"]) / 2
    return _drop_none(metrics)


def _meta(record: Record, *names: str) -> str | None:
    """The first of the item meta's ``names`` that is set, as a string."""
    meta = record.get("meta") or {}
    value = next((meta[n] for n in names if meta.get(n) is not None), None)
    return None if value is None else str(value)


def where2place(records: Sequence[Record]) -> dict[str, float]:
    """RoboPoint's ``summarize_vqa.py``: the mean of per-sample soft-mask accuracy over parsed samples."""
    return _drop_none({"accuracy": pct(scored(records))})


def bop_pose(records: Sequence[Record]) -> dict[str, float]:
    return _drop_none({"pose IoU x100": pct(scored(records))})


def bop_grasp(records: Sequence[Record]) -> dict[str, float]:
    rows = scored(records)
    success = [r for r in rows if float(r["score"]) >= 0.5]
    return _drop_none({"SR (NCE<2)": 100.0 * len(success) / len(rows) if rows else None})


RULES: Mapping[str, Rule] = MappingProxyType(
    {
        "RoboSpatial": robospatial,
        "RefSpatial": refspatial,
        "BLINK": accuracy_per_task,
        "CV-Bench": accuracy_per_task,
        "CV-Bench (native)": cvbench_official,
        "RoboSpatial-Home (native)": robospatial,
        "BLINK (native)": accuracy_per_task,
        "RefSpatial-Bench (native)": refspatial,
        "Where2Place (native)": where2place,
        "BOP scenes pose (native)": bop_pose,
        "BOP-ASK Pose": bop_pose,
        "BOP-ASK Grasp": bop_grasp,
    }
)
"""Benchmark -> its official aggregation rule (one per row of the paper's Table 2)."""


def benchmark_of(record: Record) -> str | None:
    """``RoboSpatial``, ``RefSpatial (synthetic)``, ``CV-Bench (native)``, ...; None for a family mirroring none.

    The eval key decides first; a record without one (a native-release family) goes by its family.
    """
    name = BENCHMARK_OF_KEY.get(record.get("eval_key") or "")
    if name is None:
        return BENCHMARK_OF_FAMILY.get(record.get("family") or "")
    return f"{name} (synthetic)" if record.get("source") == "synthetic" else name


def _by_task(records: Sequence[Record]) -> dict[str, list[Record]]:
    tasks: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        key = r.get("eval_key") or ""
        task = TASK_OF_KEY.get(key) or (None if key else _meta(r, "task", "question_type"))
        tasks[task or key].append(r)
    return dict(sorted(tasks.items()))


def _drop_none(metrics: Mapping[str, float | None]) -> dict[str, float]:
    return {k: v for k, v in metrics.items() if v is not None}


# ---------------------------------------------------------------------- the whole summary
def summarize(records: Sequence[Record]) -> dict[str, Any]:
    """Every number of ``summary.json``: families, benchmarks (official rules), question types, tools.

    ``families`` has one row per synthetic family and one per benchmark env id. Scores are strict
    (an unparsable answer counts 0) everywhere but a benchmark's ``official_metrics_pct``.
    ``recovery`` (:func:`tool_backends.faults.recovery_summary`: faulted episodes, recovered,
    ``recovery_rate``) is there only when some call faulted, so runs with exact tools read as before.
    """
    rows = strict(records)
    families = _group(rows, _family_row)
    family_scores = [f["mean_score"] for f in families.values() if f["mean_score"] is not None]
    benchmarks: dict[str, Any] = {}
    for name, group in _grouped(records, benchmark_of).items():
        rule = RULES[name.removesuffix(" (synthetic)")]
        every, kept = strict(group), official(group)
        benchmarks[name] = {
            "n": len(group),
            "unparsable": len(group) - len(kept),
            "metrics_pct": rule(every),
            "official_metrics_pct": rule(kept),
            "by_question_type": _group(every, _question_type),
        }
    return {
        "episodes": len(records),
        "unparsable": sum(1 for r in records if dropped(r)),
        "mean_score": _mean(float(r["score"]) for r in rows),
        "overall": {"family_mean": _mean(family_scores), "pooled": _mean(float(r["score"]) for r in rows)},
        "families": families,
        "benchmarks": dict(sorted(benchmarks.items())),
        "by_question_type": _group(rows, _question_type),
        "tools": tool_statistics(records),
        **({"recovery": figure} if (figure := recovery_summary(records)) is not None else {}),
    }


def tool_statistics(records: Sequence[Record]) -> dict[str, Any]:
    """Calls per episode, error rate and the same per tool; invalid actions; episodes without tools."""
    n = len(records)
    calls = sum(int(r["tools"].get("calls", 0)) for r in records)
    errors = sum(int(r["tools"].get("errors", 0)) for r in records)
    by_tool: dict[str, dict[str, int]] = defaultdict(lambda: {"calls": 0, "errors": 0})
    for r in records:
        for name, stats in (r["tools"].get("by_tool") or {}).items():
            by_tool[name]["calls"] += int(stats.get("calls", 0))
            by_tool[name]["errors"] += int(stats.get("errors", 0))
    return {
        "calls": calls,
        "errors": errors,
        "calls_per_episode": calls / n if n else None,
        "error_rate": errors / calls if calls else None,
        "episodes_without_tools": sum(1 for r in records if not r["tools"].get("calls")),
        "invalid_actions_per_episode": sum(int(r.get("invalid_actions", 0)) for r in records) / n if n else None,
        "by_tool": {
            name: {
                **s,
                "calls_per_episode": s["calls"] / n,
                "error_rate": s["errors"] / s["calls"] if s["calls"] else None,
            }
            for name, s in sorted(by_tool.items())
        },
    }


def _family_row(record: Record) -> str:
    # Benchmark families can serve several ids (CVBench: 2D-Relation and 3D-Depth): one row per id.
    if record.get("source") == "synthetic":
        return str(record.get("family"))
    return str(record["key"]["env_id"])


def _question_type(record: Record) -> str:
    return str((record.get("meta") or {}).get("question_type", "unknown"))


def _grouped(records: Iterable[Record], key: Callable[[Record], str | None]) -> dict[str, list[Record]]:
    groups: dict[str, list[Record]] = defaultdict(list)
    for r in records:
        k = key(r)
        if k is not None:
            groups[k].append(r)
    return dict(sorted(groups.items()))


def _group(records: Iterable[Record], key: Callable[[Record], str]) -> dict[str, dict[str, Any]]:
    """Per group: n, mean official score in [0, 1], turns, tool calls per episode and tool error rate."""
    out = {}
    for name, group in _grouped(records, key).items():
        rows = scored(group)
        calls = sum(int(r["tools"].get("calls", 0)) for r in group)
        errors = sum(int(r["tools"].get("errors", 0)) for r in group)
        out[name] = {
            "n": len(group),
            "mean_score": _mean(float(r["score"]) for r in rows),
            "turns": _mean(float(r.get("turns", 0)) for r in group),
            "calls_per_episode": calls / len(group),
            "tool_error_rate": errors / calls if calls else None,
            "truncated": sum(1 for r in group if r.get("truncated")),
        }
    return out


def _mean(values: Iterable[float]) -> float | None:
    values = list(values)
    return sum(values) / len(values) if values else None
