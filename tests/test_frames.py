"""The image-frame rules, pinned by small tables (tool_backends.geometry.frames)."""

from __future__ import annotations

import numpy as np
import pytest

from tool_backends.geometry import (
    Frame,
    format_points,
    normalized_to_pixel,
    pixel_centre_normalized,
    pixel_centres_normalized,
    pixel_index,
    pixel_indices,
    pixel_to_normalized,
    to_normalized,
)

# (x, y) normalized, (width, height) -> (u, v): truncation, exactly 1.0 clamped to the last pixel.
PIXEL_INDEX_TABLE = [
    ((0.0, 0.0), (640, 480), (0, 0)),
    ((0.5, 0.5), (640, 480), (320, 240)),
    ((0.99999, 0.99999), (640, 480), (639, 479)),
    ((1.0, 1.0), (640, 480), (639, 479)),
    ((0.2499, 0.7501), (4, 4), (0, 3)),
    ((0.25, 0.75), (4, 4), (1, 3)),
    ((1 / 3, 2 / 3), (3, 3), (1, 2)),
]

# (u, v) pixel index, (width, height) -> (x, y) of the pixel's centre.
PIXEL_CENTRE_TABLE = [
    ((0, 0), (4, 2), (0.125, 0.25)),
    ((3, 1), (4, 2), (0.875, 0.75)),
    ((319, 239), (640, 480), (319.5 / 640, 239.5 / 480)),
]


@pytest.mark.parametrize(("point", "size", "expected"), PIXEL_INDEX_TABLE)
def test_pixel_index_truncates_and_clamps_one_to_the_last_pixel(point, size, expected):
    assert pixel_index(*point, *size) == expected
    assert pixel_indices(np.array([point]), *size).tolist() == [list(expected)]


@pytest.mark.parametrize(("pixel", "size", "expected"), PIXEL_CENTRE_TABLE)
def test_pixel_centre_normalized_is_the_half_pixel_centre(pixel, size, expected):
    assert pixel_centre_normalized(*pixel, *size) == expected
    assert pixel_centres_normalized([pixel[0]], [pixel[1]], *size).tolist() == [list(expected)]


def test_pixel_centres_truncate_back_to_their_own_pixel():
    for width, height in [(640, 480), (16, 12), (1280, 720), (7, 3)]:
        us, vs = np.meshgrid(np.arange(width), np.arange(height))
        points = pixel_centres_normalized(us.ravel(), vs.ravel(), width, height)
        assert np.array_equal(pixel_indices(points, width, height), np.stack([us.ravel(), vs.ravel()], axis=1))


def test_pixel_centre_keeps_the_exact_arithmetic():
    # (u + 0.5) / W and u / W + 0.5 / W round differently; episodes are bit-identical per seed.
    u, width = 2, 3
    assert pixel_centre_normalized(u, 0, width, 1)[0] == (u + 0.5) / width
    assert (u + 0.5) / width != u / width + 0.5 / width


def test_vectorised_helpers_agree_with_the_scalar_ones_bit_for_bit():
    rng = np.random.default_rng(0)
    points = rng.random((500, 2))
    points[:3] = [[0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
    expected = [pixel_index(x, y, 37, 23) for x, y in points.tolist()]
    assert pixel_indices(points, 37, 23).tolist() == [list(p) for p in expected]
    us, vs = rng.integers(0, 37, 200), rng.integers(0, 23, 200)
    centres = pixel_centres_normalized(us, vs, 37, 23)
    expected_centres = [list(pixel_centre_normalized(int(u), int(v), 37, 23)) for u, v in zip(us, vs, strict=True)]
    assert centres.tolist() == expected_centres


def test_continuous_pixels_scale_without_the_half_pixel():
    assert pixel_to_normalized(320, 120, 640, 480) == (0.5, 0.25)
    assert normalized_to_pixel(0.5, 0.25, 640, 480) == (320.0, 120.0)


def test_to_normalized_per_frame():
    pts = np.array([[0, 0], [500, 1000]])
    assert to_normalized(pts, Frame.PER_MILLE, 4, 2).tolist() == [[0.0, 0.0], [0.5, 1.0]]
    assert to_normalized(np.array([[0, 1]]), Frame.PIXEL, 4, 2).tolist() == [[0.125, 0.75]]
    assert to_normalized(np.array([[0.1, 0.2]]), Frame.NORMALIZED, 4, 2).tolist() == [[0.1, 0.2]]


def test_format_points_rounds_to_three_decimals():
    assert format_points([[0.5, 0.25], [0.1234, 1.0]]) == "[(0.5, 0.25), (0.123, 1.0)]"
