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
from tool_backends.backends import DEFAULT_TOOLS, IMAGE_TOOLS

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("datasets")

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from datasets import Dataset  # noqa: E402
from transformers import AutoModelForImageTextToText, AutoProcessor  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402
from trl.data_utils import prepare_multimodal_messages  # noqa: E402

from agents.models.tiny import write_checkpoint  # noqa: E402
from agents.trl import (  # noqa: E402
    SpaceToolsRollout,
    env_reward,
    environment_class,
    episode_rows,
    factory_rows,
    parse_prompt,
    submit_answers,
)
from agents.trl.environment import add_response_parser  # noqa: E402

DEPTH = "SpaceTools-Synth-RelativeDepth-v0"
IMAGE_TOOLS_ON = {"tools": [*DEFAULT_TOOLS, *IMAGE_TOOLS], "tool_images": True}
CROP = (
    '<tool_call>\n{"name": "vision_ops.crop", "arguments": {"x1": 0.1, "y1": 0.1, "x2": 0.6, "y2": 0.6, '
    '"image_index": 0}}\n</tool_call>'
)
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


@pytest.fixture(scope="module")
def qwen3(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_checkpoint("qwen3_vl", tmp_path_factory.mktemp("tiny") / "qwen3_vl")


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
@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory, qwen25: Path, qwen3: Path) -> dict[str, Path]:
    return {"qwen2_5_vl": qwen25, "qwen3_vl": qwen3,
            "llava": write_checkpoint("llava", tmp_path_factory.mktemp("families") / "llava")}


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


def test_the_rollout_func_keeps_the_paper_protocol_caps(qwen25: Path, tmp_path: Path) -> None:
    rows = episode_rows(DEPTH, 1)
    func = SpaceToolsRollout(teacher=_Spray(), max_turn_tokens=2048)
    trainer = _trainer(qwen25, rows, func, tmp_path, max_steps=1, max_completion_length=4096)
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


def test_rollouts_are_reproducible_and_the_completions_of_a_group_differ(qwen25: Path, tmp_path: Path) -> None:
    rows = episode_rows(DEPTH, 1) * 4  # one group, as TRL repeats a row num_generations times
    first, second = SpaceToolsRollout(max_turn_tokens=16), SpaceToolsRollout(max_turn_tokens=16, batch_size=1)
    trainer = _trainer(qwen25, rows, first, tmp_path, max_steps=1, max_completion_length=96)
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


def test_a_tool_image_in_the_rollout_func_path_is_refused_naming_the_fix(qwen25: Path, tmp_path: Path) -> None:
    rows = episode_rows(DEPTH, 1, env_kwargs=IMAGE_TOOLS_ON)
    func = SpaceToolsRollout(teacher=_Crop(), env_kwargs=IMAGE_TOOLS_ON, max_turn_tokens=256)
    trainer = _trainer(qwen25, rows, func, tmp_path, max_steps=1, max_completion_length=1024)
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


# ---------------------------------------------------------------------------------------------- environment_factory
def _schema_differences(trl_schema: Any, ours: Any, path: str = "") -> list[str]:
    if isinstance(trl_schema, dict) and isinstance(ours, dict):
        out = []
        for key in sorted(set(trl_schema) | set(ours)):
            if key not in trl_schema or key not in ours:
                out.append(f"{path}/{key}")
            else:
                out += _schema_differences(trl_schema[key], ours[key], f"{path}/{key}")
        return out
    return [] if trl_schema == ours else [path]


def test_environment_methods_are_the_env_tools_with_the_schemas_we_declare() -> None:
    from transformers.utils import get_json_schema

    from tool_backends.names import openai_tools

    environment = environment_class(DEPTH)
    env = gym.make(DEPTH)
    ours = {s["function"]["name"]: s for s in openai_tools(env.unwrapped.tool_schemas)}
    public = sorted(n for n in vars(environment) if not n.startswith("_") and callable(vars(environment)[n]))
    assert public == sorted(ours)
    differences = set()
    for name, schema in ours.items():
        differences.update(_schema_differences(get_json_schema(getattr(environment, name)), schema, name))
    # What legitimately differs: transformers adds the return value, and cannot say a point is a pair.
    assert differences == {f"{name}/function/return" for name in ours} | {
        "sam2__segment_from_points/function/parameters/properties/points/items/maxItems",
        "sam2__segment_from_points/function/parameters/properties/points/items/minItems",
    }


def test_environment_reset_is_deterministic_from_the_row_and_a_call_runs_the_tool() -> None:
    environment = environment_class(DEPTH)
    row = factory_rows(DEPTH, 3)[2]
    assert "# Tools" not in row["prompt"][0]["content"]  # TRL's template announces the tools
    first, second = environment(), environment()
    a, b = first.reset(**row), second.reset(**row)
    assert [p["type"] for p in a] == ["image", "text"] and a[1] == b[1]
    assert np.array_equal(np.asarray(a[0]["image"]), np.asarray(b[0]["image"]))
    text = first.depth_estimator__estimate_depth(image_index=0)
    assert isinstance(text, str) and "depth" in text.lower()
    assert text == second.depth_estimator__estimate_depth(image_index=0)
    assert "Error:" in first.vision_ops__index_at(data="$nothing", u=0.5, v=0.5)
    assert first.get_reward() == pytest.approx(-first.info["reward_weights"]["tool_error"])  # the env's penalty


def test_a_tool_image_reaches_trl_as_a_content_list() -> None:
    environment = environment_class(DEPTH, **IMAGE_TOOLS_ON)()
    environment.reset(**factory_rows(DEPTH, 1, env_kwargs=IMAGE_TOOLS_ON)[0])
    parts = environment.vision_ops__crop(x1=0.1, y1=0.1, x2=0.6, y2=0.6, image_index=0)
    assert isinstance(parts, list) and [p["type"] for p in parts] == ["image", "text"]
    assert parts[0]["image"].size == (320, 240)


def test_a_row_of_another_env_is_refused_by_the_environment() -> None:
    environment = environment_class(DEPTH)()
    with pytest.raises(ValueError) as error:
        environment.reset(env_id=RELATION, split="test", index=0, seed=0)
    assert str(error.value) == (
        f"this environment plays '{DEPTH}', but the row names '{RELATION}'; pass a dict environment_factory with "
        "an 'environment' column to mix env ids"
    )


def _native_calls(text: str) -> str:
    """A tool-program turn with each call written under its function name (as a factory-trained model writes it)."""
    import json
    import re

    from tool_backends.names import to_function_name

    def rename(match: re.Match[str]) -> str:
        call = json.loads(match.group(1))
        return "<tool_call>\n" + json.dumps({**call, "name": to_function_name(call["name"])}) + "\n</tool_call>"

    return re.sub(r"<tool_call>\s*(.*?)\s*</tool_call>", rename, text, flags=re.S)


@pytest.mark.parametrize("env_id", [DEPTH, RELATION])
def test_scripted_turns_score_the_same_through_env_step_and_trl_s_parser_with_the_factory(
    env_id: str, qwen3: Path
) -> None:
    from trl.chat_template_utils import parse_response

    processor = add_response_parser(AutoProcessor.from_pretrained(qwen3))
    tokenizer = processor.tokenizer
    environment_type = environment_class(env_id)
    for row in factory_rows(env_id, 2):
        env = gym.make(env_id)
        expected = rollout(env, agent_policy(ToolProgramAgent(), "direct"), seed=row["seed"],
                           options={"split": row["split"], "index": row["index"]})
        environment = environment_type()
        environment.reset(**row)
        agent = ToolProgramAgent()
        options = {"split": row["split"], "index": row["index"]}
        messages, info = gym.make(env_id).reset(seed=row["seed"], options=options)
        prefix = tokenizer("<|im_start|>assistant\n", add_special_tokens=False)["input_ids"]
        calls = 0
        while True:
            text = agent.act([Turn("factory", messages, info)])[0]
            ids = tokenizer(_native_calls(text) + "<|im_end|>", add_special_tokens=False)["input_ids"]
            parsed = parse_response(tokenizer, ids, prefix=prefix)
            if not parsed.get("tool_calls"):
                submit_answers([[{"role": "assistant", "content": parsed["content"]}]], [environment])
                break
            messages = [*messages, {"role": "assistant", "content": [{"type": "text", "text": text}]}]
            for call in parsed["tool_calls"]:
                result = getattr(environment, call["function"]["name"])(**call["function"]["arguments"])
                messages.append({"role": "tool", "name": call["function"]["name"],
                                 "content": [{"type": "text", "text": result}]})
                calls += 1
        components = environment.components
        assert environment.info["score"] == expected.score
        assert components["shaped"] == pytest.approx(sum(c["shaped"] for c in expected.reward_components))
        assert components["tool_error"] == pytest.approx(sum(c["tool_error"] for c in expected.reward_components))
        assert calls == expected.info["tool_stats"]["calls"] > 0
        # Legitimately different: `turn` (one env step per call here) and `invalid_action` (TRL parses calls).
        assert environment.get_reward() == pytest.approx(expected.total_reward)


def _teach_call_then_guess(model: Any, processor: Any, environment_type: Any, row: dict[str, Any]) -> None:
    """A few SFT steps so the random model calls a tool, then answers (A) or (B) at even odds.

    Sampled GRPO groups then hold real tool calls and scores that differ (as TRL's own notes do it).
    """
    environment = environment_type()
    content = environment.reset(**row)
    tools = [getattr(environment, n) for n in sorted(vars(environment_type)) if "__" in n and not n.startswith("_")]
    messages = [row["prompt"][0], {"role": "user", "content": [{"type": "text", "text": ""}, *content]}]
    prompt = processor.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=True)
    call = {"name": "depth_estimator__estimate_depth", "arguments": {"image_index": 0}}
    response = environment.depth_estimator__estimate_depth(image_index=0)
    turns = [*messages, {"role": "assistant", "content": "", "tool_calls": [{"type": "function", "function": call}]},
             {"role": "tool", "name": call["name"], "content": response}]
    played = processor.apply_chat_template(turns, tools=tools, tokenize=False, add_generation_prompt=True)
    image = [content[0]["image"]]
    length = processor(text=[prompt], images=image, return_tensors="pt")["input_ids"].shape[1]
    batches = [processor(text=[played + f"<answer>({c})</answer><|im_end|>"], images=image, return_tensors="pt")
               for c in "AB"]
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for step in range(80):
        inputs = batches[step % 2]
        labels = inputs["input_ids"].clone()
        labels[:, :length] = -100
        loss = model(**inputs, labels=labels).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()


# Qwen2.5-VL through the shipped template (TRL's own copy cannot call tools): its calls run too, but two steps of
# this tiny model give every completion of a group the same reward, so only Qwen3-VL is asked to move its weights.
@pytest.mark.parametrize(("family", "moves"), [("qwen3_vl", True), ("qwen2_5_vl", False)])
def test_two_grpo_steps_through_the_environment_factory_run_real_tool_calls(
    family: str, moves: bool, checkpoints: dict[str, Path], tmp_path: Path
) -> None:
    environment_type = environment_class(DEPTH)
    rows = factory_rows(DEPTH, 2)
    model = AutoModelForImageTextToText.from_pretrained(checkpoints[family])
    processor = add_response_parser(AutoProcessor.from_pretrained(checkpoints[family]))
    _teach_call_then_guess(model, processor, environment_type, rows[0])
    config = GRPOConfig(
        output_dir=str(tmp_path), use_cpu=True, report_to="none", save_strategy="no", logging_steps=1,
        per_device_train_batch_size=4, num_generations=4, max_completion_length=96, learning_rate=1e-2,
        max_steps=2, seed=0, max_tool_calling_iterations=2, temperature=1.0,
    )
    trainer = GRPOTrainer(model=model, processing_class=processor, reward_funcs=[submit_answers], args=config,
                          train_dataset=Dataset.from_list(rows), environment_factory=environment_type)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    trainer.train()
    logs = [entry for entry in trainer.state.log_history if "loss" in entry]
    assert len(logs) == 2
    for entry in logs:
        for key in ("loss", "reward", "reward/env", "tools/call_frequency", "tools/calls_per_episode"):
            assert math.isfinite(entry[key]), key
    assert sum(entry["tools/calls_per_episode"] for entry in logs) > 0  # real tool calls ran through the env
    assert all(entry["tools/failure_frequency"] == 0 for entry in logs)
    if moves:
        assert any(entry["reward_std"] > 0 for entry in logs)
        moved = [name for name, p in model.named_parameters() if not torch.equal(before[name], p)]
        assert len(moved) > len(before) // 2


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
