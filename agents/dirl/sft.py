"""DIRL steps 0 and 3: supervised fine-tuning on trace datasets, with TRL's ``SFTTrainer`` as the trainer.

::

    config = SFTStepConfig(model="/ckpt/base", datasets=("runs/traces",), max_steps=200, ...)
    final = run_sft(config, Path("runs/dirl/step3"))      # out/config.json, metrics.jsonl, data.json, final/

Step 3 trains on multi-turn tool traces (:func:`agents.traces.write_dataset` in the ``trl`` format, or
any folder :func:`agents.traces.read_dataset` reads); step 0 is the same function on answer-only traces
(episodes of an env made with ``tools=[]``, whose system prompt has no tools block).

Decisions, each against a pitfall of TRL's own VLM path (``../shared/notes/models_and_training.md``):

- **Rendering is ours, the trainer is TRL's.** TRL's vision collator drops ``tool_calls`` on the
  qwen2_5_vl path, ignores the ``tools`` column and skips image placeholders inside tool turns, and
  its assistant-only mask comes from a training template TRL swaps in. So the dataset handed to
  ``SFTTrainer`` is only example indices (``skip_prepare_dataset``), and :class:`SFTCollator` builds
  ``input_ids``, ``labels`` and the image features itself; ``SFTTrainer`` runs the loop, the loss
  (its ``nll`` on ``labels != -100``), logging and checkpoints unchanged.
- **One renderer for SFT, GRPO and eval.** Each conversation is rendered with the chat template
  the eval agent picks (:func:`agents.models.settings.template_name`: ``auto`` is the shipped
  ``qwen2_5_vl.jinja`` for Qwen2.5-VL, else the checkpoint's), from the messages as the env gave
  them: the env's system message with its tools block inside (never a ``tools=`` argument), images
  as placeholders in every role, tool turns included, and each assistant turn as the plain text the
  model wrote (:func:`agents.traces.trace.assistant_text` puts structured calls back byte for byte),
  the same template branch eval and GRPO render the model's own turns with. The template is written
  into the saved processor, so a later GRPO step (which renders with ``processor.chat_template``)
  uses it too. Images are scaled into ``[min_pixels, max_pixels]`` as the eval agent does
  (:func:`agents.models.render.fit_pixels`, the original SFT's 262,144-pixel cap).
- **Tokens as GRPO sees them.** The text is cut where the model's turns start and end: each env
  span (the first prompt up to the generation prompt; later, the tool turns after an end-of-turn
  token up to the next generation prompt) goes through the processor with its own images, each
  assistant span through the tokenizer, and the ids are concatenated. This is what
  :class:`agents.trl.policy.TokenPolicy` does (first prompt through the processor, the env's answers
  tokenized after the model's end-of-turn token), so the prompt ids of every turn are the GRPO
  rollout's. The eval agent tokenizes each turn's whole conversation at once; its ids are the same
  for the first prompt, and for later ones when each model turn starts with a protocol tag
  (``<think>``, ``<tool_call>``, ``<answer>`` are single tokens, so no merge crosses the cut; the
  tool program's turns do). A test asserts all three on a played episode, and the image features
  against the eval agent's. Not the same: :class:`~agents.trl.policy.TokenPolicy` gives the
  processor the env's images unscaled, so for an image over ``max_pixels`` (the envs' 640x480 is
  over 512x512) GRPO's pixel values differ from eval's and these (same grid, same ids here).
- **Loss on assistant tokens only.** Labels are the ids of the assistant spans (the ``<think>``,
  ``<tool_call>`` and ``<answer>`` text and the end-of-turn token); everything else is -100: the
  system prompt, user text, image tokens, tool responses and the newline after each end-of-turn
  token. Messages after the last assistant turn (an unanswered episode's last tool turn) are left
  out: nothing after them is trained.
- **Too long: dropped, not truncated.** An example over ``max_length`` tokens is left out (cutting
  it would cut image tokens from their features or a turn from its end); how many, and the longest,
  are written to ``out/data.json`` and logged. None left is an error naming ``max_length``.
- **Frozen vision.** With ``freeze_vision`` every parameter of the vision tower and its projector
  (``visual``: Qwen-VL's blocks and merger; LLaVA's ``vision_tower`` and ``multi_modal_projector``)
  has ``requires_grad`` False before the optimizer is built, as the paper's SFT.

Resume: :func:`run_sft` continues from the newest ``out/trainer/checkpoint-N``: the weights read
with ``from_pretrained`` (see :func:`_build_trainer` for why not the Trainer's own loading), the
optimizer, scheduler, RNG and data position restored by the ``Trainer``; ``metrics.jsonl`` lines past
``N`` are dropped first. A folder holds one configuration: the config may differ from the saved one
only in ``max_steps`` (training longer continues from the last checkpoint); anything else is refused,
naming the fields. Bit-exactness, measured (tests pin it): a run of 2 steps then made 4 ends with the
same weights, bit for bit, and logs the same losses as an uninterrupted 4-step run when the schedule
does not depend on ``max_steps`` (``constant``, no warmup); with ``cosine`` or ``linear`` the first
run followed its own shorter schedule, so it differs (a run killed mid-way and restarted with the
same config resumes on the same schedule). TRL's ``num_tokens`` counter is not in the checkpoint: it
counts again from 0 after a resume.
"""

from __future__ import annotations

import dataclasses
import io
import json
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np
from PIL import Image

from agents.dirl.common import (
    CONFIG,
    JsonlMetrics,
    check_field,
    checkpoint_step,
    finished_run,
    is_int,
    is_number,
    latest_checkpoint,
    save_config,
    save_final,
)
from agents.models.render import fit_pixels
from agents.models.settings import pick_template
from agents.models.templates import TEMPLATES
from agents.traces import Trace, TraceError, read_dataset
from agents.traces.trace import assistant_text

if TYPE_CHECKING:
    from trl import SFTTrainer

IGNORE_INDEX = -100
"""The label of a token the loss skips (``transformers``' and TRL's convention)."""
SCHEDULERS = ("constant", "constant_with_warmup", "linear", "cosine")
VISION_MODULES = ("visual", "vision_tower", "vision_model", "multi_modal_projector")
"""Module names, anywhere in a parameter's dotted name, of the vision tower and projector (Qwen-VL, LLaVA)."""
TRAINER, METRICS, DATA = "trainer", "metrics.jsonl", "data.json"

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------------------------------- config
@dataclass(frozen=True)
class SFTStepConfig:
    """One SFT step (DIRL step 0 or 3). Defaults are the tiny config's.

    Attributes:
        model: Checkpoint folder to start from ("" only until the pipeline fills it in).
        datasets: Trace dataset folders (``agents.traces.write_dataset(..., "trl")``), concatenated in order.
        max_steps: Optimizer steps.
        learning_rate: Peak learning rate (AdamW).
        per_device_train_batch_size: Examples per device per forward pass.
        gradient_accumulation_steps: Forward passes per optimizer step.
        max_length: Tokens per example at most; longer examples are dropped (module docstring).
        freeze_vision: Freeze the vision tower and projector.
        seed: Seed of the weights' updates, data order and dropout.
        save_steps: A checkpoint every this many steps (what a resume starts from).
        logging_steps: A ``metrics.jsonl`` line every this many steps.
        warmup_ratio: Share of ``max_steps`` the learning rate warms up over, in [0, 1).
        lr_scheduler_type: One of :data:`SCHEDULERS`.
        weight_decay: AdamW weight decay.
        max_grad_norm: Gradient clipping norm.
        chat_template: ``auto``, a shipped family name or a ``.jinja`` file (as the eval agent's option).
        min_pixels: Smallest image area given to the processor (the eval agent's bound).
        max_pixels: Largest image area given to the processor (the eval agent's bound, the original SFT's).
        gradient_checkpointing: Recompute activations in the backward pass (memory for time; GPUs).
        bf16: Train in bfloat16 mixed precision (GPUs).
        save_total_limit: Checkpoints kept (the newest ones); None keeps all.
    """

    model: str = ""
    datasets: tuple[str, ...] = ()
    max_steps: int = 200
    learning_rate: float = 2e-3
    per_device_train_batch_size: int = 8
    gradient_accumulation_steps: int = 1
    max_length: int = 2048
    freeze_vision: bool = True
    seed: int = 0
    save_steps: int = 50
    logging_steps: int = 5
    warmup_ratio: float = 0.0
    lr_scheduler_type: str = "cosine"
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    chat_template: str = "auto"
    min_pixels: int = 56 * 56
    max_pixels: int = 512 * 512
    gradient_checkpointing: bool = False
    bf16: bool = False
    save_total_limit: int | None = 2

    def __post_init__(self) -> None:
        if isinstance(self.datasets, list):  # read back from JSON
            object.__setattr__(self, "datasets", tuple(self.datasets))
        _check(isinstance(self.model, str), "model", self.model, "a checkpoint folder (a string)")
        _check(isinstance(self.datasets, tuple) and all(isinstance(d, str) and d for d in self.datasets),
               "datasets", self.datasets, "a list of trace dataset folders")
        for name in ("max_steps", "per_device_train_batch_size", "gradient_accumulation_steps", "max_length",
                     "save_steps", "logging_steps", "min_pixels"):
            value = getattr(self, name)
            _check(_is_int(value) and value >= 1, name, value, "a positive integer")
        _check(_is_int(self.seed) and self.seed >= 0, "seed", self.seed, "a non-negative integer")
        _check(_is_int(self.max_pixels) and self.max_pixels >= self.min_pixels, "max_pixels", self.max_pixels,
               f"an integer >= min_pixels ({self.min_pixels})")
        _check(self.save_total_limit is None or (_is_int(self.save_total_limit) and self.save_total_limit >= 1),
               "save_total_limit", self.save_total_limit, "a positive integer or null (keep every checkpoint)")
        for name, low, high in (("learning_rate", 0.0, math.inf), ("max_grad_norm", 0.0, math.inf)):
            value = getattr(self, name)
            _check(_is_number(value) and low < value < high, name, value, "a positive finite number")
        _check(_is_number(self.weight_decay) and 0.0 <= self.weight_decay < math.inf, "weight_decay",
               self.weight_decay, "a non-negative number")
        _check(_is_number(self.warmup_ratio) and 0.0 <= self.warmup_ratio < 1.0, "warmup_ratio", self.warmup_ratio,
               "a number in [0, 1)")
        _check(self.lr_scheduler_type in SCHEDULERS, "lr_scheduler_type", self.lr_scheduler_type,
               f"one of {list(SCHEDULERS)}")
        for name in ("freeze_vision", "gradient_checkpointing", "bf16"):
            _check(isinstance(getattr(self, name), bool), name, getattr(self, name), "true or false")
        _check(isinstance(self.chat_template, str) and (self.chat_template in ("auto", *TEMPLATES)
                                                        or self.chat_template.endswith(".jinja")),
               "chat_template", self.chat_template, f"'auto', one of {list(TEMPLATES)} or a .jinja file")

    @property
    def global_batch_size(self) -> int:
        """Examples per optimizer step on one device."""
        return self.per_device_train_batch_size * self.gradient_accumulation_steps


_is_int, _is_number = is_int, is_number


def _check(ok: bool, name: str, value: Any, expected: str) -> None:
    check_field(ok, "SFTStepConfig", name, value, expected)


# ---------------------------------------------------------------------------------------------- encoding
@dataclass(frozen=True)
class Example:
    """One trace as training tokens.

    Attributes:
        input_ids: The rendered conversation's ids (images expanded as the processor expands them).
        labels: ``input_ids`` on assistant tokens, :data:`IGNORE_INDEX` elsewhere.
        images: The images' encoded bytes, in the order their placeholders appear.
        prompt_lengths: The length of each generation prompt: the ids before each assistant turn.
    """

    input_ids: list[int]
    labels: list[int]
    images: tuple[bytes, ...]
    prompt_lengths: tuple[int, ...]


class SFTEncoder:
    """Traces to :class:`Example` and images to processor inputs, with one processor and chat template.

    Args:
        processor: The checkpoint's processor (tokenizer, image processor).
        chat_template: The template text every conversation is rendered with.
        min_pixels, max_pixels: The image area bounds (:func:`agents.models.render.fit_pixels`).
    """

    def __init__(self, processor: Any, chat_template: str, min_pixels: int, max_pixels: int) -> None:
        self.processor, self.chat_template = processor, chat_template
        self.min_pixels, self.max_pixels = min_pixels, max_pixels
        self.tokenizer = processor.tokenizer
        self.eos_id = int(self.tokenizer.eos_token_id)
        self.eos_text = self.tokenizer.convert_ids_to_tokens(self.eos_id)
        self.token_types = False
        """Whether the processor gives ``mm_token_type_ids`` (rebuilt per batch from the ids, as GRPO's)."""

    def messages(self, trace: Trace) -> tuple[list[dict[str, Any]], list[list[bytes]]]:
        """The chat-template messages of ``trace`` and each message's images (see the module docstring)."""
        out: list[dict[str, Any]] = [{"role": "system", "content": [{"type": "text", "text": trace.system}]}]
        images: list[list[bytes]] = [[]]
        for message in trace.messages:
            mine: list[bytes] = []
            if message.role == "assistant":
                content = [{"type": "text", "text": assistant_text(message)}]
            else:
                content = []
                for part in message.content:
                    if isinstance(part, str):
                        content.append({"type": "text", "text": part})
                    else:
                        content.append({"type": "image"})
                        mine.append(trace.images[part].data)
            rendered: dict[str, Any] = {"role": message.role, "content": content}
            if message.role == "tool":
                rendered["name"] = message.name
            out.append(rendered)
            images.append(mine)
        return out, images

    def encode(self, trace: Trace) -> Example:
        """The training tokens of ``trace``.

        Raises:
            TraceError: the trace has no assistant turn, or the template renders its history differently
                once a turn is added (then the model's tokens could not be cut out of it).
        """
        messages, images = self.messages(trace)
        ids: list[int] = []
        labels: list[int] = []
        prompts: list[int] = []
        kept: list[bytes] = []
        for text, assistant, first, end in self._spans(messages, trace):
            if assistant:
                prompts.append(len(ids))
                span = list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
                ids += span
                labels += span
                continue
            span_images = [data for m in range(first, end) for data in images[m]]
            inputs = self.processor(text=[text], images=self.pil_images(span_images) or None, return_tensors="pt")
            self.token_types = self.token_types or "mm_token_type_ids" in inputs
            span = inputs["input_ids"][0].tolist()
            ids += span
            labels += [IGNORE_INDEX] * len(span)
            kept += span_images
        return Example(ids, labels, tuple(kept), tuple(prompts))

    def _spans(self, messages: list[dict[str, Any]], trace: Trace) -> list[tuple[str, bool, int, int]]:
        """``(text, is_assistant, first message, end message)`` in order, the text cut around the model's turns."""
        spans: list[tuple[str, bool, int, int]] = []
        done, start = "", 0
        for i, message in enumerate(messages):
            if message["role"] != "assistant":
                continue
            prompt = self._render(messages[:i], generation_prompt=True)
            full = self._render(messages[: i + 1], generation_prompt=False)
            end = full.rfind(self.eos_text) + len(self.eos_text)
            if not prompt.startswith(done) or not full.startswith(prompt) or end <= len(prompt):
                raise TraceError(
                    f"{_name(trace)}: the chat template renders message {i}'s history differently once the turn is "
                    f"added (or the turn does not end with {self.eos_text!r}), so its assistant tokens cannot be cut "
                    "out; use a template whose history does not change (the shipped qwen2_5_vl or qwen3_vl one)"
                )
            spans += [(prompt[len(done):], False, start, i), (full[len(prompt):end], True, i, i + 1)]
            done, start = full[:end], i + 1
        if not spans:
            raise TraceError(f"{_name(trace)}: no assistant turn, so nothing to train on; leave the episode out")
        return spans

    def _render(self, messages: Sequence[Mapping[str, Any]], generation_prompt: bool) -> str:
        return str(self.processor.apply_chat_template(
            list(messages), chat_template=self.chat_template, tokenize=False, add_generation_prompt=generation_prompt
        ))

    def pil_images(self, images: Sequence[bytes]) -> list[Image.Image]:
        """Encoded images as the RGB PIL images, scaled into the pixel bounds, that the processor gets."""
        return [fit_pixels(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), self.min_pixels, self.max_pixels)
                for data in images]


def _name(trace: Trace) -> str:
    meta = trace.meta
    return f"trace {meta.get('env_id')}/{meta.get('split')}/{meta.get('index')} (source {trace.source!r})"


class SFTCollator:
    """Batches of :class:`Example` (by the ``example`` index of each dataset row) as model inputs.

    Ids and labels are padded on the right (pad id, :data:`IGNORE_INDEX`); the image features are the
    image processor's for the batch's images in order, as the processor computes them with the text.
    """

    def __init__(self, encoder: SFTEncoder, examples: Sequence[Example], report: DataReport) -> None:
        self.encoder, self.examples, self.report = encoder, list(examples), report
        tokenizer = encoder.tokenizer
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else encoder.eos_id
        self.image_token_id = getattr(encoder.processor, "image_token_id", None)

    def __call__(self, rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        import torch

        examples = [self.examples[int(row["example"])] for row in rows]
        width = max(len(e.input_ids) for e in examples)
        ids = torch.tensor([e.input_ids + [self.pad_id] * (width - len(e.input_ids)) for e in examples])
        labels = torch.tensor([e.labels + [IGNORE_INDEX] * (width - len(e.labels)) for e in examples])
        mask = torch.tensor([[1] * len(e.input_ids) + [0] * (width - len(e.input_ids)) for e in examples])
        batch: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "labels": labels}
        images = self.encoder.pil_images([data for e in examples for data in e.images])
        if images:
            batch.update(self.encoder.processor.image_processor(images=images, return_tensors="pt"))
        if self.encoder.token_types and self.image_token_id is not None:
            batch["mm_token_type_ids"] = (ids == self.image_token_id).long()
        return batch


@dataclass(frozen=True)
class DataReport:
    """What the datasets gave: examples kept, dropped for length, tokens (written to ``out/data.json``)."""

    datasets: tuple[str, ...]
    traces: int
    examples: int
    dropped_over_max_length: int
    longest: int
    max_length: int
    tokens: int
    labelled_tokens: int


def load_examples(config: SFTStepConfig, encoder: SFTEncoder) -> tuple[list[Example], DataReport]:
    """Every trace of ``config.datasets`` encoded, those over ``max_length`` dropped.

    Raises:
        ValueError: no dataset is named, or no example fits in ``max_length``.
        TraceError: a dataset folder is missing or malformed (named by :func:`agents.traces.read_dataset`).
    """
    if not config.datasets:
        raise ValueError("SFTStepConfig.datasets is empty; name at least one trace dataset folder "
                         "(written by agents.traces.write_dataset(..., 'trl') or `spacetools traces export`)")
    encoded = [encoder.encode(trace) for folder in config.datasets for trace in read_dataset(Path(folder))[1]]
    kept = [e for e in encoded if len(e.input_ids) <= config.max_length]
    longest = max(len(e.input_ids) for e in encoded)
    report = DataReport(config.datasets, len(encoded), len(kept), len(encoded) - len(kept), longest,
                        config.max_length, sum(len(e.input_ids) for e in kept),
                        sum(sum(1 for t in e.labels if t != IGNORE_INDEX) for e in kept))
    if report.dropped_over_max_length:
        log.warning("SFT: %d of %d examples are over max_length=%d tokens (longest %d) and are left out",
                    report.dropped_over_max_length, len(encoded), config.max_length, longest)
    if not kept:
        raise ValueError(f"SFTStepConfig.max_length={config.max_length}: every one of the {len(encoded)} examples is "
                         f"longer (longest {longest} tokens); raise max_length or shrink the prompts (fewer tools, "
                         "smaller images)")
    return kept, report


# ---------------------------------------------------------------------------------------------- trainer
def chat_template_of(config: SFTStepConfig, model_type: str, processor: Any) -> str:
    """The template text the eval agent would pick for this checkpoint with ``config.chat_template``."""
    where = f"SFTStepConfig.model: the checkpoint at {config.model}"
    return pick_template(config.chat_template, model_type, processor, where)[1]


def freeze_vision(model: Any) -> list[str]:
    """Set ``requires_grad`` False on the vision tower and projector; returns the frozen parameters' names.

    Raises:
        ValueError: no parameter belongs to a module named in :data:`VISION_MODULES`.
    """
    frozen = []
    for name, parameter in model.named_parameters():
        if any(part in VISION_MODULES for part in name.split(".")):
            parameter.requires_grad_(False)
            frozen.append(name)
    if not frozen:
        raise ValueError(f"freeze_vision: no parameter of {type(model).__name__} is under a module named one of "
                         f"{list(VISION_MODULES)}; set freeze_vision=false or name its vision modules")
    return frozen


def _sft_args(config: SFTStepConfig, out: Path) -> Any:
    import torch
    from trl import SFTConfig

    return SFTConfig(
        output_dir=str(out / TRAINER), max_steps=config.max_steps, learning_rate=config.learning_rate,
        per_device_train_batch_size=config.per_device_train_batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps, lr_scheduler_type=config.lr_scheduler_type,
        warmup_steps=config.warmup_ratio, weight_decay=config.weight_decay, max_grad_norm=config.max_grad_norm,
        seed=config.seed, data_seed=config.seed, logging_steps=config.logging_steps, save_strategy="steps",
        save_steps=config.save_steps, save_total_limit=config.save_total_limit, report_to="none",
        activation_checkpointing=config.gradient_checkpointing, bf16=config.bf16,  # transformers' new name
        use_cpu=not torch.cuda.is_available(),  # else transformers refuses bf16 on a CPU (a paper config's dry run)
        # Our collator builds the tokens and labels (module docstring): TRL prepares nothing, drops no column.
        dataset_kwargs={"skip_prepare_dataset": True}, remove_unused_columns=False, max_length=None,
        completion_only_loss=False, assistant_only_loss=False, packing=False,
    )


def build_sft_trainer(config: SFTStepConfig, out: Path) -> SFTTrainer:
    """TRL's ``SFTTrainer`` for ``config``, checkpoints under ``out/trainer``; nothing is trained.

    Its ``data_collator`` is an :class:`SFTCollator`: the encoded examples and the :class:`DataReport`.

    Raises:
        ValueError: ``config.model`` is empty or no example fits; TraceError: a malformed dataset.
    """
    return _build_trainer(config, out, None)


def _build_trainer(config: SFTStepConfig, out: Path, weights: Path | None) -> SFTTrainer:
    """:func:`build_sft_trainer`, the model's weights read from ``weights`` (a checkpoint) when given.

    Why a resume reads the weights here: ``Trainer._load_from_checkpoint`` (transformers 5.25) loads
    ``model.safetensors`` with a plain non-strict ``load_state_dict``, but ``save_pretrained`` wrote it
    in the checkpoint's own key layout (Qwen-VL's ``visual.*``, ``model.layers.*``), so no key matches
    and the resumed run silently trains the initial weights again (a warning lists every key as
    unexpected). ``from_pretrained`` maps the keys back; the Trainer still restores the optimizer,
    scheduler, RNG and data position from the checkpoint.
    """
    from datasets import Dataset  # type: ignore[import-untyped]
    from transformers import AutoModelForImageTextToText, AutoProcessor
    from trl import SFTTrainer

    if not config.model:
        raise ValueError("SFTStepConfig.model is empty; set it to the checkpoint folder to start from")
    if not Path(config.model).is_dir():
        raise ValueError(f"SFTStepConfig.model: {config.model} is not a checkpoint folder")
    args = _sft_args(config, out)  # seeds before the model is built (the Trainer seeds again itself)
    model = AutoModelForImageTextToText.from_pretrained(weights or config.model)
    processor = AutoProcessor.from_pretrained(config.model)
    processor.chat_template = chat_template_of(config, model.config.model_type, processor)
    encoder = SFTEncoder(processor, processor.chat_template, config.min_pixels, config.max_pixels)
    examples, report = load_examples(config, encoder)
    if config.freeze_vision:
        freeze_vision(model)
    return SFTTrainer(
        model=model, args=args, processing_class=processor, data_collator=SFTCollator(encoder, examples, report),
        train_dataset=Dataset.from_list([{"example": i} for i in range(len(examples))]),
    )


# ---------------------------------------------------------------------------------------------- run
def run_sft(config: SFTStepConfig, out: Path) -> Path:
    """Train (resuming from the newest checkpoint under ``out/trainer``) and save ``out/final``; returns it.

    Writes ``out/config.json``, ``out/data.json`` and ``out/metrics.jsonl`` (one line per TRL log:
    ``loss``, ``learning_rate``, ``grad_norm``, ...). A folder already finished with this config is
    returned without training.

    Raises:
        ValueError: ``out`` holds a run of another config (the differing fields are named).
    """
    out = Path(out)
    finished = finished_run(config, out, "an SFT", ("max_steps",))  # max_steps may grow, to train longer
    if finished is not None:
        return finished
    checkpoint = latest_checkpoint(out / TRAINER)
    save_config(config, out / CONFIG)
    trainer = _build_trainer(config, out, checkpoint)
    collator = cast(SFTCollator, trainer.data_collator)
    (out / DATA).write_text(json.dumps(dataclasses.asdict(collator.report), indent=2) + "\n", encoding="utf-8")
    trainer.add_callback(JsonlMetrics(out / METRICS, resume_step=checkpoint_step(checkpoint)))
    trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint is not None else None)
    return save_final(trainer, out)
