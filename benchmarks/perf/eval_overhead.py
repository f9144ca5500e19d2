"""Eval-runner overhead on cached synthetic episodes: the runner's time against the env's and tools'.

Plays the ``synth`` suite (every built-in family, ``--per-family`` items each; 112 x 9 = 1,008
episodes by default) with the tool-program agent through :func:`benchmarks.eval.run_eval`, in this
process (``workers=1``) so the split is clean. The items are generated once first (a warm-up
pass that fills the process-wide item cache, raised to hold them all), so the runs time the
runner, the env and the tools, not scene generation.

Overhead = the run's wall time - time inside ``env.reset``/``env.step`` (tools included) - time
inside the agent. It holds everything the runner adds: planning and manifest, results-file
repair, record conversion, JSON, one write + fsync per record, progress bar, aggregation and
summary. Target: under 10% of the env + tools time. Each run writes a fresh folder; medians over
``--repeats`` runs are printed.

    python benchmarks/perf/eval_overhead.py [--per-family 112] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any


def warm_cache(per_family: int) -> float:
    """Generate every item of the suite once, in this process; returns the seconds it took."""
    import gymnasium as gym

    from benchmarks.eval.suites import synth_ids
    from spacetools_env import unwrap

    start = time.perf_counter()
    for env_id in synth_ids():
        env = gym.make(env_id, split="test", difficulty="medium")
        for index in range(per_family):
            unwrap(env).source.get("test", index)
        env.close()
    return time.perf_counter() - start


def one_run(per_family: int, out: Path, progress: bool) -> dict[str, Any]:
    from benchmarks.eval import EvalConfig, run_eval

    config = EvalConfig(agent="tool-program", suite="synth", episodes=per_family, out=out, workers=1, progress=progress)
    start = time.perf_counter()
    summary = run_eval(config)
    wall = time.perf_counter() - start
    records = [json.loads(line) for line in config.results_path.read_text().splitlines()]
    sums: dict[str, float] = defaultdict(float)
    per_family_env: dict[str, float] = defaultdict(float)
    for r in records:
        for name, value in r["timing"].items():
            sums[name] += value
        per_family_env[r["family"]] += r["timing"]["env_s"]
    overhead = wall - sums["env_s"] - sums["agent_s"]
    return {
        "episodes": summary.played,
        "mean_score": summary.mean_score,
        "wall_s": wall,
        "env_s": sums["env_s"],
        "tools_s": sums["tools_s"],
        "agent_s": sums["agent_s"],
        "in_episode_s": sums["wall_s"] - sums["env_s"] - sums["agent_s"],
        "overhead_s": overhead,
        "ratio": overhead / sums["env_s"],
        "per_family_env_s": dict(per_family_env),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-family", type=int, default=112, help="items per family (default 112: 1,008 in all)")
    parser.add_argument("--repeats", type=int, default=3, help="timed runs (default 3)")
    parser.add_argument("--progress", action="store_true", help="show the progress bar during the runs")
    args = parser.parse_args()
    # Before spacetools_env is imported: the item cache size is read at import.
    families = 9
    os.environ["SPACETOOLS_CACHE_ITEMS"] = str(
        max(int(os.environ.get("SPACETOOLS_CACHE_ITEMS", "0")), args.per_family * (families + 2))
    )
    import spacetools_env  # noqa: F401

    generation = warm_cache(args.per_family)
    print(f"warm-up: generated the items in {generation:.1f} s (cache {os.environ['SPACETOOLS_CACHE_ITEMS']})")
    runs = []
    with tempfile.TemporaryDirectory(prefix="eval-overhead-") as tmp:
        for repeat in range(args.repeats):
            run = one_run(args.per_family, Path(tmp) / f"run{repeat}", args.progress)
            runs.append(run)
            print(
                f"run {repeat}: {run['episodes']} episodes, wall {run['wall_s']:.2f} s, env+tools {run['env_s']:.2f} s "
                f"(tools {run['tools_s']:.2f} s), agent {run['agent_s']:.3f} s, overhead {run['overhead_s']:.3f} s "
                f"= {100 * run['ratio']:.2f}% of env+tools"
            )
    med = {k: statistics.median(r[k] for r in runs) for k in ("wall_s", "env_s", "tools_s", "agent_s", "overhead_s")}
    ratio = statistics.median(r["ratio"] for r in runs)
    episodes = runs[0]["episodes"]
    print(f"\nmedian of {len(runs)} runs, {episodes} cached synthetic episodes, tool-program agent, workers=1:")
    print(
        f"  wall {med['wall_s']:.2f} s = env+tools {med['env_s']:.2f} s + agent {med['agent_s']:.3f} s "
        f"+ runner overhead {med['overhead_s']:.3f} s ({1e3 * med['overhead_s'] / episodes:.2f} ms/episode)"
    )
    print(f"  runner overhead = {100 * ratio:.2f}% of env+tools time (target < 10%)")
    print(
        f"  of the overhead, inside rollout (bookkeeping between steps): "
        f"{statistics.median(r['in_episode_s'] for r in runs):.3f} s"
    )
    print("  env+tools seconds per family (median):")
    for family in runs[0]["per_family_env_s"]:
        seconds = statistics.median(r["per_family_env_s"][family] for r in runs)
        print(f"    {family:<22}{seconds:8.3f} s  {1e3 * seconds / args.per_family:8.2f} ms/episode")


if __name__ == "__main__":
    main()
