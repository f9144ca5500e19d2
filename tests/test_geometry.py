"""Geometry behind the tools: camera round trips, oriented boxes, 2D hulls, mask points."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial.transform import Rotation

from tool_backends import ToolError
from tool_backends.geometry import (
    BOX_EDGES,
    backproject,
    box_volume,
    convex_hull_2d,
    convex_polygon_intersection,
    hull_iou,
    interior_point,
    mask_pixels_of_points,
    minimal_oriented_box,
    point_in_convex_hull,
    polygon_area,
    project,
)

SQUARE = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]


# ----------------------------------------------------------------------------- cuboids
def cuboid_corners(center: np.ndarray, rotation: np.ndarray, extents: np.ndarray) -> np.ndarray:
    signs = np.array(list(itertools.product((-1, 1), repeat=3)), dtype=float)
    return center + (signs * extents / 2) @ rotation.T


def face_points(center, rotation, extents, faces, n=25) -> np.ndarray:
    """Grid samples (edges included) of the given faces, each as (axis, +1/-1)."""
    grid = np.linspace(-1.0, 1.0, n)
    a, b = (g.ravel() for g in np.meshgrid(grid, grid))
    chunks = []
    for axis, sign in faces:
        local = np.zeros((a.size, 3))
        others = [k for k in range(3) if k != axis]
        local[:, axis] = sign
        local[:, others[0]], local[:, others[1]] = a, b
        chunks.append(local)
    return center + (np.vstack(chunks) * extents / 2) @ rotation.T


def max_corner_error(found: np.ndarray, truth: np.ndarray) -> float:
    """Largest distance from a true corner to the nearest found corner (order-free)."""
    return float(np.linalg.norm(truth[:, None] - found[None], axis=2).min(axis=1).max())


@pytest.mark.parametrize("seed", range(6))
def test_minimal_box_recovers_rotated_cuboid_from_three_visible_faces(seed):
    rotation = Rotation.random(random_state=seed).as_matrix()
    extents = np.array([0.30, 0.18, 0.11])
    center = np.array([0.1, -0.05, 1.4])
    points = face_points(center, rotation, extents, [(0, 1), (1, -1), (2, 1)])

    corners, found_extents = minimal_oriented_box(points)

    assert max_corner_error(corners, cuboid_corners(center, rotation, extents)) < 1e-9
    assert sorted(found_extents) == pytest.approx(sorted(extents), abs=1e-9)


def test_minimal_box_recovers_cuboid_seen_face_on_with_only_top_and_front_visible():
    # Camera looks along +z at an axis-aligned box turned only about the vertical axis by 0:
    # the front face (-z) and the top face (-y, OpenCV y is down) are the visible ones.
    extents = np.array([0.4, 0.1, 0.25])
    center = np.array([0.0, 0.3, 1.5])
    points = face_points(center, np.eye(3), extents, [(2, -1), (1, -1)])

    corners, found_extents = minimal_oriented_box(points)

    # The points fill a wedge, which a box tilted along its diagonal also encloses with the same
    # volume; the surface-area tie-break must pick the cuboid itself.
    assert max_corner_error(corners, cuboid_corners(center, np.eye(3), extents)) < 1e-9
    assert found_extents == pytest.approx([0.4, 0.25, 0.1], abs=1e-9)


def test_minimal_box_two_faces_of_rotated_cuboid():
    rotation = Rotation.from_euler("xyz", [20, 35, -10], degrees=True).as_matrix()
    extents = np.array([0.2, 0.3, 0.15])
    center = np.array([0.0, 0.0, 2.0])
    points = face_points(center, rotation, extents, [(0, 1), (2, -1)])
    corners, _ = minimal_oriented_box(points)
    assert max_corner_error(corners, cuboid_corners(center, rotation, extents)) < 1e-9


def test_minimal_box_tolerates_noise():
    rng = np.random.default_rng(3)
    rotation = Rotation.random(random_state=11).as_matrix()
    extents = np.array([0.25, 0.2, 0.1])
    center = np.array([0.0, 0.1, 1.0])
    points = face_points(center, rotation, extents, [(0, -1), (1, 1), (2, 1)], n=60)
    points += rng.normal(0.0, 1e-3, points.shape)
    corners, found = minimal_oriented_box(points)
    assert max_corner_error(corners, cuboid_corners(center, rotation, extents)) < 0.01
    assert sorted(found) == pytest.approx(sorted(extents), abs=0.01)


def test_box_corner_order_bottom_face_first_and_edges_join_adjacent_corners():
    rotation = Rotation.from_euler("y", 30, degrees=True).as_matrix()
    extents = np.array([0.3, 0.2, 0.1])
    center = np.array([0.0, 0.2, 1.5])
    corners, found = minimal_oriented_box(cuboid_corners(center, rotation, extents))

    # Camera up is -y: corners 0-3 (bottom) have larger y than corners 4-7 (top).
    assert corners[:4, 1].min() > corners[4:, 1].max()
    # Corner i+4 is straight above corner i, at distance = the vertical extent.
    assert np.linalg.norm(corners[4:] - corners[:4], axis=1) == pytest.approx([found[2]] * 4)
    # Every listed edge is a box edge: its length is one of the extents.
    for i, j in BOX_EDGES:
        assert min(abs(np.linalg.norm(corners[i] - corners[j]) - e) for e in found) < 1e-9
    # The first face is counter-clockwise about the up axis (right-hand rule).
    a0, a1 = corners[1] - corners[0], corners[2] - corners[1]
    assert np.cross(a0, a1) @ np.array([0.0, -1.0, 0.0]) > 0
    assert box_volume(found) == pytest.approx(0.3 * 0.2 * 0.1)


def test_minimal_box_degenerate_inputs_give_flat_boxes():
    corners, extents = minimal_oriented_box([[0, 0, 1], [1, 0, 1], [1, 1, 1], [0, 1, 1], [0.5, 0.5, 1]])
    assert sorted(extents) == pytest.approx([0.0, 1.0, 1.0])
    assert corners.shape == (8, 3)

    _, extents = minimal_oriented_box([[0, 0, 1], [2, 0, 1]])
    assert sorted(extents) == pytest.approx([0.0, 0.0, 2.0])

    corners, extents = minimal_oriented_box([[0.1, 0.2, 1.0]])
    assert extents.tolist() == [0.0, 0.0, 0.0]
    assert np.allclose(corners, [0.1, 0.2, 1.0])


@pytest.mark.parametrize(
    ("points", "message"),
    [
        (np.zeros((0, 3)), "0 points"),
        ([[0, 0, np.nan], [1, 1, 1]], "NaN or inf"),
        (np.zeros((5, 2)), "Nx3"),
    ],
)
def test_minimal_box_rejects_unusable_input_with_clear_errors(points, message):
    with pytest.raises(ToolError, match=message):
        minimal_oriented_box(points)


# ----------------------------------------------------------------------------- camera
def test_backproject_follows_the_original_formula():
    depth = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, np.inf]], dtype=np.float32)
    cloud = backproject(depth, f=2.0)
    # Pixel (u=2, v=0): ((2 - 1.5) * 3 / 2, (0 - 1) * 3 / 2, 3)
    assert cloud[0, 2].tolist() == [0.75, -1.5, 3.0]
    assert cloud.shape == (2, 3, 3)
    assert np.isinf(cloud[1, 2, 2])
    centred = backproject(depth, f=2.0, pixel_offset=0.5)
    assert centred[0, 2].tolist() == [1.5, -0.75, 3.0]


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(2, 40),
    height=st.integers(2, 40),
    f=st.floats(5.0, 2000.0),
    offset=st.sampled_from([0.0, 0.5]),
    depth_seed=st.integers(0, 2**16),
)
def test_project_inverts_backproject(width, height, f, offset, depth_seed):
    depth = np.random.default_rng(depth_seed).uniform(0.1, 50.0, (height, width))
    points = backproject(depth, f, pixel_offset=offset).reshape(-1, 3)
    normalized = project(points, f, width, height)
    cols, rows = np.meshgrid(np.arange(width), np.arange(height))
    expected = np.stack([(cols.ravel() + offset) / width, (rows.ravel() + offset) / height], axis=1)
    assert np.allclose(normalized, expected, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(width=st.integers(2, 30), height=st.integers(2, 30), f=st.floats(5.0, 900.0), seed=st.integers(0, 999))
def test_backprojected_points_land_back_in_their_own_pixel(width, height, f, seed):
    depth = np.random.default_rng(seed).uniform(0.2, 20.0, (height, width))
    points = backproject(depth, f).reshape(-1, 3)  # integer pixel indices: round-off matters
    mask = np.zeros((height, width), dtype=bool)
    mask[height // 2, width // 2] = True
    keep, pixels = mask_pixels_of_points(points, mask, f)
    cols, rows = np.meshgrid(np.arange(width), np.arange(height))
    assert pixels.tolist() == np.stack([cols.ravel(), rows.ravel()], axis=1).tolist()
    assert np.flatnonzero(keep).tolist() == [(height // 2) * width + width // 2]


def test_mask_pixels_drop_points_behind_camera_and_outside_image():
    mask = np.ones((4, 4), dtype=bool)
    points = np.array([[0.0, 0.0, 1.0], [0.0, 0.0, -1.0], [50.0, 0.0, 1.0], [np.nan, 0.0, 1.0]])
    keep, _ = mask_pixels_of_points(points, mask, f=2.0)
    assert keep.tolist() == [True, False, False, False]


# ----------------------------------------------------------------------------- 2D hulls
def test_hull_iou_identical_and_shuffled_sets_are_one():
    rng = np.random.default_rng(0)
    pts = rng.uniform(0, 1, (8, 2))
    assert hull_iou(pts, pts) == pytest.approx(1.0)
    assert hull_iou(pts, pts[rng.permutation(8)]) == pytest.approx(1.0)


def test_hull_iou_disjoint_is_zero_and_partial_overlap_is_exact():
    shifted = [(x + 2.0, y) for x, y in SQUARE]
    assert hull_iou(SQUARE, shifted) == 0.0
    half = [(x + 0.5, y) for x, y in SQUARE]
    assert hull_iou(SQUARE, half) == pytest.approx(0.5 / 1.5)
    inner = [(0.25, 0.25), (0.75, 0.25), (0.75, 0.75), (0.25, 0.75)]
    assert hull_iou(SQUARE, inner) == pytest.approx(0.25)


def test_hull_iou_accepts_different_point_counts_and_degenerate_hulls():
    seven = [*SQUARE, (0.5, 0.5), (0.2, 0.7), (0.9, 0.1)]
    eight = [*SQUARE, (0.5, 0.0), (1.0, 0.5), (0.5, 1.0), (0.0, 0.5)]
    assert hull_iou(seven, eight) == pytest.approx(1.0)
    assert hull_iou(SQUARE, [(0, 0), (1, 1), (0.5, 0.5)]) == 0.0  # collinear: no area
    assert hull_iou(SQUARE, []) == 0.0


def test_convex_hull_is_counter_clockwise_without_interior_or_collinear_points():
    pts = [(0, 0), (2, 0), (1, 0), (2, 2), (0, 2), (1, 1), (0, 1)]
    hull = convex_hull_2d(pts)
    assert hull.tolist() == [[0, 0], [2, 0], [2, 2], [0, 2]]
    assert polygon_area(hull) == 4.0
    assert convex_hull_2d([(1, 1), (1, 1)]).tolist() == [[1, 1]]
    assert convex_hull_2d([(0, 0), (1, 1), (2, 2)]).tolist() == [[0, 0], [2, 2]]


def test_convex_polygon_intersection_of_overlapping_squares():
    other = [(0.5, 0.5), (1.5, 0.5), (1.5, 1.5), (0.5, 1.5)]
    inter = convex_polygon_intersection(SQUARE, other)
    assert polygon_area(inter) == pytest.approx(0.25)
    assert convex_polygon_intersection(SQUARE, [(5, 5), (6, 5), (6, 6)]).shape == (0, 2)


def test_point_in_convex_hull_boundary_rule():
    assert point_in_convex_hull((0.5, 0.5), SQUARE)
    assert point_in_convex_hull((1.0, 0.5), SQUARE)
    assert not point_in_convex_hull((1.0, 0.5), SQUARE, boundary_inclusive=False)
    assert not point_in_convex_hull((1.01, 0.5), SQUARE)
    assert point_in_convex_hull((0.5, 0.5), [(0, 0), (1, 1)])  # on a degenerate hull
    assert not point_in_convex_hull((0.5, 0.5), [(0, 0), (1, 1)], boundary_inclusive=False)
    assert not point_in_convex_hull((0.5, 0.6), [(0, 0), (1, 1)])


# ----------------------------------------------------------------------------- masks
def test_interior_point_is_the_centre_of_a_rectangle():
    mask = np.zeros((48, 64), dtype=bool)
    mask[10:21, 20:41] = True  # 11 rows x 21 columns: centre pixel (30, 15)
    assert interior_point(mask) == (30.5 / 64, 15.5 / 48)


def test_interior_point_lies_inside_a_non_convex_mask():
    mask = np.zeros((40, 40), dtype=bool)
    mask[5:35, 5:12] = True  # an L shape: its centroid is outside the mask
    mask[28:35, 5:35] = True
    x, y = interior_point(mask)
    assert mask[int(y * 40), int(x * 40)]


def test_interior_point_treats_the_image_border_as_boundary_and_is_deterministic():
    mask = np.zeros((20, 30), dtype=bool)
    mask[:, :10] = True  # touches three image borders
    x, y = interior_point(mask)
    assert (x, y) == interior_point(mask.copy())
    assert 3 / 30 < x < 7 / 30 and 0.4 < y < 0.6
    with pytest.raises(ValueError, match="empty"):
        interior_point(np.zeros((5, 5), dtype=bool))
