"""Pure scoring functions, faithful to the official benchmark code (text in, score in [0, 1] out).

Every scorer is pure and never raises on model text (garbage, empty, megabytes, binary junk):
it returns 0.0, or None where the official code would *skip* the sample (RefSpatial-Bench and
Where2Place parse failures). Options chosen by the programmer (``rule=``, ``point_format=``)
raise ValueError when unknown. Each function documents the rule it reproduces and its source
(``repo:path``); rules that could not be verified are marked **UNVERIFIED** and offer the
alternative as an option.

Scorers take the *answer* text. SpaceTools first extracts the first ``<answer>...</answer>``
(:func:`extract_answer`); RoboSpatial-Eval, BLINK, RoboRefer and RoboPoint score the raw output.

- RoboSpatial-Home: :func:`score_robospatial` (dispatch), :func:`score_yes_no`,
  :func:`score_context_point` (RoboSpatial-Eval ``evaluation.py``; SpaceTools ``robos_all``).
- BLINK: :func:`score_blink` (official ``analyze_answer``), :func:`score_choice_letter`
  (SpaceTools bare-letter GT). CV-Bench: :func:`score_choice_letter`.
- RefSpatial-Bench: :func:`score_refspatial_mask` (RoboRefer ``Evaluation/summarize_acc.py``).
- Where2Place: :func:`score_where2place` (RoboPoint ``robopoint/eval/summarize_vqa.py``).
- BOP-ASK: :func:`score_pose_iou`, :func:`grasp_nce`, :func:`score_grasp_success`,
  :func:`score_grasp_nnce` (SpaceTools ``bop_ask_bench``).
- RL shaping for pointing: :func:`score_context_nndc`, :func:`score_mask_nndc` (paper §4.3).
"""

from __future__ import annotations

from spacetools_env.scoring.answers import extract_answer
from spacetools_env.scoring.choices import (
    blink_extract_choice,
    normalize_choice_letter,
    score_blink,
    score_choice_letter,
    score_yes_no,
)
from spacetools_env.scoring.geometry import (
    convex_hull,
    convex_hull_iou,
    point_in_convex_polygon,
    point_in_polygon_ray_cast,
    point_in_polygon_ray_cast_legacy,
)
from spacetools_env.scoring.points import (
    POINT_FORMATS,
    PixelPoints,
    parse_first_point_robospatial,
    parse_points,
    parse_points_gemini,
    parse_points_molmo,
    parse_points_tuples,
)
from spacetools_env.scoring.pose import (
    GraspKeypoints,
    extract_bop_points,
    grasp_nce,
    parse_grasp,
    score_grasp_nnce,
    score_grasp_success,
    score_pose_iou,
)
from spacetools_env.scoring.regions import (
    CONTEXT_RULES,
    parse_gt_points,
    score_context_point,
    score_mask_points,
    score_refspatial_mask,
    score_robospatial,
    score_where2place,
)
from spacetools_env.scoring.shaped import nndc_reward, nndc_term, score_context_nndc, score_mask_nndc

__all__ = [
    "CONTEXT_RULES",
    "POINT_FORMATS",
    "GraspKeypoints",
    "PixelPoints",
    "blink_extract_choice",
    "convex_hull",
    "convex_hull_iou",
    "extract_answer",
    "extract_bop_points",
    "grasp_nce",
    "nndc_reward",
    "nndc_term",
    "normalize_choice_letter",
    "parse_first_point_robospatial",
    "parse_grasp",
    "parse_gt_points",
    "parse_points",
    "parse_points_gemini",
    "parse_points_molmo",
    "parse_points_tuples",
    "point_in_convex_polygon",
    "point_in_polygon_ray_cast",
    "point_in_polygon_ray_cast_legacy",
    "score_blink",
    "score_choice_letter",
    "score_context_nndc",
    "score_context_point",
    "score_grasp_nnce",
    "score_grasp_success",
    "score_mask_nndc",
    "score_mask_points",
    "score_pose_iou",
    "score_refspatial_mask",
    "score_robospatial",
    "score_where2place",
    "score_yes_no",
]
