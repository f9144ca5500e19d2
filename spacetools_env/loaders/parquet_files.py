"""The one way loaders read parquet files: whatever pyarrow raises on a corrupt file is a typed error.

Flipped bytes in a parquet file surface from pyarrow as many exception types: ``ArrowInvalid``,
``OSError``, thrift errors, and a raw ``UnicodeDecodeError`` for a column name or string value
that is not UTF-8 (pyarrow decodes those only when Python asks). Every read here (opening,
a column, one row group, one cell) turns them into a
:class:`~spacetools_env.loaders.errors.CorruptFileError` naming the file and the fix, or, where
the row is known, a :class:`~spacetools_env.loaders.errors.CorruptRowError` /
:class:`~spacetools_env.loaders.errors.RowError`.

pyarrow is imported when a file is read, so importing this module is cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from spacetools_env.loaders.errors import CorruptFileError, CorruptRowError, RowError


def read_errors() -> tuple[type[BaseException], ...]:
    """The exceptions pyarrow raises on a corrupt file (``UnicodeDecodeError`` is a ``ValueError``)."""
    import pyarrow as pa

    return (pa.ArrowException, OSError, ValueError, EOFError, IndexError, KeyError, TypeError, OverflowError)


def _unreadable(path: Path, exc: BaseException, fix: str) -> CorruptFileError:
    return CorruptFileError(
        f"{path}: not a readable parquet file ({type(exc).__name__}: {exc}). Fix: {fix}.", path=path
    )


def _check_columns(path: Path, names: list[str], required: tuple[str, ...], fix: str, what: str) -> None:
    missing = [c for c in required if c not in names]
    if missing:
        raise CorruptFileError(
            f"{path}: missing column(s) {missing}; {what} has columns {list(required)}, "
            f"found {sorted(names)}. Fix: {fix}.",
            path=path,
        )


def open_parquet(path: Path, required: tuple[str, ...], fix: str, what: str) -> Any:
    """The ``pyarrow.parquet.ParquetFile`` at ``path`` (memory-mapped), checked for ``required`` columns.

    Args:
        path: The file.
        required: Columns the format has.
        fix: How to repair the file (ends the message).
        what: The format, for the missing-column message ("BLINK's per-subtask parquet").

    Raises:
        CorruptFileError: not a readable parquet file, or a required column is missing.
    """
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(path, memory_map=True)
        names = list(file.schema_arrow.names)
    except read_errors() as exc:
        raise _unreadable(path, exc, fix) from None
    _check_columns(path, names, required, fix, what)
    return file


def read_table(path: Path, required: tuple[str, ...], fix: str, what: str, columns: list[str] | None = None) -> Any:
    """The pyarrow table of ``path`` (memory-mapped; only ``columns`` when given), checked as :func:`open_parquet`.

    Raises:
        CorruptFileError: not a readable parquet file, or a required column is missing.
    """
    return read_columns(open_parquet(path, required, fix, what), path, fix, columns)


def read_columns(file: Any, path: Path, fix: str, columns: list[str] | None = None) -> Any:
    """The table of an opened ``ParquetFile`` (only ``columns`` when given).

    Raises:
        CorruptFileError: the data cannot be read.
    """
    try:
        return file.read(columns=columns)
    except read_errors() as exc:
        raise _unreadable(path, exc, fix) from None


def column_values(table: Any, name: str, path: Path, fix: str) -> list[Any]:
    """Column ``name`` of ``table`` as Python values.

    Raises:
        CorruptRowError: a value cannot be read (names the first such row).
        CorruptFileError: the column cannot be read at all.
    """
    errors = read_errors()
    column = table.column(name)
    try:
        return list(column.to_pylist())
    except errors as exc:
        first = exc
    for row in range(len(column)):  # only on the error path: find the row to blame
        try:
            column[row].as_py()
        except errors as exc:
            found = f"an unreadable value ({type(exc).__name__}: {exc})"
            raise CorruptRowError.for_field(path, row, name, "a readable value", found, fix) from None
    raise _unreadable(path, first, fix)


def cell(column: Any, row: int, name: str) -> Any:
    """Row ``row`` of a pyarrow column as a Python value.

    Raises:
        RowError: the value cannot be read (the loader names the file and row).
    """
    try:
        return column[row].as_py()
    except read_errors() as exc:
        raise RowError(name, "a readable value", f"an unreadable value ({type(exc).__name__}: {exc})") from None


def read_row_group(file: Any, group: int, columns: list[str]) -> Any:
    """Row group ``group`` of an opened ``ParquetFile``, only ``columns``.

    Raises:
        RowError: the row group cannot be read (column: the first of ``columns``).
    """
    try:
        return file.read_row_group(group, columns=columns)
    except read_errors() as exc:
        found = f"a read error ({type(exc).__name__}: {exc})"
        raise RowError(columns[0], f"a readable row group {group}", found) from None
