"""A BOP dataset folder (``thodan/bop_toolkit`` layout) read scene by scene: one item per object instance.

Layout (notes section 9)::

    <data_dir>/<dataset>/                      # e.g. <data_dir>/ycbv/, as the BOP archives unzip
        models_info.json                       # or models/models_info.json, models_eval/models_info.json
        {train|val|test}[_TYPE]/{SCENE_ID:06d}/
            scene_camera.json                  # {im_id: {cam_K: 9 floats, depth_scale, ...}}
            scene_gt.json                      # {im_id: [{obj_id, cam_R_m2c: 9, cam_t_m2c: 3 (mm)}, ...]}
            scene_gt_info.json                 # optional: {im_id: [{visib_fract, ...}, ...]}
            rgb/{IM_ID:06d}.png|.jpg
            depth/{IM_ID:06d}.png              # optional: value * depth_scale = millimetres
            mask_visib/{IM_ID:06d}_{GT_ID:06d}.png   # optional

The folder is found like every release (:mod:`spacetools_env.loaders.paths`): ``models_info.json``
(at the dataset root, then under ``models/``, then ``models_eval/``) of hub repository
``bop-benchmark/<dataset>`` under ``data_dir=``, ``$SPACETOOLS_DATA_DIR`` or the HF cache; its
dataset root holds the split folders. ``dataset`` defaults to ``"ycbv"``; another is chosen with
``gym.make(..., source_options={"dataset": "lmo"})``. The hub repository ships zip archives:
``spacetools data download bop-<dataset> --data-dir DIR`` fetches the ones :data:`BOP_ARCHIVES`
lists and extracts them into ``DIR/<dataset>/`` (the not-found error says so too).

**Splits**: every folder of the dataset root named ``train``, ``val`` or ``test``, optionally with
a ``_TYPE`` suffix (``test``, ``train_pbr``, ``test_primesense``), named as on disk. A split's
scene JSON files are read once, the first time the split is used (a big ``train_pbr`` costs
nothing until asked for); images, depth and masks are decoded per item.

**Items**: one per ``(scene, image, instance)``, in scene, image and instance order, for instances
whose object has a box in ``models_info.json``, whose ``visib_fract`` is above 0 (when
``scene_gt_info.json`` exists) and whose 8 projected box corners all lie in front of the camera
and inside the image (the answer format, "normalized (x, y) image coordinates between 0 and 1",
and the scorer's point reader, which takes non-negative numbers only, cannot express others).
Each carries the box corners derived as notes section 9 says: the ``models_info`` box
(``min_*``, ``size_*``, mm) -> ``cam_R_m2c``, ``cam_t_m2c`` -> ``cam_K`` -> divided by the image
width and height (``u / W``, ``v / H``, ``(u, v)`` OpenCV pixel coordinates, as the notes give;
OpenCV puts pixel centres at integer ``(u, v)``, this repository's normalized frame at ``(i + 0.5)
/ W``, and the half-pixel difference is kept as the notes prescribe).

**Object names**: BOP identifies objects by id only. An item's name is, in order: the ``names``
argument (``{obj_id: "cracker box"}``, ids as ints or digit strings, e.g. from
``source_options={"names": {"1": "ape"}}``), a ``"name"`` key of the object's ``models_info`` entry
(not part of the BOP format; honoured when a converted set adds one), :data:`KNOWN_NAMES` for the
dataset, else ``"object <obj_id>"``. An object shown more than once in an image is qualified
by the left-to-right order of the projected model origins of its visible instances
("leftmost cracker box", "cracker box 2nd from the left", "rightmost cracker box"), so each
question names one instance.

**Oracle-tool truth**, where the folder ships it: depth (``png * depth_scale`` mm, in metres; 0 =
no reading = inf), the focal length ``(fx + fy) / 2`` from ``cam_K``, one segment per instance
from ``mask_visib`` (label ``gt_id + 1``) and a referent per visible instance (its expression,
the mask, the mask's interior point; category = the object's name) and the principal point
``(cx + 0.5, cy + 0.5)`` from ``cam_K`` (this repository's pixel centres sit at ``i + 0.5``,
OpenCV's at ``i``), so the depth tool's point cloud is the true geometry and the 3D box tool
projects it back with the same camera. ``fx`` and ``fy`` are averaged (the tools model square
pixels). Without ``depth/`` the depth is inf everywhere; with neither depth nor masks an item
has no truth.

Not read: ``mask/`` (amodal masks), ``scene_gt_coco.json``, ``camera*.json`` (the image size comes
from each scene's first RGB file), ``test_targets_bop*.json`` (every annotated instance is an item),
grayscale-only sets (ITODD's ``gray/``) and BOP24 ``cam_model`` cameras (a clear error).
"""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeGuard

import numpy as np
from PIL import Image, UnidentifiedImageError

from spacetools_env.loaders.native import NativeFile, NativeSource, decode_raw, decode_rgb
from spacetools_env.loaders.open_files import open_shared
from spacetools_env.loaders.paths import ENV_VAR, BenchmarkDataNotFoundError, HubDataset, candidate_paths
from spacetools_env.loaders.rows import CorruptFileError, CorruptRowError, RowError, describe
from spacetools_env.task import TaskFamily, TaskItem
from tool_backends import GroundTruth, Referent
from tool_backends.geometry import box_corners, interior_point

if TYPE_CHECKING:
    from spacetools_env.config import EnvConfig

DEFAULT_DATASET = "ycbv"
HUB_OWNER = "bop-benchmark"
MODELS_INFO_PATHS = ("models_info.json", "models/models_info.json", "models_eval/models_info.json")
SPLIT_FOLDER = re.compile(r"^(train|val|test)(_[A-Za-z0-9]+)*$")
_SCENE_FOLDER = re.compile(r"^\d{6}$")
_DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
_BOX_FIELDS = ("min_x", "min_y", "min_z", "size_x", "size_y", "size_z")

KNOWN_NAMES: Mapping[str, Mapping[int, str]] = {
    # YCB-Video's 21 objects in BOP id order (the YCB-Video class list; UNVERIFIED against the
    # release's dataset_info.md, which this repository has not read).
    "ycbv": {
        1: "master chef can", 2: "cracker box", 3: "sugar box", 4: "tomato soup can", 5: "mustard bottle",
        6: "tuna fish can", 7: "pudding box", 8: "gelatin box", 9: "potted meat can", 10: "banana",
        11: "pitcher base", 12: "bleach cleanser", 13: "bowl", 14: "mug", 15: "power drill", 16: "wood block",
        17: "scissors", 18: "large marker", 19: "large clamp", 20: "extra large clamp", 21: "foam brick",
    },
}
"""Object names per dataset, used when neither ``names`` nor ``models_info.json`` names an object."""


BOP_ARCHIVES: Mapping[str, tuple[str, ...]] = {
    # UNVERIFIED file names (not checked against the hub repositories, which this repository has not
    # listed): the BOP site's "<ds>_base.zip, <ds>_models.zip, <ds>_test_*.zip" scheme, with the test
    # archive that ships ground truth. T-LESS's test split is "test_primesense"; HOPE's and HANDAL's
    # public ground truth is their validation split. Fix a name here when a download reports it missing.
    "ycbv": ("ycbv_base.zip", "ycbv_models.zip", "ycbv_test_bop19.zip"),
    "lmo": ("lmo_base.zip", "lmo_models.zip", "lmo_test_bop19.zip"),
    "tless": ("tless_base.zip", "tless_models.zip", "tless_test_primesense_bop19.zip"),
    "hope": ("hope_base.zip", "hope_models.zip", "hope_val_realsense.zip"),
    "handal": ("handal_base.zip", "handal_models.zip", "handal_val.zip"),
}
"""The archives ``spacetools data download bop-<dataset>`` fetches and extracts, per dataset.

Other datasets get :func:`default_archives`. ``<ds>_base.zip`` holds the folder ``<ds>/``; the
others hold the dataset folder's contents (``models/``, ``test/``), as the BOP site's ``unzip
<ds>_base.zip; unzip <ds>_models.zip -d <ds>`` says; extraction accepts either form.
"""


def default_archives(name: str) -> tuple[str, ...]:
    """The archives of a BOP dataset not in :data:`BOP_ARCHIVES`: base, models and the BOP19 test subset."""
    return (f"{name}_base.zip", f"{name}_models.zip", f"{name}_test_bop19.zip")


def bop_dataset(name: str = DEFAULT_DATASET) -> HubDataset:
    """The hub release of BOP dataset ``name``: ``bop-benchmark/<name>``, folder ``<name>``, its archives.

    Raises:
        ValueError: ``name`` is not a plain folder name.
    """
    if not isinstance(name, str) or not _DATASET_NAME.match(name):
        raise ValueError(f"BOP dataset must be a folder name such as 'ycbv', 'lmo' or 'tless', got {name!r}")
    archives = tuple(BOP_ARCHIVES.get(name, default_archives(name)))
    return HubDataset(name=f"bop-{name}", repo_id=f"{HUB_OWNER}/{name}", archives=archives)


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


# ---------------------------------------------------------------------------- parsed JSON
@dataclass(frozen=True)
class _Box:
    minimum: np.ndarray  # (3,) mm
    size: np.ndarray  # (3,) mm


@dataclass(frozen=True)
class _Instance:
    gt_id: int
    obj_id: int
    rotation: np.ndarray  # (3, 3) cam_R_m2c
    translation: np.ndarray  # (3,) cam_t_m2c, mm
    visib_fract: float


@dataclass(frozen=True)
class _Camera:
    matrix: np.ndarray  # (3, 3) cam_K
    depth_scale: float | None


@dataclass
class _Scene:
    split: str
    folder: Path
    scene_id: int
    size: tuple[int, int]  # (W, H) of the scene's images
    rgb: dict[int, str]  # im_id -> file name in rgb/
    has_depth: bool
    has_masks: bool
    cameras: dict[int, _Camera] = field(default_factory=dict)
    instances: dict[int, tuple[_Instance, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class _Record:
    scene: _Scene
    im_id: int
    gt_id: int


class _Located(Exception):
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


def _parse_camera(value: Any) -> _Camera:
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
    return _Camera(matrix, None if scale is None else float(scale))


def _parse_instance(value: Any, gt_id: int, visib: float) -> _Instance:
    entry = _object(value, "<instance>", "an object {obj_id, cam_R_m2c: 9 numbers, cam_t_m2c: 3 numbers}")
    obj_id = entry.get("obj_id")
    if isinstance(obj_id, bool) or not isinstance(obj_id, int):
        raise RowError("obj_id", "an integer object id", describe(obj_id))
    rotation = _numbers(entry.get("cam_R_m2c"), 9, "cam_R_m2c").reshape(3, 3)  # orthonormality: per scene
    translation = _numbers(entry.get("cam_t_m2c"), 3, "cam_t_m2c")
    return _Instance(gt_id, obj_id, rotation, translation, visib)


def _parse_visibility(value: Any, count: int) -> list[float]:
    if not isinstance(value, list) or len(value) != count:
        raise RowError("<entry>", f"a list of {count} entries aligned with scene_gt.json", describe(value))
    fractions = []
    for entry in value:
        fraction = entry.get("visib_fract") if isinstance(entry, dict) else None
        if not _is_number(fraction):
            raise RowError("visib_fract", "a number in [0, 1]", describe(fraction))
        fractions.append(float(fraction))
    return fractions


def _parse_box(value: Any) -> _Box:
    entry = _object(value, "<entry>", "an object {diameter, min_x, min_y, min_z, size_x, size_y, size_z}")
    numbers = []
    for name in _BOX_FIELDS:
        number = entry.get(name)
        if not _is_number(number):
            raise RowError(name, "a finite number (mm)", describe(number))
        if name.startswith("size") and number <= 0:
            raise RowError(name, "a positive size (mm)", describe(number))
        numbers.append(float(number))
    return _Box(np.asarray(numbers[:3]), np.asarray(numbers[3:]))


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


# ---------------------------------------------------------------------------- the folder
def _read_json(path: Path, fix: str, expected: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CorruptFileError(f"{path}: missing; a BOP scene folder holds {expected}. Fix: {fix}.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptFileError(f"{path}: not readable JSON ({exc}). Fix: {fix}.") from None
    if not isinstance(data, dict):
        raise CorruptFileError(f"{path}: expected a JSON object {expected}, got {describe(data)}. Fix: {fix}.")
    return data


def _by_id(data: dict[str, Any], path: Path, fix: str) -> dict[int, Any]:
    """A BOP JSON object keyed by image (or object) ids as strings, keyed by int, sorted."""
    out = {}
    for key, value in data.items():
        try:
            out[int(key)] = value
        except ValueError:
            raise CorruptFileError(f"{path}: keys must be integer ids, got {key!r}. Fix: {fix}.") from None
    return dict(sorted(out.items()))


def _list_images(folder: Path) -> dict[int, str]:
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


class BOPFolder:
    """One BOP dataset folder: ``models_info.json`` read on open, each split's scenes on first use.

    Raises (on open, or when a split is first used):
        CorruptFileError: a JSON file is missing or unreadable, or a scene has no RGB images.
        CorruptRowError: a field is malformed (names the file, the image, the instance, the fix).
    """

    def __init__(self, path: Path, dataset: str, build: BOPBuilder, names: Mapping[int, str] | None = None) -> None:
        self.path, self.dataset, self.build = path, dataset, build
        self.root = dataset_root(path)
        repo = bop_dataset(dataset).repo_id
        self.fix = (
            f"re-extract the {dataset} archives (https://huggingface.co/datasets/{repo} or "
            "https://bop.felk.cvut.cz/datasets/) or repair the file"
        )
        self.boxes, model_names = self._read_models()
        self.names = {**KNOWN_NAMES.get(dataset, {}), **model_names, **dict(names or {})}
        folders = sorted(p.name for p in self.root.iterdir() if p.is_dir() and SPLIT_FOLDER.match(p.name))
        self.splits = _LazySplits(folders, self._load_split)
        self._records: list[_Record] = []
        self._lock = threading.Lock()

    # -------------------------------------------------------------- opening
    def _read_models(self) -> tuple[dict[int, _Box], dict[int, str]]:
        data = _by_id(_read_json(self.path, self.fix, "{obj_id: {min_x, ..., size_z}}"), self.path, self.fix)
        boxes, names = {}, {}
        for obj_id, entry in data.items():
            try:
                boxes[obj_id] = _parse_box(entry)
            except RowError as exc:
                message = (f"{self.path}, object {obj_id}, field {exc.column!r}: expected {exc.expected}, "
                           f"got {exc.found}. Fix: {self.fix}")
                raise CorruptRowError(message, path=self.path, row=obj_id, column=exc.column) from None
            name = entry.get("name")
            if isinstance(name, str) and name.strip():
                names[obj_id] = name.strip()
        return boxes, names

    def _load_split(self, split: str) -> list[int]:
        rows = []
        folder = self.root / split
        for scene_dir in sorted(p for p in folder.iterdir() if p.is_dir() and _SCENE_FOLDER.match(p.name)):
            scene = self._read_scene(split, scene_dir)
            with self._lock:
                for im_id, gt_id in self._qualifying(scene):
                    rows.append(len(self._records))
                    self._records.append(_Record(scene, im_id, gt_id))
        return rows

    def _read_scene(self, split: str, folder: Path) -> _Scene:
        gt_path, cam_path, info_path = (folder / f"scene_{n}.json" for n in ("gt", "camera", "gt_info"))
        gt = _by_id(_read_json(gt_path, self.fix, "{im_id: [{obj_id, cam_R_m2c, cam_t_m2c}, ...]}"), gt_path, self.fix)
        cameras = _by_id(_read_json(cam_path, self.fix, "{im_id: {cam_K, depth_scale}}"), cam_path, self.fix)
        info = None
        if info_path.is_file():
            info = _by_id(_read_json(info_path, self.fix, "{im_id: [{visib_fract, ...}]}"), info_path, self.fix)
        rgb = _list_images(folder / "rgb")
        if not rgb:
            raise CorruptFileError(
                f"{folder / 'rgb'}: no images; a BOP scene folder holds rgb/{{IM_ID:06d}}.png|.jpg. Fix: {self.fix}."
            )
        first = folder / "rgb" / rgb[min(rgb)]
        try:
            with Image.open(first) as probe:
                size = (int(probe.width), int(probe.height))
        except (UnidentifiedImageError, OSError, ValueError) as exc:
            raise CorruptFileError(f"{first}: not a readable image ({exc}). Fix: {self.fix}.") from None
        scene = _Scene(split, folder, int(folder.name), size, rgb,
                       (folder / "depth").is_dir(), (folder / "mask_visib").is_dir())
        for im_id, instances in gt.items():
            try:
                scene.cameras[im_id] = self._camera(cameras, im_id, cam_path)
                if not isinstance(instances, list):
                    error = RowError("<entry>", "a list of instances", describe(instances))
                    raise _Located(gt_path, im_id, None, error)
                visib = [1.0] * len(instances)
                if info is not None:
                    try:
                        visib = _parse_visibility(info.get(im_id), len(instances))
                    except RowError as exc:
                        raise _Located(info_path, im_id, None, exc) from None
                parsed = []
                for gt_id, value in enumerate(instances):
                    try:
                        parsed.append(_parse_instance(value, gt_id, visib[gt_id]))
                    except RowError as exc:
                        raise _Located(gt_path, im_id, gt_id, exc) from None
                scene.instances[im_id] = tuple(parsed)
            except _Located as located:
                raise self._corrupt(located) from None
        self._check_rotations(scene, gt_path)
        return scene

    def _check_rotations(self, scene: _Scene, path: Path) -> None:
        """Every ``cam_R_m2c`` of the scene is a rotation (checked at once: a scene has thousands)."""
        flat = [(im_id, inst) for im_id, instances in scene.instances.items() for inst in instances]
        if not flat:
            return
        rotations = np.stack([inst.rotation for _, inst in flat])
        error = np.abs(rotations @ rotations.transpose(0, 2, 1) - np.eye(3)).max(axis=(1, 2))
        bad = np.flatnonzero(~(error <= 1e-3))
        if bad.size:
            im_id, inst = flat[int(bad[0])]
            found = RowError("cam_R_m2c", "a row-major 3x3 rotation matrix", describe(inst.rotation.ravel().tolist()))
            raise self._corrupt(_Located(path, im_id, inst.gt_id, found))

    @staticmethod
    def _camera(cameras: dict[int, Any], im_id: int, path: Path) -> _Camera:
        if im_id not in cameras:
            error = RowError("<entry>", f"an entry for image {im_id} (scene_gt.json lists it)", "no such key")
            raise _Located(path, im_id, None, error)
        try:
            return _parse_camera(cameras[im_id])
        except RowError as exc:
            raise _Located(path, im_id, None, exc) from None

    def _qualifying(self, scene: _Scene) -> list[tuple[int, int]]:
        """(im_id, gt_id) of the scene's instances that make items, projected all at once."""
        keys, parts = [], []
        for im_id, instances in scene.instances.items():
            matrix = scene.cameras[im_id].matrix
            for inst in instances:
                box = self.boxes.get(inst.obj_id)
                if box is not None and inst.visib_fract > 0:
                    keys.append((im_id, inst.gt_id))
                    parts.append((box.minimum, box.size, inst.rotation, inst.translation, matrix))
        if not keys:
            return []
        box_min, box_size, rotation, translation, matrices = (np.stack(column) for column in zip(*parts, strict=True))
        _, corners = project_boxes(box_min, box_size, rotation, translation, matrices, scene.size)
        inside = np.all(np.isfinite(corners) & (corners >= 0.0) & (corners <= 1.0), axis=(1, 2))
        return [key for key, ok in zip(keys, inside, strict=True) if ok]

    def _corrupt(self, located: _Located) -> CorruptRowError:
        where = f"image {located.im_id}" + ("" if located.gt_id is None else f", instance {located.gt_id}")
        exc = located.error
        message = (f"{located.path}, {where}, field {exc.column!r}: expected {exc.expected}, got {exc.found}. "
                   f"Fix: {self.fix}")
        return CorruptRowError(message, path=located.path, row=located.im_id, column=exc.column)

    def object_name(self, obj_id: int) -> str:
        """The object's name: ``names``, ``models_info`` "name", :data:`KNOWN_NAMES`, else ``object <id>``."""
        return self.names.get(obj_id, f"object {obj_id}")

    # -------------------------------------------------------------- NativeFile
    def locate(self, row: int) -> tuple[Path, int]:
        record = self._records[row]
        return record.scene.folder, record.im_id

    def item(self, split: str, index: int, row: int) -> TaskItem:
        record = self._records[row]
        scene = record.scene
        try:
            instance = self._instance(record)
        except RowError as exc:
            raise self._corrupt(_Located(scene.folder, record.im_id, record.gt_id, exc)) from None
        built = self.build(instance)
        return replace(built, item_id=f"bop-{self.dataset}/{split}/{index}")

    def _instance(self, record: _Record) -> BOPInstance:
        scene, im_id = record.scene, record.im_id
        name = scene.rgb.get(im_id)
        if name is None:
            raise RowError("rgb", f"an image rgb/{im_id:06d}.png or .jpg", "no such file")
        image = decode_rgb(f"rgb/{name}", "rgb", scene.folder)
        width, height = scene.size
        if image.shape[:2] != (height, width):
            raise RowError("rgb", f"a {width}x{height} image (the scene's size)", f"shape {image.shape}")
        camera, instances = scene.cameras[im_id], scene.instances[im_id]
        target = instances[record.gt_id]
        box = self.boxes[target.obj_id]
        one = project_boxes(box.minimum[None], box.size[None], target.rotation[None], target.translation[None],
                            camera.matrix[None], scene.size)
        corners_3d, corners_2d = (a[0] for a in one)
        visible = [i for i in instances if i.visib_fract > 0]
        names = {i.obj_id: self.object_name(i.obj_id) for i in visible}
        centres = [float(camera.matrix[0] @ i.translation / i.translation[2]) if i.translation[2] > 0 else 0.0
                   for i in visible]
        expressions = dict(zip((i.gt_id for i in visible),
                               instance_expressions([i.obj_id for i in visible], centres, names), strict=True))
        truth = self._truth(scene, im_id, camera, instances, expressions)
        return BOPInstance(
            dataset=self.dataset, split=scene.split, scene_id=scene.scene_id, im_id=im_id, gt_id=target.gt_id,
            obj_id=target.obj_id, name=expressions[target.gt_id], image=image, corners_2d=corners_2d,
            corners_3d=corners_3d, visib_fract=target.visib_fract, truth=truth,
        )

    def _truth(self, scene: _Scene, im_id: int, camera: _Camera, instances: tuple[_Instance, ...],
               expressions: dict[int, str]) -> GroundTruth | None:
        if not scene.has_depth and not scene.has_masks:
            return None
        width, height = scene.size
        depth = np.full((height, width), np.inf, dtype=np.float32)
        if scene.has_depth:
            raw = decode_raw(f"depth/{im_id:06d}.png", "depth", scene.folder)
            if raw.shape != (height, width) or not np.issubdtype(raw.dtype, np.integer):
                raise RowError("depth", f"a {width}x{height} integer depth PNG", f"{raw.dtype} shape {raw.shape}")
            if camera.depth_scale is None:
                raise RowError("depth_scale", "scene_camera.json's depth_scale (the folder has depth/)", "none")
            depth = raw.astype(np.float32) * np.float32(camera.depth_scale / 1000.0)
            depth[raw == 0] = np.inf
        segmentation = np.zeros((height, width), dtype=np.int32)
        referents = []
        if scene.has_masks:
            for inst in instances:
                if inst.gt_id not in expressions:  # not visible: BOP's mask_visib is empty anyway
                    continue
                mask = decode_raw(f"mask_visib/{im_id:06d}_{inst.gt_id:06d}.png", "mask_visib", scene.folder) > 0
                if mask.shape != (height, width):
                    raise RowError("mask_visib", f"a {width}x{height} mask", f"shape {mask.shape}")
                segmentation[mask] = inst.gt_id + 1
                if mask.any():
                    mask.flags.writeable = False
                    referents.append(Referent(name=expressions[inst.gt_id], mask=mask, point=interior_point(mask),
                                              category=self.object_name(inst.obj_id)))
        depth.flags.writeable = False
        segmentation.flags.writeable = False
        focal = float(camera.matrix[0, 0] + camera.matrix[1, 1]) / 2.0
        principal = (float(camera.matrix[0, 2]) + 0.5, float(camera.matrix[1, 2]) + 0.5)  # OpenCV -> pixel centres
        return GroundTruth(depth=depth, focal_length_px=focal, segmentation=segmentation, referents=tuple(referents),
                           principal_point=principal)


class _LazySplits(Mapping[str, list[int]]):
    """Split name -> rows, each split's scenes read the first time it is looked up."""

    def __init__(self, names: list[str], load: Callable[[str], list[int]]) -> None:
        self._names, self._load = names, load
        self._loaded: dict[str, list[int]] = {}
        self._lock = threading.Lock()

    def __getitem__(self, split: str) -> list[int]:
        if split not in self._names:
            raise KeyError(split)
        with self._lock:
            if split not in self._loaded:
                self._loaded[split] = self._load(split)
            return self._loaded[split]

    def __contains__(self, split: object) -> bool:
        return split in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


# ---------------------------------------------------------------------------- the source
@dataclass(frozen=True)
class _BOPOpener:
    """A picklable ``opener(path)`` bound to the dataset, the family's builder and the names."""

    dataset: str
    build: BOPBuilder
    names: tuple[tuple[int, str], ...] = ()

    def __call__(self, path: Path) -> BOPFolder:
        return BOPFolder(path, self.dataset, self.build, dict(self.names))

    def stamp(self, path: Path) -> tuple[Any, ...]:
        """The names, and name, size and mtime of every scene JSON: an edited scene reopens the folder."""
        root = dataset_root(path)
        files = sorted(root.glob("*/[0-9]*/scene_*.json"))
        stats = ((str(p.relative_to(root)), p.stat()) for p in files)
        return (self.names, *((name, st.st_size, st.st_mtime_ns) for name, st in stats))


def dataset_root(models_info: Path) -> Path:
    """The dataset folder of a ``models_info.json`` found at one of :data:`MODELS_INFO_PATHS`."""
    nested = {Path(p).parent.name for p in MODELS_INFO_PATHS} - {""}
    return models_info.parent.parent if models_info.parent.name in nested else models_info.parent


def find_models_info(dataset: HubDataset, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The ``models_info.json`` of a BOP release: each place in lookup order, each of :data:`MODELS_INFO_PATHS`.

    Raises:
        BenchmarkDataNotFoundError: naming every place looked and how to unpack the release.
    """
    per_path = [candidate_paths(dataset, relative, data_dir) for relative in MODELS_INFO_PATHS]
    searched = [path for places in zip(*per_path, strict=True) for _, path in places]
    for path in searched:
        if path.is_file():
            return path
    lines = "\n".join(f"  - {path}  ({why})" for places in zip(*per_path, strict=True) for why, path in places)
    name = dataset.folder
    archives = ", ".join(dataset.archives)
    message = (
        f"{dataset.repo_id}: no BOP dataset folder found (looked for {' or '.join(MODELS_INFO_PATHS)}):\n{lines}\n"
        f"Fix: run `{dataset.download_command} --data-dir <data_dir>` (fetches {archives} and extracts them "
        f"into <data_dir>/{name}/), then pass data_dir=<data_dir> (gym.make(..., data_dir=...)) or set "
        f"{ENV_VAR}=<data_dir>. By hand: download them from https://huggingface.co/datasets/{dataset.repo_id} "
        f"(or https://bop.felk.cvut.cz/datasets/) and unzip them into <data_dir>/ so that "
        f"<data_dir>/{name}/models/models_info.json and <data_dir>/{name}/test/<scene>/ exist."
    )
    raise BenchmarkDataNotFoundError(message, dataset=dataset, relative_path=MODELS_INFO_PATHS[0], searched=searched)


class BOPSceneSource(NativeSource):
    """The items of a BOP dataset folder (a :class:`NativeSource` whose file is ``models_info.json``).

    Args:
        dataset: The dataset folder name (``ycbv``, ``lmo``, ``tless``, ...).
        build: Turns a :class:`BOPInstance` into the family's item.
        names: Object names by BOP id (see the module docstring).
        data_dir: The ``data_dir=`` argument.
    """

    def __init__(self, dataset: str, build: BOPBuilder, names: Mapping[int, str] | None = None,
                 data_dir: str | os.PathLike[str] | None = None, cache_items: int = 16) -> None:
        named = _object_names(names)
        opener = _BOPOpener(dataset, build, named)
        super().__init__(bop_dataset(dataset), MODELS_INFO_PATHS[0], opener, data_dir, cache_items)
        self._bop_opener = opener

    def _open_file(self) -> NativeFile:
        # NativeSource looks for one file; a BOP release keeps models_info.json in one of three places.
        path = find_models_info(self.dataset, self.data_dir)
        return open_shared(path, self._bop_opener, f"{__name__}.BOPFolder", self._bop_opener.stamp(path))


def _object_names(names: Mapping[Any, Any] | None) -> tuple[tuple[int, str], ...]:
    """``names`` as sorted ``(obj_id, name)`` pairs; ids may be ints or digit strings (JSON keys)."""
    if names is None:
        return ()
    expected = 'a mapping of BOP object ids to names, e.g. {1: "ape"} or {"1": "ape"}'
    if not isinstance(names, Mapping):
        raise ValueError(f"names must be {expected}, got {names!r}")
    pairs = []
    for key, value in names.items():
        digits = isinstance(key, str) and key.strip().isdigit()
        if not (digits or (isinstance(key, int) and not isinstance(key, bool))) or not isinstance(value, str):
            raise ValueError(f"names must be {expected}; entry {key!r}: {value!r} is not an id and a name")
        pairs.append((int(key), value))
    return tuple(sorted(pairs))


def bop_scenes_source(family: TaskFamily, config: EnvConfig, *, build: BOPBuilder, dataset: str = DEFAULT_DATASET,
                      names: Mapping[int, str] | None = None) -> BOPSceneSource:
    """Source factory: ``functools.partial(bop_scenes_source, build=..., dataset="lmo", names={1: "ape"})``.

    ``dataset`` and ``names`` are what ``gym.make(..., source_options={"dataset": "lmo", "names":
    {"1": "ape"}})`` sets (:attr:`~spacetools_env.config.EnvConfig.source_options`).
    """
    del family
    return BOPSceneSource(dataset, build, names=names, data_dir=config.data_dir)
