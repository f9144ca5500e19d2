"""Turn the model's action (text or a structured dict) into tool calls, an answer, or errors.

Text follows the Hermes convention of Qwen2.5 and the original SpaceTools agent loop::

    <think>...</think>
    <tool_call>
    {"name": "roborefer.detect_one", "arguments": {"obj_name": "mug", "image_index": 0}}
    </tool_call>

or ends the episode with ``<answer>...</answer>``. Dict actions (``{"tool_calls": [...]}``, OpenAI
entries included) may name tools by their native function names (``sam2__segment_from_point``,
:mod:`tool_backends.names`); they become the dotted names, so records keep the paper's names. Text
is the paper protocol and is read as written. Parsing never raises: every problem becomes
a message in :attr:`ParsedAction.errors`, which the env returns to the model as an
``Error: ...`` tool response. Decision: when a turn holds both an answer and tool calls, the
answer wins and the calls are not run (the official scorers read the first ``<answer>``).

Bounds, checked before any other work so that no action costs more than a few milliseconds:
an action longer than ``max_chars`` (:data:`MAX_ACTION_CHARS`, the env's ``max_action_chars``)
is refused whole; JSON is decoded and checked by :mod:`spacetools_env.model_json` (lone
surrogates become U+FFFD, integers and nesting are capped), the raw text included.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from spacetools_env.model_json import ModelValueError, clean_text, clean_value, decode_json
from tool_backends.names import SEPARATOR, from_function_name

MAX_ACTION_CHARS = 65_536
"""Characters of one action read per turn (64 KiB); longer actions are refused whole."""

_FORMAT_HINT = (
    'Write each call as <tool_call>{"name": "<tool name>", "arguments": {...}}</tool_call>, '
    "or give the final answer as <answer>...</answer>."
)
_SNIPPET = 60


@dataclass(frozen=True)
class ToolCallRequest:
    """One call the model asked for, before variable resolution."""

    name: str
    arguments: dict[str, Any]


@dataclass(frozen=True)
class ParsedAction:
    """What one assistant turn asked for."""

    calls: tuple[ToolCallRequest, ...] = ()
    answer: str | None = None
    errors: tuple[str, ...] = field(default_factory=tuple)
    text: str = ""


def plan_turn(action: Any, max_calls_per_turn: int, max_chars: int = MAX_ACTION_CHARS) -> ParsedAction:
    """What the env does with one action: score its answer, or run at most ``max_calls_per_turn`` calls.

    The one rule :meth:`SpaceToolsEnv.step` plays and the leaderboard validator re-derives from
    recorded actions: an answer ends the turn (its calls and parse problems are dropped); otherwise
    the first ``max_calls_per_turn`` calls run and each parse problem, plus one for the calls past
    the cap, is an invalid action.
    """
    parsed = parse_action(action, max_chars=max_chars)
    if parsed.answer is not None:
        return ParsedAction(answer=parsed.answer, text=parsed.text)
    if len(parsed.calls) <= max_calls_per_turn:
        return parsed
    over = (
        f"at most {max_calls_per_turn} tool calls run per turn; "
        f"calls {max_calls_per_turn + 1}..{len(parsed.calls)} were not run."
    )
    return ParsedAction(
        calls=parsed.calls[:max_calls_per_turn], errors=(*parsed.errors, over), text=parsed.text
    )


def parse_action(action: Any, max_chars: int = MAX_ACTION_CHARS) -> ParsedAction:
    """Parse a model action: a text message, or a dict (one call, ``tool_calls``, ``answer``).

    Args:
        action: What the model (or a program) emitted this turn.
        max_chars: Size cap of the action, checked first: characters of a text; for a dict, the
            characters of its strings plus one per value (see :func:`~spacetools_env.model_json.clean_value`).
    """
    if isinstance(action, str):
        if len(action) > max_chars:
            return ParsedAction(errors=(_too_long(f"is {len(action):,} characters long", max_chars),))
        return parse_text(action)
    if isinstance(action, Mapping):
        try:
            cleaned = clean_value(action, budget=max_chars)
        except ModelValueError as exc:
            reason = str(exc)
            if reason.startswith("it holds more than"):
                return ParsedAction(errors=(_too_long(reason.replace("it holds", "holds"), max_chars),))
            return ParsedAction(errors=(f"the action dict is not plain JSON data: {reason}.",))
        return _parse_structured(cleaned)
    return ParsedAction(errors=(f"the action must be text or a dict, got {type(action).__name__}. {_FORMAT_HINT}",))


def parse_text(text: str) -> ParsedAction:
    """Parse assistant text in the Hermes / SpaceTools format (linear time, whatever the input)."""
    text = clean_text(text)
    answer = _first_between(text, "<answer>", "</answer>")
    if answer is not None:
        return ParsedAction(answer=answer.strip(), text=text)
    calls: list[ToolCallRequest] = []
    errors: list[str] = []
    start, number = text.find("<tool_call>"), 0
    while start >= 0:
        number += 1
        body_start = start + len("<tool_call>")
        end = text.find("</tool_call>", body_start)
        if end < 0:
            errors.append(f"tool call {number}: <tool_call> is not closed with </tool_call>. {_FORMAT_HINT}")
            break
        call, error = _decode_call_json(text[body_start:end], number)
        if call is not None:
            calls.append(call)
        else:
            errors.append(error)
        start = text.find("<tool_call>", end)
    if "<answer>" in text:
        errors.append("found <answer> without a closing </answer>. " + _FORMAT_HINT)
    if not calls and not errors:
        errors.append("no tool call or answer found in the message. " + _FORMAT_HINT)
    return ParsedAction(calls=tuple(calls), errors=tuple(errors), text=text)


def _first_between(text: str, open_tag: str, close_tag: str) -> str | None:
    start = text.find(open_tag)
    if start < 0:
        return None
    end = text.find(close_tag, start + len(open_tag))
    return None if end < 0 else text[start + len(open_tag) : end]


def _too_long(size: str, max_chars: int) -> str:
    return (
        f"the action {size}; at most {max_chars:,} characters (max_action_chars) are read per turn, so "
        "nothing in it was run. Write a shorter turn: one short call per <tool_call>, large values as "
        '"$name" variables.'
    )


def _decode_call_json(body: str, number: int) -> tuple[ToolCallRequest | None, str]:
    payload, reason = decode_json(body)
    if reason is not None:
        return None, f"tool call {number} is not valid JSON ({reason}): {_snippet(body)}. {_FORMAT_HINT}"
    return _call_from_mapping(payload, number)


def _call_from_mapping(payload: Any, number: int, function_names: bool = False) -> tuple[ToolCallRequest | None, str]:
    """One call from its JSON object; ``function_names``: map native function names back (dict actions)."""
    if not isinstance(payload, Mapping):
        return None, f"tool call {number} must be a JSON object, got {type(payload).__name__}. {_FORMAT_HINT}"
    if "function" in payload and isinstance(payload["function"], Mapping):
        payload = payload["function"]  # OpenAI {"type": "function", "function": {...}}
    name = payload.get("name")
    if not isinstance(name, str) or not name:
        return None, f'tool call {number} needs a "name" string. {_FORMAT_HINT}'
    if function_names and SEPARATOR in name and "." not in name:
        name = _tool_name(name)
    arguments = payload.get("arguments", {})
    if isinstance(arguments, str):
        decoded, reason = decode_json(arguments) if arguments.strip() else ({}, None)
        if reason is not None:
            return None, (
                f'tool call {number}: "arguments" is a string that is not valid JSON ({reason}). {_FORMAT_HINT}'
            )
        arguments = decoded
    if not isinstance(arguments, Mapping):
        return None, (
            f'tool call {number}: "arguments" must be an object, got {type(arguments).__name__}. {_FORMAT_HINT}'
        )
    return ToolCallRequest(name=name, arguments=dict(arguments)), ""


def _parse_structured(action: Mapping[str, Any]) -> ParsedAction:
    if "answer" in action:
        answer = action["answer"]
        if not isinstance(answer, str):
            return ParsedAction(errors=(f'"answer" must be a string, got {type(answer).__name__}.',))
        return ParsedAction(answer=answer.strip())
    if "name" in action or "function" in action:
        raw_calls: Any = [action]
    else:
        raw_calls = action.get("tool_calls")
    content = action.get("content")
    if raw_calls is None:
        if isinstance(content, str):
            return parse_text(content)
        keys = [k[:40] for k in sorted(action)[:8]]
        return ParsedAction(
            errors=(f'a dict action needs "name"+"arguments", "tool_calls", "answer" or "content"; got keys {keys}.',)
        )
    if not isinstance(raw_calls, list | tuple):
        return ParsedAction(errors=(f'"tool_calls" must be a list, got {type(raw_calls).__name__}.',))
    text_part = parse_text(content) if isinstance(content, str) and content else None
    if text_part is not None and text_part.answer is not None:
        return text_part
    calls, errors = [], []
    for number, raw in enumerate(raw_calls, start=1):
        call, error = _call_from_mapping(raw, number, function_names=True)
        if call is not None:
            calls.append(call)
        else:
            errors.append(error)
    if not calls and not errors:
        errors.append('"tool_calls" is empty. ' + _FORMAT_HINT)
    return ParsedAction(calls=tuple(calls), errors=tuple(errors), text=content if isinstance(content, str) else "")


def _tool_name(function_name: str) -> str:
    """The dotted tool name of a native function name (``sam2__segment_from_point``); as is if none maps."""
    try:
        return from_function_name(function_name)
    except ValueError:  # not a mapped name: the env reports it as an unknown tool under the name sent
        return function_name


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= _SNIPPET else text[: _SNIPPET - 3] + "...")
