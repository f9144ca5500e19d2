"""One played episode as one JSON record (a line of ``results.jsonl``): never raw arrays.

Images in messages become references (``{"type": "image", "ref": "question:0", "index": 0,
"shape": [480, 640, 3]}``; ``index`` is the env's image index, the one tools take as
``image_index``). Tool ``data`` keeps small structured values (points, corners, numbers) as
lists and replaces larger arrays by a shape/dtype stub (:mod:`spacetools_env.episode_json`, shared with
the recording wrapper).
:func:`record_line` turns a record into the UTF-8 bytes of its line, or names the field that
cannot be written (a lone surrogate the model's text smuggled in, a value JSON cannot hold).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from typing import Any

from benchmarks.eval.suites import EpisodeKey
from spacetools_env.episode_json import RECORD_SCHEMA, episode_fields
from spacetools_env.rollout import Trajectory
from tool_backends.faults import recovery

SCHEMA = RECORD_SCHEMA


def episode_record(
    key: EpisodeKey,
    traj: Trajectory,
    *,
    agent: str,
    seed: int,
    eval_key: str | None,
    synthetic: bool,
    timing: Mapping[str, float | int],
    unparsable: bool = False,
) -> dict[str, Any]:
    """The record of one episode; ``timing`` holds ``env_s``, ``tools_s``, ``agent_s`` and ``wall_s``.

    For an agent that reports usage (the ``openai`` agent) it also holds integer counts
    ``agent_requests``, ``agent_retries``, ``agent_prompt_tokens`` and ``agent_completion_tokens``.

    ``unparsable``: the official evaluation cannot parse the answer and drops the sample
    (:meth:`~spacetools_env.task.TaskFamily.is_unparsable`); ``score`` is 0 all the same.
    """
    return {
        "schema": SCHEMA,
        "key": {"env_id": key.env_id, "split": key.split, "index": key.index},
        "episode_id": key.id,
        "agent": agent,
        "seed": seed,
        "eval_key": eval_key,
        "source": "synthetic" if synthetic else "benchmark",
        "timing": {k: v if isinstance(v, int) and not isinstance(v, bool) else round(float(v), 6)
                   for k, v in timing.items()},
        **episode_fields(traj, unparsable=unparsable),
    }


def brief(record: dict[str, Any]) -> dict[str, Any]:
    """The record without its trajectory: all that aggregation reads.

    The trajectory's per-call faults are kept as the episode's ``recovery``
    (:func:`tool_backends.faults.recovery`), derived here rather than stored in the record, so a
    record cannot claim a recovery its calls do not show.
    """
    out = {k: v for k, v in record.items() if k != "trajectory"}
    out["recovery"] = recovery(record).to_dict()
    return out


class UnwritableRecordError(ValueError):
    """A record that cannot be one UTF-8 JSON line; the message names the field and why."""


_SURROGATE = re.compile("[\ud800-\udfff]")


def record_line(record: Mapping[str, Any]) -> bytes:
    """The record as the UTF-8 bytes of one ``results.jsonl`` line (no newline).

    Done where the episode was played, so a record that cannot be written fails that episode
    alone, with the reason, instead of the writer (and with it every later episode).

    Raises:
        UnwritableRecordError: naming the first bad field (``trajectory.tool_calls[0][0].text``),
            e.g. one holding a lone surrogate (not valid UTF-8), or the JSON error.
    """
    try:
        text = json.dumps(record, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (ValueError, TypeError, RecursionError) as exc:
        raise UnwritableRecordError(f"the record is not JSON: {safe_text(str(exc))}") from None
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        where, char = next(_surrogates(record), ("?", "?"))
        raise UnwritableRecordError(
            f"field {where} holds the lone surrogate U+{ord(char):04X}, which is not valid UTF-8, so the record "
            "cannot be written; the agent's or env's text must be valid UTF-8 (replace lone surrogates)"
        ) from None


def safe_text(text: str) -> str:
    """``text`` with lone surrogates as ``\\udxxx`` escapes, so it can be printed and written."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _surrogates(value: Any) -> Iterator[tuple[str, str]]:
    """(field path, character) of each string (or key) holding a lone surrogate, depth first, no recursion."""
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            found = _SURROGATE.search(item)
            if found:
                yield path or "(the record)", found.group()
        elif isinstance(item, Mapping):
            children = []
            for k, v in item.items():
                found = _SURROGATE.search(str(k))
                if found:
                    yield f"{path}.{safe_text(str(k))} (a key)".lstrip("."), found.group()
                children.append((f"{path}.{safe_text(str(k))}".lstrip("."), v))
            stack.extend(reversed(children))
        elif isinstance(item, list | tuple):
            stack.extend(reversed([(f"{path}[{i}]", v) for i, v in enumerate(item)]))
