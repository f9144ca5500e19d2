"""Leaderboard validation speed: ``validate_submission`` on 2,121-episode submissions (the paper suite's size).

Two measurements, both honest about what they include (every timed validation runs in a fresh
Python process, so no in-process item cache is warm and imports are counted separately):

1. **Paper-suite shape** (target < 30 s). The nine SpaceTools evaluation keys, 2,121 items in all
   (236 for the first six keys, 235 for the last three), written as evaluation parquets in the
   published schema by replicating the rows of the test fixtures (``tests/fixtures_bench.py``)
   with distinct indices. A real run (:func:`run_eval`, an agent that answers every item without
   tools) writes the submission; validation then rebuilds every item from the parquet (``reset``:
   base64 PNG decode) and re-scores it with the official scorer. Fixture images are 16x12, so
   image decoding is cheaper than on the real release; the ground truth rows, parsing and scoring
   are the real ones.
2. **Synthetic suite** (``--synth-per-family N``, default 6; 236 gives 9 x 236 = 2,124 episodes,
   the full size): the ``synth`` suite played by the tool-program agent, validated three ways:
   *full* (``cache=False, workers=1``: a scene regenerated and rendered per episode, the path
   before answer keys), *cold* (an empty answer-key cache: items generated in ``--workers``
   processes, then stored) and *warm* (the cache the cold run left: items loaded, checksummed,
   one per env regenerated as a spot check). The three re-scored summaries must be identical.

    python benchmarks/perf/validate_speed.py [--repeats 3] [--synth-per-family 6]
    python benchmarks/perf/validate_speed.py --skip-paper --synth-per-family 236   # full size, ~15 min
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PACKAGES = ("agents", "benchmarks", "spacetools_env", "tool_backends")
PAPER_EPISODES = 2121
_TIMED = """
import hashlib, json, sys, time
t0 = time.perf_counter()
from benchmarks.leaderboard import validate_submission
t1 = time.perf_counter()
options = json.loads(sys.argv[3])
messages = []
report = validate_submission(sys.argv[1], data_dir=sys.argv[2] or None, log=messages.append, **options)
t2 = time.perf_counter()
summary = hashlib.sha256(json.dumps(report.summary, sort_keys=True).encode()).hexdigest()[:16]
print(json.dumps({"ok": report.ok, "problems": report.reasons()[:3], "rescored": report.rescored,
                  "import_s": t1 - t0, "validate_s": t2 - t1, "log": messages, "summary": summary}))
"""


class AnswerAgent:
    """Answers every item at once with the fixture's right answer for the key (no tools)."""

    name = "answer-key"

    def act(self, turns: list[Any]) -> list[str]:
        from fixtures_bench import ANSWERS

        from benchmarks.eval.suites import PAPER_EVAL_KEYS

        return [f"<answer>{ANSWERS[PAPER_EVAL_KEYS[t.info['task']['env_id']]][0]}</answer>" for t in turns]

    def end_episode(self, episode_id: str) -> None:
        pass


def paper_counts() -> dict[str, int]:
    from spacetools_env.loaders.spacetools_parquet import KEYS

    base, extra = divmod(PAPER_EPISODES, len(KEYS))
    return {key: base + (1 if i < extra else 0) for i, key in enumerate(KEYS)}


def build_paper_data(root: Path) -> Path:
    """Evaluation parquets for the nine keys with :func:`paper_counts` rows each, fixture rows cycled."""
    from fixtures_bench import fixture_rows, write_rows

    for key, count in paper_counts().items():
        rows = fixture_rows(key)
        replicated = []
        for i in range(count):
            row = json.loads(json.dumps(rows[i % len(rows)]))
            row["extra_info"]["index"] = i
            replicated.append(row)
        write_rows(root / "spacetools-eval-benchmarks" / "data" / f"{key}.parquet", replicated)
    return root


def make_submission(
    out: Path, agent: str, suite: str, episodes: int | None, data_dir: str | None, workers: int = 1
) -> float:
    """Play the suite into ``out`` and add ``submission.json``; returns the eval's wall seconds."""
    from benchmarks.eval import EvalConfig, run_eval
    from benchmarks.leaderboard.actions import called_tools

    start = time.perf_counter()
    config = EvalConfig(
        agent=agent, suite=suite, episodes=episodes, out=out, data_dir=data_dir, workers=workers, progress=False
    )
    summary = run_eval(config, log=lambda message: None)
    if not summary.complete:
        raise RuntimeError(f"the eval did not complete: {summary.failed[:3]}")
    meta = {"model": "perf", "agent": agent, "tools": called_tools(out), "contact": "perf@example.org"}
    (out / "submission.json").write_text(json.dumps(meta))
    return time.perf_counter() - start


def snapshot(root: Path) -> Path:
    """A copy of the code the timed validations import, so an edit made during a long run cannot
    change the answer-key cache's code digest between the cold and the warm runs."""
    for package in (*PACKAGES, "tests"):
        shutil.copytree(REPO / package, root / package, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def timed_validation(folder: Path, data_dir: str | None, code: Path = REPO, **options: Any) -> dict[str, Any]:
    """One validation in a fresh process (no in-process item cache); ``options`` go to ``validate_submission``."""
    env = {"PYTHONPATH": f"{code}:{code / 'tests'}"}
    done = subprocess.run(
        [sys.executable, "-c", _TIMED, str(folder), data_dir or "", json.dumps(options)],
        cwd=code,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(label: str, runs: list[dict[str, Any]], folder: Path) -> float:
    """Print one line for ``runs`` (validations of ``folder``); returns their median seconds."""
    for run in runs:
        if not run["ok"]:
            raise RuntimeError(f"{label}: the submission was rejected: {run['problems']}")
    size = (folder / "results.jsonl").stat().st_size
    median = statistics.median(r["validate_s"] for r in runs)
    n = runs[0]["rescored"]
    imports = statistics.median(r["import_s"] for r in runs)
    print(
        f"{label}: {n} episodes ({size / 1e6:.1f} MB results.jsonl): median validate {median:.2f} s over "
        f"{len(runs)} fresh processes ({1000 * median / n:.1f} ms/episode; import {imports:.2f} s)"
    )
    for line in runs[-1]["log"]:
        if line.startswith("answer keys:"):
            print(f"    {line}")
    return median


def paper(root: Path, repeats: int) -> None:
    data = str(build_paper_data(root / "data"))
    eval_s = make_submission(root / "paper", f"{__name__}:AnswerAgent", "paper", None, data)
    print(f"paper-shaped submission written by run_eval in {eval_s:.1f} s")
    runs = [timed_validation(root / "paper", data, cache=False, workers=1) for _ in range(repeats)]
    median = measure("paper suite shape", runs, root / "paper")
    print(f"FIGURE: validating {runs[0]['rescored']} paper-suite episodes takes {median:.2f} s (target < 30 s)")


def synth(root: Path, args: argparse.Namespace) -> None:
    """Full, cold and warm validations of one synthetic submission; the summaries must agree."""
    folder = root / "synth"
    code = snapshot(root / "code")
    eval_s = make_submission(folder, "tool-program", "synth", args.synth_per_family, None, args.workers)
    print(f"synthetic submission ({args.synth_per_family} items x 9 families) written by run_eval in {eval_s:.1f} s")
    print(f"load average before validating: {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")
    medians = {}
    full = [timed_validation(folder, None, code, cache=False, workers=1) for _ in range(args.baseline_repeats)]
    if full:
        medians["full"] = measure("synth, full path (no answer keys, 1 process)", full, folder)
    cold = [
        timed_validation(folder, None, code, cache_dir=str(root / f"cache-{i}"), workers=args.workers)
        for i in range(args.cold_repeats)
    ]
    medians["cold"] = measure(f"synth, cold answer-key cache ({args.workers} workers)", cold, folder)
    warm_dir = str(root / f"cache-{args.cold_repeats - 1}")
    warm = [timed_validation(folder, None, code, cache_dir=warm_dir, workers=args.workers) for _ in range(args.repeats)]
    medians["warm"] = measure("synth, warm answer-key cache", warm, folder)
    print(f"load average after validating: {os.getloadavg()[0]:.2f} (1 min; other processes slow the cold runs)")
    if any("generated" in line and ", 0 generated" not in line for r in warm for line in r["log"]):
        print("WARNING: a warm run generated items: the code changed during the run, or the cache was discarded")
    summaries = {r["summary"] for r in full + cold + warm}
    print(f"re-scored summaries identical across full/cold/warm: {'yes' if len(summaries) == 1 else 'NO'}")
    n = warm[0]["rescored"]
    if "full" in medians:
        print(
            f"ratios: full/cold {medians['full'] / medians['cold']:.2f}x, "
            f"full/warm {medians['full'] / medians['warm']:.1f}x, cold/warm {medians['cold'] / medians['warm']:.1f}x"
        )
    print(
        f"FIGURE: validating {n} synthetic episodes takes {medians['warm']:.2f} s warm (target < 30 s), "
        f"{medians['cold']:.1f} s cold" + (f", {medians['full']:.1f} s on the full path" if full else "")
    )
    if n < PAPER_EPISODES:
        scale = PAPER_EPISODES / n
        print(
            f"synth, extrapolated linearly to {PAPER_EPISODES} episodes (run --synth-per-family 236 to measure): "
            + ", ".join(f"{k} ~{v * scale:.0f} s" for k, v in medians.items())
            + " (overestimates warm: its spot checks do not grow with the episode count)"
        )
    if len(summaries) != 1:
        raise SystemExit(1)


def main() -> None:
    from benchmarks.leaderboard.answer_keys import default_workers

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed validations per measurement (default 3)")
    parser.add_argument(
        "--synth-per-family", type=int, default=6, help="synthetic items per family (0: skip; 236: full size)"
    )
    parser.add_argument("--cold-repeats", type=int, default=1, help="cold-cache validations (default 1)")
    parser.add_argument(
        "--baseline-repeats", type=int, default=1, help="full-path synthetic validations (default 1; 0: skip)"
    )
    parser.add_argument("--workers", type=int, default=default_workers(), help="processes (default: the CPUs)")
    parser.add_argument("--skip-paper", action="store_true", help="measure the synthetic suite only")
    args = parser.parse_args()
    if args.repeats < 1 or args.cold_repeats < 1 or args.workers < 1:
        parser.error("--repeats, --cold-repeats and --workers must be >= 1")
    sys.path.insert(0, str(REPO / "tests"))  # the fixture builders live with the tests
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        if not args.skip_paper:
            paper(root, args.repeats)
        if args.synth_per_family:
            synth(root, args)


if __name__ == "__main__":
    main()
