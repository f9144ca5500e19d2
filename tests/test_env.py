"""SpaceToolsEnv behaviour at the level users touch: gym.make, reset, step, info."""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest

from spacetools_env.messages import message_text
from tests.conftest import ENV_ID


def call(name: str, **arguments) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def test_reset_returns_system_prompt_with_tools_and_question_with_image(env):
    obs, info = env.reset(seed=0)
    system, user = obs
    assert system["role"] == "system" and "<tools>" in message_text(system)
    assert user["content"][0]["type"] == "image" and user["content"][0]["image"].shape == (480, 640, 3)
    assert "closer to the camera" in message_text(user)
    names = [s["function"]["name"] for s in info["tools"]]
    assert "roborefer.detect_one" in names and "depth_estimator.estimate_depth" in names


def test_schemas_can_stay_out_of_the_system_prompt():
    env = gym.make(ENV_ID, tools_in_system_prompt=False)
    obs, info = env.reset(seed=0)
    assert "<tools>" not in message_text(obs[0]) and info["tools"]


def test_info_has_the_same_keys_at_every_step(env):
    _, info = env.reset(seed=1)
    keys = set(info)
    for action in [call("depth_estimator.estimate_depth", image_index=0), "junk", "<answer>A</answer>"]:
        *_, info = env.step(action)
        assert set(info) == keys
    assert {"score", "reward_components", "tool_stats", "task", "tools"} <= keys


def test_variables_flow_from_one_call_to_the_next(env):
    env.reset(seed=2)
    obs, reward, *_, info = env.step(
        call("depth_estimator.estimate_depth", image_index=0)
        + call("vision_ops.index_at", data="$depth_map", u=0.5, v=0.5)
    )
    assert [m["name"] for m in obs] == ["depth_estimator.estimate_depth", "vision_ops.index_at"]
    assert message_text(obs[1]).startswith("Pixel value at (0.500, 0.500) is ")
    assert info["tool_stats"]["calls"] == 2 and info["tool_stats"]["errors"] == 0 and reward == 0.0


def test_undefined_variable_is_an_error_naming_what_exists(env):
    env.reset(seed=3)
    env.step(call("depth_estimator.estimate_depth", image_index=0))
    obs, reward, terminated, _, info = env.step(call("vision_ops.index_at", data="$depth_mapp", u=0.5, v=0.5))
    text = message_text(obs[0])
    assert text.startswith("Error: variable $depth_mapp is not defined")
    assert "$depth_map" in text and "Did you mean '$depth_map'?" in text
    assert not terminated and reward < 0 and info["reward_components"]["tool_error"] == -1.0


def test_unknown_tool_suggests_the_closest_name(env):
    env.reset(seed=3)
    obs, *_, info = env.step(call("sam2.segment_from_pont", x=0.5, y=0.5, image_index=0))
    assert "Did you mean 'sam2.segment_from_point'?" in message_text(obs[0])
    assert info["tool_stats"]["by_tool"] == {"<unknown>": {"calls": 1, "errors": 1}}


def test_tool_responses_are_middle_truncated():
    env = gym.make(ENV_ID, max_response_chars=40)
    env.reset(seed=0)
    obs, *_ = env.step(call("depth_estimator.estimate_depth", image_index=0))
    text = message_text(obs[0])
    assert len(text) == 40 and "...(truncated)..." in text


def test_calls_over_the_per_turn_cap_are_reported_not_run():
    env = gym.make(ENV_ID, max_calls_per_turn=2)
    env.reset(seed=0)
    obs, _, _, _, info = env.step(call("depth_estimator.estimate_depth", image_index=0) * 3)
    assert "at most 2 tool calls run per turn" in message_text(obs[0])
    assert info["tool_stats"]["calls"] == 2 and info["invalid_actions"] == 1


def test_tool_subset_hides_other_tools():
    env = gym.make(ENV_ID, tools=["roborefer.detect_one"])
    _, info = env.reset(seed=0)
    assert [s["function"]["name"] for s in info["tools"]] == ["roborefer.detect_one"]
    obs, *_ = env.step(call("depth_estimator.estimate_depth", image_index=0))
    assert message_text(obs[0]).startswith("Error: Unknown tool 'depth_estimator.estimate_depth'")


def test_reward_weights_are_configurable_per_component():
    env = gym.make(ENV_ID, reward_weights={"shaped": 0.0, "invalid_action": 1.0})
    env.reset(seed=0)
    _, reward, *_ = env.step("no call")
    assert reward == -1.0
    with pytest.raises(ValueError, match="unknown reward component 'bonus'"):
        gym.make(ENV_ID, reward_weights={"bonus": 1.0})


def test_answer_terminates_with_score_and_shaped_components(env):
    env.reset(seed=4)
    label = env.unwrapped.item.label
    _, reward, terminated, truncated, info = env.step(f"<think>done</think><answer>{label}</answer>")
    assert terminated and not truncated
    assert info["score"] == 1.0 and info["answer"] == label
    assert reward == pytest.approx(1.0 * 1.0 + 0.5 * 1.0)


def test_step_after_the_end_asks_for_reset(env):
    env.reset(seed=0)
    env.step("<answer>A</answer>")
    with pytest.raises(RuntimeError, match="call reset"):
        env.unwrapped.step("<answer>A</answer>")


def test_reset_options_pick_split_and_index(env):
    _, info = env.reset(options={"split": "test", "index": 5})
    assert info["task"]["split"] == "test" and info["task"]["index"] == 5
    assert info["task"]["item_id"] == "RelativeDepth/test/5"
    with pytest.raises(ValueError, match="unknown reset options"):
        env.reset(options={"indx": 1})
    with pytest.raises(ValueError, match="out of range"):
        env.reset(options={"index": 10**9})


def test_observation_images_are_read_only(env):
    obs, _ = env.reset(seed=0)
    image = obs[1]["content"][0]["image"]
    with pytest.raises(ValueError):
        image[0, 0, 0] = 1
    assert isinstance(image, np.ndarray)


def test_bad_configuration_is_a_clear_error():
    with pytest.raises(ValueError, match="max_turns must be a positive integer"):
        gym.make(ENV_ID, max_turns=0)
    with pytest.raises(ValueError, match="unknown difficulty 'brutal'"):
        gym.make(ENV_ID, difficulty="brutal")


def test_tool_noise_is_configurable_and_deterministic():
    noisy = {"noise": {"roborefer": {"point_sigma": 0.05}}}
    detect = call("roborefer.detect_one", obj_name="point A", image_index=0)
    texts = []
    for _ in range(2):
        env = gym.make(ENV_ID, tool_options=noisy)
        env.reset(seed=5)
        texts.append(message_text(env.step(detect)[0][0]))
    exact = gym.make(ENV_ID)
    exact.reset(seed=5)
    assert texts[0] == texts[1] != message_text(exact.step(detect)[0][0])
