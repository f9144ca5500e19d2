"""Fuzz ``step()`` with generated actions: valid calls, hostile arguments and garbage, per family.

Each synthetic family gets ``--actions`` actions (default 10,000) on one item (index 0, so every
step reuses the same item and tools), in one long episode (``max_turns`` large; an answer ends it
and the same item is reset). Actions are drawn, seeded and deterministic, from
:class:`ActionFuzzer`: valid calls built from the tool schemas, the same calls with one hostile
argument (long strings, 5,000-digit and huge numbers, NaN/Infinity, deep nesting, lone
surrogates, thousands of ``$`` references, huge lists, wrong types, unknown names), garbage tags,
oversized actions and dict actions with non-JSON values. Reported per family: exceptions (listed),
steps whose observation or ``info`` is not valid UTF-8, median / 99th percentile / worst step
time (and the worst action's kind and size), and the RSS growth over ``--rss-steps`` steps after
a warm-up. RSS also counts memory the allocator keeps after the largest step so far, so a step
that allocates tens of MB for a moment shows as growth that stays (box fits did, through an SVD
of the whole (N, 3) cloud, until they moved to the 3x3 scatter matrix), while live Python memory
(tracemalloc) grows ~1 MB (one cached mask per newly segmented label). The test suite runs the same generator
for a few hundred actions per family (``tests/test_fuzz.py``).

    python benchmarks/perf/fuzz_actions.py                # 10,000 actions per family
    python benchmarks/perf/fuzz_actions.py --actions 300  # a short sanity run
    python benchmarks/perf/fuzz_actions.py --actions 300 --env-kwargs \
        '{"tools": [...DEFAULT_TOOLS, "vision_ops.crop", "vision_ops.zoom"], "tool_images": true}'
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import random
import resource
import statistics
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

from spacetools_env import registered_ids, unwrap  # importing the package also registers the envs

VARIABLES = ("$depth_map", "$point_cloud", "$segmentation_mask", "$focal_length_px", "$mug_detections", "$nope")
NAMES = ("mug", "red mug", "cube", "the object on the left", "bowl", "", "mug\ud800", "\udfff")


def _deep(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


class ActionFuzzer:
    """Seeded generator of actions for an env whose tools have ``schemas`` (OpenAI format)."""

    def __init__(self, schemas: Sequence[dict[str, Any]], seed: int = 0) -> None:
        self.rng = random.Random(seed)
        self.tools = [s["function"] for s in schemas]
        self.kinds: list[tuple[str, Callable[[], Any]]] = [
            ("valid", self.valid_text),
            ("valid", self.valid_text),
            ("valid", self.valid_text),
            ("hostile_argument", self.hostile_text),
            ("hostile_argument", self.hostile_text),
            ("hostile_argument", self.hostile_text),
            ("garbage", self.garbage),
            ("dict", self.hostile_dict),
            ("answer", self.answer),
        ]

    def __iter__(self) -> Iterator[tuple[str, Any]]:
        while True:
            yield self.next()

    def next(self) -> tuple[str, Any]:
        kind, make = self.rng.choice(self.kinds)
        return kind, make()

    # ------------------------------------------------------------------ valid calls
    def call(self) -> dict[str, Any]:
        tool = self.rng.choice(self.tools)
        props = tool["parameters"]["properties"]
        return {"name": tool["name"], "arguments": {k: self.value(k, p) for k, p in props.items()}}

    def value(self, name: str, prop: dict[str, Any]) -> Any:
        rng = self.rng
        kind = prop.get("type")
        if name == "image_index":
            return rng.choice((0, 0, 0, 1))
        if kind == "number":
            return round(rng.uniform(-0.05, 1.05), 3)
        if kind == "integer":
            return rng.randint(-2, 4)
        if kind == "array":
            return [[round(rng.random(), 3), round(rng.random(), 3)] for _ in range(rng.randint(0, 4))]
        if "$" in prop.get("description", "") or name in ("data", "point_cloud", "mask", "focal_length_px"):
            return rng.choice(VARIABLES)
        return rng.choice(NAMES)

    def valid_text(self) -> str:
        calls = [self.call() for _ in range(self.rng.randint(1, 3))]
        return "<think>plan</think>" + "".join(f"<tool_call>{json.dumps(c)}</tool_call>" for c in calls)

    # ------------------------------------------------------------------ hostile arguments
    def hostile_literal(self) -> str:
        """A JSON literal (text) a model might emit; many are not valid Python values."""
        rng = self.rng
        options: list[Callable[[], str]] = [
            lambda: "1" * rng.choice((400, 4301, 5000, 20_000)),
            lambda: "-" + "9" * 5000,
            lambda: "1e999",
            lambda: "-1e-999",
            lambda: rng.choice(("NaN", "Infinity", "-Infinity")),
            lambda: "0." + "3" * 10_000,
            lambda: str(10**30),
            lambda: "[" * rng.choice((31, 33, 900, 5000)) + "0" + "]" * rng.choice((0, 31, 33, 900, 5000)),
            lambda: '"' + "\\ud800" * rng.randint(1, 500) + '"',
            lambda: '"mug\\ud800"',
            lambda: '"\\udc00\\ud83d\\ude00\\ud83d"',
            lambda: json.dumps("$depth_map " * rng.choice((10, 500, 5000))),
            lambda: json.dumps("x $focal_length_px y" * rng.choice((10, 300))),
            lambda: json.dumps("$" + "a" * rng.choice((100, 30_000))),
            lambda: json.dumps("a" * rng.choice((1025, 20_000, 60_000))),
            lambda: json.dumps([[0.5, 0.5]] * rng.choice((1025, 6000))),
            lambda: json.dumps([0.5] * 10_000),
            lambda: json.dumps({str(i): i for i in range(rng.choice((10, 3000)))}),
            lambda: rng.choice(("true", "null", "{}", "[]", '""', '"$"', '"$$"', "-0", "1.5")),
            lambda: json.dumps(rng.randint(-(10**40), 10**40)),
        ]
        return rng.choice(options)()

    def hostile_text(self) -> str:
        call = self.call()
        arguments = dict(call["arguments"])
        keys = list(arguments) or ["x"]
        target = self.rng.choice([*keys, "bogus", "\ud800key"])
        literal = self.hostile_literal()
        body_args = ", ".join(
            f"{json.dumps(k)}: {literal if k == target else json.dumps(v)}" for k, v in arguments.items()
        )
        if target not in arguments:
            body_args = (body_args + ", " if body_args else "") + f'"{target}": {literal}'
        name = call["name"] if self.rng.random() < 0.9 else self.rng.choice(("x", "a" * 5000, "sam2.segmnt"))
        body = f'{{"name": {json.dumps(name)}, "arguments": {{{body_args}}}}}'
        if self.rng.random() < 0.2:  # the OpenAI form: arguments as a JSON string
            body = json.dumps({"name": name, "arguments": "{" + body_args + "}"})
        return f"<tool_call>{body}</tool_call>"

    # ------------------------------------------------------------------ garbage and dicts
    def garbage(self) -> str:
        rng = self.rng
        options: list[Callable[[], str]] = [
            lambda: "",
            lambda: "<tool_call>" * rng.randint(1, 5000),
            lambda: "<tool_call>{" + "x" * rng.randint(0, 1000),
            lambda: "<answer>" + "<tool_call>" * rng.randint(1, 3000),
            lambda: "".join(chr(rng.randint(0, 0x10FFFF)) for _ in range(rng.randint(1, 300))),
            lambda: "\ud800" * rng.randint(1, 100) + "<tool_call>{}</tool_call>",
            lambda: "x" * rng.choice((65_536, 65_537, 70_000, 200_000)),
            lambda: "".join(f"<tool_call>{json.dumps(self.call())}</tool_call>" for _ in range(rng.randint(9, 40))),
            lambda: "<tool_call><tool_call></tool_call></tool_call>",
            lambda: '<tool_call>{"name": "a.b", "arguments": {"x": 1}, "name": 3}</tool_call>',
            lambda: "<tool_call>" + json.dumps({"function": {"name": "sam2.segment_from_point"}}) + "</tool_call>",
        ]
        return rng.choice(options)()

    def hostile_dict(self) -> Any:
        rng = self.rng
        call = self.call()
        key = rng.choice(list(call["arguments"]) or ["x"])
        loop: list[Any] = []
        loop.append(loop)
        value = rng.choice([
            10**5000, -(10**400), float("nan"), float("inf"), _deep(rng.choice((40, 5000))),
            np.zeros((3, 3)), {1: 2}, {(1, 2): 3}, {"a", "b"}, b"bytes", object(), loop,
            np.int64(2), np.float32(0.5), [[0.5, 0.5]] * 300_000, "m\ud800g", {"\udfff": 1},
        ])
        call["arguments"][key] = value
        shape = rng.random()
        if shape < 0.4:
            return call
        if shape < 0.8:
            return {"tool_calls": [call, {"type": "function", "function": call}]}
        return rng.choice([{1: call}, {"content": "<answer>\ud800</answer>"}, {"answer": 10**5000}, None, 3.5])

    def answer(self) -> str:
        return "<answer>" + self.rng.choice(("yes", "(0.5, 0.5)", "\ud800", "9" * 5000, "[" * 1000)) + "</answer>"


@dataclass
class FamilyReport:
    env_id: str
    steps: int = 0
    times_s: list[float] = field(default_factory=list)
    by_kind: dict[str, list[float]] = field(default_factory=dict)
    exceptions: list[str] = field(default_factory=list)
    not_utf8: list[str] = field(default_factory=list)
    worst: tuple[float, str, int] = (0.0, "", 0)
    rss_growth_mb: float | None = None


def rss_mb() -> float:
    """Resident set size now (Linux ``/proc``), in MB."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * resource.getpagesize() / 1e6


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return f"<array {value.shape}>"
    if isinstance(value, np.generic):
        return value.item()
    return repr(value)


def utf8_problem(observation: Any, info: Any) -> str | None:
    """None when the observation and ``info`` encode as UTF-8 JSON, else the error."""
    try:
        json.dumps([observation, info], ensure_ascii=False, default=_jsonable).encode("utf-8")
    except (UnicodeEncodeError, ValueError, TypeError) as exc:
        return f"{type(exc).__name__}: {str(exc)[:200]}"
    return None


def _size(action: Any) -> int:
    return len(action) if isinstance(action, str) else -1


def fuzz_family(
    env_id: str, actions: int, seed: int = 0, rss_steps: int = 5000, warmup: int = 500,
    env_kwargs: dict[str, Any] | None = None,
) -> FamilyReport:
    """Step one env (made with ``env_kwargs``) through ``actions`` generated actions; collect every problem."""
    env = gym.make(env_id, max_turns=10**9, **(env_kwargs or {}))
    options = {"index": 0}
    env.reset(seed=seed, options=options)
    fuzzer = ActionFuzzer(unwrap(env).tool_schemas, seed=seed)
    report = FamilyReport(env_id)
    rss_start = None
    for step in range(actions):
        if step == warmup:
            gc.collect()
            rss_start = rss_mb()
        if rss_start is not None and step == warmup + rss_steps:
            gc.collect()
            report.rss_growth_mb = rss_mb() - rss_start
        kind, action = fuzzer.next()
        start = time.perf_counter()
        try:
            observation, reward, terminated, truncated, info = env.step(action)
        except Exception as exc:  # the point of the fuzz: list every one
            report.exceptions.append(f"{kind} {_size(action)} chars: {type(exc).__name__}: {str(exc)[:200]}\n"
                                     + "".join(traceback.format_exc(limit=-3)))
            env.reset(seed=seed, options=options)
            continue
        elapsed = time.perf_counter() - start
        report.steps += 1
        report.times_s.append(elapsed)
        report.by_kind.setdefault(kind, []).append(elapsed)
        if elapsed > report.worst[0]:
            report.worst = (elapsed, kind, _size(action))
        problem = utf8_problem(observation, info) or (None if math.isfinite(float(reward)) else "reward not finite")
        if problem is not None:
            report.not_utf8.append(f"{kind}: {problem}")
        if terminated or truncated:
            env.reset(seed=seed, options=options)
    env.close()
    return report


def _print(report: FamilyReport) -> None:
    times = sorted(report.times_s) or [0.0]
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
    rss = "n/a (run longer)" if report.rss_growth_mb is None else f"{report.rss_growth_mb:+.1f} MB"
    print(f"{report.env_id}: {report.steps} steps, {len(report.exceptions)} exceptions, "
          f"{len(report.not_utf8)} not UTF-8; step median {statistics.median(times) * 1e3:.2f} ms, "
          f"p99 {p99 * 1e3:.1f} ms, worst {report.worst[0] * 1e3:.1f} ms ({report.worst[1]}, "
          f"{report.worst[2]:,} chars); RSS growth {rss}")
    kinds = ", ".join(f"{k} {len(t)} x median {statistics.median(t) * 1e3:.2f} / worst {max(t) * 1e3:.1f} ms"
                      for k, t in sorted(report.by_kind.items()))
    print(f"    by kind: {kinds}")
    for problem in report.exceptions[:5] + report.not_utf8[:5]:
        print("   ", problem.replace("\n", "\n    "))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--actions", type=int, default=10_000, help="actions per family (default 10,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rss-steps", type=int, default=5000, help="steps over which RSS growth is measured")
    parser.add_argument("--warmup", type=int, default=500, help="steps before the RSS baseline")
    parser.add_argument("--families", nargs="*", default=None, help="env ids (default: every synthetic id)")
    parser.add_argument("--env-kwargs", type=json.loads, default={}, metavar="JSON",
                        help='gym.make options, e.g. \'{"tools": [...], "tool_images": true}\' for the image tools')
    args = parser.parse_args(argv)
    env_ids = args.families or registered_ids(needs_data=False)
    worst, failures = 0.0, 0
    all_times: list[float] = []
    for env_id in env_ids:
        report = fuzz_family(env_id, args.actions, args.seed, args.rss_steps, args.warmup, args.env_kwargs)
        _print(report)
        worst = max(worst, report.worst[0])
        all_times.extend(report.times_s)
        failures += len(report.exceptions) + len(report.not_utf8)
    print(f"all families: {len(all_times)} steps, {failures} problems, median "
          f"{statistics.median(all_times or [0.0]) * 1e3:.2f} ms, worst {worst * 1e3:.1f} ms")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
