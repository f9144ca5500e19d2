"""A rendered tabletop scene and its exact ground truth.

Segmentation labels: :data:`FLOOR_LABEL` for everything that is neither the table top nor an
object (floor, table legs and sides, empty background), :data:`TABLE_LABEL` for the table-top
surface, and ``OBJECT_LABEL_OFFSET + i`` for the i-th object of ``Scene.objects``. Labels depend
only on the scene, never on PyBullet body ids.
"""

from __future__ import annotations

import builtins
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from spacetools_env.world.camera import Camera
from spacetools_env.world.geometry import polygon_distance, quaternion_matrix
from tool_backends.geometry import convex_hull_2d

FLOOR_LABEL = 0
"""Segmentation label of the floor, the table's sides and legs, and pixels where nothing is hit."""
TABLE_LABEL = 1
"""Segmentation label of the table-top surface."""
OBJECT_LABEL_OFFSET = 10
"""The i-th object of a scene has segmentation label ``OBJECT_LABEL_OFFSET + i``."""


def _frozen(array: np.ndarray) -> np.ndarray:
    array.setflags(write=False)
    return array


@dataclass(frozen=True)
class TableTop:
    """The axis-aligned rectangular table top, world frame, metres.

    Attributes:
        z: Height of the top surface.
        x_min: Smallest x of the top surface.
        x_max: Largest x of the top surface.
        y_min: Smallest y of the top surface.
        y_max: Largest y of the top surface.
    """

    z: float
    x_min: float
    x_max: float
    y_min: float
    y_max: float

    @property
    def center(self) -> np.ndarray:
        """(3,) centre of the top surface."""
        return np.array([(self.x_min + self.x_max) / 2, (self.y_min + self.y_max) / 2, self.z])

    @property
    def size(self) -> tuple[float, float]:
        """(x, y) size of the top surface."""
        return self.x_max - self.x_min, self.y_max - self.y_min

    def contains_xy(self, points_xy: np.ndarray, margin: float = 0.0) -> np.ndarray:
        """Whether (N, 2) points lie on the top, at least ``margin`` inside its edges."""
        p = np.asarray(points_xy, dtype=np.float64)
        return (
            (p[:, 0] >= self.x_min + margin)
            & (p[:, 0] <= self.x_max - margin)
            & (p[:, 1] >= self.y_min + margin)
            & (p[:, 1] <= self.y_max - margin)
        )


@dataclass(frozen=True, eq=False)
class ObjectInstance:
    """One object of a scene with its exact pose, oriented 3D box and visible pixels.

    Attributes:
        label: Its value in ``Scene.segmentation`` (``OBJECT_LABEL_OFFSET`` + index in the scene).
        name: Unique name in the scene (``"red cube"``, ``"mug"``).
        category: Category name (``"cube"``, ``"mug"``).
        color: Palette colour name for primitives; None for mesh models.
        position: (3,) world centre of its oriented 3D box.
        orientation: (4,) xyzw quaternion of the box axes in the world (a yaw: objects stand
            upright on the table).
        extents: (3,) full box size along its own axes (metres).
        corners_world: (8, 3) box corners: the bottom face counter-clockwise seen from above,
            then the top face in the same order (corner i + 4 above corner i).
        mask: HxW bool, its visible pixels.
        pixel_count: Number of visible pixels.
        is_cuboid: Whether the box is the object's exact shape (cubes, boxes, blocks).
    """

    label: int
    name: str
    category: str
    color: str | None
    position: np.ndarray
    orientation: np.ndarray
    extents: np.ndarray
    corners_world: np.ndarray
    mask: np.ndarray
    pixel_count: int
    is_cuboid: bool

    def __post_init__(self) -> None:
        for name in ("position", "orientation", "extents", "corners_world", "mask"):
            _frozen(getattr(self, name))

    @property
    def rotation_matrix(self) -> np.ndarray:
        """3x3 rotation whose columns are the box axes in the world frame."""
        return quaternion_matrix(self.orientation)

    @property
    def footprint_xy(self) -> np.ndarray:
        """(K, 2) counter-clockwise polygon: the 3D box projected on the table plane."""
        # The exact collinearity test: footprints, and the layouts and answers built on them,
        # stay those of the scenes this env version has always generated.
        return convex_hull_2d(self.corners_world[:, :2], collinear_tol=0.0)


@dataclass(frozen=True, eq=False)
class Scene:
    """A rendered tabletop scene with exact ground truth.

    Attributes:
        rgb: HxWx3 uint8 image.
        depth: HxW float32 metric depth along the optical axis (metres); ``inf`` where nothing
            is hit.
        segmentation: HxW int32 labels (see the module docstring).
        camera: The camera that rendered the scene.
        objects: The objects, in label order.
        table: The table top.
    """

    rgb: np.ndarray
    depth: np.ndarray
    segmentation: np.ndarray
    camera: Camera
    objects: tuple[ObjectInstance, ...]
    table: TableTop

    def __post_init__(self) -> None:
        for name in ("rgb", "depth", "segmentation"):
            _frozen(getattr(self, name))

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) in pixels."""
        return self.camera.width, self.camera.height

    @property
    def names(self) -> tuple[str, ...]:
        """Object names, in label order."""
        return tuple(o.name for o in self.objects)

    def object(self, name: str) -> ObjectInstance:
        """The object called ``name``.

        Raises:
            KeyError: If no object has that name; the message lists the names present.
        """
        for obj in self.objects:
            if obj.name == name:
                return obj
        raise KeyError(f"No object named {name!r} in this scene; objects: {list(self.names)}")

    @cached_property
    def _world_points(self) -> np.ndarray:
        return _frozen(self.camera.backproject(self.depth))

    def world_points(self) -> np.ndarray:
        """HxWx3 world point seen at each pixel (cached); NaN where nothing is hit."""
        return self._world_points

    def table_mask(self) -> np.ndarray:
        """HxW bool: visible table-top pixels."""
        return self.segmentation == TABLE_LABEL

    def free_space_mask(self, clearance_m: float = 0.0) -> np.ndarray:
        """Visible table-top pixels with room around them.

        A pixel is free when its world point is at least ``clearance_m`` from every object's
        footprint (its 3D box projected on the table plane) and at least ``clearance_m`` inside
        the table's edges.

        Args:
            clearance_m: Required clearance in metres (>= 0).

        Returns:
            HxW bool mask.

        Raises:
            ValueError: If ``clearance_m`` is negative or not finite.
        """
        if not np.isfinite(clearance_m) or clearance_m < 0:
            raise ValueError(f"clearance_m must be a finite number >= 0 metres; got {clearance_m!r}")
        mask = self.table_mask()
        rows, cols = np.nonzero(mask)
        xy = self.world_points()[rows, cols, :2]
        free = self.table.contains_xy(xy, margin=clearance_m)
        for obj in self.objects:
            footprint = obj.footprint_xy
            # Only points near the footprint's bounding box can be too close; skip the rest.
            near = np.all((xy >= footprint.min(0) - clearance_m) & (xy <= footprint.max(0) + clearance_m), 1)
            idx = np.flatnonzero(near & free)
            # The strict test keeps pixels on a footprint's edge out when clearance is zero.
            free[idx] = polygon_distance(xy[idx], footprint) > clearance_m
        out = np.zeros_like(mask)
        out[rows[free], cols[free]] = True
        return out

    # ``builtins.object``: the method ``object`` above shadows the builtin in this class body.
    def __getstate__(self) -> dict[str, builtins.object]:
        # The cached world points are as large as the image; rebuild them after unpickling.
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def __setstate__(self, state: dict[str, builtins.object]) -> None:
        self.__dict__.update(state)
