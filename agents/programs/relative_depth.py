"""RelativeDepth program: point at both markers, read the depth map there, answer the closer one.

This is the original BLINK trace: depth + two pointing calls, then two ``index_at`` reads.
"""

from __future__ import annotations

from collections.abc import Generator

from agents.programs.toolkit import answer, depths_at


def program(question: str) -> Generator[str, list[str], None]:
    depth_a, depth_b = yield from depths_at("point A", "point B")
    yield answer(
        "A" if depth_a < depth_b else "B",
        thought=f"A is {depth_a:.2f} m away and B is {depth_b:.2f} m away.",
    )
