"""The eval runner: agent x suite -> ``results.jsonl``, ``manifest.json`` and ``summary.json``.

    from benchmarks.eval import EvalConfig, run_eval

    summary = run_eval(EvalConfig(agent="tool-program", suite="synth", out="runs/synth", workers=4))
    print(summary.format())

Same as ``spacetools eval --agent tool-program --suite synth --out runs/synth --workers 4``.
Killed at any point (``kill -9`` included), the same command resumes where it stopped.
"""

from __future__ import annotations

from benchmarks.eval.aggregate import RULES, summarize
from benchmarks.eval.config import EvalConfig
from benchmarks.eval.manifest import ManifestMismatchError
from benchmarks.eval.runner import run_eval
from benchmarks.eval.store import (
    ResultsCorruptError,
    ResultsDiskFullError,
    ResultsLockedError,
    ResultsWriteError,
    read_results,
)
from benchmarks.eval.suites import PAPER_EVAL_KEYS, EpisodeKey, Suite, resolve_suite
from benchmarks.eval.summary import Summary

__all__ = [
    "PAPER_EVAL_KEYS",
    "RULES",
    "EpisodeKey",
    "EvalConfig",
    "ManifestMismatchError",
    "ResultsCorruptError",
    "ResultsDiskFullError",
    "ResultsLockedError",
    "ResultsWriteError",
    "Suite",
    "Summary",
    "read_results",
    "resolve_suite",
    "run_eval",
    "summarize",
]
