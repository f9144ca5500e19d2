"""Function names for native function calling: one reversible mapping, checked at declaration, used by the env."""

from __future__ import annotations

import json
import re

import gymnasium as gym
import pytest

from spacetools_env import unwrap
from tests.conftest import ENV_ID
from tool_backends import DEFAULT_TOOLS, IMAGE_TOOLS, ToolResult, Toolset, make_client, tool_method
from tool_backends.names import (
    FUNCTION_NAME,
    calls_from_openai,
    check_function_names,
    from_function_name,
    openai_tools,
    to_function_name,
)
from tool_backends.oracle import oracle_toolsets

DETECT = {"obj_name": "object", "image_index": 0}


def shipped_tool_names() -> list[str]:
    return [spec.name for toolset in oracle_toolsets() for spec, _ in toolset.tools()]


def test_every_shipped_tool_maps_to_a_valid_unique_function_name_and_back():
    names = shipped_tool_names()
    assert set(DEFAULT_TOOLS) | set(IMAGE_TOOLS) <= set(names)
    mapping = check_function_names(names)
    assert len(mapping) == len(names)
    for name in names:
        function = to_function_name(name)
        assert FUNCTION_NAME.match(function) and function.isidentifier()
        assert from_function_name(function) == name
    assert to_function_name("roborefer.detect_one") == "roborefer__detect_one"


def test_a_dotted_name_maps_back_to_itself():
    assert from_function_name("sam2.segment_from_point") == "sam2.segment_from_point"
    assert from_function_name("calculator") == "calculator"


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("a___b", "function name 'a___b' maps to no valid tool name: part '_b' starts or ends with '_' or holds '__'"),
        ("sam2 segment", "'sam2 segment' is not a function name: OpenAI function names match"),
        ("x" * 65, "is not a function name: OpenAI function names match ^[a-zA-Z0-9_-]{1,64}$"),
    ],
)
def test_a_function_name_no_tool_maps_to_is_an_error(function, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        from_function_name(function)


class _CollidingA(Toolset):
    namespace = "a_"

    @tool_method
    def b(self, ctx) -> ToolResult:
        """Would be the function name a___b."""
        return ToolResult(ok=True, text="")


class _LongName(Toolset):
    namespace = "n" * 40

    @tool_method
    def method_with_a_long_name(self, ctx) -> ToolResult:
        """Its function name is over 64 characters."""
        return ToolResult(ok=True, text="")


def test_a_declaration_that_could_collide_is_refused_naming_the_rule():
    with pytest.raises(TypeError, match=(
        r"^tool 'a_\.b' cannot be declared: part 'a_' starts or ends with '_' or holds '__' \(a tool name is "
        r"dot-separated parts of letters, digits and '_', none starting or ending with '_'"
    )):
        list(_CollidingA().tools())
    with pytest.raises(TypeError, match=re.escape("is 65 characters long; OpenAI accepts at most 64. Use a shorter")):
        list(_LongName().tools())


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("sam2.segment-point", "part 'segment-point' must be letters, digits or '_'"),
        ("2d.box", "its function name '2d__box' is not a Python identifier (TRL's tool methods are)"),
        ("class", "its function name 'class' is not a Python identifier"),
        ("a..b", "part '' must be letters, digits or '_'"),
    ],
)
def test_a_name_that_is_no_python_identifier_once_mapped_is_refused(name, message):
    with pytest.raises(ValueError, match=re.escape(f"cannot map tool name {name!r}: {message}")):
        to_function_name(name)


def test_names_that_would_share_a_function_name_are_refused_before_they_collide():
    with pytest.raises(ValueError, match=re.escape("cannot map tool name 'a_.b': part 'a_' starts or ends with '_'")):
        check_function_names(["a.b", "a_.b", "a._b"])
    with pytest.raises(ValueError, match=re.escape("cannot map tool name 'a._b': part '_b' starts or ends with '_'")):
        check_function_names(["a._b"])


def test_openai_tools_maps_names_and_leaves_the_env_schemas_dotted():
    env = gym.make(ENV_ID)
    _, info = env.reset(seed=0)
    payload = openai_tools(info["tools"])
    assert [s["function"]["name"] for s in payload] == [to_function_name(n) for n in DEFAULT_TOOLS]
    assert [s["function"]["name"] for s in info["tools"]] == list(DEFAULT_TOOLS)  # not changed in place
    assert payload[0]["function"]["parameters"] == info["tools"][0]["function"]["parameters"]
    assert openai_tools(make_client().specs) == payload
    assert '"name": "roborefer.detect_one"' in unwrap(env).system_prompt  # the text protocol keeps dots


def test_calls_from_openai_gives_dotted_names_and_decoded_arguments():
    tool_calls = [
        {"id": "c0", "type": "function",
         "function": {"name": "roborefer__detect_one", "arguments": json.dumps(DETECT)}},
        {"type": "function", "function": {"name": "depth_estimator__estimate_depth", "arguments": ""}},
    ]
    assert calls_from_openai(tool_calls) == [
        {"name": "roborefer.detect_one", "arguments": DETECT},
        {"name": "depth_estimator.estimate_depth", "arguments": {}},
    ]
    with pytest.raises(ValueError, match=r"^tool call 1 \(sam2__segment_from_point\): arguments are not JSON"):
        calls_from_openai([{"function": {"name": "sam2__segment_from_point", "arguments": "{x"}}])


def test_env_runs_openai_tool_calls_with_function_names_and_records_dotted_names():
    text_env, native_env = gym.make(ENV_ID), gym.make(ENV_ID)
    text_env.reset(seed=0)
    native_env.reset(seed=0)
    text = f'<tool_call>{json.dumps({"name": "roborefer.detect_one", "arguments": DETECT})}</tool_call>'
    expected, *_, text_info = text_env.step(text)
    call = {"id": "call_0", "type": "function",
            "function": {"name": "roborefer__detect_one", "arguments": json.dumps(DETECT)}}
    obs, _, terminated, _, info = native_env.step({"tool_calls": [call]})
    assert obs == expected and not terminated
    assert [r["name"] for r in info["tool_results"]] == ["roborefer.detect_one"]
    assert info["tool_stats"] == text_info["tool_stats"]
    assert obs[0]["name"] == "roborefer.detect_one" and obs[0]["content"][0]["text"].startswith("Detected ")


def test_a_bare_dict_call_may_use_the_function_name_too():
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    *_, info = env.step({"name": "roborefer__detect_one", "arguments": DETECT})
    assert info["tool_results"][0]["ok"] and info["tool_results"][0]["name"] == "roborefer.detect_one"


def test_text_actions_are_the_paper_protocol_and_are_not_mapped():
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    text = f'<tool_call>{json.dumps({"name": "roborefer__detect_one", "arguments": DETECT})}</tool_call>'
    obs, *_ = env.step(text)
    assert obs[0]["content"][0]["text"].startswith("Error: Unknown tool 'roborefer__detect_one'; available:")
    assert obs[0]["content"][0]["text"].endswith("Did you mean 'roborefer.detect_one'?")


def test_a_function_name_of_no_tool_is_unknown_under_its_dotted_name():
    env = gym.make(ENV_ID)
    env.reset(seed=0)
    obs, *_ = env.step({"tool_calls": [{"type": "function", "function": {"name": "sam2__segmnt", "arguments": "{}"}}]})
    assert obs[0]["content"][0]["text"].startswith("Error: Unknown tool 'sam2.segmnt'; available:")
