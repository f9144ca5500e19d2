"""The DIRL pipeline's configuration: :class:`DIRLConfig`, its five step configs and the shipped presets.

A config is one JSON object (``agents/dirl/configs/tiny.json``, ``paper.json``, or a file of yours)::

    {"name": ..., "base_model": "tiny:qwen2_5_vl", "seed": 0,
     "step0_data": {FormatDataConfig}, "step0": {SFTStepConfig},     # null for an instruction-tuned base
     "step1": {GRPOStepConfig}, "step2": {CollectConfig}, "step3": {SFTStepConfig}, "step4": {GRPOStepConfig},
     "eval": {EvalSpec},
     "ablation": true,                                               # the arm A-grpo-from-base
     "faults": null}                                                 # or {"roborefer": {"rate": 0.5, ...}}

:func:`load_dirl_config` reads a preset name or a file; every unknown key is named with its closest
field and the section it is in (``paper.json: step3: unknown SFTStepConfig field 'learning_rat'; did
you mean 'learning_rate'?``), and each section's own validation runs (its message says the fix).

Decisions made here, with the reason:

- The step configs' ``model`` fields are what the file says, but the pipeline replaces them: step 0
  starts from ``base_model``, steps 1 and 3 from the shared base (step 0's output), step 2's
  policy is step 1's output and step 4 starts from step 3's. One checkpoint feeds every arm, and a
  config cannot point a step at a stale checkpoint by mistake.
- One seed: ``seed`` is written into every step config (and the held-out evaluation) when the
  config is built, so "same seed, same result" is one number and the saved file shows it.
- Step 1 must offer only the pointing tool (``tools=["roborefer.detect_one"]``), the paper's
  point-tool IRL; a config that offers more is refused rather than silently changing the recipe.
- The SFT steps scale images into the same ``[min_pixels, max_pixels]`` as the held-out evaluation's
  ``hf`` agent (and step 2's policy): the image token count is part of the prompt, and an SFT prompt
  with other image tokens than eval's is another prompt. A config where they differ is refused.
- ``base_model`` ``tiny:<family>[:<size>]`` means a random-weight checkpoint written by
  :func:`agents.models.tiny.write_checkpoint` into the run folder (the CPU stand-in); the shipped
  tiny config uses the ``learn`` size (digits one per token, 4 image tokens), the kit's preset
  made for learning on a CPU, not the plumbing default.
- ``ablation`` (the paper's ablation: full-tool GRPO straight from the base) is not a sixth section
  of hyperparameters but step 4's section run from the shared base with DIRL's whole GRPO budget
  (:func:`ablation_step_config`): an arm with its own learning rate or group size would compare two
  recipes, not "with or without steps 1-3". Its held-out evaluation always runs (the arm exists to
  be compared), so ``eval.steps`` does not list it.
- ``faults`` is a :class:`~tool_backends.faults.ToolFaults` mapping merged into the ``tool_options``
  of step 4 and the ablation arm (training) and of the faulted held-out evaluation only; the clean
  held-out evaluation, steps 1-3 and the traces stay exact, so every other number reads as without
  it. It is checked here against the tools step 4 exposes (``gym.make`` of its first env), so a bad
  key fails when the config is read, not after three steps of training.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.dirl.collect import CollectConfig, FormatDataConfig, load_collect_config, load_format_data_config
from agents.dirl.common import config_dict, load_config
from agents.dirl.grpo import GRPOStepConfig
from agents.dirl.sft import SFTStepConfig

PRESETS_DIR = Path(__file__).parent / "configs"
PRESETS = ("tiny", "paper")
POINTING_TOOLS = ("roborefer.detect_one",)
"""Step 1's tool set: the point tool only, as the paper's first IRL stage."""
TINY_PREFIX = "tiny:"
ABLATION = "A"
"""The ablation arm's step id (``--step A``): full-tool GRPO from the shared base."""
STEP_NAMES: dict[int | str, str] = {0: "0-base", 1: "1-pointing-grpo", 2: "2-traces", 3: "3-sft", 4: "4-grpo",
                                    ABLATION: "A-grpo-from-base"}
"""Step id -> its folder in the run folder."""
FAULTED_STEPS: tuple[int | str, ...] = (0, 3, 4, ABLATION)
"""Checkpoints evaluated again under ``faults`` (the base, before and after step 4, the arm)."""


@dataclass(frozen=True)
class EvalSpec:
    """The held-out evaluation run after each trained step (``spacetools eval --agent hf`` on its checkpoint).

    Attributes:
        env_ids: Env ids (families) evaluated.
        episodes: Episodes per env id (items ``0..N-1`` of ``split``).
        split: Held-out split (``test``: never trained on).
        env_kwargs: ``gym.make`` options (None: step 4's, so every step is asked the same prompts).
        agent_kwargs: ``hf`` agent options (generation budgets, ``device``, ``threads``); greedy, as
            the paper's evaluation.
        steps: Which steps' checkpoints are evaluated (0: the base).
        batch_size: Episodes played in lockstep.
        seed: Base seed of the resets (the config's ``seed``).
    """

    env_ids: tuple[str, ...]
    episodes: int = 8
    split: str = "test"
    env_kwargs: Mapping[str, Any] | None = None
    agent_kwargs: Mapping[str, Any] = field(default_factory=dict)
    steps: tuple[int, ...] = (0, 1, 3, 4)
    batch_size: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.env_ids, str) or not self.env_ids or not all(isinstance(i, str) for i in self.env_ids):
            raise ValueError(f"env_ids must be a non-empty list of env ids, got {self.env_ids!r}")
        object.__setattr__(self, "env_ids", tuple(self.env_ids))
        for name in ("episodes", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        steps = tuple(self.steps)
        bad = [s for s in steps if s not in (0, 1, 3, 4)]
        if bad:
            raise ValueError(f"steps may hold 0, 1, 3 and 4 (the steps that write a checkpoint), got {bad}")
        object.__setattr__(self, "steps", steps)
        if "model" in self.agent_kwargs:
            raise ValueError("agent_kwargs may not set 'model'; each step's checkpoint is evaluated")
        object.__setattr__(self, "agent_kwargs", dict(self.agent_kwargs))
        if self.env_kwargs is not None:
            object.__setattr__(self, "env_kwargs", dict(self.env_kwargs))


@dataclass(frozen=True)
class DIRLConfig:
    """The whole DIRL pipeline (see the module docstring for how its fields are used).

    Attributes:
        name: A label for the run (``tiny``, ``paper``).
        base_model: The starting checkpoint: a folder, a hub id, or ``tiny:<family>``.
        seed: The one seed of every step.
        step0_data: Step 0's answer-format data (None together with ``step0``).
        step0: Step 0, SFT on the answer format (None: ``base_model`` is the base, e.g. an
            instruction-tuned model).
        step1: Step 1, interactive GRPO with the pointing tool only.
        step2: Step 2, trace collection.
        step3: Step 3, SFT on the collected traces (its ``datasets`` are added to step 2's).
        step4: Step 4, interactive GRPO with all tools.
        eval: The held-out evaluation after each step.
        ablation: Also run the arm ``A-grpo-from-base``: step 4's GRPO from the shared base with the
            GRPO budget of steps 1 and 4 together (:func:`ablation_step_config`).
        faults: Seeded tool faults (a :class:`~tool_backends.faults.ToolFaults` mapping, e.g.
            ``{"roborefer": {"rate": 0.5, "kinds": ["failure"]}}``) that step 4 and the arm train
            against, and a second, faulted held-out evaluation (``eval/faulted/``) with the
            recovery figure; None: exact tools everywhere.
    """

    name: str
    base_model: str
    step1: GRPOStepConfig
    step2: CollectConfig
    step3: SFTStepConfig
    step4: GRPOStepConfig
    eval: EvalSpec
    step0: SFTStepConfig | None = None
    step0_data: FormatDataConfig | None = None
    seed: int = 0
    ablation: bool = False
    faults: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.base_model, str) or not self.base_model:
            raise ValueError(
                f"base_model must be a checkpoint folder, hub id or 'tiny:<family>', got {self.base_model!r}"
            )
        if self.base_model.startswith(TINY_PREFIX):
            from agents.models.tiny import FAMILIES, SIZES

            family, size = self.tiny_model
            if family not in FAMILIES or size not in SIZES:
                raise ValueError(f"base_model {self.base_model!r}: unknown tiny family or size; use "
                                 f"'tiny:<family>[:<size>]' with a family of {sorted(FAMILIES)} and a size of "
                                 f"{sorted(SIZES)}, e.g. 'tiny:qwen2_5_vl:learn'")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        if (self.step0 is None) != (self.step0_data is None):
            raise ValueError("step0 and step0_data go together: give both (a format-only SFT) or neither "
                             "(base_model is the shared base)")
        tools = self.step1.env_kwargs.get("tools") if isinstance(self.step1.env_kwargs, Mapping) else None
        if tools is None or tuple(tools) != POINTING_TOOLS:
            raise ValueError(f"step1.env_kwargs.tools must be {list(POINTING_TOOLS)} (point-tool GRPO), got {tools!r}")
        self._check_pixels()
        if not isinstance(self.ablation, bool):
            raise ValueError(f"ablation must be true or false (run the arm A-grpo-from-base), got {self.ablation!r}")
        if self.faults is not None:
            object.__setattr__(self, "faults", self._checked_faults())
        for name in ("step0_data", "step0", "step1", "step2", "step3", "step4", "eval"):
            section = getattr(self, name)
            if section is not None and getattr(section, "seed", self.seed) != self.seed:
                object.__setattr__(self, name, dataclasses.replace(section, seed=self.seed))

    def _check_pixels(self) -> None:
        """The SFT steps' image bounds equal the eval agent's and the step-2 policy's (module docstring)."""
        from agents.models.settings import GenerationSettings

        default = GenerationSettings()
        bounds = {
            "eval.agent_kwargs": self.eval.agent_kwargs,
            **({"step2.policy_kwargs": self.step2.policy_kwargs} if self.step2.policy_agent == "hf" else {}),
        }
        wanted = {name: (kw.get("min_pixels", default.min_pixels), kw.get("max_pixels", default.max_pixels))
                  for name, kw in bounds.items()}
        for name in ("step0", "step3"):
            step = getattr(self, name)
            if step is None:
                continue
            for other, pixels in wanted.items():
                if (step.min_pixels, step.max_pixels) != pixels:
                    raise ValueError(
                        f"{name}.min_pixels/max_pixels ({step.min_pixels}, {step.max_pixels}) differ from {other}'s "
                        f"{pixels}: SFT prompts would hold other image tokens than the model is played with; set them "
                        "equal"
                    )

    def _checked_faults(self) -> dict[str, Any]:
        """``faults`` as plain JSON data, parsed, with at least one rate above 0, valid for step 4's tools."""
        import gymnasium as gym

        import spacetools_env  # noqa: F401  (registers the ids)
        from tool_backends.faults import ToolFaults

        try:
            data = json.loads(json.dumps(self.faults))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"faults must be JSON data (it is saved with the run): {exc}") from None
        parsed = ToolFaults.parse(data, "faults")
        if not any(spec.rate > 0 for spec in parsed.specs.values()):
            raise ValueError("faults: no tool has a rate above 0, so nothing would be faulted; give a spec such as "
                             '{"roborefer": {"rate": 0.5, "kinds": ["failure"]}}, or set faults to null')
        for name, section in (("step4", self.step4.env_kwargs), ("eval", self.eval.env_kwargs or {})):
            if "faults" in (section.get("tool_options") or {}):
                raise ValueError(f"{name}.env_kwargs.tool_options.faults and faults are both set; keep faults only "
                                 "(it reaches step 4, the arm and the faulted evaluation, not the clean one)")
        try:  # the env checks every key against the tools it exposes (FaultInjectingClient)
            gym.make(self.step4.env_ids[0], **with_faults(self.step4.env_kwargs, data)).close()
        except ValueError as exc:
            raise ValueError(f"faults (with step4.env_kwargs): {exc}") from None
        return dict(data)

    @property
    def tiny_model(self) -> tuple[str, str]:
        """(family, size) of a ``tiny:<family>[:<size>]`` base (size ``default`` when not given)."""
        family, _, size = self.base_model[len(TINY_PREFIX):].partition(":")
        return family, size or "default"

    @property
    def eval_env_kwargs(self) -> dict[str, Any]:
        """The held-out evaluation's ``gym.make`` options (step 4's unless the eval section sets them)."""
        return dict(self.step4.env_kwargs if self.eval.env_kwargs is None else self.eval.env_kwargs)

    def to_dict(self) -> dict[str, Any]:
        """The config as JSON data (what :func:`load_dirl_config` reads back to an equal config)."""
        return config_dict(self)


def with_faults(env_kwargs: Mapping[str, Any], faults: Mapping[str, Any] | None) -> dict[str, Any]:
    """``env_kwargs`` with ``faults`` merged into its ``tool_options`` (a copy; unchanged when None)."""
    merged = json.loads(json.dumps(dict(env_kwargs)))
    if faults is not None:
        merged["tool_options"] = {**(merged.get("tool_options") or {}), "faults": json.loads(json.dumps(faults))}
    return merged


def ablation_step_config(config: DIRLConfig) -> GRPOStepConfig:
    """The ablation arm's GRPO config: step 4's, with the GRPO budget of steps 1 and 4 together.

    ``max_steps`` is ``step1.max_steps + step4.max_steps`` when the two steps play the same
    completions per optimizer step (one update per step, so updates and rollouts both match). When
    they differ, the arm keeps step 4's batch (its hyperparameters are step 4's) and takes as many
    steps as match the total completions, rounded up: ``ceil((step1.max_steps x c1 + step4.max_steps x
    c4) / c4)``; the updates then differ, and the docs say so. ``model`` is filled in by the pipeline
    (the shared base), ``env_kwargs`` carry ``faults`` when set.
    """
    one, four = config.step1, config.step4
    c1, c4 = one.completions_per_process, four.completions_per_process
    total = one.max_steps * c1 + four.max_steps * c4
    steps = one.max_steps + four.max_steps if c1 == c4 else -(-total // c4)
    return dataclasses.replace(four, max_steps=steps, env_kwargs=with_faults(four.env_kwargs, config.faults))


# ---------------------------------------------------------------------------- reading configs
def load_dirl_config(spec: str | Path) -> DIRLConfig:
    """A shipped preset (``tiny``, ``paper``) or a JSON file.

    Raises:
        FileNotFoundError: neither a preset nor an existing file.
        ValueError: naming the file, the section and field, and the fix.
    """
    path = PRESETS_DIR / f"{spec}.json" if str(spec) in PRESETS else Path(spec)
    if not path.is_file():
        raise FileNotFoundError(f"config {str(spec)!r}: not a preset ({', '.join(PRESETS)}) nor a file; "
                                "pass --config tiny, --config paper or a JSON file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"{path}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); fix the file"
        ) from None
    return dirl_config_from_dict(data, str(path))


def dirl_config_from_dict(data: Any, source: str) -> DIRLConfig:
    """:class:`DIRLConfig` from JSON data; errors say ``source``, the section and the field."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: a DIRL config is a JSON object of DIRLConfig fields, got {type(data).__name__}")
    readers = {
        "step0_data": load_format_data_config, "step2": load_collect_config,
        "step0": _reader(SFTStepConfig), "step3": _reader(SFTStepConfig),
        "step1": _reader(GRPOStepConfig), "step4": _reader(GRPOStepConfig), "eval": _reader(EvalSpec),
    }
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key in readers and value is not None:
            if not isinstance(value, Mapping):
                raise ValueError(f"{source}: {key}: expected a JSON object, got {type(value).__name__}")
            try:
                values[key] = readers[key](value, f"{source}: {key}")
            except (TypeError, ValueError) as exc:
                text = str(exc)
                raise ValueError(text if text.startswith(source) else f"{source}: {key}: {text}") from None
        else:
            values[key] = value
    try:
        return load_config(DIRLConfig, values, source)
    except TypeError as exc:  # a missing section
        raise ValueError(f"{source}: {exc}; every DIRL config needs name, base_model, step1..step4 and eval "
                         "(see agents/dirl/configs/tiny.json)") from None
    except ValueError as exc:
        text = str(exc)
        raise ValueError(text if text.startswith(source) else f"{source}: {text}") from None


def _reader(cls: type) -> Any:
    """Read a section of ``cls``: JSON lists become tuples where the field's default is a tuple."""
    tuples = {f.name for f in dataclasses.fields(cls)
              if isinstance(f.default, tuple) or "tuple" in str(f.type)}

    def read(data: Mapping[str, Any], source: str) -> Any:
        values = {k: tuple(v) if k in tuples and isinstance(v, list) else v for k, v in data.items()}
        return load_config(cls, values, source)

    return read
