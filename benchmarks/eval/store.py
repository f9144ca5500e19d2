"""``results.jsonl``: append-only, one record per line, safe against ``kill -9`` at any point.

Why it survives a kill: the runner's main process is the only writer; each record goes out as
one line ending in ``\\n`` and is flushed to the kernel at once (a killed process cannot lose
it), then fsynced by a background thread (group commit: a machine crash loses at most the
records of the last few milliseconds, which resume replays). A kill can therefore leave at most one
partial line, at the end, never a line with a newline that is not a whole record. On open,
:meth:`ResultsFile.open` drops such a torn tail (truncating the file to its last complete line,
before anything is appended) and reports it; a torn line anywhere else is corruption, and an
error. Episodes whose key is already on a line are skipped, so nothing is lost or duplicated.

A failed write (a full disk: ``ENOSPC``; any other ``OSError``) is cut back to the last complete
line at once and raised as :class:`ResultsWriteError` naming the folder and the fix; if even the
cut fails, the torn tail is what the next open repairs. Records before it are kept either way.

A :class:`FolderLock` (``fcntl.flock`` on ``.lock``) stops two runs appending to one folder; the
kernel releases it when the holder dies, ``kill -9`` included.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from benchmarks.eval.suites import EpisodeKey


class ResultsCorruptError(ValueError):
    """A line other than the last does not parse: the file was edited or the disk lost data."""


class ResultsLockedError(RuntimeError):
    """Another eval run is writing to the same folder."""


class ResultsWriteError(OSError):
    """The output folder cannot be written (``errno`` says why); the message names the folder and the fix."""


class ResultsDiskFullError(ResultsWriteError):
    """No space (or quota) left on the disk holding the output folder."""


DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})


def write_error(folder: Path, exc: OSError, what: str) -> ResultsWriteError:
    """``exc``, raised while writing ``what`` into ``folder``, as an error that names the folder and the fix."""
    if isinstance(exc, ResultsWriteError):
        return exc
    if exc.errno in DISK_FULL:
        error: ResultsWriteError = ResultsDiskFullError(
            f"no space left on the disk holding {folder} ({exc.strerror or exc}) while writing {what}; every "
            "record written before is kept. Free space on that disk and re-run the same command to resume, "
            "or pass another --out folder on a disk with room (that starts afresh)"
        )
    else:
        error = ResultsWriteError(
            f"cannot write {what} in {folder}: {exc.strerror or exc}; every record written before is kept. "
            "Fix the folder (permissions, a read-only or failing disk) and re-run the same command to resume, "
            "or pass another --out folder"
        )
    error.errno = exc.errno
    return error


@dataclass
class Recovered:
    """What :func:`read_results` found.

    Attributes:
        records: Every complete record, in file order.
        keys: Their episode keys.
        duplicates: Keys found on more than one line (only a hand-edited file has them).
        torn_bytes: Size of the dropped partial last line (0 if the file ended cleanly).
        valid_bytes: Length of the file up to and including its last complete line.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    keys: set[EpisodeKey] = field(default_factory=set)
    duplicates: list[EpisodeKey] = field(default_factory=list)
    torn_bytes: int = 0
    valid_bytes: int = 0


def record_key(record: dict[str, Any]) -> EpisodeKey:
    key = record["key"]
    return EpisodeKey(str(key["env_id"]), str(key["split"]), int(key["index"]))


def read_results(path: Path) -> Recovered:
    """Parse ``path``; a partial (or unparsable) *last* line is reported in ``torn_bytes``, not returned.

    Raises:
        ResultsCorruptError: a line before the last does not parse, naming its line number.
    """
    found = Recovered()
    if not path.exists():
        return found
    data = path.read_bytes()
    lines = data.split(b"\n")
    # A file written by this module ends in "\n", so the last element is b"" unless a kill cut a line.
    complete, tail = lines[:-1], lines[-1]
    offset = 0
    for number, raw in enumerate(complete, start=1):
        record = _parse(raw)
        if record is None:
            if number == len(complete) and not tail:
                # The last "complete" line is junk (e.g. zeros left by a crash): treat it as torn.
                found.torn_bytes = len(raw) + 1
                break
            raise ResultsCorruptError(
                f"{path}: line {number} is not a JSON record ({raw[:80]!r}...); only the last line may be "
                "torn by a kill. Remove the damaged line by hand or start a fresh --out folder"
            )
        key = record_key(record)
        if key in found.keys:
            found.duplicates.append(key)
        else:
            found.keys.add(key)
            found.records.append(record)
        offset += len(raw) + 1
    found.valid_bytes = offset
    found.torn_bytes += len(tail)
    return found


def _parse(raw: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(raw)
        record_key(record)
    except (ValueError, KeyError, TypeError):
        return None
    return record if isinstance(record, dict) else None


class FolderLock:
    """An exclusive advisory lock on an output folder, held while a run writes to it.

    Raises:
        ResultsLockedError: on enter, when another run holds the folder.
    """

    def __init__(self, folder: Path) -> None:
        self.path = folder / ".lock"
        self._handle: IO[bytes] | None = None

    def __enter__(self) -> FolderLock:
        handle = open(self.path, "ab")  # held until __exit__
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise ResultsLockedError(
                f"another eval run is writing to {self.path.parent}; wait for it or use another --out folder"
            ) from None
        self._handle = handle
        return self

    def __exit__(self, *exc: object) -> None:
        if self._handle is not None:
            self._handle.close()  # closing releases the lock
            self._handle = None


class _Syncer(threading.Thread):
    """fsyncs a file descriptor in the background whenever something new was written (group commit).

    ``fsync`` takes milliseconds on many disks, longer than a cheap episode; done inline it would
    dominate the runner's overhead. A record is already safe from a killed process once written;
    the fsync, soon after, protects it from a machine crash too.
    """

    def __init__(self, fd: int) -> None:
        super().__init__(daemon=True, name="results-fsync")
        self._fd = fd
        self._dirty = threading.Event()
        self._closing = False
        self.error: OSError | None = None

    def check(self) -> None:
        """Raise the error of an earlier fsync, if one failed."""
        if self.error is not None:
            raise self.error

    def notify(self) -> None:
        self._dirty.set()

    def run(self) -> None:
        while True:
            self._dirty.wait()
            self._dirty.clear()
            try:
                os.fsync(self._fd)  # covers every write flushed before this call
            except OSError as exc:
                self.error = exc
                return
            if self._closing:
                return

    def finish(self) -> None:
        """Sync what is left and stop; raises the first fsync error, if any."""
        self._closing = True
        self._dirty.set()
        self.join()
        if self.error is not None:
            raise self.error


class ResultsFile:
    """The append side of ``results.jsonl``; use :meth:`open` (it repairs a torn tail first).

    Hold a :class:`FolderLock` on the folder while it is open: this class assumes it is the only writer.
    """

    def __init__(self, path: Path, handle: IO[bytes], recovered: Recovered) -> None:
        self.path = path
        self.recovered = recovered
        self._handle = handle
        self._end = recovered.valid_bytes  # the file's length: every byte up to here is whole lines
        self._syncer = _Syncer(handle.fileno())
        self._syncer.start()

    @classmethod
    def open(cls, path: Path) -> ResultsFile:
        """Read what is there, truncate a torn last line, and open for appending.

        Raises:
            ResultsCorruptError: see :func:`read_results`.
            ResultsWriteError: the file cannot be opened or repaired (a full disk: ``ResultsDiskFullError``).
        """
        recovered = read_results(path)
        try:
            handle = open(path, "ab", buffering=0)  # noqa: SIM115 (closed by close())
        except OSError as exc:
            raise write_error(path.parent, exc, path.name) from exc
        try:
            if recovered.torn_bytes:
                os.ftruncate(handle.fileno(), recovered.valid_bytes)
                os.fsync(handle.fileno())
        except OSError as exc:
            handle.close()
            raise write_error(path.parent, exc, f"{path.name} (cutting a torn last line)") from exc
        return cls(path, handle, recovered)

    def append(self, line: bytes | str) -> None:
        """Write one record (UTF-8 JSON without newlines) as one line; fsynced in the background.

        Raises:
            ResultsWriteError: the line could not be written (``ResultsDiskFullError``: the disk is
                full); the file still ends with the last complete line, or a torn tail that the
                next :meth:`open` cuts.
        """
        data = (line.encode() if isinstance(line, str) else line) + b"\n"
        try:
            self._syncer.check()
            view = memoryview(data)
            while view:  # a short write (a disk filling up) writes the rest, or raises
                view = view[os.write(self._handle.fileno(), view) :]
        except OSError as exc:
            with contextlib.suppress(OSError):  # else the next open cuts the torn tail
                os.ftruncate(self._handle.fileno(), self._end)
            raise write_error(self.path.parent, exc, f"a record to {self.path.name}") from exc
        self._end += len(data)  # in the kernel now: a kill of this process can no longer lose it
        self._syncer.notify()

    def close(self) -> None:
        """fsync the last records and close.

        Raises:
            ResultsWriteError: the last fsync failed.
        """
        try:
            self._syncer.finish()
        except OSError as exc:
            raise write_error(self.path.parent, exc, f"{self.path.name} (fsync)") from exc
        finally:
            self._handle.close()

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
