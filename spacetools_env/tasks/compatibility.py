"""Compatibility: yes/no questions on whether one object fits somewhere, from exact 3D boxes.

Mirrors RoboSpatial-Home "compatibility" (SpaceTools eval key ``robospatial``), whose questions
ask whether an object can fit relative to others ("Can the microwave fit in front of the
fridge? Answer yes or no."). Two templates, made exact on the objects' 3D boxes (world frame,
z up; an object stays upright and may be turned about the vertical; its footprint is the bottom
rectangle of its box, width ``w`` <= length ``l``):

- "Can the <A> fit between the <B> and the <C>? Answer yes or no.": the gap is the free
  distance between B's and C's footprints along the horizontal line through their centres, and
  no object reaches into the corridor between them; A fits when its footprint width is smaller
  than the gap. Yes needs ``gap >= FIT_FACTOR * w_A``, no needs ``0 < gap <= w_A / FIT_FACTOR``,
  both with at least ``MIN_CLEARANCE_M`` of difference.
- "Can the <A> fit on top of the <B>? Answer yes or no.": yes only for a flat-topped B (a
  cuboid, or a cylinder whose top is a disc of diameter ``d``) that A's footprint fits with the
  factor ``FIT_FACTOR`` to spare (``FIT_FACTOR * w_A <= w_B`` and ``FIT_FACTOR * l_A <= l_B``, or
  ``FIT_FACTOR * hypot(w_A, l_A) <= d``); no, for any B, when A's footprint fits B's in no
  orientation: ``w_A >= FIT_FACTOR * w_B`` or area ``>= FIT_FACTOR**2`` times B's top's area.

The questions must also be answerable with the tools of the original trace (pointing,
segmentation, depth point cloud, ``compute_bbox``), which fit boxes to each object's *visible*
points: exact for cuboids, tens of percent off for balls and irregular meshes. So every
question holds, by ``MEASURE_MARGIN``, over the whole range a fitted box may take
(``SIZE_BOUNDS``, measured per category), and objects another object hides in part are not
used. The table is registered as a referent ("table") so a program can fit its plane and know
which way is up.

Template and answer are drawn first, jointly and uniformly (each of between/on top x yes/no one
time in four), and kept until a scene offers such a question, so neither the template nor a
retry gives the answer away: over 200 items per difficulty, each template is answered yes 40-60 %
of the time at every difficulty. Sparse scenes rarely hold a gap narrower than an object or a top
wider than one, so scenes hold the preset's objects plus ``EXTRA_OBJECTS`` (at least
``CROWDED_OBJECTS``) with no least spacing; the preset's other settings (camera, resolution,
categories) are kept. The first scene serves about three items in four.
Score: the official RoboSpatial-Eval yes/no rule (:func:`~spacetools_env.scoring.score_yes_no`).

Version history:
    v0: initial release.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial

import numpy as np
from scipy import ndimage

from spacetools_env.task import TaskFamily
from spacetools_env.tasks import answer_kinds
from spacetools_env.tasks.answer_kinds import YesNoItem
from spacetools_env.tasks.common import generate_with_retries, scene_truth, yes_no
from spacetools_env.world import (
    MAX_OBJECTS,
    OBJECT_LABEL_OFFSET,
    TABLE_LABEL,
    ObjectInstance,
    Scene,
    SceneConfig,
)
from tool_backends import Referent
from tool_backends.geometry import pixel_to_normalized

MIN_OBJECTS = 3
# Scenes hold the preset's objects plus EXTRA_OBJECTS, at least CROWDED_OBJECTS, with no least spacing
# (see _scene_config), so narrow gaps and large-over-small pairs are common.
EXTRA_OBJECTS = 3
CROWDED_OBJECTS = (6, 9)
FIT_FACTOR = 1.3
MIN_CLEARANCE_M = 0.01
MEASURE_MARGIN = 1.05
# Factors (width low, width high, length low, length high) bounding the footprint of a box fitted
# to an object's visible points (what ``compute_bbox`` sees) over its true footprint, from
# hundreds of objects per category over the presets (1st-99th percentile, widened): exact for
# cuboids; cylinders lose a sliver; balls (the visible cap gives a tilted box) and irregular
# meshes err by tens of percent. Unknown categories get the widest bounds.
CUBOID_BOUNDS = (0.95, 1.05, 0.95, 1.05)
SIZE_BOUNDS = {
    "cylinder": (0.8, 1.05, 0.9, 1.05),
    "ball": (0.7, 1.15, 0.9, 1.5),
    "soccer ball": (0.7, 1.15, 0.9, 1.5),
    "duck": (0.75, 1.7, 0.85, 1.5),
    "teddy bear": (0.65, 1.35, 0.75, 1.35),
    "mug": (0.8, 1.05, 0.6, 1.15),
    "lego brick": (0.9, 1.05, 0.95, 1.35),
}
DEFAULT_BOUNDS = (0.6, 1.7, 0.6, 1.7)
OCCLUSION_STEP_M = 0.01
DISC_TOPPED = ("cylinder",)  # flat-topped besides the cuboids
TABLE_NAME = "table"
TABLE_ALIASES = ("table top", "tabletop", "table surface", "surface of the table")
BETWEEN = "Can the {a} fit between the {b} and the {c}? Answer yes or no."
ON_TOP = "Can the {a} fit on top of the {b}? Answer yes or no."
_TABLE_CELL_PX = 4


@dataclass(frozen=True, kw_only=True)
class CompatibilityItem(YesNoItem):
    """Attributes: ``answer`` ``"Yes"``/``"No"``; ``template`` ``"between"`` or ``"on_top"``;
    ``objects`` the names (A, B[, C]); ``room`` the free size in metres (the gap, or the top's
    width) and ``width`` A's footprint width in metres."""

    template: str
    objects: tuple[str, ...]
    room: float
    width: float


Question = tuple[str, tuple[int, ...], float, float]  # template, object indices, room, width


def _size_bounds(obj: ObjectInstance) -> tuple[float, float, float, float]:
    """Factors bounding the footprint of a box fitted to ``obj``'s visible points (see SIZE_BOUNDS)."""
    return CUBOID_BOUNDS if obj.is_cuboid else SIZE_BOUNDS.get(obj.category, DEFAULT_BOUNDS)


def occluded_objects(scene: Scene) -> set[int]:
    """Indices of objects that another object hides in part (a nearer object borders their mask)."""
    seg, depth = scene.segmentation, scene.depth
    hidden: set[int] = set()
    for a, b, da, db in (
        (seg[:, 1:], seg[:, :-1], depth[:, 1:], depth[:, :-1]),
        (seg[1:], seg[:-1], depth[1:], depth[:-1]),
    ):
        edge = (a != b) & (a >= OBJECT_LABEL_OFFSET) & (b >= OBJECT_LABEL_OFFSET)
        hidden.update(a[edge & (da > db + OCCLUSION_STEP_M)].tolist())
        hidden.update(b[edge & (db > da + OCCLUSION_STEP_M)].tolist())
    return {label - OBJECT_LABEL_OFFSET for label in hidden}


class _Geometry:
    """Footprints of a scene's objects, vectorised: corners, centres, sorted sizes, size bounds."""

    def __init__(self, scene: Scene) -> None:
        self.corners = np.array([o.corners_world[:4, :2] for o in scene.objects])  # (N, 4, 2)
        self.centres = self.corners.mean(axis=1)
        self.sizes = np.sort(np.array([o.extents[:2] for o in scene.objects]), axis=1)  # (w, l)
        self.bounds = np.array([_size_bounds(o) for o in scene.objects])  # (N, 4)
        self.usable = [i for i in range(len(scene.objects)) if i not in occluded_objects(scene)]


def _between_questions(geo: _Geometry) -> tuple[list[Question], list[Question]]:
    """Clear (yes, no) "A between B and C" questions, vectorised over (B, C) pairs."""
    usable = np.array(geo.usable)
    if len(usable) < MIN_OBJECTS:
        return [], []
    b, c = np.triu_indices(len(usable), k=1)
    b, c = usable[b], usable[c]
    u = geo.centres[c] - geo.centres[b]
    u /= np.linalg.norm(u, axis=1, keepdims=True)
    along_b = np.einsum("kpd,kd->kp", geo.corners[b], u)
    along_c = np.einsum("kpd,kd->kp", geo.corners[c], u)
    gaps = along_c.min(1) - along_b.max(1)
    gaps[_blocked(geo, b, c, u, along_b.max(1), along_c.min(1))] = 0.0  # occupied gaps ask nothing
    # How far each measured box may reach beyond (shrink) or fall short of (grow) the true gap.
    half_b = along_b.max(1) - np.einsum("kd,kd->k", geo.centres[b], u)
    half_c = np.einsum("kd,kd->k", geo.centres[c], u) - along_c.min(1)
    # Along the gap axis a box may err as its width or its length does.
    low_b, high_b = geo.bounds[b][:, [0, 2]].min(1), geo.bounds[b][:, [1, 3]].max(1)
    low_c, high_c = geo.bounds[c][:, [0, 2]].min(1), geo.bounds[c][:, [1, 3]].max(1)
    gap_low = gaps - (high_b - 1) * half_b - (high_c - 1) * half_c
    gap_high = gaps + (1 - low_b) * half_b + (1 - low_c) * half_c
    yes: list[Question] = []
    no: list[Question] = []
    for k in np.flatnonzero(gaps > 0):
        gap = float(gaps[k])
        for a in usable:
            if a in (b[k], c[k]):
                continue
            w = float(geo.sizes[a, 0])
            low_a, high_a = geo.bounds[a, :2]
            question = ("between", (int(a), int(b[k]), int(c[k])), gap, w)
            if gap >= FIT_FACTOR * w and gap - w >= MIN_CLEARANCE_M and gap_low[k] >= MEASURE_MARGIN * high_a * w:
                yes.append(question)
            elif gap * FIT_FACTOR <= w and w - gap >= MIN_CLEARANCE_M and low_a * w >= MEASURE_MARGIN * gap_high[k]:
                no.append(question)
    return yes, no


def _blocked(
    geo: _Geometry, b: np.ndarray, c: np.ndarray, u: np.ndarray, start: np.ndarray, end: np.ndarray
) -> np.ndarray:
    """(K,) whether any object's footprint reaches into the corridor between B and C.

    The corridor spans ``start..end`` along ``u`` and B's and C's joint extent across it.
    """
    across = np.stack([-u[:, 1], u[:, 0]], axis=1)
    along_all = np.einsum("npd,kd->knp", geo.corners, u)  # (K, N, 4)
    across_all = np.einsum("npd,kd->knp", geo.corners, across)
    pair = np.arange(len(b))
    side_lo = np.minimum(across_all[pair, b].min(1), across_all[pair, c].min(1))
    side_hi = np.maximum(across_all[pair, b].max(1), across_all[pair, c].max(1))
    inside = (
        (along_all.max(2) > start[:, None])
        & (along_all.min(2) < end[:, None])
        & (across_all.max(2) > side_lo[:, None])
        & (across_all.min(2) < side_hi[:, None])
    )
    inside[pair, b] = False
    inside[pair, c] = False
    return inside.any(axis=1)


def _on_top_questions(scene: Scene, geo: _Geometry) -> tuple[list[Question], list[Question]]:
    """Clear (yes, no) "A on top of B" questions: yes only for a flat-topped B, no for any B."""
    yes: list[Question] = []
    no: list[Question] = []
    for a, b in ((a, b) for a in geo.usable for b in geo.usable if a != b):
        base = scene.objects[b]
        disc = base.category in DISC_TOPPED
        question = ("on_top", (a, b), float(geo.sizes[b, 0]), float(geo.sizes[a, 0]))
        if (base.is_cuboid or disc) and _fits_on(geo, a, b, disc):
            yes.append(question)
        elif _too_big(geo, a, b, disc):
            no.append(question)
    return yes, no


def _fits_on(geo: _Geometry, a: int, b: int, disc: bool) -> bool:
    """Whether A's footprint clearly fits B's flat top, also as boxes fitted to visible points see it."""
    (w_a, l_a), (w_b, l_b) = geo.sizes[a], geo.sizes[b]
    _, w_high_a, _, l_high_a = geo.bounds[a]
    w_low_b, _, l_low_b, _ = geo.bounds[b]
    if disc:  # of diameter w_b
        fits = FIT_FACTOR * float(np.hypot(w_a, l_a)) <= w_b
    else:
        fits = FIT_FACTOR * w_a <= w_b and FIT_FACTOR * l_a <= l_b
    measured = MEASURE_MARGIN * w_high_a * w_a <= w_low_b * w_b and MEASURE_MARGIN * l_high_a * l_a <= l_low_b * l_b
    return bool(fits and measured)


def _too_big(geo: _Geometry, a: int, b: int, disc: bool) -> bool:
    """Whether A's footprint clearly fits in no orientation within B's footprint (so on no top of B):
    wider, or larger in area, also as boxes fitted to visible points see them."""
    (w_a, l_a), (w_b, l_b) = geo.sizes[a], geo.sizes[b]
    w_low_a, _, l_low_a, _ = geo.bounds[a]
    _, w_high_b, _, l_high_b = geo.bounds[b]
    wider = w_a >= FIT_FACTOR * w_b and w_low_a * w_a >= MEASURE_MARGIN * w_high_b * w_b
    # Any top lies within the footprint rectangle; a cylinder's is the inscribed disc.
    top_area = np.pi * w_b * w_b / 4 if disc else w_b * l_b
    larger = w_a * l_a >= FIT_FACTOR**2 * top_area and (
        w_low_a * l_low_a * w_a * l_a >= MEASURE_MARGIN * w_high_b * l_high_b * w_b * l_b
    )
    return bool(wider or larger)


def table_referent(scene: Scene) -> Referent:
    """The table top as a pointing referent, pointed at deep inside its largest free area.

    The interior point is searched on a 4x coarser grid of cells that are table throughout, so
    it costs a millisecond instead of a full-resolution distance transform.
    """
    mask = scene.segmentation == TABLE_LABEL
    height, width = mask.shape
    s = _TABLE_CELL_PX
    cells = mask[: height // s * s, : width // s * s].reshape(height // s, s, width // s, s).all(axis=(1, 3))
    dist = ndimage.distance_transform_edt(np.pad(cells, 1))[1:-1, 1:-1]
    row, col = np.unravel_index(int(np.argmax(dist)), dist.shape)
    point = pixel_to_normalized(col * s + s / 2, row * s + s / 2, width, height)
    return Referent(name=TABLE_NAME, mask=mask, point=point, aliases=TABLE_ALIASES, category=TABLE_NAME)


def _question_text(template: str, objects: list[ObjectInstance]) -> str:
    if template == "between":
        return BETWEEN.format(a=objects[0].name, b=objects[1].name, c=objects[2].name)
    return ON_TOP.format(a=objects[0].name, b=objects[1].name)


def _build(scene: Scene, rng: np.random.Generator, *, template: str, answer: bool) -> CompatibilityItem | None:
    if len(scene.objects) < MIN_OBJECTS:
        return None
    geo = _Geometry(scene)
    yes, no = _between_questions(geo) if template == "between" else _on_top_questions(scene, geo)
    questions = yes if answer else no
    if not questions:
        return None
    template, indices, room, width = questions[int(rng.integers(len(questions)))]
    objects = [scene.objects[i] for i in indices]
    return CompatibilityItem(
        item_id="",
        question=_question_text(template, objects),
        images=(scene.rgb,),
        truth=(scene_truth(scene, [table_referent(scene)]),),
        meta={"question_type": "compatibility", "template": template, "objects": [o.name for o in objects]},
        answer=yes_no(answer),
        template=template,
        objects=tuple(o.name for o in objects),
        room=room,
        width=width,
    )


def _scene_config(config: SceneConfig) -> SceneConfig:
    """The preset with ``EXTRA_OBJECTS`` more objects (at least ``CROWDED_OBJECTS``), packed with no
    least spacing: sparse scenes rarely hold a gap narrower than an object or a top wider than one."""
    low, high = config.num_objects
    low_wanted, high_wanted = CROWDED_OBJECTS
    num_objects = (
        min(MAX_OBJECTS, max(low + EXTRA_OBJECTS, low_wanted)),
        min(MAX_OBJECTS, max(high + EXTRA_OBJECTS, high_wanted)),
    )
    try:
        return dataclasses.replace(config, num_objects=num_objects, min_spacing_m=0.0)
    except ValueError as exc:
        raise ValueError(f"Compatibility asks about scenes of {num_objects} objects: {exc}") from None


def generate(rng: np.random.Generator, config: SceneConfig) -> CompatibilityItem:
    # Template and answer are drawn jointly and uniformly, once, before any scene, so retries
    # cannot skew the balance and neither gives the other away.
    template = "between" if rng.random() < 0.5 else "on_top"
    answer = bool(rng.random() < 0.5)
    return generate_with_retries(rng, _scene_config(config), partial(_build, template=template, answer=answer))


FAMILY = TaskFamily(
    name="Compatibility",
    item_type=CompatibilityItem,
    score=answer_kinds.score_yes_no_item,
    oracle=answer_kinds.oracle_yes_no,
    generate=generate,
    description=__doc__ or "",
    eval_key="robospatial",
    counterexample=answer_kinds.counterexample_yes_no,
)
