"""Re-scoring checks what the recorded actions imply, not what the record claims.

Every submission here is a real ``spacetools eval`` run (scripted agents, oracle tools), edited the
way a cheating or careless submitter would edit it; the validator must find each edit from the
actions alone (or, with ``replay=True``, by playing the episode again), and name the rule.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from fixtures_runs import eval_submission

from benchmarks.cli import main
from benchmarks.eval import EvalConfig, run_eval
from benchmarks.leaderboard import validate_submission
from benchmarks.leaderboard.actions import called_tools
from benchmarks.leaderboard.site import build_site

TWO = "SpaceTools-Synth-RelativeDepth-v0,SpaceTools-Synth-BoxPose-v0"
DEPTH = "SpaceTools-Synth-RelativeDepth-v0"
DETECT = ('<tool_call>{"name": "roborefer.detect_one", '
          '"arguments": {"obj_name": "the point A", "image_index": 0}}</tool_call>')


class ManyCallsAgent:
    """Turn 1: ten calls (the 8th to a tool the env lacks) and a broken one; turn 2: prose; turn 3: answers."""

    name = "many-calls"

    def act(self, turns):
        out = []
        for turn in turns:
            assistant = sum(1 for m in turn.messages if m["role"] == "assistant")
            if assistant == 0:
                out.append(DETECT * 7 + '<tool_call>{"name": "nope", "arguments": {}}</tool_call>' + DETECT * 2
                           + "<tool_call>{not json</tool_call>")
            elif assistant == 1:
                out.append("Let me think about the depth first.")
            else:
                out.append("<answer>(A)</answer>")
        return out

    def end_episode(self, episode_id):
        pass


class NeverAnswersAgent:
    """Calls a tool every turn and never answers: the episode is truncated at max_turns."""

    name = "never-answers"

    def act(self, turns):
        return [DETECT for _ in turns]

    def end_episode(self, episode_id):
        pass


class LongActionAgent:
    """Turn 1: a call padded past a 200-character max_action_chars (refused by the env); turn 2: answers."""

    name = "long-action"

    def act(self, turns):
        first = [not any(m["role"] == "assistant" for m in turn.messages) for turn in turns]
        return [DETECT + " " * 200 if f else "<answer>(A)</answer>" for f in first]

    def end_episode(self, episode_id):
        pass


class FailsOnItemOneAgent:
    """Answers at once, except on item 1, where it raises: the eval runner fails that episode."""

    name = "fails-on-one"

    def act(self, turns):
        if any(turn.info["task"]["index"] == 1 for turn in turns):
            raise RuntimeError("the model server went away")
        return ["<answer>(A)</answer>" for _ in turns]

    def end_episode(self, episode_id):
        pass


def _run(root: Path, name: str, agent: str, suite: str, episodes: int, **kwargs) -> Path:
    return eval_submission(root / name, agent, suite, model=name, episodes=episodes, **kwargs)


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {
        "tools": _run(root, "tools", "tool-program", TWO, 2),
        "blind": _run(root, "blind", "blind-guess", TWO, 2),
        "many": _run(root, "many", f"{__name__}:ManyCallsAgent", DEPTH, 2),
        "never": _run(root, "never", f"{__name__}:NeverAnswersAgent", DEPTH, 1, env_kwargs={"max_turns": 3}),
        "long": _run(root, "long", f"{__name__}:LongActionAgent", DEPTH, 1, env_kwargs={"max_action_chars": 200}),
    }


def _edit(runs, tmp_path: Path, name: str, edit) -> Path:
    """A copy of run ``name`` with ``edit(records)`` applied to its parsed records."""
    copy = Path(shutil.copytree(runs[name], Path(tempfile.mkdtemp(dir=tmp_path)) / name))
    records = [json.loads(line) for line in (copy / "results.jsonl").read_text().splitlines()]
    edit(records)
    (copy / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    return copy


def _reasons(path: Path, **kwargs) -> list[str]:
    report = validate_submission(path, **kwargs)
    assert not report.ok
    return report.reasons()


def _with_calls(records: list[dict]) -> dict:
    return next(r for r in records if r["tools"]["calls"])


# ---------------------------------------------------------------------- what real runs write
@pytest.mark.parametrize("name", ["tools", "blind", "many", "never", "long"])
def test_real_eval_runs_validate_with_and_without_replay(runs, name):
    for replay in (False, True):
        report = validate_submission(runs[name], replay=replay)
        assert report.ok, report.reasons()
        assert report.rescored == report.episodes > 0


def test_the_call_cap_parse_errors_and_unknown_tools_count_as_the_env_counts_them(runs):
    record = json.loads((runs["many"] / "results.jsonl").read_text().splitlines()[0])
    # 11 calls written, 8 run (the 8th to "nope"); the broken call, the calls past the cap, the prose are invalid
    assert [len(turn) for turn in record["trajectory"]["tool_calls"]] == [8, 0, 0]
    assert record["invalid_actions"] == 3 and record["tools"]["by_tool"]["<unknown>"] == {"calls": 1, "errors": 1}
    assert called_tools(runs["many"]) == ["roborefer.detect_one"]


def test_actions_are_read_with_the_runs_own_max_action_chars(runs):
    record = json.loads((runs["long"] / "results.jsonl").read_text())
    # the env refused the padded call (no call ran); with the default 64 KiB cap it would have run
    assert record["trajectory"]["tool_calls"][0] == [] and record["invalid_actions"] == 1


def test_a_truncated_run_is_checked_against_its_own_max_turns(runs, tmp_path):
    record = json.loads((runs["never"] / "results.jsonl").read_text())
    assert (record["turns"], record["truncated"], record["terminated"]) == (3, True, False)

    def one_more_turn(records):
        r = records[0]
        r["trajectory"]["actions"].append(DETECT)
        r["trajectory"]["tool_calls"].append(r["trajectory"]["tool_calls"][-1])
        r["turns"] += 1
        r["tools"]["calls"] += 1
        r["tools"]["by_tool"]["roborefer.detect_one"]["calls"] += 1

    reasons = _reasons(_edit(runs, tmp_path, "never", one_more_turn))
    assert any("the trajectory has 4 actions but the run's max_turns is 3: the env ends an episode after 3 turns"
               in r for r in reasons), reasons


def test_an_episode_that_failed_in_the_run_is_missing_with_the_fix(tmp_path):
    out = tmp_path / "failed"
    summary = run_eval(EvalConfig(agent=f"{__name__}:FailsOnItemOneAgent", suite=DEPTH, out=out, episodes=2,
                                  progress=False), log=lambda m: None)
    assert [episode for episode, _ in summary.failed] == [f"{DEPTH}/test/1"]
    meta = {"model": "m", "agent": "a", "tools": [], "contact": "team@example.org"}
    (out / "submission.json").write_text(json.dumps(meta))
    assert _reasons(out) == [
        f"results.jsonl: 1 episodes of suite 'custom' are missing: {DEPTH}/test/1 (the eval runner records no "
        "failed episode: re-run the same spacetools eval command to retry them, see summary.json)"
    ]


# ---------------------------------------------------------------------- the reproductions
def test_emptied_tool_calls_and_zeroed_tool_stats_are_rejected(runs, tmp_path, capsys):
    def hide_tools(records):
        for r in records:
            r["trajectory"]["tool_calls"] = [[] for _ in r["trajectory"]["tool_calls"]]
            r["tools"] = {"calls": 0, "errors": 0, "by_tool": {}}

    edited = _edit(runs, tmp_path, "tools", hide_tools)
    reasons = _reasons(edited)
    first = json.loads((runs["tools"] / "results.jsonl").read_text().splitlines()[0])
    calls = len(first["trajectory"]["tool_calls"][0])
    assert f"results.jsonl:1 ({first['episode_id']}): trajectory.tool_calls[0] holds 0 calls but action 0 makes " \
           f"{calls} (the env runs every parsed call up to max_calls_per_turn, none on an answering turn)" in reasons
    lines = len((runs["tools"] / "results.jsonl").read_text().splitlines())
    for line in range(1, lines + 1):  # at most 3 call differences per record, then their count
        assert sum(r.startswith(f"results.jsonl:{line} (") and "trajectory.tool_calls[" in r for r in reasons) <= 3
    assert main(["leaderboard", "validate", str(edited)]) == 1
    assert "holds 0 calls but action 0 makes" in capsys.readouterr().out


def test_terminated_and_truncated_both_true_is_rejected(runs, tmp_path):
    def both(records):
        records[0]["truncated"] = True

    reasons = _reasons(_edit(runs, tmp_path, "blind", both))
    assert any(r.endswith("truncated is True after 1 turns; an answered episode is terminated, not truncated")
               for r in reasons), reasons


def test_an_episode_that_never_ended_is_rejected(runs, tmp_path):
    def drop_answer(records):
        r = records[0]
        for field in ("actions", "tool_calls"):
            r["trajectory"][field] = r["trajectory"][field][:-1]
        r["turns"] -= 1
        r["terminated"], r["answer"] = False, None

    reasons = _reasons(_edit(runs, tmp_path, "tools", drop_answer))
    assert any("without an answer, short of max_turns=8 (a run stopped mid-episode? re-run the same spacetools eval "
               "command to replay it)" in r for r in reasons), reasons


def test_truncation_claimed_before_max_turns_is_rejected(runs, tmp_path):
    def claim(records):
        records[0]["terminated"], records[0]["truncated"] = False, True

    reasons = _reasons(_edit(runs, tmp_path, "blind", claim))
    assert any("terminated is False but the last action has answer" in r for r in reasons), reasons
    assert any("truncated is True after 1 turns; an answered episode is terminated" in r for r in reasons), reasons


def test_invalid_action_count_must_match_the_actions(runs, tmp_path):
    reasons = _reasons(_edit(runs, tmp_path, "many", lambda records: records[0].update(invalid_actions=0)))
    assert any("invalid_actions is 0 but the actions hold 3 (parse errors, and calls past max_calls_per_turn=8, "
               "as the env counts them)" in r for r in reasons), reasons


def test_calls_past_the_cap_cannot_be_added_to_the_record(runs, tmp_path):
    def add_capped(records):
        turn = records[0]["trajectory"]["tool_calls"][0]
        turn.append(dict(turn[0]))
        records[0]["tools"]["calls"] += 1

    reasons = _reasons(_edit(runs, tmp_path, "many", add_capped))
    assert any("trajectory.tool_calls[0] holds 9 calls but action 0 makes 8" in r for r in reasons), reasons


def test_a_renamed_call_and_a_successful_unknown_tool_are_rejected(runs, tmp_path):
    def rename(records):
        records[0]["trajectory"]["tool_calls"][0][0]["name"] = "depth_estimator.estimate_depth"

    reasons = _reasons(_edit(runs, tmp_path, "many", rename))
    assert any("trajectory.tool_calls[0][0] is 'depth_estimator.estimate_depth' with arguments" in r
               and "but action 0 calls 'roborefer.detect_one' with" in r for r in reasons), reasons

    def unknown_ok(records):
        turn = records[0]["trajectory"]["tool_calls"][0]
        next(c for c in turn if c["name"] == "nope")["ok"] = True

    reasons = _reasons(_edit(runs, tmp_path, "many", unknown_ok))
    assert any("calls 'nope', which the env has no tool for, yet is recorded ok; such a call always fails" in r
               for r in reasons), reasons


def test_tool_statistics_must_match_the_calls(runs, tmp_path):
    def fewer_errors(records):
        r = _with_calls(records)
        r["tools"]["errors"] = 0
        r["tools"]["by_tool"] = {name: {**s, "errors": 0} for name, s in r["tools"]["by_tool"].items()}

    reasons = _reasons(_edit(runs, tmp_path, "many", fewer_errors))
    assert any("tools.errors is 0 but the actions make 1 (from the calls and their ok flags)" in r for r in reasons)
    assert any("tools.by_tool is" in r for r in reasons), reasons


# ---------------------------------------------------------------------- declared tools
def test_declared_tools_must_be_the_tools_the_trajectories_call(runs, tmp_path):
    copy = Path(shutil.copytree(runs["blind"], tmp_path / "claims-tools"))
    meta = json.loads((copy / "submission.json").read_text())
    meta["tools"] = ["roborefer.detect_one"]
    (copy / "submission.json").write_text(json.dumps(meta))
    assert _reasons(copy) == [
        'submission.json: "tools" must list exactly the tools the trajectories call (listed but never called: '
        '["roborefer.detect_one"]); write "tools": []'
    ]
    copy = Path(shutil.copytree(runs["many"], tmp_path / "hides-tools"))
    meta = json.loads((copy / "submission.json").read_text())
    meta["tools"] = ["sam2.segment_from_point"]
    (copy / "submission.json").write_text(json.dumps(meta))
    assert _reasons(copy) == [
        'submission.json: "tools" must list exactly the tools the trajectories call (called but not listed: '
        '["roborefer.detect_one"]; listed but never called: ["sam2.segment_from_point"]); '
        'write "tools": ["roborefer.detect_one"]'
    ]


# ---------------------------------------------------------------------- replay
def test_replay_rejects_tool_texts_and_ok_flags_the_env_never_produced(runs, tmp_path, capsys):
    def forge(records):
        first = _with_calls(records)
        first["trajectory"]["tool_calls"][0][0]["text"] = "Found the mug at (0.5, 0.5)."

    edited = _edit(runs, tmp_path, "tools", forge)
    assert validate_submission(edited).ok  # tool texts are not scored: only a replay can tell
    reasons = _reasons(edited, replay=True)
    assert len(reasons) == 1 and reasons[0].endswith(
        "replayed in the env: turn 1, call 1 (roborefer.detect_one): the tool printed different text than recorded")
    assert main(["leaderboard", "validate", str(edited), "--replay"]) == 1
    assert "the tool printed different text than recorded" in capsys.readouterr().out

    def flip_ok(records):
        r = _with_calls(records)
        call = r["trajectory"]["tool_calls"][0][0]
        call["ok"] = False
        r["tools"]["errors"] += 1
        r["tools"]["by_tool"][call["name"]]["errors"] += 1

    reasons = _reasons(_edit(runs, tmp_path, "tools", flip_ok), replay=True)
    assert reasons[0].endswith("(roborefer.detect_one): the call succeeded, the record says ok=False"), reasons


def test_build_with_replay_rejects_a_forged_tool_text(runs, tmp_path):
    def forge(records):
        _with_calls(records)["trajectory"]["tool_calls"][0][0]["text"] = "forged"

    edited = _edit(runs, tmp_path, "tools", forge)
    summary = build_site([runs["blind"], edited], tmp_path / "site", trajectories=0, replay=True, log=lambda m: None)
    assert (summary.accepted, summary.rejected) == (1, 1)


# ---------------------------------------------------------------------- what a submitter meets
def test_build_checks_submission_json_first_and_prints_every_reason(runs, tmp_path, capsys):
    bad = Path(shutil.copytree(runs["blind"], tmp_path / "bad-meta"))
    (bad / "submission.json").write_text(json.dumps({"model": "m", "agent": "a", "tools": "all", "contact": "x"}))
    assert main(["leaderboard", "build", str(runs["tools"]), str(bad), "--out", str(tmp_path / "site"),
                 "--trajectories", "0"]) == 0
    out = capsys.readouterr().out.splitlines()
    rejected = out.index(f"{bad}: REJECTED before re-scoring (2 problems)")
    assert out[rejected + 1].startswith("  - submission.json: field 'tools' must be a list of tool names")
    assert out[rejected + 2] == "  - submission.json: field 'contact' must be an e-mail address or an http(s) URL, " \
                                "got 'x'"
    accepted = next(i for i, line in enumerate(out) if line.startswith(f"{runs['tools']}: OK"))
    assert rejected < accepted  # reported before the good submission was re-scored


def test_build_prints_each_problem_of_a_rejected_rescore(runs, tmp_path, capsys):
    def tamper(records):
        records[0]["score"], records[1]["truncated"] = 0.5, True

    edited = _edit(runs, tmp_path, "blind", tamper)
    assert main(["leaderboard", "build", str(edited), "--out", str(tmp_path / "site")]) == 1
    out = capsys.readouterr().out
    assert f"{edited}: REJECTED (2 problems)" in out
    assert "  - results.jsonl:1 (" in out and "re-scored by the official scorer" in out
    assert "  - results.jsonl:2 (" in out and "an answered episode is terminated, not truncated" in out


def test_answer_key_cache_location_is_printed_and_configurable(runs, tmp_path, capsys, monkeypatch):
    folder = tmp_path / "my-cache"
    assert main(["leaderboard", "validate", str(runs["tools"]), "--cache-dir", str(folder)]) == 0
    err = capsys.readouterr().err
    assert f"answer keys: cached in {folder / 'answer-keys'} (move with --cache-dir or $SPACETOOLS_CACHE_DIR)" in err
    assert any((folder / "answer-keys").iterdir())
    monkeypatch.setenv("SPACETOOLS_CACHE_DIR", str(tmp_path / "from-env"))
    assert main(["leaderboard", "prepare", "--suite", DEPTH, "--episodes", "1", "--workers", "1"]) == 0
    assert f"answer keys: cached in {tmp_path / 'from-env' / 'answer-keys'}" in capsys.readouterr().err
    assert any((tmp_path / "from-env" / "answer-keys").iterdir())
    assert main(["leaderboard", "build", str(runs["blind"]), "--out", str(tmp_path / "site"), "--trajectories", "0",
                 "--cache-dir", str(folder)]) == 0
    assert f"answer keys: cached in {folder / 'answer-keys'}" in capsys.readouterr().err
    assert main(["leaderboard", "validate", str(runs["blind"]), "--no-cache"]) == 0
    assert "answer keys: not cached (--no-cache)" in capsys.readouterr().err
