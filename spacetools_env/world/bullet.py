"""The one place that imports ``pybullet``, without its build banner.

PyBullet's C module prints ``pybullet build time: <date>`` from its import, straight to the
process's file descriptors (not ``sys.stderr``), so the line lands in every process that builds a
scene: eval workers, progress bars, a user's notebook. The import here points descriptors 1 and 2
at ``/dev/null`` for the import alone and restores them however it ends (an import error is
raised as usual, once they are restored). Every module of the world imports ``pb`` from here.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import os
import sys
from collections.abc import Iterator
from typing import Any


@contextlib.contextmanager
def _quiet_descriptors(fds: tuple[int, ...] = (1, 2)) -> Iterator[None]:
    """Send what C code writes to ``fds`` to ``/dev/null`` inside the block."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # a closed or replaced stream has nothing to flush
            stream.flush()
    saved: list[tuple[int, int]] = []
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
    except OSError:
        yield
        return
    try:
        for fd in fds:
            try:
                saved.append((fd, os.dup(fd)))
            except OSError:  # descriptor closed: nothing would be printed there anyway
                continue
            os.dup2(devnull, fd)
        yield
    finally:
        _flush_c_stdio()  # a buffered C stdout must empty into /dev/null, not after the restore
        for fd, copy in saved:
            os.dup2(copy, fd)
            os.close(copy)
        os.close(devnull)


def _flush_c_stdio() -> None:
    with contextlib.suppress(Exception):  # no libc symbols (unusual platforms): nothing buffered we can reach
        ctypes.CDLL(None).fflush(None)


def _import_pybullet() -> Any:
    if "pybullet" in sys.modules:  # imported already (by the user): the banner is out, nothing to hide
        return sys.modules["pybullet"]
    with _quiet_descriptors():
        return importlib.import_module("pybullet")


pb: Any = _import_pybullet()
"""The ``pybullet`` module."""
