"""Reading one field of a trace-file row: the value, or a :class:`TraceError` naming file, row, field and fix."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from agents.traces.trace import TraceError, TraceImage
from spacetools_env.loaders.errors import describe


@dataclass(frozen=True)
class Where:
    """A row of a trace file (``file``, 1-based ``row``), for error messages."""

    file: str
    row: int

    def error(self, field: str, expected: str, found: Any, fix: str) -> TraceError:
        return TraceError(
            f"{self.file}: row {self.row}: field {field!r}: expected {expected}, got {describe(found)}; {fix}"
        )


ImageLoader = Callable[[str, Where, str], TraceImage]
"""``load(relative_path, where, field) -> TraceImage``; raises :class:`TraceError` for a missing or unreadable file."""


def need(value: Any, kind: type | tuple[type, ...], where: Where, field: str, expected: str, fix: str) -> Any:
    """``value`` if it is a ``kind`` (bool never counts as int), else the error naming ``field``."""
    if isinstance(value, kind) and not (isinstance(value, bool) and bool not in _kinds(kind)):
        return value
    raise where.error(field, expected, value, fix)


def _kinds(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def get(row: dict[str, Any], key: str, where: Where, field: str, fix: str) -> Any:
    """``row[key]``, or the error naming the missing field."""
    if not isinstance(row, dict):
        raise where.error(field.rsplit(".", 1)[0] or "(row)", "a JSON object", row, fix)
    if key not in row:
        raise TraceError(f"{where.file}: row {where.row}: field {field!r} is missing; {fix}")
    return row[key]


def meta_of(row: dict[str, Any], where: Where, fix: str, default: dict[str, Any] | None = None) -> dict[str, Any]:
    """A row's ``meta`` object (``default`` when absent), its ``score`` a number or null."""
    value = row.get("meta")
    meta = need(dict(default or {}) if value is None else value, dict, where, "meta", "an object", fix)
    score = meta.get("score")
    if score is not None and (isinstance(score, bool) or not isinstance(score, int | float)):
        raise where.error("meta.score", "a number or null", score, fix)
    return meta
