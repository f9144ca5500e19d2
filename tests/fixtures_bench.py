"""Tiny SpaceTools evaluation parquets, in the published schema, built by the tests themselves.

``build_spacetools_eval(root)`` writes ``root/spacetools-eval-benchmarks/data/<key>.parquet`` for
the nine keys (the ``data_dir`` layout of :mod:`spacetools_env.loaders.paths`). Every row has the
published columns: ``data_source``, ``prompt`` (system + user messages), ``images`` (one
``{"image": "data:image/png;base64,..."}``), ``ability``, ``reward_model`` (``ground_truth``,
``style``) and ``extra_info``. Images are 16x12 PNGs; RefSpatial masks are base64 PNGs.
``ANSWERS`` gives, per key and row, a right and a wrong answer written by hand.
"""

from __future__ import annotations

import base64
import io
import zlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

WIDTH, HEIGHT = 16, 12
SYSTEM_PROMPT = "You are a spatial reasoning assistant (stored system prompt). Answer inside <answer></answer>."
CHOICES = "\nSelect from the following choices.\n(A) A is closer\n(B) B is closer"
POINT_SUFFIX = " Your answer should be formatted as a list of tuples, i.e. [(x1, y1)], normalized to [0, 1]."
# RoboSpatial context GT: 10 sampled points in x 0.2-0.6, y 0.5-0.9 (right half of the image is free).
CONTEXT_POINTS = (
    "[(0.2, 0.5), (0.6, 0.5), (0.6, 0.9), (0.2, 0.9), (0.3, 0.6), (0.5, 0.7), (0.4, 0.8), (0.25, 0.55), "
    "(0.55, 0.85), (0.45, 0.65)]"
)
POSE_GT = (
    "[(0.100000, 0.600000), (0.400000, 0.600000), (0.400000, 0.800000), (0.100000, 0.800000), "
    "(0.100000, 0.200000), (0.400000, 0.200000), (0.400000, 0.400000), (0.100000, 0.400000)]"
)
POSE_SHUFFLED = (
    "[(0.4, 0.4), (0.1, 0.6), (0.1, 0.2), (0.4, 0.8), (0.4, 0.6), (0.1, 0.8), (0.4, 0.2), (0.1, 0.4)]"
)
GRASP_GT = (
    "Grasp center: [0.500000, 0.500000], Left finger base: [0.450000, 0.500000], Right finger base: "
    "[0.550000, 0.500000], Left finger tip: [0.450000, 0.600000], Right finger tip: [0.550000, 0.600000]"
)
GRASP_MIRRORED = (
    "Grasp center: [0.5, 0.5], Left finger base: [0.55, 0.5], Right finger base: [0.45, 0.5], "
    "Left finger tip: [0.55, 0.6], Right finger tip: [0.45, 0.6]"
)
# Every keypoint 0.3 to the right: NCE = 0.3 / 0.1 (gripper width) = 3, not below 2.
GRASP_SHIFTED = (
    "Grasp center: [0.8, 0.5], Left finger base: [0.75, 0.5], Right finger base: [0.85, 0.5], "
    "Left finger tip: [0.75, 0.6], Right finger tip: [0.85, 0.6]"
)


def image(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)


def png_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()


def data_uri(array: np.ndarray) -> str:
    return "data:image/png;base64," + base64.b64encode(png_bytes(array)).decode()


def mask_b64(x0: int, y0: int, x1: int, y1: int) -> str:
    """A base64 PNG (no data-URI prefix): 255 on columns x0..x1-1 and rows y0..y1-1, else 0."""
    mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
    mask[y0:y1, x0:x1] = 255
    return base64.b64encode(png_bytes(mask)).decode()


def row(
    key: str, index: int, data_source: str, question: str, truth: str, extra: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One row in the published schema."""
    return {
        "data_source": data_source,
        "prompt": [
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": "<image>\n" + question},
        ],
        "images": [{"image": data_uri(image(zlib.crc32(f"{key}/{index}".encode())))}],
        "ability": "spatial",
        "reward_model": {"ground_truth": truth, "style": "rule"},
        "extra_info": {"question": question, "index": index, **(extra or {})},
    }


def _robospatial() -> list[dict[str, Any]]:
    context = "In the image, there is a bowl. Pinpoint several points within the vacant space to the left of the bowl."
    return [
        row("robospatial", 0, "robospatial", "Is the mug above the table? Answer yes or no.", "Yes",
            {"category": "configuration"}),
        row("robospatial", 1, "robospatial", "Can the box fit in front of the mug? Answer yes or no.", "No",
            {"category": "compatibility"}),
        row("robospatial", 2, "robospatial", context + POINT_SUFFIX, CONTEXT_POINTS, {"category": "context"}),
        row("robospatial", 3, "robospatial", "Is the cup left of the plate? Answer yes or no.", "No"),
    ]


def _refspatial(key: str, split: str) -> list[dict[str, Any]]:
    extra = {"qa_type": "bench_point", "step": 2}
    return [
        row(key, i, f"RefSpatial-Bench/{split}", f"Please point out {what}." + POINT_SUFFIX, mask, extra)
        for i, (what, mask) in enumerate(
            [
                ("the cup left of the plate", mask_b64(0, 0, 4, 4)),  # columns 0-3, rows 0-3
                ("the free space behind the mug", mask_b64(8, 6, 16, 12)),
                ("the second box from the left", mask_b64(5, 2, 7, 9)),
            ]
        )
    ]


def _choices(key: str, data_source: str, truths: Iterable[str]) -> list[dict[str, Any]]:
    question = "Two points are circled on the image, labeled by A and B. Which point is closer to the camera?"
    extra = {"answer": "", "choices": ["A is closer", "B is closer"], "split": "val"}
    return [
        row(key, i, data_source, question + CHOICES, truth, {**extra, "answer": f"({truth})"})
        for i, truth in enumerate(truths)
    ]


BOP_QUESTIONS = {  # the one template of each, as in the published parquet (notes section 8)
    "pose": "What are the eight normalized (x, y) image coordinates between 0 and 1 of the cuboid corners for the "
    "red box? Your answer should be a list of normalized (x, y) image coordinates between 0 and 1 with bottom face "
    "first then top face, all counter-clockwise. Your answer should be formated as a list of 8 tuples like "
    "[(x1, y1), (x2, y2), ...].",
    "grasp": "What are the five normalized (x, y) points between 0 and 1 in the image that outline the grasp plane "
    "for the red box? Your answer should be as Grasp center: [], Left finger base: [], Right finger base: [], "
    "Left finger tip: [], Right finger tip: [].",
}


def _bop(key: str, suffix: str, truth: str) -> list[dict[str, Any]]:
    question = BOP_QUESTIONS[suffix]
    return [row(key, i, f"bop-ask-lab-{suffix}", question, truth) for i in range(3)]


def fixture_rows(key: str) -> list[dict[str, Any]]:
    """The rows of ``key``'s fixture file."""
    builders = {
        "robospatial": _robospatial,
        "reflocation": lambda: _refspatial("reflocation", "location"),
        "refplacement": lambda: _refspatial("refplacement", "placement"),
        "refunseen": lambda: _refspatial("refunseen", "unseen"),
        "blinkdepth": lambda: _choices("blinkdepth", "BLINK/Relative_Depth", "BAB"),
        "cvb2drelation": lambda: _choices("cvb2drelation", "CV-Bench/2D_Relation", "ABA"),
        "cvb3ddepth": lambda: _choices("cvb3ddepth", "CV-Bench/3D_Depth", "BBA"),
        "boppose": lambda: _bop("boppose", "pose", POSE_GT),
        "bopgrasp": lambda: _bop("bopgrasp", "grasp", GRASP_GT),
    }
    return builders[key]()


# (right answer, wrong answer) for row 0 of each key, written by hand from the fixture's GT.
ANSWERS: dict[str, tuple[str, str]] = {
    "robospatial": ("Yes, it is.", "**Yes**"),
    "reflocation": ("[(0.1, 0.1)]", "[(0.9, 0.9)]"),
    "refplacement": ("[(0.1, 0.1)]", "[(0.9, 0.9)]"),
    "refunseen": ("[(0.1, 0.1)]", "[(0.5, 0.5)]"),
    "blinkdepth": ("(B)", "A"),
    "cvb2drelation": ("A.", "B"),
    "cvb3ddepth": ("B", "(A) A is closer"),
    "boppose": (POSE_SHUFFLED, POSE_SHUFFLED.rsplit(", (", 1)[0] + "]"),  # wrong: 7 corners
    "bopgrasp": (GRASP_MIRRORED, GRASP_SHIFTED),
}


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def build_spacetools_eval(root: Path, keys: Iterable[str] | None = None) -> Path:
    """Write ``root/spacetools-eval-benchmarks/data/<key>.parquet`` for ``keys`` (default: all nine)."""
    from spacetools_env.loaders.spacetools_parquet import KEYS

    for key in KEYS if keys is None else keys:
        write_rows(root / "spacetools-eval-benchmarks" / "data" / f"{key}.parquet", fixture_rows(key))
    return root
