"""Compatibility program: measure 3D boxes of the objects and the table, compare footprints.

Turn 1 points at every object and the table and builds the depth point cloud; turn 2 segments
each one and fits its 3D box (``segment_from_point`` then ``compute_bbox`` on
``$segmentation_mask``, in order, so each box uses the mask just made); the table's flat box
gives the up direction, so footprints are the boxes projected on the table plane.
"""

from __future__ import annotations

import re
from collections.abc import Generator

import numpy as np

from agents.programs.toolkit import ProgramError, answer, bbox_corners, call, first_point, question_match, turn

_BETWEEN = re.compile(r"Can the (.+?) fit between the (.+?) and the (.+?)\? Answer yes or no")
_ON_TOP = re.compile(r"Can the (.+?) fit on top of the (.+?)\? Answer yes or no")
_TABLE = "table"
_ANGLES = np.radians(np.arange(0.0, 90.0, 0.25))


def _parse(question: str) -> tuple[str, tuple[str, ...]]:
    if _BETWEEN.search(question):
        return "between", question_match(_BETWEEN, question)
    return "on_top", question_match(_ON_TOP, question)


def _plane_basis(table: np.ndarray) -> np.ndarray:
    """(3, 3) rows: two table-plane directions and the table normal, from the table's flat box."""
    axes = np.array([table[1] - table[0], table[3] - table[0], table[4] - table[0]])
    lengths = np.linalg.norm(axes, axis=1)
    long1, long2 = np.argsort(lengths)[1:]
    normal = np.cross(axes[long1], axes[long2])
    if not np.linalg.norm(normal) > 0:
        raise ProgramError("the table box is degenerate")
    e1 = axes[long2] / lengths[long2]
    normal /= np.linalg.norm(normal)
    return np.array([e1, np.cross(normal, e1), normal])


def footprint(corners: np.ndarray, basis: np.ndarray) -> tuple[float, float]:
    """(width, length) of the smallest rectangle around the box projected on the table plane."""
    flat = corners @ basis[:2].T  # (8, 2)
    directions = np.stack([np.cos(_ANGLES), np.sin(_ANGLES)], axis=1)
    along = flat @ directions.T  # (8, K)
    across = flat @ np.stack([-directions[:, 1], directions[:, 0]], axis=1).T
    spans = np.stack([np.ptp(along, axis=0), np.ptp(across, axis=0)], axis=1)
    best = spans[int(np.argmin(spans.prod(axis=1)))]
    return float(best.min()), float(best.max())


def gap_between(first: np.ndarray, second: np.ndarray, basis: np.ndarray) -> float:
    """Free distance between two boxes along the horizontal line through their centres."""
    axis = second.mean(axis=0) - first.mean(axis=0)
    axis -= (axis @ basis[2]) * basis[2]
    axis /= np.linalg.norm(axis)
    return float((second @ axis).min() - (first @ axis).max())


def program(question: str) -> Generator[str, list[str], None]:
    template, names = _parse(question)
    targets = (*names, _TABLE)
    responses = yield turn(
        *(call("roborefer.detect_one", obj_name=name, image_index=0) for name in targets),
        call("depth_estimator.estimate_depth_with_pointcloud", image_index=0),
        thought="I need 3D sizes: locate each object and the table, and build the point cloud.",
    )
    points = [first_point(r) for r in responses[: len(targets)]]
    calls = []
    for x, y in points:
        calls.append(call("sam2.segment_from_point", x=x, y=y, image_index=0))
        calls.append(
            call(
                "bounding_box.compute_bbox",
                point_cloud="$point_cloud",
                mask="$segmentation_mask",
                focal_length_px="$focal_length_px",
            )
        )
    responses = yield turn(*calls, thought="Segment each one and fit its 3D box; the table's box shows where up is.")
    boxes = [np.array(bbox_corners(r)[0]) for r in responses[1::2]]
    basis = _plane_basis(boxes[-1])
    width, length = footprint(boxes[0], basis)
    if template == "between":
        gap = gap_between(boxes[1], boxes[2], basis)
        fits = width < gap
        thought = f"The {names[0]} is {width:.3f} m wide; the {names[1]}-{names[2]} gap is {gap:.3f} m."
    else:
        top_width, top_length = footprint(boxes[1], basis)
        fits = width < top_width and length < top_length
        thought = (
            f"The {names[0]}'s footprint is {width:.3f} x {length:.3f} m; the top of the {names[1]} is "
            f"{top_width:.3f} x {top_length:.3f} m."
        )
    yield answer("Yes" if fits else "No", thought=thought)
