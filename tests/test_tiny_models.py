"""The tiny-model kit: each family written as a checkpoint folder and loaded back by path like a real one."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

from agents.models import tiny  # noqa: E402
from agents.models.checkpoint import weights_sha256  # noqa: E402
from spacetools_env.prompts import DEFAULT_SYSTEM_PROMPT, tools_block  # noqa: E402
from tool_backends.backends import make_client  # noqa: E402

torch.set_num_threads(1)

CLASSES = {
    "qwen2_5_vl": ("Qwen2_5_VLForConditionalGeneration", "Qwen2_5_VLProcessor"),
    "qwen3_vl": ("Qwen3VLForConditionalGeneration", "Qwen3VLProcessor"),
    "llava": ("LlavaForConditionalGeneration", "LlavaProcessor"),
}


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {family: tiny.write_checkpoint(family, root / family) for family in tiny.FAMILIES}


def test_every_family_is_covered() -> None:
    assert set(tiny.FAMILIES) == set(CLASSES)


@pytest.mark.parametrize("family", sorted(CLASSES))
def test_checkpoint_folder_loads_by_path_through_the_auto_classes(checkpoints: dict[str, Path], family: str) -> None:
    folder = checkpoints[family]
    for name in ("config.json", "model.safetensors", "generation_config.json", "tokenizer.json",
                 "processor_config.json", "chat_template.jinja"):
        assert (folder / name).is_file(), name
    model = transformers.AutoModelForImageTextToText.from_pretrained(folder)
    processor = transformers.AutoProcessor.from_pretrained(folder)
    assert (type(model).__name__, type(processor).__name__) == CLASSES[family]
    assert sum(p.numel() for p in model.parameters()) < 2_000_000
    messages = [
        {"role": "system", "content": [{"type": "text", "text": "Answer."}]},
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Where is the mug?"}]},
    ]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    image = np.full((64, 96, 3), 128, dtype=np.uint8)
    inputs = processor(text=[text], images=[image], return_tensors="pt")
    with torch.inference_mode():
        logits = model(**inputs).logits
    assert logits.shape[:2] == inputs["input_ids"].shape and torch.isfinite(logits).all()


def test_cli_writes_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert tiny.main(["--family", "llava", "--out", str(tmp_path / "ck"), "--seed", "3"]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "ck")
    assert transformers.AutoConfig.from_pretrained(tmp_path / "ck").model_type == "llava"


def test_weights_follow_the_seed(tmp_path: Path) -> None:
    first = weights_sha256(tiny.write_checkpoint("llava", tmp_path / "a", seed=1))
    again = weights_sha256(tiny.write_checkpoint("llava", tmp_path / "b", seed=1))
    other = weights_sha256(tiny.write_checkpoint("llava", tmp_path / "c", seed=2))
    assert first == again != other


def test_unknown_family_is_named() -> None:
    expected = r"unknown tiny model family 'gpt'; families: \['llava', 'qwen2_5_vl', 'qwen3_vl'\]"
    with pytest.raises(ValueError, match=expected):
        tiny.write_checkpoint("gpt", "unused")


def test_tools_block_is_a_few_hundred_tokens_and_any_text_round_trips() -> None:
    tokenizer = tiny.build_tokenizer()
    schemas = [spec.openai_schema() for spec in make_client("oracle").specs]
    prompt = DEFAULT_SYSTEM_PROMPT + tools_block(schemas)
    assert len(prompt) > 8000
    assert len(tokenizer(prompt)["input_ids"]) < 400
    text = "Ünïcode ✓ 日本 <tool_call>{\"name\": \"x\"}</tool_call> <answer>[(0.1, 0.2)]</answer>"
    assert tokenizer.decode(tokenizer(text)["input_ids"], skip_special_tokens=True) == text


def test_protocol_tags_are_single_tokens_that_decoding_keeps() -> None:
    tokenizer = tiny.build_tokenizer()
    for tag in (*tiny.PROTOCOL_TOKENS, "<|im_start|>", "<|im_end|>", "<|image_pad|>"):
        assert len(tokenizer(tag, add_special_tokens=False)["input_ids"]) == 1, tag
    ids = tokenizer("<|im_start|>assistant\n<answer>Yes</answer><|im_end|>")["input_ids"]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "assistant\n<answer>Yes</answer>"
    assert (tokenizer.eos_token, tokenizer.pad_token, tokenizer.padding_side) == ("<|im_end|>", "<|endoftext|>", "left")
