"""RefLocation: point at the object a spatial referring expression picks out.

Mirrors RefSpatial-Bench "location" (SpaceTools eval key ``reflocation``): "Please point out the
cube closest to the mug. Your answer should be formatted as a list of tuples, i.e. [(x1, y1)],
...". Expressions need one or two reasoning steps, as RefSpatial's do, and are unique by
construction, each with a margin over the runner-up:

- ``"the leftmost/rightmost <group>"`` and ``"the second <group> from the left/right"``: image
  columns of the objects' visible centroids differ by at least ``MIN_COLUMN_GAP``;
- ``"the <group> closest to/farthest from the <anchor>"``: table-plane distances between object
  centres differ by at least ``MIN_DISTANCE_GAP_M`` and by the factor ``MIN_DISTANCE_RATIO``;
- ``"the <group> closest to/farthest from the camera"``: camera depths of the centres differ by
  at least ``MIN_DEPTH_GAP_M``;
- ``"the object to the left/right of the <anchor>"``: exactly one object lies on that side of
  the anchor in the image, by ``MIN_COLUMN_GAP``, and every other object lies on the other side.

``<group>`` is a category with at least two members in the scene, or ``object`` (all objects).
Objects showing fewer than ``MIN_ANCHOR_PX`` pixels belong to no group and anchor nothing;
targets show at least ``MIN_TARGET_PX`` pixels. The ground truth is the target's visible mask;
the score is RefSpatial's: the share of predicted points that fall inside the mask. The shaped
term is NNDC on the distance from the first point to the mask centroid. The expression is
registered as a referent for the oracle pointing tool, like the original RoboRefer calls.

Version history:
    v0: initial release.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from spacetools_env.scoring import score_refspatial_mask
from spacetools_env.task import TaskFamily
from spacetools_env.tasks import mask_pointing
from spacetools_env.tasks.common import generate_with_retries, mask_centroid, scene_truth
from spacetools_env.tasks.mask_pointing import MaskPointItem
from spacetools_env.world import ObjectInstance, Scene, SceneConfig
from tool_backends import Referent
from tool_backends.geometry import format_points, interior_point

MIN_TARGET_PX = 120
MIN_ANCHOR_PX = 60
MIN_COLUMN_GAP = 0.05
MIN_DISTANCE_GAP_M = 0.04
MIN_DISTANCE_RATIO = 1.3
MIN_DEPTH_GAP_M = 0.05
SUFFIX = (
    "Your answer should be formatted as a list of tuples, i.e. [(x1, y1)], where each tuple contains the x and y "
    "coordinates of a point satisfying the conditions above. The coordinates should be between 0 and 1, "
    "indicating the normalized pixel locations of the points in the image."
)
QUESTION = "Please point out {expression}. " + SUFFIX


@dataclass(frozen=True, kw_only=True)
class RefLocationItem(MaskPointItem):
    """Adds ``target``, the name of the object the expression picks out."""

    target: str


@dataclass(frozen=True)
class Candidate:
    """One referring expression and the object it picks out."""

    kind: str
    expression: str
    target: ObjectInstance


# ---------------------------------------------------------------------------- expressions
def _groups(objects: list[ObjectInstance]) -> Iterator[tuple[str, list[ObjectInstance]]]:
    """(group noun, members): categories with two or more members, and ``object`` for all."""
    categories = sorted({o.category for o in objects})
    for category in categories:
        members = [o for o in objects if o.category == category]
        if len(members) >= 2:
            yield category, members
    if len(objects) >= 2:
        yield "object", objects


def _unique_extreme(values: np.ndarray, gap: float, ratio: float = 1.0) -> int | None:
    """Index of the smallest value when it beats the runner-up by ``gap`` and by the factor ``ratio``."""
    if len(values) < 2:
        return None
    order = np.argsort(values)
    best, second = values[order[0]], values[order[1]]
    if second - best >= gap and second >= ratio * best:
        return int(order[0])
    return None


def _ordinal_expressions(objects: list[ObjectInstance], columns: dict[str, float]) -> Iterator[Candidate]:
    for noun, members in _groups(objects):
        x = np.array([columns[o.name] for o in members])
        order = np.argsort(x)
        gaps = np.diff(x[order])
        plural_ok = len(members) >= 3
        for side, sign in (("left", 1.0), ("right", -1.0)):
            ranked = order if sign > 0 else order[::-1]
            side_gaps = gaps if sign > 0 else gaps[::-1]
            if side_gaps[0] >= MIN_COLUMN_GAP:
                yield Candidate("extreme", f"the {side}most {noun}", members[int(ranked[0])])
            if plural_ok and min(side_gaps[0], side_gaps[1]) >= MIN_COLUMN_GAP:
                yield Candidate("ordinal", f"the second {noun} from the {side}", members[int(ranked[1])])


def _distance_expressions(objects: list[ObjectInstance]) -> Iterator[Candidate]:
    for anchor in objects:
        others = [o for o in objects if o is not anchor]
        for noun, members in _groups(others):
            d = np.array([np.linalg.norm(np.subtract(o.position, anchor.position)[:2]) for o in members])
            near = _unique_extreme(d, MIN_DISTANCE_GAP_M, MIN_DISTANCE_RATIO)
            if near is not None:
                yield Candidate("distance", f"the {noun} closest to the {anchor.name}", members[near])
            far = _unique_extreme(-d, MIN_DISTANCE_GAP_M)
            if far is not None and d[far] >= MIN_DISTANCE_RATIO * np.sort(d)[-2]:
                yield Candidate("distance", f"the {noun} farthest from the {anchor.name}", members[far])


def _camera_expressions(scene: Scene, objects: list[ObjectInstance]) -> Iterator[Candidate]:
    for noun, members in _groups(objects):
        z = scene.camera.world_to_camera(np.array([o.position for o in members]))[:, 2]
        near = _unique_extreme(z, MIN_DEPTH_GAP_M)
        if near is not None:
            yield Candidate("camera", f"the {noun} closest to the camera", members[near])
        far = _unique_extreme(-z, MIN_DEPTH_GAP_M)
        if far is not None:
            yield Candidate("camera", f"the {noun} farthest from the camera", members[far])


def _neighbour_expressions(objects: list[ObjectInstance], columns: dict[str, float]) -> Iterator[Candidate]:
    for anchor in objects:
        x0 = columns[anchor.name]
        others = [o for o in objects if o is not anchor]
        offsets = np.array([columns[o.name] - x0 for o in others])
        if len(others) < 1 or np.any(np.abs(offsets) < MIN_COLUMN_GAP):
            continue
        for side, sign in (("left", -1.0), ("right", 1.0)):
            on_side = np.flatnonzero(sign * offsets > 0)
            if len(on_side) == 1:
                target = others[int(on_side[0])]
                yield Candidate("neighbour", f"the object to the {side} of the {anchor.name}", target)


def candidates(scene: Scene) -> dict[str, list[Candidate]]:
    """Every valid expression in the scene, by kind."""
    # Expressions speak about what the image shows: barely visible objects belong to no group.
    objects = [o for o in scene.objects if o.pixel_count >= MIN_ANCHOR_PX]
    columns = {o.name: mask_centroid(o.mask)[0] for o in objects}
    generators: list[Callable[[], Iterator[Candidate]]] = [
        lambda: _ordinal_expressions(objects, columns),
        lambda: _distance_expressions(objects),
        lambda: _camera_expressions(scene, objects),
        lambda: _neighbour_expressions(objects, columns),
    ]
    found: dict[str, list[Candidate]] = {}
    for make in generators:
        for cand in make():
            if cand.target.pixel_count >= MIN_TARGET_PX:
                found.setdefault(cand.kind, []).append(cand)
    return found


# ---------------------------------------------------------------------------- generation
def _build(scene: Scene, rng: np.random.Generator) -> RefLocationItem | None:
    found = candidates(scene)
    kinds = sorted(found)
    for k in rng.permutation(len(kinds)):
        options = found[kinds[k]]
        for j in rng.permutation(len(options)):
            item = _item(scene, options[j])
            if item is not None:
                return item
    return None


def _item(scene: Scene, cand: Candidate) -> RefLocationItem | None:
    target = cand.target
    point = interior_point(target.mask)
    if score_refspatial_mask(format_points(np.asarray([point])), target.mask) != 1.0:
        return None  # a sliver so thin that the 3-decimal answer leaves it
    others = [o for o in scene.objects if o is not target and o.pixel_count > 0]
    wrong = interior_point(others[0].mask) if others else (0.0, 0.0)
    bare = cand.expression.removeprefix("the ")
    referent = Referent(
        name=bare,
        mask=target.mask,
        point=(float(point[0]), float(point[1])),
        aliases=(cand.expression,),
        category=target.category,
    )
    return RefLocationItem(
        item_id="",
        question=QUESTION.format(expression=cand.expression),
        images=(scene.rgb,),
        truth=(scene_truth(scene, [referent]),),
        meta={"question_type": "location", "expression_kind": cand.kind, "target": target.name},
        expression=cand.expression,
        target=target.name,
        mask=target.mask,
        point=(float(point[0]), float(point[1])),
        wrong_point=(float(wrong[0]), float(wrong[1])),
    )


def generate(rng: np.random.Generator, config: SceneConfig) -> RefLocationItem:
    return generate_with_retries(rng, config, _build)


FAMILY = TaskFamily(
    name="RefLocation",
    item_type=RefLocationItem,
    score=mask_pointing.score,
    oracle=mask_pointing.oracle,
    generate=generate,
    shaped=mask_pointing.shaped,
    description=__doc__ or "",
    eval_key="reflocation",
    counterexample=mask_pointing.counterexample,
    unparsable=mask_pointing.unparsable,
)
