"""BOP dataset folders read natively (``SpaceTools-BOPScenes-Pose-v0``), on a tiny self-built scene."""

from __future__ import annotations

import json
import pickle
import shutil
from dataclasses import replace

import gymnasium as gym
import numpy as np
import pytest
from fixtures_bop import (
    BACKGROUND_MM,
    BOX,
    ITEM0_CORNERS,
    ITEM0_NAME,
    REGIONS,
    RENDER_CAM_K,
    RENDER_HEIGHT,
    RENDER_ROTATION,
    RENDER_TRANSLATION,
    RENDER_WIDTH,
    build_bop,
    build_rendered_bop,
    scene_camera,
    scene_gt,
)

import spacetools_env
from spacetools_env import testing
from spacetools_env.loaders import BenchmarkDataNotFoundError, CorruptFileError, CorruptRowError
from spacetools_env.loaders.bop_format import project_boxes
from spacetools_env.loaders.bop_release import bop_dataset
from spacetools_env.scoring import extract_bop_points, score_pose_iou
from spacetools_env.tasks.bench_bop_native import bop_scenes
from tool_backends import EpisodeContext, GroundTruth, make_client
from tool_backends.geometry import backproject, convex_hull_2d, convex_polygon_iou, image_pixels_of_points, project

ENV_ID = "SpaceTools-BOPScenes-Pose-v0"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("bop")
    build_bop(root)
    return str(root)


pytestmark = pytest.mark.usefixtures("no_outside_data")


def _source(data_dir: str, **kwargs):
    return gym.make(ENV_ID, data_dir=data_dir, **kwargs).unwrapped.source


def _step_calls(env: gym.Env, calls: list[dict]) -> list[dict]:
    text = "".join(f"<tool_call>{json.dumps(c)}</tool_call>" for c in calls)
    _, _, terminated, _, info = env.step(text)
    assert not terminated
    return info["tool_results"]


def test_registered_as_needing_data_with_default_split_test():
    assert ENV_ID in spacetools_env.registered_ids(needs_data=True)
    assert gym.spec(ENV_ID).kwargs["split"] == "test"
    assert "Version history" in spacetools_env.get_family("BOPScenesPose").description


# ---------------------------------------------------------------------------- conformance kit
@pytest.mark.parametrize("check", testing.ALL_CHECKS, ids=lambda c: c.__name__)
def test_conformance(check, data_dir):
    check(ENV_ID, data_dir=data_dir)


# ---------------------------------------------------------------------------- items
def test_item_corners_match_the_hand_computed_projection(data_dir):
    item = _source(data_dir).get("test", 0)
    assert item.ground_truth == ITEM0_CORNERS
    assert item.item_id == "bop-ycbv/test/0" and item.images[0].shape == (24, 32, 3)
    assert f"cuboid corners for the {ITEM0_NAME}? Your answer should be" in item.question
    assert item.question.startswith("What are the eight normalized (x, y) image coordinates between 0 and 1")
    meta = item.meta
    assert (meta["scene_id"], meta["im_id"], meta["gt_id"], meta["obj_id"]) == (1, 0, 0, 3)
    assert meta["question_type"] == "pose" and meta["data_source"] == "BOP/ycbv/test"
    assert meta["source_index"] == "000001/000000/000000" and meta["visib_fract"] == 0.9


def test_one_item_per_visible_modelled_instance_and_one_split_per_folder(data_dir):
    source = _source(data_dir)
    assert source.num_items("test") == 3 and source.num_items("val") == 1 and source.validate() == 4
    items = [source.get("test", k) for k in range(3)]
    keys = [(i.meta["im_id"], i.meta["gt_id"], i.meta["target"]) for i in items]
    assert keys == [(0, 0, "leftmost sugar box"), (0, 1, "rightmost sugar box"), (1, 0, "sugar box")]
    val = source.get("val", 0)
    assert val.truth == (None,), "no depth/ and no mask_visib/: no oracle truth"
    assert val.ground_truth == ITEM0_CORNERS, "same pose and camera, read from a .jpg scene without gt_info"
    with pytest.raises(ValueError, match=r"unknown split 'train_pbr'.*splits: \['test', 'val'\]"):
        source.num_items("train_pbr")


def test_names_come_from_the_argument_then_models_info_then_the_dataset_list(tmp_path):
    build_bop(tmp_path, models={"3": {**BOX, "name": "tea box"}})
    item = _source(str(tmp_path)).get("test", 0)
    assert item.meta["target"] == "leftmost tea box"
    assert [r.name for r in item.truth[0].referents] == ["leftmost tea box", "rightmost tea box", "cracker box"]
    item = _source(str(tmp_path), source=bop_scenes(names={3: "juice carton"})).get("test", 2)
    assert item.meta["target"] == "juice carton"
    shutil.move(tmp_path / "ycbv", tmp_path / "tiny")
    (tmp_path / "tiny" / "models" / "models_info.json").write_text(json.dumps({"3": BOX}))
    item = _source(str(tmp_path), source=bop_scenes("tiny")).get("test", 0)
    assert item.meta["target"] == "leftmost object 3" and item.item_id == "bop-tiny/test/0"
    assert "object 2" in [r.name for r in item.truth[0].referents]


# ---------------------------------------------------------------------------- source_options
@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The fixture as BOP dataset ``tiny`` (no ycbv folder: only source_options can reach it)."""
    root = tmp_path_factory.mktemp("bop-tiny")
    build_bop(root, dataset="tiny")
    return str(root)


TINY = {"dataset": "tiny", "names": {"3": "juice carton"}}


def test_source_options_choose_the_dataset_and_names_at_make(tiny_dir):
    env = gym.make(ENV_ID, data_dir=tiny_dir, source_options=TINY)
    env.reset(options={"index": 0})
    item = env.unwrapped.item
    assert item.item_id == "bop-tiny/test/0" and item.meta["target"] == "leftmost juice carton"
    assert item.meta["data_source"] == "BOP/tiny/test" and item.ground_truth == ITEM0_CORNERS
    assert env.unwrapped.config.source_options == TINY
    with pytest.raises(BenchmarkDataNotFoundError, match="bop-benchmark/ycbv"):
        gym.make(ENV_ID, data_dir=tiny_dir).reset(seed=0)


@pytest.mark.parametrize("check", [testing.check_determinism, testing.check_pickle_roundtrip], ids=lambda c: c.__name__)
def test_source_options_keep_determinism_and_pickling(check, tiny_dir):
    check(ENV_ID, data_dir=tiny_dir, source_options=TINY)
    env = gym.make(ENV_ID, data_dir=tiny_dir, source_options=TINY)
    env.reset(seed=5)
    clone = pickle.loads(pickle.dumps(env))
    clone.reset(seed=5)
    assert clone.unwrapped.item.meta["target"] == env.unwrapped.item.meta["target"]
    assert clone.unwrapped.source.dataset.folder == "tiny"


def test_unknown_source_option_names_the_option_and_what_the_factory_accepts(tiny_dir):
    with pytest.raises(ValueError) as caught:
        gym.make(ENV_ID, data_dir=tiny_dir, source_options={"datset": "tiny"})
    assert str(caught.value) == (
        "source_options: unknown option 'datset' for the item source bop_scenes_source; "
        "it accepts ['dataset', 'names']. Did you mean 'dataset'?"
    )
    with pytest.raises(ValueError, match=r"option 'build' is fixed by this id's item source bop_scenes_source"):
        gym.make(ENV_ID, source_options={"build": "x"})
    with pytest.raises(ValueError, match=r"unknown option 'dataset' for the item source spacetools_eval_source; "
                                         r"it accepts no options"):
        gym.make("SpaceTools-BOP-Pose-v0", source_options={"dataset": "lmo"})
    with pytest.raises(ValueError, match=r"come from the synthetic world, which takes none"):
        gym.make("SpaceTools-Synth-BoxPose-v0", source_options={"dataset": "lmo"})


@pytest.mark.parametrize(("options", "message"), [
    ({"dataset": "../etc"}, "BOP dataset must be a folder name"),
    ({"names": {"ape": "x"}}, "names must be a mapping of BOP object ids to names"),
    ({"names": ["ape"]}, "names must be a mapping of BOP object ids to names"),
    ({"dataset": object()}, r"source_options must hold JSON values only"),
    ({1: "x"}, r"source_options must be a mapping of option names \(str\)"),
])
def test_bad_source_options_are_rejected_at_make(options, message):
    with pytest.raises(ValueError, match=message):
        gym.make(ENV_ID, source_options=options)


def test_models_info_is_found_at_the_dataset_root_too(tmp_path):
    build_bop(tmp_path, models_at="models_info.json")
    assert _source(str(tmp_path)).get("test", 0).ground_truth == ITEM0_CORNERS


# ---------------------------------------------------------------------------- scoring
def test_answer_scores_one_and_garbage_zero(data_dir):
    env = gym.make(ENV_ID, data_dir=data_dir)
    corners = extract_bop_points(ITEM0_CORNERS)
    shuffled = "[" + ", ".join(f"({x}, {y})" for x, y in corners[::-1]) + "]"
    for answer, expected in ((ITEM0_CORNERS, 1.0), (shuffled, 1.0), ("[(0.5, 0.5)]", 0.0), ("zzz", 0.0),
                             (str(corners[:7]), 0.0)):
        env.reset(options={"index": 0})
        _, _, terminated, _, info = env.step(f"<answer>{answer}</answer>")
        assert terminated and info["score"] == expected, answer
    family = spacetools_env.get_family("BOPScenesPose")
    item = env.unwrapped.item
    assert family.score(family.counterexample(item), item) == 0.0


# ---------------------------------------------------------------------------- oracle tools
def test_depth_masks_and_focal_length_become_oracle_truth(data_dir):
    truth = _source(data_dir).get("test", 0).truth[0]
    rows, cols, mm = REGIONS[(0, 0)]
    assert truth.focal_length_px == 40.0 and truth.size == (32, 24)
    assert np.allclose(truth.depth[rows, cols], mm / 1000) and truth.depth[23, 0] == pytest.approx(BACKGROUND_MM / 1000)
    assert np.isinf(truth.depth[0, 0]), "0 = no reading"
    assert np.all(truth.segmentation[rows, cols] == 1) and truth.segmentation[REGIONS[(0, 2)][:2]].max() == 3
    assert truth.segmentation[0, 0] == 0


def test_pointing_segmentation_and_depth_tools_answer_from_the_bop_folder(data_dir):
    env = gym.make(ENV_ID, data_dir=data_dir)
    env.reset(options={"index": 0})
    point, segment, depth, value = _step_calls(env, [
        {"name": "roborefer.detect_one", "arguments": {"obj_name": ITEM0_NAME, "image_index": 0}},
        {"name": "sam2.segment_from_point", "arguments": {"x": 0.5, "y": 0.4, "image_index": 0}},
        {"name": "depth_estimator.estimate_depth", "arguments": {"image_index": 0}},
        {"name": "vision_ops.index_at", "arguments": {"data": "$depth_map", "u": 0.5, "v": 0.4}},
    ])
    assert all(r["ok"] for r in (point, segment, depth, value)), [r["text"] for r in (point, segment, depth, value)]
    assert point["data"]["referents"] == [ITEM0_NAME]
    x, y = point["data"]["points"][0]
    rows, cols, mm = REGIONS[(0, 0)]
    assert cols.start / 32 <= x <= cols.stop / 32 and rows.start / 24 <= y <= rows.stop / 24
    mask = np.zeros((24, 32), dtype=bool)
    mask[rows, cols] = True
    assert np.array_equal(segment["data"]["mask"], mask)
    assert depth["data"]["focal_length_px"] == 40.0 and value["data"]["value"] == pytest.approx(mm / 1000)


def test_the_3d_box_tool_chain_recovers_the_visible_face(data_dir):
    env = gym.make(ENV_ID, data_dir=data_dir)
    env.reset(options={"index": 0})
    box = _step_calls(env, [
        {"name": "sam2.segment_from_point", "arguments": {"x": 0.5, "y": 0.4, "image_index": 0}},
        {"name": "depth_estimator.estimate_depth_with_pointcloud", "arguments": {"image_index": 0}},
        {"name": "bounding_box.compute_bbox", "arguments": {
            "point_cloud": "$point_cloud", "mask": "$segmentation_mask", "focal_length_px": "$focal_length_px"}},
    ])[-1]
    assert box["ok"], box["text"]
    corners = box["text"].split("Corners in normalized image coordinates: ")[1].split("\n")[0]
    # Only the front face is visible (a flat cloud): its box covers most of the true hull.
    assert score_pose_iou(corners, ITEM0_CORNERS) > 0.6


# ---------------------------------------------------------------------------- principal point
def test_truth_carries_the_cam_k_principal_point_in_pixel_centre_coordinates(data_dir, tmp_path):
    assert _source(data_dir).get("test", 0).truth[0].principal_point == (16.5, 12.5), "cam_K (16, 12) + 0.5"
    build_rendered_bop(tmp_path)
    truth = _source(str(tmp_path)).get("test", 0).truth[0]
    assert truth.principal_point == (RENDER_CAM_K[2] + 0.5, RENDER_CAM_K[5] + 0.5)
    assert truth.principal_point_px == truth.principal_point
    assert replace(truth, principal_point=None).principal_point_px == (RENDER_WIDTH / 2, RENDER_HEIGHT / 2)
    with pytest.raises(ValueError, match=r"principal_point must be None or two finite pixel coordinates"):
        replace(truth, principal_point=(1.0, float("nan")))


def test_no_principal_point_is_bit_identical_to_the_image_centre():
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 3.0, (24, 32)).astype(np.float32)
    centre = (16.0, 12.0)
    cloud = backproject(depth, 40.0, pixel_offset=0.5).reshape(-1, 3)
    assert np.array_equal(cloud, backproject(depth, 40.0, *centre, pixel_offset=0.5).reshape(-1, 3))
    assert np.array_equal(project(cloud, 40.0, 32, 24), project(cloud, 40.0, 32, 24, centre))
    for a, b in zip(image_pixels_of_points(cloud, 40.0, 32, 24), image_pixels_of_points(cloud, 40.0, 32, 24, centre),
                    strict=True):
        assert np.array_equal(a, b)
    shifted = backproject(depth, 40.0, 20.0, 9.0, pixel_offset=0.5).reshape(-1, 3)
    index, flat = image_pixels_of_points(shifted, 40.0, 32, 24, (20.0, 9.0))
    assert np.array_equal(index, np.arange(32 * 24)) and np.array_equal(flat, np.arange(32 * 24)), "round trip"


def _box_chain(images: tuple, truth: GroundTruth) -> dict:
    """segment_from_point -> estimate_depth_with_pointcloud -> compute_bbox on one image, through the oracle."""
    client = make_client("oracle")
    client.open_episode(EpisodeContext(images, (truth,), seed=0))
    x, y = truth.referents[0].point
    mask = client.call("sam2.segment_from_point", {"x": x, "y": y, "image_index": 0}).variables["segmentation_mask"]
    depth = client.call("depth_estimator.estimate_depth_with_pointcloud", {"image_index": 0}).variables
    box = client.call("bounding_box.compute_bbox", {"point_cloud": depth["point_cloud"], "mask": mask,
                                                    "focal_length_px": depth["focal_length_px"]})
    assert box.ok, box.text
    return box.data


def _box_iou_3d(a: np.ndarray, b: np.ndarray, samples: int = 60) -> float:
    """IoU of two boxes given as box_corners-ordered (8, 3) corners, on a grid over both."""
    lo, hi = np.vstack([a, b]).min(axis=0), np.vstack([a, b]).max(axis=0)
    axes = [np.linspace(lo[k], hi[k], samples) for k in range(3)]
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)

    def inside(c: np.ndarray) -> np.ndarray:
        edges = np.stack([c[1] - c[0], c[3] - c[0], c[4] - c[0]])
        along = (points - c[0]) @ edges.T / (edges**2).sum(axis=1)
        return np.all((along >= 0) & (along <= 1), axis=1)

    ia, ib = inside(a), inside(b)
    return float((ia & ib).sum() / (ia | ib).sum())


def test_the_3d_box_chain_is_exact_with_the_off_centre_principal_point(tmp_path):
    build_rendered_bop(tmp_path)
    item = _source(str(tmp_path)).get("test", 0)
    truth = item.truth[0]
    box_min = np.array([[BOX["min_x"], BOX["min_y"], BOX["min_z"]]])
    box_size = np.array([[BOX["size_x"], BOX["size_y"], BOX["size_z"]]])
    true_3d, true_2d = (a[0] for a in project_boxes(
        box_min, box_size, np.array(RENDER_ROTATION).reshape(1, 3, 3), np.array([RENDER_TRANSLATION]),
        np.array(RENDER_CAM_K).reshape(1, 3, 3), (RENDER_WIDTH, RENDER_HEIGHT)))
    # The tools' normalized frame has pixel centres at (i + 0.5) / W; the answer's (notes section 9) at i / W.
    true_2d_tools = true_2d + 0.5 / np.array([RENDER_WIDTH, RENDER_HEIGHT])
    results = {}
    for name, camera in (("principal point", truth), ("image centre", replace(truth, principal_point=None))):
        data = _box_chain(item.images, camera)
        corners_3d, corners_2d = data["corners_3d"], data["corners_2d"]
        corner_error_mm = 1000 * np.linalg.norm(corners_3d[:, None] - true_3d[None], axis=2).min(axis=1).mean()
        iou_2d = convex_polygon_iou(convex_hull_2d(corners_2d), convex_hull_2d(true_2d_tools))
        results[name] = (_box_iou_3d(corners_3d, true_3d), corner_error_mm, iou_2d)
    iou_3d, error_mm, iou_2d = results["principal point"]
    old_iou_3d, old_error_mm, old_iou_2d = results["image centre"]
    # Measured: 3D IoU 0.93 vs 0.00, corners 0.4 mm vs 15 mm off, 2D hull IoU 0.971 vs 0.962.
    assert iou_3d > 0.9 and error_mm < 1.0, results
    assert old_iou_3d < 0.1 and old_error_mm > 10.0, results
    assert iou_2d > old_iou_2d and iou_2d > 0.96, results
    env = gym.make(ENV_ID, data_dir=str(tmp_path))
    env.reset(options={"index": 0})
    box = _step_calls(env, [
        {"name": "sam2.segment_from_point", "arguments": {"x": truth.referents[0].point[0],
                                                         "y": truth.referents[0].point[1], "image_index": 0}},
        {"name": "depth_estimator.estimate_depth_with_pointcloud", "arguments": {"image_index": 0}},
        {"name": "bounding_box.compute_bbox", "arguments": {
            "point_cloud": "$point_cloud", "mask": "$segmentation_mask", "focal_length_px": "$focal_length_px"}},
    ])[-1]
    assert box["ok"] and np.allclose(box["data"]["corners_3d"], _box_chain(item.images, truth)["corners_3d"])


# ---------------------------------------------------------------------------- errors
def test_missing_scene_camera_entry_names_the_file_and_image(tmp_path):
    camera = scene_camera()
    del camera["1"]
    folder = build_bop(tmp_path, camera=camera)
    with pytest.raises(CorruptRowError) as caught:
        gym.make(ENV_ID, data_dir=str(tmp_path)).reset(seed=0)
    message = str(caught.value)
    path = folder / "test" / "000001" / "scene_camera.json"
    assert f"{path}, image 1, field '<entry>': expected an entry for image 1 (scene_gt.json lists it)" in message
    assert "Fix: re-extract the ycbv archives (https://huggingface.co/datasets/bop-benchmark/ycbv" in message
    assert (caught.value.path, caught.value.row) == (path, 1)


def test_malformed_cam_k_names_the_field(tmp_path):
    camera = scene_camera()
    camera["0"]["cam_K"] = camera["0"]["cam_K"][:8]
    build_bop(tmp_path, camera=camera)
    with pytest.raises(CorruptRowError, match=r"scene_camera\.json, image 0, field 'cam_K': expected a list of 9 "
                                              r"finite numbers, got list \[40\.0"):
        _source(str(tmp_path)).num_items("test")
    camera["0"]["cam_K"] = [0.0, 0, 16, 0, 40, 12, 0, 0, 1]
    build_bop(tmp_path, camera=camera)
    with pytest.raises(CorruptRowError, match="field 'cam_K': expected a row-major 3x3 pinhole matrix"):
        _source(str(tmp_path)).num_items("test")


def test_malformed_pose_names_the_instance(tmp_path):
    gt = scene_gt()
    gt["0"][1]["cam_t_m2c"] = "far"
    build_bop(tmp_path, gt=gt)
    with pytest.raises(CorruptRowError, match=r"scene_gt\.json, image 0, instance 1, field 'cam_t_m2c': expected a "
                                              "list of 3 finite numbers, got str 'far'"):
        _source(str(tmp_path)).num_items("test")


def test_missing_rgb_file_names_the_scene_image_and_instance(tmp_path):
    folder = build_bop(tmp_path)
    (folder / "test" / "000001" / "rgb" / "000001.png").unlink()
    source = _source(str(tmp_path))
    source.get("test", 0)
    with pytest.raises(CorruptRowError) as caught:
        source.get("test", 2)
    expected = (f"{folder / 'test' / '000001'}, image 1, instance 0, field 'rgb': expected an image "
                "rgb/000001.png or .jpg, got no such file")
    assert expected in str(caught.value)


def test_unreadable_scene_json_and_missing_release(tmp_path):
    folder = build_bop(tmp_path)
    (folder / "test" / "000001" / "scene_gt.json").write_text("{not json")
    with pytest.raises(CorruptFileError, match=r"scene_gt\.json: not readable JSON"):
        gym.make(ENV_ID, data_dir=str(tmp_path))  # the default split is read at make
    assert _source(str(tmp_path), split="val").num_items("val") == 1, "a broken split does not block the others"
    with pytest.raises(BenchmarkDataNotFoundError) as caught:
        gym.make(ENV_ID, data_dir=str(tmp_path / "none"))
    message = str(caught.value)
    assert str(tmp_path / "none" / "ycbv" / "models" / "models_info.json") in message
    assert "unzip them into <data_dir>/ so that <data_dir>/ycbv/models/models_info.json" in message
    assert "Fix: run `spacetools data download bop-ycbv --data-dir <data_dir>` (fetches ycbv_base.zip" in message


def test_bad_dataset_name_is_rejected_at_make():
    with pytest.raises(ValueError, match="BOP dataset must be a folder name"):
        bop_dataset("../etc")


def test_source_pickles_small_and_reopens(data_dir):
    source = _source(data_dir)
    item = source.get("test", 1)
    clone = pickle.loads(pickle.dumps(source))
    assert len(pickle.dumps(source)) < 2_000 and clone.get("test", 1).ground_truth == item.ground_truth


def test_an_edited_scene_file_is_read_afresh(tmp_path):
    folder = build_bop(tmp_path)
    assert _source(str(tmp_path)).num_items("test") == 3
    gt = scene_gt()
    del gt["1"]
    (folder / "test" / "000001" / "scene_gt.json").write_text(json.dumps(gt))
    assert _source(str(tmp_path)).num_items("test") == 2
