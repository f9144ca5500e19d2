"""Answer keys: what re-scoring a synthetic item reads, derived by the validator and kept on disk.

Re-scoring a synthetic episode needs the item's scoring fields (a label, a ground-truth string, a
mask, ...) and its ``item_id`` and ``meta``; it never needs the RGB images or the oracle tools'
ground truth. Regenerating an item renders its scene (PyBullet ``getCameraImage`` is over 80% of
the ~0.1 s an item costs), so the validator keeps an *answer key* per item: every field of the
item except ``images`` and ``truth``. Scores are always recomputed by today's official scorer from
these fields; a reported score is never read.

Where the keys come from
    Only from the env: :meth:`SyntheticSource.generate` in this process, or in worker processes
    (``workers``) running the same code. Nothing from a submission is stored.

Where they live
    ``$SPACETOOLS_CACHE_DIR/answer-keys`` (default ``$XDG_CACHE_HOME/spacetools`` or
    ``~/.cache/spacetools``): a folder per code version (folders of other versions untouched for
    a day are deleted), one ``.npz`` file (loaded with ``allow_pickle=False``) per env id, split
    and scene settings, holding a JSON payload and the arrays (bool masks bit-packed). The
    directory should be writable by the validator only.

When a file is used
    Its name and its stored key are both derived from: this format, the ``spacetools`` version,
    a digest of the source of ``spacetools_env`` and ``tool_backends`` (a change to the world or a
    generator changes it even if nobody bumped a family version, as families must when their
    generation changes: :attr:`TaskFamily.version`), the ``pybullet`` and ``numpy`` versions, the
    env id, the family name and version, the item type, the split and the scene settings (the
    same facts :meth:`SyntheticSource.get` caches items by). A file whose SHA-256 (over the payload
    and every array) does not match, that cannot be read, or whose stored key differs is ignored
    and rebuilt. On every load ``spot_checks`` random items per env are regenerated and compared
    with the file; any difference discards it. A scorer that reads a field the key leaves out
    raises :class:`AnswerKeyMiss` and is marked (:func:`touched_withheld`, as scorers may swallow
    errors), and the validator re-scores that item on the full path.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import json
import multiprocessing
import os
import random
import shutil
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.leaderboard.answer_key_files import (
    Entry,
    decode_item,
    encode_item,
    encode_value,
    read_file,
    same_entry,
    write_file,
)
from spacetools_env.sources import SyntheticSource
from spacetools_env.task import TaskFamily, TaskItem

FORMAT = 1
"""Bumped whenever what an answer key holds, or how it is stored, changes."""
CACHE_ENV = "SPACETOOLS_CACHE_DIR"
PARALLEL_MIN_ITEMS = 32
"""Fewer items to generate than this are generated in this process (a worker takes ~1-2 s to start)."""
CHUNK = 8
"""Items per worker task: small enough to balance, large enough to amortise the round trip."""
PRUNE_AFTER_S = 24 * 3600.0
"""Answer keys of another code version untouched this long are deleted when new ones are written."""

Log = Callable[[str], None]


def default_cache_dir() -> Path:
    """``$SPACETOOLS_CACHE_DIR``, else ``$XDG_CACHE_HOME/spacetools``, else ``~/.cache/spacetools``."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base).expanduser() / "spacetools"


def default_workers() -> int:
    """The CPUs this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


# ---------------------------------------------------------------------------- encoding
@lru_cache(maxsize=1)
def code_digest() -> str:
    """SHA-256 of every file of the packages that generate items (``spacetools_env``, ``tool_backends``)."""
    import spacetools_env
    import tool_backends

    digest = hashlib.sha256()
    for package in (spacetools_env, tool_backends):
        if package.__file__ is None:
            raise RuntimeError(f"{package.__name__} has no __file__: cannot digest its code")
        root = Path(package.__file__).resolve().parent
        for path in sorted(p for p in root.rglob("*") if p.is_file() and "__pycache__" not in p.parts):
            digest.update(f"{package.__name__}/{path.relative_to(root).as_posix()}\0".encode())
            digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def source_key(env_id: str, source: SyntheticSource, split: str) -> dict[str, Any]:
    """Everything the items of ``env_id``'s ``split`` depend on (what the cache file is keyed by)."""
    family = source.family
    return {
        "format": FORMAT,
        "spacetools": _version("spacetools"),
        "code": code_digest(),
        "pybullet": _version("pybullet"),
        "numpy": np.__version__,
        "env_id": env_id,
        "family": family.name,
        "family_version": family.version,
        "item_type": f"{family.item_type.__module__}.{family.item_type.__qualname__}",
        "split": split,
        "scene_config": encode_value(dataclasses.asdict(source.scene_config), []),
    }


_CODE_FIELDS = ("format", "spacetools", "code", "pybullet", "numpy")


def _relative_path(key: Mapping[str, Any]) -> Path:
    """``<code version>/<env id>-<split>-<digest of the whole key>.npz``: one folder per code version."""
    version = hashlib.sha256(json.dumps([key[k] for k in _CODE_FIELDS]).encode()).hexdigest()[:16]
    digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in f"{key['env_id']}-{key['split']}")
    return Path(version) / f"{safe}-{digest}.npz"


def prune(directory: Path, keep: Path, older_than_s: float = PRUNE_AFTER_S) -> list[Path]:
    """Remove the folders of other code versions under ``directory`` untouched for ``older_than_s``."""
    removed = []
    now = time.time()
    for folder in directory.iterdir() if directory.is_dir() else ():
        stale = folder.name != keep.name and now - folder.stat().st_mtime > older_than_s
        if stale and folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _generate(source: SyntheticSource, split: str, indices: Iterable[int]) -> list[tuple[int, Entry]]:
    return [(i, encode_item(source.generate(split, i))) for i in indices]


def _generate_in_worker(
    family_name: str, family_version: int, scene_config: Any, split: str, indices: list[int]
) -> list[tuple[int, Entry]]:
    """Worker-process task: the family is looked up in the worker's own registry by name."""
    from spacetools_env.registration import get_family

    family = get_family(family_name)
    if family.version != family_version:
        raise RuntimeError(f"worker has {family_name} v{family.version}, wanted v{family_version}")
    return _generate(SyntheticSource(family, scene_config), split, indices)


def generate_entries(
    jobs: Mapping[str, tuple[SyntheticSource, str, list[int]]], workers: int, log: Log
) -> dict[str, dict[int, Entry]]:
    """Generate the answer keys of ``jobs`` (env id -> source, split, indices), in ``workers`` processes.

    Workers run this checkout's code in fresh (spawned) processes; a chunk a worker fails on is
    generated here instead, so the result never depends on the workers.
    """
    out: dict[str, dict[int, Entry]] = {env_id: {} for env_id in jobs}
    total = sum(len(indices) for _, _, indices in jobs.values())
    if workers <= 1 or total < PARALLEL_MIN_ITEMS:
        for env_id, (source, split, indices) in jobs.items():
            out[env_id].update(_generate(source, split, indices))
        return out
    log(f"answer keys: generating {total} items in {workers} worker processes")
    context = multiprocessing.get_context("spawn")  # no PyBullet connection inherited from this process
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = {}
        for env_id, (source, split, indices) in jobs.items():
            family = source.family
            for start in range(0, len(indices), CHUNK):
                chunk = indices[start : start + CHUNK]
                args = (family.name, family.version, source.scene_config, split, chunk)
                futures[pool.submit(_generate_in_worker, *args)] = (env_id, chunk)
        for future in as_completed(futures):
            env_id, chunk = futures[future]
            try:
                out[env_id].update(future.result())
            except Exception as exc:  # e.g. a family registered only in this process
                log(f"answer keys: a worker failed on {env_id} ({type(exc).__name__}: {exc}); generating here")
                source, split, _ = jobs[env_id]
                out[env_id].update(_generate(source, split, chunk))
    return out


# ---------------------------------------------------------------------------- the cache
@dataclass
class _EnvKeys:
    source: SyntheticSource
    split: str
    key: dict[str, Any]
    entries: dict[int, Entry] = field(default_factory=dict)


class AnswerKeys:
    """Answer keys for the synthetic envs of one validation: loaded, checked, built, stored.

    Args:
        directory: Where the files live (``answer-keys/`` under it); None keeps them in memory only.
        workers: Processes generating missing items (default: the CPUs this process may use).
        spot_checks: Items per env regenerated on the full path and compared with a loaded file.
        log: Progress and discarded-file messages.
    """

    def __init__(
        self,
        directory: str | Path | None,
        *,
        workers: int | None = None,
        spot_checks: int = 1,
        log: Log | None = None,
    ) -> None:
        self.directory = None if directory is None else Path(directory) / "answer-keys"
        self.workers = default_workers() if workers is None else workers
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")
        self.spot_checks = spot_checks
        self.log: Log = log or (lambda message: None)
        self.envs: dict[str, _EnvKeys] = {}
        self.stats = {"loaded": 0, "generated": 0, "spot_checked": 0, "discarded_files": 0}

    @staticmethod
    def supports(source: Any, family: TaskFamily) -> bool:
        """Whether items of ``source`` can be answer-keyed: the plain synthetic world, same family."""
        return type(source) is SyntheticSource and source.family == family

    def prepare(self, wanted: Mapping[str, tuple[SyntheticSource, str, Iterable[int]]]) -> None:
        """Have the answer keys of ``wanted`` (env id -> source, split, indices) ready: load, check, build."""
        started = time.perf_counter()
        before = dict(self.stats)
        missing: dict[str, tuple[SyntheticSource, str, list[int]]] = {}
        for env_id, (source, split, indices) in wanted.items():
            env = self.envs.setdefault(env_id, _EnvKeys(source, split, source_key(env_id, source, split)))
            want = sorted(set(indices))
            if self.directory is not None and not env.entries:
                env.entries = self._load(env_id, env, want)
            todo = [i for i in want if i not in env.entries]
            if todo:
                missing[env_id] = (source, split, todo)
        if missing:
            built = generate_entries(missing, self.workers, self.log)
            for env_id, entries in built.items():
                env = self.envs[env_id]
                env.entries.update(entries)
                self.stats["generated"] += len(entries)
                if self.directory is not None:
                    path = self.directory / _relative_path(env.key)
                    write_file(path, env.key, env.entries)
                    prune(self.directory, keep=path.parent)
        done = {k: v - before[k] for k, v in self.stats.items()}
        if any(done.values()):
            where = f"from {self.directory}" if self.directory is not None else "(not cached: --no-cache)"
            self.log(
                f"answer keys: {done['loaded']} items loaded {where} ({done['spot_checked']} spot-checked, "
                f"{done['discarded_files']} files discarded), {done['generated']} generated, "
                f"in {time.perf_counter() - started:.1f} s"
            )

    def item(self, env_id: str, index: int) -> TaskItem | None:
        """The answer-key item of ``env_id``'s ``index``, or None where there is none."""
        env = self.envs.get(env_id)
        entry = env.entries.get(index) if env is not None else None
        if env is None or entry is None:
            return None
        return decode_item(env.source.family.item_type, entry[0], entry[1])

    def _load(self, env_id: str, env: _EnvKeys, want: list[int]) -> dict[int, Entry]:
        """The stored entries, if the file is intact and passes its spot checks; else none (and no file)."""
        assert self.directory is not None
        path = self.directory / _relative_path(env.key)
        if not path.is_file():
            return {}
        try:
            entries = read_file(path, env.key)
            self._spot_check(env, entries, want)
        except ValueError as exc:
            self.log(f"answer keys: discarding {path} ({exc}); rebuilding it")
            self.stats["discarded_files"] += 1
            path.unlink(missing_ok=True)
            return {}
        self.stats["loaded"] += sum(1 for i in want if i in entries)
        os.utime(path.parent)  # in use: not stale for prune()
        return entries

    def _spot_check(self, env: _EnvKeys, entries: Mapping[int, Entry], want: list[int]) -> None:
        stored = [i for i in want if i in entries]
        for index in random.SystemRandom().sample(stored, min(self.spot_checks, len(stored))):
            self.stats["spot_checked"] += 1
            ((_, fresh),) = _generate(env.source, env.split, [index])
            if not same_entry(fresh, entries[index]):
                raise ValueError(f"item {index} regenerated today differs from the stored answer key")
