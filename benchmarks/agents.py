"""Agents by name, resolved at run time (``benchmarks`` never imports ``agents`` statically)."""

from __future__ import annotations

import importlib
from typing import Any

AGENTS = {
    "tool-program": "agents.tool_program:ToolProgramAgent",
    "blind-guess": "agents.blind_guess:BlindGuessAgent",
    "random": "agents.random_agent:RandomAgent",
}


def load_agent(name: str, **kwargs: Any) -> Any:
    """Build the agent called ``name``, or the one at import string ``module:Class``.

    Raises:
        ValueError: an unknown name or an import string that does not resolve.
    """
    target = AGENTS.get(name, name)
    module_name, _, attr = target.partition(":")
    if not attr:
        raise ValueError(f"unknown agent {name!r}; known agents: {sorted(AGENTS)} (or pass 'module:Class')")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load agent {target!r}: {exc}") from exc
    return factory(**kwargs)
