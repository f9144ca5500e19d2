"""The random baseline: valid tool calls drawn from the tool schemas, then a random answer in the asked format.

It is the floor between "answers blind" (:mod:`agents.blind_guess`) and "uses the tools well": it
exercises every tool the env offers with well-formed calls, so its score says what tool use
without understanding buys, and its episodes are the cheapest end-to-end check of a tool backend.

Determinism: each decision draws from a generator seeded by ``(seed, episode_id, turn number)``,
so an episode plays the same whatever else runs in the same batch and in whatever order.
"""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from spacetools_env.messages import message_text
from spacetools_env.rollout import Turn

_VARIABLE = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*")
_WORD = re.compile(r"[a-z]{3,}")
_LETTER = re.compile(r"\(([A-H])\)")
_YES_NO = re.compile(r"\byes\b.{0,20}\bno\b|^\s*(is|are|can|could|does|do|will|would)\b", re.IGNORECASE | re.DOTALL)


class RandomAgent:
    """Calls random tools for ``tool_turns`` turns, then answers at random in the question's format.

    Args:
        seed: Base seed; with the episode id and turn it seeds every draw.
        tool_turns: Turns spent calling tools before answering (0 answers at once).
        max_calls_per_turn: Calls per tool turn are drawn from ``1..max_calls_per_turn``.
    """

    name = "random"

    def __init__(self, seed: int = 0, tool_turns: int = 1, max_calls_per_turn: int = 2) -> None:
        if tool_turns < 0 or max_calls_per_turn < 1:
            raise ValueError(
                f"tool_turns must be >= 0 and max_calls_per_turn >= 1, got {tool_turns} and {max_calls_per_turn}"
            )
        self.seed = int(seed)
        self.tool_turns = int(tool_turns)
        self.max_calls_per_turn = int(max_calls_per_turn)

    def act(self, turns: Sequence[Turn]) -> list[Any]:
        return [self._act_one(turn) for turn in turns]

    def end_episode(self, episode_id: str) -> None:
        """Stateless: every draw is derived from the turn itself."""

    def _act_one(self, turn: Turn) -> str:
        done = sum(1 for m in turn.messages if m["role"] == "assistant")
        rng = np.random.default_rng([self.seed, zlib.crc32(turn.episode_id.encode("utf-8")), done])
        question = _question(turn.messages)
        tools = [t["function"] for t in turn.info.get("tools", [])]
        if done >= self.tool_turns or not tools:
            return f"<answer>{random_answer(question, rng)}</answer>"
        context = _Context(question, _variables(turn.messages), _image_count(turn.messages))
        calls = []
        for _ in range(int(rng.integers(1, self.max_calls_per_turn + 1))):
            tool = tools[int(rng.integers(len(tools)))]
            arguments = {name: _draw(schema, name, context, rng) for name, schema in _params(tool).items()}
            calls.append("<tool_call>" + json.dumps({"name": tool["name"], "arguments": arguments}) + "</tool_call>")
        return "\n".join(calls)


def random_answer(question: str, rng: np.random.Generator) -> str:
    """A random answer in the format ``question`` asks for (the formats of :func:`agents.blind_guess.blind_guess`)."""
    if "Grasp center" in question:
        names = ("Grasp center", "Left finger base", "Right finger base", "Left finger tip", "Right finger tip")
        return ", ".join(f"{name}: [{_coord(rng)}, {_coord(rng)}]" for name in names)
    if "cuboid corners" in question or "eight normalized" in question:
        return _points(8, rng)
    letters = _LETTER.findall(question)
    if letters:
        return f"({letters[int(rng.integers(len(letters)))]})"
    if _YES_NO.search(question):
        return "Yes" if rng.random() < 0.5 else "No"
    return _points(1, rng)


class _Context:
    """What argument draws may read: words of the question, variables stored so far, images shown."""

    def __init__(self, question: str, variables: list[str], images: int) -> None:
        self.words = _WORD.findall(question.lower()) or ["object"]
        self.variables = variables
        self.images = max(images, 1)


def _params(tool: Mapping[str, Any]) -> dict[str, Any]:
    properties = tool.get("parameters", {}).get("properties", {})
    return dict(properties) if isinstance(properties, Mapping) else {}


def _draw(schema: Mapping[str, Any], name: str, context: _Context, rng: np.random.Generator) -> Any:
    kind = schema.get("type")
    if kind == "integer":
        return int(rng.integers(context.images)) if "index" in name else int(rng.integers(0, 10))
    if kind == "number":
        return round(float(rng.random()), 3)
    if kind == "boolean":
        return bool(rng.random() < 0.5)
    if kind == "array":
        low = int(schema.get("minItems", 1))
        high = max(low, min(int(schema.get("maxItems", 4)), 4))
        items = schema.get("items", {"type": "number"})
        return [_draw(items, name, context, rng) for _ in range(int(rng.integers(low, high + 1)))]
    if "$" in str(schema.get("description", "")):
        mentioned = _VARIABLE.findall(str(schema.get("description", "")))
        pool = [v for v in mentioned if v in context.variables] or context.variables or mentioned or ["$depth_map"]
        return pool[int(rng.integers(len(pool)))]
    return context.words[int(rng.integers(len(context.words)))]


def _question(messages: list[dict[str, Any]]) -> str:
    users = [m for m in messages if m["role"] == "user"]
    return message_text(users[0]) if users else ""


def _variables(messages: list[dict[str, Any]]) -> list[str]:
    """Variables the tool texts so far announced (``Use $depth_map ...``), in first-seen order."""
    seen: dict[str, None] = {}
    for m in messages:
        if m["role"] == "tool":
            seen.update(dict.fromkeys(_VARIABLE.findall(message_text(m))))
    return list(seen)


def _image_count(messages: list[dict[str, Any]]) -> int:
    parts = [part for m in messages if isinstance(m.get("content"), list) for part in m["content"]]
    return sum(1 for part in parts if part.get("type") == "image")


def _coord(rng: np.random.Generator) -> str:
    return f"{float(rng.random()):.3f}"


def _points(count: int, rng: np.random.Generator) -> str:
    return "[" + ", ".join(f"({_coord(rng)}, {_coord(rng)})" for _ in range(count)) + "]"
