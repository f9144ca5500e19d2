"""A turn's tool calls as rounds: what one ``ToolClient.call_many`` may carry without changing a result.

Calls of one turn run in order, and a call may read a ``$variable`` that an earlier call of the
same turn stored (``estimate_depth`` then ``index_at(data="$depth_map", ...)``), or one that an
earlier call overwrote. So a call whose arguments hold a ``$`` anywhere waits for every call
before it and opens a new round; a call without one resolves to the same arguments whatever the
store holds, so it joins the round before it. Each round goes to the client in one
``call_many``, in order, and the results are folded into the episode in order: the tool texts,
variables, call numbers (which seed each call's RNG) and statistics are those of calling one at
a time. A turn of calls that use no variables is one round; the paper's programs make two or
three.

>>> from spacetools_env.parsing import ToolCallRequest as C
>>> [len(r) for r in rounds([C("a", {}), C("b", {"x": 1}), C("c", {"data": "$depth_map"}), C("d", {})])]
[2, 2]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from spacetools_env.parsing import ToolCallRequest


def references_variable(arguments: Any) -> bool:
    """Whether any string value in ``arguments`` (nested lists and dicts too) holds a ``$``.

    Keys are never resolved, so only values count. Walked with a stack: model JSON may nest deeply.
    """
    stack = [arguments]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            if "$" in value:
                return True
        elif isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)
    return False


def rounds(calls: Sequence[ToolCallRequest]) -> list[list[ToolCallRequest]]:
    """``calls`` cut before every call that references a variable (the first call always opens a round)."""
    out: list[list[ToolCallRequest]] = []
    for call in calls:
        if not out or references_variable(call.arguments):
            out.append([call])
        else:
            out[-1].append(call)
    return out
