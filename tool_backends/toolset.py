"""A toolset groups the methods of one tool family under a namespace (``sam2.segment_from_point``)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, ClassVar

from tool_backends.declaration import ToolSpec, is_tool_method, spec_from_function


class Toolset:
    """Base class: subclasses set ``namespace`` and decorate public methods with ``@tool_method``.

    Each tool method takes ``ctx`` (the :class:`~tool_backends.truth.EpisodeContext` plus a
    per-call RNG, see :class:`CallContext`) followed by its model-visible arguments, and returns a
    :class:`~tool_backends.result.ToolResult` or raises :class:`~tool_backends.result.ToolError`.
    """

    namespace: ClassVar[str] = ""

    def tools(self) -> Iterator[tuple[ToolSpec, Callable[..., Any]]]:
        """Yield (spec, bound method) for every tool this toolset declares, in definition order."""
        if not self.namespace:
            raise TypeError(f"{type(self).__name__} must set a 'namespace'")
        seen = set()
        for klass in type(self).__mro__:
            for attr, value in vars(klass).items():
                if attr in seen or not is_tool_method(value):
                    continue
                seen.add(attr)
                yield spec_from_function(f"{self.namespace}.{attr}", value), getattr(self, attr)
