"""The TRL bridge: TRL 1.16's GRPOTrainer, unchanged, on SpaceTools envs through ``rollout_func``.

Real objects throughout: a tiny random-weight Qwen2.5-VL checkpoint from the kit (``agents.models.tiny``),
``gym.make`` envs with oracle tools, TRL's own ``GRPOTrainer``. Torch runs on one thread.
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

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("datasets")

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from datasets import Dataset  # noqa: E402
from transformers import AutoModelForImageTextToText, AutoProcessor  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402
from trl.data_utils import prepare_multimodal_messages  # noqa: E402

from agents.models.tiny import write_checkpoint  # noqa: E402
from agents.trl import SpaceToolsRollout, env_reward, episode_rows, parse_prompt  # noqa: E402

DEPTH = "SpaceTools-Synth-RelativeDepth-v0"
RELATION = "SpaceTools-Synth-Relation2D-v0"


@pytest.fixture(scope="module", autouse=True)
def _one_thread() -> Any:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def qwen25(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_checkpoint("qwen2_5_vl", tmp_path_factory.mktemp("tiny") / "qwen2_5_vl")


def _trainer(path: Path, rows: list[dict[str, Any]], rollout_func: Any, out: Path, **args: Any) -> GRPOTrainer:
    model = AutoModelForImageTextToText.from_pretrained(path)
    processor = AutoProcessor.from_pretrained(path)
    options = {
        "output_dir": str(out), "use_cpu": True, "report_to": "none", "save_strategy": "no", "logging_steps": 1,
        "per_device_train_batch_size": 4, "num_generations": 4, "max_completion_length": 160, "learning_rate": 1e-2,
        "max_steps": 2, "seed": 0, **args,
    }
    config = GRPOConfig(**options)
    return GRPOTrainer(model=model, processing_class=processor, reward_funcs=[env_reward], args=config,
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
def test_rollout_returns_the_sampled_tokens_with_their_logprobs_and_env_mask(qwen25: Path, tmp_path: Path) -> None:
    rows = episode_rows(DEPTH, 2)
    func = SpaceToolsRollout(max_turn_tokens=12)
    trainer = _trainer(qwen25, rows, func, tmp_path, max_steps=1)
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


def test_a_row_whose_images_are_not_the_env_s_is_refused(qwen25: Path, tmp_path: Path) -> None:
    rows = episode_rows(DEPTH, 1)
    rows[0]["images"] = [rows[0]["images"][0].rotate(90)]
    func = SpaceToolsRollout(max_turn_tokens=4)
    trainer = _trainer(qwen25, episode_rows(DEPTH, 1), func, tmp_path, max_steps=1)
    with pytest.raises(ValueError) as error:
        func(_prompts(rows), trainer)
    assert str(error.value) == (
        f"prompt 0 ({{'env_id': '{DEPTH}', 'split': 'test', 'index': 0, 'seed': 0}}): the row's images (TRL trains on "
        "them) are not the env's question images (1 given, 1 in the env's question); build the rows with "
        "agents.trl.episode_rows(env_id, count) and the env_kwargs given to the rollout"
    )
    func.close()


# ---------------------------------------------------------------------------------------------- conformance
@pytest.mark.parametrize("env_id", [DEPTH, RELATION])
def test_scripted_turns_score_the_same_through_env_step_and_the_rollout_func(
    env_id: str, qwen25: Path, tmp_path: Path
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
    trainer = _trainer(qwen25, rows, func, tmp_path, max_steps=1, max_completion_length=8192)
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


# ---------------------------------------------------------------------------------------------- GRPO
def test_two_grpo_steps_through_the_rollout_func_move_the_weights(qwen25: Path, tmp_path: Path) -> None:
    func = SpaceToolsRollout(teacher=_EvenTeacher(), max_turn_tokens=64)
    trainer = _trainer(qwen25, episode_rows(DEPTH, 4), func, tmp_path, max_completion_length=384)
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
    func.close()
