"""The wrappers a user reaches for, each through gym.make: chat history, structured actions, recording."""

from __future__ import annotations

import json
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from benchmarks.eval.records import episode_record
from benchmarks.eval.suites import EpisodeKey
from spacetools_env import unwrap
from spacetools_env.rollout import rollout
from spacetools_env.wrappers import PHASE1_TOOLS, ChatHistory, RecordTrajectory, StructuredActions, default_menu
from tests.conftest import ENV_ID

DEPTH = '<tool_call>{"name": "depth_estimator.estimate_depth", "arguments": {"image_index": 0}}</tool_call>'
ACTIONS = [DEPTH, "<tool_call>not json</tool_call>", "<answer>A</answer>"]


def scripted(actions):
    remaining = list(actions)
    return lambda messages, info: remaining.pop(0)


def checked(env: gym.Env) -> None:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is different from the unwrapped version.*")
        check_env(env, skip_render_check=True)


# ---------------------------------------------------------------- ChatHistory
def test_chat_history_observation_is_the_whole_conversation():
    env = ChatHistory(gym.make(ENV_ID))
    conversation, _ = env.reset(seed=0)
    assert [m["role"] for m in conversation] == ["system", "user"]
    conversation, *_ = env.step(DEPTH)
    assert [m["role"] for m in conversation] == ["system", "user", "assistant", "tool"]
    assert conversation[2]["content"][0]["text"] == DEPTH
    conversation, _, terminated, _, _ = env.step("<answer>A</answer>")
    assert terminated and [m["role"] for m in conversation][-1] == "assistant"
    assert isinstance(conversation[1]["content"][0]["image"], np.ndarray)
    env.close()


def test_chat_history_equals_the_conversation_rollout_records():
    env = ChatHistory(gym.make(ENV_ID))
    conversation, _ = env.reset(seed=5)
    for action in ACTIONS:
        conversation, *_ = env.step(action)
    traj = rollout(gym.make(ENV_ID), scripted(ACTIONS), seed=5)
    texts = [[p.get("text") for p in m["content"]] for m in conversation]
    assert texts == [[p.get("text") for p in m["content"]] for m in traj.messages]
    assert [m["role"] for m in conversation] == [m["role"] for m in traj.messages]


def test_chat_history_passes_check_env():
    checked(ChatHistory(gym.make(ENV_ID)))


def test_chat_history_starts_over_at_reset():
    env = ChatHistory(gym.make(ENV_ID))
    env.reset(seed=0)
    env.step(DEPTH)
    conversation, _ = env.reset(seed=1)
    assert [m["role"] for m in conversation] == ["system", "user"]


# ---------------------------------------------------------------- tool subsets (an option, not a wrapper)
def test_phase1_tool_subset_is_the_tools_option():
    env = gym.make(ENV_ID, tools=PHASE1_TOOLS)
    _, info = env.reset(seed=0)
    assert [t["function"]["name"] for t in info["tools"]] == ["roborefer.detect_one"]
    _, _, _, _, info = env.step(DEPTH)
    assert not info["tool_results"][0]["ok"]
    assert "depth_estimator.estimate_depth" not in unwrap(env).system_prompt


# ---------------------------------------------------------------- StructuredActions
def test_structured_actions_spaces_are_numeric_and_check_env_clean():
    env = StructuredActions(gym.make(ENV_ID))
    assert isinstance(env.action_space, gym.spaces.Discrete) and env.action_space.n == len(env.menu)
    assert isinstance(env.observation_space, gym.spaces.Dict)
    assert all(isinstance(s, gym.spaces.Box) for s in env.observation_space.values())
    checked(env)


def test_structured_actions_run_real_tool_calls_and_answers():
    env = StructuredActions(gym.make(ENV_ID))
    obs, _ = env.reset(seed=0)
    assert obs in env.observation_space and obs["image"].shape == (64, 64, 3) and obs["image"].any()
    depth = env.menu.index({"name": "depth_estimator.estimate_depth", "arguments": {"image_index": 0}})
    obs, reward, terminated, _, info = env.step(depth)
    assert bytes(obs["tool_text"]).rstrip(b"\0").startswith(b"Estimated depth map")
    assert obs["turn"].tolist() == [1.0] and not terminated and info["tool_stats"]["calls"] == 1
    item = unwrap(env).item
    oracle = unwrap(env).family.oracle(item)
    obs, reward, terminated, _, info = env.step(env.menu.index({"answer": oracle}))
    assert terminated and info["score"] == 1.0 and float(reward) > 0
    assert obs in env.observation_space


def test_structured_actions_random_agent_plays_whole_episodes():
    env = StructuredActions(gym.make(ENV_ID, max_turns=4))
    env.action_space.seed(0)
    for episode in range(3):
        env.reset(seed=episode)
        for _ in range(4):
            obs, _, terminated, truncated, _ = env.step(env.action_space.sample())
            assert obs in env.observation_space
            if terminated or truncated:
                break
        assert terminated or truncated


def test_structured_actions_reject_an_index_outside_the_menu():
    env = StructuredActions(gym.make(ENV_ID), menu=["<answer>A</answer>", "<answer>B</answer>"])
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"action 2 is outside the menu: expected an integer in \[0, 1\]"):
        env.step(2)


def test_default_menu_uses_only_the_env_tools():
    menu = default_menu(PHASE1_TOOLS, grid=2)
    assert all("answer" in a for a in menu) and len(menu) == 4 + 4
    with pytest.raises(ValueError, match="grid must be a positive integer, got 0"):
        default_menu(PHASE1_TOOLS, grid=0)


def test_structured_actions_pass_stable_baselines3_checker():
    sb3_checker = pytest.importorskip("stable_baselines3.common.env_checker")
    sb3_checker.check_env(StructuredActions(gym.make(ENV_ID)), warn=True)


# ---------------------------------------------------------------- RecordTrajectory
def test_recording_writes_every_turn_as_the_eval_runner_records_it(tmp_path):
    path = tmp_path / "runs" / "episodes.jsonl"
    env = RecordTrajectory(gym.make(ENV_ID), path)
    env.reset(seed=7)
    for action in ACTIONS:
        env.step(action)
    env.close()
    [line] = path.read_text(encoding="utf-8").splitlines()
    record = json.loads(line)
    assert record["turns"] == 3 and record["terminated"] and not record["truncated"]
    assert record["trajectory"]["actions"] == ACTIONS
    assert [len(calls) for calls in record["trajectory"]["tool_calls"]] == [1, 0, 0]

    traj = rollout(gym.make(ENV_ID), scripted(ACTIONS), seed=7)
    task = traj.info["task"]
    expected = episode_record(
        EpisodeKey(ENV_ID, task["split"], task["index"]), traj, agent="scripted", seed=7, eval_key=None,
        synthetic=True, timing={},
    )
    for field in ("family", "family_version", "item_id", "meta", "answer", "score", "reward", "tools",
                  "invalid_actions", "turns", "terminated", "truncated", "trajectory"):
        assert record[field] == json.loads(json.dumps(expected[field])), field
    assert (record["env_id"], record["split"], record["index"], record["seed"]) == (ENV_ID, "train", task["index"], 7)


def test_recording_keeps_unfinished_episodes_and_appends(tmp_path):
    path = tmp_path / "episodes.jsonl"
    env = RecordTrajectory(gym.make(ENV_ID, max_turns=2), path)
    env.reset(seed=0)
    env.step(DEPTH)
    env.reset(seed=1)  # the first episode is left unfinished: still recorded
    env.step(DEPTH)
    env.step(DEPTH)  # truncated at the turn budget
    env.reset(seed=2)
    env.close()  # no turn taken: nothing to record
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert [(r["turns"], r["terminated"], r["truncated"]) for r in records] == [(1, False, False), (2, False, True)]
    assert env.episodes_written == 2


def test_recording_lines_are_valid_utf8_whatever_the_model_wrote(tmp_path):
    path = tmp_path / "episodes.jsonl"
    env = RecordTrajectory(gym.make(ENV_ID), path)
    env.reset(seed=0)
    env.step("<answer>mug\ud800</answer>")
    env.close()
    record = json.loads(path.read_bytes().decode("utf-8"))
    assert record["trajectory"]["actions"] == ["<answer>mug?</answer>"]


def test_recording_composes_with_chat_history_and_check_env(tmp_path):
    env = ChatHistory(RecordTrajectory(gym.make(ENV_ID), tmp_path / "e.jsonl"))
    checked(env)


# ---------------------------------------------------------------- in Gymnasium's vector envs
@pytest.mark.parametrize("mode", ["sync", "async"])
def test_wrappers_compose_with_gymnasium_make_vec(mode):
    chats = gym.make_vec(ENV_ID, 2, vectorization_mode=mode, wrappers=[ChatHistory])
    try:
        chats.reset(seed=[0, 1])
        conversations, *_ = chats.step([DEPTH, DEPTH])
        assert [[m["role"] for m in c] for c in conversations] == [["system", "user", "assistant", "tool"]] * 2
    finally:
        chats.close()
    numeric = gym.make_vec(ENV_ID, 2, vectorization_mode=mode, wrappers=[StructuredActions])
    try:
        obs, _ = numeric.reset(seed=[0, 1])
        assert obs["image"].shape == (2, 64, 64, 3) and obs["image"].dtype == np.uint8
        obs, reward, terminated, *_ = numeric.step(np.array([0, 1]))  # menu 0 and 1: answers "Yes", "No"
        assert obs["turn"].tolist() == [[1.0], [1.0]] and terminated.all() and reward.shape == (2,)
    finally:
        numeric.close()
