"""Gymnasium spaces for chat observations and model actions.

Gymnasium's ``Text`` space is built for small alphabets; a VLM reads and writes arbitrary
Unicode and images, so these two spaces describe what actually flows. Both are "custom"
spaces for Gymnasium's vector utilities: ``SyncVectorEnv`` batches them as tuples, and
``AsyncVectorEnv`` gets a shared-memory buffer for chat observations from
:mod:`spacetools_env.vector_memory` (or pipes, with ``shared_memory=False``: :func:`spacetools_env.make_vec`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

from spacetools_env.messages import ROLES, Message

_PART_TYPES = ("text", "image")


class ChatMessages(spaces.Space[list]):
    """A list of chat messages whose content parts are text or HxWx3 uint8 images."""

    def __init__(self, seed: int | np.random.Generator | None = None) -> None:
        super().__init__(shape=None, dtype=None, seed=seed)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def contains(self, x: Any) -> bool:
        return isinstance(x, list) and all(_is_message(m) for m in x)

    def sample(self, mask: Any = None, probability: Any = None) -> list[Message]:
        """A random tool message (text only); used by generic RL tooling, not by the env."""
        length = int(self.np_random.integers(0, 40))
        text = "".join(chr(int(c)) for c in self.np_random.integers(32, 127, size=length))
        return [{"role": "tool", "name": "sample", "content": [{"type": "text", "text": text}]}]

    def __repr__(self) -> str:
        return "ChatMessages()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ChatMessages)

    def __hash__(self) -> int:
        return hash("ChatMessages")


def _is_message(m: Any) -> bool:
    if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), list):
        return False
    for part in m["content"]:
        if not isinstance(part, dict) or part.get("type") not in _PART_TYPES:
            return False
        if part["type"] == "text" and not isinstance(part.get("text"), str):
            return False
        if part["type"] == "image":
            image = part.get("image")
            if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 3):
                return False
    return True


class ModelAction(spaces.Space[Any]):
    """What a model may send: any text, or a structured tool call / answer dict.

    ``sample()`` draws a seeded mix of well-formed calls to the env's tools, answers and
    malformed text, so random agents and ``check_env`` exercise both the happy and error paths.
    """

    def __init__(self, tool_names: Sequence[str] = (), seed: int | np.random.Generator | None = None) -> None:
        super().__init__(shape=None, dtype=None, seed=seed)
        self.tool_names = tuple(tool_names)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def contains(self, x: Any) -> bool:
        return isinstance(x, str | dict)

    def sample(self, mask: Any = None, probability: Any = None) -> str:
        rng = self.np_random
        kind = int(rng.integers(0, 4))
        if kind == 0 or not self.tool_names:
            return f"<answer>{['Yes', 'No', 'A', 'B', '[(0.5, 0.5)]'][int(rng.integers(0, 5))]}</answer>"
        if kind == 3:
            return "".join(chr(int(c)) for c in rng.integers(0, 0x2FF, size=int(rng.integers(0, 64))))
        name = self.tool_names[int(rng.integers(0, len(self.tool_names)))]
        arguments = {
            "image_index": int(rng.integers(0, 2)),
            "obj_name": "object",
            "x": round(float(rng.random()), 3),
            "y": round(float(rng.random()), 3),
        }
        keep = rng.random(len(arguments)) < 0.7
        arguments = {k: v for (k, v), kept in zip(arguments.items(), keep, strict=True) if kept}
        return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"

    def __repr__(self) -> str:
        return f"ModelAction(tools={len(self.tool_names)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ModelAction) and other.tool_names == self.tool_names

    def __hash__(self) -> int:
        return hash(("ModelAction", self.tool_names))
