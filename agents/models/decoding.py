"""One turn's decoding rule for a batch: where each row stops, and each episode's own sampling.

:class:`TurnDecoder` is a logits processor run by ``model.generate(do_sample=False)``: for a row that
has reached its token limit, closed ``</answer>`` or produced an end-of-turn token, it forces the
end-of-turn token (so ``generate`` finishes that row); for a sampling row it draws the next token with
that episode's generator and forces it. Greedy rows are left as they are (the argmax). A row's draws
depend only on its own logits and generator, never on the other rows of the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

_TAIL = 16
"""Tokens decoded from a row's end to find ``</answer>`` (longer than any tokenization of it)."""


class TurnDecoder:
    """Per-row stopping and seeded sampling for one batched ``generate`` call.

    Args:
        settings: The agent's :class:`~agents.models.settings.GenerationSettings`.
        prompt_length: Length of the (left-padded) prompt rows.
        limits: New tokens allowed per row.
        generators: Each row's episode generator (used when sampling).
        stop_ids: End-of-turn token ids; the first is forced to end a row.
        decode: Token ids -> text (the tokenizer's ``decode``), to find ``answer_end``.
        answer_end: The text that ends a turn once generated (``</answer>``).
        closers: Token ids whose text holds the last character of ``answer_end`` (:func:`closing_tokens`):
            the tail is decoded only after one of them, not at every step of every row. None: always.
    """

    def __init__(
        self,
        settings: Any,
        prompt_length: int,
        limits: Sequence[int],
        generators: Sequence[torch.Generator],
        stop_ids: Sequence[int],
        decode: Any,
        answer_end: str,
        closers: frozenset[int] | None = None,
    ) -> None:
        self.settings = settings
        self.prompt_length = prompt_length
        self.limits = list(limits)
        self.generators = list(generators)
        self.stop_ids = list(stop_ids)
        self.decode = decode
        self.answer_end = answer_end
        self.closers = closers
        self.done = [False] * len(self.limits)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        generated = input_ids[:, self.prompt_length :].tolist()
        return self.process(generated, scores)

    def process(self, generated: Sequence[list[int]], scores: torch.Tensor) -> torch.Tensor:
        """As a call, with each row's generated tokens so far given as lists (the cached decoding loop's)."""
        out = scores.clone()
        for row in range(scores.shape[0]):
            if not self.done[row]:
                self.done[row] = self._finished(row, generated[row])
            if self.done[row]:
                out[row] = _only(out[row], self.stop_ids[0])
            elif self.settings.do_sample:
                out[row] = _only(out[row], self._draw(scores[row], self.generators[row]))
        return out

    def _finished(self, row: int, tokens: list[int]) -> bool:
        if len(tokens) >= self.limits[row] or any(t in self.stop_ids for t in tokens[-1:]):
            return True
        if not tokens or (self.closers is not None and tokens[-1] not in self.closers):
            return False  # the text cannot have just closed the answer
        return self.answer_end in self.decode(tokens[-_TAIL:])

    def _draw(self, logits: torch.Tensor, generator: torch.Generator) -> int:
        """One token from ``logits`` with temperature, top-k and top-p, drawn with ``generator``."""
        logits = logits.float().cpu() / self.settings.temperature
        if self.settings.top_k:
            kth = torch.topk(logits, min(self.settings.top_k, logits.numel())).values[-1]
            logits = logits.masked_fill(logits < kth, float("-inf"))
        probs = torch.softmax(logits, dim=-1)
        if self.settings.top_p < 1.0:
            ordered, order = torch.sort(probs, descending=True)
            outside = ordered.cumsum(0) - ordered > self.settings.top_p  # keeps the token that crosses top_p
            ordered[outside] = 0.0
            probs = torch.zeros_like(probs).scatter(0, order, ordered)
        return int(torch.multinomial(probs, 1, generator=generator).item())


def closing_tokens(tokenizer: Any, answer_end: str) -> frozenset[int]:
    """Ids of the tokens whose vocabulary string holds ``answer_end``'s last character (``>``).

    Byte-level BPE and SentencePiece vocabularies keep printable ASCII as itself, and byte-fallback tokens
    spell the byte (``<0x3E>``), so a token that can end ``</answer>`` is among them.
    """
    last = answer_end[-1]
    tokens = tokenizer.convert_ids_to_tokens(list(range(len(tokenizer))))
    return frozenset(i for i, token in enumerate(tokens) if token is not None and last in token)


def _only(row: torch.Tensor, token: int) -> torch.Tensor:
    forced = torch.full_like(row, float("-inf"))
    forced[token] = 0.0
    return forced
