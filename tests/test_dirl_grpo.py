"""DIRL steps 1 and 4 (``agents.dirl.grpo``): GRPO on TRL 1.16's ``GRPOTrainer`` through the rollout function.

Real objects: the tiny random-weight Qwen2.5-VL of the kit (``agents.models.tiny``), ``gym.make`` envs
with oracle tools, TRL's own ``GRPOTrainer``, checkpoints written and resumed by the ``Trainer``. A random
model never writes a valid call, so every other completion follows the tool-program agent
(``teacher_every=2``) and real tools run. Torch runs on one thread.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("datasets")

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402
from datasets import load_from_disk  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from trl.data_utils import prepare_multimodal_messages  # noqa: E402

import spacetools_env  # noqa: E402, F401  (registers the ids)
from agents.dirl.common import load_config, read_metrics  # noqa: E402
from agents.dirl.grpo import (  # noqa: E402
    POINTING_TOOLS,
    GRPOStepConfig,
    build_grpo_trainer,
    is_timing,
    main,
    run_grpo,
)
from agents.models.render import fit_pixels  # noqa: E402
from agents.models.tiny import write_checkpoint  # noqa: E402
from tests.fixtures_trl import one_torch_thread  # noqa: E402, F401

POINTING = "SpaceTools-Synth-RefLocation-v0"  # its tool program is one roborefer.detect_one, then the answer
DEPTH = "SpaceTools-Synth-RelativeDepth-v0"  # detect_one twice, estimate_depth, index_at twice
PREFIXED = (
    "loss/total", "loss/kl", "loss/entropy", "loss/grad_norm", "loss/learning_rate", "reward/total", "reward/std",
    "reward/env", "reward/score", "reward/shaped", "reward/invalid_action", "reward/tool_error", "reward/shaped/std",
    "tools/calls_per_episode", "tools/errors_per_episode", "tools/failure_rate", "rollout/turns", "rollout/answered",
    "rollout/frac_zero_std_groups", "rollout/group_reward_std", "rollout/completion_tokens", "rollout/policy_s",
    "rollout/env_s", "rollout/tools_s", "rollout/rollout_s", "rollout/step_s",
)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_checkpoint("qwen2_5_vl", tmp_path_factory.mktemp("tiny") / "qwen2_5_vl")


def _tiny(model: Path, **fields: Any) -> GRPOStepConfig:
    """Step-1 shape on a CPU: one pointing family, the pointing tool only, groups of 4, two steps."""
    options: dict[str, Any] = {
        "model": str(model), "env_ids": (POINTING,), "env_kwargs": {"tools": list(POINTING_TOOLS)},
        "rows_per_env": 2, "num_generations": 4, "per_device_train_batch_size": 4, "gradient_accumulation_steps": 1,
        "learning_rate": 1e-2, "beta": 0.01, "max_steps": 2, "max_completion_length": 320, "max_turn_tokens": 96,
        "temperature": 1.0, "rollout_batch_size": 4, "save_steps": 1, "logging_steps": 1, "teacher_every": 2,
        "lr_scheduler_type": "constant", "weight_decay": 0.0, "progress": False, **fields,
    }
    return GRPOStepConfig(**options)


def _steps(out: Path) -> list[dict[str, Any]]:
    """The step lines of ``out/metrics.jsonl`` (the end-of-training summary left out)."""
    return [line for line in read_metrics(out / "metrics.jsonl") if "loss" in line]


def _untimed(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in line.items() if not is_timing(k)} for line in lines]


def _weights(folder: Path) -> dict[str, Any]:
    return load_file(str(folder / "model.safetensors"))


def _check_step_lines(lines: list[dict[str, Any]], tools: set[str]) -> None:
    assert [line["step"] for line in lines] == [1, 2]
    for line in lines:
        for key in PREFIXED:
            assert isinstance(line.get(key), float) and math.isfinite(line[key]), key
        assert line["tools/calls_per_episode"] > 0  # real tool calls ran (the teacher's half of each group)
        assert line["reward/total"] == pytest.approx(line["reward/env"], abs=1e-6)  # the env reward is the objective
        assert line["rollout/policy_s"] > 0 and line["rollout/step_s"] >= line["rollout/rollout_s"]
    called = {key.split("/")[1] for line in lines for key in line if key.startswith("tools/") and key.count("/") == 2}
    assert tools <= called <= tools | {"<unknown>"}  # the offered tools ran (a sampled call may name none)
    assert any(line["rollout/group_reward_std"] > 0 for line in lines)  # groups carry a signal


def _moved(base: Path, final: Path) -> tuple[list[str], list[str]]:
    """Names of the moved language-model and vision parameters between two checkpoint folders."""
    before, after = _weights(base), _weights(final)
    assert before.keys() == after.keys()
    moved = [k for k in before if not torch.equal(before[k], after[k])]
    return [k for k in moved if not k.startswith("visual.")], [k for k in moved if k.startswith("visual.")]


# ---------------------------------------------------------------------------------------------- config
@pytest.mark.parametrize(("fields", "message"), [
    ({"num_generations": 1},
     "GRPOStepConfig.num_generations must be an integer >= 2 (a group needs two completions to compare), got 1"),
    ({"env_ids": ("SpaceTools-Synth-RefLocaton-v0",)},
     "GRPOStepConfig.env_ids: 'SpaceTools-Synth-RefLocaton-v0' is not a registered env id; did you mean "
     "'SpaceTools-Synth-RefLocation-v0'?"),
    ({"per_device_train_batch_size": 3},
     "GRPOStepConfig: per_device_train_batch_size x gradient_accumulation_steps = 3 x 1 = 3 completions per process "
     "per step is not a multiple of num_generations=4; change one of them so each process plays whole groups (the "
     "paper: 5 completions per prompt, 320 per step)"),
    ({"env_kwargs": {"tool_images": True}},
     "GRPOStepConfig.env_kwargs: tool_images=True cannot train through the rollout function (TRL's forward pass "
     "sees the dataset's images only); drop tool_images"),
    ({"loss_type": "ppo"}, "GRPOStepConfig.loss_type must be one of ['dapo', 'grpo', 'dr_grpo', 'bnpo'], got 'ppo'"),
    ({"learning_rate": 0.0}, "GRPOStepConfig.learning_rate must be a positive finite number, got 0.0"),
    ({"beta": float("nan")}, "GRPOStepConfig.beta must be a non-negative finite number, got nan"),
])
def test_a_bad_config_field_is_named_with_what_it_must_be(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError) as error:
        _tiny(Path("/nowhere"), **fields)
    assert str(error.value) == message


def test_a_config_file_round_trips_and_names_an_unknown_key(base: Path) -> None:
    config = _tiny(base)
    data = json.loads(json.dumps(dataclasses.asdict(config)))  # lists for tuples, as a JSON file holds them
    assert load_config(GRPOStepConfig, data, "grpo.json") == config
    with pytest.raises(ValueError, match=r"grpo.json: unknown GRPOStepConfig field 'num_generation'; did you mean "
                                         r"'num_generations'\?"):
        load_config(GRPOStepConfig, {**data, "num_generation": 5}, "grpo.json")


def test_the_paper_config_validates_and_builds_its_trainer_with_a_tiny_stand_in(base: Path, tmp_path: Path) -> None:
    paper = GRPOStepConfig()  # the defaults are the paper's step-4 values
    assert (paper.num_generations, paper.learning_rate, paper.beta) == (5, 1e-6, 0.01)
    assert (paper.max_completion_length, paper.max_turn_tokens, paper.loss_type) == (8192, 8192, "dapo")
    assert paper.prompts_per_step(num_processes=8) == 64 and paper.completions_per_process * 8 == 320
    # On one CPU process the same 320 completions per step: 8 x 40 accumulation steps; 64 prompts are enough rows.
    config = dataclasses.replace(paper, model=str(base), env_ids=(DEPTH,), rows_per_env=64,
                                 per_device_train_batch_size=8, gradient_accumulation_steps=40, progress=False)
    trainer = build_grpo_trainer(config, tmp_path)
    args: Any = trainer.args  # TRL's GRPOConfig
    assert (args.num_generations, args.generation_batch_size, args.steps_per_generation) == (5, 320, 40)
    assert (args.beta, args.learning_rate, args.loss_type, args.scale_rewards) == (0.01, 1e-6, "dapo", "group")
    assert (args.num_iterations, args.epsilon, args.max_grad_norm, args.weight_decay) == (1, 0.2, 1.0, 0.01)
    assert (args.max_completion_length, args.temperature, args.use_vllm) == (8192, 1.0, False)
    assert args.lr_scheduler_type == "constant" and args.reward_weights == [1.0, 0.0, 0.0, 0.0, 0.0]
    assert trainer.ref_model is not None  # KL as a loss term needs the reference model
    rollout: Any = trainer.rollout_func
    assert rollout.config.max_turn_tokens == 8192
    model: Any = trainer.model
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert frozen == {n for n, _ in model.named_parameters() if ".visual." in f".{n}"}
    rows: Any = trainer.train_dataset
    assert "# Tools" in rows[0]["prompt"][0]["content"]  # the paper protocol: all tools offered
    assert not list((tmp_path / "trainer").glob("checkpoint-*"))  # built, not trained
    with pytest.raises(ValueError, match=r"rows_per_env x envs = 10 x 1 prompts is fewer than one step's 64 prompts"):
        build_grpo_trainer(dataclasses.replace(config, rows_per_env=10), tmp_path / "few")


# ---------------------------------------------------------------------------------------------- training
def test_step1_shape_trains_two_steps_with_the_pointing_tool_and_resumes_bit_exactly(
    base: Path, tmp_path: Path
) -> None:
    config = _tiny(base)
    out = tmp_path / "run"
    final = run_grpo(config, out)
    assert final == out / "final" and (final / "model.safetensors").is_file()
    language, vision = _moved(base, final)
    assert len(language) > 20 and vision == []  # the vision tower and projector are frozen
    lines = _steps(out)
    _check_step_lines(lines, tools={"roborefer.detect_one"})
    assert json.loads((out / "config.json").read_text())["env_kwargs"] == {"tools": ["roborefer.detect_one"]}

    # Killed after checkpoint-1 was written: the copy resumes from it and ends where the whole run ended.
    killed = tmp_path / "killed"
    shutil.copytree(out, killed)
    shutil.rmtree(killed / "final")
    shutil.rmtree(killed / "trainer" / "checkpoint-2")
    run_grpo(config, killed)
    whole, resumed = _weights(final), _weights(killed / "final")
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)  # bit-exact weights
    assert _untimed(_steps(killed)) == _untimed(lines)  # step 1 kept once, step 2 replayed identically

    started = time.perf_counter()
    assert run_grpo(config, out) == final  # a finished folder is returned at once
    assert main(["--config", str(out / "config.json"), "--out", str(out)]) == final  # the command, on its config
    assert time.perf_counter() - started < 2.0
    with pytest.raises(ValueError) as error:
        run_grpo(dataclasses.replace(config, learning_rate=1e-3), out)
    assert str(error.value) == (f"{out / 'config.json'}: this folder holds a GRPO run with other ['learning_rate']; "
                                "pass a new out folder (only ['max_steps', 'progress'] may change)")


def test_step4_shape_trains_two_steps_with_every_tool(base: Path, tmp_path: Path) -> None:
    config = _tiny(base, env_ids=(DEPTH,), env_kwargs={}, max_completion_length=640, max_turn_tokens=200,
                   max_pixels=112 * 112)
    final = run_grpo(config, tmp_path)
    # The rows' images (what TRL trains on; the rollout checks its own are equal) are scaled as the eval agent's.
    observation, _ = gym.make(DEPTH).reset(seed=0, options={"split": "train", "index": 0})
    row = load_from_disk(str(tmp_path / "rows"))[0]
    expected = fit_pixels(observation[1]["content"][0]["image"], 56 * 56, 112 * 112)
    assert row["images"][0].size == expected.size and np.array_equal(np.asarray(row["images"][0]), expected)
    language, vision = _moved(base, final)
    assert len(language) > 20 and vision == []
    _check_step_lines(_steps(tmp_path), tools={
        "roborefer.detect_one", "depth_estimator.estimate_depth", "vision_ops.index_at",
    })


def test_same_seed_same_metrics(base: Path, tmp_path: Path) -> None:
    config = _tiny(base, max_steps=1, max_completion_length=192, max_turn_tokens=64)
    first, second = run_grpo(config, tmp_path / "a"), run_grpo(config, tmp_path / "b")
    lines = _untimed(_steps(tmp_path / "a"))
    assert len(lines) == 1 and lines == _untimed(_steps(tmp_path / "b"))
    assert lines[0]["loss/grad_norm"] > 0
    assert all(torch.equal(a, b) for a, b in zip(_weights(first).values(), _weights(second).values(), strict=True))


def test_an_untrained_model_never_samples_a_vision_placeholder(base: Path, tmp_path: Path) -> None:
    # Uniform logits: every token, <|image_pad|> and <|vision_start|> included, is as likely as any other.
    config = _tiny(base, rows_per_env=8, per_device_train_batch_size=8, rollout_batch_size=8, teacher_every=0,
                   env_kwargs={"tools": list(POINTING_TOOLS), "max_turns": 4}, max_completion_length=512)
    trainer = build_grpo_trainer(config, tmp_path)
    model: Any = trainer.model
    with torch.no_grad():
        model.model.language_model.norm.weight.zero_()
    rows: Any = trainer.train_dataset
    prompts = [prepare_multimodal_messages(row["prompt"], images=row["images"]) for row in rows]
    rollout: Any = trainer.rollout_func
    out = rollout(prompts, trainer)  # a sampled placeholder would break the batch's next forward pass here
    vision = {model.config.image_token_id, model.config.video_token_id, model.config.vision_start_token_id,
              model.config.vision_end_token_id}
    sampled = [t for ids, mask in zip(out["completion_ids"], out["env_mask"], strict=True)
               for t, m in zip(ids, mask, strict=True) if m == 1]
    assert len(sampled) > 1000 and not vision & set(sampled)
    rollout.close()
