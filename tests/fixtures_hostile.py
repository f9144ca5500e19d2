"""Hostile ``results.jsonl`` records, each as large as a normal one it is timed against.

A generator takes a real record (as ``spacetools eval`` wrote it) and a size in bytes and returns
the JSON line (no newline) of a record of about that size that pushes one dimension as far as
the size allows. :func:`normal`
is the benign record of the same size: the agent thought longer (padded ``<think>`` text in
every action and in its assistant message, each action within the env's 64 KiB cap). The test
suite (tests/test_leaderboard_hostile.py) and ``benchmarks/perf/validate_hostile.py`` time
``validate_submission`` on a submission whose every record is one generator's output against
the same submission made of :func:`normal` records.
"""

from __future__ import annotations

import copy
import functools
import json
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Record = dict[str, Any]
PAD = "the depth of A is read at its point and compared with B's; "
_CALL = ('<tool_call>{"name": "vision_ops.index_at", "arguments": {"data": "$depth_map", "u": 0.5, "v": 0.5}}'
         "</tool_call>")
_IMAGE = {"type": "image", "ref": "question:0", "index": 0, "shape": [480, 640, 3]}


def size_of(record: Record) -> int:
    return len(json.dumps(record)) + 1  # the line's newline


def normal(record: Record, size: int) -> str:
    """The record with longer reasoning: ``<think>`` text added to every action and its message."""
    out = copy.deepcopy(record)
    traj = out["trajectory"]
    assistant = [m for m in traj["messages"] if m["role"] == "assistant"]
    missing = max(0, size - size_of(out))
    per_action = missing // (2 * len(traj["actions"]))  # the action and its assistant message both grow
    for number, action in enumerate(traj["actions"]):
        think = "<think>" + (PAD * (per_action // len(PAD) + 1))[: max(0, per_action - 15)] + "</think>"
        traj["actions"][number] = think + action
        if number < len(assistant) and assistant[number]["content"][0].get("text") == action:
            assistant[number]["content"][0]["text"] = think + action
    return json.dumps(out)


def longest_string(record: Record, size: int) -> str:
    """One string as long as the record allows, made of what costs a reader most: escapes and pairs."""
    out = copy.deepcopy(record)
    unit = '"\\\u00e9\U0001f600<tool_call>{"$x'  # written as JSON escapes and a surrogate pair, tag fragments
    room = max(0, size - size_of(out))
    text = unit * (room // (len(json.dumps(unit)) - 2))
    first = next((calls[0] for calls in out["trajectory"]["tool_calls"] if calls), None)
    if first is not None:
        first["text"] = text  # tool texts are recorded as the env printed them; nothing parses them
    else:
        out["answer"] = text
    return json.dumps(out)


def deepest_nesting(record: Record, size: int, count: int | None = None) -> str:
    """A tool result's data nested as deep as the record's bytes allow (written as text: too deep for json.dumps)."""
    out = copy.deepcopy(record)
    first = next((calls[0] for calls in out["trajectory"]["tool_calls"] if calls), None)
    if first is not None:
        first["data"] = {"points": "@nested@"}
    else:
        out["meta"] = {"x": "@nested@"}
    depth = max(1, (size - size_of(out)) // 2) if count is None else count
    return json.dumps(out).replace('"@nested@"', "[" * depth + "]" * depth, 1)


def _spread(out: Record, size: int, unit: str, count: int | None) -> None:
    """Add ``unit`` to every action and its assistant message, ``count`` times (None: until ``size`` bytes)."""
    traj = out["trajectory"]
    if count is None:
        count = max(1, (size - size_of(out)) // (2 * len(json.dumps(unit)) * len(traj["actions"])))
    assistant = [m for m in traj["messages"] if m["role"] == "assistant"]
    for number, action in enumerate(traj["actions"]):
        grown = unit * count + action
        traj["actions"][number] = grown
        if number < len(assistant) and assistant[number]["content"][0].get("text") == action:
            assistant[number]["content"][0]["text"] = grown


def most_calls(record: Record, size: int, count: int | None = None) -> str:
    """``<tool_call>`` blocks in every action, as many as fit."""
    out = copy.deepcopy(record)
    _spread(out, size, _CALL + "\n", count)
    return json.dumps(out)


def most_references(record: Record, size: int, count: int | None = None) -> str:
    """``$name`` references in one string argument per action, as many as fit (the 28 s paste of issue 7)."""
    out = copy.deepcopy(record)
    _spread(out, size, '<tool_call>{"name": "vision_ops.index_at", "arguments": {"data": "' + "$depth_map " * 64
            + '", "u": 0.5, "v": 0.5}}</tool_call>\n', count)
    return json.dumps(out)


def most_turns(record: Record, size: int, count: int | None = None) -> str:
    """As many one-call turns as fit (actions, assistant messages and tool calls alike)."""
    out = copy.deepcopy(record)
    traj = out["trajectory"]
    turn = {"action": _CALL, "call": {"name": "vision_ops.index_at", "arguments": {}, "ok": False, "text": "x",
                                      "data": {}}}
    unit = size_of({"a": turn["action"], "m": {"role": "assistant", "content": [{"type": "text", "text": _CALL}]},
                    "c": [turn["call"]]})
    if count is None:
        count = max(1, (size - size_of(out)) // unit)
    last = traj["actions"][-1]
    traj["actions"] = [_CALL] * count + [last]
    traj["messages"] += [{"role": "assistant", "content": [{"type": "text", "text": _CALL}]}] * count
    traj["tool_calls"] = [[dict(turn["call"])] for _ in range(count)] + [[]]
    out["turns"] = len(traj["actions"])
    return json.dumps(out)


def most_images(record: Record, size: int, count: int | None = None) -> str:
    """Image parts in the question message, as many as fit."""
    out = copy.deepcopy(record)
    if count is None:
        count = max(1, (size - size_of(out)) // (len(json.dumps(_IMAGE)) + 2))
    user = next(m for m in out["trajectory"]["messages"] if m["role"] == "user")
    user["content"] = [dict(_IMAGE) for _ in range(count)] + user["content"]
    return json.dumps(out)


GENERATORS: dict[str, Callable[[Record, int], str]] = {
    "longest string": longest_string,
    "deepest nesting": deepest_nesting,
    "most calls": most_calls,
    "most turns": most_turns,
    "most images": most_images,
    "most $ references": most_references,
}
"""The named hostile generators: name -> ``generator(record, size) -> JSON line``."""

WITHIN_LIMITS: dict[str, Callable[[Record], str]] = {
    "longest string": functools.partial(longest_string, size=128 * 1024),
    "deepest nesting": functools.partial(deepest_nesting, size=0, count=24),  # 32 levels with the record's own
    "most calls": functools.partial(most_calls, size=0, count=60),  # <= 64 blocks per action
    "most turns": functools.partial(most_turns, size=0, count=63),  # 64 actions
    "most images": functools.partial(most_images, size=0, count=2063),  # 2,064 images
    "most $ references": functools.partial(most_references, size=0, count=21),  # 3 actions x 21 x 64 + the agent's
}
"""The same pushes stopped just inside the default :class:`~benchmarks.leaderboard.limits.Limits`: records the
validator reads to the end (and may reject later, e.g. for turns past the run's ``max_turns``)."""


def write(lines: list[str], path: Path) -> int:
    """Write the JSON ``lines`` as results.jsonl to ``path``; returns its size in bytes."""
    text = "".join(line + "\n" for line in lines)
    path.write_text(text, encoding="utf-8")
    return len(text.encode())


def timed_against_normal(
    submission: Path, lines: list[str], folder: Path, repeats: int = 2
) -> dict[str, tuple[list[float], Any]]:
    """Validation of ``submission`` with ``lines`` as its results (``"hostile"``) and with normal records of
    the same sizes (``"normal"``): for each, the seconds of ``repeats`` validations and the last report.

    Both copies live under ``folder``; each is validated in this process (``workers=1``, the
    answer-key cache as the caller left it: warm it first).
    """
    from benchmarks.leaderboard import validate_submission

    records = [json.loads(line) for line in (submission / "results.jsonl").read_text().splitlines()]
    sized = [normal(record, len(line) + 1) for record, line in zip(records, lines, strict=True)]
    out: dict[str, tuple[list[float], Any]] = {}
    for kind, results in (("hostile", lines), ("normal", sized)):
        path = Path(shutil.copytree(submission, folder / kind))
        write(results, path / "results.jsonl")
        times, report = [], None
        for _ in range(repeats):
            started = time.perf_counter()
            report = validate_submission(path, workers=1)
            times.append(time.perf_counter() - started)
        out[kind] = (times, report)
    return out
