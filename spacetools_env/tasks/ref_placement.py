"""RefPlacement: point at free table space described relative to objects.

Mirrors RefSpatial-Bench "placement" (SpaceTools eval key ``refplacement``): "Please point out
the free area between the mug and the red cube. Your answer should be formatted as a list of
tuples, i.e. [(x1, y1)], ...". Two kinds of region, both made of visible table pixels at least
``CLEARANCE_M`` from every object:

- ``"the free area between the <A> and the <B>"``: the corridor joining the two footprints, as
  wide as the narrower object, between the facing sides; the footprints must be at least
  ``MIN_GAP_M`` apart;
- ``"the vacant area to the left of / to the right of / in front of / behind the <X>"``: the
  camera-centric side regions of :mod:`spacetools_env.tasks.free_space`, within ``REACH_M`` of
  the footprint.

A region qualifies when it holds at least ``MIN_REGION_PX`` pixels and has an interior point at
least ``MIN_INTERIOR_PX`` pixels from its edge. The ground truth is the region's mask; the score
is RefSpatial's share of predicted points inside it; the shaped term is NNDC to the mask
centroid. The expression is registered as a referent for the oracle pointing tool.

Version history:
    v0: initial release.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
from scipy import ndimage

from spacetools_env.task import TaskFamily
from spacetools_env.tasks import mask_pointing
from spacetools_env.tasks.common import generate_with_retries, scene_truth
from spacetools_env.tasks.free_space import (
    CLEARANCE_M,
    DIRECTIONS,
    REACH_M,
    FreeSpaceGrid,
    reference_names,
    side_of,
)
from spacetools_env.tasks.mask_pointing import MaskPointItem
from spacetools_env.tasks.ref_location import QUESTION
from spacetools_env.world import ObjectInstance, Scene, SceneConfig
from tool_backends import Referent
from tool_backends.geometry import interior_point, pixel_centre_normalized

MIN_GAP_M = 0.07
MIN_REGION_PX = 60
MIN_INTERIOR_PX = 2.0
MIN_OBJECT_PX = 60
BETWEEN_NOUNS = ("free area", "free space", "vacant area", "vacant space", "empty area", "empty space")


@dataclass(frozen=True, kw_only=True)
class RefPlacementItem(MaskPointItem):
    """The free region described relative to objects; see :class:`MaskPointItem`."""


@dataclass(frozen=True)
class _Region:
    kind: str
    expression: str
    aliases: tuple[str, ...]
    mask: np.ndarray
    anchor: ObjectInstance


def _footprint(obj: ObjectInstance) -> np.ndarray:
    return np.asarray(obj.corners_world, dtype=np.float64)[:4, :2]


def between(grid: FreeSpaceGrid, a: ObjectInstance, b: ObjectInstance) -> np.ndarray | None:
    """Indices into ``grid`` of the free corridor between two footprints; None when they are too close."""
    fa, fb = _footprint(a), _footprint(b)
    ca, cb = fa.mean(axis=0), fb.mean(axis=0)
    length = float(np.linalg.norm(cb - ca))
    if length < 1e-6:
        return None
    axis = (cb - ca) / length
    normal = np.array([-axis[1], axis[0]])
    start = float(((fa - ca) @ axis).max())
    end = length + float(((fb - cb) @ axis).min())
    if end - start < MIN_GAP_M:
        return None
    half_width = min(np.abs((fa - ca) @ normal).max(), np.abs((fb - cb) @ normal).max())
    rel = grid.ground - ca
    along, across = rel @ axis, np.abs(rel @ normal)
    return np.flatnonzero((along > start) & (along < end) & (across <= half_width))


def _between_region(scene: Scene, a: ObjectInstance, b: ObjectInstance) -> _Region | None:
    grid = FreeSpaceGrid.around(scene, [a, b], 0.0, CLEARANCE_M)
    index = between(grid, a, b)
    if index is None or len(index) < MIN_REGION_PX:
        return None
    orders = ((a.name, b.name), (b.name, a.name))
    names = [f"{noun} between the {x} and the {y}" for noun in BETWEEN_NOUNS for x, y in orders]
    return _Region("between", f"the {names[0]}", tuple(names[1:]), grid.mask(index), a)


def _side_region(scene: Scene, grid: FreeSpaceGrid, obj: ObjectInstance, direction: str) -> _Region | None:
    index = side_of(grid, scene, obj, direction, REACH_M)
    if len(index) < MIN_REGION_PX:
        return None
    phrase = DIRECTIONS[direction]
    references = reference_names(scene, obj)
    names = [f"{noun} {phrase} the {ref}" for noun in ("vacant area", *BETWEEN_NOUNS) for ref in references]
    return _Region(direction, f"the {names[0]}", tuple(dict.fromkeys(names[1:])), grid.mask(index), obj)


def _candidates(scene: Scene) -> dict[str, list[Callable[[], _Region | None]]]:
    """Regions by kind, built lazily: only the ones drawn are ever computed."""
    objects = [o for o in scene.objects if o.pixel_count >= MIN_OBJECT_PX]
    pairs = [(a, b) for a in objects for b in objects if a is not b]
    grids: dict[str, FreeSpaceGrid] = {}

    def side(obj: ObjectInstance, direction: str) -> _Region | None:
        if obj.name not in grids:
            grids[obj.name] = FreeSpaceGrid.around(scene, [obj], REACH_M, CLEARANCE_M)
        return _side_region(scene, grids[obj.name], obj, direction)

    return {
        "between": [partial(_between_region, scene, a, b) for a, b in pairs],
        "side": [partial(side, o, d) for o in objects for d in DIRECTIONS],
    }


def _interior(mask: np.ndarray) -> tuple[tuple[float, float], float]:
    """The mask pixel farthest from its edge (normalized centre) and that distance in pixels."""
    # Crop to the mask's bounding box (plus a border) so the distance transform stays cheap.
    vs, us = np.nonzero(mask)
    v0, v1, u0, u1 = vs.min(), vs.max() + 1, us.min(), us.max() + 1
    crop = np.pad(mask[v0:v1, u0:u1], 1)
    distance = ndimage.distance_transform_edt(crop)
    v, u = np.unravel_index(int(np.argmax(distance)), distance.shape)
    height, width = mask.shape
    return pixel_centre_normalized(u0 + u - 1, v0 + v - 1, width, height), float(distance[v, u])


def _build(scene: Scene, rng: np.random.Generator) -> RefPlacementItem | None:
    by_kind = _candidates(scene)
    kinds = sorted(by_kind)
    for k in rng.permutation(len(kinds)):
        options = by_kind[kinds[k]]
        for j in rng.permutation(len(options)):
            region = options[j]()
            item = None if region is None else _item(scene, region)
            if item is not None:
                return item
    return None


def _item(scene: Scene, region: _Region) -> RefPlacementItem | None:
    point, depth = _interior(region.mask)
    if depth < MIN_INTERIOR_PX:
        return None
    bare = region.expression.removeprefix("the ")
    referent = Referent(name=bare, mask=region.mask, point=point, aliases=region.aliases, category="free space")
    wrong = interior_point(region.anchor.mask)
    return RefPlacementItem(
        item_id="",
        question=QUESTION.format(expression=region.expression),
        images=(scene.rgb,),
        truth=(scene_truth(scene, [referent]),),
        meta={"question_type": "placement", "region_kind": region.kind, "anchor": region.anchor.name},
        expression=region.expression,
        mask=region.mask,
        point=point,
        wrong_point=(float(wrong[0]), float(wrong[1])),
    )


def generate(rng: np.random.Generator, config: SceneConfig) -> RefPlacementItem:
    return generate_with_retries(rng, config, _build)


FAMILY = TaskFamily(
    name="RefPlacement",
    item_type=RefPlacementItem,
    score=mask_pointing.score,
    oracle=mask_pointing.oracle,
    generate=generate,
    shaped=mask_pointing.shaped,
    description=__doc__ or "",
    eval_key="refplacement",
    counterexample=mask_pointing.counterexample,
    unparsable=mask_pointing.unparsable,
)
