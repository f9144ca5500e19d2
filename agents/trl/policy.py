"""The trainer's model as a batched agent that keeps every episode's tokens: what GRPO trains on.

:class:`TokenPolicy` plays through :class:`~spacetools_env.batch_rollout.BatchRollout` like any agent
(``act(turns) -> texts``), and records for each episode the token sequence the model actually saw and
wrote: the first prompt's ids (the env's conversation rendered by the chat template, images expanded by
the processor), then, turn after turn, the sampled tokens (``env_mask`` 1, with their log-probabilities)
and the tokens of what the env answered (the tool turns and the next generation prompt: ``env_mask`` 0).

The history is never re-tokenized: a turn is generated from the episode's own ids, so the sequence the
trainer scores is exactly the one sampled. Only the env's new messages are rendered: the conversation is
rendered with and without them, and the text after the last assistant turn's end-of-turn token is
tokenized and appended. Tokens the decoder forces (the end-of-turn token right after ``</answer>`` or at
the turn's token cap) count as model tokens. The episode budget (``max_episode_tokens``: the trainer's
``max_completion_length``) counts model and env tokens; once the env's next answer would not fit, the
episode's tokens end there and it gets empty actions (the env runs to its turn limit, as with the ``hf``
agent); a turn left empty before the env's answer gets the end-of-turn token appended as an env token.

Each episode samples from its own ``torch.Generator`` (seeded from the seed and the episode id), so an
episode's tokens do not depend on the other episodes of its batch. The vision placeholder tokens
(``<|image_pad|>``, ``<|vision_start|>``, ...) are never sampled: an untrained model draws them now and
then, and a placeholder without image features breaks the next forward pass over the sequence.

A ``teacher`` (any batched agent, e.g. the tool-program agent) may take turns over: where it returns
text, that text's tokens are forced instead of sampled and scored by the model (their log-probabilities
from a forward pass); where it returns None, the model samples. Conformance tests check the bridge
with scripted turns this way, and GRPO groups can mix expert and sampled completions
(:class:`EveryKth`: the teacher on every ``k``-th completion of a batch).

Tool images (``tool_images=True`` envs) are refused: TRL's ``rollout_func`` path feeds only the dataset's
images to the training forward pass, so image tokens inside the completion would not match.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from PIL import Image

from agents.models.decoding import TurnDecoder
from agents.models.render import fit_pixels, template_messages
from agents.models.settings import GenerationSettings
from spacetools_env.rollout import Turn

ANSWER_END = "</answer>"
VISION_TOKEN_FIELDS = ("image_token_id", "video_token_id", "vision_start_token_id", "vision_end_token_id",
                       "image_token_index")
"""Model config fields naming the vision placeholder tokens (Qwen-VL, LLaVA), never sampled."""


@dataclass
class EpisodeTokens:
    """One episode's tokens as TRL's ``rollout_func`` returns them.

    Attributes:
        prompt_ids: The first prompt (system, user images and question, generation prompt).
        completion_ids: Everything after it: model turns and env turns.
        logprobs: Per completion token: the sampling log-probability (0.0 on env tokens).
        env_mask: Per completion token: 1 on model tokens, 0 on tokens the env appended.
        images: The question images as given to the processor (RGB PIL).
        prompt_text: The first prompt as the chat template rendered it.
    """

    prompt_ids: list[int]
    images: list[Image.Image]
    prompt_text: str
    features: dict[str, torch.Tensor]
    generator: torch.Generator
    completion_ids: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    env_mask: list[int] = field(default_factory=list)
    seen: int = 0
    """Messages of the conversation already in the tokens."""
    closed: bool = False
    """The token budget is spent: nothing more is generated or recorded for this episode."""

    @property
    def ids(self) -> list[int]:
        return self.prompt_ids + self.completion_ids

    def append(self, ids: Sequence[int], logprobs: Sequence[float] | None, mask: int) -> None:
        self.completion_ids += list(ids)
        self.logprobs += list(logprobs) if logprobs is not None else [0.0] * len(ids)
        self.env_mask += [mask] * len(ids)


class TokenPolicy:
    """The trainer's model and processor as a batched, token-recording agent (see the module docstring).

    Args:
        model: The model being trained (``trainer.model``); generation runs under ``inference_mode``.
        processor: Its processor (``trainer.processing_class``), with a chat template.
        settings: Per-turn and per-episode token caps, sampling, seed.
        teacher: An agent whose non-None actions are forced (see the module docstring).
        template_kwargs: Extra chat-template variables (TRL's ``chat_template_kwargs``).
        fit_images: Scale the question images into ``settings``' ``[min_pixels, max_pixels]`` as the eval agent
            does (:func:`agents.models.render.fit_pixels`); False: as the env gives them.

    Raises:
        ValueError: the processor has no chat template.
    """

    name = "trl-policy"

    def __init__(
        self, model: Any, processor: Any, settings: GenerationSettings, teacher: Any = None,
        template_kwargs: Mapping[str, Any] | None = None, fit_images: bool = False,
    ) -> None:
        self.model, self.processor, self.settings, self.teacher = model, processor, settings, teacher
        self.fit_images = fit_images
        self.tokenizer = processor.tokenizer
        self.chat_template = processor.chat_template  # the one TRL renders the rows with
        if not self.chat_template:
            raise ValueError(
                f"{type(processor).__name__} has no chat template; set processor.chat_template (the shipped ones: "
                "agents.models.templates.load_template('qwen2_5_vl'), 'qwen3_vl' or 'llava')"
            )
        self.template_kwargs = dict(template_kwargs or {})
        self.eos_id = int(self.tokenizer.eos_token_id)
        self.eos_text = self.tokenizer.convert_ids_to_tokens(self.eos_id)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_id
        config = getattr(model, "config", None)
        self.image_token_id = getattr(config, "image_token_id", None)
        self.vision_ids = sorted({int(v) for name in VISION_TOKEN_FIELDS
                                  if isinstance(v := getattr(config, name, None), int) and v >= 0})
        """Token ids never sampled: a sampled image placeholder would have no image features, so the batch's
        next forward pass (Qwen-VL's rope index, TRL's training pass) fails; an untrained model samples them."""
        self.token_types = False
        """Whether the processor gives ``mm_token_type_ids`` (Qwen-VL: 1 on image tokens), rebuilt per batch."""
        self.episodes: dict[str, EpisodeTokens] = {}
        self.timing = {"policy_s": 0.0}
        """Seconds in :meth:`act` so far: rendering, tokenizing and generating (or scoring forced turns)."""

    # ------------------------------------------------------------------ the agent protocol
    def act(self, turns: Sequence[Turn]) -> list[str]:
        start = time.perf_counter()
        try:
            return self._act(turns)
        finally:
            self.timing["policy_s"] += time.perf_counter() - start

    def _act(self, turns: Sequence[Turn]) -> list[str]:
        episodes = [self._observe(turn) for turn in turns]
        limits = [self._limit(e) for e in episodes]
        texts = [""] * len(turns)  # a spent budget: the empty action, nothing generated
        rows = [i for i, limit in enumerate(limits) if limit > 0]
        forced: list[Any] = [None] * len(turns)
        if self.teacher is not None and rows:
            for i, text in zip(rows, self.teacher.act([turns[i] for i in rows]), strict=True):
                forced[i] = text
        sampled = [i for i in rows if forced[i] is None]
        scripted = [i for i in rows if forced[i] is not None]
        if sampled:
            outputs = self._generate([episodes[i] for i in sampled], [limits[i] for i in sampled])
            for i, text in zip(sampled, outputs, strict=True):
                texts[i] = text
        if scripted:
            outputs = self._force([episodes[i] for i in scripted], [str(forced[i]) for i in scripted],
                                  [limits[i] for i in scripted])
            for i, text in zip(scripted, outputs, strict=True):
                texts[i] = text
        return texts

    def end_episode(self, episode_id: str) -> None:
        """The teacher forgets the episode; its tokens stay here until :meth:`take`."""
        if self.teacher is not None:
            self.teacher.end_episode(episode_id)

    def take(self, episode_id: str) -> EpisodeTokens:
        """The episode's tokens, forgotten here."""
        return self.episodes.pop(episode_id)

    def render_prompt(self, prompt: Sequence[dict[str, Any]]) -> str:
        """A TRL prompt (content strings or parts, images inline or not) rendered as the chat template does."""
        messages = []
        for message in prompt:
            content = message.get("content")
            parts = [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
            parts = [{"type": "image"} if p.get("type") == "image" else {"type": "text", "text": p.get("text") or ""}
                     for p in parts]
            messages.append({"role": message["role"], "content": parts})
        return str(self.processor.apply_chat_template(
            messages, chat_template=self.chat_template, tokenize=False, add_generation_prompt=True,
            **self.template_kwargs,
        ))

    # ------------------------------------------------------------------ tokens in
    def _render(self, messages: Sequence[dict[str, Any]], generation_prompt: bool) -> tuple[str, list[Any]]:
        rendered, arrays = template_messages(messages)
        text = self.processor.apply_chat_template(
            rendered, chat_template=self.chat_template, tokenize=False, add_generation_prompt=generation_prompt,
            **self.template_kwargs,
        )
        return text, arrays

    def _observe(self, turn: Turn) -> EpisodeTokens:
        """The episode's tokens with the env's messages since its last turn appended."""
        episode = self.episodes.get(turn.episode_id)
        if episode is None:
            return self._start(turn)
        if episode.closed:
            return episode
        new = turn.messages[episode.seen :]
        if any(part.get("type") == "image" for m in new for part in m["content"]):
            raise ValueError(
                "an env returned a tool image: the rollout_func path trains on the dataset's images only, so "
                "tool images cannot reach the training forward pass; make the env with tool_images=False "
                "(the default), or train through the environment_factory path"
            )
        if episode.completion_ids[-1:] != [self.eos_id]:  # cut at its token cap: close the turn
            episode.append([self.eos_id], None, 0)
        before, _ = self._render(turn.messages[: episode.seen + 1], generation_prompt=False)
        after, _ = self._render(turn.messages, generation_prompt=True)
        cut = before.rfind(self.eos_text) + len(self.eos_text)
        if cut < len(self.eos_text) or not after.startswith(before[:cut]):
            raise ValueError(
                "the chat template renders the conversation so far differently once the env's messages are "
                "added, so the env's tokens cannot be appended to the sampled ones; use a template whose "
                "history does not change (the shipped qwen2_5_vl or qwen3_vl one)"
            )
        delta = self.tokenizer(after[cut:], add_special_tokens=False)["input_ids"]
        episode.seen = len(turn.messages)
        if len(episode.completion_ids) + len(delta) + 1 >= self.settings.max_episode_tokens:
            episode.closed = True  # the env's answer would not fit, nor a token after it
        else:
            episode.append(delta, None, 0)
        return episode

    def _start(self, turn: Turn) -> EpisodeTokens:
        text, arrays = self._render(turn.messages, generation_prompt=True)
        low, high = self.settings.min_pixels, self.settings.max_pixels
        images = [fit_pixels(np.asarray(a), low, high) if self.fit_images else to_pil(a) for a in arrays]
        inputs = self.processor(text=[text], images=images or None, return_tensors="pt")
        # Per-token fields are rebuilt for each batch from the ids; only per-image ones are kept.
        self.token_types = self.token_types or "mm_token_type_ids" in inputs
        features = {k: v for k, v in inputs.items() if k not in ("input_ids", "attention_mask", "mm_token_type_ids",
                                                                   "token_type_ids")}
        seed = np.random.SeedSequence([self.settings.seed, zlib.crc32(turn.episode_id.encode("utf-8"))])
        generator = torch.Generator(device="cpu").manual_seed(int(seed.generate_state(1, np.uint64)[0] >> 1))
        episode = EpisodeTokens(inputs["input_ids"][0].tolist(), images, text, features, generator)
        episode.seen = len(turn.messages)
        self.episodes[turn.episode_id] = episode
        return episode

    def _limit(self, episode: EpisodeTokens) -> int:
        """New tokens this turn may sample before the end-of-turn token (which needs a place too)."""
        if episode.closed:
            return 0
        left = self.settings.max_episode_tokens - len(episode.completion_ids) - 1
        return max(0, min(self.settings.max_turn_tokens, left))

    # ------------------------------------------------------------------ tokens out
    def _generate(self, episodes: Sequence[EpisodeTokens], limits: list[int]) -> list[str]:
        """One batched ``generate`` over the episodes; their new tokens and log-probabilities recorded."""
        from transformers import GenerationConfig, LogitsProcessorList

        inputs = self._batch(episodes)
        length = int(inputs["input_ids"].shape[1])
        decoder = TurnDecoder(
            settings=self.settings, prompt_length=length, limits=limits,
            generators=[e.generator for e in episodes], stop_ids=[self.eos_id], decode=self.tokenizer.decode,
            answer_end=ANSWER_END,
        )
        config = GenerationConfig(
            max_new_tokens=max(limits) + 1, do_sample=False, eos_token_id=[self.eos_id], pad_token_id=self.pad_id,
            return_dict_in_generate=True, output_logits=True, suppress_tokens=self.vision_ids or None,
        )  # suppression runs before the decoder's draw (transformers puts custom processors last)
        with torch.inference_mode():
            output = self.model.generate(
                **inputs, generation_config=config, logits_processor=LogitsProcessorList([decoder])
            )
        logits = torch.stack(output.logits, dim=1).float() / self.settings.temperature
        logprobs = torch.log_softmax(logits, dim=-1)
        texts = []
        for row, episode in enumerate(episodes):
            new = output.sequences[row, length:].tolist()
            count = next((k + 1 for k, token in enumerate(new) if token == self.eos_id), len(new))
            tokens = new[:count]
            picked = logprobs[row, torch.arange(count), torch.tensor(tokens, dtype=torch.long)].tolist()
            episode.append(tokens, picked, 1)
            text = self.tokenizer.decode([t for t in tokens if t != self.eos_id], skip_special_tokens=True)
            end = text.find(ANSWER_END)
            texts.append(text if end < 0 else text[: end + len(ANSWER_END)])
        return texts

    def _force(self, episodes: Sequence[EpisodeTokens], texts: Sequence[str], limits: list[int]) -> list[str]:
        """The texts' tokens (cut at the turn's limit, then the end-of-turn token), scored by one forward pass."""
        forced = [[*self.tokenizer(t, add_special_tokens=False)["input_ids"][:limit], self.eos_id]
                  for t, limit in zip(texts, limits, strict=True)]
        inputs = self._batch(episodes, forced)
        with torch.inference_mode():
            logits = self.model(**inputs).logits.float() / self.settings.temperature
        logprobs = torch.log_softmax(logits, dim=-1)
        width = logits.shape[1]
        out = []
        for row, (episode, tokens) in enumerate(zip(episodes, forced, strict=True)):
            positions = torch.arange(width - len(tokens) - 1, width - 1)
            picked = logprobs[row, positions, torch.tensor(tokens, dtype=torch.long)].tolist()
            episode.append(tokens, picked, 1)
            out.append(self.tokenizer.decode(tokens[:-1], skip_special_tokens=True))
        return out

    def _batch(
        self, episodes: Sequence[EpisodeTokens], extra: Sequence[Sequence[int]] | None = None
    ) -> dict[str, torch.Tensor]:
        """The episodes' ids (each followed by its ``extra`` tokens) padded on the left, with their image features."""
        ids = [e.ids + list(extra[k] if extra is not None else []) for k, e in enumerate(episodes)]
        width = max(len(row) for row in ids)
        input_ids = torch.tensor([[self.pad_id] * (width - len(row)) + row for row in ids], dtype=torch.long)
        mask = torch.tensor([[0] * (width - len(row)) + [1] * len(row) for row in ids], dtype=torch.long)
        batch: dict[str, torch.Tensor] = {"input_ids": input_ids, "attention_mask": mask}
        for key in episodes[0].features:
            batch[key] = torch.cat([e.features[key] for e in episodes], dim=0)
        if self.token_types and self.image_token_id is not None:
            batch["mm_token_type_ids"] = (input_ids == self.image_token_id).long()
        device = getattr(self.model, "device", "cpu")
        return {k: v.to(device) for k, v in batch.items()}


def to_pil(image: Any) -> Image.Image:
    """An env image (an ``HxWx3`` array) as the RGB PIL image the processor and the dataset both get."""
    return image if isinstance(image, Image.Image) else Image.fromarray(np.ascontiguousarray(image)).convert("RGB")


class EveryKth:
    """A teacher for :class:`TokenPolicy` that plays every ``k``-th completion of a batch; the model samples the rest.

    The position is the rollout's episode id ``<step>.<call>:<position>``; TRL puts the ``num_generations``
    completions of a prompt next to each other, so with ``k`` up to ``num_generations`` every group mixes
    teacher and sampled completions (the group's rewards differ as soon as the teacher's score better).

    Args:
        agent: The batched agent whose actions are forced (e.g. :class:`agents.tool_program.ToolProgramAgent`).
        k: Every ``k``-th position, starting at 0 (``k`` >= 1; 1: every completion).

    >>> EveryKth(None, 2).ours("3.1:4"), EveryKth(None, 2).ours("3.1:5")
    (True, False)
    """

    name = "every-kth"

    def __init__(self, agent: Any, k: int) -> None:
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"EveryKth.k must be a positive integer, got {k!r}")
        self.agent, self.k = agent, k

    def ours(self, episode_id: str) -> bool:
        """Whether the teacher plays the episode ``episode_id`` (``<step>.<call>:<position>``)."""
        return int(episode_id.rsplit(":", 1)[1]) % self.k == 0

    def act(self, turns: Sequence[Turn]) -> list[Any]:
        mine = [t for t in turns if self.ours(t.episode_id)]
        actions = iter(self.agent.act(mine) if mine else [])
        return [next(actions) if self.ours(t.episode_id) else None for t in turns]

    def end_episode(self, episode_id: str) -> None:
        if self.ours(episode_id):
            self.agent.end_episode(episode_id)
