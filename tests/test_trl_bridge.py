"""The TRL bridge: TRL 1.16's GRPOTrainer, unchanged, on SpaceTools envs through ``rollout_func``.

Real objects throughout: tiny random-weight checkpoints of the kit (``agents.models.tiny``: Qwen2.5-VL, and
Qwen3-VL and LLaVA for conformance), ``gym.make`` envs with oracle tools, TRL's own ``GRPOTrainer``. Torch
runs on one thread. The environment_factory path is tested in ``test_trl_environment.py``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import spacetools_env  # noqa: F401  (registers the ids)
from agents.tool_program import ToolProgramAgent
from spacetools_env.rollout import Turn, agent_policy, rollout
from tool_backends.backends import DEFAULT_TOOLS, IMAGE_TOOLS

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("datasets")

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from datasets import Dataset  # noqa: E402
from transformers import AutoModelForImageTextToText, AutoProcessor  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402
from trl.data_utils import prepare_multimodal_messages  # noqa: E402

from agents.trl import (  # noqa: E402
    SpaceToolsRollout,
    component_reward,
    env_reward,
    episode_rows,
    parse_prompt,
    score_reward,
)
from tests.fixtures_trl import DEPTH, RELATION, one_torch_thread, tiny_checkpoints  # noqa: E402, F401

IMAGE_TOOLS_ON = {"tools": [*DEFAULT_TOOLS, *IMAGE_TOOLS], "tool_images": True}
CROP = (
    '<tool_call>\n{"name": "vision_ops.crop", "arguments": {"x1": 0.1, "y1": 0.1, "x2": 0.6, "y2": 0.6, '
    '"image_index": 0}}\n</tool_call>'
)
FAMILIES = ("qwen2_5_vl", "qwen3_vl", "llava")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_checkpoints(tmp_path_factory, FAMILIES)


def _trainer(
    path: Path, rows: list[dict[str, Any]], rollout_func: Any, out: Path, reward_funcs: Sequence[Any] = (env_reward,),
    **args: Any,
) -> GRPOTrainer:
    model = AutoModelForImageTextToText.from_pretrained(path)
    processor = AutoProcessor.from_pretrained(path)
    options = {
        "output_dir": str(out), "use_cpu": True, "report_to": "none", "save_strategy": "no", "logging_steps": 1,
        "per_device_train_batch_size": 4, "num_generations": 4, "max_completion_length": 160, "learning_rate": 1e-2,
        "max_steps": 2, "seed": 0, **args,
    }
    config = GRPOConfig(**options)
    return GRPOTrainer(model=model, processing_class=processor, reward_funcs=list(reward_funcs), args=config,
                       train_dataset=Dataset.from_list(rows), rollout_func=rollout_func)


def _prompts(rows: Sequence[dict[str, Any]]) -> list[Any]:
    """The prompts as TRL hands them to a rollout_func: images from the row placed in the user message."""
    return [prepare_multimodal_messages(row["prompt"], images=row["images"]) for row in rows]


class _EvenTeacher:
    """The tool-program agent on even completions of the batch (odd ones are sampled by the model)."""

    name = "even-teacher"

    def __init__(self) -> None:
        self.inner = ToolProgramAgent()

    def act(self, turns: Sequence[Turn]) -> list[Any]:
        even = [t for t in turns if int(t.episode_id.split(":")[1]) % 2 == 0]
        actions = iter(self.inner.act(even))
        return [next(actions) if int(t.episode_id.split(":")[1]) % 2 == 0 else None for t in turns]

    def end_episode(self, episode_id: str) -> None:
        self.inner.end_episode(episode_id)


# ---------------------------------------------------------------------------------------------- rows
def test_a_row_names_its_episode_and_holds_the_env_first_conversation() -> None:
    row = episode_rows(DEPTH, 2, start=5, seed=11)[1]
    assert parse_prompt(row["prompt"]) == {"env_id": DEPTH, "split": "test", "index": 6, "seed": 12}
    env = gym.make(DEPTH)
    observation, _ = env.reset(seed=12, options={"split": "test", "index": 6})
    assert row["prompt"][0]["content"] == observation[0]["content"][0]["text"]  # the paper's prompt, byte for byte
    assert row["prompt"][1]["content"] == observation[1]["content"][-1]["text"]
    assert len(row["images"]) == 1
    assert np.array_equal(np.asarray(row["images"][0]), observation[1]["content"][0]["image"])


def test_a_prompt_that_names_no_episode_is_refused_naming_it_and_the_fix() -> None:
    with pytest.raises(ValueError) as error:
        parse_prompt([{"role": "user", "content": "What is closer?"}], 3)
    assert str(error.value) == (
        "prompt 3 does not name a SpaceTools episode (its user message's 'spacetools_episode' field is 'None'); "
        "the rollout_func plays rows whose user message carries JSON with ['env_id', 'split', 'index', 'seed'] "
        "there: build the dataset with agents.trl.episode_rows(env_id, count)"
    )


# ---------------------------------------------------------------------------------------------- tokens
def test_rollout_returns_the_sampled_tokens_with_their_logprobs_and_env_mask(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    rows = episode_rows(DEPTH, 2)
    func = SpaceToolsRollout(max_turn_tokens=12)
    trainer = _trainer(checkpoints["qwen2_5_vl"], rows, func, tmp_path, max_steps=1)
    out = func(_prompts(rows), trainer)
    assert {"prompt_ids", "completion_ids", "logprobs", "env_mask", "env_reward", "score"} <= set(out)
    processor = trainer.processing_class
    for k, row in enumerate(rows):
        ids, mask, logprobs = out["completion_ids"][k], out["env_mask"][k], out["logprobs"][k]
        assert len(ids) == len(mask) == len(logprobs) <= 160
        assert 0 in mask and 1 in mask  # model turns and the env's feedback between them
        env_text = processor.tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if m == 0])
        assert "<tool_response>\nError:" in env_text and env_text.endswith("<|im_start|>assistant\n")
        # The trainer scores the same sequence on the same pixels: its log-probabilities are the sampled ones.
        rendered = processor.apply_chat_template(
            prepare_multimodal_messages(row["prompt"], images=row["images"]), tokenize=False,
            add_generation_prompt=True,
        )
        inputs = processor(text=[rendered], images=row["images"], return_tensors="pt")
        assert inputs["input_ids"][0].tolist() == out["prompt_ids"][k]
        full = torch.tensor([out["prompt_ids"][k] + ids])
        with torch.no_grad():
            logits = trainer.model(
                input_ids=full, attention_mask=torch.ones_like(full), pixel_values=inputs["pixel_values"],
                image_grid_thw=inputs["image_grid_thw"],
                mm_token_type_ids=torch.cat([inputs["mm_token_type_ids"], torch.zeros(1, len(ids), dtype=torch.long)],
                                            dim=1),
            ).logits[0, len(out["prompt_ids"][k]) - 1 : -1]
        scored = torch.log_softmax(logits.float(), dim=-1)[torch.arange(len(ids)), torch.tensor(ids)]
        model_tokens = torch.tensor(mask, dtype=torch.bool)
        assert torch.allclose(scored[model_tokens], torch.tensor(logprobs)[model_tokens], atol=1e-4)
        assert all(lp == 0.0 for lp, m in zip(logprobs, mask, strict=True) if m == 0)
    func.close()


def test_a_row_whose_images_are_not_the_env_s_is_refused(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    rows = episode_rows(DEPTH, 1)
    rows[0]["images"] = [rows[0]["images"][0].rotate(90)]
    func = SpaceToolsRollout(max_turn_tokens=4)
    trainer = _trainer(checkpoints["qwen2_5_vl"], episode_rows(DEPTH, 1), func, tmp_path, max_steps=1)
    with pytest.raises(ValueError) as error:
        func(_prompts(rows), trainer)
    assert str(error.value) == (
        f"prompt 0 ({{'env_id': '{DEPTH}', 'split': 'test', 'index': 0, 'seed': 0}}): the row's images (TRL trains on "
        "them) are not the env's question images (1 given, 1 in the env's question); build the rows with "
        "agents.trl.episode_rows(env_id, count) and the env_kwargs given to the rollout"
    )
    func.close()


# ---------------------------------------------------------------------------------------------- conformance
@pytest.mark.parametrize(("env_id", "family"), [(DEPTH, "qwen2_5_vl"), (RELATION, "qwen2_5_vl"), (DEPTH, "qwen3_vl"),
                                                 (DEPTH, "llava")])
def test_scripted_turns_score_the_same_through_env_step_and_the_rollout_func(
    env_id: str, family: str, checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    rows = episode_rows(env_id, 3)
    expected = []
    for row in rows:
        env = gym.make(env_id)
        agent = ToolProgramAgent()
        traj = rollout(env, agent_policy(agent, "direct"), seed=row["seed"],
                       options={"split": row["split"], "index": row["index"]})
        expected.append(traj)
    func = SpaceToolsRollout(teacher=ToolProgramAgent(), max_turn_tokens=2048)
    trainer = _trainer(checkpoints[family], rows, func, tmp_path, max_steps=1, max_completion_length=8192)
    out = func(_prompts(rows), trainer)
    for k, traj in enumerate(expected):
        played = func.last_results[k].trajectory
        assert played is not None
        assert played.actions == traj.actions  # the scripted text survives tokenization unchanged
        assert out["score"][k] == traj.score
        assert out["env_reward"][k] == pytest.approx(traj.total_reward)
        assert out["reward_components"][k]["shaped"] == pytest.approx(sum(c["shaped"] for c in traj.reward_components))
        assert out["tool_calls"][k] == traj.info["tool_stats"]["calls"] > 0
    assert sum(out["score"]) > 0
    func.close()


class _Spray:
    """Writes ten well-formed calls in one turn, then answers."""

    name = "spray"

    def act(self, turns: Sequence[Turn]) -> list[Any]:
        call = '<tool_call>\n{"name": "depth_estimator.estimate_depth", "arguments": {"image_index": 0}}\n</tool_call>'
        return ["\n".join([call] * 10) if len(t.messages) == 2 else "<answer>(A)</answer>" for t in turns]

    def end_episode(self, episode_id: str) -> None:
        pass


def test_the_rollout_func_keeps_the_paper_protocol_caps(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    rows = episode_rows(DEPTH, 1)
    func = SpaceToolsRollout(teacher=_Spray(), max_turn_tokens=2048)
    trainer = _trainer(checkpoints["qwen2_5_vl"], rows, func, tmp_path, max_steps=1, max_completion_length=4096)
    out = func(_prompts(rows), trainer)
    assert out["tool_calls"] == [8]  # 8 calls per turn, as env.step allows
    played = func.last_results[0].trajectory
    assert played is not None
    feedback = [m["content"][0]["text"] for m in played.messages if m["role"] == "tool"]
    assert feedback[0] == "Error: at most 8 tool calls run per turn; calls 9..10 were not run."
    env_text = trainer.processing_class.tokenizer.decode(
        [t for t, m in zip(out["completion_ids"][0], out["env_mask"][0], strict=True) if m == 0]
    )
    assert f"<tool_response>\n{feedback[0]}\n</tool_response>" in env_text  # the model is trained after seeing it
    func.close()


def test_rollouts_are_reproducible_and_the_completions_of_a_group_differ(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    rows = episode_rows(DEPTH, 1) * 4  # one group, as TRL repeats a row num_generations times
    first, second = SpaceToolsRollout(max_turn_tokens=16), SpaceToolsRollout(max_turn_tokens=16, batch_size=1)
    trainer = _trainer(checkpoints["qwen2_5_vl"], rows, first, tmp_path, max_steps=1, max_completion_length=96)
    a, b = first(_prompts(rows), trainer), second(_prompts(rows), trainer)
    assert a["completion_ids"] == b["completion_ids"]  # same seed, step and position: same tokens, any batch size
    assert len({tuple(ids) for ids in a["completion_ids"]}) == 4
    first.close()
    second.close()


class _Crop:
    name = "crop"

    def act(self, turns: Sequence[Turn]) -> list[Any]:
        return [CROP for _ in turns]

    def end_episode(self, episode_id: str) -> None:
        pass


def test_a_tool_image_in_the_rollout_func_path_is_refused_naming_the_fix(
    checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    rows = episode_rows(DEPTH, 1, env_kwargs=IMAGE_TOOLS_ON)
    func = SpaceToolsRollout(teacher=_Crop(), env_kwargs=IMAGE_TOOLS_ON, max_turn_tokens=256)
    trainer = _trainer(checkpoints["qwen2_5_vl"], rows, func, tmp_path, max_steps=1, max_completion_length=1024)
    with pytest.raises(RuntimeError) as error:
        func(_prompts(rows), trainer)
    assert str(error.value) == (
        f"episode {DEPTH} (reset seed 0, {{'split': 'test', 'index': 0}}) failed: ValueError: an env returned a tool "
        "image: the rollout_func path trains on the dataset's images only, so tool images cannot reach the training "
        "forward pass; make the env with tool_images=False (the default), or train through the environment_factory "
        "path"
    )
    func.close()


# ---------------------------------------------------------------------------------------------- GRPO
def test_two_grpo_steps_through_the_rollout_func_move_the_weights(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    func = SpaceToolsRollout(teacher=_EvenTeacher(), max_turn_tokens=200)  # room for the tool program's turns
    rewards = [env_reward, score_reward, component_reward("shaped")]
    trainer = _trainer(checkpoints["qwen2_5_vl"], episode_rows(DEPTH, 4), func, tmp_path, rewards,
                       max_completion_length=640, reward_weights=[1.0, 0.0, 0.0])
    before = {name: p.detach().clone() for name, p in trainer.model.named_parameters()}
    trainer.train()
    moved = [name for name, p in trainer.model.named_parameters() if not torch.equal(before[name], p)]
    assert len(moved) > len(before) // 2
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 2
    for entry in logs:
        for key in ("loss", "reward", "reward/env", "reward/score", "reward/shaped", "tools/calls_per_episode",
                    "tools/failure_rate", "rollout/turns"):
            assert math.isfinite(entry[key]), key
    assert all(entry["tools/calls_per_episode"] > 0 for entry in logs)  # real tool calls ran
    assert any(entry["reward_std"] > 0 for entry in logs)
    for entry in logs:  # TRL's own columns agree with ours: half of each group follows the tool program
        assert entry["rewards/env_reward/mean"] == pytest.approx(entry["reward/env"], abs=1e-6)
        assert entry["rewards/score_reward/mean"] == pytest.approx(entry["reward/score"], abs=1e-6)
        assert entry["rewards/component_shaped/mean"] == pytest.approx(entry["reward/shaped"], abs=1e-6)
        assert entry["reward/score"] >= 0.5
    func.close()


# ---------------------------------------------------------------------------------------------- the example
@pytest.mark.parametrize("path", ["rollout", "factory"])
def test_the_grpo_example_trains_through_each_path(path: str, capsys: pytest.CaptureFixture[str]) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("grpo_tiny", Path(__file__).parents[1] / "examples" / "grpo_tiny.py")
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    logs = example.main(["--path", path, "--steps", "2", "--max-completion-length", "64"])
    assert len(logs) == 2 and all(math.isfinite(entry["loss"]) for entry in logs)
    assert "step 2: loss" in capsys.readouterr().out
