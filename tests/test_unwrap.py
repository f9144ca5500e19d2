"""``spacetools_env.unwrap``: the typed way to reach the SpaceToolsEnv under gymnasium's wrappers."""

from __future__ import annotations

import gymnasium as gym
import pytest

from spacetools_env import SpaceToolsEnv, unwrap


def test_unwrap_returns_the_env_under_the_wrappers(env):
    raw = unwrap(env)
    assert isinstance(raw, SpaceToolsEnv) and raw is env.unwrapped
    assert unwrap(raw) is raw


class _OtherEnv(gym.Env):
    observation_space = gym.spaces.Discrete(1)
    action_space = gym.spaces.Discrete(1)


def test_unwrap_names_the_wrong_type():
    with pytest.raises(TypeError, match=r"expected an environment wrapping SpaceToolsEnv, got _OtherEnv; make it"):
        unwrap(_OtherEnv())
