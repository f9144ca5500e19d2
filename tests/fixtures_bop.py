"""A tiny BOP dataset folder in the ``bop_toolkit`` layout (notes sections 9 and 11), built by the tests.

``build_bop(root)`` writes ``root/ycbv/`` (the default dataset's folder)::

    models/models_info.json          # obj 3 (a 20 x 10 x 30 mm cuboid, YCB-V's "sugar box"); obj 2 has no entry
    test/000001/                     # 32x24 images, cam_K fx = fy = 40, principal point (16, 12)
        scene_camera.json scene_gt.json scene_gt_info.json
        rgb/000000.png rgb/000001.png depth/00000{0,1}.png mask_visib/00000{0,1}_00000{0,1,2}.png
    val/000002/                      # one .jpg image, no scene_gt_info, depth or masks

Image 0 of ``test`` shows two instances of obj 3 (gt 0 in the middle, gt 1 on the right) and obj
2 (gt 2, on the left, no model: no item); image 1 shows obj 3 again (gt 0) and an invisible
instance (gt 1, ``visib_fract`` 0: no item). Items of ``test``: (image 0, gt 0), (0, 1), (1, 0).

``ITEM0_CORNERS`` is item 0's answer computed by hand below.
"""

from __future__ import annotations

import json
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

WIDTH, HEIGHT = 32, 24
CAM_K = [40.0, 0.0, 16.0, 0.0, 40.0, 12.0, 0.0, 0.0, 1.0]
DEPTH_SCALE = 0.1  # png value x 0.1 = mm, as YCB-V
BACKGROUND_MM = 1000.0
OBJ, UNMODELLED_OBJ = 3, 2
BOX = {"diameter": 38.7, "min_x": -10.0, "min_y": -5.0, "min_z": -10.0, "size_x": 20.0, "size_y": 10.0,
       "size_z": 30.0}
# Model z up -> camera -y (image up): camera (X, Y, Z) = (x, -z, y) + t.
UPRIGHT = [1.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 1.0, 0.0]
IDENTITY = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]

# Item 0 (image 0, gt 0: UPRIGHT, t = (0, 0, 100) mm). Camera corners: X = +-10, Y = -z = 10 (model
# z = -10, the bottom) or -20 (z = 20, the top), Z = 100 + y = 95 or 105. Pixels u = 40 X / Z + 16,
# v = 40 Y / Z + 12; normalized u / 32, v / 24:
#   Z = 95:  u = 16 -+ 400/95  = 11.789474 | 20.210526 -> 0.368421 | 0.631579
#            v(Y=10) = 12 + 400/95 = 16.210526 -> 0.675439;  v(Y=-20) = 12 - 800/95 = 3.578947 -> 0.149123
#   Z = 105: u = 16 -+ 400/105 = 12.190476 | 19.809524 -> 0.380952 | 0.619048
#            v(Y=10) = 12 + 400/105 = 15.809524 -> 0.658730; v(Y=-20) = 12 - 800/105 = 4.380952 -> 0.182540
# Up is the box axis nearest image up (model z); the bottom face (Y = 10) counter-clockwise in
# the image from its lowest corner (the near-left one; near-left and near-right tie, the first in
# counter-clockwise order wins): near-left, near-right, far-right, far-left; then the tops.
ITEM0_CORNERS = (
    "[(0.368421, 0.675439), (0.631579, 0.675439), (0.619048, 0.658730), (0.380952, 0.658730), "
    "(0.368421, 0.149123), (0.631579, 0.149123), (0.619048, 0.182540), (0.380952, 0.182540)]"
)
ITEM0_NAME = "leftmost sugar box"

# Visible pixels [rows, cols] and their depth (mm) per (image, gt): painted into depth and masks.
REGIONS: dict[tuple[int, int], tuple[slice, slice, float]] = {
    (0, 0): (slice(4, 16), slice(12, 20), 95.0),
    (0, 1): (slice(10, 14), slice(23, 30), 140.0),
    (0, 2): (slice(10, 14), slice(3, 8), 150.0),
    (1, 0): (slice(4, 16), slice(12, 20), 95.0),
}


def _image(seed: str) -> np.ndarray:
    return np.random.default_rng(zlib.crc32(seed.encode())).integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)


def instance(obj_id: int, rotation: list[float], t: tuple[float, float, float]) -> dict[str, Any]:
    return {"obj_id": obj_id, "cam_R_m2c": rotation, "cam_t_m2c": list(t)}


def scene_gt() -> dict[str, list[dict[str, Any]]]:
    return {
        "0": [instance(OBJ, UPRIGHT, (0.0, 0.0, 100.0)), instance(OBJ, IDENTITY, (40.0, 0.0, 150.0)),
              instance(UNMODELLED_OBJ, IDENTITY, (-40.0, 0.0, 150.0))],
        "1": [instance(OBJ, UPRIGHT, (0.0, 0.0, 100.0)), instance(OBJ, IDENTITY, (40.0, 0.0, 150.0))],
    }


def scene_camera() -> dict[str, dict[str, Any]]:
    return {im: {"cam_K": list(CAM_K), "depth_scale": DEPTH_SCALE} for im in ("0", "1")}


def scene_gt_info() -> dict[str, list[dict[str, Any]]]:
    def entry(fraction: float) -> dict[str, Any]:
        return {"bbox_obj": [0, 0, 1, 1], "bbox_visib": [0, 0, 1, 1], "px_count_all": 100,
                "px_count_valid": 100, "px_count_visib": int(100 * fraction), "visib_fract": fraction}

    return {"0": [entry(0.9), entry(1.0), entry(0.8)], "1": [entry(1.0), entry(0.0)]}


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def _write_test_scene(folder: Path, gt: dict[str, Any], camera: dict[str, Any], info: dict[str, Any]) -> None:
    for sub in ("rgb", "depth", "mask_visib"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    _write_json(folder / "scene_gt.json", gt)
    _write_json(folder / "scene_camera.json", camera)
    _write_json(folder / "scene_gt_info.json", info)
    for im, instances in ((0, 3), (1, 2)):
        Image.fromarray(_image(f"test/{im}")).save(folder / "rgb" / f"{im:06d}.png")
        depth = np.full((HEIGHT, WIDTH), BACKGROUND_MM / DEPTH_SCALE, dtype=np.uint16)
        depth[0, 0] = 0  # no reading
        for gt_id in range(instances):
            mask = np.zeros((HEIGHT, WIDTH), dtype=np.uint8)
            if (im, gt_id) in REGIONS:
                rows, cols, mm = REGIONS[(im, gt_id)]
                mask[rows, cols] = 255
                depth[rows, cols] = round(mm / DEPTH_SCALE)
            Image.fromarray(mask).save(folder / "mask_visib" / f"{im:06d}_{gt_id:06d}.png")
        Image.fromarray(depth).save(folder / "depth" / f"{im:06d}.png")


def _write_val_scene(folder: Path) -> None:
    (folder / "rgb").mkdir(parents=True, exist_ok=True)
    _write_json(folder / "scene_gt.json", {"5": [instance(OBJ, UPRIGHT, (0.0, 0.0, 100.0))]})
    _write_json(folder / "scene_camera.json", {"5": {"cam_K": list(CAM_K), "depth_scale": DEPTH_SCALE}})
    Image.fromarray(_image("val/5")).save(folder / "rgb" / "000005.jpg", quality=95)


def build_bop(
    root: Path,
    *,
    gt: dict[str, Any] | None = None,
    camera: dict[str, Any] | None = None,
    info: dict[str, Any] | None = None,
    models: dict[str, Any] | None = None,
    models_at: str = "models/models_info.json",
) -> Path:
    """Write ``root/ycbv/`` (see the module docstring), with optional replacements; returns the folder."""
    folder = root / "ycbv"
    _write_json(folder / models_at, {str(OBJ): dict(BOX)} if models is None else models)
    _write_test_scene(folder / "test" / "000001", scene_gt() if gt is None else gt,
                      scene_camera() if camera is None else camera, scene_gt_info() if info is None else info)
    _write_val_scene(folder / "val" / "000002")
    return folder
