"""A turn's tool calls as rounds: what one ``ToolClient.call_many`` may carry without changing a result.

Calls of one turn run in order, and a call may read a ``$variable`` that an earlier call of the
same turn stored (``estimate_depth`` then ``index_at(data="$depth_map", ...)``), or one that an
earlier call overwrote; and it may look at an image an earlier call of the turn returned (a crop,
then a zoom on its ``image_index``). So a call whose arguments hold a ``$`` anywhere, or whose
``image_index`` names an image the conversation did not have when the turn began, waits for every
call before it and opens a new round; any other call resolves to the same arguments and sees the
same images whatever its round-mates do, so it joins the round before it. Each round goes to the client in one
``call_many``, in order, and the results are folded into the episode in order: the tool texts,
variables, call numbers (which seed each call's RNG) and statistics are those of calling one at
a time. A turn of calls that use no variables is one round; the paper's programs make two or
three.

>>> from spacetools_env.parsing import ToolCallRequest as C
>>> [len(r) for r in rounds([C("a", {}), C("b", {"x": 1}), C("c", {"data": "$depth_map"}), C("d", {})])]
[2, 2]
>>> [len(r) for r in rounds([C("crop", {"image_index": 0}), C("zoom", {"image_index": 1})], images=1)]
[1, 1]
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


def waits_for_earlier_calls(call: ToolCallRequest, images: int) -> bool:
    """Whether ``call`` may depend on what earlier calls of its turn return (see the module docstring).

    Args:
        call: The call.
        images: Images in the conversation when the turn began (question and earlier tool images).
    """
    index = call.arguments.get("image_index")
    new_image = isinstance(index, int) and not isinstance(index, bool) and index >= images
    return new_image or references_variable(call.arguments)


def rounds(calls: Sequence[ToolCallRequest], images: int = 1) -> list[list[ToolCallRequest]]:
    """``calls`` cut before every call that waits for earlier ones (the first call always opens a round).

    Args:
        calls: One turn's calls, in order.
        images: Images in the conversation when the turn began.
    """
    out: list[list[ToolCallRequest]] = []
    for call in calls:
        if not out or waits_for_earlier_calls(call, images):
            out.append([call])
        else:
            out[-1].append(call)
    return out
