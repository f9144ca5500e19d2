"""The objects a synthetic tabletop scene can contain.

Two kinds of object exist:

* mesh models that ship with ``pybullet_data`` (mug, duck, teddy bear...): each appears at most
  once per scene and has no colour name, because its look is fixed by its mesh and texture;
* coloured primitives (cube, box, cylinder, ball) created from PyBullet geometry, recoloured from
  :data:`PALETTE`; a scene holds at most one object per (category, colour) pair, so every object
  has a unique name such as ``"red cube"``.

Primitive sizes come from a small quantised set (1 cm steps) so the world can cache one body per
(shape, size) instead of creating bodies per scene.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

PALETTE: Mapping[str, tuple[float, float, float, float]] = MappingProxyType(
    {
        # Saturated hues, chosen to be told apart from each other and from the beige table top.
        "red": (0.85, 0.10, 0.10, 1.0),
        "green": (0.10, 0.62, 0.18, 1.0),
        "blue": (0.12, 0.28, 0.90, 1.0),
        "yellow": (0.98, 0.88, 0.08, 1.0),
        "purple": (0.52, 0.18, 0.72, 1.0),
        "orange": (1.00, 0.48, 0.00, 1.0),
        "white": (0.97, 0.97, 0.97, 1.0),
        "black": (0.07, 0.07, 0.07, 1.0),
    }
)
"""Colour name -> RGBA in [0, 1] used for primitives."""


@dataclass(frozen=True)
class MeshModel:
    """A mesh object loaded from a URDF of ``pybullet_data``.

    Attributes:
        category: Category name, also the object's name in a scene (``"teddy bear"``).
        urdf: Path relative to ``pybullet_data.getDataPath()``.
        scaling: PyBullet ``globalScaling`` that makes the object 4-15 cm large.
        upright_euler: Roll, pitch, yaw (radians) that stand the model upright with z up; several
            models are authored y-up.
        is_cuboid: Whether the mesh is a rectangular block, so its 3D box is its shape.
    """

    category: str
    urdf: str
    scaling: float
    upright_euler: tuple[float, float, float] = (0.0, 0.0, 0.0)
    is_cuboid: bool = False


@dataclass(frozen=True)
class PrimitiveModel:
    """A shape built from PyBullet geometry, sized from quantised choices.

    Attributes:
        category: ``"cube"``, ``"box"``, ``"cylinder"`` or ``"ball"``.
        size_choices_cm: For each size parameter, the integer centimetre values it may take:
            cube (edge,), box (length, width, height), cylinder (diameter, height), ball (diameter,).
        is_cuboid: Whether the shape is a rectangular block.
    """

    category: str
    size_choices_cm: tuple[tuple[int, ...], ...]
    is_cuboid: bool

    def extents_m(self, size_cm: tuple[int, ...]) -> np.ndarray:
        """Full box size (x, y, z) in metres for the given size parameters."""
        dims: tuple[int, ...]
        if self.category in ("cube", "ball"):
            dims = (size_cm[0],) * 3
        elif self.category == "cylinder":
            dims = (size_cm[0], size_cm[0], size_cm[1])
        else:
            dims = size_cm
        return np.asarray(dims, dtype=np.float64) / 100.0

    def sample_size_cm(self, rng: np.random.Generator) -> tuple[int, ...]:
        """Draw one size parameter tuple, one choice per parameter."""
        return tuple(int(choices[rng.integers(len(choices))]) for choices in self.size_choices_cm)


@dataclass(frozen=True)
class CatalogueEntry:
    """One kind of object a scene may contain once: a category and, for primitives, a colour.

    Attributes:
        category: Category name (``"cube"``, ``"mug"``).
        color: Palette colour name for primitives; None for mesh models.
        is_cuboid: Whether the object's oriented 3D box equals its shape exactly.
    """

    category: str
    color: str | None
    is_cuboid: bool

    @property
    def name(self) -> str:
        """Unique name in a scene: ``"red cube"`` or ``"mug"``."""
        return self.category if self.color is None else f"{self.color} {self.category}"


def _cm(lo: int, hi: int) -> tuple[int, ...]:
    return tuple(range(lo, hi + 1))


PRIMITIVE_MODELS: Mapping[str, PrimitiveModel] = MappingProxyType(
    {
        "cube": PrimitiveModel("cube", (_cm(4, 8),), is_cuboid=True),
        # Length always exceeds width, so a "box" is never a cube.
        "box": PrimitiveModel("box", (_cm(8, 13), _cm(3, 6), _cm(3, 7)), is_cuboid=True),
        "cylinder": PrimitiveModel("cylinder", (_cm(4, 8), _cm(4, 12)), is_cuboid=False),
        "ball": PrimitiveModel("ball", (_cm(4, 8),), is_cuboid=False),
    }
)

_HALF_PI = math.pi / 2
MESH_MODELS: Mapping[str, MeshModel] = MappingProxyType(
    {
        m.category: m
        for m in (
            MeshModel("mug", "objects/mug.urdf", 0.9),
            MeshModel("duck", "duck_vhacd.urdf", 1.2, (_HALF_PI, 0.0, 0.0)),
            MeshModel("teddy bear", "teddy_vhacd.urdf", 1.3, (_HALF_PI, 0.0, 0.0)),
            MeshModel("soccer ball", "soccerball.urdf", 0.09),
            MeshModel("lego brick", "lego/lego.urdf", 2.2),
            MeshModel("jenga block", "jenga/jenga.urdf", 0.8, is_cuboid=True),
            # Lying flat with its pips facing up reads as a domino from above.
            MeshModel("domino", "domino/domino.urdf", 2.4, (0.0, -_HALF_PI, 0.0), is_cuboid=True),
        )
    }
)

CATEGORIES: tuple[str, ...] = (*PRIMITIVE_MODELS, *MESH_MODELS)
"""Every category name, primitives first."""


def catalogue_entries(categories: tuple[str, ...] | None = None) -> tuple[CatalogueEntry, ...]:
    """All entries a scene may draw from, in a fixed order.

    Args:
        categories: Restrict to these categories; None means all of :data:`CATEGORIES`.

    Returns:
        Entries ordered by category (in :data:`CATEGORIES` order), then by palette order.

    Raises:
        ValueError: If a category is unknown.
    """
    wanted = CATEGORIES if categories is None else categories
    unknown = [c for c in wanted if c not in CATEGORIES]
    if unknown:
        raise ValueError(f"Unknown object categories {unknown}; available: {list(CATEGORIES)}")
    entries: list[CatalogueEntry] = []
    for category in CATEGORIES:
        if category not in wanted:
            continue
        if category in PRIMITIVE_MODELS:
            cuboid = PRIMITIVE_MODELS[category].is_cuboid
            entries.extend(CatalogueEntry(category, color, cuboid) for color in PALETTE)
        else:
            entries.append(CatalogueEntry(category, None, MESH_MODELS[category].is_cuboid))
    return tuple(entries)
