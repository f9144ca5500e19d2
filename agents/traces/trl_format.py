"""A trace as a row of TRL's conversational format (``SFTTrainer`` with tools and images), and back.

One row per episode::

    {"messages": [
        {"role": "system", "content": [{"type": "text", "text": "<the env's system message>"}]},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "<question>"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "<think>...</think>"}],
         "tool_calls": [{"type": "function", "function": {
             "name": "roborefer.detect_one", "arguments": "{\\"obj_name\\": \\"mug\\", \\"image_index\\": 0}"}}]},
        {"role": "tool", "name": "roborefer.detect_one", "content": [{"type": "text", "text": "Detected ..."}]},
        {"role": "assistant", "content": [{"type": "text", "text": "<think>...</think>\\n<answer>A</answer>"}]}],
     "tools": [<the JSON schemas the env showed>],
     "images": ["images/<sha256>.png"],
     "meta": {"source": ..., "env_id": ..., "split": ..., "index": ..., "seed": ..., "family": ...,
              "agent": ..., "score": ...}}

How the protocol's text maps:

- ``<think>`` text the model wrote before its first ``<tool_call>`` is the assistant ``content``;
  each ``<tool_call>`` block is one entry of ``tool_calls`` in OpenAI's shape, with the paper's
  dotted names and ``arguments`` a JSON string: ``json.dumps(arguments, ensure_ascii=False)``,
  exactly what a template's ``tojson`` prints. Not an object: ``datasets``' ``Json`` column type
  (the one TRL's guide loads tool calls with) round-trips floats through ujson, 0.57 coming back as
  0.5700000000000001, so the rendered call would differ from the model's; a string keeps the
  model's numbers. The shipped templates (:mod:`agents.models.templates`) and Qwen3's print a
  string as is. They print the calls back as ``content`` then
  ``"\\n<tool_call>\\n{json}\\n</tool_call>"`` per call. A turn the env did not run as written
  (malformed, past the call cap: see :mod:`agents.traces.trace`) keeps its text verbatim, no ``tool_calls``.
- ``<answer>`` turns keep their whole text (``<think>`` included) as ``content``.
- Tool responses are ``role: tool`` messages with the tool's ``name``, in call order; the env's
  ``Error: ...`` messages are named ``invalid_action``.
- The system message is the env's, ``# Tools`` block included: TRL's vision collator does not
  pass the ``tools`` column to the chat template (notes: models_and_training.md), so this is the
  only way the schemas reach a VLM's SFT prompt, byte-identical to eval and GRPO. ``tools`` holds
  the same schemas for a text-only pipeline that renders them itself: then use
  :attr:`~agents.traces.trace.Trace.system_without_tools` or the block is printed twice.
- Question images are ``{"type": "image"}`` placeholders filled in order from ``images`` (paths
  relative to the dataset folder). Tool images (``tool_images=True`` only) are
  ``{"type": "image", "image": "images/..."}`` inside the tool message: TRL's collator does not fill
  tool-turn placeholders from ``images``.

Image paths are relative to the folder; :func:`agents.traces.dataset_dir.trl_rows` reads the rows
with absolute paths for ``datasets.Dataset.from_list(rows, on_mixed_types="use_json")`` (tool
arguments and schemas are arbitrary JSON: TRL's dataset-format guide).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from agents.traces.fields import ImageLoader, Where, get, meta_of, need
from agents.traces.trace import Part, Trace, TraceImage, TraceMessage, trace_meta
from spacetools_env.parsing import ToolCallRequest

IMAGES_DIR = "images"
_FIX = "rows are written by `spacetools traces export --format trl`; re-export the run, or fix the row by hand"


def image_path(image: TraceImage) -> str:
    return f"{IMAGES_DIR}/{image.file_name}"


def to_trl_row(trace: Trace) -> dict[str, Any]:
    """The TRL row of ``trace`` (see the module docstring)."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": [{"type": "text", "text": trace.system}]}]
    placeholders: list[str] = []
    for message in trace.messages:
        content = []
        for part in message.content:
            if isinstance(part, str):
                content.append({"type": "text", "text": part})
            elif message.role == "tool":
                content.append({"type": "image", "image": image_path(trace.images[part])})
            else:
                content.append({"type": "image"})
                placeholders.append(image_path(trace.images[part]))
        out: dict[str, Any] = {"role": message.role, "content": content}
        if message.calls:
            out["tool_calls"] = [
                {"type": "function", "function": {"name": c.name, "arguments": _arguments_text(c.arguments)}}
                for c in message.calls
            ]
        if message.role == "tool":
            out["name"] = message.name
        messages.append(out)
    return {"messages": messages, "tools": trace.tools, "images": placeholders, "meta": dict(trace.meta)}


def _arguments_text(arguments: dict[str, Any]) -> str:
    """A call's arguments as the JSON string a template's ``tojson`` prints (transformers: ``ensure_ascii=False``)."""
    return json.dumps(arguments, ensure_ascii=False)


def from_trl_row(row: Any, where: Where, load: ImageLoader) -> Trace:
    """The trace a TRL row holds.

    Raises:
        TraceError: naming the file, row and field that is malformed (or the image file missing).
    """
    messages = need(get(row, "messages", where, "messages", _FIX), list, where, "messages", "a list of messages", _FIX)
    if not messages or not isinstance(messages[0], dict) or messages[0].get("role") != "system":
        raise where.error("messages[0]", "the system message (role 'system')", messages[:1], _FIX)
    tools = need(row.get("tools", []), list, where, "tools", "a list of tool schemas", _FIX)
    paths = iter(need(row.get("images", []), list, where, "images", "a list of image paths", _FIX))
    images: list[TraceImage] = []
    out: list[TraceMessage] = []
    system = ""
    for m, message in enumerate(messages):
        field = f"messages[{m}]"
        need(message, dict, where, field, "a message object", _FIX)
        role = get(message, "role", where, f"{field}.role", _FIX)
        if (role == "system") != (m == 0) or role not in ("system", "user", "assistant", "tool"):
            raise where.error(f"{field}.role", "'system' first, then 'user', 'assistant' or 'tool'", role, _FIX)
        parts: list[Part] = []
        content = need(get(message, "content", where, f"{field}.content", _FIX), list, where, f"{field}.content",
                       "a list of content parts", _FIX)
        for p, part in enumerate(content):
            pfield = f"{field}.content[{p}]"
            kind = get(need(part, dict, where, pfield, "a content part object", _FIX), "type", where, f"{pfield}.type",
                       _FIX)
            if kind == "text":
                parts.append(need(get(part, "text", where, f"{pfield}.text", _FIX), str, where, f"{pfield}.text",
                                  "a string", _FIX))
                continue
            if kind != "image":
                raise where.error(f"{pfield}.type", "'text' or 'image'", kind, _FIX)
            if role == "tool":
                path = need(get(part, "image", where, f"{pfield}.image", _FIX), str, where, f"{pfield}.image",
                            "the path of the tool image", _FIX)
                images.append(load(path, where, f"{pfield}.image"))
            else:
                path = next(paths, None)
                if path is None:
                    raise where.error("images", "one path per image placeholder", row.get("images"), _FIX)
                images.append(load(need(path, str, where, "images", "image paths (strings)", _FIX), where, "images"))
            parts.append(len(images) - 1)
        if role == "system":
            system = "".join(p for p in parts if isinstance(p, str))
            continue
        calls = _calls(message.get("tool_calls") or [], where, f"{field}.tool_calls")
        name = need(get(message, "name", where, f"{field}.name", _FIX), str, where, f"{field}.name",
                    "the tool's name", _FIX) if role == "tool" else None
        out.append(TraceMessage(role, tuple(parts), calls=calls, name=name))
    if next(paths, None) is not None:
        raise where.error("images", "one path per image placeholder", row.get("images"), _FIX)
    meta = meta_of(row, where, _FIX)
    return Trace(system, tools, tuple(out), tuple(images), trace_meta(meta))


def _calls(entries: Any, where: Where, field: str) -> tuple[ToolCallRequest, ...]:
    need(entries, list, where, field, "a list of tool calls", _FIX)
    calls = []
    for c, entry in enumerate(entries):
        function = get(need(entry, dict, where, f"{field}[{c}]", "a tool call object", _FIX), "function", where,
                       f"{field}[{c}].function", _FIX)
        name = get(need(function, dict, where, f"{field}[{c}].function", "an object", _FIX), "name", where,
                   f"{field}[{c}].function.name", _FIX)
        arguments = get(function, "arguments", where, f"{field}[{c}].function.arguments", _FIX)
        need(name, str, where, f"{field}[{c}].function.name", "a string", _FIX)
        if isinstance(arguments, str):
            with contextlib.suppress(json.JSONDecodeError):  # not JSON: reported below as not an object
                arguments = json.loads(arguments)
        need(arguments, dict, where, f"{field}[{c}].function.arguments", "a JSON object (or its JSON string)", _FIX)
        calls.append(ToolCallRequest(name, arguments))
    return tuple(calls)
