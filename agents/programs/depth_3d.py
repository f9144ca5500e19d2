"""Depth3D program: depth map, point at both boxed objects, read the depth there, pick the closer.

This is the original CV-Bench 3D trace: depth + two pointing calls, then two ``index_at`` reads.
"""

from __future__ import annotations

import re
from collections.abc import Generator

from agents.programs.toolkit import answer, call, first_point, pixel_value, question_match, turn

_QUESTION = re.compile(
    r"taking this photo, the (.+?) \(highlighted by a red box\) or the (.+?) \(highlighted by a blue box\)"
)


def program(question: str) -> Generator[str, list[str], None]:
    first, second = question_match(_QUESTION, question)
    responses = yield turn(
        call("depth_estimator.estimate_depth", image_index=0),
        call("roborefer.detect_one", obj_name=first, image_index=0),
        call("roborefer.detect_one", obj_name=second, image_index=0),
        thought="I need the depth of both objects: estimate depth, locate them, then read the depth map there.",
    )
    a, b = first_point(responses[1]), first_point(responses[2])
    responses = yield turn(
        call("vision_ops.index_at", data="$depth_map", u=a[0], v=a[1]),
        call("vision_ops.index_at", data="$depth_map", u=b[0], v=b[1]),
    )
    depth_a, depth_b = pixel_value(responses[0]), pixel_value(responses[1])
    yield answer(
        "A" if depth_a < depth_b else "B",
        thought=f"The {first} is {depth_a:.2f} m away and the {second} is {depth_b:.2f} m away.",
    )
