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
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
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


def build_tokenizer(corpus: Sequence[str] | None = None, vocab_size: int = VOCAB_SIZE) -> Any:
    """A fast tokenizer trained on ``corpus`` (default :func:`protocol_corpus`), with the protocol's tokens.

    ``eos`` is ``<|im_end|>`` (the end of an assistant turn), ``pad`` is ``<|endoftext|>``, padding left
    (batched generation).
    """
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    backend = Tokenizer(models.BPE())
    # No regex split: merges may cross spaces, so each schema line compresses to a few tokens.
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False)
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


def _text_sizes(tokenizer: Any) -> dict[str, Any]:
    eos, pad = tokenizer.eos_token_id, tokenizer.pad_token_id
    return {
        "vocab_size": len(tokenizer),
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 16384,
        "bos_token_id": None,
        "eos_token_id": eos,
        "pad_token_id": pad,
    }


def _qwen2_5_vl(tokenizer: Any) -> tuple[Any, Any]:
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLProcessor
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

    ids = _vision_ids(tokenizer)
    config = Qwen2_5_VLConfig(
        text_config={
            **_text_sizes(tokenizer),
            "rope_parameters": {"rope_type": "default", "rope_theta": 1e6, "mrope_section": [2, 3, 3]},
        },
        vision_config={
            "depth": 2, "hidden_size": 64, "intermediate_size": 128, "num_heads": 2, "out_hidden_size": 64,
            "fullatt_block_indexes": [1],
        },
        **ids,
    )
    image_processor = Qwen2VLImageProcessorPil(size={"shortest_edge": 56 * 56, "longest_edge": 224 * 224})
    processor = Qwen2_5_VLProcessor(
        image_processor=image_processor, tokenizer=tokenizer, video_processor=_qwen_video_processor(),
        chat_template=load_template("qwen2_5_vl"),
    )
    return Qwen2_5_VLForConditionalGeneration(config), processor


def _qwen3_vl(tokenizer: Any) -> tuple[Any, Any]:
    from transformers import Qwen3VLConfig, Qwen3VLForConditionalGeneration, Qwen3VLProcessor, Qwen3VLVideoProcessor
    from transformers.models.qwen2_vl import Qwen2VLImageProcessorPil

    ids = _vision_ids(tokenizer)
    config = Qwen3VLConfig(
        text_config={
            **_text_sizes(tokenizer),
            "head_dim": 16,
            "rope_parameters": {
                "rope_type": "default", "rope_theta": 5e6, "mrope_section": [2, 3, 3], "mrope_interleaved": True,
            },
        },
        vision_config={
            "depth": 2, "hidden_size": 64, "intermediate_size": 128, "num_heads": 2, "out_hidden_size": 64,
            "patch_size": 16, "num_position_embeddings": 256, "deepstack_visual_indexes": [1],
        },
        **ids,
    )
    image_processor = Qwen2VLImageProcessorPil(
        size={"shortest_edge": 64 * 64, "longest_edge": 256 * 256}, patch_size=16
    )
    processor = Qwen3VLProcessor(
        image_processor=image_processor, tokenizer=tokenizer, video_processor=Qwen3VLVideoProcessor(),
        chat_template=load_template("qwen3_vl"),
    )
    return Qwen3VLForConditionalGeneration(config), processor


def _llava(tokenizer: Any) -> tuple[Any, Any]:
    from transformers import CLIPImageProcessor, LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor

    config = LlavaConfig(
        vision_config={
            "model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
            "num_attention_heads": 2, "image_size": IMAGE_SIDE, "patch_size": 14, "projection_dim": 32,
        },
        text_config={"model_type": "llama", **_text_sizes(tokenizer)},
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


FAMILIES: dict[str, Callable[[Any], tuple[Any, Any]]] = {
    "qwen2_5_vl": _qwen2_5_vl,
    "qwen3_vl": _qwen3_vl,
    "llava": _llava,
}


def write_checkpoint(family: str, out: str | Path, seed: int = 0) -> Path:
    """Build the tiny ``family`` model with weights seeded by ``seed`` and save it as a checkpoint folder.

    Returns:
        The folder, loadable with ``AutoModelForImageTextToText.from_pretrained(out)`` and
        ``AutoProcessor.from_pretrained(out)``.

    Raises:
        ValueError: an unknown family (the known ones are named).
    """
    if family not in FAMILIES:
        raise ValueError(f"unknown tiny model family {family!r}; families: {sorted(FAMILIES)}")
    import torch
    from transformers import GenerationConfig

    tokenizer = build_tokenizer()
    with _seeded(torch, seed):
        model, processor = FAMILIES[family](tokenizer)
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
    args = parser.parse_args(argv)
    folder = write_checkpoint(args.family, args.out, seed=args.seed)
    print(folder)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
