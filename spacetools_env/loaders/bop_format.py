"""The BOP on-disk format as data: parsed scene JSON, the decoded instance, box projection, naming.

Everything here reads one file or one value and names what is wrong (a :class:`RowError` wrapped
in :class:`LocatedRowError` with the file and image); :mod:`spacetools_env.loaders.bop` walks the
folder and turns instances into items. Format and conventions: notes section 9 and the
:mod:`~spacetools_env.loaders.bop` module docstring.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard

import numpy as np

from spacetools_env.loaders.json_files import read_json as read_json_file
from spacetools_env.loaders.rows import CorruptFileError, RowError, describe
from spacetools_env.task import TaskItem
from tool_backends import GroundTruth
from tool_backends.geometry import box_corners

_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_MAX_ID_DIGITS = 9  # BOP ids are image, object and scene numbers (06d in file names)


_BOX_FIELDS = ("min_x", "min_y", "min_z", "size_x", "size_y", "size_z")


@dataclass(frozen=True)
class BOPInstance:
    """One object instance in one BOP image, decoded: what a family turns into an item.

    Attributes:
        dataset: The dataset folder name (``ycbv``).
        split: The split folder (``test``, ``train_pbr``).
        scene_id, im_id, gt_id: The scene, the image, the instance's index in ``scene_gt[im_id]``.
        obj_id: The object's BOP id.
        name: The expression naming this instance (see the module docstring).
        image: HxWx3 uint8 RGB, read-only.
        corners_2d: (8, 2) normalized image coordinates of the box corners.
        corners_3d: (8, 3) the same corners in the camera frame (OpenCV, metres); both in the
            order of :func:`tool_backends.geometry.box_corners` with the model's x, y, z axes
            as ``a0, a1, a2`` (face ``-z`` then face ``+z``).
        visib_fract: ``scene_gt_info`` visible fraction (1.0 when the folder has no such file).
        truth: Oracle-tool truth of the image (None without depth and masks).
    """

    dataset: str
    split: str
    scene_id: int
    im_id: int
    gt_id: int
    obj_id: int
    name: str
    image: np.ndarray
    corners_2d: np.ndarray
    corners_3d: np.ndarray
    visib_fract: float
    truth: GroundTruth | None


BOPBuilder = Callable[[BOPInstance], TaskItem]


@dataclass(frozen=True)
class ModelBox:
    minimum: np.ndarray  # (3,) mm
    size: np.ndarray  # (3,) mm


@dataclass(frozen=True)
class GtInstance:
    gt_id: int
    obj_id: int
    rotation: np.ndarray  # (3, 3) cam_R_m2c
    translation: np.ndarray  # (3,) cam_t_m2c, mm
    visib_fract: float


@dataclass(frozen=True)
class SceneCamera:
    matrix: np.ndarray  # (3, 3) cam_K
    depth_scale: float | None


@dataclass
class Scene:
    split: str
    folder: Path
    scene_id: int
    size: tuple[int, int]  # (W, H) of the scene's images
    rgb: dict[int, str]  # im_id -> file name in rgb/
    has_depth: bool
    has_masks: bool
    cameras: dict[int, SceneCamera] = field(default_factory=dict)
    instances: dict[int, tuple[GtInstance, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class InstanceRecord:
    scene: Scene
    im_id: int
    gt_id: int


class LocatedRowError(Exception):
    """A field error with the file and image (instance) it is in, turned into CorruptRowError."""

    def __init__(self, path: Path, im_id: int | None, gt_id: int | None, error: RowError) -> None:
        super().__init__(str(error))
        self.path, self.im_id, self.gt_id, self.error = path, im_id, gt_id, error


def _is_number(value: Any) -> TypeGuard[int | float]:
    return type(value) in (int, float) and math.isfinite(value)  # JSON numbers; bool is no number here


def _numbers(value: Any, count: int, column: str) -> np.ndarray:
    if isinstance(value, list) and len(value) == count and all(map(_is_number, value)):
        return np.array(value, dtype=np.float64)
    raise RowError(column, f"a list of {count} finite numbers", describe(value))


def _object(value: Any, column: str, expected: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise RowError(column, expected, describe(value))
    return value


def parse_camera(value: Any) -> SceneCamera:
    entry = _object(value, "<entry>", "an object {cam_K: 9 numbers, depth_scale: number, ...}")
    if "cam_K" not in entry and "cam_model" in entry:
        raise RowError("cam_K", "a pinhole cam_K (BOP24 cam_model cameras are not supported)", "cam_model only")
    matrix = _numbers(entry.get("cam_K"), 9, "cam_K").reshape(3, 3)
    if matrix[0, 0] <= 0 or matrix[1, 1] <= 0 or matrix[2].tolist() != [0.0, 0.0, 1.0]:
        expected = "a row-major 3x3 pinhole matrix [fx, 0, cx, 0, fy, cy, 0, 0, 1] with fx, fy > 0"
        raise RowError("cam_K", expected, describe(entry["cam_K"]))
    scale = entry.get("depth_scale")
    if scale is not None and not (_is_number(scale) and scale > 0):
        raise RowError("depth_scale", "a positive number (depth PNG value x depth_scale = mm)", describe(scale))
    return SceneCamera(matrix, None if scale is None else float(scale))


def parse_instance(value: Any, gt_id: int, visib: float) -> GtInstance:
    entry = _object(value, "<instance>", "an object {obj_id, cam_R_m2c: 9 numbers, cam_t_m2c: 3 numbers}")
    obj_id = entry.get("obj_id")
    if isinstance(obj_id, bool) or not isinstance(obj_id, int):
        raise RowError("obj_id", "an integer object id", describe(obj_id))
    rotation = _numbers(entry.get("cam_R_m2c"), 9, "cam_R_m2c").reshape(3, 3)  # orthonormality: per scene
    translation = _numbers(entry.get("cam_t_m2c"), 3, "cam_t_m2c")
    return GtInstance(gt_id, obj_id, rotation, translation, visib)


def parse_visibility(value: Any, count: int) -> list[float]:
    if not isinstance(value, list) or len(value) != count:
        raise RowError("<entry>", f"a list of {count} entries aligned with scene_gt.json", describe(value))
    fractions = []
    for entry in value:
        fraction = entry.get("visib_fract") if isinstance(entry, dict) else None
        if not _is_number(fraction):
            raise RowError("visib_fract", "a number in [0, 1]", describe(fraction))
        fractions.append(float(fraction))
    return fractions


def parse_box(value: Any) -> ModelBox:
    entry = _object(value, "<entry>", "an object {diameter, min_x, min_y, min_z, size_x, size_y, size_z}")
    numbers = []
    for name in _BOX_FIELDS:
        number = entry.get(name)
        if not _is_number(number):
            raise RowError(name, "a finite number (mm)", describe(number))
        if name.startswith("size") and number <= 0:
            raise RowError(name, "a positive size (mm)", describe(number))
        numbers.append(float(number))
    return ModelBox(np.asarray(numbers[:3]), np.asarray(numbers[3:]))


# Corner signs along the box axes in tool_backends.geometry.box_corners order (face -a2, then +a2).
_CORNER_SIGNS = box_corners((0.0, 0.0, 0.0), np.eye(3), (2.0, 2.0, 2.0))


def project_boxes(box_min: np.ndarray, box_size: np.ndarray, rotation: np.ndarray, translation: np.ndarray,
                  matrix: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The 8 corners of ``n`` model-frame boxes in the camera (metres) and in the image (normalized).

    Args:
        box_min, box_size: (n, 3) ``models_info`` ``min_*`` and ``size_*`` (mm).
        rotation, translation: (n, 3, 3) ``cam_R_m2c`` and (n, 3) ``cam_t_m2c`` (mm).
        matrix: (n, 3, 3) ``cam_K`` (pixels).
        size: The images' (W, H).

    Returns:
        ``(corners_3d, corners_2d)``: (n, 8, 3) camera-frame metres and (n, 8, 2) ``(u / W, v / H)``,
        in :func:`~tool_backends.geometry.box_corners` order with the model's x, y, z axes as
        the box axes (NaN where a corner is not in front of the camera).
    """
    local = box_min[:, None, :] + (_CORNER_SIGNS[None] + 1.0) / 2.0 * box_size[:, None, :]
    corners_mm = np.einsum("nij,nkj->nki", rotation, local) + translation[:, None, :]
    pixels = np.einsum("nij,nkj->nki", matrix, corners_mm)
    depth = pixels[..., 2:]
    with np.errstate(divide="ignore", invalid="ignore"):
        uv = pixels[..., :2] / np.where(depth > 0, depth, np.nan)
    return corners_mm / 1000.0, uv / np.asarray(size, dtype=np.float64)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def instance_expressions(obj_ids: list[int], centres_u: list[float], names: Mapping[int, str]) -> list[str]:
    """The expression naming each instance of an image: the object's name, qualified when repeated.

    Instances of an object shown more than once are ordered by ``centres_u`` (left to right):
    ``leftmost X``, ``X 2nd from the left``, ..., ``rightmost X``.

    >>> instance_expressions([1, 2, 1], [30.0, 5.0, 10.0], {1: "box", 2: "can"})
    ['rightmost box', 'can', 'leftmost box']
    """
    out = [names[o] for o in obj_ids]
    for obj in set(obj_ids):
        same = [i for i, o in enumerate(obj_ids) if o == obj]
        if len(same) < 2:
            continue
        order = sorted(same, key=lambda i: (centres_u[i], i))
        for rank, i in enumerate(order):
            if rank == 0:
                out[i] = f"leftmost {names[obj]}"
            elif rank == len(order) - 1:
                out[i] = f"rightmost {names[obj]}"
            else:
                out[i] = f"{names[obj]} {_ordinal(rank + 1)} from the left"
    return out


def read_json(path: Path, fix: str, expected: str) -> dict[str, Any]:
    """A BOP JSON object (read by :func:`~spacetools_env.loaders.json_files.read_json`).

    Raises:
        CorruptFileError: missing, unreadable, not JSON, or not an object.
    """
    try:
        data = read_json_file(path, fix)
    except FileNotFoundError:
        message = f"{path}: missing; a BOP scene folder holds {expected}. Fix: {fix}."
        raise CorruptFileError(message, path=path) from None
    if not isinstance(data, dict):
        found = describe(data)
        raise CorruptFileError(f"{path}: expected a JSON object {expected}, got {found}. Fix: {fix}.", path=path)
    return data


def by_image_id(data: dict[str, Any], path: Path, fix: str) -> dict[int, Any]:
    """A BOP JSON object keyed by image (or object) ids as strings, keyed by int, sorted."""
    out = {}
    for key, value in data.items():
        if not (key.isascii() and key.isdigit() and len(key) <= _MAX_ID_DIGITS):
            found = describe(key).removeprefix("str ")
            raise CorruptFileError(f"{path}: keys must be integer ids, got {found}. Fix: {fix}.", path=path)
        out[int(key)] = value
    return dict(sorted(out.items()))


def list_images(folder: Path) -> dict[int, str]:
    try:
        entries = sorted(os.listdir(folder))
    except OSError:
        return {}
    found: dict[int, str] = {}
    for name in entries:
        stem, suffix = os.path.splitext(name)
        if suffix.lower() in _IMAGE_SUFFIXES and stem.isdigit():
            found.setdefault(int(stem), name)
    return found
