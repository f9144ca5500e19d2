"""The value every tool call returns, whichever backend ran it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class ToolResult:
    """Outcome of one tool call.

    Attributes:
        ok: False when the call failed (bad arguments, tool failure); the text then starts
            with ``"Error: "`` and is what the model sees.
        text: What the model reads, exactly as the original Toolshed templates print it.
        images: Optional images (HxWx3 uint8) the tool produced; shown to the model only when
            the env enables tool images.
        variables: Named values to store in the episode's variable store (``$depth_map``...).
        data: Structured outputs for rewards, drawings and tests (points, masks, corners).
        elapsed_s: Wall time spent computing the result.
    """

    ok: bool
    text: str
    images: tuple[np.ndarray, ...] = ()
    variables: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0

    @classmethod
    def error(cls, message: str, elapsed_s: float = 0.0) -> ToolResult:
        """A failed call whose text the model can learn from."""
        return cls(ok=False, text=f"Error: {message}", elapsed_s=elapsed_s)


class ToolError(Exception):
    """A tool rejects its input; the message becomes an ``Error: ...`` response for the model."""


class ToolInfrastructureError(RuntimeError):
    """The tool machinery itself failed (dead server, missing weights): raised, never shown to the model."""
