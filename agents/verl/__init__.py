"""The verl adapter: our tools as verl ``BaseTool`` classes, their tool YAML, and dataset-row helpers.

- :mod:`agents.verl.tools`: ``SpaceToolsTool`` (one class for every tool, configured by name; each
  call is one ``env.step`` of the episode's env, whose state is keyed on verl's ``request_id``),
  :func:`tools_kwargs` (a row's ``extra_info.tools_kwargs``).
- :mod:`agents.verl.tool_config`: :func:`write_tool_config` and the shipped YAML
  (:data:`SHIPPED_TOOL_CONFIG`, the default tools).
- :mod:`agents.verl.rows`: :func:`verl_row` (a parquet row for verl's ``RLHFDataset``) and
  :func:`compute_score` (verl's reward function: the env's score of the answer).

``import agents.verl`` works without verl; verl (which pins an older transformers than TRL needs, so
it lives in an environment of its own: ``docs/verl.md``) is imported when ``SpaceToolsTool`` is first
used, and its absence is then an ``ImportError`` naming the fix.
"""

from __future__ import annotations

from typing import Any

from agents.verl.rows import compute_score, verl_row
from agents.verl.tool_config import SHIPPED_TOOL_CONFIG, tool_config, tool_schemas, write_tool_config
from agents.verl.tools import (
    CLASS_NAME,
    SpaceToolsToolMixin,
    ToolSettings,
    live_episodes,
    tools_kwargs,
    verl_tool_class,
)


def __getattr__(name: str) -> Any:
    if name == "SpaceToolsTool":
        return verl_tool_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "CLASS_NAME",
    "SHIPPED_TOOL_CONFIG",
    "SpaceToolsToolMixin",
    "ToolSettings",
    "compute_score",
    "live_episodes",
    "tool_config",
    "tool_schemas",
    "tools_kwargs",
    "verl_row",
    "verl_tool_class",
    "write_tool_config",
]
