"""The one way loaders read JSON and JSON-lines files: every malformed file is a typed error.

``json.loads`` alone lets hostile bytes out as the wrong exception: a raw ``UnicodeDecodeError``
for invalid UTF-8, ``RecursionError`` for deeply nested arrays, a ``ValueError`` pointing at
``sys.set_int_max_str_digits`` for a 5000-digit number. Here each becomes a
:class:`~spacetools_env.loaders.errors.CorruptFileError` naming the file and the fix (a whole
file) or a :class:`~spacetools_env.loaders.errors.RowError` (one JSON-lines line, which the
loader names by file and row).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from spacetools_env.loaders.errors import CorruptFileError, RowError


class _JsonProblem(ValueError):
    """Why a text is not usable JSON (a short reason for the message)."""


def parse_json(text: str) -> Any:
    """``json.loads(text)``; raises ``ValueError`` with a short reason for any malformed text."""
    try:
        return json.loads(text)
    except RecursionError:
        raise _JsonProblem(f"nested deeper than {sys.getrecursionlimit()} levels") from None
    except json.JSONDecodeError as exc:
        raise _JsonProblem(f"invalid JSON ({exc})") from None
    except ValueError as exc:
        if "integer string conversion" in str(exc):  # Python's guard against quadratic int parsing
            raise _JsonProblem(f"a number of more than {sys.get_int_max_str_digits()} digits") from None
        raise _JsonProblem(f"invalid JSON ({exc})") from None


def read_text(path: Path, fix: str) -> str:
    """The file's text, decoded as UTF-8.

    Raises:
        CorruptFileError: unreadable, or not UTF-8 (names the byte offset).
    """
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptFileError(
            f"{path}: not UTF-8 text (byte {exc.start}: {exc.reason}). Fix: {fix}.", path=path
        ) from None
    except OSError as exc:
        raise CorruptFileError(f"{path}: not readable ({exc}). Fix: {fix}.", path=path) from None


def read_json(path: Path, fix: str) -> Any:
    """The JSON value of the file at ``path``.

    Raises:
        FileNotFoundError: there is no such file (the caller says what belongs there).
        CorruptFileError: unreadable, not UTF-8, not JSON, too deeply nested, or a number too long.
    """
    if not path.exists():
        raise FileNotFoundError(path)
    text = read_text(path, fix)
    try:
        return parse_json(text)
    except ValueError as exc:
        raise CorruptFileError(f"{path}: not readable JSON: {exc}. Fix: {fix}.", path=path) from None


def json_lines(path: Path, fix: str) -> list[str]:
    """The non-blank lines of a JSON-lines file (row ``i`` is the ``i``-th non-blank line).

    Raises:
        CorruptFileError: unreadable or not UTF-8.
    """
    return [line for line in read_text(path, fix).splitlines() if line.strip()]


def json_line(line: str) -> Any:
    """One JSON-lines line's value.

    Raises:
        RowError: the line is not one JSON value (column ``<line>``).
    """
    try:
        return parse_json(line)
    except ValueError as exc:
        raise RowError("<line>", "one JSON object per line", str(exc)) from None
