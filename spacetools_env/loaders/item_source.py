"""What every on-disk item source shares: lazy opening, split and range checks, an item LRU, pickling.

:class:`CachedItemSource` is the base of :class:`~spacetools_env.loaders.SpaceToolsEvalSource` (the
SpaceTools evaluation parquet) and :class:`~spacetools_env.loaders.native.NativeSource` (native
releases). A subclass says only what differs:

- ``_open_file()``: find the data (raises ``BenchmarkDataNotFoundError``) and open it, usually
  through the process-wide :func:`~spacetools_env.loaders.open_files.open_shared` cache;
- ``_splits(opened)``: split name -> the opened file's stored rows in that split, in item order;
- ``_decode(opened, split, index, row)``: one item, raising :class:`~spacetools_env.loaders.RowError`
  for a malformed field;
- ``_corrupt(opened, row, exc)``: that ``RowError`` as a :class:`~spacetools_env.loaders.CorruptRowError`
  naming the file, the row, the column and the fix;
- ``_label()``: the source in error messages.

The base does the rest. The data is found and opened (its small fields validated) by the first
``num_items``/``get``/``validate``/``path``, which the env calls at ``gym.make`` for its split: a
missing copy, a corrupt file or an empty split fails there, not at the first ``reset``
(``BenchmarkDataNotFoundError``, ``CorruptFileError``); images are decoded per item, on ``get``.
The opened file is kept (``_open()``); decoded items sit in a small LRU (``cache_items``), so a
repeated ``reset`` costs a dictionary lookup; and a source pickles as its arguments: the copy
(a vector-env or eval worker) reopens the file (a process-wide cache) on first use.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, Protocol, TypeVar

from spacetools_env.loaders.errors import CorruptFileError, CorruptRowError, RowError
from spacetools_env.task import TaskItem


class OpenedData(Protocol):
    """An opened benchmark file (or folder): what :class:`CachedItemSource` needs of it."""

    @property
    def path(self) -> Path:
        """The file (or marking file) read."""
        ...

    @property
    def fix(self) -> str:
        """How to repair or re-fetch the data (ends error messages)."""
        ...


FileT = TypeVar("FileT", bound=OpenedData)


class CachedItemSource(ABC, Generic[FileT]):
    """The items of one opened benchmark file (an :class:`~spacetools_env.task.ItemSource`).

    Args:
        cache_items: Decoded items kept per source.
    """

    def __init__(self, cache_items: int = 16) -> None:
        self.cache_items = cache_items
        self._opened: FileT | None = None
        self._items: OrderedDict[tuple[str, int], TaskItem] = OrderedDict()

    # ------------------------------------------------------------------ what a subclass supplies
    @abstractmethod
    def _open_file(self) -> FileT:
        """Find and open the data; called once, on first use."""

    @abstractmethod
    def _splits(self, opened: FileT) -> Mapping[str, Sequence[int]]:
        """Split name -> the stored rows of ``opened`` in that split, in item order."""

    @abstractmethod
    def _decode(self, opened: FileT, split: str, index: int, row: int) -> TaskItem:
        """Item ``index`` of ``split`` (stored row ``row``); raises RowError for a malformed field."""

    @abstractmethod
    def _corrupt(self, opened: FileT, row: int, exc: RowError) -> CorruptRowError:
        """``exc`` (raised for stored row ``row``) with the file, the row and the fix."""

    @abstractmethod
    def _label(self) -> str:
        """The source as error messages name it (``'boppose'``, ``BLINK-Benchmark/BLINK 'x.parquet'``)."""

    def _unknown_split(self, split: str, splits: Mapping[str, Sequence[int]]) -> str:
        """The message for a split ``splits`` lacks."""
        return f"unknown split {split!r} for {self._label()}; splits: {sorted(splits)}"

    # ------------------------------------------------------------------ the shared behaviour
    def _open(self) -> FileT:
        # The one entry point every method below goes through; subclasses say how to find and
        # open their data in _open_file (bop.py searches three places for models_info.json).
        if self._opened is None:
            self._opened = self._open_file()
        return self._opened

    @property
    def path(self) -> Path:
        """The file read (found on first use).

        Raises:
            BenchmarkDataNotFoundError: no local copy.
        """
        return self._open().path

    def _rows(self, split: str) -> Sequence[int]:
        opened = self._open()
        splits = self._splits(opened)
        if split not in splits:
            raise ValueError(self._unknown_split(split, splits))
        rows = splits[split]
        if not rows:  # an episode needs an item: say which file is empty, never "high <= 0" at reset
            raise CorruptFileError(
                f"{opened.path}: {self._label()} split {split!r} holds no items (the file has no usable rows). "
                f"Fix: {opened.fix}.",
                path=opened.path,
            )
        return rows

    def num_items(self, split: str) -> int:
        """Items in ``split`` (at least one).

        Raises:
            ValueError: an unknown split.
            CorruptFileError: the split holds no items (names the file and the fix).
            BenchmarkDataNotFoundError: no local copy.
        """
        return len(self._rows(split))

    def get(self, split: str, index: int) -> TaskItem:
        """Item ``index`` of ``split``, decoded on first request.

        Raises:
            ValueError: unknown split or index out of range.
            CorruptRowError: the row is malformed (names file, row, column and fix).
            BenchmarkDataNotFoundError: no local copy.
        """
        key = (split, index)
        item = self._items.get(key)
        if item is not None:  # only checked (split, index) pairs are stored: a repeated reset is one lookup
            self._items.move_to_end(key)
            return item
        rows = self._rows(split)
        if not 0 <= index < len(rows):
            raise ValueError(
                f"index {index} is out of range for {self._label()} split {split!r} (0..{len(rows) - 1})"
            )
        opened = self._open()
        try:
            item = self._decode(opened, split, index, rows[index])
        except RowError as exc:
            raise self._corrupt(opened, rows[index], exc) from None
        self._items[key] = item
        while len(self._items) > self.cache_items:
            self._items.popitem(last=False)
        return item

    def validate(self) -> int:
        """Decode every item of every split once (a data check); returns the number of distinct rows.

        Raises:
            CorruptRowError: the first malformed row.
        """
        opened = self._open()
        seen: set[int] = set()
        for split, rows in self._splits(opened).items():
            for index, row in enumerate(rows):
                try:
                    self._decode(opened, split, index, row)
                except RowError as exc:
                    raise self._corrupt(opened, row, exc) from None
                seen.add(row)
        return len(seen)

    def __getstate__(self) -> dict[str, Any]:
        # Pickled as its arguments: the copy reopens the file (a process-wide cache) on first use.
        return {**self.__dict__, "_opened": None, "_items": OrderedDict()}
