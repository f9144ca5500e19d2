"""The action parser: Hermes tool calls, answers, structured dicts, and every kind of malformed input."""

from __future__ import annotations

import pytest

from spacetools_env.model_json import clean_value, decode_json
from spacetools_env.parsing import ToolCallRequest, parse_action


def test_parses_hermes_calls_in_order():
    text = (
        "<think>plan</think>\n"
        '<tool_call>\n{"name": "roborefer.detect_one", '
        '"arguments": {"obj_name": "mug", "image_index": 0}}\n</tool_call>\n'
        '<tool_call>{"name": "depth_estimator.estimate_depth", "arguments": {"image_index": 0}}</tool_call>'
    )
    parsed = parse_action(text)
    assert parsed.errors == ()
    assert parsed.calls == (
        ToolCallRequest("roborefer.detect_one", {"obj_name": "mug", "image_index": 0}),
        ToolCallRequest("depth_estimator.estimate_depth", {"image_index": 0}),
    )


def test_answer_wins_over_calls_in_the_same_turn():
    parsed = parse_action('<tool_call>{"name": "x", "arguments": {}}</tool_call><answer> Yes </answer>')
    assert parsed.answer == "Yes" and parsed.calls == ()


@pytest.mark.parametrize(
    ("action", "message"),
    [
        ("", "no tool call or answer"),
        ("<tool_call>{bad json}</tool_call>", "not valid JSON"),
        ('<tool_call>{"name": "x", "arguments": {}}', "not closed"),
        ('<tool_call>["x"]</tool_call>', "must be a JSON object"),
        ('<tool_call>{"arguments": {}}</tool_call>', 'needs a "name"'),
        ('<tool_call>{"name": "x", "arguments": [1]}</tool_call>', '"arguments" must be an object'),
        ('<tool_call>{"name": "x", "arguments": "{oops"}</tool_call>', "not valid JSON"),
        ("<answer>unfinished", "without a closing </answer>"),
        ("<tool_call>" + "[" * 60_000 + "</tool_call>", "not valid JSON"),
        (None, "must be text or a dict"),
        ({"tool_calls": 3}, '"tool_calls" must be a list'),
        ({"foo": 1}, "a dict action needs"),
        ({"answer": 5}, '"answer" must be a string'),
    ],
)
def test_malformed_actions_become_errors(action, message):
    parsed = parse_action(action)
    assert parsed.answer is None
    assert any(message in e for e in parsed.errors), parsed.errors


def test_structured_actions():
    openai = {"tool_calls": [{"type": "function", "function": {"name": "a.b", "arguments": '{"x": 1}'}}]}
    assert parse_action(openai).calls == (ToolCallRequest("a.b", {"x": 1}),)
    assert parse_action({"name": "a.b", "arguments": {"y": 2}}).calls == (ToolCallRequest("a.b", {"y": 2}),)
    assert parse_action({"answer": " No "}).answer == "No"
    assert parse_action({"content": "<answer>B</answer>"}).answer == "B"


def test_one_megabyte_of_tags_parses_in_linear_time():
    import time

    junk = "<answer><tool_call>" * 60_000
    start = time.perf_counter()
    parsed = parse_action(junk)
    assert time.perf_counter() - start < 1.0  # linear time; a quadratic scan takes minutes
    assert parsed.errors


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1" * 5000, "an integer of 5,000 digits is over the cap of 100 digits per number"),
        ("-" + "1" * 101, "an integer of 101 digits"),
        ("[" * 50_000, "values nest more than 32 levels deep"),
        ("[" * 40 + "]" * 40, "at [0][0][0]"),
        ('{"a": {"b": [1, ' + "2" * 200 + "]}}", "an integer of 200 digits"),  # found while decoding: no location
        ("{bad", "Expecting property name enclosed in double quotes"),
    ],
)
def test_decode_json_never_raises_and_names_the_cap(text, reason):
    value, error = decode_json(text)
    assert value is None and reason in error


def test_decode_json_replaces_lone_surrogates_in_strings_and_keys():
    value, error = decode_json('{"\\ud800k": ["m\\udfffg", "\\ud83d\\ude00"], "n": 1e999}')
    assert error is None and value == {"\ufffdk": ["m\ufffdg", "\U0001f600"], "n": float("inf")}


def test_clean_value_returns_clean_values_unchanged_and_converts_scalar_subclasses():
    import enum

    import numpy as np

    class Level(enum.IntEnum):
        ONE = 1

    clean = {"a": [1, 2.5, None, True, "x"], "b": (0.1, 0.2)}
    assert clean_value(clean) is clean
    assert clean_value({"a": Level.ONE, "b": np.int64(3), "c": (np.float32(0.5),)}) == {"a": 1, "b": 3, "c": (0.5,)}
