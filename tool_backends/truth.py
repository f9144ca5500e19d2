"""What an episode exposes to tools: its images and, for the oracle backend, exact ground truth.

Any source that knows the truth of an image (the synthetic world, a benchmark that ships depth
and masks) fills a :class:`GroundTruth`; model backends ignore it and look at the pixels only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

_ARTICLES = re.compile(r"\b(the|a|an)\b")
_NON_WORD = re.compile(r"[^a-z0-9 ]+")


def normalize_expression(text: str) -> str:
    """Canonical form used to match referring expressions: lower case, no articles or punctuation.

    >>> normalize_expression("The Red  Mug!")
    'red mug'
    """
    text = _NON_WORD.sub(" ", text.lower())
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


@dataclass(frozen=True)
class Referent:
    """Something a pointing tool can be asked for: an object, a free-space region, a drawn marker.

    Attributes:
        name: Canonical expression, e.g. ``"red mug"`` or ``"free space left of the red mug"``.
        mask: HxW bool, the visible pixels the expression denotes.
        point: Normalized (x, y) in [0, 1] (origin top-left) a perfect pointer answers with.
        aliases: Other expressions for the same thing (``"mug"`` when it is the only mug).
        category: Shared name of a class of referents (``"mug"``), answered by ``detect_all``.
    """

    name: str
    mask: np.ndarray
    point: tuple[float, float]
    aliases: tuple[str, ...] = ()
    category: str = ""

    def expressions(self) -> tuple[str, ...]:
        return tuple(normalize_expression(e) for e in (self.name, *self.aliases))


@dataclass(frozen=True)
class GroundTruth:
    """Exact scene truth for one image.

    Attributes:
        depth: HxW float32 metric depth along the camera axis (metres); inf where nothing is hit.
        focal_length_px: Focal length in pixels (fx = fy); principal point is the image centre.
        segmentation: HxW int32 surface labels; equal labels are one segment (object, table...).
        referents: Everything a pointing tool may be asked to locate.
    """

    depth: np.ndarray
    focal_length_px: float
    segmentation: np.ndarray
    referents: tuple[Referent, ...] = field(default_factory=tuple)

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.depth.shape[1]), int(self.depth.shape[0])


@dataclass(frozen=True)
class EpisodeContext:
    """Everything a tool may read during one episode.

    Attributes:
        images: The images in the conversation, indexed by the model's ``image_index``.
        truth: Ground truth per image index (None where unknown); oracle tools need it.
        seed: Seeds tool noise and failure models so an episode replays bit for bit.
    """

    images: tuple[np.ndarray, ...]
    truth: tuple[GroundTruth | None, ...] = ()
    seed: int = 0
