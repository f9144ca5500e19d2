"""Tool names for native function calling: ``roborefer.detect_one`` <-> ``roborefer__detect_one``.

Our tools keep the paper's dotted names (``<tool>.<method>``) everywhere the text protocol is
spoken: the system prompt's tools block, ``<tool_call>`` JSON, records, traces and exports. OpenAI
function names and TRL tool methods cannot hold a dot (OpenAI: ``^[a-zA-Z0-9_-]{1,64}$``), so
native function calling (an OpenAI ``tools`` payload, TRL's ``environment_factory``) uses the
*function name*: each dot becomes ``__``::

    >>> to_function_name("roborefer.detect_one")
    'roborefer__detect_one'
    >>> from_function_name("roborefer__detect_one")
    'roborefer.detect_one'

The mapping is reversible because every tool name is checked when it is declared
(:func:`tool_name_problem`): dot-separated parts of letters, digits and ``_`` that neither start
nor end with ``_`` nor hold ``__``, starting with a letter, at most 64 characters once mapped. So
``__`` in a function name always marks a dot, no two valid tool names map to the same function
name (a declaration that could collide, ``a_.b`` and ``a._b`` both ``a___b``, is refused), and every
function name is also a Python identifier, as TRL's tool methods must be (hence no ``-``, which
OpenAI would accept).

The env's dict actions accept function names too: ``env.step({"tool_calls": [...]})`` with OpenAI
``{"type": "function", "function": {"name": "sam2__segment_from_point", "arguments": "{...}"}}``
entries runs ``sam2.segment_from_point`` (:mod:`spacetools_env.parsing` maps the name back), and the
calls are recorded under the dotted name. Text actions are the paper protocol and are not mapped.
"""

from __future__ import annotations

import json
import keyword
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # declaration.py checks names with this module, so no import back at run time
    from tool_backends.declaration import ToolSpec

SEPARATOR = "__"
"""What a dot of a tool name becomes in its function name."""
MAX_FUNCTION_NAME_CHARS = 64
"""OpenAI's limit on a function name's length."""
FUNCTION_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
"""What OpenAI accepts as a function name."""
_PART = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9_]*[A-Za-z0-9])?$")
_CHARS = re.compile(r"^[A-Za-z0-9_]+$")
_RULE = (
    " (a tool name is dot-separated parts of letters, digits and '_', none starting or ending with '_' or "
    "holding '__', the first starting with a letter, so that its function name, each dot written '__', maps "
    "back to exactly one tool name and is a Python identifier)"
)


def tool_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be a tool name (None when it can); see the module docstring for the rule.

    >>> tool_name_problem("sam2.segment_from_point") is None
    True
    >>> tool_name_problem("sam2._hidden")[:52]
    "part '_hidden' starts or ends with '_' or holds '__'"
    """
    if not isinstance(name, str) or not name:
        return f"a tool name must be a non-empty string, got {name!r}"
    for part in name.split("."):
        if not _CHARS.match(part):
            return f"part {part[:40]!r} must be letters, digits or '_'{_RULE}"
        if not _PART.match(part) or SEPARATOR in part:
            return f"part {part!r} starts or ends with '_' or holds '__'{_RULE}"
    mapped = name.replace(".", SEPARATOR)
    if not mapped.isidentifier() or keyword.iskeyword(mapped):
        return f"its function name {mapped[:80]!r} is not a Python identifier (TRL's tool methods are){_RULE}"
    if len(mapped) > MAX_FUNCTION_NAME_CHARS:
        return (
            f"its function name {mapped[:80]!r} is {len(mapped)} characters long; OpenAI accepts at most "
            f"{MAX_FUNCTION_NAME_CHARS}. Use a shorter namespace or method name"
        )
    return None


def to_function_name(name: str) -> str:
    """The OpenAI / TRL function name of tool ``name``: each dot becomes ``__``.

    Raises:
        ValueError: ``name`` is not a valid tool name (the message says why and the rule).
    """
    problem = tool_name_problem(name)
    if problem is not None:
        raise ValueError(f"cannot map tool name {str(name)[:80]!r}: {problem}")
    return name.replace(".", SEPARATOR)


def from_function_name(function_name: str) -> str:
    """The tool name of OpenAI / TRL function ``function_name``: each ``__`` becomes a dot.

    A dotted tool name is returned unchanged, so the result is always the dotted name.

    Raises:
        ValueError: no valid tool name maps to ``function_name`` (e.g. ``a___b``).
    """
    if isinstance(function_name, str) and "." in function_name:
        name = function_name
    elif isinstance(function_name, str) and FUNCTION_NAME.match(function_name):
        name = function_name.replace(SEPARATOR, ".")
    else:
        raise ValueError(
            f"{str(function_name)[:80]!r} is not a function name: OpenAI function names match {FUNCTION_NAME.pattern}"
        )
    problem = tool_name_problem(name)
    if problem is not None:
        raise ValueError(f"function name {function_name[:80]!r} maps to no valid tool name: {problem}")
    return name


def check_function_names(names: Iterable[str]) -> dict[str, str]:
    """Function name -> tool name for ``names``, each checked by :func:`to_function_name`.

    Valid tool names map one to one (the rule leaves ``__`` to mark dots only), so names that would
    share a function name (``a_.b``, ``a._b``) are refused one by one, before any could collide.

    Raises:
        ValueError: naming the first name that cannot be mapped, and why.
    """
    return {to_function_name(name): name for name in names}


def openai_tools(specs: Iterable[ToolSpec | Mapping[str, Any]]) -> list[dict[str, Any]]:
    """An OpenAI ``tools`` payload: the schemas of ``specs`` under their function names.

    Args:
        specs: :class:`ToolSpec` objects (``client.specs``) or OpenAI-format schemas with dotted
            names (the env's ``info["tools"]``, ``env.tool_schemas``).

    Returns:
        New schema dicts (the inputs are not changed), in the same order.

    Raises:
        ValueError: a name cannot be mapped (:func:`check_function_names`).
    """
    schemas = [s if isinstance(s, Mapping) else s.openai_schema() for s in specs]
    check_function_names(s["function"]["name"] for s in schemas)
    return [
        {**s, "function": {**s["function"], "name": to_function_name(s["function"]["name"])}} for s in schemas
    ]


def calls_from_openai(tool_calls: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """OpenAI ``tool_calls`` (function names, arguments as a JSON string) as our calls.

    The env takes such a list as is (``env.step({"tool_calls": tool_calls})``); this is for code
    that calls a :class:`~tool_backends.client.ToolClient` directly.

    Returns:
        ``[{"name": dotted tool name, "arguments": dict}, ...]`` in order.

    Raises:
        ValueError: naming the entry (1-based) and what is wrong with it.
    """
    calls = []
    for number, entry in enumerate(tool_calls, start=1):
        function = entry.get("function", entry) if isinstance(entry, Mapping) else None
        if not isinstance(function, Mapping) or not isinstance(function.get("name"), str):
            raise ValueError(f'tool call {number}: expected {{"type": "function", "function": {{"name": ...}}}}')
        arguments: Any = function.get("arguments", {})
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except json.JSONDecodeError as exc:
                raise ValueError(f"tool call {number} ({function['name']}): arguments are not JSON: {exc}") from None
        if not isinstance(arguments, Mapping):
            kind = type(arguments).__name__
            raise ValueError(f"tool call {number} ({function['name']}): arguments must be a JSON object, got {kind}")
        calls.append({"name": from_function_name(function["name"]), "arguments": dict(arguments)})
    return calls


__all__ = [
    "FUNCTION_NAME",
    "MAX_FUNCTION_NAME_CHARS",
    "SEPARATOR",
    "calls_from_openai",
    "check_function_names",
    "from_function_name",
    "openai_tools",
    "to_function_name",
    "tool_name_problem",
]
