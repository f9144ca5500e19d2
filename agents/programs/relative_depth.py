"""RelativeDepth program: point at both markers, read the depth map there, answer the closer one.

This is the original BLINK trace: depth + two pointing calls, then two ``index_at`` reads.
"""

from __future__ import annotations

from collections.abc import Generator

from agents.programs.toolkit import answer, call, first_point, pixel_value, turn


def program(question: str) -> Generator[str, list[str], None]:
    responses = yield turn(
        call("roborefer.detect_one", obj_name="point A", image_index=0),
        call("roborefer.detect_one", obj_name="point B", image_index=0),
        call("depth_estimator.estimate_depth", image_index=0),
        thought="I need the depth at the two marked points: locate them, then read the depth map there.",
    )
    a, b = first_point(responses[0]), first_point(responses[1])
    responses = yield turn(
        call("vision_ops.index_at", data="$depth_map", u=a[0], v=a[1]),
        call("vision_ops.index_at", data="$depth_map", u=b[0], v=b[1]),
    )
    depth_a, depth_b = pixel_value(responses[0]), pixel_value(responses[1])
    yield answer(
        "A" if depth_a < depth_b else "B",
        thought=f"A is {depth_a:.2f} m away and B is {depth_b:.2f} m away.",
    )
