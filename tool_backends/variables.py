"""The per-episode variable store: large tool outputs live here and are referenced as ``"$name"``.

Resolution follows the original agent loop: an argument that is exactly ``"$name"`` becomes the
stored object; ``$name`` inside a longer string is interpolated as text. One deliberate change:
an undefined exact reference is reported to the model (with the names that do exist) instead of
being passed through as a string for the tool to trip over.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any

from tool_backends.result import ToolError

_REF = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


class VariableStore(Mapping[str, Any]):
    """Named values produced by tools during one episode."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def update_from(self, values: Mapping[str, Any]) -> None:
        self._values.update(values)

    def clear(self) -> None:
        self._values.clear()

    def resolve(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Replace ``"$name"`` references in a call's arguments (nested lists and dicts too).

        Raises:
            ToolError: an exact reference names no stored variable.
        """
        return {key: self._resolve(value) for key, value in arguments.items()}

    def _resolve(self, value: Any) -> Any:
        if isinstance(value, str) and "$" in value:
            match = _REF.fullmatch(value.strip())
            if match:
                return self._lookup(match.group(1))
            return _REF.sub(lambda m: str(self._values[m.group(1)]) if m.group(1) in self._values
                            else m.group(0), value)
        if isinstance(value, list):
            return [self._resolve(v) for v in value]
        if isinstance(value, dict):
            return {k: self._resolve(v) for k, v in value.items()}
        return value

    def _lookup(self, name: str) -> Any:
        if name in self._values:
            return self._values[name]
        known = ", ".join(f"${k}" for k in self._values) or "none yet"
        hint = difflib.get_close_matches(name, list(self._values), n=1)
        suggestion = f" Did you mean '${hint[0]}'?" if hint else ""
        raise ToolError(
            f"variable ${name} is not defined; stored variables: {known}.{suggestion} "
            "Variables are created by earlier tool calls "
            "(e.g. depth_estimator.estimate_depth stores $depth_map)."
        )
