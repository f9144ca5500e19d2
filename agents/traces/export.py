"""Episodes to traces: eval run folders (``results.jsonl``, pixels rebuilt by replay) or in-memory rollouts.

Eval records hold image references, not pixels (:mod:`spacetools_env.episode_json`). The pixels come
back the way the leaderboard's viewer gets them: the env is rebuilt as the run's ``manifest.json``
says and each kept episode is replayed from its recorded actions
(:func:`benchmarks.leaderboard.replay.replay`); an episode whose replayed tool texts or score differ
from the record is refused, since its images could not be trusted either. Filters run on the
records first (scores, then the mix), so only the episodes written are replayed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agents.traces.dataset_dir import Written, write_dataset
from agents.traces.filters import CORRECT, MixReport, mix, passes
from agents.traces.trace import Trace, TraceError, trace_from_messages
from benchmarks.eval.store import ResultsCorruptError, read_results
from benchmarks.eval.suites import import_env_module
from benchmarks.leaderboard.replay import replay
from benchmarks.leaderboard.rescore import make_kwargs_of, rebuild_env
from spacetools_env import unwrap
from spacetools_env.rollout import Trajectory

RESULTS = "results.jsonl"
MANIFEST = "manifest.json"


def trace_from_trajectory(traj: Trajectory, source: str = "rollout", agent: str | None = None) -> Trace:
    """The trace of an in-memory episode (:func:`spacetools_env.rollout.rollout`, a trainer's rollout).

    Its messages hold the pixels; the tool schemas are the env's ``info["tools"]``.
    """
    task = traj.info.get("task", {})
    meta = {**task, "source": source, "agent": agent, "score": traj.info.get("score"), "seed": task.get("seed")}
    return trace_from_messages(traj.messages, lambda part: part["image"], list(traj.info.get("tools") or []), meta)


def trace_from_record(record: Mapping[str, Any], env: gym.Env, source: str) -> Trace:
    """The trace of one eval record, its images rebuilt by replaying it in ``env`` (made for its env id).

    Raises:
        TraceError: the replay differs from the record, or an image is not the recorded shape.
    """
    replayed = replay(env, record)
    where = f"{source}: episode {record.get('episode_id')}"
    if replayed.differences:
        raise TraceError(f"{where}: replaying it in the env does not give the recorded episode "
                         f"({replayed.differences[0]}); its images cannot be rebuilt, re-run the eval with this code")

    def image_of(part: Mapping[str, Any]) -> np.ndarray:
        index = part.get("index")
        if not isinstance(index, int) or not 0 <= index < len(replayed.images):
            raise TraceError(f"{where}: image reference {part.get('ref')!r} names image {index!r}, the replay has "
                             f"{len(replayed.images)}; the record does not match its env")
        pixels = replayed.images[index]
        if list(np.shape(pixels)) != list(part.get("shape") or []):
            raise TraceError(f"{where}: image {index} replays as {list(np.shape(pixels))}, the record says "
                             f"{part.get('shape')}; the record does not match its env")
        return pixels

    key = record["key"]
    meta = {"source": source, "env_id": key["env_id"], "split": key["split"], "index": key["index"],
            "seed": record.get("seed"), "family": record.get("family"), "agent": record.get("agent"),
            "score": record.get("score")}
    return trace_from_messages(record["trajectory"]["messages"], image_of, unwrap(env).tool_schemas, meta)


@dataclass
class Run:
    """One eval run folder: its manifest and records."""

    folder: Path
    manifest: dict[str, Any]
    records: list[dict[str, Any]]

    @property
    def name(self) -> str:
        return self.folder.resolve().name

    @classmethod
    def open(cls, folder: Path) -> Run:
        """Raises: TraceError: not a ``spacetools eval`` output folder, or its files are damaged."""
        if not (folder / RESULTS).is_file() or not (folder / MANIFEST).is_file():
            raise TraceError(f"{folder} holds no {RESULTS} and {MANIFEST}; pass the --out folder of a "
                             "`spacetools eval` run")
        try:
            manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
            records = read_results(folder / RESULTS).records
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, ResultsCorruptError) as exc:
            raise TraceError(f"{folder}: cannot read the run ({exc}); pass the --out folder of a "
                             "`spacetools eval` run") from None
        if not isinstance(manifest, dict):
            raise TraceError(f"{folder / MANIFEST}: not a manifest object; pass a `spacetools eval` folder")
        return cls(folder, manifest, records)

    def traces(self, records: Sequence[Mapping[str, Any]], data_dir: str | None = None) -> Iterator[Trace]:
        """``records`` (of this run) as traces, each env rebuilt once.

        A ``module:EnvId`` suite's modules are imported first, as ``spacetools eval`` imported them
        (they register the ids): export runs you trust, as you would run their ``eval`` command.
        """
        spec = (self.manifest.get("suite") or {}).get("spec")
        for entry in str(spec or "").split(","):
            if ":" in entry:
                import_env_module(entry.strip())
        kwargs = make_kwargs_of(self.manifest)
        envs: dict[str, gym.Env] = {}
        try:
            for record in records:
                env_id = record["key"]["env_id"]
                if env_id not in envs:
                    envs[env_id] = rebuild_env(env_id, kwargs.get(env_id, {}), None, data_dir)
                try:
                    yield trace_from_record(record, envs[env_id], self.name)
                except (KeyError, TypeError, IndexError) as exc:  # a hand-edited or foreign record
                    raise TraceError(
                        f"{self.folder / RESULTS}: episode {record.get('episode_id')!r} is not a complete "
                        f"`spacetools eval` record ({type(exc).__name__}: {exc}); re-run the eval"
                    ) from None
        finally:
            for env in envs.values():
                env.close()


@dataclass
class ExportReport:
    """What :func:`export_runs` kept and wrote."""

    written: Written
    fmt: str
    kept: dict[str, tuple[int, int]] = field(default_factory=dict)
    """Run name -> (episodes kept by the score filter, episodes in the run)."""
    min_score: float = CORRECT
    mix: MixReport | None = None

    def format(self) -> str:
        lines = [f"{self.written.rows} traces ({self.fmt}) and {self.written.images} images written to "
                 f"{self.written.folder}/"]
        for name, (kept, total) in self.kept.items():
            lines.append(f"  {name}: {kept} of {total} episodes scored >= {self.min_score:g}")
        if self.mix is not None:
            lines.append(self.mix.format())
        return "\n".join(lines)


def export_runs(
    folders: Sequence[Path], out: Path, fmt: str, *, min_score: float = CORRECT,
    ratio: Sequence[int] | None = None, seed: int = 0, data_dir: str | None = None,
) -> ExportReport:
    """Export the episodes of eval runs scoring at least ``min_score``, mixed at ``ratio`` (one part per run).

    Raises:
        TraceError: a folder is not an eval run, an episode does not replay, or ``out`` is not empty.
        ValueError: an unknown format, a score outside [0, 1], or a ratio with the wrong number of parts.
    """
    runs = [Run.open(Path(f)) for f in folders]
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise TraceError(f"run folders must have distinct names (each is a trace source), got {names}")
    groups, kept, report_mix = _select(names, [run.records for run in runs], min_score, ratio, seed)
    traces = (t for run, group in zip(runs, groups, strict=True) for t in run.traces(group, data_dir))
    return ExportReport(write_dataset(traces, out, fmt), fmt, kept, min_score, report_mix)


def export_trajectories(
    sources: Mapping[str, Sequence[Trajectory]], out: Path, fmt: str, *, min_score: float = CORRECT,
    ratio: Sequence[int] | None = None, seed: int = 0,
) -> ExportReport:
    """:func:`export_runs` for in-memory episodes (a trainer's rollouts): source name -> trajectories.

    Raises:
        TraceError, ValueError: as :func:`export_runs`.
    """
    names = list(sources)
    episodes = [[{"score": t.info.get("score"), "traj": t} for t in sources[n]] for n in names]
    groups, kept, report_mix = _select(names, episodes, min_score, ratio, seed)
    traces = (trace_from_trajectory(e["traj"], source=n) for n, g in zip(names, groups, strict=True) for e in g)
    return ExportReport(write_dataset(traces, out, fmt), fmt, kept, min_score, report_mix)


def _select(
    names: Sequence[str], episodes: Sequence[Sequence[dict[str, Any]]], min_score: float,
    ratio: Sequence[int] | None, seed: int,
) -> tuple[list[list[dict[str, Any]]], dict[str, tuple[int, int]], MixReport | None]:
    """Each source's episodes scoring at least ``min_score`` (by their ``"score"``), then mixed at ``ratio``."""
    if not 0.0 <= min_score <= 1.0:  # also refuses NaN
        raise ValueError(f"--min-score must be in [0, 1] (scores are), got {min_score}; 1 keeps only correct episodes")
    groups = [[e for e in group if passes(e.get("score"), min_score)] for group in episodes]
    kept = {n: (len(g), len(all_)) for n, g, all_ in zip(names, groups, episodes, strict=True)}
    if not any(groups):
        counts = ", ".join(f"{n}: {total} episodes" for n, (_, total) in kept.items())
        raise TraceError(f"no episode scored >= {min_score:g} ({counts}), so there is nothing to export; "
                         "lower --min-score (0 keeps every scored episode)")
    if ratio is None:
        return groups, kept, None
    mixed, report = mix(groups, ratio, seed=seed, names=names)
    return mixed, kept, report
