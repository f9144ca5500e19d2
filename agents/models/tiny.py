"""Tiny random-weight image-text-to-text checkpoints, written offline, for tests, examples and plumbing.

Each family is a real ``transformers`` architecture at toy size (about 0.4 M parameters), saved as a
checkpoint folder (``save_pretrained`` of the model, the processor with its tokenizer, image processor
and chat template, and a generation config) that loads back by path through
``AutoModelForImageTextToText`` / ``AutoProcessor`` exactly as a real one::

    python -m agents.models.tiny --family qwen2_5_vl --out /tmp/tiny-qwen2_5_vl

Families: ``qwen2_5_vl`` (Qwen2.5-VL), ``qwen3_vl`` (Qwen3-VL) and ``llava`` (LLaVA: a CLIP vision tower
and a Llama text tower, with a ChatML template as llava-interleave-qwen ships). The tokenizer is a
byte-level BPE trained here on the protocol's own text (the system prompt, every tool schema line of the
tools block, tool calls, answers, tool texts), without whitespace pre-splitting, so the full tools block
is a few hundred tokens instead of thousands; any text still encodes (byte fallback). The protocol's
tokens (``<|im_start|>``, ``<|im_end|>``, the vision tokens, ``<tool_call>``, ``<answer>`` ...) are
single tokens. Weights are random (seeded): the model writes noise, which is what plumbing tests need.

Sizes (``size``): ``"default"`` (the plumbing size above; its checkpoint bytes are pinned by tests and
perf scripts) and ``"learn"`` (about 1.1 M parameters for Qwen2.5-VL: text hidden 128, 4 layers, 4 heads
and 2 KV heads of head_dim 32, vision depth 2 of hidden 64 projecting to 128; image pixel bounds of
56x56, i.e. 4 image tokens; digits split one per token). ``"learn"`` is the configuration with which
the CPU learning demonstration (``benchmarks/perf/dirl_learning.py``, ``docs/learning.md``) learns the
tool format: short sequences and one token per digit make copying coordinates from tool text
learnable in minutes (notes ``models_and_training.md``, feasibility run)::

    python -m agents.models.tiny --family qwen2_5_vl --size learn --out /tmp/tiny-learn
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.blind_guess import CENTRE_BOX, CENTRE_GRASP, CENTRE_POINT
from agents.models.templates import load_template
from spacetools_env.prompts import DEFAULT_SYSTEM_PROMPT, tools_block
from tool_backends.backends import make_client

SPECIAL_TOKENS = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>",
    "<|video_pad|>", "<image>",
)
"""Control tokens: removed when generated text is decoded with ``skip_special_tokens``."""
PROTOCOL_TOKENS = (
    "<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>", "<answer>", "</answer>", "<think>",
    "</think>",
)
"""The protocol's tags: single tokens that decoding keeps (the env parses them)."""
VOCAB_SIZE = 2048
IMAGE_SIDE = 56
"""Side of the images the fixed-resolution family (llava) sees; Qwen families keep the aspect ratio."""


@dataclass(frozen=True)
class TinySize:
    """The dimensions of one size preset (see :data:`SIZES`).

    Attributes:
        hidden: Text hidden size (also the vision projector's output).
        intermediate: Text MLP size.
        layers: Text decoder layers.
        heads: Attention heads; ``kv_heads`` key/value heads (grouped-query attention).
        head_dim: Per-head size; ``mrope_section`` splits its half over (time, height, width) for the Qwen families.
        vision_hidden: Vision tower hidden size; ``vision_intermediate`` its MLP size.
        max_pixels: The Qwen image processors' ``longest_edge`` pixel bound (the number of image tokens).
        split_digits: Whether the tokenizer puts each digit in a token of its own.
    """

    hidden: int
    intermediate: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    mrope_section: tuple[int, int, int]
    vision_hidden: int
    vision_intermediate: int
    max_pixels: int | None
    split_digits: bool


SIZES: dict[str, TinySize] = {
    # None: each family's own plumbing pixel bounds, as before sizes existed (the default bytes are pinned).
    "default": TinySize(64, 128, 2, 4, 2, 16, (2, 3, 3), 64, 128, None, False),
    # The feasibility run's model (models_and_training.md, last section): big enough to copy
    # coordinates exactly, small enough for ~1.5 k SFT steps in minutes on one core; 56x56 images
    # keep the vision part at 4 tokens, since the tool text, not the pixels, carries the answer.
    "learn": TinySize(128, 256, 4, 4, 2, 32, (4, 6, 6), 64, 128, 56 * 56, True),
}
"""Size presets by name: ``default`` (plumbing) and ``learn`` (the CPU learning demonstration)."""


def protocol_corpus() -> list[str]:
    """The texts the tokenizer is trained on: the protocol as the env speaks it, one text per line of it."""
    specs = make_client("oracle").specs
    schemas = [spec.openai_schema() for spec in specs]
    texts = [DEFAULT_SYSTEM_PROMPT, tools_block([]), *(json.dumps(s, ensure_ascii=False) for s in schemas)]
    for spec in specs:
        texts.append(f'<tool_call>\n{{"name": "{spec.name}", "arguments": {{"image_index": 0}}}}\n</tool_call>')
    texts += [
        f"<answer>{answer}</answer>" for answer in (CENTRE_POINT, CENTRE_BOX, CENTRE_GRASP, "Yes", "No", "(A)", "(B)")
    ]
    texts += [
        "<think>I should find the object first.</think>",
        "Error: unknown tool; available tools are listed in the system prompt.",
        "Detected 1 instance(s) of 'mug': [(0.5, 0.5)]",
        "Estimated depth map for 640x480 image. Focal length: 500.0 px. Stored as $depth_map.",
        "Select from the following choices.\n(A) A is closer\n(B) B is closer",
        "0123456789 0.1 0.25 0.5 [(0.1, 0.2)] $depth_map $mask $point_cloud",
    ]
    return texts


def build_tokenizer(
    corpus: Sequence[str] | None = None, vocab_size: int = VOCAB_SIZE, split_digits: bool = False
) -> Any:
    """A fast tokenizer trained on ``corpus`` (default :func:`protocol_corpus`), with the protocol's tokens.

    ``eos`` is ``<|im_end|>`` (the end of an assistant turn), ``pad`` is ``<|endoftext|>``, padding left
    (batched generation). ``split_digits``: every digit is a token of its own (no merge joins a digit
    to anything), so a number is copied and compared digit by digit.
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    # No regex split: merges may cross spaces, so each schema line compresses to a few tokens.
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
    backend.pre_tokenizer = (
        pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte_level])
        if split_digits else byte_level
    )
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        special_tokens=list(SPECIAL_TOKENS),
        show_progress=False,
    )
    backend.train_from_iterator(list(protocol_corpus() if corpus is None else corpus), trainer)
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, eos_token="<|im_end|>", pad_token="<|endoftext|>", padding_side="left"
    )
    tokenizer.add_tokens(list(PROTOCOL_TOKENS))
    return tokenizer


def _text_sizes(tokenizer: Any, size: TinySize) -> dict[str, Any]:
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": size.hidden,
        "intermediate_size": size.intermediate,
        "num_hidden_layers": size.layers,
        "num_attention_heads": size.heads,
        "num_key_value_heads": size.kv_heads,
        "max_position_embeddings": 16384,
        "bos_token_id": None,
        "eos_token_id": eos,
        "pad_token_id": pad,
    }


def _qwen_pixels(size: TinySize, shortest: int, longest: int) -> dict[str, int]:
    """The Qwen image processor's pixel bounds: the family's own, or the size's ``max_pixels`` for both."""
    if size.max_pixels is None:
        return {"shortest_edge": shortest, "longest_edge": longest}
    return {"shortest_edge": min(shortest, size.max_pixels), "longest_edge": size.max_pixels}


def _vision_sizes(size: TinySize) -> dict[str, Any]:
    return {
        "depth": 2, "hidden_size": size.vision_hidden, "intermediate_size": size.vision_intermediate,
        "num_heads": 2, "out_hidden_size": size.hidden,
    }


def _qwen2_5_vl(tokenizer: Any, size: TinySize) -> tuple[Any, Any]:
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

    ids = _vision_ids(tokenizer)
    config = Qwen2_5_VLConfig(
        text_config={
            **_text_sizes(tokenizer, size),
            "rope_parameters": {
                "rope_type": "default", "rope_theta": 1e6, "mrope_section": list(size.mrope_section),
            },
        },
        vision_config={**_vision_sizes(size), "fullatt_block_indexes": [1]},
        **ids,
    )
    image_processor = Qwen2VLImageProcessorPil(size=_qwen_pixels(size, 56 * 56, 224 * 224))
    processor = Qwen2_5_VLProcessor(
        image_processor=image_processor, tokenizer=tokenizer, video_processor=_qwen_video_processor(),
        chat_template=load_template("qwen2_5_vl"),
    )
    return Qwen2_5_VLForConditionalGeneration(config), processor


def _qwen3_vl(tokenizer: Any, size: TinySize) -> tuple[Any, Any]:
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor, Qwen3VLVideoProcessor
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

    ids = _vision_ids(tokenizer)
    config = Qwen3VLConfig(
        text_config={
            **_text_sizes(tokenizer, size),
            "head_dim": size.head_dim,
            "rope_parameters": {
                "rope_type": "default", "rope_theta": 5e6, "mrope_section": list(size.mrope_section),
                "mrope_interleaved": True,
            },
        },
        vision_config={
            **_vision_sizes(size), "patch_size": 16, "num_position_embeddings": 256, "deepstack_visual_indexes": [1],
        },
        **ids,
    )
    image_processor = Qwen2VLImageProcessorPil(size=_qwen_pixels(size, 64 * 64, 256 * 256), patch_size=16)
    processor = Qwen3VLProcessor(
        image_processor=image_processor, tokenizer=tokenizer, video_processor=Qwen3VLVideoProcessor(),
        chat_template=load_template("qwen3_vl"),
    )
    return Qwen3VLForConditionalGeneration(config), processor


def _llava(tokenizer: Any, size: TinySize) -> tuple[Any, Any]:
    from transformers import CLIPImageProcessor, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    config = LlavaConfig(
        vision_config={
            "model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 2, "image_size": IMAGE_SIDE, "patch_size": 14, "projection_dim": 32,
        },
        text_config={"model_type": "llama", **_text_sizes(tokenizer, size), "head_dim": size.head_dim},
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_select_strategy="default",
        vision_feature_layer=-1,
    )
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": IMAGE_SIDE}, crop_size={"height": IMAGE_SIDE, "width": IMAGE_SIDE}
    )
    processor = LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=14, vision_feature_select_strategy="default",
        num_additional_image_tokens=1, chat_template=load_template("llava"),
    )
    return LlavaForConditionalGeneration(config), processor


def _vision_ids(tokenizer: Any) -> dict[str, Any]:
    return {
        name: tokenizer.convert_tokens_to_ids(token)
        for name, token in (
            ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
            ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>"),
        )
    }


def _qwen_video_processor() -> Any:
    from transformers.models.qwen2_vl import Qwen2VLVideoProcessor

    return Qwen2VLVideoProcessor()


FAMILIES: dict[str, Callable[[Any, TinySize], tuple[Any, Any]]] = {
    "qwen2_5_vl": _qwen2_5_vl,
    "qwen3_vl": _qwen3_vl,
    "llava": _llava,
}


def write_checkpoint(
    family: str, out: str | Path, seed: int = 0, size: str = "default", split_digits: bool | None = None
) -> Path:
    """Build the tiny ``family`` model with weights seeded by ``seed`` and save it as a checkpoint folder.

    Args:
        family: One of :data:`FAMILIES`.
        out: The folder to write (created).
        seed: Seed of the random weights.
        size: One of :data:`SIZES` (``"default"``: the plumbing size; ``"learn"``: the learning one).
        split_digits: One token per digit; None: the size's choice (``learn``: yes).

    Returns:
        The folder, loadable with ``AutoModelForImageTextToText.from_pretrained(out)`` and
        ``AutoProcessor.from_pretrained(out)``.

    Raises:
        ValueError: an unknown family or size (the known ones are named).
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown tiny model family {family!r}; families: {sorted(FAMILIES)}")
    if size not in SIZES:
        raise ValueError(f"unknown tiny model size {size!r}; sizes: {sorted(SIZES)}")
    import torch
    from transformers import GenerationConfig

    preset = SIZES[size]
    tokenizer = build_tokenizer(split_digits=preset.split_digits if split_digits is None else split_digits)
    with _seeded(torch, seed):
        model, processor = FAMILIES[family](tokenizer, preset)
    model.generation_config = GenerationConfig(
        eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id, do_sample=False
    )
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


class _seeded:
    """``torch.manual_seed(seed)`` for the block, the global RNG state restored after it."""

    def __init__(self, torch: Any, seed: int) -> None:
        self.torch, self.seed = torch, seed

    def __enter__(self) -> None:
        self.state = self.torch.random.get_rng_state()
        self.torch.manual_seed(self.seed)

    def __exit__(self, *exc: object) -> None:
        self.torch.random.set_rng_state(self.state)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m agents.models.tiny", description=__doc__.splitlines()[0])
    parser.add_argument("--family", choices=sorted(FAMILIES), required=True)
    parser.add_argument("--out", required=True, help="checkpoint folder to write (created)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random weights")
    parser.add_argument("--size", choices=sorted(SIZES), default="default", help="size preset (SIZES)")
    args = parser.parse_args(argv)
    folder = write_checkpoint(args.family, args.out, seed=args.seed, size=args.size)
    print(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
