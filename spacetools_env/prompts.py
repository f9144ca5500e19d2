"""The system prompt of the original SpaceTools training, and the Qwen2.5 tools block.

``DEFAULT_SYSTEM_PROMPT`` reconstructs the released SFT ``DEFAULT_SYSTEM`` (notes section 4:
its opening sentence and four numbered rules, paraphrased there), plus the coordinate
convention of the "expanded" prompt. :func:`tools_block` is byte-for-byte what Qwen2.5's chat
template prints when given ``tools=``, so a model trained on the original data reads the same
text whether the env puts the schemas in the system message or the user's template does.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

DEFAULT_SYSTEM_PROMPT = (
    "You are an expert in 3D spatial reasoning for robotics. Given an image and a spatial reasoning "
    "question, answer the question by following these rules:\n"
    "1. Think through the problem as an internal monologue inside <think> </think> tags, the first time "
    "and every time you receive new information.\n"
    "2. If you need more information (for example the location of an object, its depth or its 3D "
    "extent), call the appropriate vision tools.\n"
    "3. Use reasonable tool responses to continue your reasoning.\n"
    "4. When you are done, give the final answer inside <answer> </answer> tags without detailed "
    "illustrations.\n"
    "Image coordinates are normalized to [0, 1] with the origin at the top-left corner; 3D coordinates "
    "are in metres in the camera frame (x right, y down, z forward).\n"
    "Example answer format: <answer> <Your final answer here> </answer>."
)


def tools_block(schemas: Iterable[Mapping[str, Any]]) -> str:
    """The ``# Tools`` section Qwen2.5's chat template appends to the system message."""
    lines = "\n".join(json.dumps(s, ensure_ascii=False) for s in schemas)
    return (
        "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\n"
        "You are provided with function signatures within <tools></tools> XML tags:\n<tools>\n"
        f"{lines}\n</tools>\n\n"
        "For each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call>'
    )
