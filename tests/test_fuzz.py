"""Any action whatsoever yields observations and a reward, never an exception (thousands of actions)."""

from __future__ import annotations

import json
import math
import time

import gymnasium as gym
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.perf.fuzz_actions import ActionFuzzer, utf8_problem
from spacetools_env import registered_ids, unwrap
from tests.conftest import ENV_ID
from tool_backends import DEFAULT_TOOLS

# A loaded CI machine; on a quiet one every step of these actions takes under 100 ms.
STEP_BOUND_S = 1.0

TOOLS = list(DEFAULT_TOOLS)
ARG_NAMES = [
    "obj_name",
    "image_index",
    "x",
    "y",
    "points",
    "data",
    "u",
    "v",
    "point_cloud",
    "mask",
    "focal_length_px",
    "bogus",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(["$depth_map", "$point_cloud", "$segmentation_mask", "$nope", "x $depth_map", "m\ud800"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=12,
)
calls = st.builds(
    lambda name, args: {"name": name, "arguments": args},
    st.one_of(st.sampled_from(TOOLS), st.text(max_size=20)),
    st.dictionaries(st.sampled_from(ARG_NAMES), values, max_size=5),
)


def _as_text(call_list, junk):
    body = "".join(f"<tool_call>{json.dumps(c, allow_nan=True)}</tool_call>" for c in call_list)
    return junk + body


actions = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda b: b.decode("latin-1")),
    st.builds(_as_text, st.lists(calls, min_size=1, max_size=10), st.text(max_size=20)),
    st.lists(calls, max_size=3).map(lambda cs: {"tool_calls": cs}),
    calls,
    st.dictionaries(st.text(max_size=8), values, max_size=3),
    st.sampled_from([None, 3, 2.5, [1, 2], b"bytes"]),
)

_ENV = gym.make(ENV_ID, max_turns=10_000)
_ENV.reset(seed=0)
_KEYS = set(_ENV.reset(seed=0)[1])


@settings(max_examples=2500, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(action=actions)
def test_any_action_is_an_observation_never_an_exception(action):
    obs, reward, terminated, truncated, info = _ENV.step(action)
    assert _ENV.observation_space.contains(obs)
    assert math.isfinite(reward) and set(info) == _KEYS
    assert utf8_problem(obs, info) is None
    if terminated or truncated:
        _ENV.reset()


def test_a_one_megabyte_action_is_an_error_response():
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    for action in [
        "x" * 2**20,
        "<tool_call>" + "{" * 2**20 + "</tool_call>",
        '<tool_call>{"name": "' + "a" * 2**20 + '"}</tool_call>',
    ]:
        obs, reward, terminated, *_ = env.step(action)
        assert not terminated and reward < 0
        assert obs[0]["content"][0]["text"].startswith("Error: ") and len(obs[0]["content"][0]["text"]) <= 2048


@pytest.mark.parametrize("env_id", registered_ids(needs_data=False))
def test_generated_hostile_actions_never_raise_and_stay_utf8_and_fast(env_id):
    """The fuzz of ``benchmarks/perf/fuzz_actions.py``, a few hundred actions per family."""
    env = gym.make(env_id, max_turns=10**9)
    env.reset(seed=0, options={"index": 0})
    fuzzer = ActionFuzzer(unwrap(env).tool_schemas, seed=1)
    slow = []
    for _ in range(300):
        kind, action = fuzzer.next()
        start = time.perf_counter()
        obs, reward, terminated, truncated, info = env.step(action)
        elapsed = time.perf_counter() - start
        if elapsed > STEP_BOUND_S:
            slow.append((kind, elapsed))
        assert utf8_problem(obs, info) is None, (kind, utf8_problem(obs, info))
        assert math.isfinite(reward)
        if terminated or truncated:
            env.reset(seed=0, options={"index": 0})
    assert not slow, slow
