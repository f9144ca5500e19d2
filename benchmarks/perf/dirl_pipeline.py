"""Wall time of the DIRL pipeline per step, and each GRPO step's split: generation, env and tools, update.

Runs a DIRL config (the shipped ``tiny`` by default; ``--short``: the test suite's shortened tiny, a
few steps and episodes per stage) into a run folder and reads back what the run itself wrote:
``timing.json`` (wall seconds per step and per held-out evaluation) and each GRPO step's
``metrics.jsonl`` (``rollout/policy_s``, ``rollout/env_s``, ``rollout/tools_s``, ``rollout/rollout_s``
and ``rollout/step_s``, per optimizer step; :mod:`agents.dirl.grpo`). The split is
:func:`benchmarks.perf.grpo_step.report`'s: median and worst seconds of the model's turns, the envs,
the tools and the update (the step minus the rollout: TRL's scoring, loss, backward, optimizer),
with each part's share of the median step; the first logged step is a warm-up and left out when
there are more than two. ``--from DIR`` reads an existing run folder without running anything.
Torch runs on ``--threads`` threads (1 by default: set explicitly, the machine is shared).

    python benchmarks/perf/dirl_pipeline.py --short              # a few minutes at most on a CPU
    python benchmarks/perf/dirl_pipeline.py --out runs/dirl-tiny  # the whole tiny pipeline, kept
    python benchmarks/perf/dirl_pipeline.py --from runs/dirl-tiny # the figures of a finished run
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks.perf.grpo_step import report

GRPO_FOLDERS = ("1-pointing-grpo", "4-grpo", "A-grpo-from-base")


def shortened(data: dict[str, Any]) -> dict[str, Any]:
    """The shipped tiny config cut as the test suite cuts it (tests/test_dirl_pipeline.py ``_shortened_tiny``)."""
    data["step0_data"]["episodes_per_env"] = 4
    data["step0"].update(max_steps=4, save_steps=2, logging_steps=1)
    for key in ("step1", "step4"):
        data[key].update(max_steps=2, rows_per_env=4, save_steps=1, max_completion_length=320)
    data["step2"].update(episodes_per_env=3, policy_episodes_per_env=2)
    data["step3"].update(max_steps=4, save_steps=2, logging_steps=1)
    data["eval"].update(episodes=2)
    return data


def grpo_rows(lines: Sequence[Mapping[str, Any]]) -> list[dict[str, float]]:
    """Per logged optimizer step, the seconds of each part (``report``'s rows); the warm-up dropped when > 2."""
    rows = []
    for line in lines:
        if not isinstance(line.get("rollout/step_s"), int | float):
            continue
        row = {part: float(line.get(f"rollout/{part}", 0.0)) for part in ("policy_s", "env_s", "tools_s", "rollout_s")}
        row["step_s"] = float(line["rollout/step_s"])
        row["update_s"] = row["step_s"] - row["rollout_s"]
        rows.append(row)
    return rows[1:] if len(rows) > 2 else rows


def figures(run: Path) -> str:
    """The printed figures of the run folder ``run``."""
    from agents.dirl.common import read_metrics

    timing = json.loads((run / "timing.json").read_text(encoding="utf-8"))
    steps = {k: v for k, v in timing.items() if not k.startswith("eval/")}
    evals = {k: v for k, v in timing.items() if k.startswith("eval/")}
    lines = [f"run folder {run}", f"{'step':>28} {'wall s':>8}"]
    lines += [f"{name:>28} {seconds:>8.1f}" for name, seconds in steps.items()]
    lines.append(f"{'evaluations, all':>28} {sum(evals.values()):>8.1f}")
    lines += [f"{name:>28} {seconds:>8.1f}" for name, seconds in evals.items()]
    lines.append(f"{'total':>28} {sum(timing.values()):>8.1f}")
    for folder in GRPO_FOLDERS:
        rows = grpo_rows(read_metrics(run / folder / "metrics.jsonl"))
        if rows:
            lines += ["", f"{folder}: one GRPO step, {len(rows)} logged steps", report(rows)]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="tiny", help="tiny (default), or a DIRL config file")
    parser.add_argument("--short", action="store_true", help="the test suite's shortened tiny config")
    parser.add_argument("--out", help="run folder (default: a temporary one, removed afterwards)")
    parser.add_argument("--from", dest="source", help="only read the figures of this finished run folder")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if args.source:
        print(figures(Path(args.source)))
        return
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import torch

    torch.set_num_threads(args.threads)
    from agents.dirl.config import PRESETS_DIR, dirl_config_from_dict
    from agents.dirl.pipeline import run_pipeline

    path = PRESETS_DIR / f"{args.config}.json" if args.config in ("tiny", "paper") else Path(args.config)
    data = json.loads(path.read_text(encoding="utf-8"))
    config = dirl_config_from_dict(shortened(data) if args.short else data, str(path))
    with tempfile.TemporaryDirectory(prefix="dirl-perf-") as scratch:
        out = Path(args.out) if args.out else Path(scratch) / "run"
        started = time.perf_counter()
        run_pipeline(config, out, progress=False)
        wall = time.perf_counter() - started
        print(f"DIRL pipeline {config.name!r}{' (shortened)' if args.short else ''}: {wall:.1f} s wall in this call, "
              f"{args.threads} thread(s), ablation {'on' if config.ablation else 'off'}, "
              f"faults {'on' if config.faults else 'off'}")
        print(figures(out))


if __name__ == "__main__":
    main()
