"""``validate_submission``: accept or reject a leaderboard submission, re-scoring every episode.

Order of checks (each failure is a :class:`~benchmarks.leaderboard.report.Problem` naming the
file and line or record; checking goes on so one run lists every problem it can):

1. The directory: no symlinks, no pickles (by content, any protocol) or object ``.npy`` files,
   no oversized contents.
2. ``submission.json`` (fields and types) and ``manifest.json``: strict JSON
   (:mod:`~benchmarks.leaderboard.strict_json`: what validates, the site can read and write);
   the manifest's suite is the one the operator named (``suite=``) or one of the registry's,
   its make options are within the documented limits and no value in it selects code
   (:mod:`~benchmarks.leaderboard.manifest_checks`), all before any env is built.
3. The suite: the manifest's suite resolved with today's code must have the same version.
4. ``results.jsonl``, line by line: size, strict JSON, record schema and complexity limits
   (:class:`~benchmarks.leaderboard.limits.Limits`), duplicate keys, keys outside the suite;
   then episodes of the suite that are missing.
5. Every record re-scored from its last action against the item rebuilt from the env, its
   turns, end and tool calls checked against what its actions imply
   (:mod:`benchmarks.leaderboard.actions`), and with ``replay=True`` replayed in the env.
6. ``submission.json`` "tools" against the tools the trajectories call.

The re-scored records (reported scores replaced, item facts rebuilt) are aggregated with
:func:`benchmarks.eval.aggregate.summarize`.

Synthetic items are re-scored against answer keys (:mod:`benchmarks.leaderboard.answer_keys`):
built by the validator from the env (in ``workers`` processes) and, with ``cache=True``, kept on
disk so a later validation skips rendering. ``cache=False, workers=1`` is the plain path: one
``reset`` per episode, nothing read from or written to disk.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.eval.aggregate import summarize
from benchmarks.eval.store import record_key
from benchmarks.eval.suites import EpisodeKey, is_synthetic, resolve_suite
from benchmarks.leaderboard.actions import declared_tool_problems
from benchmarks.leaderboard.answer_keys import AnswerKeys, default_cache_dir, default_workers
from benchmarks.leaderboard.files import Limits, loads, read_json_file, scan_directory
from benchmarks.leaderboard.manifest_checks import manifest_problems
from benchmarks.leaderboard.metadata import FILENAME as SUBMISSION
from benchmarks.leaderboard.metadata import check_metadata
from benchmarks.leaderboard.report import ValidationReport
from benchmarks.leaderboard.rescore import GroundTruth, SuiteError, frozen_suite, make_kwargs_of
from benchmarks.leaderboard.schema import record_problems

RESULTS = "results.jsonl"
MANIFEST = "manifest.json"


def validate_submission(
    path: str | Path,
    *,
    data_dir: str | None = None,
    limits: Limits | None = None,
    cache: bool = True,
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    log: Callable[[str], None] | None = None,
    replay: bool = False,
    rescore: bool = True,
    suite: str | None = None,
) -> ValidationReport:
    """Check a submission directory and re-score every episode; never trusts a reported score.

    Args:
        path: The submission: ``results.jsonl`` + ``manifest.json`` (as ``spacetools eval`` writes)
            + ``submission.json`` (see :mod:`benchmarks.leaderboard.metadata`).
        data_dir: Local copy of the benchmarks, for suites with benchmark ids (``paper``).
        limits: Size limits (default: :class:`~benchmarks.leaderboard.files.Limits`).
        cache: Keep synthetic answer keys on disk and reuse them (checksummed and spot-checked).
        cache_dir: Where (default: ``$SPACETOOLS_CACHE_DIR``, else ``~/.cache/spacetools``).
        workers: Processes generating synthetic items (default: the CPUs available).
        log: Progress messages (answer keys built, files discarded).
        replay: Also play every episode again in its env with the oracle tools and reject tool
            texts or ``ok`` flags that differ from the record (about one episode's env time each).
        rescore: False: only the cheap checks of the directory, ``submission.json`` and
            ``manifest.json`` (``leaderboard build`` runs them on every submission first).
        suite: The suite this leaderboard validates (``synth``, ``paper`` or comma-separated env
            ids): the manifest must name it, and env ids resolve against it only. None: any suite
            of the registry (``synth``, ``paper``, or SpaceTools ids; never another Gymnasium id).

    Returns:
        The report: ``ok``, the problems, and the summary of the re-scored records.

    Raises:
        ValueError: ``workers`` < 1.
    """
    started = time.perf_counter()
    root = Path(path)
    limits = limits or Limits()
    workers = default_workers() if workers is None else workers
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    log = log or (lambda message: None)
    answer_keys = None
    if cache or workers > 1:
        directory = (cache_dir or default_cache_dir()) if cache else None
        answer_keys = AnswerKeys(directory, workers=workers, log=log)
    report = ValidationReport(path=str(root))
    if root.is_symlink() or not root.is_dir():
        report.add(str(root), "is not a directory (a submission is a directory holding results.jsonl)")
        return report
    scan_directory(root, limits, report)
    _check_submission(root, limits, report)
    manifest = read_json_file(root, MANIFEST, limits.manifest_bytes, report)
    usable = isinstance(manifest, dict) and _check_manifest(manifest, suite, report)
    if not rescore:
        if manifest is not None and not isinstance(manifest, dict):
            report.add(MANIFEST, f"must hold a JSON object, got {type(manifest).__name__}")
        report.seconds = time.perf_counter() - started
        return report
    truth = _ground_truth(manifest, data_dir, answer_keys, report) if usable and isinstance(manifest, dict) else None
    if truth is not None:
        truth.replay = replay
    if manifest is not None and not isinstance(manifest, dict):
        report.add(MANIFEST, f"must hold a JSON object, got {type(manifest).__name__}")
    try:
        records = _read_records(root, limits, report)
        if truth is not None and isinstance(manifest, dict):  # truth is only built from a dict manifest
            _check_and_rescore(records, truth, int(manifest.get("seed", {}).get("base", 0)), report, log)
    finally:
        if truth is not None:
            truth.close()
    report.seconds = time.perf_counter() - started
    return report


def prepare_answer_keys(
    spec: str = "synth",
    episodes: int | None = None,
    *,
    difficulty: str = "medium",
    cache_dir: str | Path | None = None,
    workers: int | None = None,
    log: Callable[[str], None] | None = None,
) -> int:
    """Build (or load and spot-check) a suite's answer keys ahead of submissions, so they validate warm.

    The keys are the ones a validation of a ``spacetools eval --suite spec --episodes episodes
    --difficulty difficulty`` submission reads; run it once per deployed code version.

    Returns:
        How many items have answer keys (the suite's synthetic episodes).

    Raises:
        ValueError: an unknown suite or difficulty, or ``workers`` < 1.
        RuntimeError: the answer keys could not be built (the log says why).
    """
    answer_keys = AnswerKeys(cache_dir or default_cache_dir(), workers=workers, log=log)
    suite = resolve_suite(spec, episodes)
    kwargs = {env_id: {"difficulty": difficulty} for env_id in suite.env_ids if is_synthetic(env_id)}
    truth = GroundTruth(suite, kwargs, None, answer_keys)
    try:
        truth.prepare(truth.expected(), log or (lambda message: None))
        if truth.answer_keys is None:
            raise RuntimeError("the answer keys could not be built; see the log")
        return sum(len(env.entries) for env in answer_keys.envs.values())
    finally:
        truth.close()


def _check_submission(root: Path, limits: Limits, report: ValidationReport) -> None:
    data = read_json_file(root, SUBMISSION, limits.submission_bytes, report)
    if data is None:
        return
    problems = check_metadata(data)
    for problem in problems:
        report.add(SUBMISSION, problem)
    if problems:
        return
    report.submission = data
    for name in data.get("files", []):
        target = (root / name).resolve()
        if not target.is_relative_to(root.resolve()):
            report.add(SUBMISSION, f"files entry {name!r} resolves outside the submission directory")
        elif not target.is_file():
            report.add(SUBMISSION, f"files entry {name!r} is not a file in the submission directory")


def _check_manifest(manifest: dict[str, Any], suite: str | None, report: ValidationReport) -> bool:
    """Whether envs may be built from ``manifest``: its suite, make options and every value, checked as JSON."""
    problems = manifest_problems(manifest, suite)
    for problem in problems:
        report.add(MANIFEST, problem)
    return not problems


def _ground_truth(
    manifest: dict[str, Any], data_dir: str | None, answer_keys: AnswerKeys | None, report: ValidationReport
) -> GroundTruth | None:
    seed = manifest.get("seed")
    if not isinstance(seed, dict) or not isinstance(seed.get("base"), int) or isinstance(seed.get("base"), bool):
        report.add(MANIFEST, "'seed' must be an object with an integer 'base' (as spacetools eval writes)")
        return None
    try:
        suite = frozen_suite(manifest)
        truth = GroundTruth(suite, make_kwargs_of(manifest), data_dir, answer_keys)
    except SuiteError as exc:
        report.add(MANIFEST, str(exc))
        return None
    except (OSError, ValueError, TypeError) as exc:  # the data is missing, or make_kwargs are bad
        report.add(MANIFEST, f"cannot rebuild the suite's envs to re-score: {exc}")
        return None
    report.suite = {"name": suite.name, "version": suite.version, "episodes": len(truth.expected())}
    return truth


def _read_records(root: Path, limits: Limits, report: ValidationReport) -> list[tuple[int, dict[str, Any]]]:
    """(line number, record) of every line that parses and matches the schema."""
    path = root / RESULTS
    if path.is_symlink() or not path.is_file():
        if not path.is_symlink():
            report.add(RESULTS, "is missing; a submission needs the results.jsonl written by spacetools eval")
        return []
    size = path.stat().st_size
    if size > limits.results_bytes:
        report.add(RESULTS, f"is {size} bytes; the limit is {limits.results_bytes} bytes")
        return []
    records = []
    with open(path, "rb") as handle:
        number = 0
        while line := handle.readline(limits.record_bytes + 2):
            number += 1
            where = f"{RESULTS}:{number}"
            if len(line) > limits.record_bytes + 1 or (len(line) > limits.record_bytes and not line.endswith(b"\n")):
                report.add(where, f"the record is longer than the limit of {limits.record_bytes} bytes")
                while line and not line.endswith(b"\n"):  # skip the rest of the long line
                    line = handle.readline(1 << 20)
                continue
            if not line.endswith(b"\n"):
                report.add(where, "the last line does not end with a newline (a run killed mid-write?)")
            end = len(line) - (2 if line.endswith(b"\r\n") else 1 if line.endswith(b"\n") else 0)
            if line.find(b"\r", 0, end) >= 0:
                report.add(where, "holds a carriage return (\\r) inside the line, which text readers take for a line "
                                  "break; spacetools eval writes one record per \\n-terminated line")
                continue
            try:
                record = loads(line, limits.max_depth)
            except (ValueError, UnicodeDecodeError, RecursionError) as exc:
                report.add(where, f"is not valid JSON ({exc})")
                continue
            problems = record_problems(record, limits)
            for problem in problems:
                report.add(where, problem)
            if not problems:
                records.append((number, record))
    report.episodes = number
    return records


def _check_and_rescore(
    records: list[tuple[int, dict[str, Any]]],
    truth: GroundTruth,
    base_seed: int,
    report: ValidationReport,
    log: Callable[[str], None],
) -> None:
    expected = truth.expected()
    wanted = set(expected)
    truth.prepare((key for key in (record_key(r) for _, r in records) if key in wanted), log)
    seen: dict[EpisodeKey, int] = {}
    rescored = []
    for number, record in records:
        key = record_key(record)
        where = f"{RESULTS}:{number} ({key.id})"
        if key.id != record["episode_id"]:
            report.add(where, f"episode_id {record['episode_id']!r} does not match its key {key.id!r}")
        if key in seen:
            report.add(where, f"duplicate record: episode {key.id} is already on line {seen[key]}")
            continue
        seen[key] = number
        if key not in wanted:
            report.add(where, f"extra record: {key.id} is not an episode of suite {truth.suite.name!r}")
            continue
        try:
            brief, problems = truth.rescore(key, record, base_seed)
        except Exception as exc:  # a scorer or item failure is this record's problem, not a crash
            report.add(where, f"cannot be re-scored: {type(exc).__name__}: {exc}")
            continue
        for problem in problems:
            report.add(where, problem)
        rescored.append(brief)
    missing = [k for k in expected if k not in seen]
    if missing:
        shown = ", ".join(k.id for k in missing[:5]) + (", ..." if len(missing) > 5 else "")
        report.add(
            RESULTS,
            f"{len(missing)} episodes of suite {truth.suite.name!r} are missing: {shown} (the eval runner "
            "records no failed episode: re-run the same spacetools eval command to retry them, see summary.json)",
        )
    report.rescored = len(rescored)
    if rescored:
        report.summary = summarize(rescored)
    if rescored and report.submission is not None:
        for problem in declared_tool_problems(report.submission["tools"], truth.used_tools):
            report.add(SUBMISSION, problem)
