"""The scripted tool-program agent scores >= 0.95 on every family with exact oracle tools.

This doubles as the test that world, tools and scorers agree: the agent sees only the question
and the tools' text, like a model.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from agents.tool_program import ToolProgramAgent
from spacetools_env.docs import builtin_families
from spacetools_env.rollout import agent_policy, rollout

EPISODES = 30


@pytest.mark.parametrize("env_id", [f"SpaceTools-Synth-{f.name}-v{f.version}" for f in builtin_families()])
def test_tool_program_agent_solves_family_with_oracle_tools(env_id):
    env = gym.make(env_id, split="test")
    agent = ToolProgramAgent()
    trajectories = [rollout(env, agent_policy(agent), options={"index": i}) for i in range(EPISODES)]
    scores = [t.score for t in trajectories]
    assert np.mean(scores) >= 0.95, (
        f"{env_id}: mean {np.mean(scores):.3f}; failed items {[i for i, s in enumerate(scores) if s < 1]}"
    )
    assert all(t.terminated for t in trajectories)
    assert sum(t.info["tool_stats"]["errors"] for t in trajectories) == 0
    assert all(t.info["tool_stats"]["calls"] > 0 for t in trajectories)
