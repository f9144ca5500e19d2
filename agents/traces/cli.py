"""The ``spacetools traces export|check`` commands (``benchmarks.cli`` resolves them here by name at run time)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from agents.traces.check import check_dataset
from agents.traces.export import export_runs
from agents.traces.filters import parse_mix
from agents.traces.trace import TraceError


def export_command(args: argparse.Namespace) -> int:
    """Export eval runs; exit status 0 when traces were written, 2 on an error (nothing written)."""
    try:
        ratio = parse_mix(args.mix) if args.mix else None
        report = export_runs(
            [Path(f) for f in args.runs], Path(args.out), args.format, min_score=args.min_score, ratio=ratio,
            seed=args.seed, data_dir=args.data_dir,
        )
    # FileNotFoundError: a benchmark's data is not where the run's env looks (pass --data-dir)
    except (TraceError, ValueError, FileNotFoundError) as exc:
        print(f"spacetools: error: {exc}", file=sys.stderr)
        return 2
    print(report.format())
    return 0


def check_command(args: argparse.Namespace) -> int:
    """Import a trace dataset and report; exit status 0 when every row and image reads back, else 2."""
    try:
        report = check_dataset(Path(args.dir))
    except TraceError as exc:
        print(f"spacetools: error: {exc}", file=sys.stderr)
        return 2
    print(report.format())
    return 0
