"""The random baseline: well-formed calls to the offered tools, then an answer the scorer can read."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from agents.random_agent import RandomAgent, random_answer
from benchmarks.agents import load_agent
from spacetools_env.docs import builtin_families
from spacetools_env.rollout import Turn, agent_policy, rollout

IDS = [f"SpaceTools-Synth-{f.name}-v{f.version}" for f in builtin_families()]


@pytest.mark.parametrize("env_id", IDS)
def test_random_agent_makes_only_well_formed_calls_then_answers(env_id):
    env = gym.make(env_id, split="test")
    agent = RandomAgent(seed=3, tool_turns=2, max_calls_per_turn=3)
    trajectories = [rollout(env, agent_policy(agent, f"e{i}"), options={"index": i}) for i in range(6)]
    assert all(t.terminated for t in trajectories)
    assert all(len(t.actions) == 3 for t in trajectories)
    assert sum(t.info["invalid_actions"] for t in trajectories) == 0
    calls = [r for t in trajectories for turn in t.tool_results for r in turn]
    assert calls and {r["name"] for r in calls} <= {s["function"]["name"] for s in trajectories[0].info["tools"]}
    # an argument error (not a tool's honest "nothing found") would mean a call violated its schema
    assert not [r["text"] for r in calls if "argument" in r["text"] and not r["ok"]]
    assert all(0.0 <= t.score <= 1.0 for t in trajectories)


def test_random_agent_is_deterministic_per_episode_whatever_the_batch():
    env = gym.make(IDS[0], split="test")
    _, info = env.reset(options={"index": 0})
    messages = [{"role": "user", "content": [{"type": "text", "text": "Is the mug left of the bowl? yes or no"}]}]
    alone = RandomAgent(seed=1).act([Turn("a", messages, info)])
    batched = RandomAgent(seed=1).act([Turn("b", messages, info), Turn("a", messages, info)])
    assert alone[0] == batched[1]


def test_random_answers_take_the_question_format():
    rng = np.random.default_rng(0)
    assert random_answer("Which is closer?\n(A) mug\n(B) bowl\n(C) cup", rng) in {"(A)", "(B)", "(C)"}
    assert random_answer("Is the mug left of the bowl? Answer yes or no.", rng) in {"Yes", "No"}
    assert random_answer("Point to a free spot. Answer as [(x, y)].", rng).startswith("[(")
    assert random_answer("the eight normalized cuboid corners", rng).count("(") == 8


def test_random_agent_loads_by_name_with_options():
    agent = load_agent("random", seed=5, tool_turns=0)
    assert isinstance(agent, RandomAgent) and agent.tool_turns == 0
    with pytest.raises(ValueError, match="tool_turns must be >= 0"):
        RandomAgent(tool_turns=-1)
