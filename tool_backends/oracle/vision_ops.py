"""``vision_ops.index_at``: read one value of a stored 2D array at normalized coordinates.

Not a model but a plain array lookup, so the oracle and every other backend compute it the
same way and it takes no noise. Output text, as the original tool prints it::

    Pixel value at (0.500, 0.400) is 1.2000000476837158

Number formatting follows the original exactly: the value is converted to the matching Python
scalar (``.item()``) and printed with ``str``; a float32 depth of 1.2 m therefore prints as
``1.2000000476837158``, a mask value as ``True``, an (H, W, C) array's pixel as a list.

Index rule: ``data[int(v * H), int(u * W)]`` as the original, with exactly 1.0 clamped to the
last row/column (the original raised IndexError there) and coordinates outside [0, 1] rejected
(the original silently wrapped negative ones around to the far edge); the rule is
:func:`~tool_backends.geometry.frames.pixel_index`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tool_backends.client import CallContext
from tool_backends.declaration import Variable, tool_method
from tool_backends.geometry.frames import pixel_index
from tool_backends.oracle.base import OracleToolset
from tool_backends.result import ToolError, ToolResult


def _describe(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    return type(value).__name__


class VisionOpsOracle(OracleToolset):
    """``vision_ops.*``: array operations on stored variables (exact in every backend)."""

    namespace = "vision_ops"

    @tool_method
    def index_at(self, ctx: CallContext, data: Variable, u: float, v: float) -> ToolResult:
        """Get the pixel value in the numpy ndarray `data` at the given normalized coordinates (u, v).

        Note the input arguments are called `data`, `u`, `v`. Text output: the value at the given
        coordinates, e.g. the depth in meters when data is $depth_map.

        Args:
            data: A stored 2D array of shape (H, W) such as "$depth_map" or "$segmentation_mask"
                (an (H, W, C) array gives the C values of the pixel).
            u: Normalized x-coordinate in [0, 1] (0 = left edge).
            v: Normalized y-coordinate in [0, 1] (0 = top edge).
        """
        if not isinstance(data, np.ndarray) or data.ndim not in (2, 3):
            raise ToolError(
                f"data must be a 2-D array such as $depth_map, got {_describe(data)}. "
                "Pass a stored variable with the $ syntax, e.g. \"data\": \"$depth_map\""
            )
        for name, value in (("u", u), ("v", v)):
            if not 0.0 <= value <= 1.0:
                raise ToolError(
                    f"{name} must be in [0, 1] (normalized image coordinates, origin top-left), got {value}"
                )
        height, width = data.shape[:2]
        col, row = pixel_index(u, v, width, height)
        value = data[row, col]
        if isinstance(value, np.ndarray):
            value = value.tolist()
        elif isinstance(value, np.generic):
            value = value.item()
        return ToolResult(
            ok=True,
            text=f"Pixel value at ({u:.3f}, {v:.3f}) is {value}",
            data={"value": value, "pixel": (col, row)},
        )


__all__ = ["VisionOpsOracle"]
