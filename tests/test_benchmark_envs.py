"""The SpaceTools evaluation parquet as registered envs, on tiny fixtures in the published schema.

The per-id contract (conformance kit, right/wrong answers, caching, pickling, missing
data) is :class:`benchmark_contract.BenchmarkContract`; this module adds what is particular to
the parquet.
"""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest
from benchmark_contract import BenchmarkContract
from fixtures_bench import ANSWERS, SYSTEM_PROMPT, build_spacetools_eval, fixture_rows, write_rows

import spacetools_env
from spacetools_env.loaders import (
    ENV_VAR,
    SPACETOOLS_EVAL,
    BenchmarkDataNotFoundError,
    CorruptFileError,
    CorruptRowError,
    SpaceToolsEvalSource,
    find_benchmark_file,
    spacetools_parquet,
)
from spacetools_env.registration import BENCHMARK_ENVS, benchmark_ids

KEY_OF = {env_id: key for env_id, _, key in BENCHMARK_ENVS}
IDS = sorted(KEY_OF)
ANSWERS_BY_ID = {env_id: ANSWERS[key] for env_id, key in KEY_OF.items()}

pytestmark = pytest.mark.usefixtures("no_outside_data")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(build_spacetools_eval(tmp_path_factory.mktemp("bench")))


def _source(key: str, data_dir: str | Path) -> SpaceToolsEvalSource:
    family_module = next(m for _, m, k in BENCHMARK_ENVS if k == key)
    build = __import__(f"spacetools_env.tasks.{family_module}", fromlist=["item_from_row"]).item_from_row
    return SpaceToolsEvalSource(key, build, data_dir=data_dir)


class TestSpaceToolsEvalContract(BenchmarkContract):
    env_ids = IDS
    answers = ANSWERS_BY_ID


# ---------------------------------------------------------------------------- registration
def test_nine_benchmark_ids_need_data_and_default_to_test():
    assert set(IDS) <= set(benchmark_ids()) and len(IDS) == 9
    assert not set(IDS) & set(spacetools_env.registered_ids(needs_data=False))
    assert set(IDS) <= set(spacetools_env.registered_ids())
    assert all(gym.spec(env_id).kwargs["split"] == "test" for env_id in IDS)


def test_importing_the_package_does_not_load_pyarrow():
    code = "import sys, spacetools_env; assert 'pyarrow' not in sys.modules, 'pyarrow imported'"
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


# ---------------------------------------------------------------------------- episodes end to end
def test_observation_carries_the_stored_prompts_and_image(data_dir):
    env = gym.make("SpaceTools-BLINK-Depth-v0", data_dir=data_dir)
    obs, info = env.reset(options={"index": 1})
    system, user = obs[0]["content"][0]["text"], obs[1]["content"]
    assert system.startswith(SYSTEM_PROMPT) and "# Tools" in system
    assert user[0]["type"] == "image" and user[0]["image"].shape == (12, 16, 3)
    assert user[-1]["text"] == fixture_rows("blinkdepth")[1]["extra_info"]["question"]
    assert info["task"]["item_id"] == "blinkdepth/test/1" and info["task"]["split"] == "test"
    bare = gym.make("SpaceTools-BLINK-Depth-v0", data_dir=data_dir, tools_in_system_prompt=False)
    assert bare.reset(options={"index": 1})[0][0]["content"][0]["text"] == SYSTEM_PROMPT


def test_meta_breaks_down_by_question_type(data_dir):
    env = gym.make("SpaceTools-RoboSpatial-v0", data_dir=data_dir)
    tasks = [env.reset(options={"index": i})[1]["task"] for i in range(4)]
    assert [t["question_type"] for t in tasks] == ["configuration", "compatibility", "context", "yes_no"]
    assert [t["answer_kind"] for t in tasks] == ["yes_no", "yes_no", "point", "yes_no"]
    assert {(t["key"], t["data_source"]) for t in tasks} == {("robospatial", "robospatial")}
    assert [t["source_index"] for t in tasks] == [0, 1, 2, 3]


def test_context_point_scores_by_the_convex_hull(data_dir):
    env = gym.make("SpaceTools-RoboSpatial-v0", data_dir=data_dir)
    for answer, expected in (("[(0.4, 0.7), (0.9, 0.9)]", 1.0), ("(0.2, 0.7)", 1.0), ("[(0.9, 0.1)]", 0.0)):
        env.reset(options={"index": 2})
        assert env.step(f"<answer>{answer}</answer>")[4]["score"] == expected, answer


def test_tools_answer_no_ground_truth_as_a_tool_error(data_dir):
    env = gym.make("SpaceTools-CVBench-3DDepth-v0", data_dir=data_dir)
    env.reset(seed=0)
    call = '<tool_call>{"name": "depth_estimator.estimate_depth", "arguments": {"image_index": 0}}</tool_call>'
    obs, _, terminated, _, info = env.step(call)
    assert not terminated and not info["tool_results"][0]["ok"]
    assert "no ground truth" in obs[0]["content"][0]["text"]


def test_only_the_test_split_exists(data_dir):
    env = gym.make("SpaceTools-BOP-Pose-v0", data_dir=data_dir)
    with pytest.raises(ValueError, match="unknown split 'train' for 'boppose': this benchmark has only split 'test'"):
        env.reset(options={"split": "train"})
    with pytest.raises(ValueError, match=r"index 9 is out of range for 'boppose' split 'test' \(0\.\.2\)"):
        _source("boppose", data_dir).get("test", 9)


# ---------------------------------------------------------------------------- enumeration, laziness
@pytest.mark.parametrize("key", sorted(KEY_OF.values()))
def test_item_i_is_row_i_of_the_file_without_truth(key, data_dir):
    source = _source(key, data_dir)
    assert source.validate() == source.num_items("test") == len(fixture_rows(key))
    for index in range(source.num_items("test")):
        item = source.get("test", index)
        assert item.item_id == f"{key}/test/{index}" and item.truth == (None,)


def test_items_are_decoded_once_and_files_opened_once(data_dir, monkeypatch):
    decoded: list[int] = []
    original = spacetools_parquet.decode_image_data_uri
    monkeypatch.setattr(spacetools_parquet, "decode_image_data_uri", lambda *a: decoded.append(1) or original(*a))
    first, second = _source("cvb2drelation", data_dir), _source("cvb2drelation", data_dir)
    item = first.get("test", 2)
    assert len(decoded) == 1, "only the requested row's image is decoded"
    assert first.get("test", 2) is item and len(decoded) == 1, "a repeated get is a cache hit"
    assert second._open() is first._open(), "sources of one file share the opened file"


def test_source_pickles_as_its_arguments(data_dir):
    source = _source("robospatial", data_dir)
    source.get("test", 0)
    clone = pickle.loads(pickle.dumps(source))
    assert clone._opened is None and not clone._items and (clone.key, clone.data_dir) == ("robospatial", data_dir)
    assert clone.get("test", 2).item_id == "robospatial/test/2"


# ---------------------------------------------------------------------------- missing and corrupt data
def test_missing_data_names_every_place_looked_and_the_fix(tmp_path, empty_hf_cache):
    with pytest.raises(BenchmarkDataNotFoundError) as caught:
        gym.make("SpaceTools-RefSpatial-Unseen-v0", data_dir=str(tmp_path / "mine"))
    message = str(caught.value)
    assert isinstance(caught.value, FileNotFoundError)
    assert "'data/refunseen.parquet' not found" in message
    assert str(tmp_path / "mine" / "spacetools-eval-benchmarks" / "data" / "refunseen.parquet") in message
    assert f"${ENV_VAR}: not set" in message
    hf = empty_hf_cache / "datasets--siyich--spacetools-eval-benchmarks" / "snapshots"
    assert str(hf / "*" / "data" / "refunseen.parquet") in message
    assert "Fix: run `spacetools data download spacetools-eval`" in message
    assert caught.value.searched[0] == tmp_path / "mine" / "spacetools-eval-benchmarks" / "data" / "refunseen.parquet"
    clone = pickle.loads(pickle.dumps(caught.value))
    assert str(clone) == message and clone.searched == caught.value.searched
    assert str(BenchmarkDataNotFoundError(caught.value)) == message, "async vector envs re-raise exctype(error)"


def _hf_snapshot(cache: Path, revision: str, key: str) -> Path:
    repo = cache / "datasets--siyich--spacetools-eval-benchmarks"
    return write_rows(repo / "snapshots" / revision / "data" / f"{key}.parquet", fixture_rows(key)[:1])


def test_lookup_order_is_argument_then_env_var_then_hf_cache(tmp_path, monkeypatch):
    relative = "data/boppose.parquet"
    arg = build_spacetools_eval(tmp_path / "arg", ["boppose"]) / "spacetools-eval-benchmarks" / relative
    env = build_spacetools_eval(tmp_path / "env", ["boppose"]) / "spacetools-eval-benchmarks" / relative
    cache = tmp_path / "hf"
    old, main = _hf_snapshot(cache, "aaa", "boppose"), _hf_snapshot(cache, "bbb", "boppose")
    (cache / "datasets--siyich--spacetools-eval-benchmarks" / "refs").mkdir()
    (cache / "datasets--siyich--spacetools-eval-benchmarks" / "refs" / "main").write_text("bbb")
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    assert find_benchmark_file(SPACETOOLS_EVAL, relative, tmp_path / "arg") == arg
    assert find_benchmark_file(SPACETOOLS_EVAL, relative) == env
    assert find_benchmark_file(SPACETOOLS_EVAL, relative, tmp_path / "absent") == env
    monkeypatch.delenv(ENV_VAR)
    assert find_benchmark_file(SPACETOOLS_EVAL, relative) == main, "refs/main's snapshot first"
    main.unlink()
    assert find_benchmark_file(SPACETOOLS_EVAL, relative) == old
    monkeypatch.delenv("HF_HUB_CACHE")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "home"))
    new = _hf_snapshot(tmp_path / "home" / "hub", "ccc", "boppose")
    assert find_benchmark_file(SPACETOOLS_EVAL, relative) == new


def test_data_dir_may_be_the_dataset_folder_itself(tmp_path):
    path = write_rows(tmp_path / "local" / "data" / "bopgrasp.parquet", fixture_rows("bopgrasp"))
    assert find_benchmark_file(SPACETOOLS_EVAL, "data/bopgrasp.parquet", tmp_path / "local") == path
    env = gym.make("SpaceTools-BOP-Grasp-v0", data_dir=str(tmp_path / "local"))
    assert env.reset(seed=1)[1]["task"]["question_type"] == "grasp"


def _write(tmp_path: Path, key: str, rows: list[dict]) -> Path:
    return write_rows(tmp_path / "spacetools-eval-benchmarks" / "data" / f"{key}.parquet", rows)


def test_corrupt_image_names_file_row_and_column(tmp_path):
    rows = fixture_rows("blinkdepth")
    rows[1]["images"] = [{"image": "data:image/png;base64,@@not-base64@@"}]
    path = _write(tmp_path, "blinkdepth", rows)
    source = _source("blinkdepth", tmp_path)
    source.get("test", 0)  # other rows still load: images are decoded per row
    with pytest.raises(CorruptRowError) as caught:
        source.get("test", 1)
    message = str(caught.value)
    assert f"{path}, row 1, column 'images[0].image': expected image bytes in valid base64" in message
    assert "spacetools data download spacetools-eval" in message
    assert (caught.value.path, caught.value.row, caught.value.column) == (path, 1, "images[0].image")
    assert pickle.loads(pickle.dumps(caught.value)).row == 1 and str(CorruptRowError(caught.value)) == message


@pytest.mark.parametrize(
    ("field", "value", "column", "expected"),
    [
        ("prompt", [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}], "prompt",
         "a list of chat messages [{'role': 'system'"),
        ("reward_model", {"ground_truth": "", "style": "rule"}, "reward_model", "non-empty string 'ground_truth'"),
        ("data_source", None, "data_source", "a string, got NoneType None"),
    ],
)
def test_malformed_row_is_reported_when_the_file_opens(tmp_path, field, value, column, expected):
    rows = fixture_rows("cvb3ddepth")
    rows[2][field] = value
    path = _write(tmp_path, "cvb3ddepth", rows)
    with pytest.raises(CorruptRowError) as caught:
        gym.make("SpaceTools-CVBench-3DDepth-v0", data_dir=str(tmp_path))
    assert f"{path}, row 2, column '{column}': expected " in str(caught.value) and expected in str(caught.value)


@pytest.mark.parametrize(
    ("key", "truth", "expected"),
    [
        ("reflocation", "not base64 !!", "a PNG mask in valid base64"),
        ("reflocation", "aGVsbG8=", "a PNG mask, got 5 bytes that are no readable image"),
        ("robospatial", "Maybe", "'Yes', 'No' or a list of at least 3 normalized points"),
        ("blinkdepth", "AB", "an option letter"),
        ("boppose", "[(0.1, 0.1), (0.2, 0.2)]", "exactly 8 normalized (x, y) corner points"),
        ("bopgrasp", "Grasp center: [0.5, 0.5]", "with 5 keypoints"),
    ],
)
def test_malformed_ground_truth_names_its_column(tmp_path, key, truth, expected):
    rows = fixture_rows(key)
    rows[0]["reward_model"] = {"ground_truth": truth, "style": "rule"}
    _write(tmp_path, key, rows)
    with pytest.raises(CorruptRowError, match=r"row 0, column 'reward_model.ground_truth': expected ") as caught:
        _source(key, tmp_path).get("test", 0)
    assert expected in str(caught.value)


def test_missing_column_and_unreadable_file_name_the_file(tmp_path):
    rows = [{k: v for k, v in r.items() if k != "reward_model"} for r in fixture_rows("refunseen")]
    path = _write(tmp_path, "refunseen", rows)
    with pytest.raises(CorruptFileError, match=r"missing column\(s\) \['reward_model'\]") as caught:
        _source("refunseen", tmp_path).num_items("test")
    assert str(path) in str(caught.value) and "spacetools data download" in str(caught.value)
    path.write_bytes(b"this is not parquet")
    with pytest.raises(CorruptFileError, match="not a readable parquet file"):
        _source("refunseen", tmp_path).num_items("test")
