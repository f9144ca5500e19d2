"""The procedurally generated tabletop world: the embedded, exactly-known data source.

Scenes are rendered with PyBullet's CPU TinyRenderer and come with exact ground truth (metric
depth, intrinsics, instance segmentation, 6-DoF poses, oriented 3D boxes, table and free space).
"""

from __future__ import annotations

from spacetools_env.world.camera import Camera
from spacetools_env.world.catalogue import (
    CATEGORIES,
    MESH_MODELS,
    PALETTE,
    PRIMITIVE_MODELS,
    CatalogueEntry,
    MeshModel,
    PrimitiveModel,
    catalogue_entries,
)
from spacetools_env.world.config import DIFFICULTIES, MAX_OBJECTS, SceneConfig
from spacetools_env.world.generator import World, get_world
from spacetools_env.world.scene import (
    FLOOR_LABEL,
    OBJECT_LABEL_OFFSET,
    TABLE_LABEL,
    ObjectInstance,
    Scene,
    TableTop,
)

__all__ = [
    "CATEGORIES",
    "DIFFICULTIES",
    "FLOOR_LABEL",
    "MAX_OBJECTS",
    "MESH_MODELS",
    "OBJECT_LABEL_OFFSET",
    "PALETTE",
    "PRIMITIVE_MODELS",
    "TABLE_LABEL",
    "Camera",
    "CatalogueEntry",
    "MeshModel",
    "ObjectInstance",
    "PrimitiveModel",
    "Scene",
    "SceneConfig",
    "TableTop",
    "World",
    "catalogue_entries",
    "get_world",
]
