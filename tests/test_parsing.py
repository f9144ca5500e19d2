"""The action parser: Hermes tool calls, answers, structured dicts, and every kind of malformed input."""

from __future__ import annotations

import pytest

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
