"""TRL's ``rollout_func``: GRPO on SpaceTools envs through the paper's exact protocol.

::

    from agents.trl import SpaceToolsRollout, env_reward, episode_rows
    rows = episode_rows("SpaceTools-Synth-RelativeDepth-v0", 64)
    trainer = GRPOTrainer(model=model, processing_class=processor, reward_funcs=[env_reward],
                          train_dataset=Dataset.from_list(rows), rollout_func=SpaceToolsRollout(), args=args)

Each call plays the batch's rows (:mod:`agents.trl.rows`) through
:class:`~spacetools_env.batch_rollout.BatchRollout` with the trainer's own model
(:class:`~agents.trl.policy.TokenPolicy`): the model's text goes to ``env.step`` unchanged, so the
paper's protocol holds as in eval (``$variables``, 8 calls per turn, 2,048-char responses, ``Error:``
feedback, 8 turns). It returns ``prompt_ids``, ``completion_ids``, ``logprobs`` and ``env_mask`` (1 on
sampled tokens, 0 on the env's tool turns), and per episode the extra keys TRL passes to the reward
functions (:mod:`agents.trl.rewards`): ``env_reward`` (the sum of the env's step rewards),
``score``, ``reward_components`` (each component summed over the episode), ``tool_calls``,
``tool_errors``, ``tools_by_name`` (calls and errors per tool), ``turns``, ``answered``.

Sampling follows the trainer's ``temperature``, ``top_p`` and ``top_k``; every completion of a batch
has its own generator, seeded from ``seed``, the trainer's global step and its episode id
``<global step>.<call>:<position in the batch>`` (the call counts this object's calls at that global
step, so an eval rollout at the same step samples afresh, while a run resumed from a checkpoint at
step N samples what the uninterrupted run sampled at step N), so a run is reproducible and the
generations of a group differ. The episode budget is the trainer's ``max_completion_length`` (model
and tool tokens, as verl's ``max_response_length``). Generation is ``transformers``' ``generate`` on the trainer's own
model (TRL's ``use_vllm`` is not used by this rollout), in batches of ``RolloutConfig.batch_size``
episodes.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.models.settings import GenerationSettings
from agents.trl.policy import EpisodeTokens, TokenPolicy, to_pil
from agents.trl.rows import parse_prompt
from spacetools_env.batch_rollout import BatchRollout, EpisodeResult, WorkItem
from spacetools_env.rollout import Trajectory


@dataclass(frozen=True)
class RolloutConfig:
    """How :class:`SpaceToolsRollout` plays.

    Attributes:
        env_kwargs: ``gym.make`` options of every env (the same given to ``episode_rows``).
        batch_size: Episodes generated together (``BatchRollout``'s batch).
        max_turn_tokens: New tokens per turn at most (the paper: 8,192; the episode budget binds first).
        seed: Base seed of the per-completion generators.
        pixels: ``(min_pixels, max_pixels)``: the question images are scaled into that area, as the eval agent
            (``agents.models.hf``, its ``min_pixels``/``max_pixels`` options) and SFT scale them, so a prompt is
            the same tokens and pixels in GRPO and eval; build the rows with the same ``pixels``. None: the
            images as the env gives them (the processor's own bounds apply).

    The chat template is the processor's own, because TRL renders the rows with it for the training
    forward pass: to train a Qwen2.5-VL checkpoint whose stock template drops tool turns, set
    ``processor.chat_template = agents.models.templates.load_template("qwen2_5_vl")`` first (the
    tiny kit's checkpoints already carry the shipped templates).
    """

    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    batch_size: int = 8
    max_turn_tokens: int = 8192
    seed: int = 0
    pixels: tuple[int, int] | None = None

    def __post_init__(self) -> None:
        if isinstance(self.pixels, list):  # read back from JSON
            object.__setattr__(self, "pixels", tuple(self.pixels))
        if self.pixels is not None and not (
            len(self.pixels) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in self.pixels)
            and 1 <= self.pixels[0] <= self.pixels[1]
        ):
            raise ValueError(f"RolloutConfig.pixels must be (min_pixels, max_pixels) with 1 <= min <= max, or None; "
                             f"got {self.pixels!r}")
        for name in ("batch_size", "max_turn_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"RolloutConfig.{name} must be a positive integer, got {value!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"RolloutConfig.seed must be a non-negative integer, got {self.seed!r}")


class SpaceToolsRollout:
    """``rollout_func(prompts, trainer) -> dict`` for ``GRPOTrainer`` (see the module docstring).

    Args:
        config: A :class:`RolloutConfig` (default: its defaults).
        teacher: An agent whose non-None actions are forced instead of sampled (scored by the model):
            scripted conformance checks, or expert completions mixed into a group (:mod:`agents.trl.policy`).
        **options: Or the config's fields as keywords.
    """

    def __init__(self, config: RolloutConfig | None = None, teacher: Any = None, **options: Any) -> None:
        self.config = config if config is not None else RolloutConfig(**options)
        self.teacher = teacher
        self._driver: BatchRollout | None = None
        self._calls: tuple[int, int] = (-1, 0)
        """(global step, calls at that step): the ids restart at each step, so a resumed run replays them."""
        self._policy: TokenPolicy | None = None
        self.last_results: list[EpisodeResult] = []
        """The episodes of the latest call, in the prompts' order (trajectories and all)."""
        self.timing = {"policy_s": 0.0, "env_s": 0.0, "tools_s": 0.0, "rollout_s": 0.0}
        """Seconds over all calls: the model's turns (``TokenPolicy.act``), the envs without their tools
        (reset and steps), the tools, and whole calls (the rest is the driver and the checks)."""

    def __call__(self, prompts: Sequence[Any], trainer: Any) -> dict[str, list[Any]]:
        policy, driver = self._policy_for(trainer)
        step = int(trainer.state.global_step)
        self._calls = (step, self._calls[1] + 1 if self._calls[0] == step else 1)
        work = []
        for number, prompt in enumerate(prompts):
            row = parse_prompt(prompt, number)
            options = {"split": row["split"], "index": row["index"]}
            work.append(WorkItem(f"{step}.{self._calls[1]}:{number}", row["env_id"], seed=row["seed"], options=options))
        by_id: dict[str, tuple[Trajectory, EpisodeTokens]] = {}
        results: dict[str, EpisodeResult] = {}
        started, policy_before = time.perf_counter(), policy.timing["policy_s"]
        training = policy.model.training
        policy.model.eval()  # sample with dropout off, as a vLLM generation server would
        try:
            for result in driver.play(work):
                if result.trajectory is None:
                    policy.episodes.clear()
                    raise RuntimeError(
                        f"episode {result.work.env_key} (reset seed {result.work.seed}, "
                        f"{dict(result.work.options or {})}) failed: {type(result.error).__name__}: {result.error}"
                    ) from result.error
                by_id[result.work.episode_id] = (result.trajectory, policy.take(result.work.episode_id))
                results[result.work.episode_id] = result
                tools_s = float(getattr(result.env.unwrapped, "timing", {}).get("tools_s", 0.0))
                self.timing["tools_s"] += tools_s
                self.timing["env_s"] += result.timing.get("env_s", 0.0) - tools_s
        finally:
            policy.model.train(training)
        played = [by_id[item.episode_id] for item in work]
        for number, (prompt, (_, tokens)) in enumerate(zip(prompts, played, strict=True)):
            _check_prompt(policy, prompt, tokens, number)
        self.last_results = [results[item.episode_id] for item in work]
        self.timing["policy_s"] += policy.timing["policy_s"] - policy_before
        self.timing["rollout_s"] += time.perf_counter() - started
        return _outputs(played)

    def close(self) -> None:
        """Close the envs."""
        if self._driver is not None:
            self._driver.close()

    def _policy_for(self, trainer: Any) -> tuple[TokenPolicy, BatchRollout]:
        args = trainer.args
        bounds = self.config.pixels
        settings = GenerationSettings(
            max_turn_tokens=self.config.max_turn_tokens,
            max_episode_tokens=int(args.max_completion_length),
            do_sample=True,
            temperature=float(args.temperature),
            top_p=float(args.top_p),
            top_k=int(args.top_k or 0),
            seed=(self.config.seed * 1_000_003 + int(trainer.state.global_step)) % 2**31,
        )
        if bounds is not None:
            settings = dataclasses.replace(settings, min_pixels=bounds[0], max_pixels=bounds[1])
        model = trainer.accelerator.unwrap_model(trainer.model)
        if self._policy is None or self._driver is None or self._policy.model is not model:
            self._policy = TokenPolicy(model, trainer.processing_class, settings, teacher=self.teacher,
                                       template_kwargs=getattr(trainer, "chat_template_kwargs", None),
                                       fit_images=self.config.pixels is not None)
            self._driver = BatchRollout(self._policy, self._make_env, batch_size=self.config.batch_size)
        self._policy.settings = settings
        return self._policy, self._driver

    def _make_env(self, env_id: str) -> Any:
        import gymnasium as gym

        return gym.make(env_id, **dict(self.config.env_kwargs))


def _outputs(played: Sequence[tuple[Trajectory, EpisodeTokens]]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {key: [] for key in (
        "prompt_ids", "completion_ids", "logprobs", "env_mask", "env_reward", "score", "reward_components",
        "tool_calls", "tool_errors", "tools_by_name", "turns", "answered",
    )}
    for traj, tokens in played:
        components: dict[str, float] = {}
        for step in traj.reward_components:
            for name, part in step.items():
                components[name] = components.get(name, 0.0) + float(part)
        stats = traj.info.get("tool_stats", {})
        values = (
            tokens.prompt_ids, tokens.completion_ids, tokens.logprobs, tokens.env_mask, traj.total_reward,
            traj.score, components, int(stats.get("calls", 0)), int(stats.get("errors", 0)),
            {name: {"calls": int(s.get("calls", 0)), "errors": int(s.get("errors", 0))}
             for name, s in stats.get("by_tool", {}).items()},
            traj.turns, traj.terminated,
        )
        for key, value in zip(out, values, strict=True):
            out[key].append(value)
    return out


def _check_prompt(policy: TokenPolicy, prompt: Any, tokens: EpisodeTokens, number: int) -> None:
    """TRL trains on the row's prompt and images: they must render as the env's first conversation."""
    where = f"prompt {number} ({parse_prompt(prompt, number)})"
    fix = "build the rows with agents.trl.episode_rows(env_id, count) and the env_kwargs given to the rollout"
    if policy.render_prompt(prompt) != tokens.prompt_text:
        raise ValueError(f"{where} does not render as the env's first conversation, which the model was sampled on; "
                         f"{fix}")
    given = [part["image"] for message in prompt for part in _parts(message) if part.get("type") == "image"]
    same = len(given) == len(tokens.images) and all(
        np.array_equal(np.asarray(to_pil(a)), np.asarray(b)) for a, b in zip(given, tokens.images, strict=True)
    )
    if not same:
        raise ValueError(
            f"{where}: the row's images (TRL trains on them) are not the env's question images "
            f"({len(given)} given, {len(tokens.images)} in the env's question); {fix}"
        )


def _parts(message: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    content = message.get("content")
    return [p for p in content if isinstance(p, Mapping)] if isinstance(content, list) else []
