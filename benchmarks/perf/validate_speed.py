"""Leaderboard validation speed: ``validate_submission`` on a 2,121-episode submission (the paper suite's size).

Two measurements, both honest about what they include (every timed validation runs in a fresh
Python process, so no item cache is warm and imports are counted separately):

1. **Paper-suite shape** (the figure; target < 30 s). The nine SpaceTools evaluation keys, 2,121
   items in all (236 for the first six keys, 235 for the last three), written as evaluation
   parquets in the published schema by replicating the rows of the test fixtures
   (``tests/fixtures_bench.py``) with distinct indices. A real run (:func:`run_eval`, an agent
   that answers every item without tools) writes the submission; validation then rebuilds every
   item from the parquet (``reset``: base64 PNG decode) and re-scores it with the official scorer.
   Fixture images are 16x12, so image decoding is cheaper than on the real release; the ground
   truth rows, parsing and scoring are the real ones.
2. **Synthetic suite** (``--synth-per-family N``, default 6): the ``synth`` suite, 9 families x N
   items played by the tool-program agent. Re-scoring a synthetic episode must regenerate its
   scene (PyBullet, ~0.1-0.2 s an item), so this part is timed per episode and extrapolated to
   2,121 episodes; generation, not validation, dominates there.

    python benchmarks/perf/validate_speed.py [--repeats 3] [--synth-per-family 6]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PAPER_EPISODES = 2121
_TIMED = """
import json, sys, time
t0 = time.perf_counter()
from benchmarks.leaderboard import validate_submission
t1 = time.perf_counter()
report = validate_submission(sys.argv[1], data_dir=sys.argv[2] or None)
t2 = time.perf_counter()
print(json.dumps({"ok": report.ok, "problems": report.reasons()[:3], "rescored": report.rescored,
                  "import_s": t1 - t0, "validate_s": t2 - t1}))
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


def make_submission(out: Path, agent: str, suite: str, episodes: int | None, data_dir: str | None) -> float:
    """Play the suite into ``out`` and add ``submission.json``; returns the eval's wall seconds."""
    from benchmarks.eval import EvalConfig, run_eval

    start = time.perf_counter()
    config = EvalConfig(agent=agent, suite=suite, episodes=episodes, out=out, data_dir=data_dir, progress=False)
    summary = run_eval(config, log=lambda message: None)
    if not summary.complete:
        raise RuntimeError(f"the eval did not complete: {summary.failed[:3]}")
    meta = {"model": "perf", "agent": agent, "tools": [], "contact": "perf@example.org"}
    (out / "submission.json").write_text(json.dumps(meta))
    return time.perf_counter() - start


def timed_validation(folder: Path, data_dir: str | None) -> dict[str, Any]:
    """One validation in a fresh process (cold caches)."""
    env = {"PYTHONPATH": f"{REPO}:{REPO / 'tests'}"}
    done = subprocess.run(
        [sys.executable, "-c", _TIMED, str(folder), data_dir or ""],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        check=True,
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def measure(label: str, folder: Path, data_dir: str | None, repeats: int) -> list[dict[str, Any]]:
    runs = [timed_validation(folder, data_dir) for _ in range(repeats)]
    for run in runs:
        if not run["ok"]:
            raise RuntimeError(f"{label}: the submission was rejected: {run['problems']}")
    size = (folder / "results.jsonl").stat().st_size
    median = statistics.median(r["validate_s"] for r in runs)
    n = runs[0]["rescored"]
    imports = statistics.median(r["import_s"] for r in runs)
    print(
        f"{label}: {n} episodes ({size / 1e6:.1f} MB results.jsonl): median validate {median:.2f} s over {repeats} "
        f"fresh processes ({1000 * median / n:.1f} ms/episode; import {imports:.2f} s)"
    )
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed validations per submission (default 3)")
    parser.add_argument("--synth-per-family", type=int, default=6, help="synthetic items per family (0: skip)")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO / "tests"))  # the fixture builders live with the tests
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        data = str(build_paper_data(root / "data"))
        eval_s = make_submission(root / "paper", f"{__name__}:AnswerAgent", "paper", None, data)
        print(f"paper-shaped submission written by run_eval in {eval_s:.1f} s")
        paper = measure("paper suite shape", root / "paper", data, args.repeats)
        median = statistics.median(r["validate_s"] for r in paper)
        print(f"FIGURE: validating {paper[0]['rescored']} episodes takes {median:.2f} s (target < 30 s)")
        if args.synth_per_family:
            eval_s = make_submission(root / "synth", "tool-program", "synth", args.synth_per_family, None)
            print(f"synthetic submission written by run_eval in {eval_s:.1f} s")
            synth = measure("synth suite", root / "synth", None, args.repeats)
            per_episode = statistics.median(r["validate_s"] for r in synth) / synth[0]["rescored"]
            print(
                f"synth, extrapolated: {PAPER_EPISODES} episodes x {per_episode:.3f} s = "
                f"{PAPER_EPISODES * per_episode:.0f} s (scene regeneration dominates)"
            )


if __name__ == "__main__":
    main()
