"""``submission.json``: who made a submission and with what (model, agent, tools used, contact).

Example::

    {"model": "Qwen2.5-VL-7B + SpaceTools GRPO", "agent": "spacetools-grpo-v1",
     "tools": ["roborefer.detect_one", "depth_estimator.estimate_depth"],
     "contact": "someone@example.org", "url": "https://example.org/paper", "notes": "..."}

``model``, ``agent``, ``tools`` and ``contact`` are required; ``url``, ``notes``, ``date`` and
``files`` (relative paths of extra files shipped in the directory, e.g. a README) are optional.
Any other field is an error, so a typo does not pass silently.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import PurePosixPath
from typing import Any

FILENAME = "submission.json"
MAX_TEXT = 200
MAX_NOTES = 4000
MAX_LIST = 64
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_URL = re.compile(r"^https?://\S+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _text(limit: int) -> Callable[[Any], str | None]:
    def check(value: Any) -> str | None:
        if not isinstance(value, str) or not value.strip():
            return f"must be a non-empty string, got {_show(value)}"
        return f"must be at most {limit} characters, got {len(value)}" if len(value) > limit else None

    return check


def _names(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        return f'must be a list of tool names (strings), e.g. ["roborefer.detect_one"], got {_show(value)}'
    if len(value) > MAX_LIST:
        return f"must list at most {MAX_LIST} entries, got {len(value)}"
    return f"names a tool twice: {value}" if len(set(value)) != len(value) else None


def _contact(value: Any) -> str | None:
    problem = _text(MAX_TEXT)(value)
    if problem is None and not (_EMAIL.match(value) or _URL.match(value)):
        return f"must be an e-mail address or an http(s) URL, got {value!r}"
    return problem


def _url(value: Any) -> str | None:
    problem = _text(MAX_TEXT)(value)
    return f"must be an http(s) URL, got {value!r}" if problem is None and not _URL.match(value) else problem


def _date(value: Any) -> str | None:
    ok = isinstance(value, str) and _DATE.match(value)
    return None if ok else f"must be a date as YYYY-MM-DD, got {_show(value)}"


def _files(value: Any) -> str | None:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value) or len(value) > MAX_LIST:
        return f"must be a list of at most {MAX_LIST} relative paths (strings), got {_show(value)}"
    for name in value:
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts or "\\" in name:
            return f"{name!r} escapes the submission directory; give paths relative to it, without '..'"
    return None


REQUIRED: dict[str, Callable[[Any], str | None]] = {
    "model": _text(MAX_TEXT),
    "agent": _text(MAX_TEXT),
    "tools": _names,
    "contact": _contact,
}
OPTIONAL: dict[str, Callable[[Any], str | None]] = {
    "url": _url,
    "notes": _text(MAX_NOTES),
    "date": _date,
    "files": _files,
}


def check_metadata(data: Any) -> list[str]:
    """Every problem of a parsed ``submission.json``, each naming the field and the fix; [] when valid.

    >>> check_metadata({"model": "m", "agent": "a", "tools": [], "contact": "a@b.org"})
    []
    >>> check_metadata({"model": "m", "agent": "a", "tools": "x", "contact": "a@b.org"})[0][:28]
    "field 'tools' must be a list"
    """
    if not isinstance(data, dict):
        return [f"must hold a JSON object with fields {sorted(REQUIRED)}, got {type(data).__name__}"]
    problems = [f"missing required field {name!r} ({_HINTS[name]})" for name in REQUIRED if name not in data]
    unknown = sorted(set(data) - set(REQUIRED) - set(OPTIONAL))
    if unknown:
        problems.append(f"unknown fields {unknown}; allowed: {sorted(REQUIRED)} and optional {sorted(OPTIONAL)}")
    for name, check in {**REQUIRED, **OPTIONAL}.items():
        if name in data:
            problem = check(data[name])
            if problem:
                problems.append(f"field {name!r} {problem}")
    return problems


_HINTS = {
    "model": "the model's name, e.g. 'Qwen2.5-VL-7B + SpaceTools GRPO'",
    "agent": "the agent or harness that drove the episodes",
    "tools": "a list of the tool names the agent used",
    "contact": "an e-mail address or URL",
}


def _show(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"
