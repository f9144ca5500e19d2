"""Tiny native benchmark releases, in each release's own on-disk format, built by the tests.

- ``build_robospatial_home(root)``: ``root/RoboSpatial-Home/annotations.json`` + ``images/``
  (RGB, 16-bit depth in millimetres, masks), plus a second ``extra.json`` the official scorer
  would also read.
- ``build_blink(root)``: ``root/BLINK/<Subtask>/val-00000-of-00001.parquet`` for all 14 subtasks.
- ``build_cvbench(root)``: ``root/CV-Bench/test_2d.parquet`` and ``test_3d.parquet``;
  ``build_cvbench_jsonl(root)``: the same rows as ``test_2d.jsonl``/``test_3d.jsonl`` + ``img/``.
- ``build_robospatial_home_parquet(root)``: the hub copy, ``root/RoboSpatial-Home/data/<split>-00000-of-00001.parquet``,
  the same records and image bytes as ``build_robospatial_home`` (without ``extra.json``).
- ``build_alternative_layouts(root)``: every release in its other layout (CV-Bench jsonl, RoboSpatial-Home parquet).

Images are 16x12. ``ANSWERS`` gives, per env id, a right and a wrong answer for item 0,
written by hand from the fixture's gold.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from fixtures_bench import HEIGHT, WIDTH, image, png_bytes
from fixtures_bop import ITEM0_CORNERS, build_bop
from PIL import Image

from spacetools_env.loaders.blink import SUBTASKS, env_name

REF_TASKS = ("Location", "Placement", "Unseen")
SQUARE = "[(0.2, 0.5), (0.6, 0.5), (0.6, 0.9), (0.2, 0.9)]"  # a polygon in listed order
DEPTH_MM = 1500  # every depth pixel but one: 1.5 m


def _seed(text: str) -> int:
    return zlib.crc32(text.encode())


# ---------------------------------------------------------------------------- RoboSpatial-Home
def home_records() -> list[dict[str, Any]]:
    """The records of ``annotations.json`` (paths relative to the folder, as the downloader writes)."""
    rows = [
        ("configuration", "Is the mug above the table? Answer yes or no.", "Yes", True),
        ("compatibility", "Can the box fit in front of the mug? Answer yes or no.", "No", False),
        ("context", "In the image, there is a bowl. Pinpoint several points within the vacant space "
         "to the left of the bowl.", SQUARE, True),
    ]
    return [
        {
            "category": category,
            "question": question,
            "answer": answer,
            "img": f"images/img_{category}_{i}.png",
            "depth_image": f"images/depth_{category}_{i}.png",
            "mask": f"images/mask_{category}_{i}.png" if has_mask else None,
        }
        for i, (category, question, answer, has_mask) in enumerate(rows)
    ]


EXTRA_RECORD = {
    "category": "configuration",
    "question": "Is the lamp left of the sofa? Answer yes or no.",
    "answer": "No",
    "img": "images/img_extra.png",
    "depth_image": None,
    "mask": None,
}


def _home_images(record: dict[str, Any]) -> dict[str, np.ndarray]:
    """Relative path -> pixels of the RGB, depth (16-bit mm) and mask images a record names."""
    arrays = {record["img"]: image(_seed(record["img"]))}
    if record["depth_image"]:
        depth = np.full((HEIGHT, WIDTH), DEPTH_MM, dtype=np.uint16)
        depth[0, 0] = 0  # no reading
        arrays[record["depth_image"]] = depth
    if record["mask"]:
        mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
        mask[2:6, 3:9] = 255
        arrays[record["mask"]] = mask
    return arrays


def _write_home_images(folder: Path, record: dict[str, Any]) -> None:
    for name, array in _home_images(record).items():
        Image.fromarray(array).save(folder / name)


def build_robospatial_home(root: Path, records: list[dict[str, Any]] | None = None) -> Path:
    """Write ``root/RoboSpatial-Home/{annotations.json, extra.json, images/}``; returns the folder."""
    folder = root / "RoboSpatial-Home"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    records = home_records() if records is None else records
    for record in [*home_records(), EXTRA_RECORD]:
        _write_home_images(folder, record)
    (folder / "annotations.json").write_text(json.dumps(records))
    (folder / "extra.json").write_text(json.dumps([EXTRA_RECORD]))
    return folder


HOME_PARQUET_SPLITS = ("context", "compatibility", "configuration")


def home_parquet_rows(split: str) -> list[dict[str, Any]]:
    """The hub parquet rows of one split: ``home_records()`` of that category, images as HF cells."""
    rows = []
    for record in home_records():
        if record["category"] == split:
            images = _home_images(record)
            cells = {c: {"bytes": png_bytes(images[record[c]]), "path": Path(record[c]).name} if record[c] else None
                     for c in ("img", "depth_image", "mask")}
            rows.append({"category": split, "question": record["question"], "answer": record["answer"], **cells})
    return rows


def build_robospatial_home_parquet(root: Path, rows: dict[str, list[dict[str, Any]]] | None = None) -> Path:
    """Write the hub copy ``root/RoboSpatial-Home/data/<split>-00000-of-00001.parquet``; returns the folder."""
    folder = root / "RoboSpatial-Home" / "data"
    for split in HOME_PARQUET_SPLITS:
        split_rows = rows[split] if rows and split in rows else home_parquet_rows(split)
        write_parquet(folder / f"{split}-00000-of-00001.parquet", split_rows, ("img", "depth_image", "mask"))
    return folder


# ---------------------------------------------------------------------------- BLINK
BLINK_GOLD = "BAB"


def _cell(seed: int) -> dict[str, Any]:
    return {"bytes": png_bytes(image(seed)), "path": None}


def blink_rows(subtask: str) -> list[dict[str, Any]]:
    """Three val rows; Multi-view_Reasoning and Jigsaw use two images, the others one."""
    two_images = subtask in ("Multi-view_Reasoning", "Jigsaw")
    rows = []
    for i, gold in enumerate(BLINK_GOLD):
        choices = ["the first option", "the second option"]
        question = f"Question {i} about {subtask}?"
        rows.append({
            "idx": f"val_{subtask}_{i + 1}",
            "question": question,
            "choices": choices,
            "answer": f"({gold})",
            "prompt": f"{question}\nSelect from the following choices.\n(A) {choices[0]}\n(B) {choices[1]}",
            "image_1": _cell(_seed(f"{subtask}/{i}/1")),
            "image_2": _cell(_seed(f"{subtask}/{i}/2")) if two_images else None,
            "image_3": None,
            "image_4": None,
        })
    return rows


def write_parquet(path: Path, rows: list[dict[str, Any]], image_columns: tuple[str, ...] | None = None) -> Path:
    """Rows as parquet; ``image_columns`` (default: names starting with ``image``) as HF image cells."""
    path.parent.mkdir(parents=True, exist_ok=True)
    image_type = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    is_image = (lambda n: n.startswith("image")) if image_columns is None else (lambda n: n in image_columns)
    fields = [(name, image_type if is_image(name) else None) for name in rows[0]]
    schema = pa.schema([(n, t) for n, t in fields if t is not None])
    table = pa.Table.from_pylist(rows)
    for name in schema.names:
        table = table.set_column(table.column_names.index(name), name, table.column(name).cast(schema.field(name).type))
    pq.write_table(table, path)
    return path


def build_blink(root: Path) -> Path:
    for subtask in SUBTASKS:
        write_parquet(root / "BLINK" / subtask / "val-00000-of-00001.parquet", blink_rows(subtask))
    return root


# ---------------------------------------------------------------------------- CV-Bench
CVBENCH_GOLD = {"Count": "C", "Relation": "A", "Depth": "B", "Distance": "A"}


def cvbench_rows(file: str) -> list[dict[str, Any]]:
    """Three rows per task of ``test_2d`` or ``test_3d``, interleaved as in the release."""
    tasks = {"test_2d": (("Count", "COCO"), ("Relation", "ADE20K")), "test_3d": (("Depth", "Omni3D"),
             ("Distance", "Omni3D"))}[file]
    rows = []
    for i in range(3):
        for task, source in tasks:
            choices = ["3", "2", "1", "0"] if task == "Count" else ["left", "right"]
            options = " ".join(f"({'ABCD'[k]}) {c}" for k, c in enumerate(choices))
            gold = CVBENCH_GOLD[task] if i == 0 else "A"
            rows.append({
                "idx": len(rows),
                "type": file[-2:].upper(),
                "task": task,
                "image": _cell(_seed(f"{file}/{task}/{i}")),
                "question": f"{task} question {i}?",
                "choices": choices,
                "answer": f"({gold})",
                "prompt": f"{task} question {i}? Select from the following choices. {options}",
                "source": source,
            })
    return rows


def build_cvbench(root: Path) -> Path:
    for file in ("test_2d", "test_3d"):
        write_parquet(root / "CV-Bench" / f"{file}.parquet", cvbench_rows(file))
    return root


def cvbench_jsonl_rows(file: str) -> list[dict[str, Any]]:
    """``cvbench_rows(file)`` as the jsonl holds them: ``filename`` instead of the image, as in the release."""
    out = []
    for row in cvbench_rows(file):
        name = f"img/{row['type']}/{row['task'].lower()}/{row['idx']}.png"
        out.append({**{k: v for k, v in row.items() if k != "image"}, "filename": name, "_png": row["image"]["bytes"]})
    return out


def build_cvbench_jsonl(root: Path, rows: dict[str, list[dict[str, Any]]] | None = None) -> Path:
    """Write ``root/CV-Bench/{test_2d,test_3d}.jsonl`` + ``img/``; returns the folder."""
    folder = root / "CV-Bench"
    for file in ("test_2d", "test_3d"):
        for row in cvbench_jsonl_rows(file):
            (folder / row["filename"]).parent.mkdir(parents=True, exist_ok=True)
            (folder / row["filename"]).write_bytes(row["_png"])
        lines = rows[file] if rows and file in rows else cvbench_jsonl_rows(file)
        text = "\n".join(json.dumps({k: v for k, v in r.items() if k != "_png"}) for r in lines)
        (folder / f"{file}.jsonl").write_text(text + "\n")
    return folder


def build_alternative_layouts(root: Path) -> Path:
    build_refspatial_bench(root)
    build_where2place(root)
    build_robospatial_home_parquet(root)
    build_blink(root)
    build_cvbench_jsonl(root)
    return root


def build_all(root: Path) -> Path:
    build_refspatial_bench(root)
    build_where2place(root)
    build_robospatial_home(root)
    build_blink(root)
    build_cvbench(root)
    build_bop(root)
    return root


# (right answer, wrong answer) for item 0 of each native id.
ANSWERS: dict[str, tuple[str, str]] = {
    "SpaceTools-RoboSpatialHome-v0": ("Yes.", "**Yes**"),
    **{f"SpaceTools-BLINK-{env_name(s)}-v0": ("(B)", "The answer is (B).") for s in SUBTASKS},
    "SpaceTools-CVBench-Count-v0": ("C", "(A)"),
    "SpaceTools-CVBench-Relation-v0": ("(A)", "B"),
    "SpaceTools-CVBench-Depth-v0": ("B.", "A"),
    "SpaceTools-CVBench-Distance-v0": ("A", "(B) right"),
    "SpaceTools-Where2Place-v0": ("[(0.7, 0.6)]", "[(0.1, 0.1)]"),
    "SpaceTools-BOPScenes-Pose-v0": (ITEM0_CORNERS, "[(0.5, 0.5)]"),
    **{f"SpaceTools-RefSpatialBench-{t}-v0": ("[(0.1, 0.1)]", "[(0.9, 0.9)]") for t in REF_TASKS},
}


# ---------------------------------------------------------------------------- Where2Place
W2P_SIZE = (640, 480)


def w2p_records() -> list[dict[str, Any]]:
    return [
        {"question_id": i, "image": f"{i:02d}.png", "category": "seen" if i < 2 else "unseen",
         "text": f"Point at free space {i}. Your answer should be formatted as a list of tuples, i.e. [(x1, y1)]."}
        for i in range(3)
    ]


def build_where2place(root: Path, lines: list[str] | None = None) -> Path:
    """Write ``root/where2place/{point_questions.jsonl, images/, masks/}``; returns the folder."""
    folder = root / "where2place"
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "masks").mkdir(exist_ok=True)
    width, height = W2P_SIZE
    for i, record in enumerate(w2p_records()):
        Image.new("RGB", W2P_SIZE, (40 * i, 90, 160)).save(folder / "images" / record["image"])
        mask = np.zeros((height, width), dtype=np.uint8)
        mask[243:403, 323:603] = 255  # x 0.5-0.94, y 0.5-0.84; off the 8x8 JPEG grid: soft edges
        Image.fromarray(mask).save(folder / "masks" / f"{i:02d}.jpg", quality=90)
    lines = [json.dumps(r) for r in w2p_records()] if lines is None else lines
    (folder / "point_questions.jsonl").write_text("\n".join(lines) + "\n")
    return folder


# ---------------------------------------------------------------------------- RefSpatial-Bench
REF_BOXES = ((0, 0, 4, 4), (8, 6, 16, 12), (5, 2, 7, 9))  # mask columns x0..x1-1, rows y0..y1-1


def ref_records(task: str) -> list[dict[str, Any]]:
    return [
        {"id": i, "object": f"thing {i}", "prompt": f"Please point out the thing {i} in the {task.lower()} scene.",
         "suffix": "Your answer should be formatted as a list of tuples, i.e. [(x1, y1)], normalized to [0, 1].",
         "rgb_path": f"image/{i}.png", "mask_path": f"mask/{i}.png", "category": task.lower(), "step": 1 + i}
        for i in range(len(REF_BOXES))
    ]


def build_refspatial_bench(root: Path, records: dict[str, list[dict[str, Any]]] | None = None) -> Path:
    """Write ``root/RefSpatial-Bench/<Task>/{question.json, image/, mask/}``; returns the folder."""
    folder = root / "RefSpatial-Bench"
    for task in REF_TASKS:
        (folder / task / "image").mkdir(parents=True, exist_ok=True)
        (folder / task / "mask").mkdir(exist_ok=True)
        for i, (x0, y0, x1, y1) in enumerate(REF_BOXES):
            Image.fromarray(image(_seed(f"{task}/{i}"))).save(folder / task / "image" / f"{i}.png")
            mask = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
            mask[y0:y1, x0:x1] = 255
            Image.fromarray(mask).save(folder / task / "mask" / f"{i}.png")
        task_records = ref_records(task) if records is None or task not in records else records[task]
        (folder / task / "question.json").write_text(json.dumps(task_records))
    return folder
