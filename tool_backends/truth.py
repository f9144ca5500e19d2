"""What an episode exposes to tools: its images and, for the oracle backend, exact ground truth.

Any source that knows the truth of an image (the synthetic world, a benchmark that ships depth
and masks) fills a :class:`GroundTruth`; model backends ignore it and look at the pixels only.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field, replace

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
        focal_length_px: Focal length in pixels (fx = fy).
        segmentation: HxW int32 surface labels; equal labels are one segment (object, table...).
        referents: Everything a pointing tool may be asked to locate.
        principal_point: ``(cx, cy)`` in continuous pixel coordinates (origin at the image's
            top-left corner, pixel centres at ``i + 0.5``; an OpenCV ``cam_K``'s ``cx, cy`` plus
            0.5); None: the image centre ``(W / 2, H / 2)``. The depth tool back-projects and the
            3D box tool projects with it (:mod:`tool_backends.geometry.projection`).

    Raises:
        ValueError: ``principal_point`` is not two finite numbers.
    """

    depth: np.ndarray
    focal_length_px: float
    segmentation: np.ndarray
    referents: tuple[Referent, ...] = field(default_factory=tuple)
    principal_point: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.principal_point is None:
            return
        point = self.principal_point
        numbers = isinstance(point, tuple | list) and len(point) == 2 and all(
            isinstance(v, int | float | np.number) and not isinstance(v, bool) and math.isfinite(v) for v in point)
        if not numbers:
            raise ValueError(f"principal_point must be None or two finite pixel coordinates (cx, cy), got {point!r}")
        object.__setattr__(self, "principal_point", (float(point[0]), float(point[1])))

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return int(self.depth.shape[1]), int(self.depth.shape[0])

    @property
    def principal_point_px(self) -> tuple[float, float]:
        """``(cx, cy)``: :attr:`principal_point`, or the image centre when it is None."""
        if self.principal_point is None:
            width, height = self.size
            return width / 2.0, height / 2.0
        return self.principal_point


@dataclass(frozen=True)
class EpisodeContext:
    """Everything a tool may read during one episode.

    Attributes:
        images: The images in the conversation, indexed by the model's ``image_index``.
        truth: Ground truth per image index (None where unknown); oracle tools need it.
        seed: Seeds tool noise and failure models so an episode replays bit for bit.
        tool_images: Images that tools return join the conversation (the env's ``tool_images``):
            the client appends them to ``images`` (:meth:`with_tool_images`), so a later call can
            address a crop by its ``image_index``: question images first, then tool images in the
            order they were returned.
    """

    images: tuple[np.ndarray, ...]
    truth: tuple[GroundTruth | None, ...] = ()
    seed: int = 0
    tool_images: bool = False
    returned_images: int = 0
    """How many of ``images`` (the last ones) tools returned."""

    def with_tool_images(self, images: tuple[np.ndarray, ...]) -> EpisodeContext:
        """This episode with ``images`` appended (no ground truth for them: oracle tools refuse them)."""
        truth = self.truth + (None,) * (len(self.images) - len(self.truth))
        return replace(self, images=self.images + tuple(images), truth=truth + (None,) * len(images),
                       returned_images=self.returned_images + len(images))
