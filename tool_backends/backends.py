"""Which backend answers the tools: a small registry and the client factory the env uses."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from tool_backends.client import LocalToolClient
from tool_backends.faults import FaultInjectingClient
from tool_backends.oracle import oracle_toolsets
from tool_backends.toolset import Toolset

DEFAULT_TOOLS: tuple[str, ...] = (
    "roborefer.detect_one",
    "roborefer.detect_all",
    "vlm.detect_one",
    "vlm.detect_all",
    "depth_estimator.estimate_depth",
    "depth_estimator.estimate_depth_with_pointcloud",
    "sam2.segment_from_point",
    "sam2.segment_from_points",
    "vision_ops.index_at",
    "bounding_box.compute_bbox",
)
"""The original's reasoning tools (v1 config) implemented here, in the order the schemas are shown."""

IMAGE_TOOLS: tuple[str, ...] = ("vision_ops.crop", "vision_ops.zoom")
"""Tools that return an image (opt-in, as in the original: ``tools=[*DEFAULT_TOOLS, *IMAGE_TOOLS]``,
with ``tool_images=True`` to show the images to the model)."""

PHASE1_TOOLS: tuple[str, ...] = ("roborefer.detect_one",)
"""DIRL step 1 (interactive RL with the pointing tool only)."""

BackendFactory = Callable[..., Sequence[Toolset]]

BACKENDS: dict[str, BackendFactory] = {"oracle": oracle_toolsets}
"""Backend name -> factory of its toolsets; the factory takes the backend's options as keywords."""


def register_backend(name: str, factory: BackendFactory) -> None:
    """Make a backend available to :func:`make_client` (and ``gym.make(..., tool_backend=name)``).

    Raises:
        ValueError: ``name`` is already registered.
    """
    if name in BACKENDS:
        raise ValueError(f"tool backend '{name}' is already registered")
    BACKENDS[name] = factory


def make_client(
    backend: str = "oracle", tools: Sequence[str] | None = None, **options: Any
) -> LocalToolClient | FaultInjectingClient:
    """An in-process client for ``backend`` exposing ``tools``.

    Args:
        backend: Registered backend name (see :data:`BACKENDS`).
        tools: Tool names to expose, in this order; None exposes :data:`DEFAULT_TOOLS`.
        **options: Passed to the backend's factory, e.g. ``noise={"roborefer": ToolNoise(...)}``,
            except ``faults``: fault injection for any backend (:class:`~tool_backends.faults.ToolFaults`
            or its dict form), which wraps the client in a :class:`~tool_backends.faults.FaultInjectingClient`.

    Raises:
        ValueError: unknown backend (the message lists the available ones), unknown tool name, bad faults.
    """
    factory = BACKENDS.get(backend)
    if factory is None:
        raise ValueError(f"Unknown tool backend '{backend}'; available: {sorted(BACKENDS)}")
    faults = options.pop("faults", None)
    client = LocalToolClient(factory(**options), include=DEFAULT_TOOLS if tools is None else tuple(tools))
    return client if faults is None else FaultInjectingClient(client, faults)


__all__ = ["BACKENDS", "DEFAULT_TOOLS", "IMAGE_TOOLS", "PHASE1_TOOLS", "make_client", "register_backend"]
