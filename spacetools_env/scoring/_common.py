"""Helpers shared by the scorers: option checks, guarded literal parsing, linear-time number regexes."""

from __future__ import annotations

import ast
import warnings
from collections.abc import Iterable
from typing import Any

#: Longest source handed to :func:`ast.literal_eval`. Official answers and ground truths are a few
#: hundred characters; a 20k-character literal takes ~10 ms, so a megabyte of model output cannot
#: stall a scorer. Longer sources are refused with :class:`ValueError`, which every caller treats
#: exactly like a literal that fails to parse.
LITERAL_EVAL_MAX_CHARS = 20_000

#: ``\d+\.?\d*`` (the number pattern of RoboSpatial-Eval, RoboRefer and RoboPoint) written with
#: possessive quantifiers. Every pattern built from it follows the number with a character that is
#: neither a digit nor ".", so the possessive form matches exactly the same strings, but it never
#: backtracks: the plain form is quadratic on a long run of digits, this one is linear.
UNSIGNED_NUMBER = r"\d++(?:\.\d*+)?+"


def check_option(name: str, value: object, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed``; otherwise raise a ValueError that lists them.

    Options are chosen by the programmer, not by the model, so a typo must fail loudly.

    >>> check_option("rule", "exact", ("prefix", "exact"))
    'exact'
    """
    allowed = tuple(allowed)
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(f"Unknown {name} {value!r}; allowed: {list(allowed)}. Pass one of these strings.")
    return str(value)


def guarded_literal_eval(source: str) -> Any:
    """``ast.literal_eval`` that refuses sources over :data:`LITERAL_EVAL_MAX_CHARS` characters.

    Raises:
        ValueError: the source is too long, or (as ``ast.literal_eval`` does) it is not a literal.
        SyntaxError: the source is not valid Python.
        Exception: anything else ``ast.literal_eval`` raises (``TypeError`` for an unhashable dict
            key, ``MemoryError``, ``RecursionError``); callers decide how to treat it.
    """
    if len(source) > LITERAL_EVAL_MAX_CHARS:
        raise ValueError(f"literal of {len(source)} characters exceeds {LITERAL_EVAL_MAX_CHARS}")
    with warnings.catch_warnings():
        # Invalid escape sequences inside a quoted string only warn; model output is not our code.
        warnings.simplefilter("ignore")
        return ast.literal_eval(source)


def clip01(value: float) -> float:
    """Clip to [0, 1]; NaN becomes 0.0."""
    if not value >= 0.0:  # also catches NaN
        return 0.0
    return 1.0 if value > 1.0 else float(value)
