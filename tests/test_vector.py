"""Chat-observation envs in Gymnasium's vector envs, synchronous and in worker processes."""

from __future__ import annotations

import json

import pytest

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
