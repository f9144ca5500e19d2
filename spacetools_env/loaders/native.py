"""What every native-release loader shares: hub datasets, a lazy item source, image decoding.

A native loader (``robospatial_home.py``, ``blink.py``, ``cvbench.py``) reads a benchmark in the
format its authors publish, found through :func:`~spacetools_env.loaders.paths.find_benchmark_file`
(``data_dir=``, then ``$SPACETOOLS_DATA_DIR``, then the Hugging Face cache). It supplies an
*opener*: ``opener(path) -> NativeFile``, which reads and validates the small fields of every
row and names its splits; images are decoded per item by ``NativeFile.item``.

:class:`NativeSource` does the rest through
:class:`~spacetools_env.loaders.item_source.CachedItemSource`, the base it shares with
:class:`~spacetools_env.loaders.SpaceToolsEvalSource`: the file is found and opened by the first
``num_items``/``get`` (the env's ``gym.make``, so missing data fails there), opened files are shared
process-wide while unchanged on disk, decoded items sit in a small LRU, and a malformed row raises
:class:`~spacetools_env.loaders.CorruptRowError` naming the file, the row, the column and the fix.

A release published in more than one layout (CV-Bench's parquet or jsonl + ``img/``;
RoboSpatial-Home's downloader folder or hub parquet) gives :class:`NativeSource` its other
:class:`Layout` s as ``alternatives``: :func:`find_layout` looks in each place in turn (``data_dir=``,
``$SPACETOOLS_DATA_DIR``, the HF cache) and, within one place, takes the layouts in the order
given, so the first place holding *any* layout wins and the preferred layout wins a tie.
"""

from __future__ import annotations

import glob
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from spacetools_env.loaders.images import image_array
from spacetools_env.loaders.item_source import CachedItemSource
from spacetools_env.loaders.open_files import open_shared
from spacetools_env.loaders.paths import (
    BenchmarkDataNotFoundError,
    HubDataset,
    candidate_paths,
    find_benchmark_file,
)
from spacetools_env.loaders.rows import CorruptRowError, RowError, describe
from spacetools_env.task import TaskItem

ROBOSPATIAL_HOME = HubDataset(name="robospatial-home", repo_id="chanhee-luke/RoboSpatial-Home")
BLINK = HubDataset(name="blink", repo_id="BLINK-Benchmark/BLINK")
CVBENCH = HubDataset(name="cv-bench", repo_id="nyu-visionx/CV-Bench")



class NativeFile(Protocol):
    """One opened native file: small fields validated, images decoded per item."""

    path: Path
    fix: str

    @property
    def splits(self) -> Mapping[str, list[int]]:
        """split name -> the file's row indices in that split, in order."""
        ...

    def item(self, split: str, index: int, row: int) -> TaskItem:
        """Item ``index`` of ``split`` (stored row ``row``); raises RowError for a malformed field."""
        ...

    def locate(self, row: int) -> tuple[Path, int]:
        """The file holding stored row ``row`` and the row's index in that file."""
        ...


Opener = Callable[[Path], NativeFile]


def corrupt_row(file: NativeFile, row: int, exc: RowError) -> CorruptRowError:
    """``exc`` re-raised with the file, the row and the fix."""
    path, index = file.locate(row)
    return CorruptRowError.for_field(path, index, exc.column, exc.expected, exc.found, file.fix)


def image_source(value: Any, column: str, base: Path | None = None) -> bytes | Path:
    """What an image cell holds: encoded bytes (HF ``{"bytes": ..., "path": ...}`` or raw), or a file.

    A path (a string, or an HF cell with no bytes) is relative to ``base`` and may not leave it
    (no absolute path, no ``..``): a corrupt annotation file cannot make a loader read elsewhere.

    Raises:
        RowError: no image there, a path leaving ``base``, or a path that does not exist.
    """
    if isinstance(value, dict):
        data, path = value.get("bytes"), value.get("path")
        if isinstance(data, bytes | bytearray) and data:
            return bytes(data)
        value = path
    if isinstance(value, bytes | bytearray) and value:
        return bytes(value)
    if isinstance(value, str) and value and base is not None:
        relative = Path(value)
        if relative.is_absolute() or ".." in relative.parts:
            raise RowError(column, f"an image path relative to {base}, inside it", describe(value))
        file = base / relative
        if not file.is_file():
            raise RowError(column, f"an existing image file (relative to {base})", f"missing file {file}")
        return file
    raise RowError(column, "an image (bytes, {'bytes': ..., 'path': ...} or a relative path)", describe(value))


def decode_rgb(
    value: Any, column: str, base: Path | None = None, expected_size: tuple[int, int] | None = None
) -> np.ndarray:
    """An RGB image cell (see :func:`image_source`) as HxWx3 uint8 (read-only).

    Decoded by :func:`~spacetools_env.loaders.images.open_image`: within the pixel budget, and of
    ``expected_size`` (width, height) when given, both checked before decoding.
    """
    return image_array(image_source(value, column, base), column, expected_size, rgb=True)


def decode_raw(
    value: Any, column: str, base: Path | None = None, expected_size: tuple[int, int] | None = None
) -> np.ndarray:
    """An image cell's stored values unchanged (a 16-bit depth PNG stays uint16), read-only; see :func:`decode_rgb`."""
    array = image_array(image_source(value, column, base), column, expected_size)
    if array.ndim == 3:
        array = np.ascontiguousarray(array[:, :, 0])
        array.flags.writeable = False  # items are cached and shared: nobody may draw on them
    return array


def _open(path: Path, opener: Opener, kind: str) -> NativeFile:
    # An opener reading more than one file (every *.json of a folder) stamps them all.
    stamp = getattr(opener, "stamp", None)
    return open_shared(path, opener, kind, stamp(path) if stamp else ())


@dataclass(frozen=True)
class Layout:
    """One on-disk layout of a release: the file that marks it and the opener that reads it.

    Attributes:
        relative_path: The marking file inside the release; its last component may be a glob
            (``data/context-*.parquet``: the first match, by name, is opened).
        opener: Reads and validates the layout, starting from the marking file.
        description: Names the layout in the not-found message (``"jsonl + img/"``).
    """

    relative_path: str
    opener: Opener
    description: str = ""


def _existing(path: Path) -> Path | None:
    """``path`` if it is a file; for a glob in its last component, the first matching file by name."""
    if glob.has_magic(path.name):
        try:
            return next((p for p in sorted(path.parent.glob(path.name)) if p.is_file()), None)
        except OSError:
            return None
    return path if path.is_file() else None


def first_existing(
    dataset: HubDataset,
    relative_paths: Sequence[str],
    data_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Path, int] | None:
    """The first of ``relative_paths`` present, place by place (:func:`candidate_paths` order), and its index.

    Within one place the paths are tried in the order given; a glob in a path's last component
    matches its first file by name. None when none is anywhere.
    """
    env = os.environ if environ is None else environ
    candidates = [candidate_paths(dataset, relative, data_dir, env) for relative in relative_paths]
    for places in zip(*candidates, strict=True):  # one tuple per place, one path per relative path
        for index, (_, path) in enumerate(places):
            found = _existing(path)
            if found is not None:
                return found, index
    return None


def find_layout(
    dataset: HubDataset,
    layouts: Sequence[Layout],
    data_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Path, Layout]:
    """The first local copy of ``dataset`` in any of ``layouts``: its marking file and its layout.

    Places are looked at in :func:`~spacetools_env.loaders.paths.candidate_paths` order; within
    one place the layouts are tried in the order given (the preferred one first).

    Raises:
        BenchmarkDataNotFoundError: no layout anywhere; names every layout, every place and the fix.
    """
    if not layouts:
        raise ValueError("find_layout needs at least one layout")
    env = os.environ if environ is None else environ
    hit = first_existing(dataset, [layout.relative_path for layout in layouts], data_dir, env)
    if hit is not None:
        return hit[0], layouts[hit[1]]
    candidates = [candidate_paths(dataset, layout.relative_path, data_dir, env) for layout in layouts]
    try:  # the primary layout's own message: every place, why it is looked at, the fix
        return find_benchmark_file(dataset, layouts[0].relative_path, data_dir, env), layouts[0]
    except BenchmarkDataNotFoundError as first:
        others = "\n".join(
            f"  - {layout.relative_path!r}" + (f" ({layout.description})" if layout.description else "")
            for layout in layouts[1:]
        )
        message = f"{first}\nNor any other layout it may be in, looked for in the same places:\n{others}"
        searched = [path for places in candidates for _, path in places]
        raise BenchmarkDataNotFoundError(
            message if others else str(first),
            dataset=dataset,
            relative_path=layouts[0].relative_path,
            searched=searched,
        ) from None


class NativeSource(CachedItemSource[NativeFile]):
    """The items of one native benchmark file (an :class:`~spacetools_env.task.ItemSource`).

    Args:
        dataset: The hub release the file belongs to.
        relative_path: The file inside the release (``Relative_Depth/val-00000-of-00001.parquet``).
        opener: Reads and validates the file (raises CorruptFileError / CorruptRowError).
        data_dir: The ``data_dir=`` argument (see :mod:`spacetools_env.loaders.paths`).
        cache_items: Decoded items kept per source.
        alternatives: Other layouts of the same release, less preferred than ``relative_path``
            (see :func:`find_layout`).

    Laziness, the item LRU, ``num_items``/``get``/``validate`` and pickling come from
    :class:`~spacetools_env.loaders.item_source.CachedItemSource`; the splits are the opened
    file's :attr:`NativeFile.splits`.
    """

    def __init__(
        self,
        dataset: HubDataset,
        relative_path: str,
        opener: Opener,
        data_dir: str | os.PathLike[str] | None = None,
        cache_items: int = 16,
        alternatives: Sequence[Layout] = (),
    ) -> None:
        super().__init__(cache_items)
        self.dataset, self.relative_path, self.opener = dataset, relative_path, opener
        self.data_dir = None if data_dir is None else os.fspath(data_dir)
        self.alternatives = tuple(alternatives)

    def _open_file(self) -> NativeFile:
        if self.alternatives:
            layouts = (Layout(self.relative_path, self.opener), *self.alternatives)
            path, layout = find_layout(self.dataset, layouts, self.data_dir)
            opener = layout.opener
        else:
            path, opener = find_benchmark_file(self.dataset, self.relative_path, self.data_dir), self.opener
        kind = f"{getattr(opener, '__module__', '')}.{getattr(opener, '__qualname__', opener)}"
        return _open(path, opener, kind)

    def _splits(self, opened: NativeFile) -> Mapping[str, Sequence[int]]:
        return opened.splits

    def _decode(self, opened: NativeFile, split: str, index: int, row: int) -> TaskItem:
        return opened.item(split, index, row)

    def _corrupt(self, opened: NativeFile, row: int, exc: RowError) -> CorruptRowError:
        return corrupt_row(opened, row, exc)

    def _label(self) -> str:
        return f"{self.dataset.repo_id} {self.relative_path!r}"
