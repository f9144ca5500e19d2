"""Conformance kit: the contract tests we run on every registered id, importable by task authors.

Use the checks directly (``check_task("MyTask-v0")``) or as a pytest mixin::

    from spacetools_env.testing import TaskConformance

    class TestMyTask(TaskConformance):
        env_id = "MyTask-v0"
        make_kwargs = {"difficulty": "easy"}

Each ``check_*`` raises ``AssertionError`` with what broke.
"""

from __future__ import annotations

import pickle
from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
from gymnasium.utils.env_checker import check_env, data_equivalence

from spacetools_env.env import SpaceToolsEnv

GARBAGE_ANSWERS = ("", "zzz", "\x00\xff junk", "[(nan, nan)]", "<answer>", "Maybe.", "[(-1, -1)]")
BAD_ACTIONS = (
    "",
    "no tools here",
    "<tool_call>{not json}</tool_call>",
    '<tool_call>{"name": "sam2.segmnt_from_point", "arguments": {}}</tool_call>',
    '<tool_call>{"name": "vision_ops.index_at", "arguments": {"data": "$nope", "u": 0.5, "v": 0.5}}</tool_call>',
    '<tool_call>{"name": "sam2.segment_from_point", "arguments": {"x": "left", "y": 7, "image_index": 9}}</tool_call>',
    "<tool_call>" + "[" * 5000 + "</tool_call>",
    b"\x00\x01binary".decode("latin-1"),
    {"tool_calls": "not a list"},
    12345,
)


def _make(env_id: str, **kwargs: Any) -> gym.Env:
    return gym.make(env_id, **kwargs)


def _unwrapped(env: gym.Env) -> SpaceToolsEnv:
    inner = env.unwrapped
    assert isinstance(inner, SpaceToolsEnv), f"{env} is not a SpaceToolsEnv"
    return inner


def check_gymnasium_contract(env_id: str, **kwargs: Any) -> None:
    """Gymnasium's own checker passes."""
    env = _make(env_id, **kwargs)
    try:
        check_env(env.unwrapped, skip_render_check=True)
    finally:
        env.close()


def _play(env: gym.Env, seed: int, actions: list[Any]) -> list[Any]:
    trace: list[Any] = [env.reset(seed=seed)]
    for action in actions:
        step = env.step(action)
        trace.append(step)
        if step[2] or step[3]:
            break
    return trace


def check_determinism(env_id: str, seed: int = 7, **kwargs: Any) -> None:
    """Same seed and actions: identical observations, rewards and infos, in a fresh env too."""
    env_a, env_b = _make(env_id, **kwargs), _make(env_id, **kwargs)
    try:
        actions = [env_a.action_space.sample() for _ in range(3)]
        actions.append("<answer>" + str(_unwrapped(env_a).family.name) + "</answer>")
        first = _play(env_a, seed, actions)
        assert data_equivalence(first, _play(env_a, seed, actions), exact=True), "same env, same seed: episodes differ"
        assert data_equivalence(first, _play(env_b, seed, actions), exact=True), "fresh env, same seed: episodes differ"
    finally:
        env_a.close()
        env_b.close()


def check_pickle_roundtrip(env_id: str, seed: int = 3, **kwargs: Any) -> None:
    """A pickled env, mid-episode, continues exactly like the original."""
    env = _make(env_id, **kwargs)
    try:
        env.reset(seed=seed)
        env.step('<tool_call>{"name": "depth_estimator.estimate_depth", "arguments": {"image_index": 0}}</tool_call>')
        clone = pickle.loads(pickle.dumps(env))
        for action in ("no call, just thinking", "<answer>Yes</answer>"):
            assert data_equivalence(env.step(action), clone.step(action), exact=True), "pickled env diverged"
    finally:
        env.close()


def check_truncation(env_id: str, max_turns: int = 3, **kwargs: Any) -> None:
    """Without an answer, the episode is truncated exactly at the turn budget."""
    env = _make(env_id, max_turns=max_turns, **kwargs)
    try:
        env.reset(seed=0)
        for turn in range(1, max_turns + 1):
            _, _, terminated, truncated, info = env.step("thinking, no call")
            assert not terminated
            assert truncated == (turn == max_turns), f"turn {turn}: truncated={truncated}"
            assert info["turn"] == turn
    finally:
        env.close()


def check_bad_actions(env_id: str, **kwargs: Any) -> None:
    """Malformed actions return ``Error: ...`` tool messages and a penalty, never an exception."""
    env = _make(env_id, max_turns=len(BAD_ACTIONS) + 1, **kwargs)
    try:
        _, reset_info = env.reset(seed=1)
        keys = set(reset_info)
        for action in BAD_ACTIONS:
            obs, reward, terminated, _, info = env.step(action)
            assert not terminated, f"{action!r} ended the episode"
            assert obs and all(m["content"][0]["text"].startswith("Error: ") for m in obs), (action, obs)
            assert float(reward) < 0, f"{action!r} was not penalised (reward {reward})"
            assert set(info) == keys, f"info keys changed: {set(info) ^ keys}"
    finally:
        env.close()


def check_scorer(env_id: str, items: int = 3, **kwargs: Any) -> None:
    """The oracle answer scores 1, garbage 0, the family's counterexample 0; scores lie in [0, 1]."""
    env = _make(env_id, **kwargs)
    try:
        family = _unwrapped(env).family
        for index in range(items):
            env.reset(options={"index": index})
            item = _unwrapped(env).item
            assert item is not None, f"reset with index {index} left no item"
            assert family.score(family.oracle(item), item) == 1.0, f"oracle answer of item {index} does not score 1"
            for garbage in GARBAGE_ANSWERS:
                assert family.score(garbage, item) == 0.0, f"garbage {garbage!r} scored above 0"
                assert 0.0 <= family.shaped_score(garbage, item) <= 1.0
            if family.counterexample is not None:
                assert family.score(family.counterexample(item), item) == 0.0, "the counterexample scored above 0"
    finally:
        env.close()


def check_answer_ends_episode(env_id: str, **kwargs: Any) -> None:
    """Answering with the oracle answer terminates with the official score in ``info``."""
    env = _make(env_id, **kwargs)
    try:
        env.reset(seed=11)
        inner = _unwrapped(env)
        answer = inner.family.oracle(inner.item)
        _, reward, terminated, truncated, info = env.step(f"<answer>{answer}</answer>")
        assert terminated and not truncated
        assert info["score"] == 1.0 and info["reward_components"]["score"] == 1.0
        expected = sum(info["reward_weights"][k] * v for k, v in info["reward_components"].items())
        assert np.isclose(float(reward), expected)
    finally:
        env.close()


ALL_CHECKS = (
    check_gymnasium_contract,
    check_determinism,
    check_pickle_roundtrip,
    check_truncation,
    check_bad_actions,
    check_scorer,
    check_answer_ends_episode,
)


def check_task(env_id: str, **kwargs: Any) -> None:
    """Run every conformance check on ``env_id``."""
    for check in ALL_CHECKS:
        check(env_id, **kwargs)


class TaskConformance:
    """Pytest mixin: set ``env_id`` (and optionally ``make_kwargs``) on a test class."""

    env_id: ClassVar[str]
    make_kwargs: ClassVar[dict[str, Any]] = {}

    def test_gymnasium_contract(self) -> None:
        check_gymnasium_contract(self.env_id, **self.make_kwargs)

    def test_determinism(self) -> None:
        check_determinism(self.env_id, **self.make_kwargs)

    def test_pickle_roundtrip(self) -> None:
        check_pickle_roundtrip(self.env_id, **self.make_kwargs)

    def test_truncation(self) -> None:
        check_truncation(self.env_id, **self.make_kwargs)

    def test_bad_actions(self) -> None:
        check_bad_actions(self.env_id, **self.make_kwargs)

    def test_scorer(self) -> None:
        check_scorer(self.env_id, **self.make_kwargs)

    def test_answer_ends_episode(self) -> None:
        check_answer_ends_episode(self.env_id, **self.make_kwargs)
