"""The leaderboard: validate submissions (re-scoring every episode), never trusting reported scores.

A submission is a directory::

    results.jsonl    one record per episode, as `spacetools eval` writes it (JSON lines)
    manifest.json    the run's manifest, as `spacetools eval` writes it
    submission.json  {"model", "agent", "tools", "contact"} (+ optional "url", "notes", "date", "files")

    from benchmarks.leaderboard import validate_submission

    report = validate_submission("runs/my-model", data_dir="~/data")
    print(report.format())      # OK / REJECTED, every problem, the re-scored summary

Same as ``spacetools leaderboard validate runs/my-model --data-dir ~/data`` (exit status 0/1).
Limits: :class:`~benchmarks.leaderboard.limits.Limits` (results.jsonl <= 256 MB, a record <= 1 MB,
manifest.json <= 4 MB, submission.json <= 64 KB, <= 512 MB and 64 files in all; per record at
most 32 levels of nesting, 64 turns, 64 images, ...) and the make-option limits beside it. Strict
JSON only (:mod:`benchmarks.leaderboard.strict_json`): pickle-like files (``.pkl``, ``.pickle``,
``.npz``, ``.pt``, ...; any other file by content) and object ``.npy`` arrays are rejected
unopened; symlinks are rejected. ``validate_submission(path, suite="synth")`` accepts only
submissions of that suite.
"""

from __future__ import annotations

from benchmarks.leaderboard.limits import Limits
from benchmarks.leaderboard.report import Problem, ValidationReport
from benchmarks.leaderboard.validate import validate_submission

__all__ = ["Limits", "Problem", "ValidationReport", "validate_submission"]
