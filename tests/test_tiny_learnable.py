"""The learnable tiny configuration: the ``learn`` size, digit-split tokens, decision thoughts, one SFT step.

The learning itself is shown by ``benchmarks/perf/dirl_learning.py`` (minutes, not a test); these
tests check that its pieces build, that the teacher with decision thoughts is still exact, and that
one step of its SFT loop on real rendered episodes moves the weights.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import gymnasium as gym
import pytest
import torch

import spacetools_env  # noqa: F401
from agents.models.tiny import SIZES, write_checkpoint
from agents.programs.toolkit import compare_digits
from agents.tool_program import ToolProgramAgent
from spacetools_env.rollout import agent_policy, rollout
from tests.fixtures_trl import one_torch_thread  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]
TOOLS = {
    "Relation2D": ["roborefer.detect_one"],
    "SpatialConfiguration": ["roborefer.detect_one", "depth_estimator.estimate_depth", "vision_ops.index_at"],
    "RelativeDepth": ["roborefer.detect_one", "depth_estimator.estimate_depth", "vision_ops.index_at"],
}


def _learning_script() -> object:
    path = ROOT / "benchmarks" / "perf" / "dirl_learning.py"
    spec = importlib.util.spec_from_file_location("dirl_learning", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dirl_learning"] = module
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def learn_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_checkpoint("qwen2_5_vl", tmp_path_factory.mktemp("learn") / "ckpt", size="learn")


def test_learn_size_builds_the_feasibility_model_with_one_token_per_digit(learn_checkpoint: Path) -> None:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    model = AutoModelForImageTextToText.from_pretrained(learn_checkpoint)
    processor = AutoProcessor.from_pretrained(learn_checkpoint)
    text = model.config.text_config
    assert (text.hidden_size, text.num_hidden_layers, text.num_attention_heads, text.num_key_value_heads) == (
        128, 4, 4, 2,
    )
    assert model.config.vision_config.out_hidden_size == 128
    assert processor.image_processor.size["longest_edge"] == 56 * 56
    assert processor.tokenizer.tokenize("(0.737, 0.26)")[:6] == ["(", "0", ".", "7", "3", "7"]
    assert 1_000_000 < sum(p.numel() for p in model.parameters()) < 2_000_000


def test_default_size_keeps_the_plumbing_model_and_merged_digits(tmp_path: Path) -> None:
    from transformers import AutoConfig, AutoTokenizer

    folder = write_checkpoint("qwen2_5_vl", tmp_path / "default")
    assert AutoConfig.from_pretrained(folder).text_config.hidden_size == SIZES["default"].hidden == 64
    assert "0.2" in AutoTokenizer.from_pretrained(folder).tokenize("0.25")  # digits merged


def test_unknown_size_is_an_error_naming_the_sizes(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown tiny model size 'huge'; sizes: \['default', 'learn'\]"):
        write_checkpoint("qwen2_5_vl", tmp_path / "x", size="huge")


def test_compare_digits_stops_at_the_first_differing_digit() -> None:
    assert compare_digits("0.465", "0.591") == ("4<5", "<")
    assert compare_digits("0.630", "0.614") == ("6=6 3>1", ">")
    assert compare_digits("1.05", "1.05") == ("1=1 0=0 5=5", "=")


@pytest.mark.parametrize("family", sorted(TOOLS))
def test_decision_thoughts_state_the_comparison_and_answer_correctly(family: str) -> None:
    env = gym.make(f"SpaceTools-Synth-{family}-v0", tools=TOOLS[family], tools_in_system_prompt=False)
    for seed in range(12):
        decided = rollout(env, agent_policy(ToolProgramAgent(thoughts="decisions"), f"d{seed}"), seed=seed)
        plain = rollout(env, agent_policy(ToolProgramAgent(), f"p{seed}"), seed=seed)
        assert decided.score == 1.0
        options = r"(\w+ \([AB]\), \w+ \([AB]\); )?"  # Relation2D restates its options first
        assert re.search(rf"<think>{options}(x|y|depth): [\d.]+ vs [\d.]+; (\d[<=>]\d ?)+; so ", decided.actions[-1])
        assert " vs " not in plain.actions[-1]  # the default traces keep their thoughts
        calls = [a.split("</think>")[-1] for a in decided.actions[:-1]]
        assert calls == [a.split("</think>")[-1] for a in plain.actions[:-1]]  # the same tool calls


def test_unknown_thoughts_style_is_an_error_naming_the_styles() -> None:
    with pytest.raises(ValueError, match=r"unknown thoughts style 'long'; styles: \['default', 'decisions'\]"):
        ToolProgramAgent(thoughts="long")


def test_one_sft_step_on_rendered_episodes_moves_the_learn_model(learn_checkpoint: Path) -> None:
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from agents.models.templates import load_template

    learning = _learning_script()
    config = learning.LearningConfig(  # type: ignore[attr-defined]
        families=("Relation2D",), train_episodes=2, steps=1, batch_size=2, warmup=1
    )
    processor = AutoProcessor.from_pretrained(learn_checkpoint)
    traces = learning.teacher_traces(config)  # type: ignore[attr-defined]
    data = [learning.encode(t.messages, processor, load_template("qwen2_5_vl"), config.pixels)  # type: ignore[attr-defined]
            for t in traces]
    labelled = processor.tokenizer.decode(data[0].input_ids[data[0].labels != -100])
    assert labelled.startswith("<think>") and "I need where" in labelled and labelled.endswith("</answer><|im_end|>")
    assert "Detected" not in labelled and "<tool_response>" not in labelled  # tool text is not trained
    model = AutoModelForImageTextToText.from_pretrained(learn_checkpoint)
    before = [p.detach().clone() for p in model.parameters()]
    losses = learning.train(model, data, config, processor.tokenizer.pad_token_id)  # type: ignore[attr-defined]
    assert len(losses) == 1 and torch.isfinite(torch.tensor(losses)).all()
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
