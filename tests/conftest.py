from __future__ import annotations

import gymnasium as gym
import pytest

import spacetools_env  # noqa: F401  (registers the envs)

ENV_ID = "SpaceTools-Synth-RelativeDepth-v0"


@pytest.fixture
def env():
    environment = gym.make(ENV_ID)
    yield environment
    environment.close()
