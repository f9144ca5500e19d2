"""One GRPO step through the rollout function, split: generation, env, tools, and the update.

TRL's ``GRPOTrainer`` with :class:`agents.trl.SpaceToolsRollout` as its ``rollout_func`` trains the tiny
random-weight Qwen2.5-VL of :mod:`agents.models.tiny` (or ``--model PATH``) on one synthetic family.
A random model never writes a valid tool call, so by default every ``--teacher-every``-th completion of
a batch follows the tool-program agent (its turns are forced and scored by one forward pass, not
generated) so that real tools run. Per step, from a trainer callback and the rollout's own ``timing``:
the step's wall time; the rollout's model turns (rendering, tokens, ``generate``), its envs (reset and
steps without the tools), its tools; and the update (the rest of the step: TRL's scoring, the loss,
backward and the optimizer). Printed: the median and worst seconds of each part over the timed steps
(the first step is a warm-up, untimed) and each part's share of the median step. Torch runs on
``--threads`` threads (1 by default: set explicitly, the machine is shared).

    python benchmarks/perf/grpo_step.py [--steps 8] [--batch 8] [--new-tokens 32]
    python benchmarks/perf/grpo_step.py --short   # a sanity check (under a minute)
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PARTS = ("policy_s", "env_s", "tools_s")
LABELS = {"policy_s": "generation", "env_s": "env", "tools_s": "tools", "update_s": "update", "step_s": "step"}


class EveryKth:
    """The tool-program agent on every ``k``-th completion of a batch; the model samples the others."""

    name = "every-kth"

    def __init__(self, k: int) -> None:
        from agents.tool_program import ToolProgramAgent

        self.k, self.inner = k, ToolProgramAgent()

    def _ours(self, episode_id: str) -> bool:
        return int(episode_id.split(":")[1]) % self.k == 0

    def act(self, turns: Sequence[Any]) -> list[Any]:
        actions = iter(self.inner.act([t for t in turns if self._ours(t.episode_id)]))
        return [next(actions) if self._ours(t.episode_id) else None for t in turns]

    def end_episode(self, episode_id: str) -> None:
        self.inner.end_episode(episode_id)


def measure(model: str, args: argparse.Namespace, out: str) -> list[dict[str, float]]:
    """Train ``args.steps + 1`` steps; the per-step seconds of each part, the warm-up step dropped."""
    from datasets import Dataset  # type: ignore[import-untyped]
    from transformers import AutoModelForImageTextToText, AutoProcessor, TrainerCallback
    from trl import GRPOConfig, GRPOTrainer

    from agents.trl import SpaceToolsRollout, env_reward, episode_rows

    func = SpaceToolsRollout(
        teacher=EveryKth(args.teacher_every) if args.teacher_every else None,
        max_turn_tokens=args.new_tokens, batch_size=args.batch,
    )
    steps: list[dict[str, float]] = []

    class Clock(TrainerCallback):
        def on_step_begin(self, *a: Any, **k: Any) -> None:
            self.start, self.before = time.perf_counter(), dict(func.timing)

        def on_step_end(self, *a: Any, **k: Any) -> None:
            row = {p: func.timing[p] - self.before[p] for p in (*PARTS, "rollout_s")}
            row["step_s"] = time.perf_counter() - self.start
            row["update_s"] = row["step_s"] - row["rollout_s"]
            steps.append(row)

    config = GRPOConfig(
        output_dir=out, use_cpu=True, report_to="none", save_strategy="no", logging_steps=1, disable_tqdm=True,
        per_device_train_batch_size=args.batch, num_generations=args.generations, max_steps=args.steps + 1,
        max_completion_length=args.max_completion_length, learning_rate=1e-3, seed=0,
    )
    rows = episode_rows(args.env_id, args.batch * (args.steps + 1) // args.generations)
    trainer = GRPOTrainer(
        model=AutoModelForImageTextToText.from_pretrained(model), processing_class=AutoProcessor.from_pretrained(model),
        reward_funcs=[env_reward], args=config, train_dataset=Dataset.from_list(rows), rollout_func=func,
        callbacks=[Clock()],
    )
    trainer.train()
    func.close()
    return steps[1:]


def report(steps: Sequence[dict[str, float]]) -> str:
    step = statistics.median(s["step_s"] for s in steps)
    lines = [f"{'part':>10} {'median s':>9} {'worst s':>8} {'share':>6}"]
    for name in (*PARTS, "update_s", "step_s"):
        values = [s[name] for s in steps]
        median = statistics.median(values)
        lines.append(f"{LABELS[name]:>10} {median:>9.3f} {max(values):>8.3f} {median / step:>6.0%}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint folder (default: the tiny Qwen2.5-VL, written on the fly)")
    parser.add_argument("--env-id", default="SpaceTools-Synth-RelativeDepth-v0")
    parser.add_argument("--steps", type=int, default=8, help="timed steps (one more runs first, untimed)")
    parser.add_argument("--batch", type=int, default=8, help="completions per step")
    parser.add_argument("--generations", type=int, default=4, help="GRPO group size")
    parser.add_argument("--new-tokens", type=int, default=32, help="new tokens per turn at most")
    parser.add_argument("--max-completion-length", type=int, default=1024)
    parser.add_argument("--teacher-every", type=int, default=2, help="tool-program completions: every k-th (0: none)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--short", action="store_true", help="2 timed steps of batch 4: a sanity check")
    args = parser.parse_args(argv)
    if args.short:
        args.steps, args.batch = 2, 4
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    import torch

    torch.set_num_threads(args.threads)
    from agents.models.tiny import write_checkpoint

    with tempfile.TemporaryDirectory() as folder:
        model = args.model or str(write_checkpoint("qwen2_5_vl", Path(folder) / "tiny"))
        steps = measure(model, args, str(Path(folder) / "out"))
    print(f"GRPO step through the rollout function: {args.env_id}, {args.batch} completions per step "
          f"(groups of {args.generations}), {args.new_tokens} new tokens per turn, teacher every "
          f"{args.teacher_every or 'none'}, {args.threads} thread(s), {len(steps)} timed steps")
    print(report(steps))


if __name__ == "__main__":
    main()
