"""Agents by name, resolved at run time (``benchmarks`` never imports ``agents`` statically)."""

from __future__ import annotations

import difflib
import importlib
import inspect
from collections.abc import Callable, Mapping
from typing import Any, cast

AGENTS = {
    "tool-program": "agents.tool_program:ToolProgramAgent",
    "blind-guess": "agents.blind_guess:BlindGuessAgent",
    "random": "agents.random_agent:RandomAgent",
    "hf": "agents.models.hf:HFAgent",
    "openai": "agents.models.openai_compat:OpenAIAgent",
}


def resolve_agent(name: str) -> Callable[..., Any]:
    """The factory (usually the class) of the agent called ``name``, or at import string ``module:Class``.

    Raises:
        ValueError: an unknown name or an import string that does not resolve.
    """
    target = AGENTS.get(name, name)
    module_name, _, attr = target.partition(":")
    if not attr:
        raise ValueError(f"unknown agent {name!r}; known agents: {sorted(AGENTS)} (or pass 'module:Class')")
    try:
        return cast(Callable[..., Any], getattr(importlib.import_module(module_name), attr))
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"cannot load agent {target!r}: {exc}") from exc


def check_agent(name: str, kwargs: Mapping[str, Any]) -> None:
    """Fail before any episode (and without building the agent) when ``kwargs`` do not fit its constructor.

    Raises:
        ValueError: naming the agent, the keyword it does not take and those it does (``--agent-kwargs``).
    """
    factory = resolve_agent(name)
    try:
        signature = inspect.signature(factory)
    except (TypeError, ValueError):  # a builtin without a signature: the constructor will say
        return
    params = signature.parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return
    takes = sorted(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
    for key in kwargs:
        if key not in takes:
            close = difflib.get_close_matches(str(key), takes, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(
                f"agent {name!r} takes no keyword argument {key!r} (from --agent-kwargs); it takes: "
                f"{takes or 'none'}.{hint}"
            )
    try:
        signature.bind(**kwargs)
    except TypeError as exc:
        raise ValueError(f"agent {name!r} cannot be built from --agent-kwargs {dict(kwargs)}: {exc}") from None


def describe_agent(name: str, kwargs: Mapping[str, Any]) -> dict[str, Any] | None:
    """What the agent's class records about a run built with ``kwargs`` (its ``manifest_entry``), or None.

    A model agent says which model (path, revision, weights hash) and how it generates, without
    loading the model, so the manifest is written before any episode; a bad option fails here.
    """
    entry = getattr(resolve_agent(name), "manifest_entry", None)
    return None if entry is None else dict(entry(**kwargs))


def load_agent(name: str, **kwargs: Any) -> Any:
    """Build the agent called ``name``, or the one at import string ``module:Class``.

    Raises:
        ValueError: an unknown name or an import string that does not resolve.
    """
    return resolve_agent(name)(**kwargs)
