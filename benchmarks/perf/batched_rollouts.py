"""Batched rollouts: episodes per second of the driver at batch size 1 against 8, on cached items.

Plays ``--per-family`` items of every built-in synthetic family through
:class:`~spacetools_env.batch_rollout.BatchRollout` with one agent (the tool-program agent by
default, so the figure is the env and tools' own overhead; pass ``--agent hf --agent-kwargs
'{"model": PATH}'`` to time a model agent the same way). A first untimed pass generates every
item (the process-wide item cache, sized to hold them all), so the timed passes measure rollouts,
not scene generation; each pass gets fresh envs, built before its clock starts, so every tool
cache starts cold as in an eval (each item played once). Batch sizes alternate within each
repeat so machine noise hits them alike. Printed per batch size: median and worst episodes/s
over ``--repeats``, and the split of the time into agent (``agent.act``), env (``reset``/``step``
without the tools), tools (the env's ``timing["tools_s"]``) and driver (the rest); then the
ratio of the medians against the first batch size, and the worst ratio (worst of the larger
size over the best of the first).

    python benchmarks/perf/batched_rollouts.py [--batch-sizes 1,8] [--per-family 16] [--repeats 5]
    python benchmarks/perf/batched_rollouts.py --short   # a sanity check in a few seconds
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported in the functions: the item cache's size is read when spacetools_env is
    from spacetools_env.batch_rollout import BatchRollout, WorkItem


def work_items(per_family: int) -> list[WorkItem]:
    """Items ``0..per_family-1`` of the test split of every synthetic family, seeded by position."""
    from benchmarks.eval.suites import synth_ids
    from spacetools_env.batch_rollout import WorkItem

    return [
        WorkItem(f"{env_id}/test/{i}", env_id, seed=i, options={"index": i, "split": "test"})
        for env_id in synth_ids()
        for i in range(per_family)
    ]


def one_pass(driver: BatchRollout, work: Sequence[WorkItem]) -> dict[str, float]:
    """Play ``work`` once; wall seconds, summed agent, env (tools excluded) and tool seconds, failures."""
    from spacetools_env import unwrap

    start = time.perf_counter()
    agent_s = env_s = tools_s = 0.0
    failed = 0
    for result in driver.play(work):
        agent_s += result.timing["agent_s"]
        env_s += result.timing["env_s"]
        tools_s += unwrap(result.env).timing["tools_s"]  # inside env_s
        failed += result.error is not None
    wall = time.perf_counter() - start
    return {"wall_s": wall, "agent_s": agent_s, "env_s": env_s - tools_s, "tools_s": tools_s, "failed": failed,
            "eps": len(work) / wall}


def fresh_driver(agent: Any, batch_size: int, work: Sequence[WorkItem]) -> BatchRollout:
    """A driver whose envs are built now (untimed) and new: every tool cache starts cold, as in an eval."""
    import gymnasium as gym

    from spacetools_env.batch_rollout import BatchRollout

    counts: dict[str, int] = {}
    for item in work:
        counts[item.env_key] = counts.get(item.env_key, 0) + 1
    stock = {key: [gym.make(key) for _ in range(min(batch_size, n))] for key, n in counts.items()}
    return BatchRollout(agent, lambda key: stock[key].pop() if stock.get(key) else gym.make(key), batch_size)


def measure(
    agent: str, agent_kwargs: dict[str, Any], batch_sizes: Sequence[int], per_family: int, repeats: int
) -> dict[int, list[dict[str, float]]]:
    """``repeats`` timed passes per batch size, each on fresh envs, after one untimed pass that caches the items."""
    from benchmarks.agents import load_agent

    work = work_items(per_family)
    agents = {size: load_agent(agent, **agent_kwargs) for size in batch_sizes}
    runs: dict[int, list[dict[str, float]]] = {size: [] for size in batch_sizes}
    for repeat in range(repeats + 1):
        for size in batch_sizes:
            driver = fresh_driver(agents[size], size, work)
            try:
                result = one_pass(driver, work)
            finally:
                driver.close()
            if result["failed"]:
                raise RuntimeError(f"{int(result['failed'])} episodes failed at batch size {size}; fix them first")
            if repeat:  # pass 0 generated the items (and warmed the agent)
                runs[size].append(result)
    return runs


def report(runs: dict[int, list[dict[str, float]]], episodes: int) -> str:
    sizes = list(runs)
    base = sizes[0]
    lines = [f"{episodes} episodes per pass, {len(runs[base])} timed passes per batch size"]
    lines.append(f"{'batch':>5} {'median ep/s':>12} {'worst ep/s':>11} {'agent %':>8} {'env %':>6} {'tools %':>8} "
                 f"{'driver %':>9}")
    for size in sizes:
        passes = runs[size]
        wall = sum(p["wall_s"] for p in passes)
        split = {name: 100 * sum(p[name] for p in passes) / wall for name in ("agent_s", "env_s", "tools_s")}
        eps = [p["eps"] for p in passes]
        lines.append(
            f"{size:>5} {statistics.median(eps):>12.1f} {min(eps):>11.1f} {split['agent_s']:>8.1f} "
            f"{split['env_s']:>6.1f} {split['tools_s']:>8.1f} {100 - sum(split.values()):>9.1f}"
        )
    base_eps = [p["eps"] for p in runs[base]]
    for size in sizes[1:]:
        eps = [p["eps"] for p in runs[size]]
        lines.append(
            f"batch {size} / batch {base}: median ratio {statistics.median(eps) / statistics.median(base_eps):.2f}x, "
            f"worst ratio {min(eps) / max(base_eps):.2f}x"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--agent", default="tool-program", help="agent name or module:Class (default tool-program)")
    parser.add_argument("--agent-kwargs", default="{}", metavar="JSON", help="the agent's constructor arguments")
    parser.add_argument("--batch-sizes", default="1,8", help="comma-separated, the first is the baseline")
    parser.add_argument("--per-family", type=int, default=16, help="items per synthetic family (default 16)")
    parser.add_argument("--repeats", type=int, default=5, help="timed passes per batch size (default 5)")
    parser.add_argument("--short", action="store_true", help="2 items per family, 2 passes: a sanity check")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    per_family, repeats = (2, 2) if args.short else (args.per_family, args.repeats)
    # Every item must stay cached, or the passes time scene rendering (read when spacetools_env is imported).
    cached = max(int(os.environ.get("SPACETOOLS_CACHE_ITEMS", "0")), per_family * 9 + 16)
    os.environ["SPACETOOLS_CACHE_ITEMS"] = str(cached)
    runs = measure(args.agent, json.loads(args.agent_kwargs), sizes, per_family, repeats)
    print(f"agent {args.agent} {args.agent_kwargs}")
    print(report(runs, len(work_items(per_family))))


if __name__ == "__main__":
    main()
