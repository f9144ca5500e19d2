"""What the model wrote, made safe to hold: one JSON decoder and one value check for every action.

Every tool call reaches the tools through here, whether the model wrote text (the body of a
``<tool_call>`` and the string form of ``"arguments"``) or a program handed over a dict. Nothing
here raises on the model's input; a problem comes back as a message that names the cap and the
fix, which the parser turns into an ``Error: ...`` tool response. The rules, and why:

- Lone surrogates (``"mug\\ud800"``, pure ASCII as JSON) become U+FFFD in every string, keys
  included, and in the raw text, so no tool text, ``info`` entry or eval record can hold a
  character UTF-8 cannot encode.
- Integer literals have at most :data:`MAX_INTEGER_DIGITS` digits: Python refuses to convert
  more than 4,300 (``ValueError``) and converting a long one costs quadratic time; no tool
  argument needs more than a handful.
- Values nest at most :data:`MAX_NESTING` levels (the deepest real argument, a list of points,
  has 2); deeper input is refused here instead of as a ``RecursionError`` further down.
- Dict actions hold JSON values only (str, int, float, bool, None, lists, tuples, str-keyed
  dicts; NumPy scalars become Python scalars) and count against the same size cap as text.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import numpy as np

MAX_INTEGER_DIGITS = 100
"""Digits an integer in a tool call may have."""
MAX_NESTING = 32
"""Levels of lists and objects a tool call's JSON may nest."""

REPLACEMENT = "\ufffd"
_SURROGATE = re.compile("[\ud800-\udfff]")
_INT_LIMIT = 10**MAX_INTEGER_DIGITS


class ModelValueError(ValueError):
    """A value the model wrote breaks one of the caps above; the message says which and the fix.

    Attributes:
        reason: What is wrong and the fix.
        where: The location inside the value (``.arguments.points[3]``), empty at the top.
    """

    def __init__(self, reason: str, where: str = "") -> None:
        shown = where.lstrip(".")
        shown = shown if len(shown) <= 80 else shown[:77] + "..."
        super().__init__(f"at {shown}: {reason}" if shown else reason)
        self.reason, self.where = reason, where


def clean_text(text: str) -> str:
    """``text`` with every lone surrogate replaced by U+FFFD (the same object when it has none)."""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATE.sub(REPLACEMENT, text)
    return text


def _bounded_int(literal: str) -> int:
    digits = len(literal) - literal.startswith("-")
    if digits > MAX_INTEGER_DIGITS:
        raise ModelValueError(_too_many_digits(digits))
    return int(literal)


def _too_many_digits(digits: int) -> str:
    return (
        f"an integer of {digits:,} digits is over the cap of {MAX_INTEGER_DIGITS} digits per number; "
        "write numbers with fewer digits"
    )


_DECODER = json.JSONDecoder(parse_int=_bounded_int)


def decode_json(text: str) -> tuple[Any, str | None]:
    """Decode model-written JSON; never raises.

    Returns:
        ``(value, None)`` with the value checked by :func:`clean_value`, or ``(None, reason)``.
    """
    try:
        value = _DECODER.decode(text)
    except json.JSONDecodeError as exc:
        return None, exc.msg
    except ModelValueError as exc:
        return None, str(exc)
    except RecursionError:
        return None, _too_deep()
    except ValueError as exc:  # a number the decoder itself cannot convert
        return None, str(exc)[:200]
    try:
        return clean_value(value), None
    except ModelValueError as exc:
        return None, str(exc)


def clean_value(value: Any, budget: int | None = None) -> Any:
    """Check a decoded or program-built value against the caps and clean its strings.

    Args:
        value: JSON-like data.
        budget: Size cap: characters of strings (keys included) plus one per value; None: no cap.
            The count is a lower bound of the value's length as JSON text, so a dict action and
            its text form meet the same cap, and the walk stops as soon as the cap is passed.

    Returns:
        ``value`` itself when nothing needed cleaning, else a cleaned copy (dicts become ``dict``,
        lists and tuples keep their type).

    Raises:
        ModelValueError: naming the cap broken and where (``arguments.points[3]``).
    """
    return _Walker(budget).walk(value, 0, "")


class _Walker:
    """One walk over a value. The location of a problem (``arguments.points[3]``) is added as the
    error travels up, so the common case (nothing wrong) builds no path strings."""

    def __init__(self, budget: int | None) -> None:
        self.left = budget
        self.budget = budget

    def _spend(self, amount: int) -> None:
        if self.left is None:
            return
        self.left -= amount
        if self.left < 0:
            raise ModelValueError(f"it holds more than {self.budget:,} characters")

    def walk(self, value: Any, depth: int, path: str) -> Any:
        self._spend(1)
        try:
            return self._walk(value, depth)
        except ModelValueError as exc:
            raise _located(exc, path) from None

    def _walk(self, value: Any, depth: int) -> Any:
        if _plain(value):
            return value
        if isinstance(value, str):
            self._spend(len(value))
            return clean_text(value)
        if isinstance(value, int | float) and not isinstance(value, bool):  # subclasses (IntEnum, np.float64)
            if isinstance(value, float):
                return value
            if -_INT_LIMIT < value < _INT_LIMIT:
                return int(value)
            raise ModelValueError(_too_many_digits(_digits(value)))
        if isinstance(value, np.bool_ | np.integer | np.floating):
            return self._walk(value.item(), depth)
        if depth >= MAX_NESTING:
            raise ModelValueError(_too_deep())
        if isinstance(value, list | tuple):
            return self._walk_sequence(value, depth)
        if isinstance(value, Mapping):
            return self._walk_mapping(value, depth)
        raise ModelValueError(
            f"a {type(value).__name__} is not a JSON value; tool calls hold strings, numbers, "
            'booleans, null, lists and objects (pass stored arrays by name, e.g. "$depth_map")'
        )

    def _walk_sequence(self, value: list[Any] | tuple[Any, ...], depth: int) -> Any:
        self._spend(len(value))  # one per item (a separator at least), before looking at any
        items = None
        for i, item in enumerate(value):
            if _plain(item):
                continue
            try:
                new = self._walk(item, depth + 1)
            except ModelValueError as exc:
                raise _located(exc, f"[{i}]") from None
            if new is not item:
                items = list(value) if items is None else items
                items[i] = new
        if items is None:
            return value
        return items if isinstance(value, list) else tuple(items)

    def _walk_mapping(self, value: Mapping[Any, Any], depth: int) -> Any:
        self._spend(len(value))
        cleaned: dict[str, Any] = {}
        changed = not isinstance(value, dict)
        for key, item in value.items():
            if not isinstance(key, str):
                raise ModelValueError(f"object keys must be strings, got {_short(key)} ({type(key).__name__})")
            self._spend(len(key))
            clean_key = clean_text(key)
            try:
                new = item if _plain(item) else self._walk(item, depth + 1)
            except ModelValueError as exc:
                raise _located(exc, f".{clean_key[:40]}") from None
            cleaned[clean_key] = new
            changed = changed or clean_key is not key or new is not item
        return cleaned if changed else value


def _plain(value: Any) -> bool:
    """A value that needs no check: None, a bool, a float or an int within the digit cap."""
    kind = type(value)
    return kind is float or kind is bool or value is None or (kind is int and -_INT_LIMIT < value < _INT_LIMIT)


def _located(exc: ModelValueError, segment: str) -> ModelValueError:
    """``exc`` with ``segment`` prepended to its location (``at arguments.points[3]: ...``)."""
    if exc.reason.startswith("it holds more than"):  # the size cap is about the whole action
        return exc
    return ModelValueError(exc.reason, segment + exc.where)


def _digits(value: int) -> int:
    """Decimal digits of ``value`` (over the cap), without ``str()``: that raises past 4,300 digits."""
    estimate = int(abs(value).bit_length() * 0.30102999566398)  # digits - 1, or one fewer
    if estimate < 20_000:  # exact while powers of ten stay cheap; then it is off by at most one
        estimate += abs(value) >= 10**estimate
    return max(estimate, MAX_INTEGER_DIGITS + 1)


def _too_deep() -> str:
    return f"values nest more than {MAX_NESTING} levels deep (lists and objects); flatten them"


def _short(value: Any) -> str:
    if isinstance(value, int) and abs(value) >= _INT_LIMIT:
        return "a huge integer"
    text = repr(value) if isinstance(value, int | float | bool) or value is None else f"a {type(value).__name__}"
    return text[:40]


__all__ = ["MAX_INTEGER_DIGITS", "MAX_NESTING", "ModelValueError", "clean_text", "clean_value", "decode_json"]
