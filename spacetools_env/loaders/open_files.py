"""One process-wide cache of opened benchmark files, shared by every loader.

Opening a benchmark file reads and checks its small columns once; every env (and every reset)
in the process then shares that work. An entry is keyed by what was opened and the file's size
and modification time, so a file changed on disk is opened afresh; a few are kept, least
recently used dropped first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
MAX_OPEN_FILES = 8
_OPEN: OrderedDict[tuple[Any, ...], Any] = OrderedDict()
_LOCK = threading.Lock()


def open_shared(path: Path, opener: Callable[[Path], T], kind: Hashable, stamp: Hashable = ()) -> T:
    """``opener(path)``, shared process-wide while the file is unchanged on disk.

    Args:
        path: The file to open.
        opener: Reads and validates it (raising the loader's own errors).
        kind: Distinguishes openers of the same file (a format name, an evaluation key).
        stamp: Extra change marker when an opener reads more files than ``path``.
    """
    stat = path.stat()
    key = (kind, str(path.resolve()), stat.st_size, stat.st_mtime_ns, stamp)
    with _LOCK:
        if key in _OPEN:
            _OPEN.move_to_end(key)
            return _OPEN[key]
    opened = opener(path)
    with _LOCK:
        _OPEN[key] = opened
        while len(_OPEN) > MAX_OPEN_FILES:
            _OPEN.popitem(last=False)
    return opened


def files_stamp(paths: Iterable[Path], root: Path) -> tuple[tuple[str, int, int], ...]:
    """(path relative to ``root``, size, mtime) of each file: the ``stamp`` of an opener reading several."""
    stats = ((p.relative_to(root).as_posix(), p.stat()) for p in paths)
    return tuple((name, st.st_size, st.st_mtime_ns) for name, st in stats)
