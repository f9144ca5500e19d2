"""The transformers VLM agent on tiny checkpoints: real episodes, the CLI, rendering, budgets, determinism."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from agents.models import tiny  # noqa: E402
from agents.models.decoding import TurnDecoder  # noqa: E402
from agents.models.hf import HFAgent  # noqa: E402
from agents.models.render import fit_pixels, template_messages  # noqa: E402
from agents.models.settings import GenerationSettings, manifest_entry  # noqa: E402
from benchmarks.cli import main as cli_main  # noqa: E402
from spacetools_env import messages as msg  # noqa: E402
from spacetools_env.rollout import Turn, agent_policy, rollout  # noqa: E402

torch.set_num_threads(1)
ENV_ID = "SpaceTools-Synth-RelativeDepth-v0"
ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny-agent")
    return {family: tiny.write_checkpoint(family, root / family) for family in tiny.FAMILIES}


@pytest.fixture(scope="module")
def qwen(checkpoints: dict[str, Path]) -> HFAgent:
    return HFAgent(model=str(checkpoints["qwen2_5_vl"]), max_turn_tokens=12)


def _first_turns(count: int, **make: object) -> list[Turn]:
    env = gym.make(ENV_ID, **make)
    turns = []
    for seed in range(count):
        observation, info = env.reset(seed=seed)
        turns.append(Turn(f"ep{seed}", observation, info))
    env.close()
    return turns


@pytest.mark.parametrize("family", sorted(tiny.FAMILIES))
def test_plays_real_episodes_through_gym_make(checkpoints: dict[str, Path], family: str) -> None:
    agent = HFAgent(model=str(checkpoints[family]), max_turn_tokens=8)
    env = gym.make(ENV_ID, max_turns=3)
    traj = rollout(env, agent_policy(agent, "ep"), seed=0)
    assert traj.terminated or traj.truncated
    assert traj.turns >= 1 and all(isinstance(a, str) for a in traj.actions)
    episode = agent.episodes["ep"]
    assert episode.images.processed == 1  # the one image, processed once over every turn
    assert agent.cache_images is True  # checked against the uncached processor on the first batch
    assert all(0 <= n <= 8 for n in episode.turn_tokens) and sum(episode.turn_tokens) > 0
    agent.end_episode("ep")
    assert "ep" not in agent.episodes


def test_spacetools_eval_with_agent_kwargs(checkpoints: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    kwargs = {"model": str(checkpoints["qwen2_5_vl"]), "max_turn_tokens": 6}
    code = cli_main([
        "eval", "--agent", "hf", "--agent-kwargs", json.dumps(kwargs), "--suite", ENV_ID, "--episodes", "2",
        "--out", str(out), "--no-progress", "--batch-size", "2", "--env-kwargs", '{"max_turns": 2}',
    ])
    assert code == 0
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 2
    agent = json.loads((out / "manifest.json").read_text())["agent"]
    model = agent["model"]
    assert model["path"] == str(checkpoints["qwen2_5_vl"].resolve())
    assert model["revision"] is None and len(model["weights_sha256"]) == 64
    assert model["chat_template"] == "shipped:qwen2_5_vl"
    assert model["generation"]["max_turn_tokens"] == 6 and model["generation"]["max_episode_tokens"] == 8192
    assert HFAgent(**kwargs).describe() == model  # the built agent says the same as the manifest


def test_sampled_eval_runs_repeat_and_other_weights_are_not_resumed_into(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tiny.write_checkpoint("llava", tmp_path / "ck", seed=0)
    kwargs = json.dumps({"model": str(folder), "max_turn_tokens": 6, "do_sample": True, "seed": 3})

    def run(out: Path) -> int:
        return cli_main([
            "eval", "--agent", "hf", "--agent-kwargs", kwargs, "--suite", ENV_ID, "--episodes", "2",
            "--out", str(out), "--no-progress", "--env-kwargs", '{"max_turns": 2}',
        ])

    assert run(tmp_path / "a") == 0 and run(tmp_path / "b") == 0
    actions = [
        [json.loads(line)["trajectory"]["actions"] for line in (tmp_path / name / "results.jsonl").open()]
        for name in ("a", "b")
    ]
    assert actions[0] == actions[1] and any(a for episode in actions[0] for a in episode)
    tiny.write_checkpoint("llava", folder, seed=1)  # same folder, other weights
    capsys.readouterr()
    assert run(tmp_path / "a") != 0
    assert "agent.model.weights_sha256" in capsys.readouterr().err


def test_images_are_scaled_into_the_pixel_bounds() -> None:
    image = np.zeros((480, 640, 3), dtype=np.uint8)
    small = fit_pixels(image, 56 * 56, 100 * 100)
    assert small.width * small.height <= 100 * 100 + 200 and abs(small.width / small.height - 4 / 3) < 0.02
    large = fit_pixels(np.zeros((20, 30, 3), dtype=np.uint8), 56 * 56, 512 * 512)
    assert large.width * large.height >= 56 * 56 - 100 and abs(large.width / large.height - 1.5) < 0.05
    assert fit_pixels(image, 1, 640 * 480).size == (640, 480)


def test_greedy_batch_equals_one_at_a_time(qwen: HFAgent) -> None:
    turns = _first_turns(2)
    reply = msg.tool_message("roborefer.detect_one", "Detected 1 instance(s) of 'mug': [(0.5, 0.5)]")
    longer = Turn("long", [*turns[1].messages, msg.assistant_message("<tool_call>{}</tool_call>"), reply],
                  turns[1].info)
    batch = [turns[0], longer]
    alone = [qwen.act([turn])[0] for turn in batch]
    for turn in batch:
        qwen.end_episode(turn.episode_id)
    assert qwen.act(batch) == alone
    for turn in batch:
        qwen.end_episode(turn.episode_id)


def test_seeded_sampling_is_per_episode_and_repeatable(checkpoints: dict[str, Path]) -> None:
    path = str(checkpoints["qwen3_vl"])
    first = HFAgent(model=path, do_sample=True, seed=7, max_turn_tokens=10)
    second = HFAgent(model=path, do_sample=True, seed=7, max_turn_tokens=10)
    turns = _first_turns(2)
    together = first.act(turns)
    assert second.act([turns[1]]) == [together[1]]  # the same text, whatever shares the batch
    assert second.act([turns[0]]) == [together[0]]
    other = HFAgent(model=path, do_sample=True, seed=8, max_turn_tokens=10).act(turns)
    assert other != together


def test_qwen2_5_vl_prompt_with_tool_image_has_one_image_per_placeholder(qwen: HFAgent) -> None:
    turn = _first_turns(1, tool_images=True)[0]
    crop = np.zeros((40, 60, 3), dtype=np.uint8)
    conversation = [
        *turn.messages,
        msg.assistant_message('<tool_call>{"name": "vision_ops.crop", "arguments": {}}</tool_call>'),
        msg.tool_message("vision_ops.crop", "Cropped region.", images=[crop]),
    ]
    messages, images = template_messages(conversation)
    text = qwen.processor.apply_chat_template(
        messages, chat_template=qwen.chat_template, tokenize=False, add_generation_prompt=True
    )
    assert text.startswith("<|im_start|>system\n" + turn.messages[0]["content"][0]["text"] + "<|im_end|>\n")
    assert "<|im_start|>user\n<tool_response>\nCropped region.<|vision_start|><|image_pad|><|vision_end|>\n" \
           "</tool_response><|im_end|>\n<|im_start|>assistant\n" in text
    inputs = qwen.processor(text=[text], images=[np.array(image) for image in images], return_tensors="pt")
    ids = inputs["input_ids"][0].tolist()
    tokenizer = qwen.tokenizer
    assert len(images) == 2 == ids.count(tokenizer.convert_tokens_to_ids("<|vision_start|>"))
    grid = inputs["image_grid_thw"]
    assert grid.shape[0] == 2
    assert ids.count(tokenizer.convert_tokens_to_ids("<|image_pad|>")) == int(grid.prod(dim=1).sum()) // 4


def test_images_are_processed_once_and_give_the_uncached_inputs(qwen: HFAgent) -> None:
    turn = _first_turns(1)[0]
    episode = qwen._episode(turn.episode_id)
    cached = qwen.model_inputs([turn])
    again = qwen.model_inputs([turn])
    assert episode.images.processed == 1
    messages, images = template_messages(turn.messages)
    text = qwen.processor.apply_chat_template(
        messages, chat_template=qwen.chat_template, tokenize=False, add_generation_prompt=True
    )
    plain = qwen.processor(text=[text], images=episode.images.pil_images(images), return_tensors="pt")
    for key in plain:
        assert torch.equal(cached[key], plain[key]) and torch.equal(again[key], plain[key]), key
    qwen.end_episode(turn.episode_id)


def test_token_budgets_per_turn_and_per_episode(checkpoints: dict[str, Path]) -> None:
    agent = HFAgent(model=str(checkpoints["qwen2_5_vl"]), max_turn_tokens=5, max_episode_tokens=60)
    env = gym.make(ENV_ID, max_turns=6)
    traj = rollout(env, agent_policy(agent, "ep"), seed=1)
    spent = agent.episodes["ep"].turn_tokens
    assert all(n <= 5 for n in spent)
    assert 0 in spent and traj.actions[spent.index(0)] == ""  # the budget ran out: empty actions, no generation
    assert traj.truncated
    tight = HFAgent(model=str(checkpoints["qwen2_5_vl"]), max_prompt_tokens=50)
    with pytest.warns(UserWarning, match=r"episode 'ep0': its first prompt is \d+ tokens, over max_prompt_tokens=50"):
        assert tight.act(_first_turns(1)) == [""]


def test_turn_ends_right_after_answer(qwen: HFAgent) -> None:
    tokenizer = qwen.tokenizer
    prompt = tokenizer("<|im_start|>assistant\n", return_tensors="pt")["input_ids"]
    generated = tokenizer("<answer>Yes</answer>", add_special_tokens=False, return_tensors="pt")["input_ids"]

    def decoder() -> TurnDecoder:
        return TurnDecoder(GenerationSettings(), prompt.shape[1], [100], [torch.Generator()], qwen.stop_ids,
                           tokenizer.decode, "</answer>")

    scores = torch.zeros(1, len(tokenizer))
    forced = decoder()(torch.cat([prompt, generated], dim=1), scores)
    assert int(forced[0].argmax()) == qwen.stop_ids[0] and torch.isinf(forced[0]).sum() == len(tokenizer) - 1
    assert decoder()(prompt, scores).eq(0).all()  # nothing closed yet: left as it is
    limited = TurnDecoder(GenerationSettings(), prompt.shape[1], [2], [torch.Generator()], qwen.stop_ids,
                          tokenizer.decode, "</answer>")
    assert int(limited(torch.cat([prompt, generated[:, :2]], dim=1), scores)[0].argmax()) == qwen.stop_ids[0]


def test_no_tool_mode_offers_no_tools_and_prints_no_tools_block(qwen: HFAgent) -> None:
    env = gym.make(ENV_ID, tools=[], max_turns=2)
    traj = rollout(env, agent_policy(qwen, "bare"), seed=0)
    system = traj.messages[0]["content"][0]["text"]
    assert "# Tools" not in system and "<tools>" not in system
    assert traj.info["tools"] == [] and traj.info["tool_stats"]["calls"] == 0
    qwen.end_episode("bare")


def test_bad_options_are_named(checkpoints: dict[str, Path]) -> None:
    path = str(checkpoints["llava"])
    with pytest.raises(ValueError, match=r"unknown hf agent option\(s\) \['max_new_token'\]; options: model,"):
        manifest_entry(model=path, max_new_token=5)
    with pytest.raises(ValueError, match=r'the hf agent needs a "model": a checkpoint folder or a hub id'):
        manifest_entry(max_turn_tokens=5)
    with pytest.raises(ValueError, match=r'the hf agent needs a "model": a checkpoint folder or a hub id'):
        HFAgent()
    with pytest.raises(ValueError, match=r"max_turn_tokens must be a positive integer, got 0"):
        HFAgent(model=path, max_turn_tokens=0)
    with pytest.raises(ValueError, match=r"model '\./nowhere' is not a checkpoint folder"):
        HFAgent(model="./nowhere")
    with pytest.raises(ValueError, match=r"dtype must be one of \['auto', 'float32', 'bfloat16', 'float16'\]"):
        HFAgent(model=path, dtype="fp8")


@pytest.mark.parametrize("family", sorted(tiny.FAMILIES))
def test_a_real_tool_image_reaches_the_model_with_one_image_per_placeholder(
    checkpoints: dict[str, Path], family: str
) -> None:
    env = gym.make(ENV_ID, tools=["vision_ops.crop"], tool_images=True, max_turns=3)
    observation, info = env.reset(seed=0)
    call = '<tool_call>{"name": "vision_ops.crop", "arguments": {"x1": 0.1, "y1": 0.1, "x2": 0.6, "y2": 0.5, ' \
           '"image_index": 0}}</tool_call>'
    replies, _, _, _, info = env.step(call)
    assert len(replies[0]["content"]) == 2 and replies[0]["content"][1]["type"] == "image"  # the crop came back
    turn = Turn("crop", [*observation, msg.assistant_message(call), *replies], info)
    agent = HFAgent(model=str(checkpoints[family]), max_turn_tokens=4)
    inputs = agent.model_inputs([turn])
    ids = inputs["input_ids"][0].tolist()
    if family == "llava":  # 16 tokens per image (56 px / 14 px patches, 4 x 4)
        assert ids.count(agent.model.config.image_token_index) == 2 * 16 and inputs["pixel_values"].shape[0] == 2
    else:
        grid = inputs["image_grid_thw"]
        assert grid.shape[0] == 2 == ids.count(agent.tokenizer.convert_tokens_to_ids("<|vision_start|>"))
        assert ids.count(agent.model.config.image_token_id) == int(grid.prod(dim=1).sum()) // 4
    assert isinstance(agent.act([turn])[0], str)  # the model's forward checks image features == image tokens
    assert agent.episodes["crop"].images.processed == 2


def test_example_plays_an_episode_on_the_tiny_model(
    checkpoints: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    spec = importlib.util.spec_from_file_location("hf_agent_episode", ROOT / "examples" / "hf_agent_episode.py")
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    example.main(["--model", str(checkpoints["qwen2_5_vl"]), "--max-turn-tokens", "6"])
    assert re.search(r"score \d\.\d{3}, (answered|out of turns)", capsys.readouterr().out)


@pytest.mark.parametrize("family", ["qwen2_5_vl", "qwen3_vl"])
def test_template_tools_block_is_the_envs_byte_for_byte(qwen: HFAgent, family: str) -> None:
    from agents.models.templates import load_template

    with_block = _first_turns(1)[0]
    bare = _first_turns(1, tools_in_system_prompt=False)[0]
    messages, _ = template_messages(bare.messages)
    text = qwen.processor.apply_chat_template(
        messages, chat_template=load_template(family), tools=bare.info["tools"], tokenize=False
    )
    assert text.startswith("<|im_start|>system\n" + with_block.messages[0]["content"][0]["text"] + "<|im_end|>\n")
    call = {"type": "function", "function": {"name": "roborefer.detect_one", "arguments": {"obj_name": "mug"}}}
    structured = [*messages, {"role": "assistant", "content": "", "tool_calls": [call]}]
    text = qwen.processor.apply_chat_template(structured, chat_template=load_template(family), tokenize=False)
    assert text.endswith(
        '<|im_start|>assistant\n<tool_call>\n{"name": "roborefer.detect_one", "arguments": {"obj_name": "mug"}}\n'
        "</tool_call><|im_end|>\n"
    )


def test_a_hub_id_not_in_the_cache_offline_is_a_clean_error(tmp_path: Path) -> None:
    code = (
        "from agents.models.checkpoint import resolve_checkpoint\n"
        "try:\n    resolve_checkpoint('someone/no-such-model')\n"
        "except ValueError as exc:\n    print(exc)\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(tmp_path), "HF_HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60, cwd=ROOT)
    assert out.stdout.startswith("cannot get model 'someone/no-such-model' (revision None) from the Hugging Face hub")
    assert "Pass a local checkpoint folder" in out.stdout
