"""Strict JSON as ``spacetools eval`` writes it: what validates is exactly what the site can read and write.

The runner writes UTF-8 JSON without a byte order mark, without ``NaN``/``Infinity`` and with
every string valid Unicode. :func:`json.loads` is laxer: it skips a BOM in bytes, decodes bytes
with ``surrogatepass`` (UTF-8-encoded surrogates) and turns the escape ``"\\ud800"`` into a lone
surrogate, which no UTF-8 file can hold, so the site build aborted writing its pages. Deep
nesting is bounded before parsing (the C parser would recurse, the checks after it too).

Every rejection is a :class:`JsonTextError` naming the line and the fix.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from benchmarks.leaderboard.limits import Limits

MAX_DEPTH = Limits.max_depth
_BOM = "\ufeff"
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F][0-9a-fA-F]{2}")
_RAW_SURROGATE = re.compile("[\ud800-\udfff]")
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_LONG_NUMBER = re.compile(r"\d{300}|\d[eE][+-]?\d{3}")
"""What a number must hold to overflow a float or pass Python's 4,300-digit int limit (cheap to look for)."""
MAX_DIGITS = 300
_OPEN, _CLOSE = np.frombuffer(b"[{", np.uint8), np.frombuffer(b"]}", np.uint8)


class JsonTextError(ValueError):
    """The text is not strict JSON; ``line`` is where (1-based; None when unknown)."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.line = line


def _reject_constant(name: str) -> None:
    raise JsonTextError(f"{name} is not valid JSON (use null)")


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    r"""Strict JSON: UTF-8 without BOM, no ``NaN``/``Infinity``, no lone surrogates, nesting <= ``max_depth``.

    >>> loads(rb'{"a": [1, "\ud83d\ude00"]}')
    {'a': [1, '😀']}
    >>> try:
    ...     loads(b'{"name": "mug\\ud800"}')
    ... except JsonTextError as exc:
    ...     print(exc.line, str(exc)[:37])
    1 the escape \ud800 is a lone surrogate

    Raises:
        JsonTextError: naming the line and what to change.
    """
    if isinstance(text, bytes | bytearray):
        text = _decode(bytes(text))
    elif text.startswith(_BOM):
        raise JsonTextError(_BOM_REASON, 1)
    elif (match := _RAW_SURROGATE.search(text)) is not None:
        raise JsonTextError("holds a lone surrogate character, which UTF-8 cannot encode", _line(text, match))
    _check_depth(text, max_depth)
    long_numbers = _LONG_NUMBER.search(text) is not None
    try:
        if long_numbers:
            value = json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float, parse_int=_bounded_int)
        else:
            value = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        raise JsonTextError(f"{exc.msg} at column {exc.colno}", exc.lineno) from None
    except RecursionError:  # unreachable below the depth check; kept so no raw RecursionError escapes
        raise JsonTextError(f"nests deeper than {max_depth} levels") from None
    except JsonTextError:
        raise
    except ValueError as exc:  # e.g. a number the hooks did not see; never a raw error out of the reader
        raise JsonTextError(str(exc)) from None
    if _SURROGATE_ESCAPE.search(text):  # only then can a string hold a lone surrogate
        _check_surrogates(text, value)
    return value


_BOM_REASON = "starts with a UTF-8 byte order mark (BOM); save the file as UTF-8 without a BOM"


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise JsonTextError(f"the number {literal[:40]} overflows a float (JSON has no Infinity)")
    return value


def _bounded_int(literal: str) -> int:
    if len(literal.lstrip("-")) > MAX_DIGITS:
        raise JsonTextError(f"an integer of {len(literal.lstrip('-'))} digits; at most {MAX_DIGITS} are accepted")
    return int(literal)


def _decode(data: bytes) -> str:
    if data.startswith(_BOM.encode()):
        raise JsonTextError(_BOM_REASON, 1)
    try:
        return data.decode("utf-8")  # strict: no invalid bytes, no UTF-8-encoded surrogates
    except UnicodeDecodeError as exc:
        bad = data[exc.start : exc.end]
        raise JsonTextError(
            f"holds bytes {bad!r} at byte {exc.start} that are not valid UTF-8 ({exc.reason}); "
            "write the file as UTF-8 (spacetools eval does)",
            data.count(b"\n", 0, exc.start) + 1,
        ) from None


def _check_depth(text: str, max_depth: int) -> None:
    """Reject nesting deeper than ``max_depth`` in one C-speed pass (strings removed, brackets counted)."""
    if text.count("[") + text.count("{") <= max_depth:
        return  # cannot nest deeper than it has brackets
    structure = _STRING.sub("", text).encode("latin-1", "replace")
    codes = np.frombuffer(structure, np.uint8)
    step = np.isin(codes, _OPEN).astype(np.int32) - np.isin(codes, _CLOSE)
    depth = np.cumsum(step)
    deepest = int(np.argmax(depth))
    if depth[deepest] > max_depth:
        line = structure.count(b"\n", 0, deepest) + 1  # a string holds no raw newline: lines agree
        raise JsonTextError(
            f"nests {int(depth[deepest])} levels deep; at most {max_depth} are accepted "
            "(a record as spacetools eval writes it nests about 8)",
            line,
        )


def _check_surrogates(text: str, value: Any) -> None:
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
        return
    except UnicodeEncodeError:
        pass
    position = _lone_surrogate_escape(text)
    escape = text[position : position + 6] if position is not None else "\\ud8xx"
    line = text.count("\n", 0, position) + 1 if position is not None else None
    raise JsonTextError(
        f"the escape {escape} is a lone surrogate (half of a UTF-16 pair), not a character; "
        "UTF-8 cannot encode it: write the text as UTF-8, or escape a whole pair",
        line,
    )


def _lone_surrogate_escape(text: str) -> int | None:
    """Where the first ``\\uXXXX`` escape that is half of no surrogate pair starts, or None."""
    paired_low = -1
    for match in _SURROGATE_ESCAPE.finditer(text):
        start = match.start()
        backslashes = 0
        while start - backslashes - 1 >= 0 and text[start - backslashes - 1] == "\\":
            backslashes += 1
        if backslashes % 2:  # "\\ud800": an escaped backslash, then plain text
            continue
        code = int(match.group()[2:], 16)
        if code >= 0xDC00:
            if start != paired_low:
                return start
            continue
        after = _SURROGATE_ESCAPE.match(text, match.end())
        if after is None or int(after.group()[2:], 16) < 0xDC00:
            return start
        paired_low = match.end()
    return None


def _line(text: str, match: re.Match[str]) -> int:
    return text.count("\n", 0, match.start()) + 1
