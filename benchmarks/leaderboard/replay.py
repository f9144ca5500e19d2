"""An accepted episode played again from its recorded actions, to show what the model saw.

Records keep no pixels (see :mod:`benchmarks.eval.records`), so the viewer rebuilds them: the env is
made as the manifest says, reset with the episode's seed and item, and stepped with the recorded
actions. Envs are deterministic (same seed, same episode), so the replay yields the images, masks
and tool texts of the original run; every tool text, ``ok`` flag and (schema 3) ``fault`` flag is
compared with the record.
The site viewer reports a difference on the page instead of hiding it; ``leaderboard validate
--replay`` replays every episode this way and rejects one that differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from spacetools_env import unwrap
from spacetools_env.episode_json import jsonable


@dataclass
class ToolCall:
    """One tool message of the replay: the call, what it printed, its data, and images it returned."""

    name: str
    arguments: Any
    ok: bool
    text: str
    data: Mapping[str, Any] | None
    images: list[int] = field(default_factory=list)
    """Indices (in :attr:`Replay.images`) of the images this call returned."""
    fault: str | bool = False
    """The call's fault kind, or False (compared with the record's where it has one: schema 3)."""


@dataclass
class ReplayTurn:
    action: str
    calls: list[ToolCall]
    errors: list[str]
    """``Error:`` observations for a malformed action (the model saw them as tool messages)."""


@dataclass
class Replay:
    """A whole replayed episode."""

    question: str
    images: list[np.ndarray]
    """Every image of the conversation by its env index (question images first, then tool images)."""
    question_images: int
    """How many of :attr:`images` belong to the question (the first ones)."""
    turns: list[ReplayTurn]
    answer: str | None
    score: float | None
    reference: str
    """The family's oracle answer for the item (the reference the scorer compares with)."""
    eval_key: str | None
    differences: list[str]
    """Where the replay's tool texts or score differ from the record (empty: identical)."""


def action_text(action: Any) -> str:
    """An action as the model wrote it: text as is, a structured call as JSON."""
    if isinstance(action, str):
        return action
    import json

    return json.dumps(jsonable(action), indent=1)


def replay(env: gym.Env, record: Mapping[str, Any]) -> Replay:
    """Play ``record``'s actions again in ``env`` (made for the record's env id)."""
    key = record["key"]
    _, info = env.reset(seed=int(record["seed"]), options={"index": int(key["index"]), "split": key["split"]})
    raw = unwrap(env)
    item, family = raw.item, raw.family
    if item is None:  # reset always sets it
        raise RuntimeError(f"{key['env_id']}: reset left no item to replay")
    turns: list[ReplayTurn] = []
    differences: list[str] = []
    recorded = record["trajectory"].get("tool_calls") or []
    for t, action in enumerate(record["trajectory"]["actions"]):
        before = len(raw.images)
        observation, _, terminated, truncated, info = env.step(action)
        results = info["tool_results"]
        calls: list[ToolCall] = []
        errors: list[str] = []
        produced = before
        tool_messages = [m for m in observation if m["role"] == "tool"]
        # The env writes a turn's error messages first, then one message per call: split by count,
        # not by name (a model may call a tool named "invalid_action").
        n_errors = len(tool_messages) - len(results)
        for position, message in enumerate(tool_messages):
            text = "".join(p["text"] for p in message["content"] if p.get("type") == "text")
            n_images = sum(1 for p in message["content"] if p.get("type") == "image")
            if position < n_errors:
                errors.append(text)
                continue
            result = results[len(calls)]
            calls.append(
                ToolCall(result["name"], result["arguments"], bool(result["ok"]), result["text"], result.get("data"),
                         list(range(produced, produced + n_images)), result.get("fault", False))
            )
            produced += n_images
        differences += _compare(t, calls, recorded[t] if t < len(recorded) else [])
        turns.append(ReplayTurn(action_text(action), calls, errors))
        if terminated or truncated:
            break
    if not _same(info["score"], record.get("score")):
        differences.append(f"replayed score {info['score']!r} differs from the re-scored {record.get('score')!r}")
    return Replay(
        question=item.question,
        images=list(raw.images),
        question_images=len(item.images),
        turns=turns,
        answer=info["answer"],
        score=info["score"],
        reference=family.oracle(item),
        eval_key=family.eval_key,
        differences=differences,
    )


def _compare(turn: int, calls: list[ToolCall], recorded: list[Mapping[str, Any]]) -> list[str]:
    if len(calls) != len(recorded):
        return [f"turn {turn + 1}: {len(calls)} tool calls replayed, {len(recorded)} recorded"]
    out = []
    for i, (call, rec) in enumerate(zip(calls, recorded, strict=True)):
        where = f"turn {turn + 1}, call {i + 1} ({call.name})"
        rec = rec if isinstance(rec, Mapping) else {}
        if call.text != rec.get("text"):
            out.append(f"{where}: the tool printed different text than recorded")
        elif call.ok != rec.get("ok"):
            outcome = "succeeded" if call.ok else "failed"
            out.append(f"{where}: the call {outcome}, the record says ok={rec.get('ok')!r}")
        elif "fault" in rec and call.fault != rec["fault"]:  # the recovery figure rests on these flags
            out.append(f"{where}: the replayed call's fault is {call.fault!r}, the record says {rec['fault']!r}")
    return out


def _same(a: Any, b: Any) -> bool:
    a, b = jsonable(a), jsonable(b)  # NaN (a skipped item) -> None, as the record stores it
    if a is None or b is None:
        return a is None and b is None
    return abs(float(a) - float(b)) <= 1e-9
