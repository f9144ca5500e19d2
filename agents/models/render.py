"""The env's conversation as a chat model's inputs: template messages, images, and a per-episode image cache.

The conversation is rendered as the env gives it: the system message (the env's prompt with its tools
block, never a second ``tools=`` block from the template), the user's images and question, assistant
turns, tool turns and the images inside them, each image a ``{"type": "image"}`` placeholder in the
chat template's output, the arrays passed to the processor in the same order.

What is cached, per episode (:class:`ImageCache`, forgotten at ``end_episode``): each distinct image of
the conversation (keyed by a digest of its pixels) as the PIL image resized into the pixel bounds and
as the image processor's output for it, so an image is resized and processed once per episode, not
once per turn. The processor still runs every turn for the text (tokenizing and expanding the image
placeholders); its image processor is swapped, for the call, for one that reads the cache
(:class:`CachedImageProcessor`). This works for processors whose per-image outputs stack along the
first dimension (the Qwen2-VL family's patches and grids, LLaVA's and other fixed-size pixel tensors).
The model's keys and values are kept across turns by :mod:`agents.models.kv_cache` (which also
spares earlier images the vision encoder); this module only prepares the inputs.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image


def template_messages(messages: Sequence[Mapping[str, Any]]) -> tuple[list[dict[str, Any]], list[np.ndarray]]:
    """Chat-template messages for ``messages`` (images as placeholders) and the images in rendering order."""
    out: list[dict[str, Any]] = []
    images: list[np.ndarray] = []
    for message in messages:
        content: list[dict[str, Any]] = []
        for part in message["content"]:
            if part.get("type") == "image":
                images.append(part["image"])
                content.append({"type": "image"})
            else:
                content.append({"type": "text", "text": part.get("text", "")})
        rendered: dict[str, Any] = {"role": message["role"], "content": content}
        if "name" in message:
            rendered["name"] = message["name"]
        out.append(rendered)
    return out, images


def fit_pixels(image: np.ndarray, min_pixels: int, max_pixels: int) -> Image.Image:
    """``image`` as RGB PIL, scaled (aspect kept, bicubic) so its area lies within ``[min_pixels, max_pixels]``."""
    pil = Image.fromarray(np.ascontiguousarray(image)).convert("RGB")
    area = pil.width * pil.height
    if min_pixels <= area <= max_pixels:
        return pil
    scale = math.sqrt((max_pixels if area > max_pixels else min_pixels) / area)
    size = (max(1, round(pil.width * scale)), max(1, round(pil.height * scale)))
    return pil.resize(size, Image.Resampling.BICUBIC)


@dataclass
class _Entry:
    pil: Image.Image
    features: Any = None


@dataclass
class ImageCache:
    """One episode's images: resized once, processed once (see the module docstring)."""

    min_pixels: int
    max_pixels: int
    entries: dict[bytes, _Entry] = field(default_factory=dict)
    processed: int = 0
    """How many images the image processor has run on for this episode (a test checks: once each)."""
    seen: dict[int, tuple[np.ndarray, bytes, bytes]] = field(default_factory=dict)
    """Arrays met before, by identity: (the array, a sample of its pixels, its digest). The conversation
    hands the same array objects every turn; hashing a 640x480 image costs about a millisecond, so an
    array seen before whose sampled pixels still match is taken to be the same image (the env never
    writes an image in place; the array is held, so its id cannot be reused while cached)."""

    def pil_images(self, images: Sequence[np.ndarray]) -> list[Image.Image]:
        """The cached, resized PIL image of each array (the same object every turn)."""
        out = []
        for image in images:
            key = self._key(image)
            entry = self.entries.get(key)
            if entry is None:
                entry = self.entries[key] = _Entry(fit_pixels(image, self.min_pixels, self.max_pixels))
            out.append(entry.pil)
        return out

    def _key(self, image: np.ndarray) -> bytes:
        sample = _sample(image)
        known = self.seen.get(id(image))
        if known is not None and known[0] is image and known[1] == sample:
            return known[2]
        key = _digest(image)
        self.seen[id(image)] = (image, sample, key)
        return key

    def features(self, images: Sequence[Image.Image]) -> list[Any]:
        """The processor output of each of ``images`` (PIL images this cache gave; processed already)."""
        entries = self.by_identity()
        return [entries[id(image)].features for image in images]

    def by_identity(self) -> dict[int, _Entry]:
        return {id(entry.pil): entry for entry in self.entries.values()}


def _sample(image: np.ndarray) -> bytes:
    flat = np.asarray(image).reshape(-1)
    return flat[:: max(1, flat.size // 4096)].tobytes() + repr((image.shape, image.dtype.str)).encode()


def _digest(image: np.ndarray) -> bytes:
    array = np.ascontiguousarray(image)
    digest = hashlib.blake2b(array.view(np.uint8).reshape(-1).data, digest_size=16)
    digest.update(repr((array.shape, array.dtype.str)).encode())
    return digest.digest()


class CachedImageProcessor:
    """Stands in for a processor's image processor during one call: each image's output from the cache.

    Args:
        inner: The real image processor (every attribute is read from it).
        caches: The caches of the episodes in the batch; an image not found in them is processed alone.
    """

    def __init__(self, inner: Any, caches: Sequence[ImageCache]) -> None:
        self.inner = inner
        self.caches = list(caches)
        self.entries: dict[int, tuple[ImageCache, _Entry]] = {
            key: (cache, entry) for cache in self.caches for key, entry in cache.by_identity().items()
        }

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def __call__(self, images: Any, *args: Any, **kwargs: Any) -> Any:
        flat = list(_flatten(images))
        features = []
        for image in flat:
            found = self.entries.get(id(image))
            if found is None:
                features.append(self.inner([image], *args, **kwargs))
                continue
            cache, entry = found
            if entry.features is None:
                entry.features = self.inner([image], *args, **kwargs)
                cache.processed += 1
            features.append(entry.features)
        return stack_features(features, kwargs.get("return_tensors"))


def _flatten(images: Any) -> Any:
    if isinstance(images, list | tuple):
        for item in images:
            yield from _flatten(item)
    else:
        yield images


def stack_features(features: Sequence[Any], return_tensors: Any) -> Any:
    """One batch of per-image outputs: tensors concatenated along dim 0, lists joined."""
    import torch
    from transformers import BatchFeature

    merged: dict[str, Any] = {}
    for key in features[0]:
        values = [f[key] for f in features]
        if isinstance(values[0], torch.Tensor):
            merged[key] = torch.cat(values, dim=0)
        elif isinstance(values[0], np.ndarray):
            merged[key] = np.concatenate(values, axis=0)
        else:
            merged[key] = [item for value in values for item in value]
    return BatchFeature(merged, tensor_type=return_tensors)
