"""BOP dataset folders read natively (``SpaceTools-BOPScenes-Pose-v0``), on a tiny self-built scene."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from fixtures_bop import (
    BACKGROUND_MM,
    BOX,
    ITEM0_CORNERS,
    ITEM0_NAME,
    REGIONS,
    build_bop,
    scene_camera,
    scene_gt,
)

import spacetools_env
from spacetools_env import testing
from spacetools_env.loaders import ENV_VAR, BenchmarkDataNotFoundError, CorruptFileError, CorruptRowError
from spacetools_env.loaders.bop import bop_dataset
from spacetools_env.scoring import extract_bop_points, score_pose_iou
from spacetools_env.tasks.bench_bop_native import bop_scenes

ENV_ID = "SpaceTools-BOPScenes-Pose-v0"


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    root = tmp_path_factory.mktemp("bop")
    build_bop(root)
    return str(root)


@pytest.fixture(autouse=True)
def _no_outside_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.delenv("HF_HOME", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-hf-cache"))


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
        _source(str(tmp_path)).num_items("test")
    assert _source(str(tmp_path)).num_items("val") == 1, "a broken split does not block the others"
    with pytest.raises(BenchmarkDataNotFoundError) as caught:
        gym.make(ENV_ID, data_dir=str(tmp_path / "none")).reset(seed=0)
    message = str(caught.value)
    assert str(tmp_path / "none" / "ycbv" / "models" / "models_info.json") in message
    assert "unzip them into <data_dir>/ so that <data_dir>/ycbv/models/models_info.json" in message


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
