"""Each episode's prompt tokenized once: a turn tokenizes only the text after what it tokenized before.

A conversation's rendered prompt grows by a tool response and a generation prompt per turn, but its
tokens were recomputed whole every turn (the system prompt alone is about 10,000 characters with the
tools block: a few milliseconds per episode per turn, which no batching shares). Tokenizers split text
at their added tokens (``<|im_start|>``, ``<tool_call>`` ...) before anything else, so the tokens of a
text that ends with an added token, followed by more text, are the tokens of each part joined. The
episode keeps its last prompt cut right after its last added token (:class:`PromptPrefix`: the text,
its token ids and modality types, and how many images it holds); the next prompt, when it starts with
that text, is tokenized from there on, with only the images after the cut.

Episodes of one env share their first prompt's start (the system prompt with the tools block): the text
before a fresh episode's first image, cut after its last added token, is kept as a shared prefix
(:meth:`PrefixTokens.share`), so a new episode's first prompt is tokenized from there on too.

This holds for added tokens that do not strip the whitespace around them (``lstrip``/``rstrip``), which
is checked once; and the first batches that use a prefix are compared with whole-prompt tokenization
(ids and types): any difference turns the shortcut off for the agent, with a warning.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

CHECKED_BATCHES = 3
"""Batches with a reused prefix compared with whole-prompt tokenization before the shortcut is trusted."""


@dataclass(frozen=True)
class PromptPrefix:
    """The part of an episode's last prompt kept for the next: text, token ids, types, images in it."""

    text: str
    ids: torch.Tensor
    types: torch.Tensor
    images: int


def image_starts(types: torch.Tensor) -> list[int]:
    """Where each image's run of tokens starts in a row's modality types (0 text, non-zero image)."""
    flags = types.tolist()
    return [i for i, t in enumerate(flags) if t != 0 and (i == 0 or flags[i - 1] == 0)]


EMPTY = PromptPrefix("", torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long), 0)


class PrefixTokens:
    """Splits prompts at their episodes' known prefixes and keeps the new prefixes (see the module docstring).

    Args:
        tokenizer: The processor's tokenizer.
        placeholders: Token ids the processor expands per image (image/video pads): never a cut point.
    """

    def __init__(self, tokenizer: Any, placeholders: set[int]) -> None:
        added = list(getattr(tokenizer, "added_tokens_decoder", {}).values())
        self.enabled = bool(added) and all(not t.lstrip and not t.rstrip for t in added)
        self.checks_left = CHECKED_BATCHES
        contents = sorted({str(t.content) for t in added}, key=len, reverse=True)
        self.pattern = re.compile("|".join(re.escape(c) for c in contents)) if contents else None
        self.token_ids = {c: tokenizer.convert_tokens_to_ids(c) for c in contents}
        self.placeholders = placeholders
        self.shared: list[PromptPrefix] = []
        """Starts of fresh episodes' first prompts, before their first image (most recent last, at most 4)."""

    def split(self, prefix: PromptPrefix, text: str) -> PromptPrefix:
        """``prefix`` if ``text`` continues it; for a fresh episode the longest shared start ``text`` has;
        else the empty prefix."""
        if not self.enabled:
            return EMPTY
        if prefix.text:
            return prefix if text.startswith(prefix.text) else EMPTY
        fitting = [p for p in self.shared if text.startswith(p.text)]
        return max(fitting, key=lambda p: len(p.text)) if fitting else EMPTY

    def share(self, text: str, ids: torch.Tensor, types: torch.Tensor) -> None:
        """Keep the start of a fresh episode's whole first prompt (before its first image) for other episodes."""
        if not self.enabled or self.pattern is None:
            return
        head = text
        for match in self.pattern.finditer(text):
            if self.token_ids[match.group()] in self.placeholders:
                head = text[: match.start()]
                break
        start = self.extend(EMPTY, head, ids, types)
        if start.text and all(p.text != start.text for p in self.shared):
            self.shared = [*self.shared[-3:], start]

    def extend(self, prefix: PromptPrefix, text: str, ids: torch.Tensor, types: torch.Tensor) -> PromptPrefix:
        """The prefix for the next prompt: ``prefix`` followed by ``text`` (tokens ``ids``, ``types``) up to and
        including the last added token of ``text`` that is not an image placeholder (``prefix`` itself when
        ``text`` holds none). Only ``text``, the part tokenized this turn, is searched."""
        if not self.enabled or self.pattern is None:
            return EMPTY
        cut, occurrence, seen = None, 0, dict.fromkeys(self.token_ids, 0)
        for match in self.pattern.finditer(text):
            seen[match.group()] += 1
            if self.token_ids[match.group()] not in self.placeholders:
                cut, occurrence = match, seen[match.group()]
        if cut is None:
            return prefix
        where = (ids == self.token_ids[cut.group()]).nonzero().view(-1)
        if len(where) < occurrence:
            return EMPTY
        end = int(where[occurrence - 1]) + 1
        kept = types[:end]
        return PromptPrefix(
            prefix.text + text[: cut.end()], torch.cat([prefix.ids, ids[:end]]), torch.cat([prefix.types, kept]),
            prefix.images + len(image_starts(kept)),
        )

    def check(self, joined: Sequence[tuple[torch.Tensor, torch.Tensor]],
              whole: Sequence[tuple[torch.Tensor, torch.Tensor]]) -> bool:
        """Compare a batch's joined tokens with whole-prompt ones; a difference turns the shortcut off."""
        self.checks_left -= 1
        same = all(
            torch.equal(a_ids, b_ids) and torch.equal(a_types, b_types)
            for (a_ids, a_types), (b_ids, b_types) in zip(joined, whole, strict=True)
        )
        if not same:
            self.enabled = False
        return same
