"""Declare a tool once: a typed, documented method becomes the model's API.

The Google-style docstring and the type hints of a method decorated with :func:`tool_method`
are the single source of the OpenAI/JSON schema shown to the model and of the argument
checks applied to every call. Parameters named ``ctx`` are injected by the executor
(the episode's images and ground truth) and never appear in the schema.

Per-call caps live here too, so every tool gets them: a string argument holds at most
:data:`MAX_STRING_CHARS` characters, a list at most :data:`MAX_LIST_ITEMS` items (points for
``sam2.segment_from_points``, at every nesting level). A tool's work then stays bounded (a
300,000-point prompt took 5.4 s); a call past a cap fails with an error naming it, which is how
the model learns of a cap. Decision: the caps are not written into the schema (no ``maxLength``
/ ``maxItems``), because the schema is printed into the system prompt and the paper protocol's
prompt must stay byte-identical to the original's; no well-formed call comes near either cap. ``Variable``
arguments are not capped: they arrive as stored values, and the action's own size cap
(``max_action_chars``) bounds what the model can write in their place.
"""

from __future__ import annotations

import inspect
import math
import re
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Union, get_args, get_origin, get_type_hints

import numpy as np

from tool_backends.names import tool_name_problem
from tool_backends.result import ToolError

VARIABLE = "variable"
Variable = Annotated[Any, VARIABLE]
"""An argument that usually names a stored value (``"$depth_map"``) and arrives resolved."""

MAX_STRING_CHARS = 1024
"""Characters a string argument may hold."""
MAX_LIST_ITEMS = 1024
"""Items a list argument may hold (each nested list too)."""

_HIDDEN_PARAMS = frozenset({"self", "ctx"})
_TOOL_ATTR = "__spacetools_tool__"


@dataclass(frozen=True)
class ParamSpec:
    """One model-visible argument of a tool."""

    name: str
    annotation: Any
    description: str
    required: bool
    default: Any = None

    def json_schema(self) -> dict[str, Any]:
        schema = _json_type(self.annotation)
        schema["description"] = self.description
        return schema


@dataclass(frozen=True)
class ToolSpec:
    """A tool's name, documentation and parameters, derived from its declaration."""

    name: str
    description: str
    params: tuple[ParamSpec, ...]

    def openai_schema(self) -> dict[str, Any]:
        """The schema in OpenAI function-calling format (also what Qwen's template prints)."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": {
                    "type": "object",
                    "properties": {p.name: p.json_schema() for p in self.params},
                    "required": [p.name for p in self.params if p.required],
                },
            },
        }

    def bind(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Check and coerce a call's arguments against the declaration.

        Raises:
            ToolError: naming the bad argument, what was expected and what to send instead.
        """
        known = {p.name: p for p in self.params}
        unknown = [k for k in arguments if k not in known]
        if unknown:
            shown = [str(k)[:40] for k in unknown[:5]] + ([f"... {len(unknown) - 5} more"] if len(unknown) > 5 else [])
            raise ToolError(
                f"{self.name} got unexpected argument(s) {shown}; it takes {list(known)}"
            )
        bound: dict[str, Any] = {}
        for p in self.params:
            if p.name not in arguments:
                if p.required:
                    raise ToolError(
                        f"{self.name} is missing required argument '{p.name}' ({p.description})"
                    )
                bound[p.name] = p.default
                continue
            bound[p.name] = _coerce(self.name, p.name, arguments[p.name], p.annotation)
        return bound


def tool_method(func: Callable[..., Any]) -> Callable[..., Any]:
    """Mark a toolset method as a tool; its docstring and hints become its schema."""
    setattr(func, _TOOL_ATTR, True)
    return func


def is_tool_method(obj: Any) -> bool:
    return bool(getattr(obj, _TOOL_ATTR, False))


def spec_from_function(name: str, func: Callable[..., Any]) -> ToolSpec:
    """Build the :class:`ToolSpec` of ``func`` published under ``name``.

    Raises:
        TypeError: the declaration lacks a docstring entry or a type hint for a parameter, or ``name``
            could not be a function name for native function calling (:mod:`tool_backends.names`).
    """
    problem = tool_name_problem(name)
    if problem is not None:
        raise TypeError(f"tool {str(name)[:80]!r} cannot be declared: {problem}")
    doc = inspect.getdoc(func) or ""
    summary, arg_docs = _parse_google_docstring(doc)
    hints = get_type_hints(func, include_extras=True)
    params = []
    for pname, param in inspect.signature(func).parameters.items():
        if pname in _HIDDEN_PARAMS:
            continue
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise TypeError(f"tool {name}: *{pname} is not allowed; declare each argument the model may pass")
        if pname not in hints:
            raise TypeError(f"tool {name}: parameter '{pname}' needs a type hint")
        if pname not in arg_docs:
            raise TypeError(f"tool {name}: parameter '{pname}' needs an 'Args:' docstring entry")
        required = param.default is inspect.Parameter.empty
        params.append(
            ParamSpec(pname, hints[pname], arg_docs[pname], required, None if required else param.default)
        )
    if not summary:
        raise TypeError(f"tool {name}: needs a docstring summary (it is the model's documentation)")
    return ToolSpec(name=name, description=summary, params=tuple(params))


_SECTION = re.compile(
    r"^(Args|Arguments|Keyword Args|Keyword Arguments|Other Parameters|Parameters|Returns|Return|Raises|"
    r"Yields|Examples?|Notes?|Attributes|Warnings?|Todo|See Also|References|Methods):\s*$"
)
_ARGS_SECTIONS = frozenset({"Args", "Arguments", "Keyword Args", "Keyword Arguments", "Other Parameters",
                            "Parameters"})
# "name (type): text" with an optional type (one level of nested brackets allowed) and *, ** prefixes.
_ARG_LINE = re.compile(r"^\*{0,2}(\w+)(?:\s*\((?:[^()]|\([^()]*\))*\))?:\s*(.*)$")


def _parse_google_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """Split a Google-style docstring into its description and its ``Args:`` entries."""
    description: list[str] = []
    args: dict[str, str] = {}
    section = None
    current = None
    args_indent = 0
    for raw in doc.splitlines():
        line = raw.strip()
        header = _SECTION.match(line)
        if header:
            section = header.group(1)
            current = None
            continue
        if section is None:
            description.append(line)
        elif section in _ARGS_SECTIONS and line:
            indent = len(raw) - len(raw.lstrip())
            match = _ARG_LINE.match(line)
            if match and (current is None or indent <= args_indent):
                current = match.group(1)
                args_indent = indent
                args[current] = match.group(2)
            elif current is not None:
                args[current] = f"{args[current]} {line}".strip()
    return " ".join(" ".join(description).split()), args


def _json_type(annotation: Any) -> dict[str, Any]:
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *meta = get_args(annotation)
        if VARIABLE in meta:
            return {"type": "string"}
        return _json_type(base)
    if annotation is str:
        return {"type": "string"}
    if annotation is bool:
        return {"type": "boolean"}
    if annotation is int:
        return {"type": "integer"}
    if annotation is float:
        return {"type": "number"}
    if origin in (list, tuple):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        items = _json_type(args[0]) if args else {}
        schema: dict[str, Any] = {"type": "array", "items": items}
        if origin is tuple and Ellipsis not in get_args(annotation):
            schema["minItems"] = schema["maxItems"] = len(args)
        return schema
    if origin in (Union, types.UnionType):
        options = [a for a in get_args(annotation) if a is not type(None)]
        return _json_type(options[0])
    return {}


def _describe(value: Any) -> str:
    """A short description of a value; bounded work whatever its size (no full ``repr``)."""
    if isinstance(value, str):
        text = repr(value[:40])
    elif isinstance(value, np.ndarray):
        return f"an array of shape {value.shape}"
    elif isinstance(value, list | tuple | dict):
        return f"a {type(value).__name__} of {len(value):,} items"
    elif isinstance(value, int) and value.bit_length() > 128:
        return f"an integer of about {int(value.bit_length() * 0.30103):,} digits (int)"
    else:
        text = repr(value)
    if len(text) > 40:
        text = text[:37] + "..."
    return f"{text} ({type(value).__name__})"


def _coerce(tool: str, name: str, value: Any, annotation: Any) -> Any:
    """Check one argument's type; numbers may widen (int -> float) but never parse from strings."""
    where = f"{tool}: argument '{name}'"
    origin = get_origin(annotation)
    if origin is Annotated:
        base, *meta = get_args(annotation)
        if VARIABLE in meta:
            if isinstance(value, str) and value.startswith("$"):
                raise ToolError(f"{where}: variable {value} is not defined")
            return value
        return _coerce(tool, name, value, base)
    if annotation is Any:
        return value
    if annotation is str:
        if not isinstance(value, str):
            raise ToolError(f"{where} must be a string, got {_describe(value)}")
        if len(value) > MAX_STRING_CHARS:
            raise ToolError(
                f"{where} is {len(value):,} characters long; at most {MAX_STRING_CHARS:,} are accepted. "
                "Send a shorter string"
            )
        return value
    if annotation is bool:
        if not isinstance(value, bool):
            raise ToolError(f"{where} must be true or false, got {_describe(value)}")
        return value
    if annotation is int:
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise ToolError(f"{where} must be an integer, got {_describe(value)}")
        if isinstance(value, int | np.integer):  # float(value) would overflow on a huge int
            return int(value)
        if not float(value).is_integer():
            raise ToolError(f"{where} must be an integer, got {_describe(value)}")
        return int(value)
    if annotation is float:
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise ToolError(f"{where} must be a number, got {_describe(value)}")
        try:
            number = float(value)
        except OverflowError:  # an int too large for a float
            raise ToolError(f"{where} must be a finite number, got {_describe(value)}") from None
        if not math.isfinite(number):
            raise ToolError(f"{where} must be a finite number, got {_describe(value)}")
        return number
    if origin in (list, tuple):
        if isinstance(value, np.ndarray):
            value = value.tolist()
        if not isinstance(value, list | tuple):
            raise ToolError(f"{where} must be a list, got {_describe(value)}")
        args = get_args(annotation)
        if len(value) > MAX_LIST_ITEMS and not (origin is tuple and args and Ellipsis not in args):
            raise ToolError(
                f"{where} has {len(value):,} items; at most {MAX_LIST_ITEMS:,} are accepted. Send fewer"
            )
        if origin is tuple and args and Ellipsis not in args:
            if len(value) != len(args):
                raise ToolError(f"{where} must have {len(args)} items, got {len(value)}")
            pairs = enumerate(zip(value, args, strict=True))
            return tuple(_coerce(tool, f"{name}[{i}]", v, a) for i, (v, a) in pairs)
        item = args[0] if args else Any
        return [_coerce(tool, f"{name}[{i}]", v, item) for i, v in enumerate(value)]
    if origin in (Union, types.UnionType):
        errors = []
        for option in get_args(annotation):
            if option is type(None):
                if value is None:
                    return None
                continue
            try:
                return _coerce(tool, name, value, option)
            except ToolError as exc:
                errors.append(str(exc))
        raise ToolError(errors[0])
    return value


__all__ = [
    "MAX_LIST_ITEMS",
    "MAX_STRING_CHARS",
    "VARIABLE",
    "ParamSpec",
    "ToolSpec",
    "Variable",
    "is_tool_method",
    "spec_from_function",
    "tool_method",
]
