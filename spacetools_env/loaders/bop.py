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
``spacetools data download bop-<dataset> --data-dir DIR`` fetches the ones
:data:`~spacetools_env.loaders.bop_release.BOP_ARCHIVES` lists and extracts them into
``DIR/<dataset>/`` (the not-found error says so too). Parsing the scene JSON and projecting
boxes: :mod:`~spacetools_env.loaders.bop_format`.

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

import os
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from spacetools_env.loaders.bop_format import (
    BOPBuilder,
    BOPInstance,
    GtInstance,
    InstanceRecord,
    LocatedRowError,
    ModelBox,
    Scene,
    SceneCamera,
    by_image_id,
    instance_expressions,
    list_images,
    parse_box,
    parse_camera,
    parse_instance,
    parse_visibility,
    project_boxes,
    read_json,
)
from spacetools_env.loaders.bop_release import (
    DEFAULT_DATASET,
    MODELS_INFO_PATHS,
    bop_dataset,
    dataset_root,
    find_models_info,
)
from spacetools_env.loaders.images import image_size
from spacetools_env.loaders.native import NativeFile, NativeSource, decode_raw, decode_rgb
from spacetools_env.loaders.open_files import files_stamp, open_shared
from spacetools_env.loaders.rows import CorruptFileError, CorruptRowError, RowError, describe
from spacetools_env.task import TaskFamily, TaskItem
from tool_backends import GroundTruth, Referent
from tool_backends.geometry import interior_point

if TYPE_CHECKING:
    from spacetools_env.config import EnvConfig

SPLIT_FOLDER = re.compile(r"^(train|val|test)(_[A-Za-z0-9]+)*$")
_SCENE_FOLDER = re.compile(r"^\d{6}$")
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


# ---------------------------------------------------------------------------- the folder
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
        self._records: list[InstanceRecord] = []
        self._lock = threading.Lock()

    # -------------------------------------------------------------- opening
    def _read_models(self) -> tuple[dict[int, ModelBox], dict[int, str]]:
        data = by_image_id(read_json(self.path, self.fix, "{obj_id: {min_x, ..., size_z}}"), self.path, self.fix)
        boxes, names = {}, {}
        for obj_id, entry in data.items():
            try:
                boxes[obj_id] = parse_box(entry)
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
                    self._records.append(InstanceRecord(scene, im_id, gt_id))
        return rows

    def _read_scene(self, split: str, folder: Path) -> Scene:
        gt_path, cam_path, info_path = (folder / f"scene_{n}.json" for n in ("gt", "camera", "gt_info"))
        gt_expected = "{im_id: [{obj_id, cam_R_m2c, cam_t_m2c}, ...]}"
        gt = by_image_id(read_json(gt_path, self.fix, gt_expected), gt_path, self.fix)
        cameras = by_image_id(read_json(cam_path, self.fix, "{im_id: {cam_K, depth_scale}}"), cam_path, self.fix)
        info = None
        if info_path.is_file():
            info = by_image_id(read_json(info_path, self.fix, "{im_id: [{visib_fract, ...}]}"), info_path, self.fix)
        rgb = list_images(folder / "rgb")
        if not rgb:
            raise CorruptFileError(
                f"{folder / 'rgb'}: no images; a BOP scene folder holds rgb/{{IM_ID:06d}}.png|.jpg. Fix: {self.fix}.",
                path=folder / "rgb",
            )
        first = folder / "rgb" / rgb[min(rgb)]
        try:  # the header only: an oversized or unreadable first image is named here, never decoded
            size = image_size(first, "rgb")
        except RowError as exc:
            raise CorruptFileError(f"{first}: expected {exc.expected}, got {exc.found}. Fix: {self.fix}.",
                                   path=first) from None
        scene = Scene(split, folder, int(folder.name), size, rgb,
                       (folder / "depth").is_dir(), (folder / "mask_visib").is_dir())
        for im_id, instances in gt.items():
            try:
                scene.cameras[im_id] = self._camera(cameras, im_id, cam_path)
                if not isinstance(instances, list):
                    error = RowError("<entry>", "a list of instances", describe(instances))
                    raise LocatedRowError(gt_path, im_id, None, error)
                visib = [1.0] * len(instances)
                if info is not None:
                    try:
                        visib = parse_visibility(info.get(im_id), len(instances))
                    except RowError as exc:
                        raise LocatedRowError(info_path, im_id, None, exc) from None
                parsed = []
                for gt_id, value in enumerate(instances):
                    try:
                        parsed.append(parse_instance(value, gt_id, visib[gt_id]))
                    except RowError as exc:
                        raise LocatedRowError(gt_path, im_id, gt_id, exc) from None
                scene.instances[im_id] = tuple(parsed)
            except LocatedRowError as located:
                raise self._corrupt(located) from None
        self._check_rotations(scene, gt_path)
        return scene

    def _check_rotations(self, scene: Scene, path: Path) -> None:
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
            raise self._corrupt(LocatedRowError(path, im_id, inst.gt_id, found))

    @staticmethod
    def _camera(cameras: dict[int, Any], im_id: int, path: Path) -> SceneCamera:
        if im_id not in cameras:
            error = RowError("<entry>", f"an entry for image {im_id} (scene_gt.json lists it)", "no such key")
            raise LocatedRowError(path, im_id, None, error)
        try:
            return parse_camera(cameras[im_id])
        except RowError as exc:
            raise LocatedRowError(path, im_id, None, exc) from None

    def _qualifying(self, scene: Scene) -> list[tuple[int, int]]:
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

    def _corrupt(self, located: LocatedRowError) -> CorruptRowError:
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
            raise self._corrupt(LocatedRowError(scene.folder, record.im_id, record.gt_id, exc)) from None
        built = self.build(instance)
        return replace(built, item_id=f"bop-{self.dataset}/{split}/{index}")

    def _instance(self, record: InstanceRecord) -> BOPInstance:
        scene, im_id = record.scene, record.im_id
        name = scene.rgb.get(im_id)
        if name is None:
            raise RowError("rgb", f"an image rgb/{im_id:06d}.png or .jpg", "no such file")
        image = decode_rgb(f"rgb/{name}", "rgb", scene.folder, scene.size)  # every image the scene's size
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

    def _truth(self, scene: Scene, im_id: int, camera: SceneCamera, instances: tuple[GtInstance, ...],
               expressions: dict[int, str]) -> GroundTruth | None:
        if not scene.has_depth and not scene.has_masks:
            return None
        width, height = scene.size
        depth = np.full((height, width), np.inf, dtype=np.float32)
        if scene.has_depth:
            raw = decode_raw(f"depth/{im_id:06d}.png", "depth", scene.folder, scene.size)
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
                name = f"mask_visib/{im_id:06d}_{inst.gt_id:06d}.png"
                mask = decode_raw(name, "mask_visib", scene.folder, scene.size) > 0
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
        return (self.names, *files_stamp(files, root))


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
        digits = isinstance(key, str) and key.strip().isascii() and key.strip().isdigit() and len(key.strip()) <= 9
        if not (digits or (isinstance(key, int) and not isinstance(key, bool))) or not isinstance(value, str):
            entry = f"{describe(key)}: {describe(value)}"
            raise ValueError(f"names must be {expected}; entry {entry} is not an id and a name")
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
