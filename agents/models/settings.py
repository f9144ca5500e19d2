"""The ``hf`` agent's settings, and what the eval manifest records of a run of it (without loading the model)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from agents.models.checkpoint import resolve_checkpoint, weights_sha256
from agents.models.templates import TEMPLATES

DTYPES = ("auto", "float32", "bfloat16", "float16")
NEEDS_MODEL = (
    'the hf agent needs a "model": a checkpoint folder or a hub id, e.g. --agent-kwargs \'{"model": "/path/to/ckpt"}\''
)


@dataclass(frozen=True)
class GenerationSettings:
    """How the agent generates; recorded in the eval manifest.

    Attributes:
        max_turn_tokens: New tokens per turn at most.
        max_episode_tokens: Tokens after the first prompt per episode (model turns and tool responses).
        max_prompt_tokens: Longest first prompt (system, tools block, images, question) played.
        do_sample: Sample (True) or greedy (False).
        temperature: Sampling temperature (``do_sample`` only).
        top_p: Nucleus mass kept (1.0: all).
        top_k: Most likely tokens kept (0: all).
        seed: Base seed of each episode's generator.
        min_pixels: Smallest image area passed to the processor (smaller images are scaled up).
        max_pixels: Largest image area (larger ones are scaled down; 262,144 as the original SFT).
        batch_size: Turns generated together at most (``act`` splits a longer batch).
        kv_cache: Keep each episode's keys and values across its turns, so a turn computes only its new
            tokens (:mod:`agents.models.kv_cache`; models it does not support re-read the conversation).
    """

    max_turn_tokens: int = 8192
    max_episode_tokens: int = 8192
    max_prompt_tokens: int = 8192
    do_sample: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    seed: int = 0
    min_pixels: int = 56 * 56
    max_pixels: int = 512 * 512
    batch_size: int = 8
    kv_cache: bool = True

    def __post_init__(self) -> None:
        for name in ("max_turn_tokens", "max_episode_tokens", "max_prompt_tokens", "min_pixels", "batch_size"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.max_pixels, int) or self.max_pixels < self.min_pixels:
            raise ValueError(
                f"max_pixels must be an integer >= min_pixels ({self.min_pixels}), got {self.max_pixels!r}"
            )
        if not self.temperature > 0:
            raise ValueError(f"temperature must be > 0, got {self.temperature!r}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p!r}")
        if not isinstance(self.top_k, int) or self.top_k < 0:
            raise ValueError(f"top_k must be a non-negative integer (0: off), got {self.top_k!r}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        for name in ("do_sample", "kv_cache"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be true or false, got {getattr(self, name)!r}")



def manifest_entry(**kwargs: Any) -> dict[str, Any]:
    """What the eval manifest records of an ``hf`` agent built with ``kwargs``, without loading the model.

    The model as given, the folder it resolves to, its revision (the hub commit; None for a folder),
    the sha256 of its weight files, device, dtype, chat template and every generation setting.
    """
    options = dict(kwargs)
    if options.get("model") is None:
        raise ValueError(NEEDS_MODEL)
    model = options.pop("model")
    revision = options.pop("revision", None)
    device, dtype = options.pop("device", "cpu"), options.pop("dtype", "auto")
    template = options.pop("chat_template", "auto")
    options.pop("threads", None)
    path, resolved = resolve_checkpoint(model, revision)
    settings = parse_settings(options)
    return description(model, path, resolved, device, dtype, template_name(template, _model_type(path)), settings)


def _model_type(path: Path) -> str | None:
    try:
        return str(json.loads((path / "config.json").read_text(encoding="utf-8")).get("model_type"))
    except (OSError, ValueError, AttributeError):
        return None


def template_name(choice: str, model_type: str | None) -> str:
    """The template as the manifest records it: ``shipped:<family>``, ``checkpoint`` or ``file:<path>``."""
    if choice == "auto":
        return "shipped:qwen2_5_vl" if model_type == "qwen2_5_vl" else "checkpoint"
    if choice in TEMPLATES:
        return f"shipped:{choice}"
    if Path(choice).is_file():
        return f"file:{choice}"
    raise ValueError(f"chat_template must be 'auto', one of {list(TEMPLATES)} or a .jinja file; got {choice!r}")


def pick_template(choice: str, model_type: str | None, processor: Any, where: str) -> tuple[str, str]:
    """(the name the manifest records, the template text) for ``choice`` (:func:`template_name`): a shipped
    template, a ``.jinja`` file, or the checkpoint's own, read from ``processor``. The eval agent, SFT and
    GRPO all pick through here, so an episode renders alike in the three.

    Raises:
        ValueError: the checkpoint's own is asked for and it has none (``where`` names the checkpoint).
    """
    from agents.models.templates import load_template

    name = template_name(choice, model_type)
    kind, _, value = name.partition(":")
    if kind == "shipped":
        return name, load_template(value)
    if kind == "file":
        return name, Path(value).read_text(encoding="utf-8")
    own = getattr(processor, "chat_template", None)
    if not own:
        raise ValueError(
            f"{where} has no chat template; set chat_template to one of {list(TEMPLATES)} or a .jinja file"
        )
    return name, str(own)


def description(
    model: str, path: Path, revision: str | None, device: str, dtype: str, template: str,
    settings: GenerationSettings,
) -> dict[str, Any]:
    return {
        "model": model,
        "path": str(path),
        "revision": revision,
        "weights_sha256": weights_sha256(path),
        "device": device,
        "dtype": dtype,
        "chat_template": template,
        "generation": asdict(settings),
    }


def parse_settings(options: Mapping[str, Any]) -> GenerationSettings:
    known = set(GenerationSettings.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"unknown hf agent option(s) {unknown}; options: model, revision, device, dtype, chat_template, "
            f"threads and the generation settings {sorted(known)}"
        )
    return GenerationSettings(**options)
