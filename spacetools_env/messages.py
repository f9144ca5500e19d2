"""Chat messages with text and image parts, the env's observations.

A message is a plain dict so any VLM chat template can consume it::

    {"role": "user", "content": [{"type": "image", "image": <HxWx3 uint8>},
                                 {"type": "text", "text": "Is the mug left of the duck?"}]}

Roles are ``system``, ``user``, ``assistant`` and ``tool``; a tool message also carries the
tool's ``name``. Chat templates (Qwen2.5-VL's among them) wrap a tool message's text in
``<tool_response>`` tags; :func:`render_text` does the same for logs and text-only models.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

Message = dict[str, Any]

TRUNCATION_MARKER = "...(truncated)..."
ROLES = ("system", "user", "assistant", "tool")


def text_part(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def image_part(image: np.ndarray) -> dict[str, Any]:
    return {"type": "image", "image": image}


def system_message(text: str) -> Message:
    return {"role": "system", "content": [text_part(text)]}


def user_message(text: str, images: Sequence[np.ndarray] = ()) -> Message:
    return {"role": "user", "content": [*(image_part(im) for im in images), text_part(text)]}


def assistant_message(text: str) -> Message:
    return {"role": "assistant", "content": [text_part(text)]}


def tool_message(name: str, text: str, images: Sequence[np.ndarray] = ()) -> Message:
    return {"role": "tool", "name": name, "content": [text_part(text), *(image_part(im) for im in images)]}


def truncate_middle(text: str, limit: int) -> str:
    """Cap ``text`` at ``limit`` characters by cutting its middle, as the original agent loop does.

    >>> truncate_middle("abcdefghij" * 3, 20)
    'ab...(truncated)...j'
    """
    if len(text) <= limit:
        return text
    keep = max(limit - len(TRUNCATION_MARKER), 0)
    head = (keep + 1) // 2
    tail = keep - head
    return text[:head] + TRUNCATION_MARKER + (text[-tail:] if tail else "")


def message_text(message: Message) -> str:
    """Concatenated text parts of one message."""
    return "".join(p["text"] for p in message["content"] if p.get("type") == "text")


def message_images(message: Message) -> list[np.ndarray]:
    return [p["image"] for p in message["content"] if p.get("type") == "image"]


def conversation_images(messages: Iterable[Message]) -> list[np.ndarray]:
    """Every image of a conversation in order: position ``k`` is the image tools take as ``image_index`` k.

    Question images come first, then the images tools returned (``tool_images=True``), each after its
    tool message's text; a chat template must place image tokens in this order.
    """
    return [image for message in messages for image in message_images(message)]


def render_text(messages: Iterable[Message], image_token: str = "<image>") -> str:
    """Render messages as ChatML text, tool outputs wrapped in ``<tool_response>`` tags."""
    lines = []
    for m in messages:
        body = "".join(p["text"] if p.get("type") == "text" else image_token for p in m["content"])
        if m["role"] == "tool":
            lines.append(f"<|im_start|>user\n<tool_response>\n{body}\n</tool_response><|im_end|>")
        else:
            lines.append(f"<|im_start|>{m['role']}\n{body}<|im_end|>")
    return "\n".join(lines)
