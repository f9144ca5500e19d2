"""RelativeDepth: which of two marked points is closer to the camera.

Mirrors BLINK Relative_Depth (SpaceTools eval key ``blinkdepth``): two labelled circles are
drawn on the image and the answer is the letter of the closer point. Points sit inside object
or table surfaces, away from depth edges, and their depths differ by at least ``MIN_RATIO``,
so the question has one right answer.

Version history:
    v0: initial release.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from spacetools_env.drawing import draw_labelled_circles
from spacetools_env.task import TaskFamily
from spacetools_env.tasks import answer_kinds
from spacetools_env.tasks.answer_kinds import ChoiceItem
from spacetools_env.tasks.common import generate_with_retries, scene_truth
from spacetools_env.world import TABLE_LABEL, Scene, SceneConfig
from tool_backends import Referent
from tool_backends.geometry import normalized_to_pixel, pixel_centre_normalized

MIN_RATIO = 1.15
EDGE_MARGIN_PX = 6
MARKER_RADIUS_PX = 5
QUESTION = (
    "Two points are circled on the image, labeled by A and B beside each circle. "
    "Which point is closer to the camera?\nSelect from the following choices.\n"
    "(A) A is closer\n(B) B is closer"
)


@dataclass(frozen=True, kw_only=True)
class RelativeDepthItem(ChoiceItem):
    """Attributes: ``label`` the closer point's letter; ``points`` normalized A and B; ``depths`` in metres."""

    points: tuple[tuple[float, float], tuple[float, float]]
    depths: tuple[float, float]


def _interior_pixels(scene: Scene, label: int) -> np.ndarray:
    """(N, 2) pixels (v, u) of a surface at least ``EDGE_MARGIN_PX`` from its boundary and the border."""
    mask = scene.segmentation == label
    mask[:EDGE_MARGIN_PX], mask[-EDGE_MARGIN_PX:] = False, False
    mask[:, :EDGE_MARGIN_PX], mask[:, -EDGE_MARGIN_PX:] = False, False
    return np.argwhere(ndimage.binary_erosion(mask, iterations=EDGE_MARGIN_PX))


def _pick_point(scene: Scene, rng: np.random.Generator, label: int) -> tuple[int, int] | None:
    pixels = _interior_pixels(scene, label)
    if len(pixels) == 0:
        return None
    v, u = pixels[int(rng.integers(0, len(pixels)))]
    return int(v), int(u)


def _build(scene: Scene, rng: np.random.Generator) -> RelativeDepthItem | None:
    surfaces = [o.label for o in scene.objects] + [TABLE_LABEL]
    order = rng.permutation(len(surfaces))
    first = _pick_point(scene, rng, surfaces[order[0]])
    for k in order[1:]:
        second = _pick_point(scene, rng, surfaces[k])
        if first is None or second is None:
            continue
        d1, d2 = float(scene.depth[first]), float(scene.depth[second])
        if max(d1, d2) / min(d1, d2) >= MIN_RATIO:
            break
    else:
        return None
    height, width = scene.depth.shape
    pts = [pixel_centre_normalized(u, v, width, height) for v, u in (first, second)]
    depths = [d1, d2]
    if rng.random() < 0.5:
        pts.reverse()
        depths.reverse()
    image = draw_labelled_circles(scene.rgb, [("A", pts[0]), ("B", pts[1])])
    referents = [_marker_referent(letter, pt, (height, width)) for letter, pt in zip("AB", pts, strict=True)]
    return RelativeDepthItem(
        item_id="",
        question=QUESTION,
        images=(image,),
        truth=(scene_truth(scene, referents),),
        meta={"question_type": "relative_depth"},
        label="A" if depths[0] < depths[1] else "B",
        points=(pts[0], pts[1]),
        depths=(depths[0], depths[1]),
    )


def _marker_referent(letter: str, point: tuple[float, float], shape: tuple[int, int]) -> Referent:
    height, width = shape
    vv, uu = np.mgrid[:height, :width]
    px, py = normalized_to_pixel(point[0], point[1], width, height)
    mask = (uu + 0.5 - px) ** 2 + (vv + 0.5 - py) ** 2 <= MARKER_RADIUS_PX**2
    aliases = (letter, f"point labeled {letter}", f"marker {letter}", f"circle {letter}", f"point {letter.lower()}")
    return Referent(name=f"point {letter}", mask=mask, point=point, aliases=aliases, category="point")


def generate(rng: np.random.Generator, config: SceneConfig) -> RelativeDepthItem:
    return generate_with_retries(rng, config, _build)


FAMILY = TaskFamily(
    name="RelativeDepth",
    item_type=RelativeDepthItem,
    score=answer_kinds.score_choice,
    oracle=answer_kinds.oracle_choice,
    generate=generate,
    description=__doc__ or "",
    eval_key="blinkdepth",
    counterexample=answer_kinds.counterexample_choice,
)
