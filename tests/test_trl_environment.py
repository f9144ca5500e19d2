"""The TRL bridge's environment_factory path: TRL 1.16's own tool loop on SpaceTools envs.

Real objects: ``environment_class`` classes of registered ids, TRL's own response parser and
``GRPOTrainer``, tiny random-weight Qwen3-VL and Qwen2.5-VL checkpoints of the kit (``agents.models.tiny``)
with a few SFT steps so that they call a tool. Torch runs on one thread.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest

import spacetools_env  # noqa: F401  (registers the ids)
from agents.tool_program import ToolProgramAgent
from spacetools_env.rollout import Turn, agent_policy, rollout
from tool_backends.backends import DEFAULT_TOOLS, IMAGE_TOOLS
from tool_backends.names import openai_tools, to_function_name

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
pytest.importorskip("datasets")

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")

from datasets import Dataset  # noqa: E402
from transformers import AutoModelForImageTextToText, AutoProcessor  # noqa: E402
from transformers.utils import get_json_schema  # noqa: E402
from trl import GRPOConfig, GRPOTrainer  # noqa: E402
from trl.chat_template_utils import parse_response  # noqa: E402

from agents.trl import environment_class, factory_rows, submit_answers  # noqa: E402
from agents.trl.environment import add_response_parser  # noqa: E402
from tests.fixtures_trl import DEPTH, RELATION, one_torch_thread, tiny_checkpoints  # noqa: E402, F401

IMAGE_TOOLS_ON = {"tools": [*DEFAULT_TOOLS, *IMAGE_TOOLS], "tool_images": True}
FAMILIES = ("qwen3_vl", "qwen2_5_vl")


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_checkpoints(tmp_path_factory, FAMILIES)


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
    def rename(match: re.Match[str]) -> str:
        call = json.loads(match.group(1))
        return "<tool_call>\n" + json.dumps({**call, "name": to_function_name(call["name"])}) + "\n</tool_call>"

    return re.sub(r"<tool_call>\s*(.*?)\s*</tool_call>", rename, text, flags=re.S)


@pytest.mark.parametrize("env_id", [DEPTH, RELATION])
def test_scripted_turns_score_the_same_through_env_step_and_trl_s_parser_with_the_factory(
    env_id: str, checkpoints: dict[str, Path]
) -> None:
    processor = add_response_parser(AutoProcessor.from_pretrained(checkpoints["qwen3_vl"]))
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
