"""BoxPose program: point, segment, lift to 3D, fit the oriented box, answer with its 2D corners.

This is the original BOP-ASK pose trace (about five turns): ``roborefer.detect_one`` ->
``sam2.segment_from_point`` -> ``depth_estimator.estimate_depth_with_pointcloud`` ->
``bounding_box.compute_bbox`` -> answer. The corners are reordered as the question asks (bottom
face, then top face, each counter-clockwise in the image); the vertical box edge is found from
the camera-frame corners alone (see :func:`up_axis`).
"""

from __future__ import annotations

import re
from collections.abc import Generator

import numpy as np

from agents.programs.toolkit import ProgramError, answer, bbox_corners, call, first_point, question_match, turn
from spacetools_env.tasks.box_pose import order_box_corners
from tool_backends.geometry import format_points

_QUESTION = re.compile(r"cuboid corners for the (.+?)\? Your answer")


def up_axis(corners_3d: np.ndarray, edges: list[tuple[int, int]]) -> np.ndarray:
    """The box's vertical direction in the camera frame, from the three edges at one corner.

    Raises:
        ProgramError: the edges do not meet at a corner three times.
    """
    at_zero = [b if a == 0 else a for a, b in edges if 0 in (a, b)]
    if len(at_zero) != 3:
        raise ProgramError(f"expected 3 box edges at corner 0, got {at_zero}")
    axes = corners_3d[at_zero] - corners_3d[0]
    axes = axes / np.maximum(np.linalg.norm(axes, axis=1, keepdims=True), 1e-12)
    # A level camera looking down at elevation e sees "up" as (0, -cos e, -sin e): its y and z have
    # the same sign. A horizontal direction has y and z of opposite signs (or zero), whatever its
    # heading, so the vertical edge is the one with the largest y * z.
    vertical = axes[int(np.argmax(axes[:, 1] * axes[:, 2]))]
    return vertical if vertical[1] < 0 else -vertical  # camera y points down


def program(question: str) -> Generator[str, list[str], None]:
    (name,) = question_match(_QUESTION, question)
    responses = yield turn(
        call("roborefer.detect_one", obj_name=name, image_index=0),
        thought=f"To get the 3D box of the {name} I will locate it, segment it, lift it to 3D and fit a box.",
    )
    x, y = first_point(responses[0])
    responses = yield turn(call("sam2.segment_from_point", x=x, y=y, image_index=0))
    _expect_ok(responses[0])
    responses = yield turn(call("depth_estimator.estimate_depth_with_pointcloud", image_index=0))
    _expect_ok(responses[0])
    responses = yield turn(
        call("bounding_box.compute_bbox", point_cloud="$point_cloud", mask="$segmentation_mask",
             focal_length_px="$focal_length_px")
    )
    corners_3d, corners_2d, edges = bbox_corners(responses[0])
    c3, c2 = np.asarray(corners_3d), np.asarray(corners_2d)
    order = order_box_corners(c2, c3, up_axis(c3, edges))
    yield answer(format_points(c2[order]), thought="The box corners, bottom face first, then the top face.")


def _expect_ok(response: str) -> None:
    if response.startswith("Error"):
        raise ProgramError(response[:200])
