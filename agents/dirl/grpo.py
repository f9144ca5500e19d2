"""DIRL steps 1 and 4: interactive multi-turn GRPO on TRL's ``GRPOTrainer`` through the rollout function.

::

    config = GRPOStepConfig(model="/ckpt/sft", env_ids=("SpaceTools-Synth-RelativeDepth-v0",), rows_per_env=64, ...)
    final = run_grpo(config, Path("runs/dirl/4-grpo"))   # out/config.json, rows/, metrics.jsonl, trainer/, final/

Step 1 is this function with the pointing tool only (``env_kwargs={"tools": ["roborefer.detect_one"]}``) on
the pointing families; step 4 with every tool (the env's default tools) on all synthetic families. Read
top to bottom: the config, the training rows, the reward functions, the metrics, the trainer, the run.

Decisions:

- **The paper-exact path.** :class:`agents.trl.SpaceToolsRollout` is TRL's ``rollout_func``: the model's
  text goes to ``env.step`` unchanged (``$variables``, 8 calls per turn, 2,048-char tool responses,
  ``Error:`` feedback, the turn budget), the tool turns are masked out of the loss (``env_mask``), and
  the episode budget is ``max_completion_length`` (model and tool tokens, verl's ``max_response_length``).
- **The objective is the env's reward** (:func:`agents.trl.env_reward`: the scorer's score, the shaped
  term and the penalties with the env's own weights, summed over the episode), so GRPO maximizes what
  eval reports and the scorer stays the single source of truth; change the weights with
  ``env_kwargs={"reward_weights": {...}}``, not here. Every component is also a reward function of
  weight 0 (:func:`agents.trl.component_reward`), so TRL logs each one's mean and spread
  (``rewards/component_<name>/mean``, ``.../std``) without it entering the advantage.
- **Metrics under four prefixes** (:class:`StepMetrics`, before :class:`~agents.dirl.common.JsonlMetrics`
  writes the line): ``reward/`` (env reward, score, each component, TRL's total and spread),
  ``tools/`` (calls, errors, failure rate, per tool), ``rollout/`` (turns, answered, completion length,
  the share of groups whose rewards are all equal and the mean within-group spread, which say whether
  GRPO has any signal, and seconds per step in the model's turns, the envs, the tools, the whole
  rollout and the whole step) and ``loss/`` (TRL's loss, KL, entropy, clipping, gradient norm,
  learning rate). TRL's own keys stay in the line beside them.
- **Paper hyperparameters as TRL options** (``run_rl.sh``, notes ``original_system.md`` section 7.2). Defaults
  of :class:`GRPOStepConfig` are the paper's step-4 values: ``rollout.n=5`` is ``num_generations=5``;
  ``data.train_batch_size=64`` prompts with ``ppo_mini_batch_size=64`` (one on-policy update per step)
  is a generation batch of 320 completions per optimizer step: ``per_device_train_batch_size x
  gradient_accumulation_steps x processes = 320`` (the defaults, 4 x 10, on 8 processes; TRL's
  ``steps_per_generation`` defaults to the accumulation steps, ``num_iterations=1``); ``kl_loss_coef=0.01``
  with ``use_kl_loss`` is ``beta=0.01`` (TRL adds the KL to the loss, never to the reward, with the k3
  estimator, verl's ``low_var_kl`` without its clamp); verl's ``token-mean`` loss aggregation is
  ``loss_type="dapo"`` (normalized by the active tokens of the accumulated batch); verl's
  group-std advantage is ``scale_rewards="group"``; ``clip_ratio=0.2`` is TRL's ``epsilon`` (0.2);
  grad clip 1.0; AdamW lr 1e-6, constant, no warmup, weight decay 0.01 (verl's actor defaults);
  ``temperature=1.0``; the vision tower and projector frozen (``freeze_vision_model``); 8,192-token
  episode and turn budgets; 8 turns is the env's own default budget.
- **Groups stay on one process.** ``per_device_train_batch_size x gradient_accumulation_steps`` must be
  a multiple of ``num_generations``, so each process's rollout batch holds whole groups (the within-group
  metrics and the teacher mix are computed per process).
- **A teacher mix, off by default** (``teacher_every``): every k-th completion of a batch is the
  tool-program agent's, forced and scored by the model (:class:`agents.trl.policy.EveryKth`). Not the
  paper: for a tiny model that never writes a valid call, it makes real tools run and group rewards
  differ, so there is a signal to learn from.
- **Images as eval and SFT see them.** The question images of the rows and of the rollout are scaled into
  ``[min_pixels, max_pixels]`` (:func:`agents.models.render.fit_pixels`, the eval agent's defaults), and the
  chat template is resolved as theirs (``chat_template``), so an episode's prompt is the same token ids
  and pixels in SFT, GRPO and eval (on Qwen2.5-VL-3B a 640x480 image is 391 image tokens unscaled, 336
  scaled to 262,144 pixels).
- **Rows are built once** (``out/rows``, a ``datasets`` folder, by the main process first), so a resumed
  or multi-process run does not render every scene again.

Multi-GPU: ``accelerate launch --num_processes 8 -m agents.dirl.grpo --config grpo.json --out DIR`` (data
parallel; each process plays its slice of the prompts with its own copy of the model, and TRL gathers
the rewards for the group advantages). DDP or DeepSpeed ZeRO-2 (``accelerate config``) keeps whole
weights on each GPU, which ``generate`` needs; ZeRO-3 or FSDP shard them and make every generated token
gather the weights (slow). vLLM: TRL's ``use_vllm`` generates single turns from TRL's own prompts and is
not used by this rollout, which generates with ``transformers``' ``generate`` on the trainer's model (in
batches of ``rollout_batch_size`` episodes); for faster generation raise ``rollout_batch_size``, use
more processes, and give the tools their own GPUs through the tool server (``tool_backends``); TRL's
``environment_factory`` path (:mod:`agents.trl.environment`) is the one whose generation TRL runs, so it
can use ``use_vllm=True``, with the protocol differences listed there.

Resume: :func:`run_grpo` continues from the newest ``out/trainer/checkpoint-N``: the weights copied in
place by :func:`restore_weights` (the ``Trainer``'s own load matches no key of a Qwen-VL checkpoint), the
optimizer, scheduler, RNG states and data position by the ``Trainer``; the reference model is always the
starting checkpoint; ``metrics.jsonl`` lines past ``N`` are dropped first. The rollout's samplers are seeded
from the seed, the global step and the position in the batch (:mod:`agents.trl.rollout`), so the resumed
run samples what the uninterrupted run sampled: it is bit-exact on CPU (same weights and metric lines; the
test pins it for one step after checkpoint-1; also checked with 2 accumulation steps, two envs and a
linear schedule). Under DeepSpeed ZeRO-3 the in-place copy does not apply (sharded parameters): resume
with DDP or ZeRO-2. A folder holds one configuration: only ``max_steps`` (train longer) and ``progress``
may differ from the saved one.
"""

from __future__ import annotations

import argparse
import difflib
import json
import logging
import os
import shutil
import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agents.dirl.common import (
    CONFIG,
    JsonlMetrics,
    check_field,
    checkpoint_step,
    finished_run,
    is_int,
    is_number,
    latest_checkpoint,
    load_config,
    save_config,
    save_final,
)
from agents.models.templates import TEMPLATES
from spacetools_env.rewards import COMPONENTS

if TYPE_CHECKING:
    from trl import GRPOTrainer

    from agents.trl import SpaceToolsRollout

TRAINER, METRICS, ROWS = "trainer", "metrics.jsonl", "rows"
LOSS_TYPES = ("dapo", "grpo", "dr_grpo", "bnpo")
"""TRL's token-level GRPO losses (``dapo``: verl's ``token-mean``, the paper's)."""
SCALE_REWARDS = ("group", "batch", "none")
SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine")
POINTING_TOOLS = ("roborefer.detect_one",)
"""Step 1's tool set (``env_kwargs={"tools": list(POINTING_TOOLS)}``)."""
MUTABLE = ("max_steps", "progress")
"""Fields that may differ from a folder's saved config (train longer; show progress or not)."""
TRL_METRICS = {
    "loss": "loss/total",
    "policy_loss": "loss/policy",
    "kl": "loss/kl",
    "entropy": "loss/entropy",
    "grad_norm": "loss/grad_norm",
    "learning_rate": "loss/learning_rate",
    "clip_ratio/region_mean": "loss/clip_ratio",
    "reward": "reward/total",
    "reward_std": "reward/std",
    "frac_reward_zero_std": "rollout/frac_zero_std_groups",
    "completions/mean_length": "rollout/completion_tokens",
    "completions/clipped_ratio": "rollout/truncated",
    "num_tokens": "rollout/tokens_seen",
}
"""TRL's log keys and the prefixed names they are also written under."""
TIMINGS = ("policy_s", "env_s", "tools_s", "rollout_s")
"""``SpaceToolsRollout.timing`` keys, logged per step as ``rollout/<key>`` (with ``rollout/step_s``)."""

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class GRPOStepConfig:
    """One GRPO step (DIRL step 1 or 4). Defaults are the paper's step-4 values (module docstring).

    Attributes:
        model: Checkpoint folder (or hub id) to start from; also the KL reference ("" only until the pipeline
            fills it in).
        env_ids: The envs whose items are the training prompts (registered ids).
        env_kwargs: ``gym.make`` options of every env (step 1: ``{"tools": ["roborefer.detect_one"]}``).
        rows_per_env: Training prompts per env (items ``0 .. rows_per_env - 1`` of ``split``).
        split: The item split of the prompts.
        seed: Seed of the rows' resets, the data order, the samplers and the updates.
        num_generations: Completions per prompt (the GRPO group).
        per_device_train_batch_size: Completions per forward pass on each process.
        gradient_accumulation_steps: Forward passes per optimizer step (and per generation batch).
        learning_rate: AdamW learning rate.
        beta: KL coefficient (the KL to the reference model is a loss term).
        max_steps: Optimizer steps.
        max_completion_length: Tokens per episode after the prompt (model and tool turns).
        max_turn_tokens: New tokens per assistant turn at most.
        temperature: Sampling temperature of the rollouts.
        rollout_batch_size: Episodes generated together.
        save_steps: A checkpoint every this many steps (what a resume starts from).
        logging_steps: A ``metrics.jsonl`` line every this many steps.
        loss_type: One of :data:`LOSS_TYPES`.
        scale_rewards: Advantage scaling, one of :data:`SCALE_REWARDS`.
        lr_scheduler_type: One of :data:`SCHEDULERS`.
        warmup_ratio: Share of ``max_steps`` the learning rate warms up over, in [0, 1).
        weight_decay: AdamW weight decay.
        max_grad_norm: Gradient clipping norm.
        freeze_vision: Freeze the vision tower and projector.
        teacher_every: Every k-th completion of a rollout batch is the tool-program agent's (0: none).
        gradient_checkpointing: Recompute activations in the backward pass (GPUs).
        bf16: Train in bfloat16 mixed precision (GPUs).
        save_total_limit: Checkpoints kept (the newest); None keeps all.
        min_pixels: Smallest question-image area (images are scaled as the eval agent and SFT scale them).
        max_pixels: Largest question-image area (the eval agent's and the original SFT's 262,144).
        chat_template: ``auto``, a shipped family name or a ``.jinja`` file, resolved as the eval agent and SFT
            resolve it (``auto``: the shipped template for Qwen2.5-VL, whose stock one drops tool turns; else the
            checkpoint's), so a prompt renders to the same ids in SFT, GRPO and eval.
        progress: Show the Trainer's progress bar (False: nothing printed per step; metrics.jsonl has it all).
    """

    model: str = ""
    env_ids: tuple[str, ...] = (
        "SpaceTools-Synth-SpatialConfiguration-v0", "SpaceTools-Synth-Compatibility-v0",
        "SpaceTools-Synth-FreeSpace-v0", "SpaceTools-Synth-RelativeDepth-v0", "SpaceTools-Synth-Relation2D-v0",
        "SpaceTools-Synth-Depth3D-v0", "SpaceTools-Synth-RefLocation-v0", "SpaceTools-Synth-RefPlacement-v0",
        "SpaceTools-Synth-BoxPose-v0",
    )
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    rows_per_env: int = 611
    """611 x 9 families = 5,499 prompts, the paper's 5,500: one epoch of 85 steps of 64 prompts."""
    split: str = "train"
    seed: int = 0
    num_generations: int = 5
    per_device_train_batch_size: int = 4
    gradient_accumulation_steps: int = 10
    learning_rate: float = 1e-6
    beta: float = 0.01
    max_steps: int = 85
    max_completion_length: int = 8192
    max_turn_tokens: int = 8192
    temperature: float = 1.0
    rollout_batch_size: int = 8
    save_steps: int = 5
    logging_steps: int = 1
    loss_type: str = "dapo"
    scale_rewards: str = "group"
    lr_scheduler_type: str = "constant"
    warmup_ratio: float = 0.0
    weight_decay: float = 0.01
    max_grad_norm: float = 1.0
    freeze_vision: bool = True
    teacher_every: int = 0
    gradient_checkpointing: bool = False
    bf16: bool = False
    save_total_limit: int | None = 2
    min_pixels: int = 56 * 56
    max_pixels: int = 512 * 512
    chat_template: str = "auto"
    progress: bool = True

    def __post_init__(self) -> None:
        if isinstance(self.env_ids, list):  # read back from JSON
            object.__setattr__(self, "env_ids", tuple(self.env_ids))
        _check(isinstance(self.model, str), "model", self.model, "a checkpoint folder or hub id (a string)")
        _check_env_ids(self.env_ids)
        _check_env_kwargs(self.env_kwargs)
        object.__setattr__(self, "env_kwargs", json.loads(json.dumps(dict(self.env_kwargs))))  # own, plain copy
        _check(isinstance(self.split, str) and bool(self.split), "split", self.split, "an item split name")
        for name in ("rows_per_env", "per_device_train_batch_size", "gradient_accumulation_steps", "max_steps",
                     "max_completion_length", "max_turn_tokens", "rollout_batch_size", "save_steps", "logging_steps"):
            _check(_is_int(getattr(self, name)) and getattr(self, name) >= 1, name, getattr(self, name),
                   "a positive integer")
        _check(_is_int(self.num_generations) and self.num_generations >= 2, "num_generations", self.num_generations,
               "an integer >= 2 (a group needs two completions to compare)")
        for name in ("seed", "teacher_every"):
            _check(_is_int(getattr(self, name)) and getattr(self, name) >= 0, name, getattr(self, name),
                   "a non-negative integer")
        for name in ("learning_rate", "temperature", "max_grad_norm"):
            _check(_is_number(getattr(self, name)) and getattr(self, name) > 0, name, getattr(self, name),
                   "a positive finite number")
        for name in ("beta", "weight_decay"):
            _check(_is_number(getattr(self, name)) and getattr(self, name) >= 0, name, getattr(self, name),
                   "a non-negative finite number")
        _check(_is_number(self.warmup_ratio) and 0.0 <= self.warmup_ratio < 1.0, "warmup_ratio", self.warmup_ratio,
               "a number in [0, 1)")
        for name, allowed in (("loss_type", LOSS_TYPES), ("scale_rewards", SCALE_REWARDS),
                              ("lr_scheduler_type", SCHEDULERS)):
            _check(getattr(self, name) in allowed, name, getattr(self, name), f"one of {list(allowed)}")
        for name in ("freeze_vision", "gradient_checkpointing", "bf16", "progress"):
            _check(isinstance(getattr(self, name), bool), name, getattr(self, name), "true or false")
        _check(self.save_total_limit is None or (_is_int(self.save_total_limit) and self.save_total_limit >= 1),
               "save_total_limit", self.save_total_limit, "a positive integer or null (keep every checkpoint)")
        _check(_is_int(self.min_pixels) and self.min_pixels >= 1, "min_pixels", self.min_pixels, "a positive integer")
        _check(_is_int(self.max_pixels) and self.max_pixels >= self.min_pixels, "max_pixels", self.max_pixels,
               f"an integer >= min_pixels ({self.min_pixels})")
        _check(isinstance(self.chat_template, str) and (self.chat_template in ("auto", *TEMPLATES)
                                                        or self.chat_template.endswith(".jinja")),
               "chat_template", self.chat_template, f"'auto', one of {list(TEMPLATES)} or a .jinja file")
        if self.completions_per_process % self.num_generations:
            raise ValueError(
                f"GRPOStepConfig: per_device_train_batch_size x gradient_accumulation_steps = "
                f"{self.per_device_train_batch_size} x {self.gradient_accumulation_steps} = "
                f"{self.completions_per_process} completions per process per step is not a multiple of "
                f"num_generations={self.num_generations}; change one of them so each process plays whole groups "
                "(the paper: 5 completions per prompt, 320 per step)"
            )

    @property
    def completions_per_process(self) -> int:
        """Completions each process plays per optimizer step (TRL's generation batch on one process)."""
        return self.per_device_train_batch_size * self.gradient_accumulation_steps

    def prompts_per_step(self, num_processes: int = 1) -> int:
        """Prompts per optimizer step on ``num_processes`` processes (the paper: 64)."""
        return self.completions_per_process * num_processes // self.num_generations


_is_int, _is_number = is_int, is_number


def _check(ok: bool, name: str, value: Any, expected: str) -> None:
    check_field(ok, "GRPOStepConfig", name, value, expected)


def _check_env_ids(env_ids: Any) -> None:
    import gymnasium as gym

    import spacetools_env  # noqa: F401  (registers the SpaceTools-* ids)

    _check(isinstance(env_ids, tuple) and bool(env_ids) and all(isinstance(e, str) for e in env_ids), "env_ids",
           env_ids, "a non-empty list of env ids")
    _check(len(set(env_ids)) == len(env_ids), "env_ids", env_ids, "a list without repeats")
    known = sorted(k for k in gym.registry if k.startswith("SpaceTools-"))
    for env_id in env_ids:
        if ":" not in env_id and env_id not in gym.registry:  # "module:Id" is registered by gym.make itself
            close = difflib.get_close_matches(env_id, known, n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"registered: {known}"
            raise ValueError(f"GRPOStepConfig.env_ids: {env_id!r} is not a registered env id; {hint}")


def _check_env_kwargs(env_kwargs: Any) -> None:
    _check(isinstance(env_kwargs, Mapping) and all(isinstance(k, str) for k in env_kwargs), "env_kwargs",
           env_kwargs, "a mapping of gym.make option names to values")
    try:
        json.dumps(dict(env_kwargs))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"GRPOStepConfig.env_kwargs must be JSON data (it is saved with the run): {exc}") from None
    if env_kwargs.get("tool_images"):
        raise ValueError("GRPOStepConfig.env_kwargs: tool_images=True cannot train through the rollout function "
                         "(TRL's forward pass sees the dataset's images only); drop tool_images")


# ---------------------------------------------------------------------------------------------- rows
def training_rows(config: GRPOStepConfig) -> list[dict[str, Any]]:
    """Every env's prompts: items ``0 .. rows_per_env - 1`` of ``split``, env ``e``'s row ``k`` reset with seed
    ``seed + e * rows_per_env + k`` (:func:`agents.trl.episode_rows`), in ``env_ids`` order."""
    from agents.trl import episode_rows

    rows = []
    for number, env_id in enumerate(config.env_ids):
        log.info("GRPO rows: %d of %s", config.rows_per_env, env_id)
        rows += episode_rows(env_id, config.rows_per_env, split=config.split,
                             seed=config.seed + number * config.rows_per_env, env_kwargs=config.env_kwargs,
                             pixels=(config.min_pixels, config.max_pixels))
    return rows


def _dataset(config: GRPOStepConfig, out: Path, args: Any) -> Any:
    """The rows as a ``datasets.Dataset``, built by the main process once and read back from ``out/rows``."""
    from datasets import Dataset, load_from_disk  # type: ignore[import-untyped]

    folder = out / ROWS
    with args.main_process_first(desc="spacetools GRPO rows"):
        if not (folder / "dataset_info.json").is_file():
            staging = out / f".{ROWS}.partial"
            shutil.rmtree(staging, ignore_errors=True)
            Dataset.from_list(training_rows(config)).save_to_disk(str(staging))
            shutil.rmtree(folder, ignore_errors=True)
            os.replace(staging, folder)
        return load_from_disk(str(folder))


# ---------------------------------------------------------------------------------------------- rewards
def reward_functions(num_generations: int) -> tuple[list[Any], list[float]]:
    """TRL's ``reward_funcs`` and ``reward_weights``: the env reward (weight 1), each component (weight 0).

    The env reward's function also logs ``rollout/group_reward_std`` (the mean within-group standard
    deviation of the env reward, the one TRL scales the advantages by; 0: no group has a signal) from the
    process's batch, whose groups are consecutive (TRL repeats each prompt ``num_generations`` times in a
    row).
    """
    from agents.trl import component_reward
    from agents.trl import env_reward as env_episode_reward

    def env_reward(completions: Sequence[Any], env_reward: Sequence[float], log_metric: Any = None,
                   **kwargs: Any) -> list[float | None]:
        if log_metric is not None and len(env_reward) % num_generations == 0:
            groups = [env_reward[i : i + num_generations] for i in range(0, len(env_reward), num_generations)]
            log_metric("rollout/group_reward_std", statistics.fmean(statistics.stdev(g) for g in groups))
        return env_episode_reward(completions, env_reward, log_metric=log_metric, **kwargs)

    funcs = [env_reward, *(component_reward(name) for name in COMPONENTS)]
    return funcs, [1.0] + [0.0] * len(COMPONENTS)


# ---------------------------------------------------------------------------------------------- metrics
def _callback_base() -> type:
    from transformers import TrainerCallback

    return TrainerCallback


class StepMetrics(_callback_base()):  # type: ignore[misc]
    """Adds the prefixed names of TRL's keys (:data:`TRL_METRICS`) and the rollout's seconds to each log entry.

    Runs before :class:`~agents.dirl.common.JsonlMetrics` (callbacks share the entry): ``rollout/<part>``
    is the mean seconds per step since the previous entry of each :data:`TIMINGS` part of ``rollout``, and
    ``rollout/step_s`` of the whole optimizer step; ``reward/<name>/std`` is component ``name``'s spread.
    """

    def __init__(self, rollout: SpaceToolsRollout) -> None:
        self.rollout = rollout
        self.marks = dict(rollout.timing)
        self.step_s = 0.0
        self.steps = 0
        self.started = 0.0

    def on_step_begin(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        self.started = time.perf_counter()

    def on_step_end(self, args: Any, state: Any, control: Any, **_: Any) -> None:
        self.step_s += time.perf_counter() - self.started
        self.steps += 1

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **_: Any) -> None:
        if not logs or "loss" not in logs:  # the end-of-training summary has no step metrics
            return
        for key, name in TRL_METRICS.items():
            if key in logs:
                logs[name] = logs[key]
        for name in COMPONENTS:
            if f"rewards/component_{name}/std" in logs:
                logs[f"reward/{name}/std"] = logs[f"rewards/component_{name}/std"]
        if self.steps:
            timing = self.rollout.timing
            for part in TIMINGS:
                logs[f"rollout/{part}"] = (timing[part] - self.marks.get(part, 0.0)) / self.steps
            logs["rollout/step_s"] = self.step_s / self.steps
        self.marks, self.step_s, self.steps = dict(self.rollout.timing), 0.0, 0


def is_timing(key: str) -> bool:
    """Whether a metrics key is a wall-clock figure (differs between identical runs)."""
    return key.endswith("_s") or "runtime" in key or "per_second" in key or key == "step_time"


# ---------------------------------------------------------------------------------------------- trainer
def grpo_args(config: GRPOStepConfig, out: Path) -> Any:
    """TRL's ``GRPOConfig`` for ``config`` (checkpoints under ``out/trainer``)."""
    import torch
    from trl import GRPOConfig

    return GRPOConfig(
        output_dir=str(out / TRAINER), seed=config.seed, data_seed=config.seed, max_steps=config.max_steps,
        num_generations=config.num_generations, per_device_train_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps, num_iterations=1,
        learning_rate=config.learning_rate, lr_scheduler_type=config.lr_scheduler_type,
        warmup_steps=config.warmup_ratio, weight_decay=config.weight_decay, max_grad_norm=config.max_grad_norm,
        beta=config.beta, loss_type=config.loss_type, scale_rewards=config.scale_rewards,
        max_completion_length=config.max_completion_length, temperature=config.temperature,
        reward_weights=reward_functions(config.num_generations)[1],
        save_strategy="steps", save_steps=config.save_steps, save_total_limit=config.save_total_limit,
        logging_steps=config.logging_steps, report_to="none", disable_tqdm=not config.progress,
        activation_checkpointing=config.gradient_checkpointing, bf16=config.bf16,
        use_cpu=not torch.cuda.is_available(), use_vllm=False, log_completions=False,
    )


def chat_template_text(config: GRPOStepConfig, model_type: str, processor: Any) -> str:
    """The template text the eval agent picks for this checkpoint with ``config.chat_template``.

    Raises:
        ValueError: the choice is the checkpoint's own template and it has none.
    """
    from agents.models.settings import pick_template

    where = f"GRPOStepConfig.model: the checkpoint at {config.model}"
    return pick_template(config.chat_template, model_type, processor, where)[1]


def build_grpo_trainer(config: GRPOStepConfig, out: Path) -> GRPOTrainer:
    """TRL's ``GRPOTrainer`` for ``config``, with the rows in ``out/rows`` and checkpoints under ``out/trainer``;
    nothing is trained.

    The trainer's ``rollout_func`` is the :class:`~agents.trl.SpaceToolsRollout` (close it after training),
    ``spacetools_frozen`` the frozen parameters' names; its callbacks include :class:`StepMetrics`.

    Raises:
        ValueError: ``config.model`` is empty, or the rows are fewer than one step's prompts on this many
            processes.
    """
    from transformers import AutoModelForImageTextToText, AutoProcessor, PrinterCallback
    from trl import GRPOTrainer

    from agents.dirl.sft import freeze_vision
    from agents.tool_program import ToolProgramAgent
    from agents.trl import RolloutConfig, SpaceToolsRollout
    from agents.trl.policy import EveryKth

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # TRL marks rollout_func experimental
    if not config.model:
        raise ValueError("GRPOStepConfig.model is empty; set it to the checkpoint folder to start from")
    args = grpo_args(config, Path(out))  # seeds before the model is built
    needed = config.prompts_per_step(args.world_size)
    if config.rows_per_env * len(config.env_ids) < needed:
        raise ValueError(
            f"GRPOStepConfig: rows_per_env x envs = {config.rows_per_env} x {len(config.env_ids)} prompts is fewer "
            f"than one step's {needed} prompts on {args.world_size} process(es); raise rows_per_env"
        )
    model = AutoModelForImageTextToText.from_pretrained(config.model)
    processor = AutoProcessor.from_pretrained(config.model)
    processor.chat_template = chat_template_text(config, model.config.model_type, processor)
    frozen = freeze_vision(model) if config.freeze_vision else []
    teacher = EveryKth(ToolProgramAgent(), config.teacher_every) if config.teacher_every else None
    rollout = SpaceToolsRollout(
        RolloutConfig(env_kwargs=config.env_kwargs, batch_size=config.rollout_batch_size,
                      max_turn_tokens=config.max_turn_tokens, seed=config.seed,
                      pixels=(config.min_pixels, config.max_pixels)),
        teacher=teacher,
    )
    funcs, _ = reward_functions(config.num_generations)
    trainer = GRPOTrainer(
        model=model, processing_class=processor, reward_funcs=funcs, args=args,
        train_dataset=_dataset(config, Path(out), args), rollout_func=rollout, callbacks=[StepMetrics(rollout)],
    )
    if not config.progress:  # without a progress bar the Trainer prints every log entry instead
        trainer.remove_callback(PrinterCallback)
    trainer.spacetools_frozen = frozen  # type: ignore[attr-defined]
    return trainer


# ---------------------------------------------------------------------------------------------- run
def run_grpo(config: GRPOStepConfig, out: Path) -> Path:
    """Train (resuming from the newest checkpoint under ``out/trainer``) and save ``out/final``; returns it.

    Writes ``out/config.json``, ``out/rows/`` and ``out/metrics.jsonl`` (one line per log entry, with the
    prefixed metrics of :class:`StepMetrics`). A folder already finished with this config is returned at
    once.

    Raises:
        ValueError: ``out`` holds a run of another config (the differing fields are named).
    """
    out = Path(out)
    finished = finished_run(config, out, "a GRPO", MUTABLE)
    if finished is not None:
        return finished
    checkpoint = latest_checkpoint(out / TRAINER)
    save_config(config, out / CONFIG)
    trainer = build_grpo_trainer(config, out)
    trainer.add_callback(JsonlMetrics(out / METRICS, resume_step=checkpoint_step(checkpoint)))
    if checkpoint is not None:
        restore_weights(trainer.model, checkpoint)
        log.info("GRPO: resuming from %s (weights restored; a transformers warning of missing and unexpected keys "
                 "from the Trainer's own load may follow and is expected: see restore_weights)", checkpoint)
    try:
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint is not None else None)
    finally:
        close = getattr(trainer.rollout_func, "close", None)
        if close is not None:
            close()  # the rollout's envs
    return save_final(trainer, out)


def restore_weights(model: Any, checkpoint: Path) -> None:
    """Copy a ``checkpoint-N`` folder's weights into ``model`` in place (the optimizer keeps its parameters).

    Why: ``transformers`` 5 saves Qwen-VL checkpoints under the original key names (``model.layers.*``,
    ``visual.*``) and converts them back in ``from_pretrained``, but the ``Trainer``'s own resume loads the
    file without converting, non-strictly: no key matches, so it warns about missing and unexpected keys and
    the run would silently continue from the starting weights. ``from_pretrained`` reads the checkpoint with
    the conversion; the ``Trainer``'s load that follows then changes nothing (or loads the same values, for
    a model whose keys match).

    Raises:
        RuntimeError: the checkpoint's parameters are not exactly the model's.
    """
    from transformers import AutoModelForImageTextToText

    loaded = AutoModelForImageTextToText.from_pretrained(str(checkpoint))
    model.load_state_dict(loaded.state_dict(), strict=True)


def main(argv: Sequence[str] | None = None) -> Path:
    """``python -m agents.dirl.grpo --config FILE --out DIR`` (also under ``accelerate launch``)."""
    parser = argparse.ArgumentParser(prog="python -m agents.dirl.grpo", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="a JSON file of GRPOStepConfig fields")
    parser.add_argument("--out", required=True, help="the step's folder (resumed when it holds a checkpoint)")
    args = parser.parse_args(argv)
    path = Path(args.config)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise SystemExit(f"{path}: cannot read a JSON config ({exc})") from None
    final = run_grpo(load_config(GRPOStepConfig, data, str(path)), Path(args.out))
    print(final)
    return final


if __name__ == "__main__":
    main()
