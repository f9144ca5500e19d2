"""One episode as SFT data, whatever the file format: :class:`Trace`, built from env-shaped messages.

A trace holds what the model saw and wrote, in order: the system message exactly as the env
showed it, the tool schemas, the user turn (images and question), each assistant turn (the text
the model wrote, with its tool calls taken out when the turn is *structured*), each tool response,
and every image as encoded bytes. The exporters (:mod:`agents.traces.trl_format`,
:mod:`agents.traces.sharegpt`) write traces; the importers read them back into the same form.

A turn is structured when the env's parser finds tool calls in it and no answer, no parse
problem, and the env answered exactly one tool message per call (a turn past the call cap, a
malformed block or an over-long action made the env answer ``Error: ...`` messages). Its
``text`` is then what the model wrote before its first ``<tool_call>`` (the ``<think>``) less the
newline the template prints before each call, and
``calls`` the calls in order; the Qwen2.5 template (and LLaMA-Factory's ``qwen`` tool format) puts
them back as ``text + "\\n<tool_call>\\n{json}\\n</tool_call>"`` per call, which is the model's text
when it wrote the protocol's layout (the scripted agents do, byte for byte); otherwise the call
JSON comes back in ``json.dumps`` form and text between or after the blocks is not kept, as a
template could not print it. Every other assistant turn (answers, malformed turns) keeps its text
verbatim and has no calls.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from spacetools_env.parsing import ToolCallRequest, parse_action
from spacetools_env.prompts import tools_block

META_KEYS = ("source", "env_id", "split", "index", "seed", "family", "agent", "score")
"""The fixed keys of a trace's ``meta`` (same keys in every row, so Arrow reads one column type)."""

Part = str | int
"""One part of a message's content: text, or an image by its index in :attr:`Trace.images`."""


class TraceError(ValueError):
    """An episode cannot become a trace, or a trace file row is malformed; the message names where and the fix."""


@dataclass(frozen=True)
class TraceImage:
    """An image as encoded bytes (PNG for images from the env; a released set's files as they are)."""

    data: bytes
    suffix: str = ".png"

    @property
    def file_name(self) -> str:
        """Content-addressed name: the same picture in two episodes is written once."""
        return hashlib.sha256(self.data).hexdigest()[:20] + self.suffix

    @classmethod
    def from_array(cls, pixels: np.ndarray) -> TraceImage:
        """PNG bytes of ``pixels`` (deterministic: same pixels, same bytes)."""
        buffer = io.BytesIO()
        Image.fromarray(np.ascontiguousarray(pixels)).save(buffer, format="PNG")
        return cls(buffer.getvalue())


@dataclass(frozen=True)
class TraceMessage:
    """One message after the system message.

    Attributes:
        role: ``"user"``, ``"assistant"`` or ``"tool"``.
        content: Text parts and image indices (into :attr:`Trace.images`), in the order the model read them.
        calls: A structured assistant turn's tool calls (dotted names, decoded arguments).
        name: A tool message's tool name (``"invalid_action"`` for the env's ``Error:`` messages).
    """

    role: str
    content: tuple[Part, ...]
    calls: tuple[ToolCallRequest, ...] = ()
    name: str | None = None

    @property
    def text(self) -> str:
        return "".join(p for p in self.content if isinstance(p, str))

    @property
    def images(self) -> list[int]:
        return [p for p in self.content if isinstance(p, int)]


@dataclass(frozen=True)
class Trace:
    """One episode as SFT data (see the module docstring)."""

    system: str
    tools: list[dict[str, Any]]
    messages: tuple[TraceMessage, ...]
    images: tuple[TraceImage, ...]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float | None:
        value = self.meta.get("score")
        return None if value is None else float(value)

    @property
    def source(self) -> str:
        return str(self.meta.get("source") or "")

    @property
    def system_without_tools(self) -> str | None:
        """The system message minus the ``# Tools`` block printed from :attr:`tools`; None if it has none."""
        block = tools_block(self.tools) if self.tools else ""
        if block and self.system.endswith(block):
            return self.system[: -len(block)]
        return None


def trace_meta(values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` restricted to :data:`META_KEYS`, every key present (None when unknown)."""
    return {key: values.get(key) for key in META_KEYS}


def trace_from_messages(
    messages: Sequence[Mapping[str, Any]],
    image_of: Any,
    tools: list[dict[str, Any]],
    meta: Mapping[str, Any],
) -> Trace:
    """A trace from env-shaped messages (``role``, ``content`` parts, tool ``name``).

    Args:
        messages: The whole conversation, system message first.
        image_of: ``image_of(part) -> np.ndarray``: the pixels of one image part (inline, or rebuilt).
        tools: The tool schemas the env showed.
        meta: Values for :data:`META_KEYS`.

    Raises:
        TraceError: no system message first, or an unknown role.
    """
    if not messages or messages[0].get("role") != "system":
        raise TraceError("an episode's conversation must start with the env's system message")
    images: list[TraceImage] = []
    out: list[TraceMessage] = []
    for message in messages[1:]:
        role = message.get("role")
        if role not in ("user", "assistant", "tool"):
            raise TraceError(f"message role {role!r} is not user, assistant or tool")
        parts: list[Part] = []
        for part in message["content"]:
            if part.get("type") == "image":
                images.append(TraceImage.from_array(np.asarray(image_of(part))))
                parts.append(len(images) - 1)
            else:
                parts.append(str(part.get("text", "")))
        name = message.get("name") if role == "tool" else None
        out.append(TraceMessage(role, tuple(parts), name=None if name is None else str(name)))
    system = "".join(p.get("text", "") for p in messages[0]["content"] if p.get("type") == "text")
    return Trace(system, list(tools), structure_turns(out), tuple(images), trace_meta(meta))


def structure_turns(messages: Sequence[TraceMessage]) -> tuple[TraceMessage, ...]:
    """Each structured assistant turn (module docstring) split into its text before the calls and the calls."""
    out = list(messages)
    for i, message in enumerate(out):
        if message.role != "assistant" or message.images:
            continue
        following = 0
        while i + 1 + following < len(out) and out[i + 1 + following].role == "tool":
            following += 1
        parsed = parse_action(message.text)
        if parsed.answer is None and not parsed.errors and parsed.calls and len(parsed.calls) == following:
            before = _drop_newline(message.text[: message.text.find("<tool_call>")])
            out[i] = TraceMessage("assistant", (before,) if before else (), calls=parsed.calls)
    return tuple(out)


def _drop_newline(text: str) -> str:
    """``text`` without the one newline the template prints before each ``<tool_call>`` (others are the model's)."""
    return text[:-1] if text.endswith("\n") else text


def call_json(call: ToolCallRequest) -> str:
    """A call as the Qwen2.5 template prints it inside ``<tool_call>`` (dotted name, arguments as written)."""
    return json.dumps({"name": call.name, "arguments": call.arguments}, ensure_ascii=False)


def assistant_text(message: TraceMessage) -> str:
    """The text of an assistant turn as the chat template renders it (calls put back after the text)."""
    blocks = "".join(f"\n<tool_call>\n{call_json(call)}\n</tool_call>" for call in message.calls)
    return (message.text + blocks) if message.text else blocks.removeprefix("\n")
