"""Tool faults: per-call ``fault`` flags (oracle failures, injected faults), seeding, recovery, records, summaries."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import spacetools_env  # noqa: F401  (registers the ids)
from agents.tool_program import ToolProgramAgent
from benchmarks.eval import EvalConfig, run_eval
from benchmarks.eval.records import brief
from benchmarks.leaderboard.schema import record_problems
from spacetools_env.episode_json import RECORD_SCHEMA, tool_calls_json, trajectory_json
from spacetools_env.messages import message_text
from spacetools_env.rollout import Trajectory, Turn, agent_policy, rollout
from tool_backends import EpisodeContext, ToolCall, ToolInfrastructureError, make_client
from tool_backends.faults import (
    FaultInjectingClient,
    FaultSpec,
    ToolFaults,
    recovery,
    recovery_summary,
)
from tool_backends.result import FAULT_KINDS, ToolResult

REF = "SpaceTools-Synth-RefLocation-v0"
FAILING = {"noise": {"roborefer": {"failure_rate": 0.5}}}
"""The oracle's realistic failures: half of the pointing calls find nothing or point at another object."""
SEEDS = range(12)


class RetryAgent:
    """The tool-program agent, but it calls the same tools again when a detection found nothing.

    A real agent under the agent protocol: it reads only the conversation (the model-visible
    text), never ``info``, so a recovery it makes is one a model could make.
    """

    name = "retry-after-empty-detection"

    def __init__(self, retries: int = 3) -> None:
        self.program = ToolProgramAgent()
        self.retries = retries
        self._retried: dict[str, int] = {}

    def act(self, turns: Sequence[Turn]) -> list[Any]:
        return [self._act_one(t) for t in turns]

    def end_episode(self, episode_id: str) -> None:
        self._retried.pop(episode_id, None)
        self.program.end_episode(episode_id)

    def _act_one(self, turn: Turn) -> Any:
        last = [i for i, m in enumerate(turn.messages) if m["role"] == "assistant"]
        replies = [message_text(m) for m in turn.messages[last[-1] + 1:]] if last else []
        if any(t.startswith("Detected 0 instance(s)") for t in replies):
            done = self._retried.get(turn.episode_id, 0)
            if done < self.retries:
                self._retried[turn.episode_id] = done + 1
                return message_text(turn.messages[last[-1]])  # the same calls again; the program awaits their answers
        return self.program.act([turn])[0]


def _play(agent: Any, tool_options: dict[str, Any], seeds: range = SEEDS, **make: Any) -> list[Trajectory]:
    env = gym.make(REF, tool_options=tool_options, **make)
    try:
        return [rollout(env, agent_policy(agent, str(seed)), seed=seed) for seed in seeds]
    finally:
        env.close()


@pytest.fixture(scope="module")
def scripted() -> list[Trajectory]:
    return _play(ToolProgramAgent(), FAILING)


# ---------------------------------------------------------------------- the flag
def test_oracle_failures_flag_failure_or_wrong_and_jitter_flags_nothing():
    always = make_client(noise={"roborefer": {"failure_rate": 1.0}, "depth_estimator": {"failure_rate": 1.0}})
    jitter = make_client(noise={"roborefer": {"point_sigma": 0.05}, "depth_estimator": {"depth_sigma": 0.1}})
    env = gym.make(REF)
    env.reset(seed=0)
    item = env.unwrapped.item
    name = item.truth[0].referents[0].name
    kinds = set()
    for seed in range(8):
        for client in (always, jitter):
            client.open_episode(EpisodeContext(images=item.images, truth=item.truth, seed=seed))
        pointed = always.call("roborefer.detect_one", {"obj_name": name, "image_index": 0})
        kinds.add(pointed.fault)
        assert (pointed.fault == "failure") == pointed.text.startswith("Detected 0 instance(s)")
        assert always.call("depth_estimator.estimate_depth", {"image_index": 0}).fault == "wrong"
        assert jitter.call("roborefer.detect_one", {"obj_name": name, "image_index": 0}).fault is False
        assert jitter.call("depth_estimator.estimate_depth", {"image_index": 0}).fault is False
    assert kinds == {"failure", "wrong"}
    # a failure drawn on a query that matches nothing leaves the output unchanged: no fault
    missing = always.call("roborefer.detect_one", {"obj_name": "purple giraffe", "image_index": 0})
    assert missing.text == "Detected 0 instance(s) of 'purple giraffe': []" and missing.fault is False
    env.close()


def test_segmentation_failure_is_wrong_only_when_it_picks_another_segment():
    client = make_client(noise={"sam2": {"failure_rate": 1.0}})
    env = gym.make(REF)
    env.reset(seed=1)
    item = env.unwrapped.item
    client.open_episode(EpisodeContext(images=item.images, truth=item.truth, seed=3))
    x, y = item.truth[0].referents[0].point
    result = client.call("sam2.segment_from_point", {"x": x, "y": y, "image_index": 0})
    exact = make_client()
    exact.open_episode(EpisodeContext(images=item.images, truth=item.truth, seed=3))
    truth = exact.call("sam2.segment_from_point", {"x": x, "y": y, "image_index": 0})
    assert result.fault == ("wrong" if result.data["label"] != truth.data["label"] else False)
    assert truth.fault is False
    env.close()


def test_fault_is_recorded_per_call_and_never_reaches_the_model(scripted):
    calls = [c for t in scripted for turn in t.tool_results for c in turn]
    assert {c["fault"] for c in calls} >= {False, "failure"}  # seeds 0..11 at rate 0.5 hit both
    assert all(c["fault"] is False or c["fault"] in FAULT_KINDS for c in calls)
    for traj in scripted:
        visible = json.dumps([{k: v for k, v in m.items() if k != "content"} for m in traj.messages])
        texts = [message_text(m) for m in traj.messages]
        assert "fault" not in visible and not any("fault" in t or "inject" in t for t in texts)
        assert all(set(m) <= {"role", "content", "name"} for m in traj.messages)
        json_calls = trajectory_json(traj)["tool_calls"]
        assert [[c["fault"] for c in t] for t in json_calls] == [[c["fault"] for c in t] for t in traj.tool_results]


def test_injected_faults_look_like_real_outputs_and_are_flagged():
    faults = {"roborefer": {"rate": 1.0, "kinds": ["failure", "error", "timeout"]}, "seed": 5}
    (traj,) = _play(ToolProgramAgent(), {"faults": faults}, seeds=range(3, 4))
    (call,) = traj.tool_results[0]
    texts = {
        "failure": "Detected 0 instance(s) of '",
        "error": "Error: roborefer.detect_one failed: RuntimeError: internal tool error",
        "timeout": "Error: roborefer.detect_one timed out after 30 s",
    }
    assert call["fault"] in texts and call["text"].startswith(texts[call["fault"]])
    assert "inject" not in message_text(traj.messages[3])


# ---------------------------------------------------------------------- seeding
def test_same_reset_seed_same_faults_bit_for_bit():
    options = {"noise": {"roborefer": {"failure_rate": 0.4}},
               "faults": {"roborefer": {"rate": 0.3, "kinds": ["error", "timeout", "failure"]}}}
    first, second = (_play(ToolProgramAgent(), options) for _ in range(2))
    dump = [json.dumps(trajectory_json(t), sort_keys=True) for t in first]
    assert dump == [json.dumps(trajectory_json(t), sort_keys=True) for t in second]
    flags = [[c["fault"] for turn in t.tool_results for c in turn] for t in first]
    assert len({json.dumps(f) for f in flags}) > 1  # faults differ between seeds ...
    other = _play(ToolProgramAgent(), {**options, "faults": {**options["faults"], "seed": 1}})
    assert flags != [[c["fault"] for turn in t.tool_results for c in turn] for t in other]  # ... and fault seeds


def test_call_many_equals_calls_one_at_a_time_with_injection():
    faults = ToolFaults({"*": FaultSpec(rate=0.5, kinds=("error", "timeout"))}, seed=2)
    env = gym.make(REF)
    env.reset(seed=0)
    item = env.unwrapped.item
    calls = [ToolCall("roborefer.detect_one", {"obj_name": r.name, "image_index": 0}) for r in item.truth[0].referents]
    calls += [ToolCall("depth_estimator.estimate_depth", {"image_index": 0})] * 4
    outs = []
    for batched in (True, False):
        client = FaultInjectingClient(make_client(noise={"roborefer": {"point_sigma": 0.02}}), faults)
        client.open_episode(EpisodeContext(images=item.images, truth=item.truth, seed=9))
        got = client.call_many(calls) if batched else [client.call(n, a) for n, a in calls]
        outs.append([(r.ok, r.text, r.fault) for r in got])
    assert outs[0] == outs[1] and len({f for _, _, f in outs[0]}) >= 2  # some faulted, some answered
    env.close()


# ---------------------------------------------------------------------- settings and errors
def test_fault_settings_are_validated_with_the_fix_in_the_message():
    client = make_client()
    with pytest.raises(ValueError, match="fault key 'robo' names no exposed tool"):
        FaultInjectingClient(client, {"robo": {"rate": 0.1}})
    with pytest.raises(ValueError, match=r"cannot be injected into 'depth_estimator\.estimate_depth'"):
        FaultInjectingClient(client, {"*": {"rate": 0.1, "kinds": ["failure"]}})
    with pytest.raises(ValueError, match="'wrong' outputs need ground truth"):
        FaultSpec(rate=0.1, kinds=("wrong",))
    with pytest.raises(ValueError, match=r"faults\['sam2'\]: .*fields: rate, kinds"):
        ToolFaults.parse({"sam2": {"probability": 0.1}})
    with pytest.raises(ValueError, match=r"FaultSpec\.rate is a probability"):
        FaultSpec(rate=2.0)
    with pytest.raises(ValueError, match=r"ToolResult\.fault must be False or one of"):
        ToolResult(ok=True, text="", fault="oops")
    with pytest.raises(ValueError, match="fault key 'robo'"):
        gym.make(REF, tool_options={"faults": {"robo": {"rate": 0.1}}})


def test_added_latency_slows_every_call_without_faulting_it():
    client = FaultInjectingClient(make_client(), {"vision_ops": {"latency_s": 0.02}})
    client.open_episode(EpisodeContext(images=(np.zeros((4, 4, 3), np.uint8),)))
    call = ToolCall("vision_ops.index_at", {"data": np.ones((4, 4)), "u": 0.0, "v": 0.0})
    results = client.call_many([call, call])
    assert all(r.ok and r.fault is False and r.elapsed_s >= 0.02 for r in results)
    assert results[0].text == "Pixel value at (0.000, 0.000) is 1.0"


def test_injected_crash_raises_an_infrastructure_error():
    client = FaultInjectingClient(make_client(), {"vision_ops": {"rate": 1.0, "kinds": "crash"}})
    client.open_episode(EpisodeContext(images=(np.zeros((4, 4, 3), np.uint8),)))
    with pytest.raises(ToolInfrastructureError, match=r"'vision_ops\.index_at' died"):
        client.call("vision_ops.index_at", {"data": [[1.0]], "u": 0.0, "v": 0.0})


# ---------------------------------------------------------------------- recovery
def test_scripted_agent_does_not_recover_and_a_retrying_agent_does(scripted):
    retried = _play(RetryAgent(), FAILING)
    before, after = recovery_summary(scripted), recovery_summary(retried)
    assert before is not None and after is not None
    assert before["faulted_episodes"] >= 3 and before["recovered"] == 0 and before["recovery_rate"] == 0.0
    assert before["called_again_rate"] == before["retried_rate"] == 0.0
    assert after["retried_rate"] >= after["recovery_rate"]  # every recovery here is a retry of detect_one
    assert after["recovered"] >= 2 and after["recovery_rate"] > 0.3
    for traj in retried:
        stats = recovery(traj)
        if stats.recovered:
            turn, _ = stats.first_fault
            assert len(traj.tool_results) > turn + 1 and traj.score >= 0.5
    assert recovery_summary(_play(ToolProgramAgent(), {}, seeds=range(2))) is None  # exact tools: no figure


def test_recovery_reads_trajectories_records_and_briefs_alike(scripted):
    for traj in scripted:
        record = {"score": traj.score, "trajectory": trajectory_json(traj)}
        assert recovery(record) == recovery(traj) == recovery(brief(record))
    turns = [[{"fault": "error"}], [{"fault": False}]]
    assert recovery(Trajectory(tool_results=turns, info={"score": 1.0})).recovered
    same_turn = [[{"fault": "error"}, {"fault": False}]]  # a call of the same turn is no reaction
    assert not recovery(Trajectory(tool_results=same_turn, info={"score": 1.0})).called_again
    plan = [[{"name": "a", "fault": "wrong"}], [{"name": "b", "fault": False}]]  # the next step, not a retry
    stats = recovery(Trajectory(tool_results=plan, info={"score": 1.0}))
    assert stats.recovered and stats.called_again and not stats.retried
    assert not recovery(Trajectory(tool_results=[[{"name": "x"}]], info={"score": 1.0})).faulted  # schema 2
    with pytest.raises(ValueError, match="recovery\\(\\) takes a Trajectory"):
        recovery({"score": 1.0, "trajectory": {}})
    assert tool_calls_json([{"name": "a", "arguments": {}, "ok": True, "text": ""}])[0]["fault"] is False


# ---------------------------------------------------------------------- eval records and summaries
def test_eval_records_carry_faults_the_summary_has_recovery_and_old_records_still_count(tmp_path):
    config = EvalConfig(agent="tool-program", suite=REF, episodes=6, out=tmp_path, progress=False,
                        env_kwargs={"tool_options": FAILING})
    summary = run_eval(config)
    lines = [json.loads(line) for line in config.results_path.read_text().splitlines()]
    assert all(r["schema"] == RECORD_SCHEMA == 3 for r in lines)
    assert all("fault" in c for r in lines for turn in r["trajectory"]["tool_calls"] for c in turn)
    assert all(record_problems(r) == [] for r in lines)
    figure = summary.stats["recovery"]
    faulted = sum(recovery(r).faulted for r in lines)
    assert figure["faulted_episodes"] == faulted > 0 and figure["recovered"] == 0
    assert "faults: " in summary.format() and "recovered 0" in summary.format()
    assert json.loads(config.summary_path.read_text())["stats"]["recovery"] == figure
    manifest = json.loads(config.manifest_path.read_text())  # the fault settings are part of the run's record
    assert manifest["envs"][0]["make_kwargs"]["tool_options"] == FAILING

    # a folder written before schema 3: calls without fault; it resumes and is validated as before
    old = []
    for r in lines[:-1]:
        r = {**r, "schema": 2}
        calls = [[{k: v for k, v in c.items() if k != "fault"} for c in t] for t in r["trajectory"]["tool_calls"]]
        r["trajectory"] = {**r["trajectory"], "tool_calls": calls}
        old.append(r)
    config.results_path.write_text("".join(json.dumps(r) + "\n" for r in old))
    assert all(record_problems(r) == [] for r in old)
    resumed = run_eval(config)
    assert resumed.resumed == 5 and resumed.played == 1 and resumed.complete
    # only the replayed last episode carries flags now: the old records count as unflagged
    assert resumed.stats.get("recovery", {}).get("faulted_episodes", 0) == int(recovery(lines[-1]).faulted)
    bad = {**lines[0], "trajectory": {**lines[0]["trajectory"]}}
    bad["trajectory"]["tool_calls"] = [[{**c, "fault": "gremlins"} for c in t] for t in bad["trajectory"]["tool_calls"]]
    assert any("fault is 'gremlins'" in p for p in record_problems(bad))


def test_leaderboard_replay_rejects_a_record_whose_fault_flags_were_changed():
    from benchmarks.leaderboard.replay import replay

    env = gym.make(REF, tool_options=FAILING)
    # as the eval runner plays: reset with the seed and the item index, so a replay draws the same faults
    where = {"index": 0, "split": "test"}
    played = (rollout(env, agent_policy(ToolProgramAgent(), str(s)), seed=s, options=where) for s in SEEDS)
    seed, traj = next((s, t) for s, t in zip(SEEDS, played, strict=False) if recovery(t).faulted)
    record = {"key": {"env_id": REF, "split": "test", "index": 0}, "seed": seed, "score": traj.score,
              "trajectory": trajectory_json(traj)}
    assert replay(env, record).differences == []
    hidden = json.loads(json.dumps(record))
    for turn in hidden["trajectory"]["tool_calls"]:
        for call in turn:
            call["fault"] = False  # a submission hiding its faults
    assert any("fault is" in d for d in replay(env, hidden).differences)
    env.close()
