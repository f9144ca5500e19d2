"""A trace as a row of the released SFT set's layout (ShareGPT, as LLaMA-Factory reads it), and back.

The original SFT ran on a LLaMA-Factory fork with ``template: qwen2_vl`` (notes: original_system.md
section 7). One row per episode::

    {"conversations": [
        {"from": "human", "value": "<image><question>"},
        {"from": "function_call",
         "value": "<think>...</think>\\n<tool_call>\\n{\\"name\\": \\"roborefer.detect_one\\", ...}\\n</tool_call>"},
        {"from": "observation", "value": "Detected 1 instance(s) of 'mug': [(0.5, 0.4)]"},
        {"from": "gpt", "value": "<think>...</think>\\n<answer>A</answer>"}],
     "system": "<the env's system message without its # Tools block>",
     "tools": "<JSON string: the schemas the env showed>",
     "images": ["images/<sha256>.png"],
     "meta": {...}}

plus the ``dataset_info.json`` entry (:func:`dataset_info`). How the protocol's text maps, so that
LLaMA-Factory's ``qwen2_vl`` template renders exactly the conversation the model saw in the env:

- ``system`` + ``tools``: LLaMA-Factory appends its ``qwen`` tool prompt, byte-identical to the
  env's ``# Tools`` block (:func:`spacetools_env.prompts.tools_block`), to ``system``. An env run
  with ``tools_in_system_prompt=False`` printed no block: ``system`` is its message and ``tools`` is "".
- A structured assistant turn (:mod:`agents.traces.trace`) is one ``function_call`` turn whose value
  is the JSON the model wrote: the call object, or a list of them for several calls (LLaMA-Factory's
  parallel calls), with the paper's dotted names. When the model wrote ``<think>`` text first, the
  value is that text, a newline, then the JSON inside one ``<tool_call>...</tool_call>``:
  LLaMA-Factory keeps text outside its ``tool_call_words`` and prints each call back as
  ``\\n<tool_call>\\n{json}\\n</tool_call>``, i.e. the model's own text.
- ``<answer>`` turns and turns the env did not run as written are ``gpt`` turns, text verbatim.
- A turn's tool responses are one ``observation``: their texts joined by
  ``"\\n</tool_response>\\n<tool_response>\\n"``, so the template's single ``<tool_response>`` wrapper
  renders them as Qwen2.5 renders consecutive tool messages. Tool names are not stored: the import
  takes them from the calls before (``invalid_action`` for ``Error:`` messages).
- Images are ``<image>`` placeholders where they were (question images before the question, tool
  images after the tool text); ``images`` lists their files in that order, relative to the folder.

The released set (``siyich/spacetools-sft``): its exact field names could not be read. Assumed:
LLaMA-Factory's sharegpt defaults (``conversations`` of ``from``/``value`` with ``human``, ``gpt``,
``function_call``, ``observation``; ``system``, ``tools``, ``images``), as its fork reads them; the
``role``/``content`` layout (tags ``user``, ``assistant``, ``function_call``/``tool_call``,
``observation``/``tool``, a ``messages`` column) is read as well, and a ``dataset_info.json`` beside the
file, when present, names the columns and tags. Rows without ``meta`` get ``source`` = the file name.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from agents.traces.fields import ImageLoader, Where, get, meta_of, need
from agents.traces.trace import Part, Trace, TraceError, TraceImage, TraceMessage, assistant_text, trace_meta
from agents.traces.trl_format import image_path
from spacetools_env.parsing import ToolCallRequest, parse_action
from spacetools_env.prompts import tools_block

DATASET_NAME = "spacetools_traces"
FILE_NAME = "traces.jsonl"
IMAGE_TOKEN = "<image>"
RESPONSE_SEPARATOR = "\n</tool_response>\n<tool_response>\n"
TAGS = {
    "role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
    "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system",
}
"""LLaMA-Factory's sharegpt tags (its defaults), written out in :func:`dataset_info`."""
COLUMNS = {"messages": "conversations", "system": "system", "tools": "tools", "images": "images"}
_ROLE_CONTENT_TAGS = {
    **TAGS, "role_tag": "role", "content_tag": "content", "user_tag": "user", "assistant_tag": "assistant",
}
_ALIASES = {"user": ("human", "user"), "assistant": ("gpt", "assistant"), "function": ("function_call", "tool_call"),
            "observation": ("observation", "tool"), "system": ("system",)}
_FIX = ("rows are written by `spacetools traces export --format sharegpt` (LLaMA-Factory's sharegpt layout); "
        "re-export the run, or fix the row by hand")
_BLOCK = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)


def dataset_info(file_name: str = FILE_NAME, name: str = DATASET_NAME) -> dict[str, Any]:
    """The ``dataset_info.json`` content LLaMA-Factory needs to read ``file_name`` (``dataset: <name>``)."""
    return {name: {"file_name": file_name, "formatting": "sharegpt", "columns": dict(COLUMNS), "tags": dict(TAGS)}}


def to_sharegpt_row(trace: Trace) -> dict[str, Any]:
    """The ShareGPT row of ``trace`` (see the module docstring).

    Raises:
        TraceError: a text holds ``<image>`` or the tool-response separator, which would not read back.
    """
    stripped = trace.system_without_tools
    system, tools = trace.system, ""
    if stripped is not None:
        system, tools = stripped, json.dumps(trace.tools, ensure_ascii=False)
    conversations: list[dict[str, str]] = []
    images: list[str] = []
    observation: list[str] | None = None
    for message in trace.messages:
        if message.role == "tool":
            observation = [] if observation is None else observation
            observation.append(_value(message, trace, images))
            continue
        if observation is not None:
            conversations.append({"from": "observation", "value": RESPONSE_SEPARATOR.join(observation)})
            observation = None
        if message.role == "user":
            conversations.append({"from": "human", "value": _value(message, trace, images)})
        elif message.calls:
            conversations.append({"from": "function_call", "value": function_call_value(message)})
        else:
            conversations.append({"from": "gpt", "value": message.text})
    if observation is not None:
        conversations.append({"from": "observation", "value": RESPONSE_SEPARATOR.join(observation)})
    return {"conversations": conversations, "system": system, "tools": tools, "images": images,
            "meta": dict(trace.meta)}


def _value(message: TraceMessage, trace: Trace, images: list[str]) -> str:
    pieces = []
    for part in message.content:
        if isinstance(part, int):
            images.append(image_path(trace.images[part]))
            pieces.append(IMAGE_TOKEN)
        elif IMAGE_TOKEN in part or (message.role == "tool" and RESPONSE_SEPARATOR in part):
            marker = IMAGE_TOKEN if IMAGE_TOKEN in part else "the tool-response separator"
            raise TraceError(
                f"episode {trace.meta.get('env_id')}/{trace.meta.get('split')}/{trace.meta.get('index')}: a "
                f"{message.role} text holds {marker!r}, which LLaMA-Factory would read as markup; export it with "
                "--format trl instead"
            )
        else:
            pieces.append(part)
    return "".join(pieces)


def function_call_value(message: TraceMessage) -> str:
    """The ``function_call`` value of a structured turn: the calls' JSON, after the ``<think>`` text if any."""
    payload: Any = [_call(c) for c in message.calls] if len(message.calls) > 1 else _call(message.calls[0])
    body = json.dumps(payload, ensure_ascii=False)
    return f"{message.text}\n<tool_call>\n{body}\n</tool_call>" if message.text else body


def _call(call: ToolCallRequest) -> dict[str, Any]:
    return {"name": call.name, "arguments": call.arguments}


def from_sharegpt_row(
    row: Any, where: Where, load: ImageLoader, columns: Mapping[str, str] | None = None,
    tags: Mapping[str, str] | None = None,
) -> Trace:
    """The trace a ShareGPT row holds, in either layout (``from``/``value`` or ``role``/``content``).

    Args:
        columns, tags: A ``dataset_info.json`` entry's mappings (default: detected from the row).

    Raises:
        TraceError: naming the file, row and field that is malformed (or the image file missing).
    """
    need(row, dict, where, "(row)", "a JSON object", _FIX)
    columns = {**COLUMNS, **(columns or {})}
    if columns["messages"] not in row and "messages" in row:
        columns["messages"] = "messages"
    key = columns["messages"]
    turns = need(get(row, key, where, key, _FIX), list, where, key, "a list of turns", _FIX)
    tags = {**(_detect_tags(turns) if tags is None else TAGS), **(tags or {})}
    system = row.get(columns["system"]) or ""
    if turns and isinstance(turns[0], dict) and turns[0].get(tags["role_tag"]) == tags["system_tag"]:
        system, turns = turns[0].get(tags["content_tag"]), turns[1:]
    need(system, str, where, columns["system"], "a string", _FIX)
    tools = _tools(row.get(columns["tools"]) or "", where, columns["tools"])
    paths = row.get(columns["images"]) or []
    paths = [paths] if isinstance(paths, str) else need(paths, list, where, columns["images"], "a list of paths", _FIX)
    reader = _TurnReader(where, load, iter(paths), columns["images"])
    messages = reader.read(turns, tags, key)
    if next(reader.paths, None) is not None:
        raise where.error(columns["images"], f"one path per {IMAGE_TOKEN} placeholder", paths, _FIX)
    meta = meta_of(row, where, _FIX, default={"source": where.file.rsplit("/", 1)[-1]})
    full_system = system + tools_block(tools) if tools else system
    return Trace(full_system, tools, tuple(messages), tuple(reader.images), trace_meta(meta))


def _detect_tags(turns: list[Any]) -> dict[str, str]:
    first = next((t for t in turns if isinstance(t, dict)), {})
    return dict(_ROLE_CONTENT_TAGS) if "role" in first and "from" not in first else dict(TAGS)


def _tools(value: Any, where: Where, field: str) -> list[dict[str, Any]]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value.strip() else []
        except json.JSONDecodeError as exc:
            raise where.error(field, f"a JSON list of tool schemas ({exc.msg})", value, _FIX) from None
    return need(value, list, where, field, "a list of tool schemas (or its JSON string)", _FIX)


class _TurnReader:
    """Reads the turns of one row, taking images from its ``images`` column in placeholder order."""

    def __init__(self, where: Where, load: ImageLoader, paths: Any, images_field: str) -> None:
        self.where, self.load, self.paths, self.images_field = where, load, paths, images_field
        self.images: list[TraceImage] = []

    def read(self, turns: list[Any], tags: Mapping[str, str], key: str) -> list[TraceMessage]:
        roles = {tags[f"{kind}_tag"]: kind for kind in ("user", "assistant", "function", "observation", "system")}
        for kind, aliases in _ALIASES.items():  # the other layout's names for the same roles
            roles.update({alias: kind for alias in aliases if alias not in roles})
        out: list[TraceMessage] = []
        for t, turn in enumerate(turns):
            field = f"{key}[{t}]"
            need(turn, dict, self.where, field, "a turn object", _FIX)
            tag = get(turn, tags["role_tag"], self.where, f"{field}.{tags['role_tag']}", _FIX)
            role = roles.get(tag) if isinstance(tag, str) else None
            allowed = ("user", "observation") if t % 2 == 0 else ("assistant", "function")
            if role not in allowed:
                expected = " or ".join(repr(tags[f"{kind}_tag"]) for kind in allowed)
                raise self.where.error(
                    f"{field}.{tags['role_tag']}",
                    f"{expected} at this position (LLaMA-Factory alternates human/observation and gpt/function_call)",
                    turn.get(tags["role_tag"]), _FIX,
                )
            value = need(get(turn, tags["content_tag"], self.where, f"{field}.{tags['content_tag']}", _FIX), str,
                         self.where, f"{field}.{tags['content_tag']}", "a string", _FIX)
            vfield = f"{field}.{tags['content_tag']}"
            if role == "user":
                out.append(TraceMessage("user", self._parts(value)))
            elif role == "assistant":
                out.append(TraceMessage("assistant", (value,) if value else ()))
            elif role == "function":
                text, calls = _function_call(value, self.where, vfield)
                out.append(TraceMessage("assistant", (text,) if text else (), calls=calls))
            else:
                responses = value.split(RESPONSE_SEPARATOR)
                names = _names(out[-1] if out else None, len(responses))
                out += [TraceMessage("tool", self._parts(text), name=name) for text, name in zip(responses, names,
                                                                                                    strict=True)]
        if len(turns) % 2:
            raise self.where.error(key, "an even number of turns ending with the model's (gpt or function_call)",
                                   f"{len(turns)} turns", _FIX)
        return out

    def _parts(self, value: str) -> tuple[Part, ...]:
        parts: list[Part] = []
        for i, piece in enumerate(value.split(IMAGE_TOKEN)):
            if i:
                path = next(self.paths, None)
                if path is None:
                    raise self.where.error(self.images_field, f"one path per {IMAGE_TOKEN} placeholder",
                                           "fewer paths", _FIX)
                need(path, str, self.where, self.images_field, "image paths (strings)", _FIX)
                self.images.append(self.load(path, self.where, self.images_field))
                parts.append(len(self.images) - 1)
            if piece:
                parts.append(piece)
        return tuple(parts)


def _function_call(value: str, where: Where, field: str) -> tuple[str, tuple[ToolCallRequest, ...]]:
    """(text before the calls, calls) of a ``function_call`` value: bare JSON, or text then ``<tool_call>`` blocks."""
    blocks = list(_BLOCK.finditer(value))
    if blocks:
        text, bodies = value[: blocks[0].start()], [b.group(1) for b in blocks]
    else:  # bare JSON, maybe after a <think>...</think> (LLaMA-Factory's thought_words: "\n</think>\n\n")
        end = value.rfind("</think>")
        cut = end + len("</think>") if end >= 0 else 0
        cut += len(value[cut:]) - len(value[cut:].lstrip("\n"))  # LLaMA-Factory prints the think with its newlines
        text, bodies = value[:cut], [value[cut:]]
    text = text[:-1] if text.endswith("\n") else text  # the template prints one newline before the calls
    calls: list[ToolCallRequest] = []
    for body in bodies:
        try:
            payload = json.loads(body)
        except json.JSONDecodeError as exc:
            raise where.error(field, f"the calls as JSON ({exc.msg})", value, _FIX) from None
        for entry in payload if isinstance(payload, list) else [payload]:
            if not (isinstance(entry, dict) and isinstance(entry.get("name"), str)
                    and isinstance(entry.get("arguments"), dict)):
                raise where.error(field, 'calls {"name": <string>, "arguments": <object>}', entry, _FIX)
            calls.append(ToolCallRequest(entry["name"], entry["arguments"]))
    return text, tuple(calls)


def _names(previous: TraceMessage | None, count: int) -> list[str]:
    """Tool names of ``count`` responses after ``previous``: its calls' names, or the env's for a raw turn."""
    if previous is not None and previous.calls and len(previous.calls) == count:
        return [c.name for c in previous.calls]
    if previous is not None and previous.role == "assistant":
        parsed = parse_action(assistant_text(previous))
        if len(parsed.errors) + len(parsed.calls) == count:
            return ["invalid_action"] * len(parsed.errors) + [c.name for c in parsed.calls]
    return ["invalid_action"] * count
