"""The env's conversation as OpenAI chat-completions messages, and a completion's message as the env's action.

Two protocols:

- ``text`` (the paper's, the default): the system message is the env's prompt with its tools block,
  sent as is (no ``tools`` payload); assistant turns are the text the model wrote (``<tool_call>``
  blocks and all); each run of tool messages becomes one user message holding each result in
  ``<tool_response>`` tags, exactly as the Qwen2.5 / LLaMA-Factory template renders tool turns (so any
  endpoint takes it: no ``tool_call_id`` is needed). The model's text is the action.
- ``native`` (function calling): the ``tools`` payload is :func:`tool_backends.names.openai_tools` of the
  env's schemas; assistant turns are replayed as the endpoint returned them (``tool_calls`` with their
  ids), each call answered by a ``role: tool`` message with its ``tool_call_id``. The env's results
  are matched to the calls by tool name in order; a call with no result (not run: a parse error or
  over the per-turn cap) is answered with the env's ``Error:`` texts, or "not run". Images returned by
  tools follow in one user message (tool messages carry text only). The action is the dict
  ``{"content": text, "tool_calls": [...]}`` with the function names, which ``env.step`` maps back.

Images are PNG data URLs, encoded once per episode (:class:`DataUrls`).
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tool_backends.names import from_function_name

PROTOCOLS = ("text", "native")
ANSWER_END = "</answer>"
_ERROR_SOURCE = "invalid_action"
"""The name of the env's tool messages that report a parse problem of the action (not one call's result)."""
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass
class DataUrls:
    """One episode's images as ``data:image/png;base64,...`` URLs, each encoded once."""

    urls: dict[bytes, str] = field(default_factory=dict)

    def url(self, image: np.ndarray) -> str:
        from PIL import Image

        array = np.ascontiguousarray(image)
        key = hashlib.sha256(array.tobytes() + str(array.shape).encode()).digest()
        if key not in self.urls:
            buffer = io.BytesIO()
            Image.fromarray(array).convert("RGB").save(buffer, format="PNG")
            self.urls[key] = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")
        return self.urls[key]


def request_messages(
    messages: Sequence[Mapping[str, Any]], images: DataUrls, protocol: str = "text",
    replies: Sequence[Mapping[str, Any]] = (),
) -> list[dict[str, Any]]:
    """The chat-completions ``messages`` of an env conversation (see the module docstring).

    Args:
        messages: The env's conversation (system, user, assistant and tool messages).
        images: The episode's data-URL cache.
        protocol: ``text`` or ``native``.
        replies: ``native``: the assistant messages the endpoint returned, one per assistant turn so
            far; when their count differs from the conversation's, its own texts are used.
    """
    native = protocol == "native" and len(replies) == sum(m["role"] == "assistant" for m in messages)
    out: list[dict[str, Any]] = []
    turn, i = 0, 0
    while i < len(messages):
        message = messages[i]
        if message["role"] == "tool":
            run = _tool_run(messages, i)
            calls = list(replies[turn - 1].get("tool_calls") or []) if native and turn else []
            out += _native_results(run, calls, images) if calls else [_tool_turn(run, images)]
            i += len(run)
            continue
        if message["role"] == "assistant":
            out.append(_replayed(replies[turn]) if native else {"role": "assistant", "content": _text(message)})
            turn += 1
        elif message["role"] == "system":
            out.append({"role": "system", "content": _text(message)})
        else:
            out.append({"role": message["role"], "content": _parts(message["content"], images)})
        i += 1
    return out


def action_from_reply(reply: Mapping[str, Any], protocol: str = "text") -> Any:
    """The env action of a completion's message: its text (cut after ``</answer>``), or a tool-call dict.

    A lone surrogate the endpoint's JSON smuggled in (``"\\ud800"``) becomes U+FFFD, so the action, and
    the record holding it, is valid UTF-8. Call ids are left out (they differ from run to run).
    """
    content = _cut_after_answer(_valid(str(reply.get("content") or "")))
    calls = reply.get("tool_calls") or []
    if protocol != "native" or not isinstance(calls, list) or not calls or ANSWER_END in content:
        return content
    tool_calls = []
    for call in calls:
        function = call.get("function") if isinstance(call, Mapping) else None
        function = function if isinstance(function, Mapping) else {}
        arguments = function.get("arguments", "")
        arguments = _valid(arguments) if isinstance(arguments, str) else arguments
        tool_calls.append({"type": "function", "function": {"name": _valid(str(function.get("name", ""))),
                                                            "arguments": arguments}})
    return {"content": content, "tool_calls": tool_calls}


def kept_reply(reply: Mapping[str, Any], turn: int) -> dict[str, Any]:
    """The assistant message as it is replayed at later turns: content and calls, each call with an id.

    A call's ``arguments`` are replayed as a JSON object's text: servers parse them to render the
    template (``transformers serve`` and vLLM answer 400 otherwise), so arguments that are not a JSON
    object are replayed as ``{}``; the env's ``Error:`` answer to that call says what was wrong.
    """
    kept: dict[str, Any] = {"role": "assistant", "content": _valid(str(reply.get("content") or ""))}
    calls = [c for c in reply.get("tool_calls") or [] if isinstance(c, Mapping)]
    if calls:
        kept["tool_calls"] = []
        for k, call in enumerate(calls):
            found = call.get("function")
            function: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
            kept["tool_calls"].append({
                "id": str(call.get("id") or f"call_{turn}_{k}"), "type": "function",
                "function": {"name": _valid(str(function.get("name", ""))),
                             "arguments": _object_text(function.get("arguments"))},
            })
    return kept


def _object_text(arguments: Any) -> str:
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except ValueError:
            return "{}"
    return json.dumps(arguments, ensure_ascii=False) if isinstance(arguments, dict) else "{}"


# ---------------------------------------------------------------------- helpers
def _text(message: Mapping[str, Any]) -> str:
    return "".join(p.get("text", "") for p in message["content"] if p.get("type") == "text")


def _parts(content: Sequence[Mapping[str, Any]], images: DataUrls) -> list[dict[str, Any]]:
    """Content parts: images as ``image_url`` parts, adjacent texts joined into one part."""
    parts: list[dict[str, Any]] = []
    for part in content:
        if part.get("type") == "image":
            parts.append({"type": "image_url", "image_url": {"url": images.url(part["image"])}})
        elif parts and parts[-1]["type"] == "text":
            parts[-1]["text"] += part.get("text", "")
        else:
            parts.append({"type": "text", "text": part.get("text", "")})
    return parts


def _tool_run(messages: Sequence[Mapping[str, Any]], start: int) -> list[Mapping[str, Any]]:
    end = start
    while end < len(messages) and messages[end]["role"] == "tool":
        end += 1
    return list(messages[start:end])


def _tool_turn(run: Sequence[Mapping[str, Any]], images: DataUrls) -> dict[str, Any]:
    """A run of tool messages as one user turn, each result in ``<tool_response>`` tags (the text protocol)."""
    content: list[dict[str, Any]] = []
    for k, message in enumerate(run):
        content.append({"type": "text", "text": ("\n" if k else "") + "<tool_response>\n"})
        content += message["content"]
        content.append({"type": "text", "text": "\n</tool_response>"})
    return {"role": "user", "content": _parts(content, images)}


def _replayed(reply: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in reply.items() if k in ("role", "content", "tool_calls")}


def _native_results(
    run: Sequence[Mapping[str, Any]], calls: Sequence[Mapping[str, Any]], images: DataUrls
) -> list[dict[str, Any]]:
    """One ``role: tool`` message per call of the previous assistant turn, then the tools' images (if any)."""
    errors = [_text(m) for m in run if m.get("name") == _ERROR_SOURCE]
    results = [m for m in run if m.get("name") != _ERROR_SOURCE]
    answered: dict[int, str] = {}
    leftover: list[str] = []
    position = 0
    for message in results:
        while position < len(calls) and _dotted(calls[position]) != message.get("name"):
            position += 1
        if position == len(calls):
            leftover.append(_text(message))
            continue
        answered[position] = _text(message)
        position += 1
    not_run = "\n".join(errors) or "Error: this call was not run."
    out: list[dict[str, Any]] = [
        {"role": "tool", "tool_call_id": str(call.get("id")), "content": answered.get(k, not_run)}
        for k, call in enumerate(calls)
    ]
    extra = leftover + (errors if len(answered) == len(calls) else [])
    pictures = [p for m in results for p in m["content"] if p.get("type") == "image"]
    if extra or pictures:
        text = [{"type": "text", "text": "\n".join(extra)}] if extra else []
        out.append({"role": "user", "content": _parts([*text, *pictures], images)})
    return out


def _dotted(call: Mapping[str, Any]) -> str:
    name = str((call.get("function") or {}).get("name", ""))
    try:
        return from_function_name(name)
    except ValueError:
        return name


def _valid(text: str) -> str:
    return _SURROGATE.sub("\ufffd", text)


def _cut_after_answer(text: str) -> str:
    end = text.find(ANSWER_END)
    return text if end < 0 else text[: end + len(ANSWER_END)]
