"""The verl tool YAML of our tools: written from their declarations, one entry per tool.

verl reads ``tools: [{class_name, config: {type: native, ...}, tool_schema}]``
(``verl.tools.tool_registry.initialize_tools_from_config``). Each entry here is
``class_name: agents.verl.tools.SpaceToolsTool``, a ``config`` naming the dotted tool and the
episode env's options (``env_kwargs``, the same in every entry: the first call of an episode makes
its env), and the tool's OpenAI schema under its function name (``roborefer__detect_one``).

The schema is written whole, as :meth:`tool_backends.ToolSpec.openai_schema` gives it. verl's
pydantic model keeps only ``type``, ``description`` and ``enum`` of each property, so the prompt verl
renders lacks an array's ``items`` (``sam2.segment_from_points``' points), as the original verl run's
did; the env still checks every argument against the declaration.

:data:`SHIPPED_TOOL_CONFIG` is the YAML for :data:`~tool_backends.DEFAULT_TOOLS`
(``write_tool_config(SHIPPED_TOOL_CONFIG)`` regenerates it; a test checks it is current).
"""

from __future__ import annotations

import copy
import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agents.verl.tools import CLASS_NAME, TOOL_REWARDS
from tool_backends.backends import DEFAULT_TOOLS, make_client
from tool_backends.names import openai_tools

SHIPPED_TOOL_CONFIG = Path(__file__).with_name("spacetools_tools.yaml")
"""The shipped YAML: the default tools on the oracle backend."""
_HEADER = (
    "# verl tool config of the SpaceTools tools (written by agents.verl.write_tool_config; do not edit).\n"
    "# Use: actor_rollout_ref.rollout.multi_turn.tool_config_path=<this file>; every dataset row names its\n"
    "# episode in extra_info.tools_kwargs (agents.verl.tools_kwargs). See docs/verl.md.\n"
)


def tool_schemas(tools: Sequence[str], env_kwargs: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
    """OpenAI schemas of ``tools`` under their function names, from the declarations the env would use.

    Args:
        tools: Dotted tool names, in the order wanted.
        env_kwargs: The env's ``gym.make`` options; ``tool_backend`` and ``tool_options`` pick the
            declarations, as the env's own client does.

    Raises:
        ValueError: an unknown tool or backend (named, with the available ones).
    """
    options = dict(env_kwargs or {})
    client = make_client(str(options.get("tool_backend", "oracle")), tools=list(tools),
                         **dict(options.get("tool_options") or {}))
    try:
        return openai_tools(client.specs)
    finally:
        client.close()


def tool_config(
    tools: Sequence[str] = DEFAULT_TOOLS, *, env_kwargs: Mapping[str, Any] | None = None,
    env_id: str | None = None, tool_reward: str = "env",
) -> dict[str, Any]:
    """The verl tool config of ``tools`` as data (what :func:`write_tool_config` writes).

    Args:
        tools: Dotted tool names offered to the model, in this order (also the episode env's ``tools``).
        env_kwargs: Other ``gym.make`` options of every episode's env (``tool_images``, ``tool_options``...).
            A ``tools`` key here must equal ``tools``.
        env_id: The env played when a row's ``create_kwargs`` name none (None: rows must name it).
        tool_reward: ``"env"`` or ``"toolshed"`` (:mod:`agents.verl.tools`).

    Raises:
        ValueError: an unknown tool, no tools, ``env_kwargs.tools`` differing from ``tools``, a bad ``tool_reward``.
    """
    tools = list(tools)
    if not tools:
        raise ValueError("tool_config needs at least one tool (a verl tool YAML lists the tools the model may call)")
    kwargs = dict(env_kwargs or {})
    if "tools" in kwargs and list(kwargs["tools"]) != tools:
        raise ValueError(f"env_kwargs['tools'] {kwargs['tools']} differs from tools {tools}; give the list once")
    if tool_reward not in TOOL_REWARDS:
        raise ValueError(f"tool_reward must be one of {list(TOOL_REWARDS)}, got {tool_reward!r}")
    kwargs["tools"] = tools
    entries = []
    for tool, schema in zip(tools, tool_schemas(tools, kwargs), strict=True):
        config: dict[str, Any] = {"type": "native", "tool": tool}
        if env_id is not None:
            config["env_id"] = env_id
        config["env_kwargs"] = copy.deepcopy(kwargs)  # own copies: no YAML anchors between entries
        config["tool_reward"] = tool_reward
        entries.append({"class_name": CLASS_NAME, "config": config, "tool_schema": schema})
    return {"tools": entries}


def write_tool_config(
    path: str | Path, tools: Sequence[str] = DEFAULT_TOOLS, *, env_kwargs: Mapping[str, Any] | None = None,
    env_id: str | None = None, tool_reward: str = "env",
) -> Path:
    """Write the verl tool YAML of ``tools`` to ``path`` (its folder is made); returns the path.

    See :func:`tool_config` for the arguments and errors.
    """
    # PyYAML comes with transformers and omegaconf; imported by name because it ships no type stubs
    yaml = importlib.import_module("yaml")
    data = tool_config(tools, env_kwargs=env_kwargs, env_id=env_id, tool_reward=tool_reward)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # sort_keys=False keeps the schema's key order (name, description, parameters), as the env prints it
    text = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)
    path.write_text(_HEADER + text, encoding="utf-8")
    return path


__all__ = ["SHIPPED_TOOL_CONFIG", "tool_config", "tool_schemas", "write_tool_config"]
