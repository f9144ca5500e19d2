"""The value every tool call returns, whichever backend ran it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

FAULT_KINDS: tuple[str, ...] = ("failure", "wrong", "error", "timeout", "crash")
"""What :attr:`ToolResult.fault` may name (besides False), see :mod:`tool_backends.faults`.

``failure``: the tool's own output for finding nothing (``Detected 0 instance(s) of 'mug': []``);
``wrong``: a silently wrong output (another object, a misjudged depth scale, the neighbouring
segment); ``error``: the tool raised and the model reads ``Error: ...``; ``timeout``: the call ran
past its timeout and the model reads ``Error: ... timed out``; ``crash``: the tool process died
(raised as :class:`ToolInfrastructureError`, so it reaches a record only where a client chooses to
answer it). Extend the tuple, never rename a kind: records name them.
"""


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
        fault: False, or the kind of fault (one of :data:`FAULT_KINDS`) that made this result
            deviate from what an exact tool answers. Bookkeeping for evaluation (the per-call
            ``fault`` of records, the recovery rate): the env never puts it in a message, so the
            model cannot see it. Small jitter is no fault (see :mod:`tool_backends.faults`).
    """

    ok: bool
    text: str
    images: tuple[np.ndarray, ...] = ()
    variables: dict[str, Any] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    fault: str | bool = False

    def __post_init__(self) -> None:
        if self.fault is not False and self.fault not in FAULT_KINDS:
            raise ValueError(f"ToolResult.fault must be False or one of {list(FAULT_KINDS)}, got {self.fault!r}")

    @classmethod
    def error(cls, message: str, elapsed_s: float = 0.0, fault: str | bool = False) -> ToolResult:
        """A failed call whose text the model can learn from (``fault``: an injected one, else False)."""
        return cls(ok=False, text=f"Error: {message}", elapsed_s=elapsed_s, fault=fault)


class ToolError(Exception):
    """A tool rejects its input; the message becomes an ``Error: ...`` response for the model."""


class ToolInfrastructureError(RuntimeError):
    """The tool machinery itself failed (dead server, missing weights): raised, never shown to the model."""
