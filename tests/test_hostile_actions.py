"""Hostile model text through the real env: each issue-7 reproduction is an error the model reads, fast.

Every test drives ``gym.make`` with the oracle tools; the messages are pinned because they are the
model's only way to learn what went wrong (the cap, the value and the fix).
"""

from __future__ import annotations

import json
import time

import gymnasium as gym
import numpy as np
import pytest

from spacetools_env import unwrap
from spacetools_env.model_json import MAX_INTEGER_DIGITS, MAX_NESTING
from spacetools_env.parsing import MAX_ACTION_CHARS
from tests.conftest import ENV_ID
from tool_backends.declaration import MAX_LIST_ITEMS, MAX_STRING_CHARS
from tool_backends.variables import MAX_INTERPOLATED_CHARS, MAX_VARIABLES, VariableStore


def call(name: str, arguments: str) -> str:
    return f'<tool_call>{{"name": "{name}", "arguments": {arguments}}}</tool_call>'


DEPTH = call("depth_estimator.estimate_depth_with_pointcloud", '{"image_index": 0}')


@pytest.fixture
def env():
    environment = gym.make(ENV_ID, max_turns=1000)
    environment.reset(seed=0, options={"index": 0})
    yield environment
    environment.close()


def texts(observation: list[dict]) -> list[str]:
    return [m["content"][0]["text"] for m in observation]


def step_texts(env, action) -> list[str]:
    observation, _, _, _, info = env.step(action)
    json.dumps([texts(observation), info["tool_results"], info["answer"]], ensure_ascii=False,
               default=repr).encode("utf-8")  # valid UTF-8 everywhere, or this raises
    return texts(observation)


# ----------------------------------------------------------------------------- numbers and nesting
@pytest.mark.parametrize("where", ["text", "string arguments", "nested"])
def test_a_5000_digit_integer_is_an_error_naming_the_cap(env, where):
    digits = "1" * 5000
    action = {
        "text": call("x", '{"a": ' + digits + "}"),
        "string arguments": call("x", json.dumps('{"a": ' + digits + "}")),
        "nested": call("vision_ops.index_at", '{"data": [[' + digits + "]], \"u\": 0, \"v\": 0}"),
    }[where]
    (text,) = step_texts(env, action)
    assert text.startswith("Error: tool call 1")
    assert f"an integer of 5,000 digits is over the cap of {MAX_INTEGER_DIGITS} digits per number" in text


def test_huge_python_numbers_nan_and_odd_keys_in_dict_actions_are_errors(env):
    cases = [
        ({"image_index": 10**5000},
         f"at arguments.image_index: an integer of 5,001 digits is over the cap of {MAX_INTEGER_DIGITS}"),
        ({"image_index": 10**200}, "an integer of 201 digits"),
        ({1: 0}, "at arguments: object keys must be strings, got 1 (int)"),
        ({"image_index": {0, 1}}, "a set is not a JSON value"),
        ({"image_index": np.zeros(3)}, 'pass stored arrays by name, e.g. "$depth_map"'),
    ]
    for arguments, message in cases:
        (text,) = step_texts(env, {"name": "depth_estimator.estimate_depth", "arguments": arguments})
        assert text.startswith("Error: the action dict is not plain JSON data: ") and message in text, text
    (text,) = step_texts(env, {"name": "sam2.segment_from_point", "arguments": {"x": float("nan"), "y": 0.5,
                                                                                  "image_index": 0}})
    assert text == "Error: sam2.segment_from_point: argument 'x' must be a finite number, got nan (float)"
    (text,) = step_texts(env, {"name": "sam2.segment_from_point", "arguments": {"x": 0.5, "y": np.float32(0.5),
                                                                                  "image_index": np.int64(0)}})
    assert text.startswith("Segmented object at normalized coords (0.500, 0.500)")


def test_deep_nesting_is_an_error_naming_the_cap_in_text_and_dicts(env):
    deep: object = 0
    for _ in range(10_000):
        deep = [deep]
    loop: list = []
    loop.append(loop)
    for action in [
        call("x", '{"a": ' + "[" * 50 + "]" * 50 + "}"),
        call("x", '{"a": ' + "[" * 30_000 + "]" * 30_000 + "}"),
        {"name": "x", "arguments": {"a": deep}},
        {"name": "x", "arguments": {"a": loop}},
    ]:
        (text,) = step_texts(env, action)
        assert text.startswith("Error: ")
        assert f"values nest more than {MAX_NESTING} levels deep (lists and objects); flatten them" in text, text


# ----------------------------------------------------------------------------- UTF-8
def test_lone_surrogates_become_replacement_characters_everywhere(env):
    (text,) = step_texts(env, call("roborefer.detect_one", '{"obj_name": "mug\\ud800", "image_index": 0}'))
    assert text.startswith("Detected") and "'mug\ufffd'" in text
    (text,) = step_texts(env, call("roborefer.detect_one", '{"obj_name": "mug", "image_index": 0, "\\udfffk": 1}'))
    assert "['\ufffdk']" in text
    (text,) = step_texts(env, "\ud800" + call("roborefer.detect_one", '{"obj_name": "\ud83d", "image_index": 0}'))
    assert "'\ufffd'" in text
    env.step({"name": "roborefer.detect_one", "arguments": {"obj_name": "m\udc00g", "image_index": 0}})
    _, _, terminated, _, info = env.step("<answer>left\ud800</answer>")
    assert terminated and info["answer"] == "left\ufffd"


def test_valid_surrogate_pairs_and_other_text_are_kept(env):
    action = call("roborefer.detect_one", '{"obj_name": "mug \\ud83d\\ude00 \u00e9", "image_index": 0}')
    (text,) = step_texts(env, action)
    assert "'mug \U0001f600 \u00e9'" in text


# ----------------------------------------------------------------------------- sizes and time
def test_an_action_over_64_kib_is_refused_naming_the_cap_and_its_length(env):
    (text,) = step_texts(env, "x" * (MAX_ACTION_CHARS + 1))
    assert text.startswith(
        f"Error: the action is {MAX_ACTION_CHARS + 1:,} characters long; at most {MAX_ACTION_CHARS:,} characters "
        "(max_action_chars) are read per turn, so nothing in it was run."
    )
    start = time.perf_counter()
    (text,) = step_texts(env, {"name": "sam2.segment_from_points",
                               "arguments": {"points": [[0.5, 0.5]] * 300_000, "image_index": 0}})
    assert time.perf_counter() - start < 0.5  # was 5.4 s
    assert text.startswith(f"Error: the action holds more than {MAX_ACTION_CHARS:,} characters; at most")


def test_max_action_chars_is_a_gym_make_option():
    env = gym.make(ENV_ID, max_action_chars=100)
    env.reset(seed=0)
    (text,) = texts(env.step("y" * 101)[0])
    assert "the action is 101 characters long; at most 100 characters (max_action_chars)" in text
    with pytest.raises(ValueError, match="max_action_chars must be a positive integer, got 0"):
        gym.make(ENV_ID, max_action_chars=0)


def test_strings_and_lists_past_the_per_call_caps_are_errors_naming_them(env):
    (text,) = step_texts(env, call("roborefer.detect_one", json.dumps({"obj_name": "a" * 2000, "image_index": 0})))
    assert text == (f"Error: roborefer.detect_one: argument 'obj_name' is 2,000 characters long; at most "
                    f"{MAX_STRING_CHARS:,} are accepted. Send a shorter string")
    points = json.dumps({"points": [[0.5, 0.5]] * 2000, "image_index": 0})
    start = time.perf_counter()
    (text,) = step_texts(env, call("sam2.segment_from_points", points))
    assert time.perf_counter() - start < 0.5
    assert text == (f"Error: sam2.segment_from_points: argument 'points' has 2,000 items; at most "
                    f"{MAX_LIST_ITEMS:,} are accepted. Send fewer")


def test_the_caps_leave_the_paper_prompt_unchanged(env):
    """The caps are enforced and named in errors, never printed into the original's tools block."""
    schemas = {s["function"]["name"]: s["function"]["parameters"]["properties"] for s in unwrap(env).tool_schemas}
    assert schemas["roborefer.detect_one"]["obj_name"] == {
        "type": "string", "description": "Name or description of the object or region to point at."
    }
    assert "maxItems" not in schemas["sam2.segment_from_points"]["points"]
    assert "maxLength" not in unwrap(env).system_prompt and '"maxItems": 1024' not in unwrap(env).system_prompt


def test_many_variable_references_in_a_string_are_bounded_and_fast(env):
    step_texts(env, DEPTH)
    refs = json.dumps("$depth_map " * 5000)  # 55 KB of references to a 480x640 array
    start = time.perf_counter()
    (text,) = step_texts(env, call("roborefer.detect_one", '{"obj_name": ' + refs + ', "image_index": 0}'))
    assert time.perf_counter() - start < 0.5  # was 28.6 s for 550 KB
    assert text == (
        "Error: argument 'obj_name': \"$name\" references inside strings may insert at most "
        f"{MAX_INTERPOLATED_CHARS:,} characters per call in all; this call's insert more. Pass a stored value "
        'as the whole argument ("data": "$depth_map") to use the value itself.'
    )


def test_interpolation_keeps_the_original_text_for_short_values_and_summarises_arrays(env):
    step_texts(env, DEPTH)
    focal = unwrap(env).variables["focal_length_px"]
    (text,) = step_texts(env, call("roborefer.detect_one", '{"obj_name": "f=$focal_length_px d=$depth_map", '
                                                           '"image_index": 0}'))
    assert f"'f={focal} d=<$depth_map: float32 array 480x640>'" in text


def test_an_undefined_reference_with_an_absurd_name_is_a_short_error(env):
    (text,) = step_texts(env, call("vision_ops.index_at", json.dumps({"data": "$" + "a" * 60_000, "u": 0, "v": 0})))
    assert text.startswith("Error: variable $" + "a" * 57 + "... is not defined; stored variables: none yet.")
    assert len(text) < 400


def test_the_variable_store_keeps_at_most_its_cap_dropping_the_oldest():
    store = VariableStore()
    store.update_from({"depth_map": 1})
    store.update_from({f"v{i}": i for i in range(MAX_VARIABLES + 10)})
    assert len(store) == MAX_VARIABLES and "depth_map" not in store and f"v{MAX_VARIABLES + 9}" in store


def test_a_repeated_box_of_stored_arrays_is_identical_and_not_shared(env):
    step_texts(env, DEPTH)
    step_texts(env, call("sam2.segment_from_point", '{"x": 0.5, "y": 0.9, "image_index": 0}'))
    box = call("bounding_box.compute_bbox", '{"point_cloud": "$point_cloud", "mask": "$segmentation_mask", '
                                            '"focal_length_px": "$focal_length_px"}')
    first = env.step(box)[4]["tool_results"][0]
    start = time.perf_counter()
    second = env.step(box)[4]["tool_results"][0]
    assert time.perf_counter() - start < 0.5
    assert first["ok"] and first["text"] == second["text"]
    assert np.array_equal(first["data"]["corners_3d"], second["data"]["corners_3d"])
    assert first["data"]["corners_3d"] is not second["data"]["corners_3d"]


def test_wrong_types_are_described_in_bounded_text(env):
    step_texts(env, DEPTH)
    arguments = json.dumps({"data": "$depth_map", "u": [0.5] * 2000, "v": 0})
    (text,) = step_texts(env, call("vision_ops.index_at", arguments))
    assert text == "Error: vision_ops.index_at: argument 'u' must be a number, got a list of 2,000 items"
    (text,) = step_texts(env, call("vision_ops.index_at", '{"data": "$depth_map", "u": "$depth_map", "v": 0}'))
    assert text == "Error: vision_ops.index_at: argument 'u' must be a number, got an array of shape (480, 640)"
