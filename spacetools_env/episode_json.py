"""An episode as plain JSON: the one conversion the eval runner's records and the recording wrapper share.

Images in messages become references (``{"type": "image", "ref": "question:0", "index": 0,
"shape": [480, 640, 3]}``; ``index`` is the env's image index, the one tools take as
``image_index``). Tool ``data`` keeps small structured values (points, corners, numbers) as
lists and replaces arrays larger than :data:`MAX_INLINE` elements by a shape/dtype stub.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from spacetools_env.rollout import Trajectory

MAX_INLINE = 64
"""Arrays up to this many elements are kept as lists (8 corners x 2, a point); larger ones are stubbed."""
RECORD_SCHEMA = 3
"""Version of an episode record (a ``results.jsonl`` line, a :class:`RecordTrajectory` line).

History: 1, the first; 2, ``unparsable`` added (what the official evaluation drops); 3, each tool
call carries ``fault`` (False or a kind of :data:`tool_backends.result.FAULT_KINDS`). Records of
schema 2 differ only by that key, so readers take a call without it as unflagged
(:func:`call_fault`) and a run folder of schema 2 records still resumes.
"""
READABLE_SCHEMAS = (2, 3)
"""Record schemas that today's readers (aggregation, resume, leaderboard validation) accept."""
TASK_KEYS = ("family", "version", "env_id", "item_id", "split", "index")
"""``info["task"]`` keys that records hold as fields of their own; the rest of the task goes to ``meta``."""


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types: numpy scalars unwrapped, small arrays listed, large ones stubbed.

    Non-finite floats become None (JSON has no NaN); unknown objects become a short ``repr``.

    >>> jsonable({"p": np.array([0.5, 0.25]), "n": np.int64(3), "bad": float("nan")})
    {'p': [0.5, 0.25], 'n': 3, 'bad': None}
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value + 0.0 if math.isfinite(value) else None  # + 0.0: -0.0 -> 0.0
    if isinstance(value, np.generic):
        return jsonable(value.item())
    if isinstance(value, np.ndarray):
        if value.size <= MAX_INLINE and value.dtype.kind in "biuf":
            return jsonable(value.tolist())
        return {"type": "array", "shape": list(value.shape), "dtype": str(value.dtype)}
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, functools.partial):
        return {"partial": jsonable(value.func), "args": jsonable(value.args), "kwargs": jsonable(value.keywords)}
    if isinstance(value, type) or callable(value):
        return f"{getattr(value, '__module__', '?')}:{getattr(value, '__qualname__', type(value).__name__)}"
    return repr(value)[:200]


def messages_json(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The conversation with every image part replaced by a reference (question images, then tool images)."""
    out, index, tool_images = [], 0, 0
    for message in messages:
        parts = []
        for part in message["content"]:
            if part.get("type") != "image":
                parts.append({k: jsonable(v) for k, v in part.items()})
                continue
            if message["role"] == "tool":
                ref, tool_images = f"tool:{tool_images}", tool_images + 1
            else:
                ref = f"{message['role'] if message['role'] != 'user' else 'question'}:{index}"
            parts.append({"type": "image", "ref": ref, "index": index, "shape": list(np.shape(part["image"]))})
            index += 1
        converted = {k: jsonable(v) for k, v in message.items() if k != "content"}
        converted["content"] = parts
        out.append(converted)
    return out


def tool_calls_json(turn_results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One turn's call records as JSON: name, arguments, ok, the text the model read, data and ``fault``."""
    return [
        {
            "name": r["name"],
            "arguments": jsonable(r["arguments"]),
            "ok": bool(r["ok"]),
            "text": r["text"],
            "data": jsonable(r.get("data")),
            "fault": call_fault(r),
        }
        for r in turn_results
    ]


def call_fault(call: Mapping[str, Any]) -> str | bool:
    """A call record's ``fault``: its kind, or False (also for a schema-2 record, which has no such key).

    A record is data from elsewhere (a resumed file, a submission), so anything but a non-empty
    string counts as False rather than raising.
    """
    fault = call.get("fault", False)
    return fault if isinstance(fault, str) and fault else False


def reward_json(traj: Trajectory) -> dict[str, Any]:
    """Per-step components and totals of ``traj``'s rewards."""
    names = sorted({name for step in traj.reward_components for name in step})
    return {
        "steps": [
            {**jsonable(c), "total": jsonable(r)} for c, r in zip(traj.reward_components, traj.rewards, strict=True)
        ],
        "components": {n: jsonable(sum(c.get(n, 0.0) for c in traj.reward_components)) for n in names},
        "total": jsonable(traj.total_reward),
    }


def episode_fields(traj: Trajectory, *, unparsable: bool) -> dict[str, Any]:
    """The fields of an episode record that the episode alone determines (the runner adds its own).

    ``unparsable``: the official evaluation cannot parse the answer and drops the sample
    (:meth:`~spacetools_env.task.TaskFamily.is_unparsable`); ``score`` is 0 all the same.
    """
    info, task = traj.info, traj.info.get("task", {})
    return {
        "family": task.get("family"),
        "family_version": task.get("version"),
        "item_id": task.get("item_id"),
        "meta": jsonable({k: v for k, v in task.items() if k not in TASK_KEYS}),
        "answer": info.get("answer"),
        "score": jsonable(traj.score),
        "unparsable": bool(unparsable),
        "reward": reward_json(traj),
        "tools": jsonable(info.get("tool_stats", {})),
        "invalid_actions": int(info.get("invalid_actions", 0)),
        "turns": traj.turns,
        "terminated": bool(traj.terminated),
        "truncated": bool(traj.truncated),
        "trajectory": trajectory_json(traj),
    }


def trajectory_json(traj: Trajectory) -> dict[str, Any]:
    """The conversation (images as references), the raw actions and each turn's tool calls."""
    return {
        "messages": messages_json(traj.messages),
        "actions": jsonable(traj.actions),
        "tool_calls": [tool_calls_json(turn) for turn in traj.tool_results],
    }
