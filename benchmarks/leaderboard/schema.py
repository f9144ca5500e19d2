"""The shape of one ``results.jsonl`` record, as :func:`benchmarks.eval.records.episode_record` writes it.

Every field must be there with its type, and no other field: an unknown key is an error (it
would be silently ignored by the aggregation, or be an attempt to smuggle data in). Image parts
of messages are references only (``type``, ``ref``, ``index``, ``shape``); a part naming a file,
path or URL is rejected, so nothing in a record points outside the submission.
"""

from __future__ import annotations

import json
import re
from typing import Any

from benchmarks.leaderboard.limits import Limits
from spacetools_env.episode_json import READABLE_SCHEMAS
from tool_backends.result import FAULT_KINDS

_NUMBER = (int, float)
_OPT_STR = (str, type(None))
FIELDS: dict[str, tuple[type, ...]] = {
    "schema": (int,),
    "key": (dict,),
    "episode_id": (str,),
    "agent": (str,),
    "seed": (int,),
    "family": _OPT_STR,
    "family_version": (int, type(None)),
    "eval_key": _OPT_STR,
    "source": (str,),
    "item_id": _OPT_STR,
    "meta": (dict,),
    "answer": _OPT_STR,
    "score": (int, float, type(None)),
    "unparsable": (bool,),
    "reward": (dict,),
    "tools": (dict,),
    "invalid_actions": (int,),
    "turns": (int,),
    "terminated": (bool,),
    "truncated": (bool,),
    "timing": (dict,),
    "trajectory": (dict,),
}
KEY_FIELDS: dict[str, tuple[type, ...]] = {"env_id": (str,), "split": (str,), "index": (int,)}
TRAJECTORY_FIELDS: dict[str, tuple[type, ...]] = {"messages": (list,), "actions": (list,), "tool_calls": (list,)}
IMAGE_PART_KEYS = frozenset({"type", "ref", "index", "shape"})
SOURCES = ("synthetic", "benchmark")
_REFERENCE = re.compile(r"\$[A-Za-z_]")
"""A ``$name`` variable reference (whole argument or inside a longer string)."""


def record_problems(record: Any, limits: Limits | None = None) -> list[str]:
    """What is wrong with the shape of one parsed record; [] when it matches the schema.

    Its size and complexity are checked against ``limits`` (default :class:`Limits`) before
    anything walks it, so every later check costs at most what the limits allow.
    """
    if not isinstance(record, dict):
        return [f"a record must be a JSON object, got {type(record).__name__}"]
    if record.get("schema") not in READABLE_SCHEMAS:  # another schema has other fields: its version is the one problem
        shown = repr(record.get("schema"))[:40]
        return [f"schema is {shown}; this validator reads schemas {list(READABLE_SCHEMAS)} (re-run spacetools eval "
                "with this version)"]
    problems = _fields(record, FIELDS, "")
    if problems:
        return problems
    problems += _fields(record["key"], KEY_FIELDS, "key.")
    problems += _fields(record["trajectory"], TRAJECTORY_FIELDS, "trajectory.")
    if record["source"] not in SOURCES:
        problems.append(f"source is {record['source']!r}; expected one of {list(SOURCES)}")
    if not problems:
        problems += complexity_problems(record["trajectory"], limits or Limits())
    if not problems:
        problems += _trajectory_problems(record)
    return problems


def complexity_problems(trajectory: dict[str, Any], limits: Limits) -> list[str]:
    """Turns, action sizes, ``<tool_call>`` blocks, ``$`` references, tool calls and images against ``limits``.

    Counting only (``len``, ``str.count``, one regex): what replaying or parsing the record would
    cost is bounded before either starts. Each problem names the count, the limit and its field
    in :class:`~benchmarks.leaderboard.limits.Limits`.
    """
    actions, problems = trajectory["actions"], []
    if len(actions) > limits.max_turns:
        return [f"the trajectory has {len(actions)} actions; at most {limits.max_turns} turns are accepted (max_turns)"]
    references = 0
    for number, action in enumerate(actions):
        text = action if isinstance(action, str) else json.dumps(action)
        if len(text) > limits.max_action_chars:
            problems.append(f"action {number} is {len(text)} characters; at most {limits.max_action_chars} "
                            "are accepted (max_action_chars)")
            continue
        blocks = text.count("<tool_call>")
        if blocks > limits.max_call_blocks:
            problems.append(f"action {number} holds {blocks} <tool_call> blocks; at most {limits.max_call_blocks} "
                            "are accepted (max_call_blocks; the env runs at most max_calls_per_turn of them)")
        references += len(_REFERENCE.findall(text))
    if references > limits.max_references:
        problems.append(f"the actions hold {references} $variable references; at most {limits.max_references} "
                        "are accepted (max_references)")
    calls = trajectory["tool_calls"]
    count = sum(len(turn) for turn in calls if isinstance(turn, list))
    if count > limits.max_calls:
        problems.append(f"trajectory.tool_calls holds {count} calls; at most {limits.max_calls} are accepted "
                        "(max_calls)")
    images = sum(
        1
        for message in trajectory["messages"] if isinstance(message, dict) and isinstance(message.get("content"), list)
        for part in message["content"] if isinstance(part, dict) and part.get("type") == "image"
    )
    if images > limits.max_images:
        problems.append(f"trajectory.messages hold {images} images; at most {limits.max_images} are accepted "
                        "(max_images)")
    return problems


def _fields(obj: dict[str, Any], fields: dict[str, tuple[type, ...]], prefix: str) -> list[str]:
    problems = []
    missing = [f"{prefix}{name}" for name in fields if name not in obj]
    if missing:
        problems.append(f"missing fields {missing}")
    extra = sorted(f"{prefix}{name}" for name in set(obj) - set(fields))
    if extra:
        problems.append(f"unknown fields {extra}; a record has exactly {[prefix + n for n in fields]}")
    for name, types in fields.items():
        if name in obj and not _is(obj[name], types):
            allowed = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            problems.append(f"field {prefix}{name} must be {allowed}, got {type(obj[name]).__name__}")
    return problems


def _is(value: Any, types: tuple[type, ...]) -> bool:
    if isinstance(value, bool) and bool not in types:
        return False  # JSON true is not a number here
    return isinstance(value, types)


def _trajectory_problems(record: dict[str, Any]) -> list[str]:
    traj = record["trajectory"]
    problems = []
    for number, message in enumerate(traj["messages"]):
        if not isinstance(message, dict) or not isinstance(message.get("content"), list):
            problems.append(f"trajectory.messages[{number}] must be an object with a 'content' list")
            continue
        for part in message["content"]:
            if isinstance(part, dict) and part.get("type") == "image" and set(part) - IMAGE_PART_KEYS:
                problems.append(
                    f"trajectory.messages[{number}] has an image part with keys {sorted(set(part) - IMAGE_PART_KEYS)}; "
                    f"image parts are references with keys {sorted(IMAGE_PART_KEYS)} only (no files, paths or URLs)"
                )
    if not all(isinstance(turn, list) for turn in traj["tool_calls"]):
        problems.append("trajectory.tool_calls must be a list of lists (one per turn)")
    elif not all(isinstance(call, dict) for turn in traj["tool_calls"] for call in turn):
        problems.append("trajectory.tool_calls[turn] must hold one object per call ({name, arguments, ok, text, data})")
    else:
        bad = [call["fault"] for turn in traj["tool_calls"] for call in turn
               if "fault" in call and call["fault"] is not False and call["fault"] not in FAULT_KINDS]
        if bad:
            problems.append(f"a tool call's fault is {repr(bad[0])[:40]}; it is false or one of {list(FAULT_KINDS)}")
    by_tool = record["tools"].get("by_tool") if isinstance(record.get("tools"), dict) else None
    if by_tool is not None and not (
        isinstance(by_tool, dict)
        and all(
            isinstance(stats, dict) and all(_is(stats.get(k, 0), (int,)) for k in ("calls", "errors"))
            for stats in by_tool.values()
        )
    ):
        problems.append('tools.by_tool must map tool names to {"calls": int, "errors": int}')
    if record["turns"] != len(traj["actions"]):
        problems.append(f"turns is {record['turns']} but the trajectory has {len(traj['actions'])} actions")
    return problems
