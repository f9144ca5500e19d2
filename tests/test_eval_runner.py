"""The eval runner: records, manifest, resume after kill -9, official aggregation."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from agents.tool_program import ToolProgramAgent
from benchmarks.cli import main
from benchmarks.eval import (
    PAPER_EVAL_KEYS,
    EvalConfig,
    ManifestMismatchError,
    ResultsCorruptError,
    ResultsLockedError,
    read_results,
    resolve_suite,
    run_eval,
    summarize,
)
from benchmarks.eval.store import FolderLock, ResultsFile
from benchmarks.eval.suites import synth_ids
from spacetools_env.episode_json import jsonable

REPO = Path(__file__).resolve().parents[1]
SMALL = "SpaceTools-Synth-RelativeDepth-v0,SpaceTools-Synth-FreeSpace-v0"


def _record(env_id: str, index: int, score: float | None = 1.0) -> dict:
    return {"key": {"env_id": env_id, "split": "test", "index": index}, "score": score}


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _keys(records: list[dict]) -> list[tuple]:
    return [(r["key"]["env_id"], r["key"]["split"], r["key"]["index"]) for r in records]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """2 synthetic families x 3 items, played in this process."""
    out = tmp_path_factory.mktemp("eval")
    config = EvalConfig(agent="tool-program", suite=SMALL, episodes=3, out=out, progress=False)
    return config, run_eval(config)


# ---------------------------------------------------------------------- results.jsonl repair
def test_torn_last_line_is_dropped_and_the_file_truncated_before_appending(tmp_path):
    path = tmp_path / "results.jsonl"
    good = [json.dumps(_record("E-v0", i)) for i in range(2)]
    torn = '{"key": {"env_id": "E-v0", "split": "te'
    path.write_text("\n".join(good) + "\n" + torn)
    with ResultsFile.open(path) as results:
        assert results.recovered.torn_bytes == len(torn)
        assert len(results.recovered.records) == 2
        assert path.read_text() == "\n".join(good) + "\n"
        results.append(json.dumps(_record("E-v0", 2)))
    assert _keys(_lines(path)) == [("E-v0", "test", 0), ("E-v0", "test", 1), ("E-v0", "test", 2)]


def test_junk_complete_last_line_counts_as_torn(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_bytes(json.dumps(_record("E-v0", 0)).encode() + b"\n\x00\x00\x00\n")
    found = read_results(path)
    assert len(found.records) == 1 and found.torn_bytes == 4


def test_damaged_line_before_the_last_is_an_error_naming_it(tmp_path):
    path = tmp_path / "results.jsonl"
    path.write_text(json.dumps(_record("E-v0", 0)) + "\nnot json\n" + json.dumps(_record("E-v0", 1)) + "\n")
    with pytest.raises(ResultsCorruptError, match="line 2 is not a JSON record"):
        read_results(path)


def test_records_hold_plain_json_only():
    value = {"mask": np.zeros((480, 640), bool), "corners": np.ones((8, 2)), "n": np.int64(3), "x": float("inf")}
    assert jsonable(value) == {
        "mask": {"type": "array", "shape": [480, 640], "dtype": "bool"},
        "corners": [[1.0, 1.0]] * 8,
        "n": 3,
        "x": None,
    }


# ---------------------------------------------------------------------- a small run, in process
def test_run_writes_one_full_record_per_episode(small_run):
    config, summary = small_run
    records = _lines(config.results_path)
    assert summary.expected == summary.recorded == summary.played == 6 and summary.complete
    assert sorted(_keys(records)) == sorted((env_id, "test", i) for env_id in SMALL.split(",") for i in range(3))
    r = next(r for r in records if r["family"] == "RelativeDepth")
    assert r["agent"] == "tool-program" and r["eval_key"] == "blinkdepth" and r["source"] == "synthetic"
    assert r["score"] == 1.0 and r["answer"] in ("A", "B") and r["terminated"] and not r["truncated"]
    assert r["meta"]["question_type"] == "relative_depth"
    assert r["reward"]["total"] == pytest.approx(sum(s["total"] for s in r["reward"]["steps"]))
    assert r["tools"]["calls"] == sum(len(t) for t in r["trajectory"]["tool_calls"]) > 0
    assert set(r["timing"]) == {"env_s", "tools_s", "agent_s", "wall_s"}
    image = r["trajectory"]["messages"][1]["content"][0]
    assert image == {"type": "image", "ref": "question:0", "index": 0, "shape": [480, 640, 3]}
    call = r["trajectory"]["tool_calls"][0][0]
    assert set(call) == {"name", "arguments", "ok", "text", "data", "fault"} and call["data"]["points"]
    assert call["fault"] is False  # exact oracle tools: no call is faulted


def test_manifest_records_versions_envs_prompts_and_seeds(small_run):
    config, _ = small_run
    manifest = json.loads(config.manifest_path.read_text())
    assert manifest["spacetools_version"] and manifest["numpy"] and manifest["gymnasium"]
    assert manifest["suite"]["name"] == "custom" and manifest["suite"]["version"]
    assert manifest["agent"]["target"] == "agents.tool_program:ToolProgramAgent"
    env = manifest["envs"][0]
    assert env["env_id"] == "SpaceTools-Synth-RelativeDepth-v0" and env["spec_kwargs"] == {"task": "RelativeDepth"}
    assert env["system_prompt"].startswith("You are") and env["limits"]["image_size"] == [640, 480]
    assert env["episodes"] == 3 and env["data"] is None and manifest["seed"]["base"] == 0


def test_summary_is_saved_and_aggregated_per_family_and_benchmark(small_run):
    config, summary = small_run
    saved = json.loads(config.summary_path.read_text())
    stats = saved["stats"]
    assert set(stats["families"]) == {"RelativeDepth", "FreeSpace"}
    assert stats["benchmarks"]["BLINK (synthetic)"]["metrics_pct"] == {"Relative_Depth": 100.0}
    assert stats["benchmarks"]["RoboSpatial (synthetic)"]["metrics_pct"]["Vacant"] == 100.0
    assert stats["tools"]["calls_per_episode"] > 0 and "roborefer.detect_one" in stats["tools"]["by_tool"]
    assert "RelativeDepth" in summary.format() and saved["complete"]


def test_rerun_plays_nothing_and_leaves_the_file_unchanged(small_run):
    config, _ = small_run
    before = config.results_path.read_bytes()
    again = run_eval(config)
    assert (again.played, again.resumed, again.recorded) == (0, 6, 6)
    assert config.results_path.read_bytes() == before


def test_a_different_run_into_the_same_folder_is_refused(small_run):
    config, _ = small_run
    for change in ({"episodes": 4}, {"agent": "agents.tool_program:ToolProgramAgent"}, {"difficulty": "hard"}):
        other = EvalConfig(**{**config.__dict__, **change})
        with pytest.raises(ManifestMismatchError, match="holds results of a different run"):
            run_eval(other)


def test_a_folder_in_use_is_refused(tmp_path):
    config = EvalConfig(agent="tool-program", suite=SMALL, episodes=1, out=tmp_path, progress=False)
    with FolderLock(tmp_path), pytest.raises(ResultsLockedError, match="another eval run is writing"):
        run_eval(config)


def test_resume_plays_only_the_missing_episodes(tmp_path):
    config = EvalConfig(agent="tool-program", suite="SpaceTools-Synth-Relation2D-v0", episodes=3, out=tmp_path)
    run_eval(config)
    lines = config.results_path.read_text().splitlines()
    config.results_path.write_text(lines[0] + "\n" + lines[1][: len(lines[1]) // 2])  # a kill mid-write
    logged: list[str] = []
    summary = run_eval(config, log=logged.append)
    assert (summary.resumed, summary.played) == (1, 2)
    assert any("dropped a torn last line" in m for m in logged)
    assert sorted(r["key"]["index"] for r in _lines(config.results_path)) == [0, 1, 2]


class FlakyAgent(ToolProgramAgent):
    """The tool-program agent, raising on item 1 while ``failing`` is set."""

    failing = True

    def act(self, turns):
        if FlakyAgent.failing and turns[0].info["task"]["index"] == 1:
            raise ConnectionError("model server unreachable")
        return super().act(turns)


def test_failed_episodes_are_reported_not_recorded_and_retried_on_resume(tmp_path):
    agent = f"{FlakyAgent.__module__}:FlakyAgent"
    config = EvalConfig(agent=agent, suite="SpaceTools-Synth-Relation2D-v0", episodes=3, out=tmp_path, progress=False)
    first = run_eval(config)
    assert (first.recorded, first.complete) == (2, False)
    assert first.failed[0][0].endswith("/test/1") and "model server unreachable" in first.failed[0][1]
    FlakyAgent.failing = False
    second = run_eval(config)
    assert (second.played, second.complete, second.failed) == (1, True, ())


# ---------------------------------------------------------------------- kill -9, for real
def _children(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):  # a thread that ended, or a kernel without the children file
            found |= {int(c) for c in (task / "children").read_text().split()}
    return found


@pytest.mark.parametrize("play", [["--workers", "2"], ["--workers", "1", "--batch-size", "4"]], ids=["pool", "batch"])
def test_kill_9_at_any_point_then_resume_records_each_episode_exactly_once(tmp_path, play):
    suite = "SpaceTools-Synth-RelativeDepth-v0,SpaceTools-Synth-Relation2D-v0,SpaceTools-Synth-Depth3D-v0"
    out = tmp_path / "run"
    command = [sys.executable, "-m", "benchmarks.cli", "eval", "--agent", "tool-program", "--suite", suite]
    command += ["--episodes", "5", *play, "--out", str(out), "--no-progress"]
    results = out / "results.jsonl"
    first = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and first.poll() is None:
        workers |= _children(first.pid)
        if results.exists() and results.read_bytes().count(b"\n") >= 3:
            break
        time.sleep(0.01)
    first.send_signal(signal.SIGKILL)
    first.wait()
    written = results.read_bytes().count(b"\n")
    assert 3 <= written < 15, f"the kill came too late to test anything ({written} records)"
    with open(results, "ab") as handle:  # as if the kill had hit in the middle of a write
        handle.write(b'{"schema": 1, "key": {"env_id": "SpaceTools-Synth-Rel')
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{w}").exists() for w in workers), "workers outlived the killed runner"

    second = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert second.returncode == 0, second.stderr
    assert "dropped a torn last line" in second.stderr and "resuming" in second.stderr
    records = _lines(results)  # every line parses
    expected = {(env_id, "test", i) for env_id in suite.split(",") for i in range(5)}
    assert sorted(_keys(records)) == sorted(expected)  # each key exactly once
    assert json.loads((out / "summary.json").read_text())["recorded"] == 15


def test_workers_killed_runner_during_their_startup_exit_too(tmp_path):
    # A worker still importing when the runner dies was handed to init before it could note its
    # parent; it must still notice (it watches the runner's pid, not its parent at that moment).
    command = [sys.executable, "-m", "benchmarks.cli", "eval", "--agent", "tool-program", "--suite", "synth",
               "--episodes", "2", "--workers", "2", "--out", str(tmp_path / "run"), "--no-progress"]
    runner = subprocess.Popen(command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(workers) < 2 and runner.poll() is None:
        workers |= _children(runner.pid)
        time.sleep(0.005)
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    assert workers, "the runner started no worker"
    deadline = time.monotonic() + 20
    while any(Path(f"/proc/{w}").exists() for w in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(Path(f"/proc/{w}").exists() for w in workers), "workers outlived a runner killed at their start"


# ---------------------------------------------------------------------- suites and the CLI
def test_suites_are_named_and_versioned():
    synth = resolve_suite("synth")
    assert synth.env_ids == synth_ids() and synth.episodes == 50 and synth.split == "test" and synth.version
    paper = resolve_suite("paper")
    assert paper.env_ids == tuple(PAPER_EVAL_KEYS) and len(paper.env_ids) == 9 and paper.episodes is None
    assert resolve_suite("synth", episodes=3).episodes == 3


def test_unknown_env_id_is_a_clear_cli_error(tmp_path, capsys):
    code = main(
        ["eval", "--agent", "tool-program", "--suite", "SpaceTools-Synth-RelativDepth-v0", "--out", str(tmp_path)]
    )
    assert code == 2
    assert "Did you mean ['SpaceTools-Synth-RelativeDepth-v0'" in capsys.readouterr().err


# ---------------------------------------------------------------------- the paper suite on fixtures
class AnswerKeyAgent:
    """Right on row 0 of every key; on RoboSpatial says "Yes" to all and points inside the free space."""

    def act(self, turns):
        from fixtures_bench import ANSWERS

        actions = []
        for turn in turns:
            task = turn.info["task"]
            key = PAPER_EVAL_KEYS[task["env_id"]]
            if key == "robospatial":
                answer = "[(0.4, 0.7)]" if task["answer_kind"] == "point" else "Yes"
            else:
                answer = ANSWERS[key][0] if task["index"] == 0 else "unsure"
            actions.append(f"<answer>{answer}</answer>")
        return actions

    def end_episode(self, episode_id):
        pass


def test_paper_suite_is_aggregated_as_the_official_code_does(tmp_path):
    from fixtures_bench import build_spacetools_eval

    data = build_spacetools_eval(tmp_path / "data")
    agent = f"{AnswerKeyAgent.__module__}:AnswerKeyAgent"
    config = EvalConfig(agent=agent, suite="paper", data_dir=str(data), out=tmp_path / "out", progress=False)
    summary = run_eval(config)
    assert summary.recorded == 28 and summary.complete
    bench = {name: b["metrics_pct"] for name, b in summary.stats["benchmarks"].items()}
    # RoboSpatial rows: configuration Yes (right), compatibility No, context, uncategorized No.
    assert bench["RoboSpatial"] == pytest.approx(
        {
            "VQA": 100 / 3,
            "Vacant": 100.0,
            "Overall": 50.0,
            "configuration": 100.0,
            "compatibility": 0.0,
            "context": 100.0,
            "uncategorized_n": 1.0,
        }
    )
    third = pytest.approx(100 / 3)
    assert bench["RefSpatial"] == {
        "Location": third,
        "Placement": third,
        "Unseen": third,
        "pooled": third,
        "mean": third,
    }
    assert bench["CV-Bench"] == {"2D-Relation": third, "3D-Depth": third}
    assert bench["BLINK"] == {"Relative_Depth": third}
    assert bench["BOP-ASK Pose"] == {"pose IoU x100": third} and bench["BOP-ASK Grasp"] == {"SR (NCE<2)": third}
    manifest = json.loads(config.manifest_path.read_text())
    files = manifest["envs"][0]["data"]["files"]
    assert files[0]["path"].endswith("robospatial.parquet") and len(files[0]["sha256"]) == 64


# ---------------------------------------------------------------------- aggregation rules, by hand
def _bench(key: str, scores: list, qt: str | None = None, source: str = "benchmark", kind: str | None = None) -> list:
    meta = {k: v for k, v in (("question_type", qt), ("answer_kind", kind)) if v is not None}
    return [
        {
            **_record(f"{key}-v0", i, s),
            "eval_key": key,
            "source": source,
            "family": key,
            "meta": meta,
            "tools": {"calls": 1, "errors": 0, "by_tool": {"t": {"calls": 1, "errors": 0}}},
        }
        for i, s in enumerate(scores)
    ]


RULE_CASES = [
    pytest.param(
        _bench("robospatial", [1, 1, 1, 0], "configuration")
        + _bench("robospatial", [0, 0], "compatibility")
        + _bench("robospatial", [1, 0, 0, 0], "context"),
        "RoboSpatial",
        {
            "VQA": 50.0,
            "Vacant": 25.0,
            "Overall": 40.0,
            "configuration": 75.0,
            "compatibility": 0.0,
            "context": 25.0,
            "VQA avg (leaderboard)": 37.5,
            "Total (leaderboard)": 100 / 3,
        },
        id="robospatial-pooled-vs-leaderboard",
    ),
    pytest.param(
        _bench("robospatial", [1, 0], "yes_no", kind="yes_no") + _bench("robospatial", [1], "context", kind="point"),
        "RoboSpatial",
        {"VQA": 50.0, "Vacant": 100.0, "Overall": 100 * 2 / 3, "context": 100.0, "uncategorized_n": 2.0},
        id="robospatial-unknown-categories-no-leaderboard",
    ),
    pytest.param(
        _bench("reflocation", [1, 1, 0]) + _bench("refplacement", [0]) + _bench("refunseen", [1, 0, 0, 0]),
        "RefSpatial",
        {"Location": 200 / 3, "Placement": 0.0, "Unseen": 25.0, "pooled": 37.5, "mean": (200 / 3 + 25) / 3},
        id="refspatial-pooled-and-mean",
    ),
    pytest.param(
        _bench("reflocation", [1, None]),
        "RefSpatial",
        {"Location": 50.0, "pooled": 50.0, "mean": 50.0},
        id="refspatial-null-score-counts-0-strictly",  # official: see tests/test_unparsable_aggregates.py
    ),
    pytest.param(_bench("blinkdepth", [1, 0, 1]), "BLINK", {"Relative_Depth": 200 / 3}, id="blink"),
    pytest.param(
        _bench("cvb2drelation", [1, 0]) + _bench("cvb3ddepth", [1, 1, 1, 0]),
        "CV-Bench",
        {"2D-Relation": 50.0, "3D-Depth": 75.0},
        id="cvbench-per-task",
    ),
    pytest.param(_bench("boppose", [0.5, 0.25]), "BOP-ASK Pose", {"pose IoU x100": 37.5}, id="bop-pose-iou"),
    pytest.param(_bench("bopgrasp", [1, 0, 0, 1]), "BOP-ASK Grasp", {"SR (NCE<2)": 50.0}, id="bop-grasp-sr"),
    pytest.param(
        _bench("blinkdepth", [1, 1], source="synthetic"),
        "BLINK (synthetic)",
        {"Relative_Depth": 100.0},
        id="synthetic-mirror-kept-apart",
    ),
]


@pytest.mark.parametrize(("records", "bench_name", "expected"), RULE_CASES)
def test_official_aggregation_rules(records, bench_name, expected):
    stats = summarize(records)
    assert list(stats["benchmarks"]) == [bench_name]
    assert stats["benchmarks"][bench_name]["metrics_pct"] == pytest.approx(expected)


def test_families_overall_is_the_mean_of_families_and_the_pooled_mean():
    records = _bench("a", [1, 1, 1, 1], source="synthetic") + _bench("b", [0], source="synthetic")
    for r in records:
        r["family"] = r["eval_key"].upper()
    stats = summarize(records)
    assert stats["overall"] == pytest.approx({"family_mean": 0.5, "pooled": 0.8})
    assert stats["tools"]["by_tool"]["t"] == pytest.approx(
        {"calls": 5, "errors": 0, "calls_per_episode": 1.0, "error_rate": 0.0}
    )
