"""The oracle backend: every default tool answered exactly from an episode's ground truth.

One toolset per original tool family (``roborefer``, ``vlm``, ``depth_estimator``, ``sam2``,
``vision_ops``, ``bounding_box``), with the original names, arguments, output texts and stored
variables. Model-backed tools accept a :class:`~tool_backends.noise.ToolNoise`; geometric tools
(``vision_ops``, ``bounding_box``) compute on their inputs and are exact by nature.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tool_backends.noise import ToolNoise
from tool_backends.oracle.base import OracleToolset
from tool_backends.oracle.bounding_box import BoundingBoxOracle
from tool_backends.oracle.depth import DepthOracle
from tool_backends.oracle.pointing import RoboreferOracle, VlmOracle
from tool_backends.oracle.segmentation import SegmentationOracle
from tool_backends.oracle.vision_ops import VisionOpsOracle
from tool_backends.toolset import Toolset

ORACLE_TOOLSETS: tuple[type[OracleToolset], ...] = (
    RoboreferOracle,
    VlmOracle,
    DepthOracle,
    SegmentationOracle,
    VisionOpsOracle,
    BoundingBoxOracle,
)


def oracle_toolsets(
    noise: Mapping[str, ToolNoise | Mapping[str, Any]] | None = None, pixel_centers: bool = True
) -> list[Toolset]:
    """Build the oracle toolsets.

    Args:
        noise: Noise per full tool name (``"sam2.segment_from_point"``) or namespace (``"sam2"``);
            a full name wins over its namespace. Values are :class:`ToolNoise` or the keyword
            arguments of one (handy in config files).
        pixel_centers: Back-project depth through pixel centres (exact for ground truth rendered
            at pixel centres) or through integer pixel indices, as the original tool did.

    Raises:
        ValueError: a key names no tool that takes noise, or a value is not a noise setting.
    """
    resolved = _resolve_noise(noise or {})
    toolsets: list[Toolset] = []
    for cls in ORACLE_TOOLSETS:
        if cls is DepthOracle:
            toolsets.append(DepthOracle(resolved, pixel_centers=pixel_centers))
        else:
            toolsets.append(cls(resolved))
    return toolsets


def _resolve_noise(noise: Mapping[str, ToolNoise | Mapping[str, Any]]) -> dict[str, ToolNoise]:
    valid = [key for cls in ORACLE_TOOLSETS for key in cls.noise_keys()]
    exact = sorted({cls.namespace for cls in ORACLE_TOOLSETS if not cls.noisy_tools})
    resolved = {}
    for key, value in noise.items():
        if key not in valid:
            reason = (
                f"'{key}' computes exactly on its inputs and takes no noise"
                if key.split(".")[0] in exact
                else f"noise key '{key}' names no oracle tool"
            )
            raise ValueError(f"{reason}; valid keys: {valid}")
        if isinstance(value, ToolNoise):
            resolved[key] = value
        elif isinstance(value, Mapping):
            try:
                resolved[key] = ToolNoise(**value)
            except TypeError as exc:
                raise ValueError(f"noise for '{key}': {exc}") from None
        else:
            raise ValueError(f"noise for '{key}' must be a ToolNoise or a dict of its fields, got {value!r}")
    return resolved


__all__ = [
    "ORACLE_TOOLSETS",
    "BoundingBoxOracle",
    "DepthOracle",
    "OracleToolset",
    "RoboreferOracle",
    "SegmentationOracle",
    "VisionOpsOracle",
    "VlmOracle",
    "oracle_toolsets",
]
