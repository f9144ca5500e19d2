"""Corrupt and hostile data files, as a broken disk or a bad mirror would leave them, met through ``gym.make``.

Each case of issue 7's "Data files" section is built as a real file in the layout a loader reads
(the ``fixtures_*`` builders), then damaged (:mod:`fixtures_corrupt`). What must hold: every one is
a :class:`~spacetools_env.loaders.CorruptDataError` (a ``ValueError``) naming the file (and row),
what was expected and the fix; images are refused from their header before any pixel is decoded
(the pixel budget, :data:`~spacetools_env.loaders.MAX_IMAGE_PIXELS`); a truncated image is an
error; and the data is found, opened and checked at ``gym.make``, not at the first ``reset``.
"""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import gymnasium as gym
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fixtures_bench import build_spacetools_eval, fixture_rows, write_rows
from fixtures_bop import build_bop
from fixtures_corrupt import bomb_png, deep_json, flip, long_int_json, png, truncated_png
from fixtures_native import (
    build_blink,
    build_cvbench_jsonl,
    build_refspatial_bench,
    build_robospatial_home,
    build_where2place,
    home_records,
    ref_records,
)
from PIL import ImageFile

import spacetools_env
from spacetools_env.loaders import (
    MAX_IMAGE_PIXELS,
    PIXEL_BUDGET_ENV,
    CorruptDataError,
    CorruptFileError,
    CorruptRowError,
)

pytestmark = pytest.mark.usefixtures("no_outside_data")

BOMB = (13000, 13000)  # the case: a few hundred KB on disk, 169 MB grey / 507 MB RGB decoded
BUDGET_TEXT = f"at most {MAX_IMAGE_PIXELS:,} pixels (the pixel budget; if this image is genuine, raise it with "
BOMB_TEXT = "13000x13000 = 169,000,000 pixels"
EVAL_FIX = "Fix: re-download it with `spacetools data download spacetools-eval`"


@pytest.fixture(scope="module")
def bomb() -> bytes:
    return bomb_png(*BOMB)


def _eval_file(root: Path, key: str, rows: list[dict], **write: object) -> Path:
    path = root / "spacetools-eval-benchmarks" / "data" / f"{key}.parquet"
    if not write:
        return write_rows(path, rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path, **write)
    return path


def _data_uri(data: bytes) -> str:
    import base64

    return "data:image/png;base64," + base64.b64encode(data).decode()


# ---------------------------------------------------------------------------- the pixel budget
def test_parquet_png_bomb_is_refused_from_its_header(tmp_path, bomb):
    rows = fixture_rows("blinkdepth")
    rows[1]["images"] = [{"image": _data_uri(bomb)}]
    path = _eval_file(tmp_path, "blinkdepth", rows)
    assert path.stat().st_size < 400_000, "a small file on disk"
    env = gym.make("SpaceTools-BLINK-Depth-v0", data_dir=str(tmp_path))
    env.reset(options={"index": 0})  # the other rows still load: images are decoded per row
    with pytest.raises(CorruptRowError) as caught:
        env.reset(options={"index": 1})
    message = str(caught.value)
    assert f"{path}, row 1, column 'images[0].image': expected an image of {BUDGET_TEXT}" in message
    assert f"{PIXEL_BUDGET_ENV}=<pixels>), got {len(bomb)} bytes: {BOMB_TEXT}. {EVAL_FIX}" in message
    assert isinstance(caught.value, CorruptDataError) and (caught.value.path, caught.value.row) == (path, 1)


def test_the_pixel_budget_is_overridable_and_checked(tmp_path, monkeypatch):
    rows = fixture_rows("blinkdepth")
    rows[0]["images"] = [{"image": _data_uri(bomb_png(4000, 3000))}]  # 12 MP: a large, genuine photo
    _eval_file(tmp_path, "blinkdepth", rows)
    env = gym.make("SpaceTools-BLINK-Depth-v0", data_dir=str(tmp_path))
    assert env.reset(options={"index": 0})[0][1]["content"][0]["image"].shape == (3000, 4000, 3)
    monkeypatch.setenv(PIXEL_BUDGET_ENV, "10000000")
    with pytest.raises(CorruptRowError, match=r"expected an image of at most 10,000,000 pixels .* 4000x3000 = "):
        gym.make("SpaceTools-BLINK-Depth-v0", data_dir=str(tmp_path)).reset(options={"index": 0})
    monkeypatch.setenv(PIXEL_BUDGET_ENV, "lots")
    with pytest.raises(ValueError, match=rf"\${PIXEL_BUDGET_ENV} must be a positive number of pixels .* got 'lots'"):
        gym.make("SpaceTools-BLINK-Depth-v0", data_dir=str(tmp_path)).reset(options={"index": 1})


def test_oversized_mask_and_mismatched_depth_are_refused_before_decoding(tmp_path, bomb):
    folder = build_robospatial_home(tmp_path)
    record = home_records()[0]
    (folder / record["mask"]).write_bytes(bomb)
    env = gym.make("SpaceTools-RoboSpatialHome-v0", data_dir=str(tmp_path))
    with pytest.raises(CorruptRowError) as caught:
        env.reset(options={"index": 0})
    message = str(caught.value)
    assert f"{folder / 'annotations.json'}, row 0, column 'mask': expected an image of {BUDGET_TEXT}" in message
    assert f"got file {folder / record['mask']}: {BOMB_TEXT}. Fix: re-download" in message
    (folder / record["mask"]).write_bytes(png(np.zeros((12, 16), dtype=np.uint8)))
    (folder / record["depth_image"]).write_bytes(bomb_png(6000, 6000))  # within budget, not the RGB's size
    with pytest.raises(CorruptRowError) as caught:
        env.reset(options={"index": 0})
    expected = (f"row 0, column 'depth_image': expected a 16x12 image (the size of the RGB image it belongs to), "
                f"got file {folder / record['depth_image']}: 6000x6000")
    assert expected in str(caught.value)


@pytest.mark.parametrize(
    ("size", "shown"),
    [(BOMB, BOMB_TEXT), ((20000, 9000), ": 180,000,000 pixels")],  # the second is past PIL's own bomb limit
    ids=["over-budget", "over-PIL-limit"],
)
def test_oversized_bop_rgb_is_named_at_make_not_blamed_on_the_depth(tmp_path, size, shown):
    folder = build_bop(tmp_path)
    scene = folder / "test" / "000001"
    (scene / "rgb" / "000000.png").write_bytes(bomb_png(*size))  # the first image: read for the scene's size
    with pytest.raises(CorruptFileError) as caught:
        gym.make("SpaceTools-BOPScenes-Pose-v0", data_dir=str(tmp_path))
    message = str(caught.value)
    assert message.startswith(f"{scene / 'rgb' / '000000.png'}: expected an image of {BUDGET_TEXT}"), message
    assert shown in message and "Fix: re-extract the ycbv archives" in message and "depth" not in message


def test_oversized_later_bop_rgb_and_mask_name_their_own_file(tmp_path, bomb):
    folder = build_bop(tmp_path)
    scene = folder / "test" / "000001"
    (scene / "rgb" / "000001.png").write_bytes(bomb)
    env = gym.make("SpaceTools-BOPScenes-Pose-v0", data_dir=str(tmp_path))
    env.reset(options={"index": 0})
    with pytest.raises(CorruptRowError) as caught:
        env.reset(options={"index": 2})  # item 2 is image 1
    message = str(caught.value)
    assert f"{scene}, image 1, instance 0, field 'rgb': expected an image of {BUDGET_TEXT}" in message
    assert f"got file {scene / 'rgb' / '000001.png'}: {BOMB_TEXT}" in message and "depth" not in message
    (scene / "mask_visib" / "000000_000001.png").write_bytes(bomb_png(320, 240))
    with pytest.raises(CorruptRowError) as caught:
        gym.make("SpaceTools-BOPScenes-Pose-v0", data_dir=str(tmp_path)).reset(options={"index": 0})
    expected = (f"field 'mask_visib': expected a 32x24 image (the size of the RGB image it belongs to), "
                f"got file {scene / 'mask_visib' / '000000_000001.png'}: 320x240")
    assert expected in str(caught.value)


# ---------------------------------------------------------------------------- truncated images
@pytest.mark.parametrize("tolerant", [False, True], ids=["default", "LOAD_TRUNCATED_IMAGES-on"])
def test_truncated_image_is_an_error_not_a_black_picture(tmp_path, monkeypatch, tolerant):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", tolerant)  # as another library may leave it
    rows = fixture_rows("cvb3ddepth")
    rows[2]["images"] = [{"image": _data_uri(truncated_png())}]
    path = _eval_file(tmp_path, "cvb3ddepth", rows)
    env = gym.make("SpaceTools-CVBench-3DDepth-v0", data_dir=str(tmp_path))
    with pytest.raises(CorruptRowError) as caught:
        env.reset(options={"index": 2})
    message = str(caught.value)
    assert f"{path}, row 2, column 'images[0].image': expected an image file (PNG, JPEG, ...), complete and " in message
    assert "that are no readable image (image file is truncated" in message and EVAL_FIX in message
    assert ImageFile.LOAD_TRUNCATED_IMAGES is tolerant, "the process-wide setting is left as found"


def test_truncated_image_file_names_the_file(tmp_path):
    folder = build_refspatial_bench(tmp_path)
    image = folder / "Unseen" / "image" / "1.png"
    image.write_bytes(truncated_png(keep=0.5))
    env = gym.make("SpaceTools-RefSpatialBench-Unseen-v0", data_dir=str(tmp_path))
    with pytest.raises(CorruptRowError) as caught:
        env.reset(options={"index": 1})
    assert f"question.json, row 1, column 'rgb_path': expected an image file (PNG, JPEG, ...), complete and " \
           f"readable, got file {image}, which is no readable image (image file is truncated" in str(caught.value)


# ---------------------------------------------------------------------------- flipped bytes in parquet
def test_flipped_byte_in_a_parquet_column_name_is_a_corrupt_file_at_make(tmp_path):
    path = _eval_file(tmp_path, "blinkdepth", fixture_rows("blinkdepth"))
    flip(path, b"data_source", b"\xffata_source")  # the footer's schema: pyarrow raises UnicodeDecodeError
    with pytest.raises(CorruptFileError) as caught:
        gym.make("SpaceTools-BLINK-Depth-v0", data_dir=str(tmp_path))
    assert str(caught.value) == (
        f"{path}: not a readable parquet file (UnicodeDecodeError: 'utf-8' codec can't decode byte 0xff in "
        f"position 0: invalid start byte). {EVAL_FIX}."
    )


def test_flipped_bytes_in_parquet_values_name_the_row(tmp_path):
    rows = fixture_rows("blinkdepth")
    plain = {"compression": "none", "use_dictionary": False, "write_statistics": False}  # values as bytes on disk
    path = _eval_file(tmp_path, "blinkdepth", rows, **plain)
    flip(path, b"BLINK/", b"\xffLINK/", occurrence=1)  # row 1's data_source
    with pytest.raises(CorruptRowError) as caught:
        gym.make("SpaceTools-BLINK-Depth-v0", data_dir=str(tmp_path))
    assert f"{path}, row 1, column 'data_source': expected a readable value, got an unreadable value " \
           "(UnicodeDecodeError" in str(caught.value)
    _eval_file(tmp_path, "blinkdepth", rows, **plain)
    flip(path, b"data:image/png;base64,", b"data:image/png;base64\xff", occurrence=2)  # row 2's image
    env = gym.make("SpaceTools-BLINK-Depth-v0", data_dir=str(tmp_path))
    env.reset(options={"index": 1})
    with pytest.raises(CorruptRowError, match=rf"{path}, row 2, column 'images': expected a readable value"):
        env.reset(options={"index": 2})


def test_flipped_bytes_in_a_native_parquet_name_the_row(tmp_path):
    build_blink(tmp_path)
    path = tmp_path / "BLINK" / "Counting" / "val-00000-of-00001.parquet"
    table = pq.read_table(path)
    pq.write_table(table, path, compression="none", use_dictionary=False, write_statistics=False)
    flip(path, b"val_Counting_", b"\xffal_Counting_", occurrence=2)  # row 2's idx
    with pytest.raises(CorruptRowError) as caught:
        gym.make("SpaceTools-BLINK-Counting-v0", data_dir=str(tmp_path))
    assert f"{path}, row 2, column 'idx': expected a readable value" in str(caught.value)
    assert "spacetools data download blink" in str(caught.value)


# ---------------------------------------------------------------------------- hostile JSON
@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (deep_json().encode(), "nested deeper than"),
        (("[" + long_int_json() + "]").encode(), "a number of more than 4300 digits"),
        (b'[{"\xffd": 1}]', None),
    ],
    ids=["deep", "5000-digit-int", "not-utf8"],
)
def test_hostile_annotations_json_is_a_corrupt_file_at_make(tmp_path, data, reason):
    folder = build_robospatial_home(tmp_path)
    path = folder / "annotations.json"
    path.write_bytes(data)
    with pytest.raises(CorruptFileError) as caught:
        gym.make("SpaceTools-RoboSpatialHome-v0", data_dir=str(tmp_path))
    message = str(caught.value)
    expected = f"{path}: not UTF-8 text (byte 3: invalid start byte)" if reason is None else \
        f"{path}: not readable JSON: {reason}"
    assert message.startswith(expected) and message.endswith("RoboSpatial-Eval's download_benchmark.py)."), message


def test_hostile_question_json_and_bop_scene_json_name_the_file(tmp_path):
    folder = build_refspatial_bench(tmp_path)
    records = ref_records("Location")
    text = json.dumps(records).replace('"step": 1', '"step": ' + long_int_json(), 1)
    (folder / "Location" / "question.json").write_text(text)
    with pytest.raises(CorruptFileError, match=r"question\.json: not readable JSON: a number of more than 4300 digits"):
        gym.make("SpaceTools-RefSpatialBench-Location-v0", data_dir=str(tmp_path))
    bop = build_bop(tmp_path / "bop")
    (bop / "test" / "000001" / "scene_gt.json").write_text('{"0": ' + deep_json() + "}")
    with pytest.raises(CorruptFileError) as caught:
        gym.make("SpaceTools-BOPScenes-Pose-v0", data_dir=str(tmp_path / "bop"))
    assert str(caught.value).startswith(f"{bop / 'test' / '000001' / 'scene_gt.json'}: not readable JSON: nested")
    camera = bop / "test" / "000001" / "scene_camera.json"
    camera.write_text('{"' + "1" * 5000 + '": {}}')
    (bop / "test" / "000001" / "scene_gt.json").write_text("{}")
    with pytest.raises(CorruptFileError, match=r"scene_camera.json: keys must be integer ids, got '1111.*\.\.\."):
        gym.make("SpaceTools-BOPScenes-Pose-v0", data_dir=str(tmp_path / "bop"))


def test_hostile_jsonl_lines_name_the_line(tmp_path):
    folder = build_where2place(tmp_path, lines=['{"image": "00.png", "text": "t"}', deep_json()])
    with pytest.raises(CorruptRowError) as caught:
        gym.make("SpaceTools-Where2Place-v0", data_dir=str(tmp_path))
    assert f"{folder / 'point_questions.jsonl'}, row 1, column '<line>': expected one JSON object per line, got " \
           "nested deeper than" in str(caught.value)
    cv = build_cvbench_jsonl(tmp_path / "cv")
    lines = (cv / "test_2d.jsonl").read_text().splitlines()
    assert '"idx": 1,' in lines[1]
    lines[1] = lines[1].replace('"idx": 1,', '"idx": ' + long_int_json() + ",")
    (cv / "test_2d.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(CorruptRowError, match=r"test_2d.jsonl, row 1, column '<line>': .* more than 4300 digits"):
        gym.make("SpaceTools-CVBench-Count-v0", data_dir=str(tmp_path / "cv"))


def test_image_path_may_not_leave_the_release(tmp_path):
    folder = build_robospatial_home(tmp_path)
    records = home_records()
    records[1]["img"] = "../../../../etc/passwd"
    (folder / "annotations.json").write_text(json.dumps(records))
    env = gym.make("SpaceTools-RoboSpatialHome-v0", data_dir=str(tmp_path))
    with pytest.raises(CorruptRowError, match=rf"row 1, column 'img': expected an image path relative to {folder}"):
        env.reset(options={"index": 1})


# ---------------------------------------------------------------------------- empty files
def test_zero_row_parquet_fails_at_make_naming_the_file(tmp_path):
    table = pa.Table.from_pylist(fixture_rows("boppose")).slice(0, 0)
    path = tmp_path / "spacetools-eval-benchmarks" / "data" / "boppose.parquet"
    path.parent.mkdir(parents=True)
    pq.write_table(table, path)
    with pytest.raises(CorruptFileError) as caught:
        gym.make("SpaceTools-BOP-Pose-v0", data_dir=str(tmp_path))  # was: gym.make fine, reset "high <= 0"
    assert str(caught.value) == (
        f"{path}: 'boppose' split 'test' holds no items (the file has no usable rows). {EVAL_FIX}."
    )


def test_zero_row_native_parquet_fails_at_make(tmp_path):
    build_blink(tmp_path)
    path = tmp_path / "BLINK" / "Jigsaw" / "val-00000-of-00001.parquet"
    pq.write_table(pq.read_table(path).slice(0, 0), path)
    with pytest.raises(CorruptFileError, match=rf"{path}: BLINK-Benchmark/BLINK .* split 'val' holds no items"):
        gym.make("SpaceTools-BLINK-Jigsaw-v0", data_dir=str(tmp_path))


# ---------------------------------------------------------------------------- what still works
def test_opened_at_make_yet_pickled_small_and_reopened_by_workers(tmp_path):
    data_dir = str(build_spacetools_eval(tmp_path, ["blinkdepth"]))
    env = gym.make("SpaceTools-BLINK-Depth-v0", data_dir=data_dir)
    source = env.unwrapped.source
    assert source._opened is not None, "gym.make opened the file"
    clone = pickle.loads(pickle.dumps(source))
    assert clone._opened is None and clone.get("test", 1).item_id == "blinkdepth/test/1"
    vector = spacetools_env.make_vec("SpaceTools-BLINK-Depth-v0", 2, mode="async", data_dir=data_dir)
    try:
        observations, infos = vector.reset(seed=0)
        assert len(observations) == 2 and set(infos["task"]["key"]) == {"blinkdepth"}
    finally:
        vector.close()


# ---------------------------------------------------------------------------- random damage, every reader
DAMAGED = [  # (env id, builder, file damaged): every reading path (parquet, JSON, JSONL, PNG, JPEG), every loader
    ("SpaceTools-BLINK-Depth-v0", build_spacetools_eval, "spacetools-eval-benchmarks/data/blinkdepth.parquet"),
    ("SpaceTools-BLINK-Counting-v0", build_blink, "BLINK/Counting/val-00000-of-00001.parquet"),
    ("SpaceTools-RoboSpatialHome-v0", build_robospatial_home, "RoboSpatial-Home/annotations.json"),
    ("SpaceTools-RoboSpatialHome-v0", build_robospatial_home, "RoboSpatial-Home/images/depth_configuration_0.png"),
    ("SpaceTools-Where2Place-v0", build_where2place, "where2place/point_questions.jsonl"),
    ("SpaceTools-Where2Place-v0", build_where2place, "where2place/masks/00.jpg"),
    ("SpaceTools-RefSpatialBench-Location-v0", build_refspatial_bench, "RefSpatial-Bench/Location/question.json"),
    ("SpaceTools-CVBench-Count-v0", build_cvbench_jsonl, "CV-Bench/test_2d.jsonl"),
    ("SpaceTools-BOPScenes-Pose-v0", build_bop, "ycbv/test/000001/scene_gt.json"),
    ("SpaceTools-BOPScenes-Pose-v0", build_bop, "ycbv/models/models_info.json"),
    ("SpaceTools-BOPScenes-Pose-v0", build_bop, "ycbv/test/000001/rgb/000000.png"),
]


def _damage(data: bytes, rng: np.random.Generator) -> bytes:
    damaged = bytearray(data)
    kind = rng.integers(3)
    if kind == 0:  # a few random bytes
        for at in rng.integers(0, len(damaged), size=rng.choice([1, 3, 20])):
            damaged[at] = int(rng.integers(256))
    elif kind == 1:  # cut short
        del damaged[int(rng.integers(len(damaged))):]
    else:  # a zeroed run, as a bad sector
        at = int(rng.integers(len(damaged)))
        damaged[at:at + 64] = bytes(len(damaged[at:at + 64]))
    return bytes(damaged)


@pytest.mark.parametrize(("env_id", "build", "relative"), DAMAGED, ids=[r for _, _, r in DAMAGED])
def test_randomly_damaged_files_raise_only_corrupt_data_errors(tmp_path, env_id, build, relative):
    build(tmp_path)
    target = tmp_path / relative
    original, rng = target.read_bytes(), np.random.default_rng(7)
    for _ in range(12):
        target.write_bytes(_damage(original, rng))
        try:
            env = gym.make(env_id, data_dir=str(tmp_path))
            split = env.unwrapped.config.split
            for index in range(env.unwrapped.source.num_items(split)):
                env.reset(options={"index": index})
        except CorruptDataError as exc:
            assert exc.path is not None and "Fix: " in str(exc), str(exc)
