"""The oracle backend end to end: exact texts, stored variables, errors, noise, real geometry."""

from __future__ import annotations

import gc
import itertools
import pickle
import re
from typing import Any

import numpy as np
import pytest

from tool_backends import (
    DEFAULT_TOOLS,
    PHASE1_TOOLS,
    EpisodeContext,
    GroundTruth,
    LocalToolClient,
    Referent,
    ToolNoise,
    ToolResult,
    VariableStore,
    make_client,
)
from tool_backends.geometry import BOX_EDGES, project
from tool_backends.oracle import BoundingBoxOracle, DepthOracle, oracle_toolsets
from tool_backends.oracle.pointing import ReferentIndex

WIDTH, HEIGHT, FOCAL = 64, 48, 50.0
MUG, RED_CUBE, BLUE_CUBE = 1, 2, 3
BBOX_ARGS = {"point_cloud": "$point_cloud", "mask": "$segmentation_mask",
             "focal_length_px": "$focal_length_px"}


# ----------------------------------------------------------------------------- scenes
def small_truth() -> GroundTruth:
    """A wall at 2 m with a mug (1.2 m) and two cubes (1.5 m, 1.6 m) in front of it.

    Row 0 sees nothing (inf) and four pixels of row 1 see something 150 m away (kept in the depth
    map, dropped from the point cloud as beyond 100 m).
    """
    depth = np.full((HEIGHT, WIDTH), 2.0, dtype=np.float32)
    seg = np.zeros((HEIGHT, WIDTH), dtype=np.int32)
    depth[0, :] = np.inf
    depth[1, 0:4] = 150.0
    for label, rows, cols, z in ((MUG, (20, 32), (10, 24), 1.2), (RED_CUBE, (24, 36), (34, 44), 1.5),
                                 (BLUE_CUBE, (24, 36), (48, 58), 1.6)):
        depth[rows[0]:rows[1], cols[0]:cols[1]] = z
        seg[rows[0]:rows[1], cols[0]:cols[1]] = label
    free = np.zeros_like(seg, dtype=bool)
    free[20:32, 0:8] = True
    referents = (
        Referent("red mug", seg == MUG, (0.28, 0.55), aliases=("mug", "coffee mug"), category="mug"),
        Referent("red cube", seg == RED_CUBE, (0.609, 0.625), category="cube"),
        Referent("blue cube", seg == BLUE_CUBE, (0.828, 0.625), category="cube"),
        Referent("free space left of the red mug", free, (0.06, 0.55)),
    )
    return GroundTruth(depth=depth, focal_length_px=FOCAL, segmentation=seg, referents=referents)


def episode(truth: GroundTruth, seed: int = 0) -> EpisodeContext:
    height, width = truth.depth.shape
    return EpisodeContext(images=(np.zeros((height, width, 3), np.uint8),), truth=(truth,), seed=seed)


class Session:
    """What the env does around the client: resolve ``$variables``, call, store new variables."""

    def __init__(self, client: LocalToolClient, truth: GroundTruth, seed: int = 0) -> None:
        self.client = client
        self.store = VariableStore()
        client.open_episode(episode(truth, seed))

    def __call__(self, name: str, **arguments: Any) -> ToolResult:
        result = self.client.call(name, self.store.resolve(arguments))
        self.store.update_from(result.variables)
        return result


@pytest.fixture
def truth() -> GroundTruth:
    return small_truth()


@pytest.fixture
def session(truth: GroundTruth) -> Session:
    return Session(make_client(), truth)


# ----------------------------------------------------------------------------- pointing
def test_roborefer_detect_one_text_and_no_variables(session):
    result = session("roborefer.detect_one", obj_name="red mug", image_index=0)
    assert result.ok
    assert result.text == "Detected 1 instance(s) of 'red mug': [(0.28, 0.55)]"
    assert result.variables == {}
    assert result.data["points"] == [(0.28, 0.55)]


def test_roborefer_detect_all_finds_every_instance_of_a_plural_category(session):
    result = session("roborefer.detect_all", obj_name="cubes", image_index=0)
    assert result.text == "Detected 2 instance(s) of 'cubes': [(0.609, 0.625), (0.828, 0.625)]"
    assert result.variables == {}


def test_vlm_detect_stores_named_detections_variable(session):
    result = session("vlm.detect_one", obj_name="red mug", image_index=0)
    assert result.text == (
        "Detected 1 instance(s) of 'red mug': [(0.28, 0.55)] Use $red_mug_detections to reference them."
    )
    assert result.variables == {"red_mug_detections": [(0.28, 0.55)]}
    result = session("vlm.detect_all", obj_name="cube", image_index=0)
    assert result.text.endswith("[(0.609, 0.625), (0.828, 0.625)] Use $cube_detections to reference them.")
    assert session.store["cube_detections"] == [(0.609, 0.625), (0.828, 0.625)]


@pytest.mark.parametrize("tool", ["roborefer.detect_one", "vlm.detect_one", "vlm.detect_all"])
def test_nothing_found_is_a_normal_answer_without_variables(session, tool):
    result = session(tool, obj_name="giraffe", image_index=0)
    assert result.ok
    assert result.text == "Detected 0 instance(s) of 'giraffe': []"
    assert result.variables == {}


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("red mug", ["red mug"]),
        ("The Red Mug!", ["red mug"]),
        ("mug", ["red mug"]),
        ("coffee mugs", ["red mug"]),
        ("the red mug on the left", ["red mug"]),
        ("cube", ["red cube", "blue cube"]),
        ("blue cubes", ["blue cube"]),
        ("the blue block cube", ["blue cube"]),
        ("the free space left of the mug", ["free space left of the red mug"]),
        ("blue cup", []),
        ("giraffe", []),
        ("the", []),
    ],
)
def test_referent_resolution_exact_then_category_then_fuzzy(truth, query, expected):
    assert [r.name for r in ReferentIndex(truth.referents).find(query)] == expected


def test_pointing_is_fast_enough_for_the_hot_loop(session):
    # Not a benchmark: a guard against accidental per-call work (the budget is well under 1 ms).
    session("roborefer.detect_one", obj_name="red mug", image_index=0)
    times = [session("roborefer.detect_one", obj_name="red mug", image_index=0).elapsed_s for _ in range(50)]
    assert sorted(times)[25] < 2e-3


# ----------------------------------------------------------------------------- depth
def _stats_text(values: np.ndarray) -> str:
    return f"{values.min():.2f}m to {values.max():.2f}m (mean: {values.mean(dtype=np.float64):.2f}m)"


def test_estimate_depth_text_and_variables(session, truth):
    result = session("depth_estimator.estimate_depth", image_index=0)
    finite = truth.depth[np.isfinite(truth.depth)]
    assert result.text == (
        f"Estimated depth map for 64x48 image. Focal length: 50.0px. Depth range: {_stats_text(finite)}. "
        "Use $depth_map (numpy array, 48x64) to reference the depth data and "
        "$focal_length_px (float) to reference the focal length."
    )
    assert "Depth range: 1.20m to 150.00m" in result.text
    assert set(result.variables) == {"depth_map", "focal_length_px"}
    assert result.variables["focal_length_px"] == 50.0
    np.testing.assert_array_equal(result.variables["depth_map"], truth.depth)


def test_estimate_depth_with_pointcloud_text_and_cloud(session, truth):
    result = session("depth_estimator.estimate_depth_with_pointcloud", image_index=0)
    cloud = result.variables["point_cloud"]
    assert cloud.shape == (64 * 48 - 64 - 4, 3)  # inf row and the 150 m pixels dropped
    assert result.text == (
        "Generated 64x48 depth map and 3,004 3D points. "
        f"Depth range in point cloud: {_stats_text(cloud[:, 2])}. "
        "Use $depth_map (numpy array, 48x64), $point_cloud (numpy array, 3004x3) and "
        "$focal_length_px (float) to reference the results."
    )
    assert set(result.variables) == {"depth_map", "point_cloud", "focal_length_px"}
    # Row-major order; first kept pixel is (col 4, row 1); rays through pixel centres by default.
    assert cloud[0].tolist() == pytest.approx([(4.5 - 32) * 2.0 / 50, (1.5 - 24) * 2.0 / 50, 2.0])
    assert cloud[-1].tolist() == pytest.approx([(63.5 - 32) * 2.0 / 50, (47.5 - 24) * 2.0 / 50, 2.0])


def test_point_cloud_with_integer_pixel_indices_matches_the_original(truth):
    client = LocalToolClient([DepthOracle(pixel_centers=False)])
    client.open_episode(episode(truth))
    result = client.call("depth_estimator.estimate_depth_with_pointcloud", {"image_index": 0})
    cloud = result.variables["point_cloud"]
    assert cloud[0].tolist() == pytest.approx([(4 - 32) * 2.0 / 50, (1 - 24) * 2.0 / 50, 2.0])


def test_depth_results_are_cached_read_only_and_released_with_the_truth():
    toolset = DepthOracle()
    client = LocalToolClient([toolset])
    truth = small_truth()
    client.open_episode(episode(truth))
    first = client.call("depth_estimator.estimate_depth_with_pointcloud", {"image_index": 0})
    second = client.call("depth_estimator.estimate_depth_with_pointcloud", {"image_index": 0})
    assert first.variables["point_cloud"] is second.variables["point_cloud"]
    with pytest.raises(ValueError, match="read-only"):
        first.variables["depth_map"][0, 0] = 1.0
    assert len(toolset._cache) == 1
    client.close()
    del truth, first, second
    gc.collect()
    assert len(toolset._cache) == 0


def test_a_used_client_pickles_with_its_caches_emptied(session):
    session("depth_estimator.estimate_depth_with_pointcloud", image_index=0)
    session("sam2.segment_from_point", x=0.609, y=0.625, image_index=0)
    box = session("bounding_box.compute_bbox", **BBOX_ARGS)
    clone = pickle.loads(pickle.dumps(session.client))
    arguments = session.store.resolve(BBOX_ARGS)
    assert clone.call("bounding_box.compute_bbox", arguments).text == box.text


# ----------------------------------------------------------------------------- segmentation
def test_segment_from_point_text_and_mask(session, truth):
    result = session("sam2.segment_from_point", x=0.28, y=0.55, image_index=0)
    assert result.text == (
        "Segmented object at normalized coords (0.280, 0.550) with IoU score: 1.000. "
        "Use $segmentation_mask (boolean array, 48x64) to reference it."
    )
    mask = result.variables["segmentation_mask"]
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, truth.segmentation == MUG)


def test_segment_from_points_takes_the_segment_most_points_hit(session, truth):
    result = session("sam2.segment_from_points", points=[[0.6, 0.6], [0.2, 0.5], [0.25, 0.6]], image_index=0)
    assert result.text == (
        "Segmented object using 3 normalized points with best IoU score: 1.000. "
        "Use $segmentation_mask (boolean array, 48x64) to reference it."
    )
    np.testing.assert_array_equal(result.variables["segmentation_mask"], truth.segmentation == MUG)
    tie = session("sam2.segment_from_points", points=[(0.6, 0.6), (0.2, 0.5)], image_index=0)
    assert tie.data["label"] == RED_CUBE  # ties go to the segment hit first


def test_segment_at_the_image_edge_clamps_to_the_last_pixel(session):
    result = session("sam2.segment_from_point", x=1.0, y=1.0, image_index=0)
    assert result.ok and result.data["label"] == 0


# ----------------------------------------------------------------------------- index_at
def test_index_at_reads_stored_depth_with_original_number_formatting(session):
    session("depth_estimator.estimate_depth", image_index=0)
    result = session("vision_ops.index_at", data="$depth_map", u=0.28, v=0.55)
    assert result.text == "Pixel value at (0.280, 0.550) is 1.2000000476837158"
    assert result.data["pixel"] == (17, 26)
    assert result.variables == {}
    corner = session("vision_ops.index_at", data="$depth_map", u=1.0, v=1.0)
    assert corner.text == "Pixel value at (1.000, 1.000) is 2.0"
    sky = session("vision_ops.index_at", data="$depth_map", u=0.5, v=0.0)
    assert sky.text == "Pixel value at (0.500, 0.000) is inf"


def test_index_at_reads_masks_and_multichannel_arrays(session):
    session("sam2.segment_from_point", x=0.28, y=0.55, image_index=0)
    assert session("vision_ops.index_at", data="$segmentation_mask", u=0.28, v=0.55).text.endswith("is True")
    image = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    result = session("vision_ops.index_at", data=image, u=0.9, v=0.1)
    assert result.text == "Pixel value at (0.900, 0.100) is [3, 4, 5]"


# ----------------------------------------------------------------------------- bounding box
def render_box_on_table(width=320, height=240, focal=400.0):
    """Ray-cast a cuboid standing on a table, seen from above at 35 degrees; exact depth per pixel.

    Rays go through pixel centres (as the synthetic world renders). Returns the truth and the
    box's 8 true corners (camera frame).
    """
    pitch = np.deg2rad(35.0)
    up = np.array([0.0, -np.cos(pitch), -np.sin(pitch)])  # world up in the OpenCV camera frame
    cam_height = 0.8
    cols, rows = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    rays = np.stack([(cols - width / 2) / focal, (rows - height / 2) / focal, np.ones_like(cols)], axis=-1)
    with np.errstate(divide="ignore"):
        t_table = -cam_height / (rays @ up)
    t_table[t_table <= 0] = np.inf
    # Box: 0.20 x 0.14 x 0.12 m, yawed 30 degrees, standing where the optical axis meets the table.
    forward = np.array([0.0, 0.0, 1.0]) - up * up[2]
    forward /= np.linalg.norm(forward)
    side = np.cross(up, forward)
    yaw = np.deg2rad(30.0)
    axis_a = np.cos(yaw) * side + np.sin(yaw) * forward
    axis_b = np.cross(up, axis_a)
    rotation = np.stack([axis_a, axis_b, up], axis=1)
    extents = np.array([0.20, 0.14, 0.12])
    ground = np.array([0.0, 0.0, cam_height / np.sin(pitch)])
    center = ground + up * extents[2] / 2 + side * 0.03
    local_origin = rotation.T @ (-center)
    local_rays = rays @ rotation
    with np.errstate(divide="ignore", invalid="ignore"):
        t1 = (-extents / 2 - local_origin) / local_rays
        t2 = (extents / 2 - local_origin) / local_rays
    t_near = np.minimum(t1, t2).max(axis=-1)
    t_far = np.maximum(t1, t2).min(axis=-1)
    hit = (t_far >= t_near) & (t_near > 0)
    t_box = np.where(hit, t_near, np.inf)
    on_box = t_box < t_table
    depth = np.where(on_box, t_box, t_table).astype(np.float32)  # ray z = 1, so t is the depth
    seg = np.where(on_box, 1, 0).astype(np.int32)
    box = Referent("box", on_box, (0.5, 0.5), category="box")
    signs = np.array(list(itertools.product((-1, 1), repeat=3)), dtype=float)
    corners = center + (signs * extents / 2) @ rotation.T
    truth = GroundTruth(depth=depth, focal_length_px=focal, segmentation=seg, referents=(box,))
    return truth, corners


def test_compute_bbox_recovers_a_rendered_cuboid_through_the_tool_chain():
    truth, true_corners = render_box_on_table()
    session = Session(make_client(), truth)
    ys, xs = np.nonzero(truth.segmentation == 1)
    x, y = (xs.mean() + 0.5) / 320, (ys.mean() + 0.5) / 240

    session("depth_estimator.estimate_depth_with_pointcloud", image_index=0)
    session("sam2.segment_from_point", x=float(x), y=float(y), image_index=0)
    result = session("bounding_box.compute_bbox", **BBOX_ARGS)

    assert result.ok, result.text
    corners = result.variables["obb_corners_3d"]
    errors = np.linalg.norm(true_corners[:, None] - corners[None], axis=2).min(axis=1)
    assert errors.max() < 0.01  # every true corner within 1 cm of a found corner
    assert sorted(result.data["extent"]) == pytest.approx([0.12, 0.14, 0.20], abs=0.01)
    np.testing.assert_allclose(result.variables["obb_corners_2d"], project(corners, 400.0, 320, 240))
    assert result.variables["edges"] == list(BOX_EDGES)
    # Bottom face first: corner i + 4 is straight above corner i (world up, seen from the tilted camera).
    vertical = corners[4:] - corners[:4]
    world_up = np.array([0.0, -np.cos(np.deg2rad(35.0)), -np.sin(np.deg2rad(35.0))])
    cosines = (vertical / np.linalg.norm(vertical, axis=1, keepdims=True)) @ world_up
    assert cosines == pytest.approx([1.0] * 4, abs=1e-3)


def test_compute_bbox_reuses_the_projection_of_a_stored_cloud_only(truth):
    toolsets = oracle_toolsets()
    box_tools = next(t for t in toolsets if isinstance(t, BoundingBoxOracle))
    session = Session(LocalToolClient(toolsets), truth)
    session("depth_estimator.estimate_depth_with_pointcloud", image_index=0)
    session("sam2.segment_from_point", x=0.609, y=0.625, image_index=0)
    first = session("bounding_box.compute_bbox", **BBOX_ARGS)
    second = session("bounding_box.compute_bbox", **BBOX_ARGS)
    assert first.text == second.text and len(box_tools._projections) == 1
    writable = np.array(session.store["point_cloud"])  # may change later: never cached
    third = session("bounding_box.compute_bbox", **{**BBOX_ARGS, "point_cloud": writable})
    assert third.text == first.text and len(box_tools._projections) == 1


def test_compute_bbox_text_template(session):
    session("depth_estimator.estimate_depth_with_pointcloud", image_index=0)
    session("sam2.segment_from_point", x=0.609, y=0.625, image_index=0)
    result = session("bounding_box.compute_bbox", **BBOX_ARGS)
    corners = np.around(result.variables["obb_corners_3d"], 3) + 0.0
    corners_2d = np.around(result.variables["obb_corners_2d"], 3) + 0.0
    extent = np.around(result.data["extent"], 3) + 0.0
    assert result.text == (
        "Oriented bounding box computed from 120/3004 points."
        f"Corners in 3D: {corners.tolist()}\n"
        f"Corners in normalized image coordinates: {corners_2d.tolist()}\n"
        "Edges: [(0, 1), (1, 2), (2, 3), (3, 0), (4, 5), (5, 6), (6, 7), (7, 4), "
        "(0, 4), (1, 5), (2, 6), (3, 7)]\n"
        f"Extent: {extent.tolist()}\n"
        f"Volume: {result.data['volume']:.3f}\n"
    )
    assert "-0.0," not in result.text
    # A fronto-parallel face alone gives a flat box: zero thickness along the view direction.
    assert sorted(extent.tolist())[0] == 0.0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"point_cloud": "point_cloud"},
         "point_cloud must be Nx3 numpy array, got str. Did you use the $ syntax"),
        ({"point_cloud": np.zeros((5, 2))},
         "point_cloud must be Nx3 numpy array, got array with shape (5, 2)"),
        ({"point_cloud": 3.0}, "point_cloud must be Nx3 numpy array, got float"),
        ({"mask": "segmentation_mask"}, "mask must be numpy array, got str. Did you use the $ syntax"),
        ({"mask": np.ones(10, bool)}, "mask must be a 2-D (H, W) boolean array such as $segmentation_mask"),
        ({"focal_length_px": "f"}, "focal_length_px must be a number such as $focal_length_px, got str"),
        ({"focal_length_px": -3.0}, "focal_length_px must be a positive number of pixels, got -3.0"),
        ({"mask": np.zeros((48, 64), bool)}, "Mask removed all points (total 3004, kept 0)"),
        ({"mask": np.pad(np.ones((1, 2), bool), ((30, 17), (30, 32)))}, "Only 2 of 3004 points fall inside"),
    ],
)
def test_compute_bbox_input_errors_teach_the_fix(session, truth, arguments, message):
    session("depth_estimator.estimate_depth_with_pointcloud", image_index=0)
    session("sam2.segment_from_point", x=0.28, y=0.55, image_index=0)
    result = session("bounding_box.compute_bbox", **{**BBOX_ARGS, **arguments})
    assert not result.ok
    assert result.text.startswith("Error: ")
    assert message in result.text


# ----------------------------------------------------------------------------- call errors
@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("roborefer.detect_one", {"obj_name": "mug", "image_index": 0, "color": "red"},
         "roborefer.detect_one got unexpected argument(s) ['color']; it takes ['obj_name', 'image_index']"),
        ("roborefer.detect_one", {"obj_name": "mug"},
         "roborefer.detect_one is missing required argument 'image_index'"),
        ("roborefer.detect_one", {"obj_name": "mug", "image_index": "0"},
         "argument 'image_index' must be an integer"),
        ("roborefer.detect_one", {"obj_name": 5, "image_index": 0}, "argument 'obj_name' must be a string"),
        ("depth_estimator.estimate_depth", {"image_index": 2}, "image_index 2 is out of range"),
        ("sam2.segment_from_point", {"x": 1.5, "y": 0.5, "image_index": 0},
         "Coordinates (1.5, 0.5) must be in range [0, 1]"),
        ("sam2.segment_from_points", {"points": [(0.5, 0.5), (0.2, -0.1)], "image_index": 0},
         "Point 1 (0.2, -0.1) must be in range [0, 1]"),
        ("sam2.segment_from_points", {"points": [], "image_index": 0}, "At least one point must be provided"),
        ("sam2.segment_from_points", {"points": [(0.5,)], "image_index": 0}, "must have 2 items, got 1"),
        ("vision_ops.index_at", {"data": np.arange(5.0), "u": 0.5, "v": 0.5},
         "data must be a 2-D array such as $depth_map, got an array of shape (5,)"),
        ("vision_ops.index_at", {"data": "depth_map", "u": 0.5, "v": 0.5},
         "data must be a 2-D array such as $depth_map, got str"),
        ("vision_ops.index_at", {"data": np.ones((4, 4)), "u": 1.2, "v": 0.5}, "u must be in [0, 1]"),
        ("vision_ops.index_at", {"data": np.ones((4, 4)), "u": 0.5, "v": -0.01}, "v must be in [0, 1]"),
        ("roborefer.detect", {"obj_name": "mug", "image_index": 0}, "Did you mean 'roborefer.detect_one'?"),
    ],
)
def test_bad_calls_return_errors_the_model_can_learn_from(session, name, arguments, message):
    result = session.client.call(name, arguments)
    assert not result.ok
    assert result.text.startswith("Error: ")
    assert message in result.text


def test_undefined_variable_is_reported_with_the_stored_names(session):
    from tool_backends import ToolError

    with pytest.raises(ToolError, match=r"variable \$point_cloud is not defined"):
        session.store.resolve({"point_cloud": "$point_cloud"})


def test_missing_ground_truth_is_reported_to_the_model_not_raised():
    client = make_client()
    client.open_episode(EpisodeContext(images=(np.zeros((4, 4, 3), np.uint8),), truth=(None,)))
    result = client.call("roborefer.detect_one", {"obj_name": "mug", "image_index": 0})
    assert not result.ok and "has no ground truth for image 0" in result.text
    assert "model or replay tool backend" in result.text


# ----------------------------------------------------------------------------- noise
def _noisy_texts(seed: int, noise: dict[str, ToolNoise], calls: int = 30) -> list[str]:
    session = Session(make_client(noise=noise), small_truth(), seed=seed)
    return [session("roborefer.detect_all", obj_name="cube", image_index=0).text for _ in range(calls)]


def test_noise_replays_exactly_for_a_seed_and_differs_across_seeds():
    noise = {"roborefer": ToolNoise(failure_rate=0.3, point_sigma=0.02)}
    assert _noisy_texts(7, noise) == _noisy_texts(7, noise)
    assert _noisy_texts(7, noise) != _noisy_texts(8, noise)
    exact = _noisy_texts(7, {})
    assert len(set(exact)) == 1


def test_pointing_failures_find_nothing_or_a_wrong_referent(truth):
    session = Session(make_client(noise={"roborefer.detect_one": ToolNoise(failure_rate=1.0)}), truth)
    texts = {session("roborefer.detect_one", obj_name="red mug", image_index=0).text for _ in range(40)}
    assert "Detected 0 instance(s) of 'red mug': []" in texts
    assert "Detected 1 instance(s) of 'red mug': [(0.609, 0.625)]" in texts  # pointed at the red cube
    assert "Detected 1 instance(s) of 'red mug': [(0.28, 0.55)]" not in texts
    # Namespace noise does not leak into the other namespace.
    assert session("vlm.detect_one", obj_name="red mug", image_index=0).data["points"] == [(0.28, 0.55)]


def test_point_jitter_has_the_configured_spread(truth):
    session = Session(make_client(noise={"vlm": ToolNoise(point_sigma=0.01)}), truth)
    points = np.array([session("vlm.detect_one", obj_name="mug", image_index=0).data["points"][0]
                       for _ in range(300)])
    assert points.mean(axis=0) == pytest.approx([0.28, 0.55], abs=0.003)
    assert points.std(axis=0) == pytest.approx([0.01, 0.01], rel=0.2)


def test_depth_failure_misjudges_focal_length_and_scales_depth_consistently(truth):
    session = Session(make_client(noise={"depth_estimator": ToolNoise(failure_rate=1.0)}), truth)
    result = session("depth_estimator.estimate_depth", image_index=0)
    scale = result.variables["focal_length_px"] / FOCAL
    assert 0.65 <= scale <= 0.85 or 1.2 <= scale <= 1.5
    np.testing.assert_allclose(result.variables["depth_map"], truth.depth * scale, rtol=1e-6)
    assert result.text.startswith("Estimated depth map for 64x48 image. Focal length: ")


def test_depth_sigma_is_relative_multiplicative_noise(truth):
    noise = {"depth_estimator.estimate_depth": ToolNoise(depth_sigma=0.05)}
    session = Session(make_client(noise=noise), truth)
    depth = session("depth_estimator.estimate_depth", image_index=0).variables["depth_map"]
    ratio = depth[2:] / truth.depth[2:]
    assert np.log(ratio).std() == pytest.approx(0.05, rel=0.1)
    assert np.isinf(depth[0]).all()


def test_segmentation_failure_returns_the_neighbouring_segment(truth):
    session = Session(make_client(noise={"sam2": ToolNoise(failure_rate=1.0)}), truth)
    result = session("sam2.segment_from_point", x=0.28, y=0.55, image_index=0)
    assert result.data["label"] == 0  # the wall around the mug
    assert 0.70 <= result.data["iou_score"] < 0.95
    pattern = r"Segmented object at normalized coords \(0\.280, 0\.550\) with IoU score: 0\.\d{3}\. Use .*"
    assert re.fullmatch(pattern, result.text)


def test_mask_erosion_reproduces_the_original_7x7_kernel(truth):
    session = Session(make_client(noise={"sam2": ToolNoise(mask_erode_px=3)}), truth)
    mask = session("sam2.segment_from_point", x=0.28, y=0.55, image_index=0).variables["segmentation_mask"]
    expected = np.zeros_like(mask)
    expected[23:29, 13:21] = True  # 12x14 block shrunk by 3 px on every side
    np.testing.assert_array_equal(mask, expected)


@pytest.mark.parametrize(
    ("noise", "message"),
    [
        ({"vision_ops": ToolNoise(failure_rate=0.1)},
         "'vision_ops' computes exactly on its inputs and takes no noise"),
        ({"bounding_box.compute_bbox": ToolNoise()}, "takes no noise"),
        ({"roborefr": ToolNoise()}, "noise key 'roborefr' names no oracle tool"),
        ({"sam2": 0.1}, "must be a ToolNoise or a dict of its fields"),
        ({"sam2": {"sigma": 0.1}}, "noise for 'sam2'"),
    ],
)
def test_noise_configuration_errors(noise, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        oracle_toolsets(noise=noise)


def test_noise_accepts_plain_dicts_from_config_files(truth):
    session = Session(make_client(noise={"sam2": {"mask_erode_px": 3}}), truth)
    mask = session("sam2.segment_from_point", x=0.28, y=0.55, image_index=0).variables["segmentation_mask"]
    assert mask.sum() == 6 * 8


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"failure_rate": 1.5}, "probability in [0, 1]"),
        ({"point_sigma": -0.1}, "must be >= 0"),
        ({"depth_sigma": float("nan")}, "finite number"),
        ({"mask_erode_px": 2.5}, "non-negative integer"),
    ],
)
def test_tool_noise_validates_its_fields(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ToolNoise(**kwargs)


# ----------------------------------------------------------------------------- backends
def test_make_client_default_and_phase1_tool_sets():
    assert [s.name for s in make_client().specs] == list(DEFAULT_TOOLS)
    assert [s.name for s in make_client(tools=PHASE1_TOOLS).specs] == ["roborefer.detect_one"]


def test_make_client_unknown_backend_lists_the_available_ones():
    with pytest.raises(ValueError, match=re.escape("Unknown tool backend 'sam'; available: ['oracle']")):
        make_client("sam")
    with pytest.raises(ValueError, match="unknown tool"):
        make_client(tools=["sam2.segment"])
