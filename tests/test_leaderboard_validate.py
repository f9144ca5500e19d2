"""Leaderboard validation: a real submission passes; every kind of tampering is rejected with its reason."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from fixtures_runs import eval_submission

from benchmarks.cli import main
from benchmarks.eval import EvalConfig, run_eval
from benchmarks.leaderboard import Limits, validate_submission
from benchmarks.leaderboard.metadata import check_metadata

SMALL = "SpaceTools-Synth-RelativeDepth-v0,SpaceTools-Synth-FreeSpace-v0"


@pytest.fixture(scope="module")
def submission(tmp_path_factory) -> Path:
    """2 synthetic families x 3 items played by the tool-program agent, plus submission.json."""
    return eval_submission(tmp_path_factory.mktemp("submission"), "tool-program", SMALL, episodes=3)


@pytest.fixture
def copy(submission, tmp_path) -> Path:
    return Path(shutil.copytree(submission, tmp_path / "sub"))


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in (path / "results.jsonl").read_text().splitlines()]


def _write(path: Path, records: list[dict]) -> None:
    (path / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def _rejected(path: Path, *needles: str, **kwargs) -> list[str]:
    report = validate_submission(path, **kwargs)
    assert not report.ok
    reasons = report.reasons()
    for needle in needles:
        assert any(needle in r for r in reasons), f"{needle!r} not in {reasons}"
    return reasons


def test_a_real_submission_validates_and_is_rescored(submission):
    report = validate_submission(submission)
    assert report.ok, report.reasons()
    assert (report.episodes, report.rescored) == (6, 6)
    assert report.suite["episodes"] == 6 and report.submission["agent"] == "tool-program"
    assert report.summary["benchmarks"]["BLINK (synthetic)"]["metrics_pct"] == {"Relative_Depth": 100.0}
    assert "OK" in report.format().splitlines()[0]


def test_cli_exit_status_is_0_for_accepted_and_1_for_rejected(copy, capsys):
    assert main(["leaderboard", "validate", str(copy)]) == 0
    (copy / "submission.json").unlink()
    assert main(["leaderboard", "validate", str(copy)]) == 1
    assert "submission.json: is missing" in capsys.readouterr().out


def test_tampered_score_is_rejected_naming_the_line(copy):
    records = _lines(copy)
    records[1]["score"] = 0.0 if records[1]["score"] else 1.0
    _write(copy, records)
    _rejected(copy, "results.jsonl:2 (", "re-scored by the official scorer")


def test_answer_that_is_not_the_last_actions_answer_is_rejected(copy):
    records = _lines(copy)
    records[0]["answer"] = "something else"
    _write(copy, records)
    _rejected(copy, "results.jsonl:1", "is not the <answer> of the last action")


def test_dropped_line_is_a_missing_episode(copy):
    records = _lines(copy)
    dropped = records.pop(2)
    _write(copy, records)
    _rejected(copy, "1 episodes of suite 'custom' are missing: " + dropped["episode_id"])


def test_duplicated_line_is_rejected(copy):
    records = _lines(copy)
    _write(copy, [*records, records[0]])
    episode = records[0]["episode_id"]
    _rejected(copy, "results.jsonl:7", f"duplicate record: episode {episode} is already on line 1")


def test_record_outside_the_suite_is_an_extra_item(copy):
    records = _lines(copy)
    extra = json.loads(json.dumps(records[0]))
    extra["key"]["index"] = 7
    extra["episode_id"] = extra["episode_id"].rsplit("/", 1)[0] + "/7"
    _write(copy, [*records, extra])
    _rejected(copy, "results.jsonl:7", "extra record", "is not an episode of suite 'custom'")


def test_extra_key_in_a_record_is_a_schema_error(copy):
    records = _lines(copy)
    records[3]["bonus"] = 1
    _write(copy, records)
    _rejected(copy, "results.jsonl:4: unknown fields ['bonus']")


def test_a_schema_1_record_is_rejected_by_version_not_by_a_missing_field(copy):
    records = _lines(copy)
    records[0]["schema"] = 1
    del records[0]["unparsable"]  # schema 2 added it
    _write(copy, records)
    reasons = _rejected(copy, "results.jsonl:1: schema is 1; this validator reads schemas [2, 3]")
    assert not any("unparsable" in r for r in reasons), reasons


def test_suite_version_mismatch_is_rejected(copy):
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["suite"]["version"] = "0-deadbeef"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    _rejected(copy, "manifest.json: suite 'custom' is version", "'0-deadbeef'")


def test_make_kwargs_that_choose_code_are_rejected_and_never_used(copy):
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["envs"][0]["make_kwargs"]["tool_client"] = "os:system"
    (copy / "manifest.json").write_text(json.dumps(manifest))
    _rejected(copy, "manifest.json: envs make_kwargs SpaceTools-Synth-RelativeDepth-v0: tool_client chooses code")


def test_symlink_escaping_the_directory_is_rejected(copy):
    (copy / "notes.txt").symlink_to("/etc/passwd")
    _rejected(copy, "notes.txt: is a symlink to '/etc/passwd', which resolves outside the submission directory")


def test_symlinked_results_file_is_rejected(copy, tmp_path):
    outside = tmp_path / "elsewhere.jsonl"
    shutil.move(copy / "results.jsonl", outside)
    (copy / "results.jsonl").symlink_to(outside)
    _rejected(copy, "results.jsonl: is a symlink")


def test_submission_file_reference_outside_the_directory_is_rejected(copy):
    meta = json.loads((copy / "submission.json").read_text())
    meta["files"] = ["../../etc/passwd"]
    (copy / "submission.json").write_text(json.dumps(meta))
    _rejected(copy, "escapes the submission directory")


@pytest.mark.parametrize("name", ["model.pkl", "cache.pickle", "arrays.npz"])
def test_pickle_like_files_are_rejected_unopened(copy, name):
    (copy / name).write_bytes(b"not even read")
    _rejected(copy, f"{name}: ", "can execute code when loaded")


def test_object_npy_and_disguised_pickle_are_rejected(copy):
    np.save(copy / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    np.save(copy / "numbers.npy", np.arange(3))
    (copy / "data.bin").write_bytes(b"\x80\x04\x95" + b"\x00" * 8)
    reasons = _rejected(copy, "objects.npy: is a .npy array of Python objects", "data.bin: looks like a pickle")
    assert not any("numbers.npy" in r for r in reasons)


def test_oversized_files_are_rejected_against_the_limits(copy):
    too_long = "results.jsonl:1: the record is longer than the limit of 1000 bytes"
    _rejected(copy, too_long, limits=Limits(record_bytes=1000))
    _rejected(copy, "results.jsonl: is", "the limit is 2000 bytes", limits=Limits(results_bytes=2000))
    _rejected(copy, "submission.json: is", "the limit is 10 bytes", limits=Limits(submission_bytes=10))


def test_malformed_json_line_is_rejected(copy):
    lines = (copy / "results.jsonl").read_text().splitlines()
    lines[2] = lines[2][:50]
    lines[4] = lines[4].replace('"score":1.0', '"score":NaN', 1)
    (copy / "results.jsonl").write_text("\n".join(lines) + "\n")
    _rejected(copy, "results.jsonl:3: is not valid JSON", "results.jsonl:5: is not valid JSON (NaN is not valid JSON")


def test_missing_submission_field_is_rejected(copy):
    meta = json.loads((copy / "submission.json").read_text())
    del meta["contact"]
    meta["tools"] = "all of them"
    (copy / "submission.json").write_text(json.dumps(meta))
    _rejected(copy, "submission.json: missing required field 'contact'", "field 'tools' must be a list of tool names")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"contact": "nobody"}, "field 'contact' must be an e-mail address or an http(s) URL"),
        ({"model": ""}, "field 'model' must be a non-empty string"),
        ({"date": "yesterday"}, "field 'date' must be a date as YYYY-MM-DD"),
        ({"score": 99}, "unknown fields ['score']"),
    ],
)
def test_submission_metadata_errors_name_the_field(change, message):
    base = {"model": "m", "agent": "a", "tools": ["t"], "contact": "a@b.org"}
    assert any(message in p for p in check_metadata({**base, **change}))


class AnswerKeyAgent:
    """Answers row 0 of every benchmark key right (fixtures_bench.ANSWERS), without tools."""

    def act(self, turns):
        from fixtures_bench import ANSWERS

        from benchmarks.eval import PAPER_EVAL_KEYS

        return [f"<answer>{ANSWERS[PAPER_EVAL_KEYS[t.info['task']['env_id']]][0]}</answer>" for t in turns]

    def end_episode(self, episode_id):
        pass


def test_paper_suite_submission_is_rescored_against_the_benchmark_data(tmp_path):
    from fixtures_bench import build_spacetools_eval

    data = str(build_spacetools_eval(tmp_path / "data"))
    out = tmp_path / "paper"
    agent = f"{AnswerKeyAgent.__module__}:AnswerKeyAgent"
    run_eval(EvalConfig(agent=agent, suite="paper", data_dir=data, out=out, progress=False), log=lambda m: None)
    meta = {"model": "answer key", "agent": "answer-key", "tools": [], "contact": "https://example.org"}
    (out / "submission.json").write_text(json.dumps(meta))
    report = validate_submission(out, data_dir=data)
    assert report.ok, report.reasons()
    assert report.rescored == 28 and report.suite == {"name": "paper", "version": "1", "episodes": 28}
    assert report.summary["benchmarks"]["BOP-ASK Grasp"]["metrics_pct"] == {"SR (NCE<2)": 100.0}  # 3 identical rows
    _rejected(out, "manifest.json: cannot rebuild", data_dir=str(tmp_path / "nowhere"))
