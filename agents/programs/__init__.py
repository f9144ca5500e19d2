"""Tool programs, one per synthetic family, keyed by family name."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

_MODULES = {
    "SpatialConfiguration": "spatial_configuration",
    "Compatibility": "compatibility",
    "FreeSpace": "free_space",
    "RelativeDepth": "relative_depth",
    "Relation2D": "relation_2d",
    "Depth3D": "depth_3d",
    "RefLocation": "ref_location",
    "RefPlacement": "ref_placement",
    "BoxPose": "box_pose",
}


def _load() -> dict[str, Callable[[str], Any]]:
    return {family: importlib.import_module(f"agents.programs.{module}").program for family, module in _MODULES.items()}


PROGRAMS = _load()
