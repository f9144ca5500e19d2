"""The transformers agent's turn, split: render, processor, generate, and the env with its tools, at batch 1 and 8.

Writes the tiny random-weight Qwen2.5-VL of :mod:`agents.models.tiny` (or takes ``--model PATH``) and
plays ``--episodes`` items of one synthetic family through
:class:`~spacetools_env.batch_rollout.BatchRollout` at each batch size, ``--new-tokens`` new tokens
per turn at most, items cached by an untimed first pass. Printed per batch size: median and worst
episodes/s over ``--repeats`` passes, and the median milliseconds per turn of each part (the agent's
own ``timing``: chat template rendering, the processor with images from the per-episode cache,
``generate``; the env's ``reset``/``step`` with its tools); then the episodes/s ratio against the first
batch size. Torch runs on ``--threads`` threads (1 by default: set explicitly, the machine is shared).

The generation is the agent's own: each episode's keys and values kept across its turns and prompts
tokenized from their last prefix (``--no-kv-cache``: ``generate`` re-reads each conversation, the
comparison). The agent's pixel bound is the tiny processor's (224*224), so an image is resized once.

    python benchmarks/perf/hf_agent_turns.py [--batch-sizes 1,8] [--episodes 64] [--repeats 3]
    python benchmarks/perf/hf_agent_turns.py --short   # a sanity check (about a minute)
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym

from benchmarks.agents import load_agent
from spacetools_env.batch_rollout import BatchRollout, WorkItem

PARTS = ("render_s", "processor_s", "generate_s", "env_s")


def one_pass(driver: BatchRollout, agent: Any, work: Sequence[WorkItem]) -> dict[str, float]:
    """Play ``work`` once: episodes/s, turns, and the seconds of each part."""
    before = dict(agent.timing)
    start = time.perf_counter()
    env_s, turns = 0.0, 0
    for result in driver.play(work):
        if result.error is not None:
            raise RuntimeError(f"episode {result.work.episode_id} failed: {result.error!r}")
        env_s += result.timing["env_s"]
        turns += result.trajectory.turns if result.trajectory is not None else 0
    wall = time.perf_counter() - start
    parts = {name: agent.timing[name] - before[name] for name in PARTS[:-1]}
    return {"eps": len(work) / wall, "turns": turns, **parts, "env_s": env_s}


def measure(args: argparse.Namespace, model: str) -> dict[int, list[dict[str, float]]]:
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    work = [
        WorkItem(f"ep{i}", args.env_id, seed=i, options={"index": i, "split": "test"}) for i in range(args.episodes)
    ]
    kwargs = {"model": model, "max_turn_tokens": args.new_tokens, "threads": args.threads, "batch_size": max(sizes),
              "max_pixels": args.max_pixels, "kv_cache": not args.no_kv_cache}
    drivers = {size: BatchRollout(load_agent("hf", **kwargs), lambda key: gym.make(key), size) for size in sizes}
    try:
        for driver in drivers.values():
            one_pass(driver, driver.agent, work)  # items generated and cached, weights warm
        runs: dict[int, list[dict[str, float]]] = {size: [] for size in sizes}
        for _ in range(args.repeats):
            for size, driver in drivers.items():  # alternating, so machine noise hits the sizes alike
                runs[size].append(one_pass(driver, driver.agent, work))
        return runs
    finally:
        for driver in drivers.values():
            driver.close()


def report(runs: dict[int, list[dict[str, float]]]) -> str:
    sizes = list(runs)
    header = f"{'batch':>5} {'median ep/s':>12} {'worst ep/s':>11} " + " ".join(f"{p[:-2] + ' ms':>13}" for p in PARTS)
    lines = ["per turn (median over passes):", header]
    for size in sizes:
        passes = runs[size]
        eps = [p["eps"] for p in passes]
        per_turn = [statistics.median(1000 * p[name] / p["turns"] for p in passes) for name in PARTS]
        lines.append(
            f"{size:>5} {statistics.median(eps):>12.2f} {min(eps):>11.2f} " + " ".join(f"{v:>13.1f}" for v in per_turn)
        )
    base = [p["eps"] for p in runs[sizes[0]]]
    for size in sizes[1:]:
        eps = [p["eps"] for p in runs[size]]
        lines.append(
            f"batch {size} / batch {sizes[0]}: median ratio {statistics.median(eps) / statistics.median(base):.2f}x, "
            f"worst ratio {min(eps) / max(base):.2f}x"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="checkpoint folder (default: the tiny Qwen2.5-VL, written to a temp folder)")
    parser.add_argument("--env-id", default="SpaceTools-Synth-RelativeDepth-v0")
    parser.add_argument("--batch-sizes", default="1,8", help="comma-separated, the first is the baseline")
    parser.add_argument("--episodes", type=int, default=64, help="episodes per pass (default 64)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per batch size (default 3)")
    parser.add_argument("--new-tokens", type=int, default=32, help="new tokens per turn at most (default 32)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--max-pixels", type=int, default=224 * 224,
                        help="the agent's image bound (default 224*224, the tiny processor's: one resize per image)")
    parser.add_argument("--no-kv-cache", action="store_true", help="re-read each conversation with generate")
    parser.add_argument("--short", action="store_true", help="8 episodes, 1 pass: a sanity check")
    args = parser.parse_args(argv)
    if args.short:
        args.episodes, args.repeats = 8, 1
    # Every item of a pass stays in the env's item cache (16 by default), so the timed passes measure play,
    # not scene generation. Set before the first reset (spacetools_env.sources reads it at import).
    os.environ.setdefault("SPACETOOLS_CACHE_ITEMS", str(max(64, args.episodes)))
    with tempfile.TemporaryDirectory() as folder:
        model = args.model
        if model is None:  # resolved by name: benchmarks never imports agents statically
            tiny = importlib.import_module("agents.models.tiny")
            model = str(tiny.write_checkpoint("qwen2_5_vl", Path(folder) / "tiny-qwen2_5_vl"))
        runs = measure(args, model)
    print(f"hf agent on {args.model or 'tiny qwen2_5_vl'}, {args.env_id}, {args.episodes} episodes per pass, "
          f"{args.new_tokens} new tokens per turn, {args.threads} torch thread(s), "
          f"kv cache {'off' if args.no_kv_cache else 'on'}")
    print(report(runs))


if __name__ == "__main__":
    main()
