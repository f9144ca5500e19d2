"""Tools that return images (``vision_ops.crop``, ``zoom``): the image joins the conversation, later calls use it."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

from benchmarks.cli import main
from benchmarks.leaderboard import validate_submission
from benchmarks.leaderboard.actions import called_tools
from benchmarks.perf.fuzz_actions import ActionFuzzer, utf8_problem
from spacetools_env import unwrap
from spacetools_env.messages import assistant_message, conversation_images, render_text
from tests.conftest import ENV_ID
from tool_backends import DEFAULT_TOOLS, IMAGE_TOOLS, EpisodeContext, make_client
from tool_backends.oracle.vision_ops import MAX_IMAGES, MAX_RETURNED_PIXELS, MAX_SIDE_PX

TOOLS = [*DEFAULT_TOOLS, *IMAGE_TOOLS]


def crop(x1: float, y1: float, x2: float, y2: float, image_index: int) -> str:
    arguments = {"x1": x1, "y1": y1, "x2": x2, "y2": y2, "image_index": image_index}
    return f'<tool_call>{json.dumps({"name": "vision_ops.crop", "arguments": arguments})}</tool_call>'


def zoom(x: float, y: float, factor: float, image_index: int) -> str:
    arguments = {"x": x, "y": y, "factor": factor, "image_index": image_index}
    return f'<tool_call>{json.dumps({"name": "vision_ops.zoom", "arguments": arguments})}</tool_call>'


def images_of(message: dict) -> list[np.ndarray]:
    return [p["image"] for p in message["content"] if p["type"] == "image"]


def text_of(message: dict) -> str:
    return "".join(p["text"] for p in message["content"] if p["type"] == "text")


@pytest.fixture
def image_env():
    env = gym.make(ENV_ID, tools=TOOLS, tool_images=True)
    env.reset(seed=0)
    yield env
    env.close()


# ----------------------------------------------------------------------------- through gym.make
def test_image_tools_are_opt_in_not_in_the_default_tool_list():
    env = gym.make(ENV_ID)
    _, info = env.reset(seed=0)
    names = [s["function"]["name"] for s in info["tools"]]
    assert names == list(DEFAULT_TOOLS) and not set(IMAGE_TOOLS) & set(names)
    obs, *_ = env.step(crop(0.0, 0.0, 0.5, 0.5, 0))
    assert text_of(obs[0]).startswith("Error: Unknown tool 'vision_ops.crop'")


def test_a_crop_returns_an_image_part_holding_the_region_and_names_its_index(image_env):
    question = unwrap(image_env).images[0]
    obs, _, terminated, truncated, info = image_env.step(crop(0.25, 0.25, 0.75, 0.75, 0))
    height, width = question.shape[:2]
    assert text_of(obs[0]) == (
        f"Cropped the region (0.250, 0.250)-(0.750, 0.750) of image 0: a {width // 2}x{height // 2} image, "
        "shown as image_index 1."
    )
    [image] = images_of(obs[0])
    np.testing.assert_array_equal(image, question[height // 4: 3 * height // 4, width // 4: 3 * width // 4])
    assert info["tool_results"][0]["data"]["image_index"] == 1 and not (terminated or truncated)
    assert len(unwrap(image_env).images) == 2 and unwrap(image_env).images[1] is image


def test_a_later_call_acts_on_the_tool_image_by_its_index(image_env):
    image_env.step(crop(0.25, 0.25, 0.75, 0.75, 0))
    first = unwrap(image_env).images[1]
    obs, *_ = image_env.step(zoom(0.5, 0.5, 2, 1) + crop(0.0, 0.0, 0.5, 0.5, 2))
    zoomed, cropped = images_of(obs[0])[0], images_of(obs[1])[0]
    height, width = first.shape[:2]
    assert zoomed.shape == first.shape  # a zoom keeps its source's size
    np.testing.assert_array_equal(zoomed[::2, ::2], first[height // 4: 3 * height // 4, width // 4: 3 * width // 4])
    assert "of image 2" in text_of(obs[1]) and "shown as image_index 3" in text_of(obs[1])
    np.testing.assert_array_equal(cropped, zoomed[: height // 2, : width // 2])
    assert len(unwrap(image_env).images) == 4


def test_conversation_images_are_in_image_index_order(image_env):
    history = list(image_env.reset(seed=0)[0])
    for action in (crop(0.25, 0.25, 0.75, 0.75, 0), zoom(0.5, 0.5, 2, 1) + crop(0.0, 0.0, 0.5, 0.5, 2)):
        history += [assistant_message(action), *image_env.step(action)[0]]
    images = conversation_images(history)
    assert len(images) == 4 and all(a is b for a, b in zip(images, unwrap(image_env).images, strict=True))
    assert render_text(history).count("<image>") == 4


def test_oracle_tools_refuse_a_tool_image_naming_the_question_images(image_env):
    image_env.step(crop(0.0, 0.0, 0.5, 0.5, 0))
    obs, *_ = image_env.step('<tool_call>{"name": "depth_estimator.estimate_depth", '
                             '"arguments": {"image_index": 1}}</tool_call>')
    assert text_of(obs[0]) == (
        "Error: image 1 was returned by a tool (a crop or zoom) and has no ground truth, which the oracle backend "
        "answers from; call this tool on a question image (image_index 0..0)"
    )


@pytest.mark.parametrize(
    ("action", "message"),
    [
        (crop(0.5, 0.1, 0.5, 0.9, 0), "Error: the region (0.5, 0.1)-(0.5, 0.9) is empty: x2 must be greater than x1"),
        (crop(0.1, 0.1, 1.5, 0.9, 0), "Error: x2 must be in [0, 1] (normalized image coordinates, origin top-left), "
                                      "got 1.5"),
        (crop(0.1, 0.1, 0.5, 0.9, 3), "Error: image_index 3 is out of range: the conversation has 1 image(s)"),
        (zoom(0.5, 0.5, 9, 0), "Error: factor must be from 1 to 8 (1 = the whole image), got 9.0"),
        (zoom(0.5, 0.5, 0.5, 0), "Error: factor must be from 1 to 8 (1 = the whole image), got 0.5"),
        (zoom(-0.1, 0.5, 2, 0), "Error: x must be in [0, 1]"),
    ],
)
def test_bad_arguments_are_errors_naming_the_value_and_the_range(image_env, action, message):
    obs, reward, *_ = image_env.step(action)
    assert text_of(obs[0]).startswith(message) and reward < 0 and not images_of(obs[0])


def test_with_tool_images_off_the_crop_is_not_shown_and_not_addressable():
    env = gym.make(ENV_ID, tools=TOOLS)
    env.reset(seed=0)
    obs, *_ = env.step(crop(0.0, 0.0, 0.5, 0.5, 0) + crop(0.0, 0.0, 0.5, 0.5, 1))
    assert text_of(obs[0]).endswith("not shown: tool images are off in this environment (tool_images=False).")
    assert not images_of(obs[0]) and len(unwrap(env).images) == 1
    assert text_of(obs[1]).startswith("Error: image_index 1 is out of range: the conversation has 1 image(s)")


def test_same_seed_same_tool_images():
    def play() -> list:
        env = gym.make(ENV_ID, tools=TOOLS, tool_images=True)
        env.reset(seed=3)
        out = [env.step(zoom(0.3, 0.6, 3.5, 0) + crop(0.1, 0.2, 0.9, 0.7, 1))[0] for _ in range(2)]
        return [(text_of(m), [i.tobytes() for i in images_of(m)]) for obs in out for m in obs]

    assert play() == play()


def test_tool_images_cross_an_async_vector_env():
    envs = gym.make_vec(ENV_ID, 2, vectorization_mode="async", tools=TOOLS, tool_images=True)
    try:
        envs.reset(seed=0)
        obs, *_ = envs.step([zoom(0.5, 0.5, 2, 0), crop(0.0, 0.0, 0.5, 0.5, 0)])
        assert [images_of(episode[0])[0].shape[:2] for episode in obs] == [(480, 640), (240, 320)]
    finally:
        envs.close()


# ----------------------------------------------------------------------------- bounds, on the client
def _client(image: np.ndarray, tool_images: bool = True):
    client = make_client(tools=list(IMAGE_TOOLS))
    client.open_episode(EpisodeContext(images=(image,), tool_images=tool_images))
    return client


def test_outputs_are_capped_at_2048_px_a_side_and_upscaled_to_28():
    client = _client(np.zeros((64, 4096, 3), np.uint8))
    whole = client.call("vision_ops.crop", {"x1": 0, "y1": 0, "x2": 1, "y2": 1, "image_index": 0})
    assert whole.images[0].shape == (MAX_SIDE_PX // 64, MAX_SIDE_PX, 3)
    sliver = client.call("vision_ops.crop", {"x1": 0, "y1": 0, "x2": 0.001, "y2": 0.05, "image_index": 0})
    # 4.1 x 3.2 px cover pixels 0..4 x 0..3, upscaled 7x so the shorter side is 28
    assert sliver.data["pixel_box"] == (0, 0, 5, 4) and sliver.images[0].shape == (28, 35, 3)


def test_an_episode_holds_at_most_64_images_then_crops_fail_with_the_reason():
    client = _client(np.zeros((48, 64, 3), np.uint8))
    args = {"x1": 0, "y1": 0, "x2": 0.5, "y2": 0.5, "image_index": 0}
    results = [client.call("vision_ops.crop", args) for _ in range(MAX_IMAGES)]
    assert all(r.ok for r in results[: MAX_IMAGES - 1]) and not results[-1].ok
    assert results[-1].text == (
        f"Error: the conversation already holds {MAX_IMAGES} images, the most an episode may ({MAX_IMAGES}); "
        "work with the images already in it"
    )


def test_the_pixels_tools_return_per_episode_are_bounded():
    client = _client(np.zeros((2048, 2048, 3), np.uint8))
    whole = {"x1": 0, "y1": 0, "x2": 1, "y2": 1, "image_index": 0}
    results = [client.call("vision_ops.crop", whole) for _ in range(MAX_RETURNED_PIXELS // 2048**2 + 1)]
    assert all(r.ok for r in results[:-1])
    assert results[-1].text == (
        f"Error: a 2048x2048 image would take the images tools returned this episode past {MAX_RETURNED_PIXELS:,} "
        "pixels; crop a smaller region or work with the images already shown"
    )
    off = _client(np.zeros((2048, 2048, 3), np.uint8), tool_images=False)  # nothing is kept: no budget spent
    assert all(off.call("vision_ops.crop", whole).ok for _ in range(MAX_RETURNED_PIXELS // 2048**2 + 1))


def test_image_tools_compute_exactly_and_take_no_noise():
    message = "'vision_ops.crop' computes exactly on its inputs and takes no noise"
    with pytest.raises(ValueError, match=re.escape(message)):
        gym.make(ENV_ID, tools=TOOLS, tool_options={"noise": {"vision_ops.crop": {}}})


def test_fuzzed_actions_with_image_tools_never_raise_and_stay_utf8():
    env = gym.make(ENV_ID, tools=TOOLS, tool_images=True, max_turns=10**9)
    env.reset(seed=0, options={"index": 0})
    fuzzer = ActionFuzzer(unwrap(env).tool_schemas, seed=2)
    crops = 0
    for _ in range(300):
        _, action = fuzzer.next()
        obs, reward, terminated, truncated, info = env.step(action)
        assert utf8_problem(obs, info) is None and math.isfinite(reward)
        crops += sum(r["ok"] and r["name"] in IMAGE_TOOLS for r in info["tool_results"])
        if terminated or truncated:
            env.reset(seed=0, options={"index": 0})
    assert crops > 0


# ----------------------------------------------------------------------------- eval records and validation
class CropAgent:
    """Crops image 0 (text protocol), zooms into the crop (a native function call), then answers."""

    name = "crop"

    def act(self, turns):
        actions = []
        for turn in turns:
            done = sum(m["role"] == "assistant" for m in turn.messages)
            if done == 0:
                actions.append(crop(0.2, 0.2, 0.8, 0.8, 0))
            elif done == 1:
                arguments = json.dumps({"x": 0.5, "y": 0.5, "factor": 2, "image_index": 1})
                function = {"name": "vision_ops__zoom", "arguments": arguments}
                call = {"type": "function", "id": "call_0", "function": function}
                actions.append({"tool_calls": [call]})
            else:
                actions.append("<answer>A</answer>")
        return actions

    def end_episode(self, episode_id):
        pass


def test_an_eval_run_with_crops_records_image_references_and_validates(tmp_path: Path):
    out = tmp_path / "run"
    kwargs = json.dumps({"tools": TOOLS, "tool_images": True})
    code = main(["eval", "--agent", f"{CropAgent.__module__}:CropAgent", "--suite", ENV_ID, "--out", str(out),
                 "--episodes", "2", "--env-kwargs", kwargs, "--no-progress"])
    assert code == 0
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 2
    for record in records:
        tool_images = [p for m in record["trajectory"]["messages"] if m["role"] == "tool"
                       for p in m["content"] if p["type"] == "image"]
        assert [(p["ref"], p["index"]) for p in tool_images] == [("tool:0", 1), ("tool:1", 2)]
        assert [c["name"] for turn in record["trajectory"]["tool_calls"] for c in turn] == list(IMAGE_TOOLS)
    meta = {"model": "crop", "agent": "crop", "tools": called_tools(out), "contact": "team@example.org"}
    (out / "submission.json").write_text(json.dumps(meta))
    report = validate_submission(out, replay=True)
    assert report.ok, report.reasons()
    assert report.episodes == 2
