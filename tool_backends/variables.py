"""The per-episode variable store: large tool outputs live here and are referenced as ``"$name"``.

Resolution follows the original agent loop: an argument that is exactly ``"$name"`` becomes the
stored object; ``$name`` inside a longer string is interpolated as text. Deliberate changes:

- An undefined exact reference is reported to the model (with the names that do exist) instead
  of being passed through as a string for the tool to trip over.
- What one call may interpolate is bounded: at most :data:`MAX_INTERPOLATED_CHARS` characters in
  all, else the call fails with an error naming the cap. A value whose text is longer than
  :data:`MAX_VALUE_TEXT_CHARS` (a depth map, a mask, a point cloud) interpolates as a short
  summary, ``<$depth_map: float32 array 480x640>``: its text is NumPy's elided print (its form
  set by global print options), useless inside a string, and pasting it cost ~0.5 ms per
  reference (a 550 KB action of references took 28.6 s). Short values (numbers, a few detected
  points, small arrays) keep the original's ``str(value)``, computed once per stored value.
- The store keeps at most :data:`MAX_VARIABLES` names; storing more drops the oldest, so a model
  inventing names (``vlm.detect_one`` stores ``$<obj_name>_detections``) cannot grow it.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np

from tool_backends.result import ToolError

MAX_INTERPOLATED_CHARS = 4096
"""Characters that ``$name`` references inside longer strings may insert into one call, in all."""
MAX_VALUE_TEXT_CHARS = 256
"""Longest text a stored value interpolates as; longer values interpolate as a summary."""
MAX_VARIABLES = 256
"""Names one episode's store keeps (oldest dropped first)."""

_REF = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")
_SMALL_ITEMS = 64  # containers with more items are summarised without computing their text
_SHOWN_NAME = 60


class VariableStore(Mapping[str, Any]):
    """Named values produced by tools during one episode."""

    def __init__(self) -> None:
        self._values: dict[str, Any] = {}
        self._texts: dict[str, str] = {}

    def __getitem__(self, key: str) -> Any:
        return self._values[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def update_from(self, values: Mapping[str, Any]) -> None:
        for name, value in values.items():
            self._values.pop(name, None)  # re-stored names count as newest
            self._texts.pop(name, None)
            self._values[name] = value
        while len(self._values) > MAX_VARIABLES:
            oldest = next(iter(self._values))
            del self._values[oldest]
            self._texts.pop(oldest, None)

    def clear(self) -> None:
        self._values.clear()
        self._texts.clear()

    def resolve(self, arguments: Mapping[str, Any]) -> dict[str, Any]:
        """Replace ``"$name"`` references in a call's arguments (nested lists and dicts too).

        Raises:
            ToolError: an exact reference names no stored variable, or the call's references
                inside strings would insert more than :data:`MAX_INTERPOLATED_CHARS` characters.
        """
        budget = [MAX_INTERPOLATED_CHARS]
        return {key: self._resolve(value, key, budget) for key, value in arguments.items()}

    def _resolve(self, value: Any, argument: str, budget: list[int]) -> Any:
        if isinstance(value, str) and "$" in value:
            match = _REF.fullmatch(value.strip())
            if match:
                return self._lookup(match.group(1))
            return _REF.sub(lambda m: self._interpolate(m, argument, budget), value)
        if isinstance(value, list):
            return [self._resolve(v, argument, budget) for v in value]
        if isinstance(value, dict):
            return {k: self._resolve(v, argument, budget) for k, v in value.items()}
        return value

    def _interpolate(self, match: re.Match[str], argument: str, budget: list[int]) -> str:
        name = match.group(1)
        if name not in self._values:
            return match.group(0)
        text = self._texts.get(name)
        if text is None:
            text = self._texts[name] = value_text(name, self._values[name])
        budget[0] -= len(text)
        if budget[0] < 0:
            raise ToolError(
                f"argument '{argument[:_SHOWN_NAME]}': \"$name\" references inside strings may insert at most "
                f"{MAX_INTERPOLATED_CHARS:,} characters per call in all; this call's insert more. Pass a stored "
                'value as the whole argument ("data": "$depth_map") to use the value itself.'
            )
        return text

    def _lookup(self, name: str) -> Any:
        if name in self._values:
            return self._values[name]
        names = list(self._values)
        known = ", ".join(f"${k[:_SHOWN_NAME]}" for k in names[:20]) or "none yet"
        if len(names) > 20:
            known += f" and {len(names) - 20} more"
        # difflib compares every pair of characters: no suggestion for a name no tool would store
        hint = difflib.get_close_matches(name, names, n=1) if len(name) <= _SHOWN_NAME else []
        suggestion = f" Did you mean '${hint[0]}'?" if hint else ""
        shown = name if len(name) <= _SHOWN_NAME else name[: _SHOWN_NAME - 3] + "..."
        raise ToolError(
            f"variable ${shown} is not defined; stored variables: {known}.{suggestion} "
            "Variables are created by earlier tool calls "
            "(e.g. depth_estimator.estimate_depth stores $depth_map)."
        )


def value_text(name: str, value: Any) -> str:
    """The text ``$name`` inside a longer string becomes: ``str(value)``, or a summary when long.

    >>> value_text("focal_length_px", 554.25)
    '554.25'
    >>> value_text("depth_map", np.zeros((480, 640), dtype=np.float32))
    '<$depth_map: float32 array 480x640>'
    """
    if isinstance(value, np.ndarray):
        if value.size <= _SMALL_ITEMS:
            text = str(value)
            if len(text) <= MAX_VALUE_TEXT_CHARS:
                return text
        return f"<${name}: {value.dtype} array {'x'.join(map(str, value.shape))}>"
    if isinstance(value, list | tuple | dict | set) and len(value) > _SMALL_ITEMS:
        return f"<${name}: {type(value).__name__} of {len(value):,} items>"
    text = str(value)
    if len(text) <= MAX_VALUE_TEXT_CHARS:
        return text
    return f"<${name}: {type(value).__name__} of {len(text):,} characters>"
