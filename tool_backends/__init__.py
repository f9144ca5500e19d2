"""Tools for spatial reasoning behind one interface: declarations, results, clients, backends.

Typical use::

    from tool_backends import EpisodeContext, make_client

    client = make_client("oracle")                # the 10 default tools, exact answers
    client.open_episode(EpisodeContext(images=(image,), truth=(truth,), seed=0))
    result = client.call("roborefer.detect_one", {"obj_name": "red mug", "image_index": 0})
    result.text  # "Detected 1 instance(s) of 'red mug': [(0.78, 0.494)]"
"""

from __future__ import annotations

from tool_backends.backends import (
    BACKENDS,
    DEFAULT_TOOLS,
    IMAGE_TOOLS,
    PHASE1_TOOLS,
    make_client,
    register_backend,
)
from tool_backends.client import CallContext, LocalToolClient, ToolCall, ToolClient
from tool_backends.declaration import ToolSpec, Variable, tool_method
from tool_backends.noise import ToolNoise
from tool_backends.result import ToolError, ToolInfrastructureError, ToolResult
from tool_backends.toolset import Toolset
from tool_backends.truth import EpisodeContext, GroundTruth, Referent, normalize_expression
from tool_backends.variables import VariableStore

__all__ = [
    "BACKENDS",
    "DEFAULT_TOOLS",
    "IMAGE_TOOLS",
    "PHASE1_TOOLS",
    "CallContext",
    "EpisodeContext",
    "GroundTruth",
    "LocalToolClient",
    "Referent",
    "ToolCall",
    "ToolClient",
    "ToolError",
    "ToolInfrastructureError",
    "ToolNoise",
    "ToolResult",
    "ToolSpec",
    "Toolset",
    "Variable",
    "VariableStore",
    "make_client",
    "normalize_expression",
    "register_backend",
    "tool_method",
]
