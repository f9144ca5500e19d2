"""RelativeDepth program: point at both markers, read the depth map there, answer the closer one.

This is the original BLINK trace: depth + two pointing calls, then two ``index_at`` reads. With
``thoughts="decisions"`` the last thought compares the two depths digit by digit
(``depth: 1.05 vs 0.67; 1>0; so B is closer``).
"""

from __future__ import annotations

from collections.abc import Generator

from agents.programs.toolkit import aligned, answer, check_thoughts, compare_digits, depths_at


def program(question: str, thoughts: str = "default") -> Generator[str, list[str], None]:
    check_thoughts(thoughts)
    depth_a, depth_b = yield from depths_at("point A", "point B")
    if thoughts == "decisions":
        a, b = aligned(depth_a, depth_b, 2)
        chain, sign = compare_digits(a, b)
        closer = "A" if sign == "<" else "B"
        yield answer(closer, thought=f"depth: {a} vs {b}; {chain}; so {closer} is closer.")
        return
    yield answer(
        "A" if depth_a < depth_b else "B",
        thought=f"A is {depth_a:.2f} m away and B is {depth_b:.2f} m away.",
    )
