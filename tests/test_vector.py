"""Chat-observation envs in Gymnasium's vector envs, synchronous and in worker processes."""

from __future__ import annotations

import copy
import json

import gymnasium as gym
import numpy as np
import pytest

import spacetools_env
from spacetools_env import make_vec
from tests.conftest import ENV_ID

DEPTH = (
    "<tool_call>"
    + json.dumps({"name": "depth_estimator.estimate_depth", "arguments": {"image_index": 0}})
    + "</tool_call>"
)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_vector_env_steps_and_autoresets(mode):
    envs = make_vec(ENV_ID, num_envs=2, mode=mode)
    try:
        obs, _ = envs.reset(seed=[0, 1])
        assert len(obs) == 2 and obs[0][1]["role"] == "user"
        obs, reward, terminated, _, _ = envs.step([DEPTH, "<answer>A</answer>"])
        assert obs[0][0]["name"] == "depth_estimator.estimate_depth"
        assert list(terminated) == [False, True]
        assert reward.shape == (2,)
        obs, *_ = envs.step([DEPTH, DEPTH])  # env 1 autoresets (NEXT_STEP mode)
        assert obs[1][1]["role"] == "user"
    finally:
        envs.close()


def test_sync_and_async_give_identical_episodes():
    results = []
    for mode in ("sync", "async"):
        envs = make_vec(ENV_ID, num_envs=2, mode=mode)
        obs, _ = envs.reset(seed=[3, 4])
        _, reward, *_ = envs.step(["<answer>A</answer>", "<answer>B</answer>"])
        results.append((obs[0][1]["content"][1]["text"], obs[1][0]["content"][0]["text"], reward.tolist()))
        envs.close()
    assert results[0] == results[1]


SYNTHETIC_IDS = spacetools_env.registered_ids(needs_data=False)


@pytest.mark.parametrize("mode", ["sync", "async"])
@pytest.mark.parametrize("env_id", SYNTHETIC_IDS)
def test_gymnasium_make_vec_steps_every_synthetic_id(env_id, mode):
    """Gymnasium's own entry point, with its defaults (async: shared_memory=True, copy=True)."""
    envs = gym.make_vec(env_id, num_envs=2, vectorization_mode=mode)
    try:
        obs, infos = envs.reset(seed=[0, 1])
        assert isinstance(obs, tuple) and [m["role"] for m in obs[1]] == ["system", "user"]
        obs, reward, terminated, truncated, infos = envs.step([DEPTH, "<answer>A</answer>"])
        assert reward.shape == (2,) and reward[0] == 0.0  # a tool call that worked costs nothing
        assert isinstance(obs, tuple)
        assert obs[0][0]["role"] == "tool" and obs[0][0]["name"] == "depth_estimator.estimate_depth"
        assert obs[0][0]["content"][0]["text"].startswith("Estimated depth map")
        assert obs[1] == []  # the answer turn returns no new messages
        assert list(terminated) == [False, True] and list(truncated) == [False, False]
        assert list(infos["tool_stats"]["calls"]) == [1, 0]
        obs, *_ = envs.step([DEPTH, DEPTH])  # env 1 autoresets
        assert [m["role"] for m in obs[1]] == ["system", "user"]
    finally:
        envs.close()


def test_gymnasium_async_matches_sync_and_our_make_vec():
    def episode(envs):
        try:
            obs, _ = envs.reset(seed=[3, 4])
            step_obs, reward, *_ = envs.step([DEPTH, "<answer>B</answer>"])
            return obs[0][1]["content"][1]["text"], step_obs[0][0]["content"][0]["text"], reward.tolist()
        finally:
            envs.close()

    sync = episode(gym.make_vec(ENV_ID, 2, vectorization_mode="sync"))
    assert episode(gym.make_vec(ENV_ID, 2, vectorization_mode="async")) == sync
    assert episode(make_vec(ENV_ID, 2, mode="async")) == sync


def test_async_shared_memory_live_view_with_copy_false_and_spawn():
    envs = gym.make_vec(ENV_ID, 2, vectorization_mode="async", vector_kwargs={"copy": False, "context": "spawn"})
    try:
        obs, _ = envs.reset(seed=[0, 1])
        assert len(obs) == 2 and obs[-1][0]["role"] == "system"
        image = obs[0][1]["content"][0]["image"]
        assert image.dtype == np.uint8 and image.ndim == 3
        envs.step([DEPTH, DEPTH])
        assert obs[0][0]["name"] == "depth_estimator.estimate_depth"  # the view shows the latest step
        assert isinstance(copy.deepcopy(obs), tuple)
        with pytest.raises(IndexError, match="env index 2 out of range for 2 envs"):
            obs[2]
    finally:
        envs.close()
