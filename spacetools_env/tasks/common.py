"""Pieces every synthetic family shares: scene truth for oracle tools, retries, object picking."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

import numpy as np

from spacetools_env.world import ObjectInstance, Scene, SceneConfig, get_world
from tool_backends import GroundTruth, Referent
from tool_backends.geometry import interior_point, pixel_centre_normalized

T = TypeVar("T")
MAX_SCENES = 25


class GenerationError(RuntimeError):
    """No valid question could be built in ``MAX_SCENES`` scenes: the settings are too strict."""


def object_referents(scene: Scene) -> list[Referent]:
    """A referent per object: its unique name, plus its bare category when that is unique too."""
    counts = Counter(o.category for o in scene.objects)
    referents = []
    for obj in scene.objects:
        aliases = (obj.category,) if counts[obj.category] == 1 and obj.category != obj.name else ()
        referents.append(
            Referent(
                name=obj.name, mask=obj.mask, point=interior_point(obj.mask), aliases=aliases, category=obj.category
            )
        )
    return referents


def scene_truth(scene: Scene, extra: Iterable[Referent] = ()) -> GroundTruth:
    """Ground truth the oracle tools answer from: exact depth, segments, objects and ``extra`` referents."""
    return GroundTruth(
        depth=scene.depth,
        focal_length_px=scene.camera.focal_length_px,
        segmentation=scene.segmentation,
        referents=(*object_referents(scene), *extra),
    )


def generate_with_retries(
    rng: np.random.Generator, config: SceneConfig, build: Callable[[Scene, np.random.Generator], T | None]
) -> T:
    """Render scenes until ``build`` turns one into an item (all randomness from ``rng``).

    Raises:
        GenerationError: after ``MAX_SCENES`` scenes without a valid question.
    """
    world = get_world()
    for _ in range(MAX_SCENES):
        scene = world.generate(rng, config)
        item = build(scene, rng)
        if item is not None:
            return item
    raise GenerationError(
        f"no valid question in {MAX_SCENES} scenes with {config}; loosen the scene settings "
        "(more objects, larger spacing) or the family's margins"
    )


def visible_objects(scene: Scene, min_pixels: int) -> list[ObjectInstance]:
    return [o for o in scene.objects if o.pixel_count >= min_pixels]


def shuffled_pairs(
    rng: np.random.Generator, objects: Sequence[ObjectInstance]
) -> list[tuple[ObjectInstance, ObjectInstance]]:
    """All ordered pairs of distinct objects, in a random order drawn from ``rng``."""
    pairs = [(a, b) for a in objects for b in objects if a is not b]
    order = rng.permutation(len(pairs))
    return [pairs[i] for i in order]


def mask_centroid(mask: np.ndarray) -> tuple[float, float]:
    """Normalized (x, y) centroid of a mask's pixels."""
    vs, us = np.nonzero(mask)
    height, width = mask.shape
    x, y = pixel_centre_normalized(us.mean(), vs.mean(), width, height)
    return float(x), float(y)


def yes_no(value: bool) -> str:
    return "Yes" if value else "No"
