"""The batched rollout driver: N episodes in lockstep, the same episodes as one at a time, failures kept apart.

Real envs (``gym.make``) and the shipped agents throughout; the only stand-ins are agents and env
wrappers that fail on purpose, and a tool client that records how calls reach it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import pytest

import spacetools_env  # noqa: F401  (registers the envs)
from agents.random_agent import RandomAgent
from agents.tool_program import ToolProgramAgent
from benchmarks.cli import main
from benchmarks.eval import EvalConfig, run_eval
from spacetools_env.batch_rollout import BatchRollout, EpisodeResult, WorkItem
from spacetools_env.rollout import agent_policy, rollout
from spacetools_env.tool_rounds import references_variable, rounds
from tool_backends import ToolCall, ToolInfrastructureError, ToolResult, make_client
from tool_backends.gathering import RoundGatherer, run_each

FAMILIES = ("RelativeDepth", "Relation2D", "Depth3D", "FreeSpace", "BoxPose")
IDS = tuple(f"SpaceTools-Synth-{f}-v0" for f in FAMILIES)
AGENTS = {"tool-program": ToolProgramAgent, "random": lambda: RandomAgent(seed=3, tool_turns=2, max_calls_per_turn=3)}


def _work(ids: tuple[str, ...] = IDS, items: int = 3) -> list[WorkItem]:
    return [
        WorkItem(f"{env_id}/test/{i}", env_id, seed=1000 + i, options={"index": i, "split": "test"})
        for env_id in ids
        for i in range(items)
    ]


def _same(a: Any, b: Any) -> bool:
    """Deep equality, arrays compared element by element (dtype and shape too)."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return type(a) is type(b) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


def _episode(result: EpisodeResult) -> dict[str, Any]:
    traj = result.trajectory
    assert traj is not None, result.error
    fields = ("messages", "actions", "rewards", "reward_components", "tool_results", "info", "terminated", "truncated")
    return {name: getattr(traj, name) for name in fields}


def _play(agent_name: str, batch_size: int, work: list[WorkItem]) -> dict[str, dict[str, Any]]:
    driver = BatchRollout(AGENTS[agent_name](), lambda key: gym.make(key), batch_size)
    try:
        return {r.work.episode_id: _episode(r) for r in driver.play(work)}
    finally:
        driver.close()


@pytest.mark.parametrize("agent_name", sorted(AGENTS))
def test_batches_of_4_play_exactly_the_episodes_of_one_at_a_time(agent_name):
    work = _work()
    batched = _play(agent_name, 4, work)
    agent, envs = AGENTS[agent_name](), {env_id: gym.make(env_id) for env_id in IDS}
    try:
        for item in work:  # the plain single-episode rollout every gym user has
            traj = rollout(envs[item.env_key], agent_policy(agent, item.episode_id), seed=item.seed,
                           options=dict(item.options or {}))
            agent.end_episode(item.episode_id)
            alone = {name: getattr(traj, name) for name in _episode(EpisodeResult(item, traj, None, None))}
            assert _same(batched[item.episode_id], alone), item.episode_id
    finally:
        for env in envs.values():
            env.close()
    assert set(batched) == {w.episode_id for w in work}
    assert sum(len(e["actions"]) for e in batched.values()) > len(work)  # multi-turn episodes, not one-shot


class CountingAgent:
    """The tool-program agent, noting the size of every act call and every end_episode the driver makes."""

    name = "counting"

    def __init__(self, fail_with: str | None = None) -> None:
        self.inner = ToolProgramAgent()
        self.batches: list[int] = []
        self.ended: list[str] = []
        self.fail_with = fail_with

    def act(self, turns):
        self.batches.append(len(turns))
        if any(t.episode_id == self.fail_with for t in turns):  # as a model server going down
            raise ConnectionError("model server unreachable")
        return self.inner.act(turns)

    def end_episode(self, episode_id):
        self.ended.append(episode_id)
        self.inner.end_episode(episode_id)


@pytest.mark.parametrize("batch_size", [1, 4])
def test_one_act_call_per_round_finished_episodes_replaced_and_each_ended_once(batch_size):
    agent, work = CountingAgent(), _work(items=4)
    driver = BatchRollout(agent, lambda key: gym.make(key), batch_size)
    results = list(driver.play(work))
    assert max(agent.batches) == batch_size and agent.batches[0] == batch_size
    # refilled: every call but the last few of the run is full
    assert agent.batches.count(batch_size) >= len(agent.batches) - 4
    assert sorted(agent.ended) == sorted(w.episode_id for w in work) and len(results) == len(work)
    assert not agent.inner._running  # no program left behind
    made = len(driver._made)
    driver.close()
    assert made <= batch_size * len(IDS)  # an env per running episode of an id, reused


def test_an_act_call_that_raises_fails_the_episodes_of_that_call_and_the_queue_goes_on():
    agent = CountingAgent(fail_with=f"{IDS[0]}/test/1")
    driver = BatchRollout(agent, lambda key: gym.make(key), batch_size=3)
    results = list(driver.play(_work(ids=IDS[:2], items=4)))
    driver.close()
    failed = {r.work.episode_id for r in results if r.error is not None}
    assert failed == {f"{IDS[0]}/test/{i}" for i in range(3)}  # the first call held items 0, 1, 2
    assert all(isinstance(r.error, ConnectionError) and r.trajectory is None for r in results if r.error)
    assert len(results) == 8 and sorted(agent.ended) == sorted(r.work.episode_id for r in results)
    assert all(r.trajectory.score == 1.0 for r in results if r.error is None)
    assert not agent.inner._running


class StepFails(gym.Wrapper):
    """Raises from step on item 2 (an infrastructure fault: a tool server gone)."""

    def step(self, action):
        if self.env.unwrapped.task_info["index"] == 2:
            raise RuntimeError("tool server gone")
        return self.env.step(action)


def test_an_env_that_raises_fails_its_episode_alone():
    driver = BatchRollout(ToolProgramAgent(), lambda key: StepFails(gym.make(key)), batch_size=4)
    results = list(driver.play(_work(ids=IDS[:1], items=5)))
    driver.close()
    assert [r.work.episode_id for r in results if r.error] == [f"{IDS[0]}/test/2"]
    assert "tool server gone" in str(next(r.error for r in results if r.error))
    assert sum(r.trajectory.score for r in results if r.trajectory) == 4.0


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        BatchRollout(ToolProgramAgent(), gym.make, 0)
    with pytest.raises(ValueError, match="step_threads must be a non-negative integer, got -1"):
        BatchRollout(ToolProgramAgent(), gym.make, 2, step_threads=-1)


# ---------------------------------------------------------------------- a whole turn's rounds across episodes
def test_concurrent_steps_hand_the_gatherer_every_episodes_round_at_once_and_change_nothing():
    """With step_threads, the rounds of the running episodes reach one RoundGatherer batch together (what a
    batching tool server needs); each round still runs on its own session, so episodes equal in-turn play."""
    work = _work(items=2)
    seen: list[list[str]] = []

    def run_batch(batch: Any) -> list[list[ToolResult]]:
        seen.append(sorted({c.name for item in batch for c in item.calls}))
        return run_each(batch)

    gatherer = RoundGatherer(run_batch, window_s=0.5, max_rounds=4)  # a long window: the test must not race
    driver = BatchRollout(
        ToolProgramAgent(), lambda key: gym.make(key, tool_client=gatherer.factory("oracle")), 4, step_threads=4
    )
    try:
        gathered = {r.work.episode_id: _episode(r) for r in driver.play(work)}
    finally:
        driver.close()
    assert gatherer.stats.largest == 4  # four episodes' rounds in one batch: a full turn of the driver
    assert sum(gatherer.stats.sizes) > len(gatherer.stats.sizes)  # most batches hold several sessions
    assert any(len(names) > 1 for names in seen)  # different tools of different episodes in one batch
    alone = _play("tool-program", 1, work)
    assert gathered.keys() == alone.keys()
    assert all(_same(gathered[k], alone[k]) for k in alone)


def test_a_failing_batch_fails_the_episodes_whose_rounds_were_in_it_alone():
    def broken(batch: Any) -> list[list[ToolResult]]:
        raise ToolInfrastructureError("tool server unreachable")

    gatherer = RoundGatherer(broken, window_s=0.0)
    driver = BatchRollout(ToolProgramAgent(), lambda key: gym.make(key, tool_client=gatherer.factory()), 2, 2)
    try:
        results = list(driver.play(_work(ids=IDS[:1], items=2)))
    finally:
        driver.close()
    assert [type(r.error).__name__ for r in results] == ["ToolInfrastructureError"] * 2
    assert all("tool server unreachable" in str(r.error) for r in results)


# ---------------------------------------------------------------------- one call_many per round
class RecordingClient:
    """The oracle tools, noting the names of each call_many it receives."""

    rounds: ClassVar[list[list[str]]] = []

    def __init__(self) -> None:
        self.inner = make_client("oracle")
        self.specs = self.inner.specs

    def open_episode(self, episode: Any) -> None:
        self.inner.open_episode(episode)

    def call(self, name: str, arguments: Any) -> ToolResult:
        raise AssertionError("the env sends every call through call_many")

    def call_many(self, calls: list[ToolCall]) -> list[ToolResult]:
        RecordingClient.rounds.append([c.name for c in calls])
        return self.inner.call_many(calls)

    def close(self) -> None:
        self.inner.close()


def _call(name: str, **arguments: Any) -> str:
    return "<tool_call>" + json.dumps({"name": name, "arguments": arguments}) + "</tool_call>"


def test_a_turns_calls_reach_the_client_as_rounds_cut_before_each_variable_reference():
    turn = "\n".join([
        _call("depth_estimator.estimate_depth", image_index=0),
        _call("roborefer.detect_one", obj_name="mug", image_index=0),
        _call("vision_ops.index_at", data="$depth_map", u=0.5, v=0.5),  # stored two calls before, same turn
        _call("vision_ops.index_at", data="$nope", u=0.5, v=0.5),  # unresolvable: never reaches the client
        _call("roborefer.detect_one", obj_name="bowl", image_index=0),
    ])
    env = gym.make(IDS[0], tool_client=RecordingClient, max_calls_per_turn=8)
    plain = gym.make(IDS[0], max_calls_per_turn=8)
    RecordingClient.rounds = []
    env.reset(seed=5)
    plain.reset(seed=5)
    obs, _, _, _, info = env.step(turn)
    assert RecordingClient.rounds == [
        ["depth_estimator.estimate_depth", "roborefer.detect_one"],
        ["vision_ops.index_at"],
        ["roborefer.detect_one"],
    ]
    assert [r["ok"] for r in info["tool_results"]] == [True, True, True, False, True]
    assert "variable $nope is not defined" in info["tool_results"][3]["text"]
    plain_obs, _, _, _, plain_info = plain.step(turn)
    assert _same(obs, plain_obs) and _same(info["tool_results"], plain_info["tool_results"])


def test_variable_references_are_found_in_nested_values_only():
    assert references_variable({"data": ["x", {"y": "$depth_map"}]})
    assert not references_variable({"$key": 1, "text": "no reference", "n": [1, 2.5, None]})
    from spacetools_env.parsing import ToolCallRequest as C

    assert [len(r) for r in rounds([C("a", {"x": "$v"}), C("b", {}), C("c", {"s": "cost $5"})])] == [2, 1]


def test_a_call_on_an_image_returned_earlier_in_the_turn_opens_a_round():
    from spacetools_env.parsing import ToolCallRequest as C

    turn = [C("vision_ops.crop", {"image_index": 0}), C("vision_ops.zoom", {"image_index": 1}),
            C("roborefer.detect_one", {"image_index": 0}), C("vision_ops.zoom", {"image_index": True})]
    # image 1 does not exist when the turn begins (one question image): the zoom waits for the crop
    assert [[c.name for c in r] for r in rounds(turn, images=1)] == [
        ["vision_ops.crop"], ["vision_ops.zoom", "roborefer.detect_one", "vision_ops.zoom"]
    ]
    assert [len(r) for r in rounds(turn, images=2)] == [4]  # a tool image of an earlier turn is there already


def test_a_tool_client_without_call_many_is_refused_at_make():
    class OldClient:
        specs = ()

        def open_episode(self, episode):
            pass

        def call(self, name, arguments):
            return ToolResult.error("no")

        def close(self):
            pass

    with pytest.raises(TypeError, match=r"returned a OldClient without call_many\(calls\); a ToolClient runs each "
                                        r"round of a turn's calls through it"):
        gym.make(IDS[0], tool_client=OldClient)


def test_the_perf_script_times_each_batch_size_and_prints_the_ratio(capsys):
    from benchmarks.perf import batched_rollouts

    batched_rollouts.main(["--batch-sizes", "1,3", "--per-family", "1", "--repeats", "1"])
    out = capsys.readouterr().out
    assert "9 episodes per pass, 1 timed passes per batch size" in out
    assert "batch 3 / batch 1: median ratio" in out and "worst ratio" in out


# ---------------------------------------------------------------------- spacetools eval --batch-size
BATCH_SUITE = ",".join(f"SpaceTools-Synth-{f}-v0" for f in ("RelativeDepth", "Relation2D", "Depth3D", "BoxPose"))


def _records_by_key(out: Path) -> dict[tuple, dict]:
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return {(r["key"]["env_id"], r["key"]["index"]): {k: v for k, v in r.items() if k != "timing"} for r in records}


@pytest.mark.parametrize(
    ("agent", "agent_kwargs", "workers"),
    [("tool-program", "{}", "1"), ("random", '{"seed": 7, "tool_turns": 2, "max_calls_per_turn": 3}', "1"),
     ("tool-program", "{}", "2")],
    ids=["tool-program", "random", "tool-program-2-workers"],
)
def test_batch_size_4_records_equal_batch_size_1_but_for_timing(tmp_path, agent, agent_kwargs, workers):
    runs = {}
    for batch in ("1", "4"):
        out = tmp_path / f"batch{batch}"
        argv = ["eval", "--agent", agent, "--agent-kwargs", agent_kwargs, "--suite", BATCH_SUITE, "--episodes", "3",
                "--workers", workers, "--batch-size", batch, "--out", str(out), "--no-progress"]
        assert main(argv) == 0
        runs[batch] = _records_by_key(out)
    assert len(runs["1"]) == 12 and runs["1"] == runs["4"]
    assert sum(r["turns"] for r in runs["4"].values()) > 12  # tool turns were played, not only answers
    manifest = json.loads((tmp_path / "batch4" / "manifest.json").read_text())
    assert manifest["agent"]["kwargs"] == json.loads(agent_kwargs) and manifest["run"]["config"]["batch_size"] == 4


def test_a_run_resumes_at_another_batch_size(tmp_path):
    suite = "SpaceTools-Synth-RelativeDepth-v0,SpaceTools-Synth-FreeSpace-v0"
    config = EvalConfig(agent="tool-program", suite=suite, episodes=3, out=tmp_path, progress=False, batch_size=4)
    run_eval(config)
    lines = config.results_path.read_text().splitlines()
    config.results_path.write_text("\n".join(lines[:2]) + "\n")
    again = run_eval(EvalConfig(**{**config.__dict__, "batch_size": 2}))
    assert (again.resumed, again.played, again.complete) == (2, 4, True)


def test_batch_size_must_be_a_positive_integer(tmp_path):
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        EvalConfig(agent="tool-program", suite="synth", out=tmp_path, batch_size=0)


def test_an_env_that_cannot_be_made_fails_the_episodes_of_its_key_alone():
    def make(key: str) -> gym.Env:
        if key == IDS[1]:
            raise FileNotFoundError("benchmark data not found")
        return gym.make(key)

    driver = BatchRollout(ToolProgramAgent(), make, batch_size=2)
    results = list(driver.play(_work(ids=IDS[:2], items=2)))
    driver.close()
    assert sorted(r.work.episode_id for r in results if isinstance(r.error, FileNotFoundError)) == [
        f"{IDS[1]}/test/0", f"{IDS[1]}/test/1"
    ]
    assert all(r.trajectory.score == 1.0 for r in results if r.work.env_key == IDS[0])
