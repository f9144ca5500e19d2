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

``ITEM0_CORNERS`` is item 0's answer computed by hand below. ``build_rendered_bop(root)`` writes
another folder whose depth and mask are ray-cast from the true pose through an off-centre
principal point (for the 3D box tool chain).
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
    dataset: str = "ycbv",
) -> Path:
    """Write ``root/<dataset>/`` (``ycbv``: see the module docstring), with optional replacements; returns it."""
    folder = root / dataset
    _write_json(folder / models_at, {str(OBJ): dict(BOX)} if models is None else models)
    _write_test_scene(folder / "test" / "000001", scene_gt() if gt is None else gt,
                      scene_camera() if camera is None else camera, scene_gt_info() if info is None else info)
    _write_val_scene(folder / "val" / "000002")
    return folder


# ---------------------------------------------------------------------------- a rendered off-centre scene
RENDER_WIDTH, RENDER_HEIGHT = 64, 48
# Principal point well off the image centre (32, 24), as BOP cameras have it (by a few pixels there).
RENDER_CAM_K = [60.0, 0.0, 40.0, 0.0, 60.0, 17.0, 0.0, 0.0, 1.0]
RENDER_DEPTH_SCALE = 0.01  # png value x 0.01 = mm: depth exact to 0.01 mm (uint16: up to 655 mm)
RENDER_BACKGROUND_MM = 600.0
# UPRIGHT turned 35 degrees about the camera's vertical axis, then its top tipped 30 degrees towards
# the camera: two side faces and the top visible.
_YAW, _PITCH = np.radians(35.0), np.radians(30.0)
_TURN = np.array([[np.cos(_YAW), 0.0, np.sin(_YAW)], [0.0, 1.0, 0.0], [-np.sin(_YAW), 0.0, np.cos(_YAW)]])
_TIP = np.array([[1.0, 0.0, 0.0], [0.0, np.cos(_PITCH), -np.sin(_PITCH)], [0.0, np.sin(_PITCH), np.cos(_PITCH)]])
RENDER_ROTATION = (_TIP @ _TURN @ np.array(UPRIGHT).reshape(3, 3)).ravel().tolist()
RENDER_TRANSLATION = (-10.0, 15.0, 100.0)  # mm, off the optical axis


def _ray_cast_box(rotation: np.ndarray, t: np.ndarray, cam_k: np.ndarray, width: int, height: int) -> np.ndarray:
    """Camera-frame depth (mm, inf = miss) of the BOX model at pose (rotation, t), per OpenCV pixel centre."""
    u, v = np.meshgrid(np.arange(width, dtype=np.float64), np.arange(height, dtype=np.float64))
    rays = np.stack([u, v, np.ones_like(u)], axis=-1) @ np.linalg.inv(cam_k).T  # camera z component 1
    origin = rotation.T @ (-t)  # the camera centre in the model frame
    directions = rays @ rotation  # rows: R^T d
    low = np.array([BOX["min_x"], BOX["min_y"], BOX["min_z"]])
    high = low + np.array([BOX["size_x"], BOX["size_y"], BOX["size_z"]])
    with np.errstate(divide="ignore", invalid="ignore"):
        t0, t1 = (low - origin) / directions, (high - origin) / directions
    near = np.nanmax(np.minimum(t0, t1), axis=-1)
    far = np.nanmin(np.maximum(t0, t1), axis=-1)
    return np.where((near <= far) & (near > 0), near, np.inf)  # the ray's parameter is its camera z


def build_rendered_bop(root: Path, dataset: str = "ycbv") -> Path:
    """Write ``root/<dataset>/``: one 64x48 image of the BOX, its depth and mask ray-cast exactly, cam_K off-centre.

    Scene ``test/000003``, image 0, one instance (obj :data:`OBJ` at :data:`RENDER_ROTATION`,
    :data:`RENDER_TRANSLATION`) over a background plane at :data:`RENDER_BACKGROUND_MM`; returns the folder.
    """
    folder = root / dataset
    scene = folder / "test" / "000003"
    _write_json(folder / "models" / "models_info.json", {str(OBJ): dict(BOX)})
    _write_json(scene / "scene_gt.json", {"0": [instance(OBJ, RENDER_ROTATION, RENDER_TRANSLATION)]})
    _write_json(scene / "scene_camera.json", {"0": {"cam_K": list(RENDER_CAM_K), "depth_scale": RENDER_DEPTH_SCALE}})
    _write_json(scene / "scene_gt_info.json", {"0": [{"visib_fract": 1.0}]})
    cam_k = np.array(RENDER_CAM_K).reshape(3, 3)
    depth_mm = _ray_cast_box(np.array(RENDER_ROTATION).reshape(3, 3), np.array(RENDER_TRANSLATION), cam_k,
                             RENDER_WIDTH, RENDER_HEIGHT)
    mask = np.isfinite(depth_mm)
    depth_mm[~mask] = RENDER_BACKGROUND_MM
    for sub in ("rgb", "depth", "mask_visib"):
        (scene / sub).mkdir(parents=True, exist_ok=True)
    rgb = np.full((RENDER_HEIGHT, RENDER_WIDTH, 3), 90, dtype=np.uint8)
    rgb[mask] = (200, 160, 40)
    Image.fromarray(rgb).save(scene / "rgb" / "000000.png")
    Image.fromarray(np.round(depth_mm / RENDER_DEPTH_SCALE).astype(np.uint16)).save(scene / "depth" / "000000.png")
    Image.fromarray(mask.astype(np.uint8) * 255).save(scene / "mask_visib" / "000000_000000.png")
    return folder
