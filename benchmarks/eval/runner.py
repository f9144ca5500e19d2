"""``run_eval``: agent x suite -> results.jsonl + manifest.json + summary.json, resumable and concurrent.

The loop, in order:

1. Resolve the suite, build each env once to plan the episodes, lock the folder and write (or
   check) the manifest: a folder holding another run's results is refused before anything in it
   changes.
2. Read ``results.jsonl``, truncate a torn last line, and skip every recorded episode key.
3. Play the rest on ``workers`` processes (or in this process when ``workers == 1``), each
   playing ``batch_size`` episodes in lockstep with one batched agent call per turn
   (:class:`~spacetools_env.batch_rollout.BatchRollout`); the main process appends each finished
   record as one line and fsyncs it. Records do not depend on ``batch_size`` (only timing does).
4. Aggregate every recorded episode of the suite the official way; print and save the summary.

An episode that raises, whose record cannot be written, or that kills its worker process
(:mod:`benchmarks.eval.pool`) fails alone (``Summary.failed``, with the reason) and is retried by
the next run; with ``workers == 1`` episodes run in this process, so only a Python exception is
contained there. An exception from a batched ``agent.act`` fails the episodes of that call (the
agent may have advanced the others), each retried by the next run. A full disk stops the run with
:class:`~benchmarks.eval.store.ResultsDiskFullError` naming the folder and the fix.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
from tqdm import tqdm

from benchmarks.agents import check_agent
from benchmarks.eval.aggregate import summarize
from benchmarks.eval.config import EvalConfig
from benchmarks.eval.manifest import build_manifest, check_or_write, env_entry
from benchmarks.eval.pool import played_in_pool
from benchmarks.eval.records import brief
from benchmarks.eval.store import DISK_FULL, FolderLock, ResultsFile, ResultsWriteError, record_key, write_error
from benchmarks.eval.suites import PAPER_EVAL_KEYS, EpisodeKey, Suite, is_synthetic, resolve_suite
from benchmarks.eval.summary import Summary
from benchmarks.eval.worker import EpisodePlayer, Played, PlayerSpec
from spacetools_env import unwrap  # importing the package also registers the envs

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def run_eval(config: EvalConfig, log: Log = _stderr) -> Summary:
    """Evaluate ``config.agent`` on ``config.suite`` into ``config.out``, resuming what is there.

    Raises:
        ValueError: an unknown suite or id, too few items, or (``ManifestMismatchError``) a folder
            holding a different run's results.
        ResultsLockedError: another run is writing to the folder.
        ResultsCorruptError: a damaged line other than the last in ``results.jsonl``.
        FileNotFoundError: a benchmark's local copy is missing (the message says how to get it).
        ResultsWriteError: the folder cannot be written; ``ResultsDiskFullError`` when its disk is full.
    """
    started = time.perf_counter()
    suite = resolve_suite(config.suite, config.episodes)
    check_agent(config.agent, config.agent_kwargs)  # an unknown agent or keyword: before any process starts
    keys, spec, entries = _plan(config, suite)  # before touching the folder: missing data fails here
    # In this process the agent is built before the folder too, so a value its constructor refuses
    # leaves no manifest behind that would refuse the corrected command as "a different run".
    player = EpisodePlayer(spec) if config.workers == 1 else None
    try:
        with _disk_full_is_clear(config.out):
            config.out.mkdir(parents=True, exist_ok=True)
            summary = _run_in_folder(config, suite, keys, (spec, player), entries, log, started)
            summary.save(config.summary_path)
    finally:
        if player is not None:
            player.close()
    return summary


@contextlib.contextmanager
def _disk_full_is_clear(folder: Path) -> Iterator[None]:
    """A full disk while writing the folder's files (lock, manifest, summary) as an error naming the folder."""
    try:
        yield
    except ResultsWriteError:
        raise
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        raise write_error(folder, exc, "the run's files") from exc


def _run_in_folder(
    config: EvalConfig,
    suite: Suite,
    keys: list[EpisodeKey],
    players: tuple[PlayerSpec, EpisodePlayer | None],
    entries: list[dict[str, Any]],
    log: Log,
    started: float,
) -> Summary:
    """Lock the folder, check the manifest, resume ``results.jsonl`` and play what is missing."""
    with FolderLock(config.out):
        check_or_write(config.manifest_path, build_manifest(config, suite, entries))
        with ResultsFile.open(config.results_path) as results:
            found = results.recovered
            if found.torn_bytes:
                log(f"{results.path}: dropped a torn last line ({found.torn_bytes} bytes, a record cut off by a kill)")
            if found.duplicates:
                log(f"{results.path}: {len(found.duplicates)} keys appear twice; the first record of each counts")
            planned = set(keys)
            extra = [k for k in found.keys if k not in planned]
            if extra:
                log(f"{results.path}: {len(extra)} records are not in this suite and are ignored (e.g. {extra[0].id})")
            done = [brief(r) for r in found.records if record_key(r) in planned]
            pending = [k for k in keys if k not in found.keys]
            if done:
                log(f"resuming: {len(done)}/{len(keys)} episodes already recorded, {len(pending)} to play")
            new, failed, timing = _play_all(config, suite, players, pending, results, done)
    timing["run_wall_s"] = time.perf_counter() - started
    return Summary(
        suite=suite.name,
        suite_version=suite.version,
        agent=config.agent,
        out=str(config.out),
        expected=len(keys),
        recorded=len(done) + len(new),
        resumed=len(done),
        played=len(new),
        torn_bytes=found.torn_bytes,
        failed=tuple(failed),
        stats=summarize(done + new),
        timing=timing,
    )


def _plan(config: EvalConfig, suite: Suite) -> tuple[list[EpisodeKey], PlayerSpec, list[dict[str, Any]]]:
    """Build each env once: its split, item count, eval key and manifest entry; the episode keys in order."""
    keys: list[EpisodeKey] = []
    entries: list[dict[str, Any]] = []
    make_kwargs: dict[str, dict[str, Any]] = {}
    eval_keys: dict[str, str | None] = {}
    synthetic: set[str] = set()
    for env_id in suite.env_ids:
        kwargs = dict(config.env_kwargs)
        if is_synthetic(env_id):
            synthetic.add(env_id)
            kwargs["difficulty"] = config.difficulty
        if config.data_dir is not None:
            kwargs["data_dir"] = config.data_dir
        split = config.split or suite.split
        if split is not None:
            kwargs["split"] = split
        env = gym.make(env_id, **kwargs)
        try:
            raw = unwrap(env)
            split = split or raw.config.split
            kwargs["split"] = split
            available = raw.source.num_items(split)
            count = available if suite.episodes is None else suite.episodes
            if count > available:
                raise ValueError(
                    f"{env_id} has {available} items in split {split!r}, the suite asks for {count}; "
                    f"pass --episodes {available} or less"
                )
            entries.append(env_entry(env, kwargs, split, count))
            eval_keys[env_id] = PAPER_EVAL_KEYS.get(env_id, raw.family.eval_key)
        finally:
            env.close()
        make_kwargs[env_id] = kwargs
        keys += [EpisodeKey(env_id, split, i) for i in range(count)]
    spec = PlayerSpec(
        agent=config.agent,
        agent_kwargs=dict(config.agent_kwargs),
        seed=config.seed,
        make_kwargs=make_kwargs,
        eval_keys=eval_keys,
        synthetic=frozenset(synthetic),
        batch_size=config.batch_size,
        imports=suite.imports,
    )
    return keys, spec, entries


def _play_all(
    config: EvalConfig,
    suite: Suite,
    players: tuple[PlayerSpec, EpisodePlayer | None],
    pending: Sequence[EpisodeKey],
    results: ResultsFile,
    done: list[dict[str, Any]],
) -> tuple[list[dict[str, Any]], list[tuple[str, str]], dict[str, float]]:
    """Play ``pending``, appending each record as it finishes; returns briefs, failures and timing sums."""
    new: list[dict[str, Any]] = []
    failed: list[tuple[str, str]] = []
    timing = {"env_s": 0.0, "tools_s": 0.0, "agent_s": 0.0, "wall_s": 0.0}
    scores = [float(r["score"]) for r in done if r.get("score") is not None]
    total = sum(scores)
    bar = tqdm(
        total=len(done) + len(pending),
        initial=len(done),
        desc=f"eval {suite.name}",
        unit="ep",
        disable=not config.progress,
        dynamic_ncols=True,
    )
    try:
        for played in _played(config, players, pending):
            if played.line is None or played.brief is None:  # both are set, or neither
                failed.append((played.key.id, str(played.error)))
                bar.write(f"episode {played.key.id} failed: {played.error}", file=sys.stderr)
            else:
                results.append(played.line)
                new.append(played.brief)
                for name, value in played.brief["timing"].items():
                    if name in timing or isinstance(value, int):  # seconds, and an API agent's integer usage
                        timing[name] = timing.get(name, 0) + value
                if played.brief.get("score") is not None:
                    total += float(played.brief["score"])
                    scores.append(float(played.brief["score"]))
                bar.set_postfix(score=f"{total / len(scores):.3f}" if scores else "-", refresh=False)
            bar.update()
    finally:
        bar.close()
    return new, failed, timing


def _played(
    config: EvalConfig, players: tuple[PlayerSpec, EpisodePlayer | None], pending: Sequence[EpisodeKey]
) -> Iterator[Played]:
    """Finished episodes, in completion order: in this process, or from a pool of worker processes."""
    if not pending:
        return
    spec, player = players
    if player is not None:
        yield from player.play_many(pending)
        return
    yield from played_in_pool(spec, pending, config.workers)
