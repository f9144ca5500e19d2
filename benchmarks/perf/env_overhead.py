"""Env overhead per step, tool compute excluded, against a bare parse-and-format loop.

The bare loop does the least any tool-calling loop must: find one ``<tool_call>``, decode its
JSON and format one response. The env runs the same action through ``gym.make``'s wrappers,
the parser, variable resolution, a tool client whose tool returns a ready result (so tool
compute is excluded), truncation, reward components and ``info``. Both are timed in one run.

    python benchmarks/perf/env_overhead.py
"""

from __future__ import annotations

import json
import re
import statistics
import time
from collections.abc import Callable, Mapping
from typing import Any

import gymnasium as gym

from spacetools_env import unwrap  # importing the package also registers the envs
from tool_backends import LocalToolClient, ToolResult, Toolset, tool_method

ENV_ID = "SpaceTools-Synth-RelativeDepth-v0"
ACTION = '<tool_call>\n{"name": "bench.noop", "arguments": {"u": 0.5, "v": 0.25}}\n</tool_call>'
_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_READY = ToolResult(ok=True, text="Pixel value at (0.5, 0.25) is 1.2345")


class NoopTools(Toolset):
    namespace = "bench"

    @tool_method
    def noop(self, ctx: Any, u: float, v: float) -> ToolResult:
        """Return a precomputed result (no compute).

        Args:
            u: Normalized x.
            v: Normalized y.
        """
        return _READY


def noop_client() -> LocalToolClient:
    return LocalToolClient([NoopTools()])


def bare_step(action: str) -> str:
    match = _CALL.search(action)
    if match is None:
        raise ValueError(f"not a <tool_call> action: {action!r}")
    call = json.loads(match.group(1))
    return f"<tool_response>\n{_READY.text} ({call['name']})\n</tool_response>"


def _median_us(fn: Callable[[], Any], repeats: int, inner: int) -> float:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(inner):
            fn()
        samples.append((time.perf_counter() - start) / inner * 1e6)
    return statistics.median(samples)


def measure(repeats: int = 30, inner: int = 200) -> Mapping[str, float]:
    env = gym.make(ENV_ID, tool_client=noop_client, max_turns=10**9)
    env.reset(seed=0)
    bare = _median_us(lambda: bare_step(ACTION), repeats, inner)
    wrapped = _median_us(lambda: env.step(ACTION), repeats, inner)
    raw = unwrap(env)
    unwrapped = _median_us(lambda: raw.step(ACTION), repeats, inner)
    tool_only = _median_us(lambda: raw.client.call("bench.noop", {"u": 0.5, "v": 0.25}), repeats, inner)
    return {"bare_us": bare, "env_us": wrapped, "env_unwrapped_us": unwrapped, "tool_call_us": tool_only}


def main() -> None:
    m = measure()
    print(f"bare parse+format loop      median {m['bare_us']:8.2f} us/step")
    print(f"env.step via gym.make       median {m['env_us']:8.2f} us/step   ratio {m['env_us'] / m['bare_us']:.1f}x")
    print(
        f"env.step unwrapped          median {m['env_unwrapped_us']:8.2f} us/step   "
        f"ratio {m['env_unwrapped_us'] / m['bare_us']:.1f}x"
    )
    print(f"(of which client.call+bind  median {m['tool_call_us']:8.2f} us, the no-op tool itself included)")
    print("target: env within 10x of the bare loop")


if __name__ == "__main__":
    main()
