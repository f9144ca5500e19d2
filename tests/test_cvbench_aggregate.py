"""CV-Bench's official aggregation over records of the native CV-Bench envs, numbers worked by hand.

The rule (notes/benchmarks.md section 3, the CV-Bench card): accuracy per ``source`` with every
task of that source pooled; 2D = (ADE20K + COCO) / 2; 3D = Omni3D; CV-Bench = (2D + 3D) / 2.
"""

from __future__ import annotations

from typing import Any

import pytest
from fixtures_native import build_cvbench

from benchmarks.eval.aggregate import RULES, benchmark_of, summarize
from benchmarks.eval.config import EvalConfig
from benchmarks.eval.runner import run_eval
from spacetools_env.loaders import ENV_VAR


def record(task: str, source: str | None, score: float | None, family: str = "CVBenchNative") -> dict[str, Any]:
    """A native CV-Bench episode record as ``benchmarks.eval.records`` writes it (the fields aggregation reads)."""
    meta = {"question_type": task, "task": task, "cvbench_source": source, "source": source}
    return {
        "key": {"env_id": f"SpaceTools-CVBench-{task}-v0", "split": "test", "index": 0},
        "family": family,
        "eval_key": None,
        "source": "benchmark",
        "meta": meta,
        "score": score,
        "tools": {"calls": 0, "errors": 0},
        "turns": 1,
    }


# (task, source, score) per record -> the metrics, each worked out by hand.
# ADE20K: Relation 1, Count 0 -> 1/2 = 50; COCO: Count 1 and 0, Relation 1 -> 2/3 = 66.667;
# 2D = (50 + 66.667) / 2 = 58.333; Omni3D: Depth 1, 1, 0, Distance 0 -> 2/4 = 50 = 3D;
# CV-Bench = (58.333 + 50) / 2 = 54.167 (pooled over the nine records it would be 5/9 = 55.6).
FULL = [
    ("Relation", "ADE20K", 1.0), ("Count", "ADE20K", 0.0),
    ("Count", "COCO", 1.0), ("Count", "COCO", 0.0), ("Relation", "COCO", 1.0),
    ("Depth", "Omni3D", 1.0), ("Depth", "Omni3D", 1.0), ("Depth", "Omni3D", 0.0), ("Distance", "Omni3D", 0.0),
]
CASES = {
    "full benchmark": (FULL, {
        "ADE20K": 50.0, "COCO": 200 / 3, "Omni3D": 50.0, "2D": 175 / 3, "3D": 50.0, "CV-Bench": 325 / 6,
        "Count": 100 / 3, "Relation": 100.0, "Depth": 200 / 3, "Distance": 0.0,
    }),
    "one record per source and task": (
        [("Count", "COCO", 1.0), ("Relation", "ADE20K", 0.0), ("Depth", "Omni3D", 1.0), ("Distance", "Omni3D", 1.0)],
        {"COCO": 100.0, "ADE20K": 0.0, "Omni3D": 100.0, "2D": 50.0, "3D": 100.0, "CV-Bench": 75.0,
         "Count": 100.0, "Relation": 0.0, "Depth": 100.0, "Distance": 100.0},
    ),
    "skipped records leave every denominator": (
        [*FULL, ("Count", "COCO", None), ("Depth", "Omni3D", None)],
        {"ADE20K": 50.0, "COCO": 200 / 3, "Omni3D": 50.0, "2D": 175 / 3, "3D": 50.0, "CV-Bench": 325 / 6,
         "Count": 100 / 3, "Relation": 100.0, "Depth": 200 / 3, "Distance": 0.0},
    ),
    "Relation alone has no official 2D": (
        [("Relation", "ADE20K", 1.0), ("Relation", "COCO", 0.0)],
        {"ADE20K": 100.0, "COCO": 0.0, "Relation": 50.0},
    ),
    "3D alone has no overall": (
        [("Depth", "Omni3D", 1.0), ("Distance", "Omni3D", 0.0), ("Distance", "Omni3D", 0.0)],
        {"Omni3D": 100 / 3, "3D": 100 / 3, "Depth": 100.0, "Distance": 0.0},
    ),
    "no COCO records: no 2D": (
        [("Count", "ADE20K", 1.0), ("Relation", "ADE20K", 1.0), ("Depth", "Omni3D", 0.0), ("Distance", "Omni3D", 1.0)],
        {"ADE20K": 100.0, "Omni3D": 50.0, "3D": 50.0, "Count": 100.0, "Relation": 100.0, "Depth": 0.0,
         "Distance": 100.0},
    ),
    "an unknown source is counted, not averaged": (
        [("Count", "COCO", 1.0), ("Count", "Objects365", 0.0), ("Count", None, 0.0)],
        {"COCO": 100.0, "Count": 100 / 3, "unsourced_n": 2.0},
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_official_cvbench_aggregation(case):
    rows, expected = CASES[case]
    metrics = RULES["CV-Bench (native)"]([record(*row) for row in rows])
    assert metrics == pytest.approx(expected) and set(metrics) == set(expected)


def test_native_records_go_to_the_official_rule_and_spacetools_keys_stay_per_task():
    native = [record(*row) for row in FULL]
    assert {benchmark_of(r) for r in native} == {"CV-Bench (native)"}
    spacetools = {**record("2D-Relation", None, 1.0, family="CVBench"), "eval_key": "cvb2drelation"}
    assert benchmark_of(spacetools) == "CV-Bench"
    assert benchmark_of(record("Count", "COCO", 1.0, family="SomeOtherFamily")) is None
    summary = summarize([*native, spacetools])
    assert summary["benchmarks"]["CV-Bench (native)"]["metrics_pct"]["CV-Bench"] == pytest.approx(325 / 6)
    assert summary["benchmarks"]["CV-Bench (native)"]["n"] == 9
    assert summary["benchmarks"]["CV-Bench"]["metrics_pct"] == {"2D-Relation": 100.0}


def test_eval_run_of_the_native_envs_reports_the_official_numbers(tmp_path, monkeypatch):
    """Records written by the eval runner keep ``source`` and ``task``; the summary aggregates them."""
    monkeypatch.delenv(ENV_VAR, raising=False)
    data_dir = build_cvbench(tmp_path / "data")
    ids = ",".join(f"SpaceTools-CVBench-{task}-v0" for task in ("Count", "Relation", "Depth", "Distance"))
    config = EvalConfig(
        agent="blind-guess", suite=ids, out=tmp_path / "run", data_dir=str(data_dir), progress=False
    )
    summary = run_eval(config, log=lambda _: None)
    # blind-guess answers "(A)"; fixture gold: item 0 of Count C, Depth B, every other item A.
    # COCO (Count) 2/3, ADE20K (Relation) 3/3 -> 2D 83.33; Omni3D (Depth 2/3, Distance 3/3) 5/6 -> 3D 83.33.
    metrics = summary.stats["benchmarks"]["CV-Bench (native)"]["metrics_pct"]
    expected = {"COCO": 200 / 3, "ADE20K": 100.0, "Omni3D": 500 / 6, "2D": 250 / 3, "3D": 500 / 6,
                "CV-Bench": 250 / 3, "Count": 200 / 3, "Relation": 100.0, "Depth": 200 / 3, "Distance": 100.0}
    assert metrics == pytest.approx(expected)


def native(family: str, question_type: str, score: float | None) -> dict[str, Any]:
    return {**record("x", None, score, family=family), "meta": {"question_type": question_type}}


@pytest.mark.parametrize(
    ("records", "bench", "metrics"),
    [
        # BLINK native: accuracy per subtask (the item meta's question_type)
        ([native("BLINK", "Relative_Depth", 1.0), native("BLINK", "Relative_Depth", 0.0),
          native("BLINK", "Jigsaw", 1.0)], "BLINK (native)", {"Jigsaw": 100.0, "Relative_Depth": 50.0}),
        # RefSpatial-Bench native: per split, pooled 2/3, mean of splits (50 + 100) / 2
        ([native("RefSpatial", "location", 1.0), native("RefSpatial", "location", 0.0),
          native("RefSpatial", "placement", 1.0)], "RefSpatial-Bench (native)",
         {"location": 50.0, "placement": 100.0, "pooled": 200 / 3, "mean": 75.0}),
        # Where2Place: soft credit averaged; the unparsable (null) one counts 0 here, is dropped officially
        ([native("Where2Place", "seen", 0.5), native("Where2Place", "unseen", 0.25),
          native("Where2Place", "seen", None)], "Where2Place (native)", {"accuracy": 25.0}),
    ],
)
def test_native_releases_are_aggregated_by_their_official_rule(records, bench, metrics):
    summary = summarize(records)["benchmarks"][bench]
    assert summary["metrics_pct"] == pytest.approx(metrics)
    assert summary["unparsable"] == sum(1 for r in records if r["score"] is None)
