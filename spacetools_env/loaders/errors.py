"""The errors every loader raises for data on disk that is not what its format promises.

One typed family, so a caller catches :class:`CorruptDataError` (a ``ValueError``) for any bad
benchmark file, whichever loader read it and whichever reader (JSON, parquet, image) found it:

- :class:`CorruptFileError`: a file cannot be read at all, lacks a column, or holds no items;
- :class:`CorruptRowError`: one row (record, image, instance) of a file is malformed.

Both name the file (and the row), what was expected, what was found and the fix. A reader that
does not know the file or the row raises :class:`RowError` (the field, what was expected, what
was found); the loader, which knows them, re-raises it as :class:`CorruptRowError`. Each error
is constructible from its message alone, as Gymnasium's async vector env re-raises worker errors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

_MAX_SHOWN = 60


def describe(value: Any) -> str:
    """A short description of a found value for error messages (type and a clipped repr)."""
    try:
        text = repr(value)
    except (RecursionError, ValueError):  # a deeply nested value, an int past the digit limit
        text = "<unprintable>"
    if len(text) > _MAX_SHOWN:
        text = text[: _MAX_SHOWN - 3] + "..."
    return f"{type(value).__name__} {text}"


class RowError(ValueError):
    """One field of a row is not what the format promises (the loader adds file and row)."""

    def __init__(self, column: str, expected: str, found: str) -> None:
        self.column, self.expected, self.found = column, expected, found
        super().__init__(f"column {column!r}: expected {expected}, got {found}")

    def __reduce__(self) -> tuple[type, tuple[str, str, str]]:
        return (type(self), (self.column, self.expected, self.found))


class CorruptDataError(ValueError):
    """A benchmark file on disk is not what its format promises (names the file and the fix).

    Attributes:
        path: The file (None when built from a message alone).
    """

    def __init__(self, message: object, *, path: Path | None = None) -> None:
        super().__init__(str(message))
        self.path = None if path is None else Path(path)


class CorruptFileError(CorruptDataError):
    """A benchmark file cannot be read at all, lacks a column, or holds no items."""


class CorruptRowError(CorruptDataError):
    """A row of a benchmark file is malformed (built by :meth:`for_field`).

    Attributes:
        path: The file.
        row: The row's index in the file (0-based).
        column: The column (``reward_model.ground_truth`` for a nested field).
    """

    def __init__(
        self, message: object, *, path: Path | None = None, row: int | None = None, column: str | None = None
    ) -> None:
        super().__init__(message, path=path)
        self.row, self.column = row, column

    @classmethod
    def for_field(cls, path: Path, row: int, column: str, expected: str, found: str, fix: str) -> CorruptRowError:
        message = f"{path}, row {row}, column {column!r}: expected {expected}, got {found}. Fix: {fix}"
        return cls(message, path=Path(path), row=row, column=column)
