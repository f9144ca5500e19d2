"""DIRL's SFT step (steps 0 and 3): TRL's SFTTrainer on traces of real rollouts, through our renderer and labels.

Real objects throughout: tiny checkpoints of the kit (``agents.models.tiny``), ``gym.make`` envs with oracle
tools played by the tool-program agent, traces exported with ``agents.traces.export_trajectories`` and read
back with ``read_dataset``, TRL's own ``SFTTrainer``, the GRPO bridge's ``TokenPolicy`` and the eval agent
``HFAgent``. Torch runs on one thread.
"""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any, cast

import gymnasium as gym
import pytest

import spacetools_env  # noqa: F401  (registers the ids)
from agents.blind_guess import BlindGuessAgent
from agents.tool_program import ToolProgramAgent
from agents.traces import export_trajectories, read_dataset
from agents.traces.trace import Trace, assistant_text
from spacetools_env.rollout import Trajectory, Turn, agent_policy, rollout
from tool_backends.backends import DEFAULT_TOOLS, IMAGE_TOOLS

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

from safetensors.torch import load_file  # noqa: E402
from transformers import AutoModelForImageTextToText, AutoProcessor  # noqa: E402

from agents.dirl.common import load_config, read_metrics  # noqa: E402
from agents.dirl.sft import (  # noqa: E402
    IGNORE_INDEX,
    SFTCollator,
    SFTEncoder,
    SFTStepConfig,
    build_sft_trainer,
    chat_template_of,
    load_examples,
    run_sft,
)
from agents.models.hf import HFAgent  # noqa: E402
from agents.models.settings import GenerationSettings  # noqa: E402
from agents.trl.policy import TokenPolicy  # noqa: E402
from tests.fixtures_trl import RELATION, one_torch_thread, tiny_checkpoints  # noqa: E402, F401

CROP = (
    '<think>Look closer.</think>\n<tool_call>\n{"name": "vision_ops.crop", "arguments": {"x1": 0.1, "y1": 0.1, '
    '"x2": 0.6, "y2": 0.6, "image_index": 0}}\n</tool_call>'
)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_checkpoints(tmp_path_factory, ("qwen2_5_vl", "qwen3_vl"))


def _play(agent: Any, count: int, **env_kwargs: Any) -> list[Trajectory]:
    env = gym.make(RELATION, **env_kwargs)
    return [rollout(env, agent_policy(agent, f"ep-{i}"), seed=i) for i in range(count)]


@pytest.fixture(scope="module")
def tool_traces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Correct tool-program episodes of Relation2D (two detect_one calls, then the answer), a trl dataset."""
    out = tmp_path_factory.mktemp("traces") / "tools"
    export_trajectories({"teacher": _play(ToolProgramAgent(), 8)}, out, "trl")
    return out


@pytest.fixture(scope="module")
def answer_traces(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Answer-only episodes (env made with tools=[], the blind agent answering at once): step 0's data."""
    out = tmp_path_factory.mktemp("traces") / "answers"
    export_trajectories({"blind": _play(BlindGuessAgent(), 4, tools=[])}, out, "trl", min_score=0.0)
    return out


def _encoder(path: Path, **config: Any) -> SFTEncoder:
    processor = AutoProcessor.from_pretrained(path)
    cfg = SFTStepConfig(model=str(path), **config)
    template = chat_template_of(cfg, AutoModelForImageTextToText.from_pretrained(path).config.model_type, processor)
    return SFTEncoder(processor, template, cfg.min_pixels, cfg.max_pixels)


def _labelled_runs(labels: Sequence[int]) -> list[tuple[int, int]]:
    """(start, end) of each run of labelled positions."""
    runs, start = [], None
    for i, label in enumerate([*labels, IGNORE_INDEX]):
        if label != IGNORE_INDEX and start is None:
            start = i
        elif label == IGNORE_INDEX and start is not None:
            runs.append((start, i))
            start = None
    return runs


def _assert_labels_are_the_assistant_turns(encoder: SFTEncoder, trace: Trace, ids: list[int], labels: list[int],
                                           prompts: Sequence[int]) -> None:
    tokenizer = encoder.tokenizer
    turns = [m for m in trace.messages if m.role == "assistant"]
    runs = _labelled_runs(labels)
    assert [start for start, _ in runs] == list(prompts)  # each run starts at a generation prompt's end
    assert len(runs) == len(turns)
    for (start, end), turn in zip(runs, turns, strict=True):
        assert tokenizer.decode(ids[start:end]) == assistant_text(turn) + tokenizer.eos_token
        assert ids[end - 1] == tokenizer.eos_token_id
    assert all(label in (IGNORE_INDEX, token) for token, label in zip(ids, labels, strict=True))


# ---------------------------------------------------------------------------------------------- masks
@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
def test_only_the_assistant_turns_are_labelled(family: str, checkpoints: dict[str, Path], tool_traces: Path) -> None:
    encoder = _encoder(checkpoints[family])
    trace = read_dataset(tool_traces)[1][0]
    example = encoder.encode(trace)
    tokenizer = encoder.tokenizer
    labelled = tokenizer.decode([t for t, lab in zip(example.input_ids, example.labels, strict=True) if lab != -100])
    turns = [m for m in trace.messages if m.role == "assistant"]
    assert len(turns) == 2 and turns[0].calls  # a structured tool-call turn, then the answer
    assert labelled == "".join(assistant_text(t) + "<|im_end|>" for t in turns)
    assert labelled.startswith("<think>") and '<tool_call>\n{"name": "roborefer.detect_one"' in labelled
    assert labelled.endswith("</answer><|im_end|>")
    _assert_labels_are_the_assistant_turns(encoder, trace, example.input_ids, example.labels, example.prompt_lengths)
    image_token = tokenizer.convert_tokens_to_ids("<|image_pad|>")
    masked = tokenizer.decode([t for t, lab in zip(example.input_ids, example.labels, strict=True) if lab == -100])
    assert "# Tools" in masked and "<tool_response>\nDetected 1 instance(s)" in masked and "Considering" in masked
    assert image_token in example.input_ids
    assert all(lab == -100 for t, lab in zip(example.input_ids, example.labels, strict=True) if t == image_token)


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
def test_tool_turn_images_reach_the_tokens_and_the_features(
    family: str, checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    turns = iter([CROP, "<answer>A</answer>"])
    env = gym.make(RELATION, tools=[*DEFAULT_TOOLS, *IMAGE_TOOLS], tool_images=True)
    trajectory = [rollout(env, lambda _messages, _info: next(turns), seed=0)]
    export_trajectories({"crop": trajectory}, tmp_path / "crop", "trl", min_score=0.0)
    trace = read_dataset(tmp_path / "crop")[1][0]
    assert [m.role for m in trace.messages] == ["user", "assistant", "tool", "assistant"] and trace.messages[2].images
    path = checkpoints[family]
    config = SFTStepConfig(model=str(path), datasets=(str(tmp_path / "crop"),), per_device_train_batch_size=1)
    trainer = build_sft_trainer(config, tmp_path / "run")
    collator = cast(SFTCollator, trainer.data_collator)
    example = collator.examples[0]
    assert len(example.images) == 2
    _assert_labels_are_the_assistant_turns(collator.encoder, trace, example.input_ids, example.labels,
                                           example.prompt_lengths)
    batch = collator([{"example": 0}])
    assert batch["image_grid_thw"].shape[0] == 2
    with torch.no_grad():  # the model checks that image tokens and image features match
        loss = cast(Any, trainer.model)(**batch).loss
    assert math.isfinite(float(loss))


def test_answer_only_traces_have_no_tools_block_and_train_the_answer(
    checkpoints: dict[str, Path], answer_traces: Path, tmp_path: Path
) -> None:
    encoder = _encoder(checkpoints["qwen2_5_vl"])
    trace = read_dataset(answer_traces)[1][0]
    example = encoder.encode(trace)
    text = encoder.tokenizer.decode(example.input_ids)
    assert "# Tools" not in text and "<tools>" not in text
    _assert_labels_are_the_assistant_turns(encoder, trace, example.input_ids, example.labels, example.prompt_lengths)
    assert len(example.prompt_lengths) == 1
    config = SFTStepConfig(model=str(checkpoints["qwen2_5_vl"]), datasets=(str(answer_traces),), max_steps=1,
                           per_device_train_batch_size=2, save_steps=1, logging_steps=1)
    final = run_sft(config, tmp_path / "step0")
    assert (final / "model.safetensors").is_file()
    assert math.isfinite(read_metrics(tmp_path / "step0" / "metrics.jsonl")[0]["loss"])


# ---------------------------------------------------------------------------------------------- prompt ids
def test_prompt_token_ids_are_the_same_in_sft_grpo_and_eval(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    path = checkpoints["qwen2_5_vl"]
    processor = AutoProcessor.from_pretrained(path)
    model = AutoModelForImageTextToText.from_pretrained(path)
    # (b) GRPO: the rollout's TokenPolicy, its turns forced to the tool program's (what SpaceToolsRollout records)
    policy = TokenPolicy(model, processor, GenerationSettings(max_turn_tokens=512, max_episode_tokens=2048),
                         teacher=ToolProgramAgent())
    played = rollout(gym.make(RELATION), agent_policy(policy, "ep-0"), seed=3)
    grpo = policy.take("ep-0")
    assert played.score == 1.0 and played.turns == 2
    export_trajectories({"grpo": [played]}, tmp_path / "ds", "trl")
    # (a) SFT: the collator's example of the same episode
    config = SFTStepConfig(model=str(path), datasets=(str(tmp_path / "ds"),), per_device_train_batch_size=1)
    collator = cast(SFTCollator, build_sft_trainer(config, tmp_path / "run").data_collator)
    sft = collator.examples[0]
    first = sft.prompt_lengths[0]
    assert sft.input_ids[:first] == grpo.prompt_ids
    # every later prompt too, and the whole sequence: the SFT labels are GRPO's model tokens
    assert sft.input_ids == grpo.ids
    assert [lab != IGNORE_INDEX for lab in sft.labels[first:]] == [m == 1 for m in grpo.env_mask]
    # (c) eval: the HF agent's inputs at each of its turns
    agent = HFAgent(model=str(path))
    starts = [i for i, m in enumerate(played.messages) if m["role"] == "assistant"]
    for turn, (start, length) in enumerate(zip(starts, sft.prompt_lengths, strict=True)):
        prompt = Turn("ep-0", played.messages[:start], played.info)
        assert agent.prompt_ids([prompt]) == [sft.input_ids[:length]], f"turn {turn}"  # what it generates from
        inputs = agent.model_inputs([prompt])
        assert inputs["input_ids"][0].tolist() == sft.input_ids[:length], f"turn {turn}"
    batch = collator([{"example": 0}])
    assert torch.equal(batch["pixel_values"], inputs["pixel_values"])
    assert torch.equal(batch["image_grid_thw"], inputs["image_grid_thw"])


# ---------------------------------------------------------------------------------------------- config, data
def test_a_bad_config_field_is_named_with_the_fix() -> None:
    with pytest.raises(ValueError, match=r"^SFTStepConfig.max_length must be a positive integer, got 0$"):
        SFTStepConfig(max_length=0)
    with pytest.raises(ValueError, match=r"lr_scheduler_type must be one of \['constant', "):
        SFTStepConfig(lr_scheduler_type="cosine_restarts")
    with pytest.raises(ValueError, match=r"warmup_ratio must be a number in \[0, 1\), got 1.0"):
        SFTStepConfig(warmup_ratio=1.0)
    with pytest.raises(ValueError, match="unknown SFTStepConfig field 'max_step'; did you mean 'max_steps'"):
        load_config(SFTStepConfig, {"max_step": 3}, "config.json")
    assert load_config(SFTStepConfig, {"datasets": ["a", "b"]}, "x").datasets == ("a", "b")
    with pytest.raises(ValueError, match=r"^SFTStepConfig\.model is empty; set it to the checkpoint folder"):
        build_sft_trainer(SFTStepConfig(datasets=("x",)), Path("unused"))


def test_examples_over_max_length_are_dropped_and_counted(checkpoints: dict[str, Path], tool_traces: Path) -> None:
    encoder = _encoder(checkpoints["qwen2_5_vl"])
    lengths = sorted(len(encoder.encode(t).input_ids) for t in read_dataset(tool_traces)[1])
    cut = lengths[3]
    config = SFTStepConfig(model="m", datasets=(str(tool_traces),), max_length=cut)
    examples, report = load_examples(config, encoder)
    assert report.examples == len(examples) == sum(n <= cut for n in lengths) and report.traces == 8
    assert report.dropped_over_max_length == 8 - report.examples > 0 and report.longest == lengths[-1]
    with pytest.raises(ValueError, match=rf"max_length={lengths[0] - 1}: every one of the 8 examples is longer"):
        load_examples(SFTStepConfig(model="m", datasets=(str(tool_traces),), max_length=lengths[0] - 1), encoder)


# ---------------------------------------------------------------------------------------------- training
def _run_config(path: Path, traces: Path, max_steps: int) -> SFTStepConfig:
    # constant schedule: a run made longer keeps the learning rate, so the resume can be bit-exact
    return SFTStepConfig(model=str(path), datasets=(str(traces),), max_steps=max_steps, learning_rate=5e-3,
                         per_device_train_batch_size=2, save_steps=2, logging_steps=1, lr_scheduler_type="constant")


@pytest.fixture(scope="module")
def four_steps(checkpoints: dict[str, Path], tool_traces: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("sft") / "uninterrupted"
    run_sft(_run_config(checkpoints["qwen2_5_vl"], tool_traces, 4), out)
    return out


def test_a_short_run_moves_the_language_model_and_not_the_vision_tower(
    checkpoints: dict[str, Path], tool_traces: Path, four_steps: Path
) -> None:
    before = load_file(checkpoints["qwen2_5_vl"] / "model.safetensors")
    after = load_file(four_steps / "final" / "model.safetensors")
    assert before.keys() == after.keys()
    vision = [k for k in before if k.startswith("visual.")]  # the checkpoint's own layout: tower and merger
    language = [k for k in before if k.startswith(("model.", "lm_head."))]
    assert vision and any(".merger." in k for k in vision) and language
    assert all(torch.equal(before[k], after[k]) for k in vision)
    moved = [k for k in language if not torch.equal(before[k], after[k])]
    assert len(moved) > len(language) // 2
    metrics = read_metrics(four_steps / "metrics.jsonl")
    steps = [m for m in metrics if "loss" in m]
    assert [m["step"] for m in steps] == [1, 2, 3, 4]
    assert all(math.isfinite(m["loss"]) and m["learning_rate"] == 5e-3 for m in steps)
    assert json.loads((four_steps / "config.json").read_text())["max_steps"] == 4
    assert json.loads((four_steps / "data.json").read_text())["examples"] == 8
    assert AutoProcessor.from_pretrained(four_steps / "final").chat_template == chat_template_of(
        SFTStepConfig(), "qwen2_5_vl", None)
    # a finished folder is returned as it is, untrained
    stamp = (four_steps / "final" / "model.safetensors").stat().st_mtime_ns
    assert run_sft(_run_config(checkpoints["qwen2_5_vl"], tool_traces, 4), four_steps) == four_steps / "final"
    assert (four_steps / "final" / "model.safetensors").stat().st_mtime_ns == stamp


def test_a_longer_run_resumes_from_its_checkpoint_bit_exact(
    checkpoints: dict[str, Path], tool_traces: Path, four_steps: Path, tmp_path: Path
) -> None:
    out = tmp_path / "resumed"
    run_sft(_run_config(checkpoints["qwen2_5_vl"], tool_traces, 2), out)
    assert (out / "trainer" / "checkpoint-2").is_dir()
    run_sft(_run_config(checkpoints["qwen2_5_vl"], tool_traces, 4), out)
    assert (out / "trainer" / "checkpoint-4").is_dir()
    resumed = load_file(out / "final" / "model.safetensors")
    straight = load_file(four_steps / "final" / "model.safetensors")
    assert all(torch.equal(resumed[k], straight[k]) for k in straight)  # bit-exact
    resumed_lines = [m for m in read_metrics(out / "metrics.jsonl") if "loss" in m]
    assert [m["step"] for m in resumed_lines] == [1, 2, 3, 4]  # the first run's lines kept once
    assert [m["loss"] for m in resumed_lines] == [m["loss"] for m in read_metrics(four_steps / "metrics.jsonl")
                                                   if "loss" in m]
    other = _run_config(checkpoints["qwen2_5_vl"], tool_traces, 4)
    with pytest.raises(ValueError, match=r"holds an SFT run with other \['learning_rate'\]"):
        run_sft(SFTStepConfig(**{**other.__dict__, "learning_rate": 1e-3}), out)


def test_a_run_stopped_after_a_checkpoint_resumes_on_its_schedule_bit_exact(
    checkpoints: dict[str, Path], tool_traces: Path, tmp_path: Path
) -> None:
    config = SFTStepConfig(model=str(checkpoints["qwen2_5_vl"]), datasets=(str(tool_traces),), max_steps=4,
                           per_device_train_batch_size=2, save_steps=2, logging_steps=1)  # cosine, the default
    out = tmp_path / "run"
    straight = load_file(run_sft(config, out) / "model.safetensors")
    shutil.rmtree(out / "final")  # as if killed after checkpoint-2 was written
    shutil.rmtree(out / "trainer" / "checkpoint-4")
    resumed = load_file(run_sft(config, out) / "model.safetensors")
    assert all(torch.equal(resumed[k], straight[k]) for k in straight)
    assert [m["step"] for m in read_metrics(out / "metrics.jsonl") if "loss" in m] == [1, 2, 3, 4]
