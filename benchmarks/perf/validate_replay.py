"""What ``leaderboard validate --replay`` costs: every episode played again vs the normal re-score.

A synthetic submission (the ``synth`` suite played by the tool-program agent, which calls the
oracle tools on every item) is validated in fresh Python processes (no in-process item cache,
imports counted apart), three ways:

* *warm*: the normal validation with a warm answer-key cache (what an operator runs);
* *full*: no answer keys, one ``reset`` per episode (``cache=False, workers=1``): the scene is
  rendered again for every item, the cost a replay cannot avoid;
* *replay*: ``replay=True`` with the same warm cache: re-scored from the answer keys, then every
  episode reset (rendered) and stepped through its recorded actions with the oracle tools.

It prints the median and worst seconds of each, per episode, and the ratios replay/warm and
replay/full. The three re-scored summaries must be identical (the replay only adds checks).

    python benchmarks/perf/validate_replay.py [--per-family 3] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path
from typing import Any

from benchmarks.perf.validate_speed import make_submission, snapshot, timed_validation


def line(label: str, runs: list[dict[str, Any]]) -> float:
    """Print median/worst of ``runs``; returns the median seconds."""
    for run in runs:
        if not run["ok"]:
            raise RuntimeError(f"{label}: the submission was rejected: {run['problems']}")
    seconds = [r["validate_s"] for r in runs]
    median, n = statistics.median(seconds), runs[0]["rescored"]
    print(f"{label}: {n} episodes, median {median:.2f} s, worst {max(seconds):.2f} s over {len(runs)} fresh "
          f"processes ({1000 * median / n:.1f} ms/episode median, {1000 * max(seconds) / n:.1f} worst)")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-family", type=int, default=3, help="synthetic items per family (default 3)")
    parser.add_argument("--repeats", type=int, default=3, help="timed validations per way (default 3)")
    args = parser.parse_args()
    if args.per_family < 1 or args.repeats < 1:
        parser.error("--per-family and --repeats must be >= 1")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        code, folder, cache = snapshot(root / "code"), root / "synth", str(root / "cache")
        eval_s = make_submission(folder, "tool-program", "synth", args.per_family, None)
        print(f"synthetic submission ({args.per_family} items x 9 families, tool-program) written in {eval_s:.1f} s")
        timed_validation(folder, None, code, cache_dir=cache, workers=1)  # fills the answer-key cache
        runs = {
            "warm": [timed_validation(folder, None, code, cache_dir=cache, workers=1) for _ in range(args.repeats)],
            "full": [timed_validation(folder, None, code, cache=False, workers=1) for _ in range(args.repeats)],
            "replay": [timed_validation(folder, None, code, cache_dir=cache, workers=1, replay=True)
                       for _ in range(args.repeats)],
        }
        medians = {
            "warm": line("normal validation, warm answer keys", runs["warm"]),
            "full": line("normal validation, no answer keys (a reset per episode)", runs["full"]),
            "replay": line("--replay, warm answer keys (a reset and every step per episode)", runs["replay"]),
        }
        print(f"ratios (medians): replay/warm {medians['replay'] / medians['warm']:.1f}x, "
              f"replay/full {medians['replay'] / medians['full']:.2f}x")
        summaries = {r["summary"] for group in runs.values() for r in group}
        print(f"re-scored summaries identical: {'yes' if len(summaries) == 1 else 'NO'}")
        n = runs["replay"][0]["rescored"]
        extra = (medians["replay"] - medians["warm"]) / n
        print(f"FIGURE: --replay costs {1000 * extra:.1f} ms per episode over a warm validation "
              f"({medians['replay'] / medians['warm']:.1f}x its time)")
        if len(summaries) != 1:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
