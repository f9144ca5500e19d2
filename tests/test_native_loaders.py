"""Native benchmark releases (RoboSpatial-Home, BLINK, CV-Bench, ...) as envs, on tiny native fixtures.

CV-Bench and RoboSpatial-Home are published in two layouts each; both are checked (``alt_data_dir``).
The per-id contract (conformance kit, right/wrong answers, laziness, caching, pickling, missing
data) is :class:`benchmark_contract.BenchmarkContract`, run on each layout; this module adds what
is particular to each release.
"""

from __future__ import annotations

import json

import gymnasium as gym
import numpy as np
import pytest
from benchmark_contract import BenchmarkContract
from fixtures_native import (
    ANSWERS,
    DEPTH_MM,
    EXTRA_RECORD,
    blink_rows,
    build_all,
    build_alternative_layouts,
    build_cvbench,
    build_cvbench_jsonl,
    build_refspatial_bench,
    build_robospatial_home,
    build_robospatial_home_parquet,
    build_where2place,
    cvbench_jsonl_rows,
    cvbench_rows,
    home_parquet_rows,
    home_records,
    ref_records,
    w2p_records,
    write_parquet,
)
from PIL import Image

import spacetools_env
from spacetools_env.loaders import ENV_VAR, BenchmarkDataNotFoundError, CorruptFileError, CorruptRowError
from spacetools_env.loaders.cvbench import TASKS as CVBENCH_TASKS
from spacetools_env.loaders.native import CVBENCH, Layout, find_layout
from spacetools_env.loaders.native_envs import NATIVE_ENVS

IDS = [env_id for env_id, *_ in NATIVE_ENVS]
TWO_LAYOUT_IDS = ["SpaceTools-RoboSpatialHome-v0", *(f"SpaceTools-CVBench-{t}-v0" for t in CVBENCH_TASKS)]
# The hub parquet orders RoboSpatial-Home's test split context first: its item 0 is a point question.
OTHER_LAYOUT_ANSWERS = {**ANSWERS, "SpaceTools-RoboSpatialHome-v0": ("[(0.3, 0.6)]", "[(0.9, 0.1)]")}

pytestmark = pytest.mark.usefixtures("no_outside_data")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build_all(tmp_path_factory.mktemp("native")))


@pytest.fixture(scope="module")
def alt_data_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """CV-Bench as jsonl + img/, RoboSpatial-Home as the hub parquet."""
    return str(build_alternative_layouts(tmp_path_factory.mktemp("native-alt")))


class TestNativeContract(BenchmarkContract):
    env_ids = IDS
    answers = ANSWERS


class TestOtherLayoutContract(BenchmarkContract):
    """The same contract on each release's other layout (CV-Bench jsonl + img/, RoboSpatial-Home hub parquet)."""

    env_ids = TWO_LAYOUT_IDS
    answers = OTHER_LAYOUT_ANSWERS

    @pytest.fixture
    def data_dir(self, alt_data_dir: str) -> str:
        return alt_data_dir


def test_every_native_id_is_registered_as_needing_data():
    assert len(IDS) == 24 and len(set(IDS)) == 24
    assert set(IDS) <= set(spacetools_env.registered_ids(needs_data=True))
    assert gym.spec("SpaceTools-BLINK-MultiViewReasoning-v0").kwargs["split"] == "val"
    assert gym.spec("SpaceTools-RoboSpatialHome-v0").kwargs["split"] == "test"



def _same_item(a, b, ignore_meta=()):
    assert (a.item_id, a.question, a.system_prompt) == (b.item_id, b.question, b.system_prompt)
    assert len(a.images) == len(b.images) and all(np.array_equal(x, y) for x, y in zip(a.images, b.images, strict=True))
    assert {k: v for k, v in a.meta.items() if k not in ignore_meta} == {
        k: v for k, v in b.meta.items() if k not in ignore_meta
    }
    for x, y in zip(a.truth, b.truth, strict=True):
        assert (x is None) == (y is None)
        if x is not None:
            assert np.array_equal(x.depth, y.depth) and np.array_equal(x.segmentation, y.segmentation)
            assert x.focal_length_px == y.focal_length_px


@pytest.mark.parametrize("task", list(CVBENCH_TASKS))
def test_cvbench_jsonl_layout_gives_the_same_items_as_the_parquet(task, data_dir, alt_data_dir):
    parquet = gym.make(f"SpaceTools-CVBench-{task}-v0", data_dir=data_dir).unwrapped.source
    jsonl = gym.make(f"SpaceTools-CVBench-{task}-v0", data_dir=alt_data_dir).unwrapped.source
    assert parquet.path.suffix == ".parquet" and jsonl.path.suffix == ".jsonl"
    assert jsonl.num_items("test") == parquet.num_items("test") == 3
    for index in range(3):
        a, b = parquet.get("test", index), jsonl.get("test", index)
        _same_item(a, b)
        assert (a.label, a.choices) == (b.label, b.choices)


@pytest.mark.parametrize("split", ["configuration", "compatibility", "context"])
def test_robospatial_home_parquet_gives_the_same_items_as_the_downloader_layout(split, data_dir, alt_data_dir):
    folder = gym.make("SpaceTools-RoboSpatialHome-v0", data_dir=data_dir).unwrapped.source
    hub = gym.make("SpaceTools-RoboSpatialHome-v0", data_dir=alt_data_dir).unwrapped.source
    assert hub.path.name == "context-00000-of-00001.parquet"
    a, b = folder.get(split, 0), hub.get(split, 0)
    _same_item(a, b, ignore_meta=("source_index",))  # the row in `test`: the layouts order it differently
    assert a.ground_truth == b.ground_truth


# ---------------------------------------------------------------------------- RoboSpatial-Home
def test_robospatial_home_reads_every_json_and_splits_by_category(data_dir):
    env = gym.make("SpaceTools-RoboSpatialHome-v0", data_dir=data_dir)
    source = env.unwrapped.source
    assert source.num_items("test") == 4 and source.validate() == 4
    assert [source.num_items(c) for c in ("configuration", "compatibility", "context")] == [2, 1, 1]
    last = source.get("test", 3)
    assert last.question == EXTRA_RECORD["question"] and last.truth == (None,), "extra.json, no depth"
    _, info = env.reset(options={"split": "context", "index": 0})
    assert info["task"]["item_id"] == "robospatial-home/context/0" and info["task"]["answer_kind"] == "point"
    with pytest.raises(ValueError, match=r"unknown split 'val'.*splits: \['compatibility', 'configuration'"):
        source.num_items("val")


def test_context_points_score_by_the_fixed_ray_cast_polygon(data_dir):
    env = gym.make("SpaceTools-RoboSpatialHome-v0", data_dir=data_dir, split="context")
    for answer, expected in (("[(0.4, 0.7), (0.9, 0.9)]", 1.0), ("(0.3, 0.6)", 1.0), ("[(0.9, 0.1)]", 0.0)):
        env.reset(options={"index": 0})
        assert env.step(f"<answer>{answer}</answer>")[4]["score"] == expected, answer


def test_depth_image_becomes_metric_oracle_depth_and_the_mask_a_segment(data_dir):
    env = gym.make("SpaceTools-RoboSpatialHome-v0", data_dir=data_dir)
    env.reset(options={"index": 0})
    truth = env.unwrapped.item.truth[0]
    assert truth.depth.shape == (12, 16) and truth.depth[5, 5] == pytest.approx(DEPTH_MM / 1000)
    assert np.isinf(truth.depth[0, 0]), "0 = no reading"
    assert truth.segmentation[3, 4] == 1 and truth.segmentation[0, 0] == 0
    call = '<tool_call>{"name": "depth_estimator.estimate_depth", "arguments": {"image_index": 0}}</tool_call>'
    _, _, terminated, _, info = env.step(call)
    assert not terminated and info["tool_results"][0]["ok"]


def test_corrupt_record_names_the_json_file_record_and_field(tmp_path):
    records = home_records()
    del records[1]["answer"]
    folder = build_robospatial_home(tmp_path, records)
    with pytest.raises(CorruptRowError) as caught:
        gym.make("SpaceTools-RoboSpatialHome-v0", data_dir=str(tmp_path)).reset(seed=0)
    message = str(caught.value)
    assert f"{folder / 'annotations.json'}, row 1, column 'answer': expected a non-empty string" in message
    assert "spacetools data download robospatial-home" in message
    assert (caught.value.row, caught.value.column) == (1, "answer")


def test_missing_image_file_names_the_record(tmp_path):
    folder = build_robospatial_home(tmp_path)
    (folder / home_records()[2]["img"]).unlink()
    source = gym.make("SpaceTools-RoboSpatialHome-v0", data_dir=str(tmp_path)).unwrapped.source
    source.get("test", 0)
    with pytest.raises(CorruptRowError, match=r"annotations.json, row 2, column 'img': expected an existing image"):
        source.get("test", 2)


def test_bad_point_answer_and_unreadable_json_are_reported(tmp_path):
    records = home_records()
    records[2]["answer"] = "[(0.1, 0.1)]"
    build_robospatial_home(tmp_path, records)
    source = gym.make("SpaceTools-RoboSpatialHome-v0", data_dir=str(tmp_path)).unwrapped.source
    with pytest.raises(CorruptRowError, match="row 2, column 'answer': expected 'Yes', 'No' or a list of at least 3"):
        source.get("test", 2)
    (tmp_path / "RoboSpatial-Home" / "extra.json").write_text("{not json")
    with pytest.raises(CorruptFileError, match=r"extra\.json: not readable JSON"):
        gym.make("SpaceTools-RoboSpatialHome-v0", data_dir=str(tmp_path)).unwrapped.source.num_items("test")


def test_missing_release_names_the_file_places_and_fix(tmp_path, monkeypatch):
    with pytest.raises(BenchmarkDataNotFoundError) as caught:
        gym.make("SpaceTools-RoboSpatialHome-v0", data_dir=str(tmp_path / "mine"))
    message = str(caught.value)
    assert "chanhee-luke/RoboSpatial-Home: 'annotations.json' not found" in message
    assert str(tmp_path / "mine" / "RoboSpatial-Home" / "annotations.json") in message
    assert "spacetools data download robospatial-home" in message
    build_robospatial_home(tmp_path / "env")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert gym.make("SpaceTools-RoboSpatialHome-v0").unwrapped.source.num_items("test") == 4


# ---------------------------------------------------------------------------- BLINK
def test_blink_multi_image_items_carry_every_image(data_dir):
    env = gym.make("SpaceTools-BLINK-MultiViewReasoning-v0", data_dir=data_dir)
    obs, info = env.reset(options={"index": 1})
    parts = obs[1]["content"]
    assert [p["type"] for p in parts].count("image") == 2
    assert parts[-1]["text"] == blink_rows("Multi-view_Reasoning")[1]["prompt"]
    assert info["task"]["item_id"] == "blink/Multi-view_Reasoning/val/1"
    assert info["task"]["question_type"] == "Multi-view_Reasoning"
    assert info["task"]["blink_idx"] == "val_Multi-view_Reasoning_2"


def test_blink_uses_the_official_extraction(data_dir):
    env = gym.make("SpaceTools-BLINK-RelativeDepth-v0", data_dir=data_dir)
    for answer, expected in (("B", 1.0), ("I think\n\n(B) B is closer", 1.0), ("(A) or (B)", 0.0), ("B.", 0.0)):
        env.reset(options={"index": 0})
        assert env.step(f"<answer>{answer}</answer>")[4]["score"] == expected, answer


def test_blink_corrupt_image_and_hidden_answer_name_file_row_and_column(tmp_path):
    rows = blink_rows("Relative_Depth")
    rows[1]["image_1"] = {"bytes": b"not a png", "path": None}
    path = write_parquet(tmp_path / "BLINK" / "Relative_Depth" / "val-00000-of-00001.parquet", rows)
    source = gym.make("SpaceTools-BLINK-RelativeDepth-v0", data_dir=str(tmp_path)).unwrapped.source
    source.get("val", 0)
    with pytest.raises(CorruptRowError) as caught:
        source.get("val", 1)
    expected = f"{path}, row 1, column 'image_1': expected an image file (PNG, JPEG, ...), got 9 bytes that are no "
    assert expected + "readable image (not a known image format)" in str(caught.value)
    assert "spacetools data download blink" in str(caught.value)
    rows[2]["answer"] = "hidden"
    write_parquet(path, rows)
    with pytest.raises(CorruptRowError, match="row 2, column 'answer': expected a gold label"):
        gym.make("SpaceTools-BLINK-RelativeDepth-v0", data_dir=str(tmp_path)).reset(seed=0)


# ---------------------------------------------------------------------------- CV-Bench
def test_cvbench_splits_a_file_by_task_and_keeps_the_source(data_dir):
    env = gym.make("SpaceTools-CVBench-Count-v0", data_dir=data_dir)
    assert env.unwrapped.source.num_items("test") == 3
    _, info = env.reset(options={"index": 0})
    assert info["task"]["cvbench_source"] == "COCO" and info["task"]["question_type"] == "Count"
    assert env.unwrapped.item.choices == ("A", "B", "C", "D")


def test_cvbench_malformed_answer_and_missing_column(tmp_path):
    rows = cvbench_rows("test_3d")
    rows[2]["answer"] = "(C)"  # Depth item 1 has two options
    path = write_parquet(tmp_path / "CV-Bench" / "test_3d.parquet", rows)
    source = gym.make("SpaceTools-CVBench-Depth-v0", data_dir=str(tmp_path)).unwrapped.source
    with pytest.raises(CorruptRowError, match=r"test_3d.parquet, row 2, column 'answer': expected one of \['\(A\)'"):
        source.get("test", 1)
    write_parquet(path, [{k: v for k, v in r.items() if k != "prompt"} for r in rows])
    with pytest.raises(CorruptFileError, match=r"missing column\(s\) \['prompt'\]"):
        gym.make("SpaceTools-CVBench-Depth-v0", data_dir=str(tmp_path)).unwrapped.source.num_items("test")


def test_annotations_fixture_is_the_downloader_format(tmp_path):
    folder = build_robospatial_home(tmp_path)
    records = json.loads((folder / "annotations.json").read_text())
    assert set(records[0]) == {"category", "question", "answer", "img", "depth_image", "mask"}
    assert all((folder / r["img"]).is_file() for r in records)


# ---------------------------------------------------------------------------- Where2Place
def test_where2place_scores_soft_mask_credit_in_the_640x480_frame(data_dir):
    env = gym.make("SpaceTools-Where2Place-v0", data_dir=data_dir)
    _, info = env.reset(options={"index": 2})
    assert info["task"]["question_type"] == "unseen" and info["task"]["question_id"] == 2
    mask = env.unwrapped.item.mask
    soft_ys, soft_xs = np.nonzero((mask > 0) & (mask < 255))
    assert mask.shape == (480, 640) and len(soft_xs), "a JPEG mask has soft edges"
    edge = (int(soft_xs[0]), int(soft_ys[0]))
    answer = f"[({(edge[0] + 0.5) / 640:.6f}, {(edge[1] + 0.5) / 480:.6f})]"
    score = env.step(f"<answer>{answer}</answer>")[4]["score"]
    assert score == pytest.approx(mask[edge[1], edge[0]] / 255) and 0 < score < 1
    for answer, expected in (("[(400, 300)]", 1.0), ("[(100, 300)]", 0.0), ("[(400, 300), (100, 300)]", 0.5)):
        env.reset(options={"index": 2})
        assert env.step(f"<answer>{answer}</answer>")[4]["score"] == expected, f"ints are pixels: {answer}"


def test_where2place_bad_line_and_missing_mask_name_file_and_row(tmp_path):
    lines = [json.dumps(r) for r in w2p_records()]
    lines[1] = "{broken"
    folder = build_where2place(tmp_path, lines)
    with pytest.raises(CorruptRowError) as caught:
        gym.make("SpaceTools-Where2Place-v0", data_dir=str(tmp_path)).reset(seed=0)
    assert f"{folder / 'point_questions.jsonl'}, row 1, column '<line>': expected one JSON object" in str(caught.value)
    assert "spacetools data download where2place" in str(caught.value)
    folder = build_where2place(tmp_path / "b")
    (folder / "masks" / "01.jpg").unlink()
    source = gym.make("SpaceTools-Where2Place-v0", data_dir=str(tmp_path / "b")).unwrapped.source
    with pytest.raises(CorruptRowError, match=r"row 1, column 'mask': expected an existing image file"):
        source.get("test", 1)


# ---------------------------------------------------------------------------- RefSpatial-Bench
def test_refspatial_bench_question_is_prompt_and_suffix_and_mask_is_binary(data_dir):
    env = gym.make("SpaceTools-RefSpatialBench-Placement-v0", data_dir=data_dir)
    obs, info = env.reset(options={"index": 1})
    record = ref_records("Placement")[1]
    assert obs[1]["content"][-1]["text"] == f"{record['prompt']} {record['suffix']}"
    assert info["task"]["question_type"] == "placement" and info["task"]["step"] == 2
    assert info["task"]["item_id"] == "refspatial-bench/Placement/test/1"
    assert env.unwrapped.item.mask.dtype == bool and env.unwrapped.item.mask.sum() == 8 * 6
    assert env.step("<answer>[(0.9, 0.9), (0.1, 0.1)]</answer>")[4]["score"] == 0.5, "mean over all points"


def test_refspatial_bench_bad_record_and_empty_mask(tmp_path):
    records = ref_records("Unseen")
    records[2]["rgb_path"] = None
    folder = build_refspatial_bench(tmp_path, {"Unseen": records})
    with pytest.raises(CorruptRowError) as caught:
        gym.make("SpaceTools-RefSpatialBench-Unseen-v0", data_dir=str(tmp_path)).reset(seed=0)
    assert f"{folder / 'Unseen' / 'question.json'}, row 2, column 'rgb_path': expected a non-empty string" in str(
        caught.value
    )
    Image.fromarray(np.zeros((12, 16), dtype=np.uint8)).save(folder / "Location" / "mask" / "0.png")
    source = gym.make("SpaceTools-RefSpatialBench-Location-v0", data_dir=str(tmp_path)).unwrapped.source
    with pytest.raises(CorruptRowError, match=r"row 0, column 'mask_path': expected a mask with at least one"):
        source.get("test", 0)


def test_blink_is_found_in_the_hugging_face_cache_layout(tmp_path, monkeypatch):
    snapshot = tmp_path / "hf" / "datasets--BLINK-Benchmark--BLINK" / "snapshots" / "abc123"
    write_parquet(snapshot / "Relative_Depth" / "val-00000-of-00001.parquet", blink_rows("Relative_Depth"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    source = gym.make("SpaceTools-BLINK-RelativeDepth-v0").unwrapped.source
    assert source.num_items("val") == 3 and source.path.parent.parent == snapshot


# ---------------------------------------------------------------------------- releases in two layouts
def test_cvbench_meta_carries_source_and_task(data_dir):
    _, info = gym.make("SpaceTools-CVBench-Relation-v0", data_dir=data_dir).reset(options={"index": 0})
    assert (info["task"]["source"], info["task"]["task"], info["task"]["cvbench_source"]) == (
        "ADE20K", "Relation", "ADE20K"
    )


def test_cvbench_prefers_the_parquet_when_a_folder_has_both_layouts(tmp_path):
    build_cvbench(tmp_path)
    rows = cvbench_jsonl_rows("test_2d")
    rows[0]["prompt"] = "the jsonl's own prompt (A) 3 (B) 2 (C) 1 (D) 0"
    folder = build_cvbench_jsonl(tmp_path, {"test_2d": rows})
    source = gym.make("SpaceTools-CVBench-Count-v0", data_dir=str(tmp_path)).unwrapped.source
    assert source.path == folder / "test_2d.parquet"
    assert source.get("test", 0).question == cvbench_rows("test_2d")[0]["prompt"]
    (folder / "test_2d.parquet").unlink()
    source = gym.make("SpaceTools-CVBench-Count-v0", data_dir=str(tmp_path)).unwrapped.source
    assert source.path == folder / "test_2d.jsonl" and source.get("test", 0).question == rows[0]["prompt"]


def test_cvbench_reads_the_older_single_test_jsonl(tmp_path):
    folder = build_cvbench_jsonl(tmp_path)
    rows = [line for file in ("test_2d", "test_3d") for line in (folder / f"{file}.jsonl").read_text().splitlines()]
    (folder / "test.jsonl").write_text("\n".join(rows) + "\n")
    for file in ("test_2d", "test_3d"):
        (folder / f"{file}.jsonl").unlink()
    source = gym.make("SpaceTools-CVBench-Distance-v0", data_dir=str(tmp_path)).unwrapped.source
    assert source.path.name == "test.jsonl" and source.num_items("test") == 3
    assert source.get("test", 0).meta["task"] == "Distance"


def test_first_place_holding_any_layout_wins(tmp_path, monkeypatch):
    build_cvbench_jsonl(tmp_path / "mine")
    build_cvbench(tmp_path / "env")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    source = gym.make("SpaceTools-CVBench-Depth-v0", data_dir=str(tmp_path / "mine")).unwrapped.source
    assert source.path == tmp_path / "mine" / "CV-Bench" / "test_3d.jsonl", "data_dir= beats $SPACETOOLS_DATA_DIR"
    assert gym.make("SpaceTools-CVBench-Depth-v0").unwrapped.source.path.suffix == ".parquet"


def test_find_layout_takes_a_glob_and_the_first_layout_within_a_place(tmp_path):
    (tmp_path / "CV-Bench" / "data").mkdir(parents=True)
    for name in ("b-00001.parquet", "b-00000.parquet", "a.jsonl"):
        (tmp_path / "CV-Bench" / "data" / name).write_text("")
    layouts = [Layout("data/b-*.parquet", str, "glob"), Layout("data/a.jsonl", repr, "jsonl")]
    path, layout = find_layout(CVBENCH, layouts, data_dir=tmp_path, environ={})
    assert path.name == "b-00000.parquet" and layout.description == "glob"
    path, layout = find_layout(CVBENCH, layouts[::-1], data_dir=tmp_path, environ={})
    assert path.name == "a.jsonl" and layout.description == "jsonl"


def test_missing_cvbench_names_every_layout_and_the_fix(tmp_path):
    with pytest.raises(BenchmarkDataNotFoundError) as caught:
        gym.make("SpaceTools-CVBench-Count-v0", data_dir=str(tmp_path))
    message = str(caught.value)
    assert "nyu-visionx/CV-Bench: 'test_2d.parquet' not found" in message
    assert str(tmp_path / "CV-Bench" / "test_2d.parquet") in message and "spacetools data download cv-bench" in message
    assert "'test_2d.jsonl' (jsonl + img/)" in message and "'test.jsonl'" in message and "'test.parquet'" in message
    assert tmp_path / "CV-Bench" / "test.jsonl" in caught.value.searched


def test_cvbench_jsonl_bad_line_missing_filename_and_missing_image(tmp_path):
    rows = cvbench_jsonl_rows("test_3d")
    del rows[1]["filename"]
    folder = build_cvbench_jsonl(tmp_path, {"test_3d": rows})
    with pytest.raises(CorruptRowError) as caught:
        gym.make("SpaceTools-CVBench-Depth-v0", data_dir=str(tmp_path)).reset(seed=0)
    message = str(caught.value)
    assert f"{folder / 'test_3d.jsonl'}, row 1, column 'filename': expected a relative image path such as" in message
    assert "spacetools data download cv-bench" in message
    (folder / "test_3d.jsonl").write_text("{broken\n")
    with pytest.raises(CorruptRowError, match=r"test_3d.jsonl, row 0, column '<line>': expected one JSON object"):
        gym.make("SpaceTools-CVBench-Depth-v0", data_dir=str(tmp_path)).reset(seed=0)
    folder = build_cvbench_jsonl(tmp_path / "b")
    (folder / cvbench_jsonl_rows("test_2d")[2]["filename"]).unlink()  # Count item 1
    source = gym.make("SpaceTools-CVBench-Count-v0", data_dir=str(tmp_path / "b")).unwrapped.source
    source.get("test", 0)
    with pytest.raises(CorruptRowError, match=r"test_2d.jsonl, row 2, column 'filename': expected an existing image"):
        source.get("test", 1)


def test_robospatial_home_hub_parquet_splits_and_order(alt_data_dir):
    source = gym.make("SpaceTools-RoboSpatialHome-v0", data_dir=alt_data_dir).unwrapped.source
    assert source.num_items("test") == 3 and source.validate() == 3
    assert [source.num_items(c) for c in ("configuration", "compatibility", "context")] == [1, 1, 1]
    order = [source.get("test", i).meta["question_type"] for i in range(3)]
    assert order == ["context", "compatibility", "configuration"], "the downloader's split order"
    assert source.get("compatibility", 0).truth[0].segmentation.max() == 0, "null mask: no segment"


def test_downloader_layout_wins_over_the_hub_parquet_in_one_folder(tmp_path):
    build_robospatial_home_parquet(tmp_path)
    build_robospatial_home(tmp_path)
    source = gym.make("SpaceTools-RoboSpatialHome-v0", data_dir=str(tmp_path)).unwrapped.source
    assert source.path.name == "annotations.json" and source.num_items("test") == 4


def test_hub_parquet_missing_split_null_image_and_bad_answer(tmp_path):
    folder = build_robospatial_home_parquet(tmp_path)
    (folder / "configuration-00000-of-00001.parquet").unlink()
    with pytest.raises(CorruptFileError) as caught:
        gym.make("SpaceTools-RoboSpatialHome-v0", data_dir=str(tmp_path)).reset(seed=0)
    assert f"{folder}: no 'configuration' shard (configuration-*.parquet)" in str(caught.value)
    assert "spacetools data download robospatial-home" in str(caught.value)
    rows = home_parquet_rows("compatibility")
    rows.append({**rows[0], "img": None})
    build_robospatial_home_parquet(tmp_path, {"compatibility": rows})
    with pytest.raises(CorruptRowError) as caught:
        gym.make("SpaceTools-RoboSpatialHome-v0", data_dir=str(tmp_path)).reset(seed=0)
    shard = folder / "compatibility-00000-of-00001.parquet"
    assert f"{shard}, row 1, column 'img': expected an image cell" in str(caught.value)
    rows = home_parquet_rows("context")
    rows[0]["answer"] = "[(0.1, 0.1)]"
    build_robospatial_home_parquet(tmp_path, {"context": rows})
    source = gym.make("SpaceTools-RoboSpatialHome-v0", data_dir=str(tmp_path)).unwrapped.source
    with pytest.raises(CorruptRowError, match=r"context-00000-of-00001.parquet, row 0, column 'answer': expected 'Y"):
        source.get("context", 0)
