"""GRPO with TRL's ``GRPOTrainer``, unchanged, on a SpaceTools env, through either bridge path.

``--path rollout`` (the paper's exact protocol, as DIRL trains): :class:`agents.trl.SpaceToolsRollout` is
the ``rollout_func``; the model's text goes through ``env.step``. ``--path factory``: TRL's own tool loop
with :func:`agents.trl.environment_class` as the ``environment_factory`` (TRL parses the calls). Without
``--model`` it writes a tiny random-weight checkpoint of the kit (``agents.models.tiny``: Qwen2.5-VL for
the rollout path, Qwen3-VL for the factory path) so it runs offline on a CPU in seconds; the random model
writes noise, so its reward is the env's penalties::

    python examples/grpo_tiny.py --path rollout
    python examples/grpo_tiny.py --path factory --steps 2
    python examples/grpo_tiny.py --path rollout --model Qwen/Qwen2.5-VL-3B-Instruct --max-completion-length 8192
"""

from __future__ import annotations

import argparse
import math
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset
from transformers import AutoModelForImageTextToText, AutoProcessor
from trl import GRPOConfig, GRPOTrainer

import spacetools_env  # noqa: F401  (registers the SpaceTools-* ids)
from agents.models.tiny import write_checkpoint
from agents.trl import (
    SpaceToolsRollout,
    env_reward,
    environment_class,
    episode_rows,
    factory_rows,
    submit_answers,
)
from agents.trl.environment import add_response_parser

FAMILY = {"rollout": "qwen2_5_vl", "factory": "qwen3_vl"}


def train(path: str, model: str, env_id: str, steps: int, max_completion_length: int, out: str) -> list[dict[str, Any]]:
    """``steps`` GRPO steps on ``env_id`` through bridge ``path``; returns TRL's log entries of the steps."""
    policy = AutoModelForImageTextToText.from_pretrained(model)
    processor = AutoProcessor.from_pretrained(model)
    config = GRPOConfig(
        output_dir=out, use_cpu=not torch.cuda.is_available(), report_to="none", save_strategy="no",
        logging_steps=1, per_device_train_batch_size=4, num_generations=4, max_steps=steps,
        max_completion_length=max_completion_length, learning_rate=1e-3,
    )
    rows = 2 * steps
    if path == "rollout":
        trainer = GRPOTrainer(
            model=policy, processing_class=processor, args=config, reward_funcs=[env_reward],
            train_dataset=Dataset.from_list(episode_rows(env_id, rows)), rollout_func=SpaceToolsRollout(),
        )
    else:
        environment = environment_class(env_id)
        trainer = GRPOTrainer(
            model=policy, processing_class=add_response_parser(processor), args=config,
            reward_funcs=[submit_answers], train_dataset=Dataset.from_list(factory_rows(env_id, rows)),
            environment_factory=environment,
        )
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    for entry in logs:
        print(f"step {entry['step']}: loss {entry['loss']:+.4f}, reward {entry['reward']:+.3f}, "
              f"score {entry['reward/score']:.3f}, tool calls/episode {entry['tools/calls_per_episode']:.2f}")
    if not all(math.isfinite(entry["loss"]) for entry in logs):
        raise SystemExit("a loss is not finite")
    return logs


def main(argv: Sequence[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--path", choices=sorted(FAMILY), default="rollout", help="which bridge path")
    parser.add_argument("--model", help="checkpoint folder or hub id (default: a tiny random model of the kit)")
    parser.add_argument("--env-id", default="SpaceTools-Synth-RelativeDepth-v0")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--max-completion-length", type=int, default=128)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (set explicitly; 1 on a shared CPU)")
    args = parser.parse_args(argv)
    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # TRL marks both bridge features experimental
    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as folder:
        model = args.model or str(write_checkpoint(FAMILY[args.path], Path(folder) / "tiny"))
        return train(args.path, model, args.env_id, args.steps, args.max_completion_length, str(Path(folder) / "out"))


if __name__ == "__main__":
    main()
