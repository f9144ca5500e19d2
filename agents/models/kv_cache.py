"""Each episode's keys and values kept across its turns: a turn prefills only the tokens it has not seen.

Without this, every turn re-reads the whole conversation (system prompt, tools block, images, earlier
turns and tool responses): the prefill grows with the turn and, being compute-bound, does not get cheaper
per episode in a batch, which is what kept batched play slow. With it, a turn runs the model on the new
tokens only (the tool responses and the next generation prompt), and the images of earlier turns are not
encoded again.

How a turn is played (:class:`IncrementalDecoder`):

1. Each row's prompt is tokenized whole, as before (the processor on the rendered conversation), so the
   tokens the model conditions on are exactly the uncached path's. The episode's cache holds the tokens it
   has keys and values for (its earlier prompts and the tokens it generated); the longest common prefix of
   those tokens and the new prompt is reused, the rest is computed. A prefix never ends inside an image's
   tokens, and at least one token is always computed (the one whose logits start the turn).
2. Rows are batched as ``[padding][cached tokens][padding][new tokens]``: the cached keys and values are
   left-padded to the batch's longest, the new tokens too, and the attention mask hides both paddings.
   Position ids are given explicitly, computed on the whole prompt as the model computes them (the
   Qwen-VL family's 3-D rotary positions through the model's own ``get_rope_index``; plain positions for
   LLaVA), so a token's position never depends on the padding or on what was cached.
3. Images whose tokens are among the new ones are passed to the model (their processor outputs from the
   episode's :class:`~agents.models.render.ImageCache`), in order, so only new images are encoded.
4. Decoding is a plain loop over the batch: each step's logits go through the turn's
   :class:`~agents.models.decoding.TurnDecoder` (per-row stopping, per-episode sampling), the argmax is the
   next token (greedy; a sampling row's drawn token is the only one left), and a finished row is fed
   padding, masked, until every row is finished or the turn's token limit is reached: the semantics of
   ``generate`` with this decoder.
5. Each row keeps the keys and values of the tokens it was fed (prompt and generation) for its next turn.
6. Episodes of one env start alike (the system prompt and tools block): the keys and values of a fresh
   episode's prompt before its first image are kept (:attr:`IncrementalDecoder.shared`, the 4 most
   recent) and a new episode starts from the one sharing most tokens with it. Never past an image:
   image tokens are the same ids whatever the pixels.

Supported models (:func:`kv_kind`): the Qwen2-VL family (Qwen2-VL, Qwen2.5-VL, Qwen3-VL) and LLaVA, with
full attention in every layer. Others use ``generate`` on the whole conversation each turn, as does
``kv_cache=False`` (the manifest records the setting; whether it applies follows from the checkpoint's
model type and layer types).

Numerics: reused keys and values were computed in an earlier forward pass, with other padding and other
shapes, so logits can differ from a full re-read in the last bits; greedy text is the same unless two
tokens are within that rounding of each other (the tests compare both paths on real episodes).

Memory: an episode holds ``2 x layers x kv_heads x head_dim`` values per token (for Qwen2.5-VL-3B in
bfloat16 about 36 KiB per token, 300 MiB at the 8,192-token budget), freed at ``end_episode``.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import torch

from agents.models.prompt_prefix import image_starts

MROPE_TYPES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl")
"""Models whose positions are 3-D rotary positions from ``model.model.get_rope_index``."""
LINEAR_TYPES = ("llava",)
"""Models whose positions are ``0, 1, 2, ...`` over the whole sequence, images included."""


def kv_kind(model: Any) -> str | None:
    """``"mrope"``, ``"linear"`` or None (unsupported: another model type, or a layer without full attention)."""
    config = model.config
    model_type = getattr(config, "model_type", None)
    kind = "mrope" if model_type in MROPE_TYPES else "linear" if model_type in LINEAR_TYPES else None
    if kind is None:
        return None
    text = config.get_text_config(decoder=True)
    layer_types = getattr(text, "layer_types", None) or ["full_attention"]
    if any(layer != "full_attention" for layer in layer_types) or getattr(text, "use_sliding_window", False):
        return None
    if kind == "mrope" and not hasattr(getattr(model, "model", None), "get_rope_index"):
        return None
    return kind


@dataclass
class EpisodeKV:
    """One episode's cache: the tokens it holds keys and values for, and those, per layer ``(heads, T, dim)``."""

    tokens: list[int]
    layers: list[tuple[torch.Tensor, torch.Tensor]]
    positions: torch.Tensor | None = None
    """The tokens' position ids, ``(P, T)``: a turn that adds only text continues them without recomputing."""


@dataclass
class Row:
    """One episode's prompt at this turn.

    Attributes:
        ids: The whole prompt's token ids, ``(T,)``, no padding.
        type_ids: The processor's ``mm_token_type_ids`` for those tokens (0 text, 1 image), ``(T,)``; for
            models whose processor gives none, 1 where the token is the image token.
        images: The processor output of each image of the prompt, in order (one image each).
        cache: The episode's cache (None: its first turn here).
    """

    ids: torch.Tensor
    type_ids: torch.Tensor
    images: list[Any]
    cache: EpisodeKV | None


class IncrementalDecoder:
    """Plays turns of a batch of episodes over their kept caches (see the module docstring).

    Args:
        model: The image-text-to-text model (a supported one: :func:`kv_kind`).
        kind: ``kv_kind(model)``.
        pad_id: Token fed at padded positions (masked).
        stop_ids: End-of-turn ids: a row is finished once it has produced one.
        stack: Joins per-image processor outputs into one batch (:func:`agents.models.render.stack_features`).
    """

    def __init__(self, model: Any, kind: str, pad_id: int, stop_ids: Sequence[int], stack: Any) -> None:
        self.model = model
        self.kind = kind
        self.pad_id = int(pad_id)
        self.stop_ids = set(int(i) for i in stop_ids)
        self.stack = stack
        self.cache_arg = "cache" if "cache" in inspect.signature(model.forward).parameters else "past_key_values"
        self.shared: list[EpisodeKV] = []
        """Keys and values of fresh episodes' prompt starts, before their first image (see step 6)."""
        self.stats = {"prompt_tokens": 0, "computed_tokens": 0}
        """Prompt tokens seen over all turns, and those computed (the rest came from the caches)."""

    # ------------------------------------------------------------------ one turn
    @torch.inference_mode()
    def generate(
        self, rows: Sequence[Row], processor: Any, max_new_tokens: int
    ) -> tuple[list[list[int]], list[EpisodeKV]]:
        """Each row's generated tokens (up to and including its end-of-turn token) and its new cache.

        ``processor`` is the turn's :class:`~agents.models.decoding.TurnDecoder`: its ``process`` gets each
        row's tokens generated so far and the step's logits.
        """
        fresh = [row.cache is None for row in rows]
        rows = [replace(row, cache=self._shared_start(row)) if row.cache is None else row for row in rows]
        reused = [self._reused(row) for row in rows]
        self.stats["prompt_tokens"] += sum(len(row.ids) for row in rows)
        self.stats["computed_tokens"] += sum(len(row.ids) - n for row, n in zip(rows, reused, strict=True))
        batch = len(rows)
        first: list[Any] = [None] * batch  # per row: its next-token logits, its cache, its last position
        for group in _prefill_groups([len(row.ids) - n for row, n in zip(rows, reused, strict=True)]):
            outputs = self._prefill([rows[r] for r in group], [reused[r] for r in group])
            for k, r in enumerate(group):
                first[r] = tuple(part[k] for part in outputs)
        logits = torch.stack([f[0] for f in first])
        held: list[EpisodeKV] = [f[1] for f in first]
        length = max(len(c.tokens) for c in held)
        fed = torch.zeros((batch, length), dtype=torch.long)
        for r, c in enumerate(held):
            fed[r, length - len(c.tokens) :] = 1
        cache = self._batch_cache(held, length, max_new_tokens)
        last_pos = torch.stack([f[2] for f in first], dim=1)

        generated: list[list[int]] = [[] for _ in rows]
        finished = [False] * batch
        for step in range(max_new_tokens):
            scores = processor.process(generated, logits.float())
            chosen = scores.argmax(dim=-1).tolist()
            feed = torch.full((batch, 1), self.pad_id, dtype=torch.long)
            step_mask = torch.zeros((batch, 1), dtype=torch.long)
            for r in range(batch):
                if finished[r]:
                    continue
                generated[r].append(chosen[r])
                feed[r, 0] = chosen[r]
                step_mask[r, 0] = 1
                finished[r] = chosen[r] in self.stop_ids
            if all(finished) or step + 1 == max_new_tokens:
                break
            last_pos = last_pos + step_mask.view(1, batch)
            fed = torch.cat([fed, step_mask], dim=1)
            logits, cache = self._forward(feed, fed, last_pos.unsqueeze(-1), cache, {})
        out = self._split(held, generated, fed, cache)
        for before, kv in zip(held, out, strict=True):
            if before.positions is not None:
                grown = len(kv.tokens) - len(before.tokens)
                steps = before.positions[:, -1:] + torch.arange(1, grown + 1).view(1, -1)
                kv.positions = torch.cat([before.positions, steps], dim=1)
        for row, new, kv in zip(rows, fresh, out, strict=True):
            if new:
                self._share(row, kv)
        return generated, out

    def _shared_start(self, row: Row) -> EpisodeKV | None:
        """The shared prompt start with the most tokens in common with ``row``'s prompt (None: none)."""
        prompt = row.ids.tolist()
        counted = [(_common_prefix(start.tokens, prompt), k) for k, start in enumerate(self.shared)]
        n, k = max(counted, key=lambda c: (c[0], -c[1]), default=(0, -1))  # the earliest of the longest
        return self.shared[k] if n else None

    def _share(self, row: Row, kv: EpisodeKV) -> None:
        """Keep the keys and values of ``row``'s prompt before its first image for episodes to come."""
        starts = image_starts(row.type_ids)
        end = starts[0] if starts else len(row.ids)
        if end < 16 or any(s.tokens == kv.tokens[:end] for s in self.shared):
            return
        layers = [(k[:, :end].clone(), v[:, :end].clone()) for k, v in kv.layers]
        start = EpisodeKV(kv.tokens[:end], layers, None if kv.positions is None else kv.positions[:, :end].clone())
        self.shared = [*self.shared[-3:], start]

    def _prefill(
        self, rows: Sequence[Row], reused: Sequence[int]
    ) -> tuple[torch.Tensor, list[EpisodeKV], list[torch.Tensor]]:
        """Run rows of similar new lengths over their caches: each row's next-token logits, its cache with
        the new tokens, and the position of its last token."""
        positions = [self._positions(row, n) for row, n in zip(rows, reused, strict=True)]
        cached_len = max(reused)
        new_len = max(len(row.ids) - n for row, n in zip(rows, reused, strict=True))
        batch = len(rows)
        ids = torch.full((batch, new_len), self.pad_id, dtype=torch.long)
        mask = torch.zeros((batch, cached_len + new_len), dtype=torch.long)
        pos = torch.zeros((positions[0].shape[0], batch, new_len), dtype=torch.long)
        for r, (row, n) in enumerate(zip(rows, reused, strict=True)):
            fresh = len(row.ids) - n
            ids[r, new_len - fresh :] = row.ids[n:]
            pos[:, r, new_len - fresh :] = positions[r][:, n:]
            mask[r, cached_len - n : cached_len] = 1
            mask[r, cached_len + new_len - fresh :] = 1
        images = [image for row, n in zip(rows, reused, strict=True) for image in self._new_images(row, n)]
        extra = dict(self.stack(images, "pt")) if images else {}
        held = [
            EpisodeKV(row.cache.tokens[:n], [(k[:, :n], v[:, :n]) for k, v in row.cache.layers])
            if n and row.cache is not None else None
            for row, n in zip(rows, reused, strict=True)
        ]
        cache = self._batch_cache(held, cached_len, new_len)
        logits, cache = self._forward(ids, mask, pos, cache, extra)
        after = [
            EpisodeKV((h.tokens if h is not None else []) + row.ids[n:].tolist(), [])
            for h, row, n in zip(held, rows, reused, strict=True)
        ]
        split = self._split(after, [[] for _ in rows], mask, cache)
        for kv, row_positions in zip(split, positions, strict=True):
            kv.positions = row_positions
        return logits, split, [p[:, -1] for p in positions]

    # ------------------------------------------------------------------ pieces
    def _reused(self, row: Row) -> int:
        """Tokens of the row's prompt whose keys and values its cache already holds."""
        if row.cache is None:
            return 0
        limit = len(row.ids) - 1  # at least one token is computed: its logits start the turn
        n = _common_prefix(row.cache.tokens, row.ids[:limit].tolist())
        types = row.type_ids.tolist()
        while n > 0 and types[n] != 0 and types[n - 1] != 0:  # never cut through an image's tokens
            n -= 1
        return n

    def _positions(self, row: Row, reused: int = 0) -> torch.Tensor:
        """Position ids of the whole prompt, ``(P, T)``: what the model computes for it uncached.

        When the new tokens are text after a text token, they continue the cached positions by one each
        (what the model's rope index gives text); otherwise they are computed on the whole prompt.
        """
        length = len(row.ids)
        cache = row.cache
        types = row.type_ids
        if (
            reused and cache is not None and cache.positions is not None and int(types[reused - 1]) == 0
            and not bool(types[reused:].any())
        ):
            known = cache.positions[:, :reused]
            return torch.cat([known, known[:, -1:] + torch.arange(1, length - reused + 1).view(1, -1)], dim=1)
        if self.kind == "linear":
            return torch.arange(length).view(1, length)
        grids = [image["image_grid_thw"] for image in row.images]
        grid = torch.cat([torch.as_tensor(g).view(-1, 3) for g in grids]) if grids else None
        position_ids, _ = self.model.model.get_rope_index(
            row.ids.view(1, length).to(self.model.device),
            mm_token_type_ids=row.type_ids.view(1, length).to(self.model.device),
            image_grid_thw=None if grid is None else grid.to(self.model.device),
        )
        return position_ids[:, 0, :].cpu()

    @staticmethod
    def _new_images(row: Row, reused: int) -> list[Any]:
        """The processor outputs of the images whose tokens are not cached (the last ones of the prompt)."""
        starts = image_starts(row.type_ids)
        if len(starts) != len(row.images):
            raise ValueError(
                f"the prompt has {len(starts)} runs of image tokens but {len(row.images)} images; "
                "set kv_cache=False for this model"
            )
        fresh = sum(1 for start in starts if start >= reused)
        return row.images[len(row.images) - fresh :] if fresh else []

    def _batch_cache(self, held: Sequence[EpisodeKV | None], length: int, reserve: int) -> Any:
        """One cache of the rows' held keys and values, each left-padded to ``length``, with room for
        ``reserve`` more tokens (so a decoding step writes in place instead of copying the cache)."""
        from transformers.cache_utils import Cache

        template = next((h for h in held if h is not None and h.layers), None)
        text = self.model.config.get_text_config(decoder=True)
        heads = getattr(text, "num_key_value_heads", None) or text.num_attention_heads
        dim = getattr(text, "head_dim", None) or text.hidden_size // text.num_attention_heads
        dtype = template.layers[0][0].dtype if template is not None else self.model.dtype
        shape = (len(held), heads, length + reserve, dim)
        layers: list[Any] = []
        for layer in range(text.num_hidden_layers):
            keys = torch.zeros(shape, dtype=dtype, device=self.model.device)
            values = torch.zeros(shape, dtype=dtype, device=self.model.device)
            for r, h in enumerate(held):
                if h is not None and h.layers:
                    n = h.layers[layer][0].shape[1]
                    keys[r, :, length - n : length] = h.layers[layer][0]
                    values[r, :, length - n : length] = h.layers[layer][1]
            layers.append(_ReservedLayer(keys, values, length))
        return Cache(layers=layers)

    def _forward(
        self, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: Any, extra: dict[str, Any]
    ) -> tuple[torch.Tensor, Any]:
        device = self.model.device
        position_ids = positions[0] if self.kind == "linear" else positions
        out = self.model(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            position_ids=position_ids.to(device),
            use_cache=True,
            logits_to_keep=1,
            **{self.cache_arg: cache},
            **{k: (v.to(device) if isinstance(v, torch.Tensor) else v) for k, v in extra.items()},
        )
        returned = getattr(out, "cache", None)
        if returned is None:
            returned = out.past_key_values
        return out.logits[:, -1, :], returned

    @staticmethod
    def _split(
        held: Sequence[EpisodeKV], generated: Sequence[list[int]], fed: torch.Tensor, cache: Any
    ) -> list[EpisodeKV]:
        """Each row's cache after a forward pass: the keys and values of every token it was fed.

        ``held[r].tokens`` are the row's tokens before the generated ones; the generated tokens that were
        fed follow them.
        """
        out = []
        for r, before in enumerate(held):
            keep = fed[r].nonzero().view(-1).to(cache.layers[0].keys.device)
            tokens = before.tokens + generated[r][: len(keep) - len(before.tokens)]
            layers = [
                (layer.keys[r].index_select(1, keep), layer.values[r].index_select(1, keep))
                for layer in cache.layers
            ]
            out.append(EpisodeKV(tokens, layers))
        return out


def _reserved_layer_base() -> type:
    from transformers.cache_utils import DynamicLayer

    return DynamicLayer


class _ReservedLayer(_reserved_layer_base()):  # type: ignore[misc]
    """A ``DynamicLayer`` over preallocated buffers: ``update`` writes the new keys and values in place and
    returns views of the filled part (``DynamicLayer`` concatenates, copying the whole cache every step)."""

    def __init__(self, keys: torch.Tensor, values: torch.Tensor, filled: int) -> None:
        super().__init__()
        self.buffers = (keys, values)
        self.filled = filled
        self.device = keys.device
        self.is_initialized = True
        self.keys, self.values = keys[:, :, :filled], values[:, :, :filled]

    def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args: Any, **kwargs: Any) -> Any:
        end = self.filled + key_states.shape[-2]
        keys, values = self.buffers
        if end > keys.shape[-2]:
            raise RuntimeError(f"cache reserve exceeded: {end} > {keys.shape[-2]} tokens")
        keys[:, :, self.filled : end] = key_states
        values[:, :, self.filled : end] = value_states
        self.filled = end
        self.keys, self.values = keys[:, :, :end], values[:, :, :end]
        return self.keys, self.values

    def get_seq_length(self) -> int:
        return self.filled


def _common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens ``a`` and ``b`` share."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _prefill_groups(lengths: Sequence[int], waste: float = 1.5) -> list[list[int]]:
    """Rows grouped for prefill so that no row is padded to more than ``waste`` times its new tokens.

    A fresh episode (its whole prompt new) next to continuing ones (a tool response new) would otherwise pad
    every row to the fresh prompt's length.
    """
    order = sorted(range(len(lengths)), key=lambda r: lengths[r])
    groups: list[list[int]] = []
    for r in order:
        if groups and lengths[r] <= waste * max(1, lengths[groups[-1][0]]):
            groups[-1].append(r)
        else:
            groups.append([r])
    return groups
