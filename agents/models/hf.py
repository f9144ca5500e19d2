"""The ``transformers`` VLM agent: an image-text-to-text chat model from a local folder or a hub id.

``spacetools eval --agent hf --agent-kwargs '{"model": "PATH"}'`` or, in Python::

    agent = HFAgent(model="/path/to/checkpoint")          # AutoModelForImageTextToText + AutoProcessor
    traj = rollout(env, agent_policy(agent, "ep-0"), seed=0)

Each turn renders every running episode's conversation with the model's chat template
(:mod:`agents.models.render`), pads the batch on the left and generates the turns together. A turn
ends at the end-of-turn token (the tokenizer's ``eos`` and the generation config's) or right after
``</answer>``; the text before that is the action, ``<tool_call>`` blocks and all (a turn may hold up to
the env's 8 calls). Budgets, as the paper's: at most ``max_turn_tokens`` new tokens per turn, and at
most ``max_episode_tokens`` tokens after the first prompt per episode (the model's turns and the tool
responses: verl's ``max_response_length`` 8,192); a first prompt over ``max_prompt_tokens`` (8,192) or
an exhausted episode budget gets the empty action, without generating (the env then runs to its turn
limit, and the episode ends truncated, unanswered).

Each episode's keys and values are kept across its turns (``kv_cache``, on by default, for the Qwen-VL
family and LLaVA: :mod:`agents.models.kv_cache`), so a turn computes only the tokens it adds (tool
responses, the next generation prompt, new images); the text is what re-reading the whole conversation
gives. Other models, or ``kv_cache=False``, re-read it with ``generate`` each turn.

Decoding is greedy by default. With ``do_sample=True`` each episode draws from its own
``torch.Generator`` seeded from ``(seed, episode id)``, kept across its turns, so an episode's text
does not depend on which other episodes share its batch.

Chat template (``chat_template``): ``"auto"`` uses the checkpoint's own, except for Qwen2.5-VL, whose
stock template renders neither tools nor tool turns nor their images; the project's
``templates/qwen2_5_vl.jinja`` is used there. A shipped family name or a ``.jinja`` path picks one.

No-tool mode: make the env with ``tools=[]`` (it then offers no tools and prints no tools block); this
agent needs no option for it, the model answers directly.
"""

from __future__ import annotations

import time
import warnings
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.models.checkpoint import resolve_checkpoint
from agents.models.decoding import TurnDecoder, closing_tokens
from agents.models.kv_cache import EpisodeKV, IncrementalDecoder, Row, kv_kind
from agents.models.prompt_prefix import EMPTY, PrefixTokens, PromptPrefix
from agents.models.render import CachedImageProcessor, ImageCache, stack_features, template_messages
from agents.models.settings import (
    DTYPES,
    NEEDS_MODEL,
    description,
    manifest_entry,
    parse_settings,
    pick_template,
)
from spacetools_env.rollout import Turn

ANSWER_END = "</answer>"


@dataclass
class _Episode:
    """One running episode's state: its image cache, its generator, and the tokens it has spent."""

    images: ImageCache
    generator: Any
    prompt_tokens: int | None = None
    """Tokens of its first prompt (the base of the episode budget)."""
    turn_tokens: list[int] = field(default_factory=list)
    """New tokens generated at each of its turns (0: a spent budget, nothing generated)."""
    kv: EpisodeKV | None = None
    """Its keys and values, kept across turns (:mod:`agents.models.kv_cache`)."""
    prefix: PromptPrefix = EMPTY
    """Its last prompt's tokenized prefix (:mod:`agents.models.prompt_prefix`)."""


@dataclass
class _Batch:
    """A batch's prompts as the model reads them.

    ``inputs`` is the processor's padded output of the whole prompts (None when they were tokenized from
    their episodes' prefixes: the cached path reads only ``ids`` and ``types``).
    """

    inputs: Any
    ids: list[Any]
    types: list[Any]
    pils: list[list[Any]]
    limits: list[int]

    def rows(self, keep: Sequence[int]) -> _Batch:
        return _Batch(None, [self.ids[i] for i in keep], [self.types[i] for i in keep],
                      [self.pils[i] for i in keep], [self.limits[i] for i in keep])


class HFAgent:
    """A ``transformers`` image-text-to-text chat model as a batched agent (see the module docstring).

    Args:
        model: A checkpoint folder, or a hub id (downloaded into the HF cache unless already there).
        revision: Hub revision (branch, tag or commit); None: the default branch. Not for folders.
        device: Torch device (``cpu``, ``cuda``, ``cuda:1``).
        dtype: ``auto`` (the checkpoint's), ``float32``, ``bfloat16`` or ``float16``.
        chat_template: ``auto``, a shipped family name, or a ``.jinja`` file.
        threads: ``torch.set_num_threads`` for this process (None: torch's default).
        **settings: :class:`~agents.models.settings.GenerationSettings` fields.
    """

    name = "hf"

    @staticmethod
    def manifest_entry(**kwargs: Any) -> dict[str, Any]:
        """The manifest's record of an agent built with ``kwargs``, the model not loaded (:func:`manifest_entry`)."""
        return manifest_entry(**kwargs)

    def __init__(
        self,
        model: str | None = None,
        revision: str | None = None,
        device: str = "cpu",
        dtype: str = "auto",
        chat_template: str = "auto",
        threads: int | None = None,
        **settings: Any,
    ) -> None:
        import torch
        from transformers import AutoModelForImageTextToText, AutoProcessor

        if model is None:
            raise ValueError(NEEDS_MODEL)
        self.settings = parse_settings(settings)
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {list(DTYPES)}, got {dtype!r}")
        if threads is not None:
            torch.set_num_threads(int(threads))
        self.path, self.revision = resolve_checkpoint(model, revision)
        self.model_name, self.device, self.dtype = model, device, dtype
        loaded: Any = AutoModelForImageTextToText.from_pretrained(
            self.path, dtype="auto" if dtype == "auto" else getattr(torch, dtype)
        )
        self.model = loaded.to(device).eval()
        self.processor = AutoProcessor.from_pretrained(self.path)
        self.tokenizer = self.processor.tokenizer
        self.tokenizer.padding_side = "left"
        self.template_name, self.chat_template = pick_template(
            chat_template, self.model.config.model_type, self.processor, f"the checkpoint at {self.path}"
        )
        self.stop_ids = _stop_ids(self.tokenizer, self.model.generation_config)
        self.closers = closing_tokens(self.tokenizer, ANSWER_END)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.stop_ids[0]
        self.episodes: dict[str, _Episode] = {}
        kind = kv_kind(self.model) if self.settings.kv_cache else None
        self.incremental = (
            IncrementalDecoder(self.model, kind, self.pad_id, self.stop_ids, stack_features) if kind else None
        )
        """The per-episode key/value cache's decoder (None: ``generate`` re-reads each conversation)."""
        self.image_token_id = getattr(self.model.config, "image_token_id", None)
        placeholders = {getattr(self.model.config, k, None) for k in ("image_token_id", "video_token_id")}
        self.prefixes = PrefixTokens(self.tokenizer, {int(i) for i in placeholders if i is not None})
        """Tokenizes each prompt from its episode's last one (used with the key/value cache)."""
        self.cache_images: bool | None = None
        """Whether images come from the per-episode cache (None: not checked yet; see :meth:`_inputs`)."""
        self.timing = {"render_s": 0.0, "processor_s": 0.0, "generate_s": 0.0}
        """Seconds spent so far: chat template rendering, the processor (images from the cache), generate."""

    # ------------------------------------------------------------------ the agent protocol
    def act(self, turns: Sequence[Turn]) -> list[Any]:
        """One action per turn: the batch rendered, padded left and generated together in chunks."""
        actions: list[Any] = []
        size = self.settings.batch_size
        for start in range(0, len(turns), size):
            actions += self._act_batch(turns[start : start + size])
        return actions

    def end_episode(self, episode_id: str) -> None:
        """Forget the episode's image cache and generator."""
        self.episodes.pop(episode_id, None)

    def describe(self) -> dict[str, Any]:
        """The model and settings, for the eval manifest (see :func:`manifest_entry`)."""
        return description(self.model_name, self.path, self.revision, self.device, self.dtype, self.template_name,
                           self.settings)

    def prompt_ids(self, turns: Sequence[Turn]) -> list[list[int]]:
        """Each turn's prompt token ids as this agent tokenizes them (from the episode's prefix when the
        cache runs): what the model conditions on. Tests compare them with SFT's and GRPO's."""
        return [row.tolist() for row in self._prepare(turns).ids]

    def model_inputs(self, turns: Sequence[Turn]) -> Any:
        """The processor's padded output for the turns' whole prompts (ids, pixel values, grids), images from
        the episodes' caches: what ``generate`` reads on the uncached path."""
        _, texts, pils, caches = self._render_turns(turns)
        return self._inputs(texts, [image for row in pils for image in row], caches)

    def _render_turns(
        self, turns: Sequence[Turn]
    ) -> tuple[list[_Episode], list[str], list[list[Any]], list[ImageCache]]:
        """Each turn's episode, rendered prompt text, images (cached PIL, in prompt order) and image cache."""
        episodes = [self._episode(turn.episode_id) for turn in turns]
        texts, pils = [], []
        for turn, episode in zip(turns, episodes, strict=True):
            messages, arrays = template_messages(turn.messages)
            texts.append(self._render(messages))
            pils.append(episode.images.pil_images(arrays))
        return episodes, texts, pils, [episode.images for episode in episodes]

    def _render(self, messages: list[dict[str, Any]]) -> str:
        return str(self.processor.apply_chat_template(
            messages, chat_template=self.chat_template, tokenize=False, add_generation_prompt=True
        ))

    # ------------------------------------------------------------------ one batch
    def _act_batch(self, turns: Sequence[Turn]) -> list[str]:
        batch = self._prepare(turns)
        rows = [i for i, limit in enumerate(batch.limits) if limit > 0]
        actions = [""] * len(turns)  # a spent budget: the empty action, nothing generated
        counts = [0] * len(turns)
        if rows:
            chosen = [turns[i] for i in rows]
            if self.incremental is not None and self.cache_images is not False:
                generated = self._generate_cached(batch.rows(rows) if len(rows) < len(turns) else batch, chosen)
            else:
                inputs = batch.inputs if len(rows) == len(turns) else self._prepare(chosen).inputs
                generated = self._generate(inputs, chosen, [batch.limits[i] for i in rows])
            for i, (text, count) in zip(rows, generated, strict=True):
                actions[i], counts[i] = text, count
        for turn, count in zip(turns, counts, strict=True):
            self.episodes[turn.episode_id].turn_tokens.append(count)
        return actions

    def _prepare(self, turns: Sequence[Turn]) -> _Batch:
        """The batch's prompts: rendered, tokenized (whole, or from each episode's prefix when the cached
        path runs), images from the episode caches; and each row's token limit."""
        start = time.perf_counter()
        episodes, texts, pils, caches = self._render_turns(turns)
        rendered = time.perf_counter()
        by_prefix = self.incremental is not None and self.cache_images is True and self.prefixes.enabled
        if by_prefix:
            inputs = None
            ids, types = self._tokenize_from_prefixes(episodes, texts, pils, caches)
        else:
            inputs = self._inputs(texts, [image for row in pils for image in row], caches)
            ids, types = self._rows(inputs)
            if self.incremental is not None:
                for episode, text, row_ids, row_types in zip(episodes, texts, ids, types, strict=True):
                    fresh = not episode.prefix.text
                    episode.prefix = self.prefixes.extend(EMPTY, text, row_ids, row_types)
                    if fresh:
                        self.prefixes.share(text, row_ids, row_types)
        self.timing["render_s"] += rendered - start
        self.timing["processor_s"] += time.perf_counter() - rendered
        limits = [self._limit(t.episode_id, len(row)) for t, row in zip(turns, ids, strict=True)]
        return _Batch(inputs, ids, types, pils, limits)

    def _tokenize_from_prefixes(
        self, episodes: Sequence[_Episode], texts: list[str], pils: list[list[Any]], caches: list[ImageCache]
    ) -> tuple[list[Any], list[Any]]:
        """Each prompt's tokens: its episode's prefix joined with the tokens of the rest (see :mod:`prompt_prefix`)."""
        import torch

        prefixes = [self.prefixes.split(e.prefix, text) for e, text in zip(episodes, texts, strict=True)]
        suffixes = [text[len(p.text):] for p, text in zip(prefixes, texts, strict=True)]
        images = [image for p, row in zip(prefixes, pils, strict=True) for image in row[p.images:]]
        suffix_ids, suffix_types = self._rows(self._inputs(suffixes, images, caches))
        ids = [torch.cat([p.ids, row]) for p, row in zip(prefixes, suffix_ids, strict=True)]
        types = [torch.cat([p.types, row]) for p, row in zip(prefixes, suffix_types, strict=True)]
        if self.prefixes.checks_left > 0 and any(p.text for p in prefixes):
            whole = self._rows(self._inputs(texts, [image for row in pils for image in row], caches))
            if not self.prefixes.check(list(zip(ids, types, strict=True)), list(zip(*whole, strict=True))):
                warnings.warn(
                    f"{type(self.tokenizer).__name__}: tokens of a prompt continued from its prefix differ from "
                    "the whole prompt's; prompts are tokenized whole from now on",
                    stacklevel=3,
                )
                for episode in episodes:
                    episode.prefix = EMPTY
                return whole
        for episode, p, text, suffix, parts in zip(episodes, prefixes, texts, suffixes,
                                                   zip(suffix_ids, suffix_types, ids, types, strict=True), strict=True):
            fresh = not episode.prefix.text
            episode.prefix = self.prefixes.extend(p, suffix, parts[0], parts[1])
            if fresh and not p.text:
                self.prefixes.share(text, parts[2], parts[3])
        return ids, types

    def _rows(self, inputs: Any) -> tuple[list[Any], list[Any]]:
        """Each row's token ids and modality types (1 on image tokens), padding removed."""
        ids, types = [], []
        for r in range(inputs["input_ids"].shape[0]):
            real = inputs["attention_mask"][r].bool().cpu()
            row = inputs["input_ids"][r].cpu()[real]
            ids.append(row)
            if "mm_token_type_ids" in inputs:
                types.append(inputs["mm_token_type_ids"][r].cpu()[real].long())
            else:
                types.append((row == self.image_token_id).long())
        return ids, types

    def _inputs(self, texts: list[str], images: list[Any], caches: list[ImageCache]) -> Any:
        """The processor's output, its image processor reading the episodes' caches (see :mod:`render`).

        The first batch with images is also processed without the cache; a processor whose outputs
        differ (one whose per-image outputs do not stack along the first dimension) runs uncached
        from then on, with a warning, rather than feed the model wrong inputs.
        """
        real = getattr(self.processor, "image_processor", None)
        if not images or real is None or self.cache_images is False:
            return self._process(texts, images).to(self.device)
        self.processor.image_processor = CachedImageProcessor(real, caches)
        try:
            inputs = self._process(texts, images)
        finally:
            self.processor.image_processor = real
        if self.cache_images is None:
            plain = self._process(texts, images)
            self.cache_images = _same_inputs(inputs, plain)
            if not self.cache_images:
                warnings.warn(
                    f"{type(real).__name__}: per-image outputs do not stack into the batch's; images are "
                    "processed at every turn for this model (no per-episode cache)",
                    stacklevel=2,
                )
                inputs = plain
        return inputs.to(self.device)

    def _process(self, texts: list[str], images: list[Any]) -> Any:
        return self.processor(text=texts, images=images or None, padding=True, return_tensors="pt")

    def _episode(self, episode_id: str) -> _Episode:
        episode = self.episodes.get(episode_id)
        if episode is None:
            import torch

            seed = np.random.SeedSequence([self.settings.seed, zlib.crc32(episode_id.encode("utf-8"))])
            generator = torch.Generator(device="cpu").manual_seed(int(seed.generate_state(1, np.uint64)[0] >> 1))
            cache = ImageCache(self.settings.min_pixels, self.settings.max_pixels)
            episode = self.episodes[episode_id] = _Episode(cache, generator)
        return episode

    def _limit(self, episode_id: str, length: int) -> int:
        """New tokens this turn may take: 0 when the prompt is too long or the episode budget is spent.

        The episode's first prompt is the length seen at its first turn played by this agent.
        """
        episode = self.episodes[episode_id]
        if episode.prompt_tokens is None:
            episode.prompt_tokens = length
            if length > self.settings.max_prompt_tokens:
                warnings.warn(
                    f"episode {episode_id!r}: its first prompt is {length} tokens, over max_prompt_tokens="
                    f"{self.settings.max_prompt_tokens}; it gets empty actions (raise max_prompt_tokens, or lower "
                    "max_pixels)",
                    stacklevel=2,
                )
        if episode.prompt_tokens > self.settings.max_prompt_tokens:
            return 0
        used = length - episode.prompt_tokens
        return max(0, min(self.settings.max_turn_tokens, self.settings.max_episode_tokens - used))

    def _decoder(self, turns: Sequence[Turn], limits: list[int], prompt_length: int) -> TurnDecoder:
        """The turn's decoding rule: per-row limits and stops, each episode's own generator."""
        return TurnDecoder(
            settings=self.settings,
            prompt_length=prompt_length,
            limits=limits,
            generators=[self.episodes[t.episode_id].generator for t in turns],
            stop_ids=self.stop_ids,
            decode=self.tokenizer.decode,
            answer_end=ANSWER_END,
            closers=self.closers,
        )

    def _generate(self, inputs: Any, turns: Sequence[Turn], limits: list[int]) -> list[tuple[str, int]]:
        """Each row's action text and how many new tokens it took (up to its end-of-turn token)."""
        import torch
        from transformers import GenerationConfig, LogitsProcessorList

        prompt_length = int(inputs["input_ids"].shape[1])
        decoder = self._decoder(turns, limits, prompt_length)
        # A config of our own: the checkpoint's sampling defaults (temperature, repetition penalty) do not apply.
        config = GenerationConfig(
            max_new_tokens=max(limits) + 1, do_sample=False, eos_token_id=self.stop_ids, pad_token_id=self.pad_id
        )
        start = time.perf_counter()
        with torch.inference_mode():
            output = self.model.generate(
                **inputs, generation_config=config, logits_processor=LogitsProcessorList([decoder])
            )
        self.timing["generate_s"] += time.perf_counter() - start
        return _texts(self.tokenizer, output[:, prompt_length:].tolist(), self.stop_ids)

    def _generate_cached(self, batch: _Batch, turns: Sequence[Turn]) -> list[tuple[str, int]]:
        """As :meth:`_generate`, over each episode's kept keys and values (:mod:`agents.models.kv_cache`)."""
        assert self.incremental is not None
        limits = batch.limits
        rows = [
            Row(ids, types, self.episodes[turn.episode_id].images.features(pils), self.episodes[turn.episode_id].kv)
            for turn, ids, types, pils in zip(turns, batch.ids, batch.types, batch.pils, strict=True)
        ]
        decoder = self._decoder(turns, limits, prompt_length=0)
        start = time.perf_counter()
        generated, caches = self.incremental.generate(rows, decoder, max(limits) + 1)
        self.timing["generate_s"] += time.perf_counter() - start
        for turn, kv in zip(turns, caches, strict=True):
            self.episodes[turn.episode_id].kv = kv
        return _texts(self.tokenizer, generated, self.stop_ids)


def _texts(tokenizer: Any, new: Sequence[Sequence[int]], stop_ids: Sequence[int]) -> list[tuple[str, int]]:
    """Each row's action text (cut before its end-of-turn token, and right after ``</answer>``) and its count."""
    counts = [next((k for k, token in enumerate(row) if token in stop_ids), len(row)) for row in new]
    texts = tokenizer.batch_decode([row[:count] for row, count in zip(new, counts, strict=True)],
                                   skip_special_tokens=True)
    return [(_cut_after_answer(text), count) for text, count in zip(texts, counts, strict=True)]


def _stop_ids(tokenizer: Any, generation_config: Any) -> list[int]:
    ids = [tokenizer.eos_token_id]
    configured = getattr(generation_config, "eos_token_id", None)
    ids += configured if isinstance(configured, list) else [configured]
    return sorted({int(i) for i in ids if i is not None})


def _same_inputs(first: Mapping[str, Any], second: Mapping[str, Any]) -> bool:
    import torch

    if set(first) != set(second):
        return False
    for key, value in first.items():
        other = second[key]
        if isinstance(value, torch.Tensor):
            if not isinstance(other, torch.Tensor) or value.shape != other.shape or not torch.equal(value, other):
                return False
        elif value != other:
            return False
    return True


def _cut_after_answer(text: str) -> str:
    end = text.find(ANSWER_END)
    return text if end < 0 else text[: end + len(ANSWER_END)]
