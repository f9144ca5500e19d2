"""Tool faults: which calls count as faulted, how faults are injected, and when an episode recovered.

**What a fault is.** A call is faulted when its answer-relevant output differs from what the exact
tool answers, in a discrete way a policy could notice and work around: the real model's failure
output (``"failure"``: ``Detected 0 instance(s) of 'mug': []``), a silently wrong output
(``"wrong"``: another object's point, a depth map at a misjudged scale, the neighbouring segment),
an ``Error: ...`` the tool raised (``"error"``), a timeout (``"timeout"``), a dead tool process
(``"crash"``). Kinds are :data:`~tool_backends.result.FAULT_KINDS`; a call carries its kind in
:attr:`ToolResult.fault <tool_backends.result.ToolResult>` and in the ``fault`` of its record, and
never in the text or observation the model reads (a model told "this was a fault" would learn
the flag, not recovery).

Small jitter (``ToolNoise.point_sigma``, ``depth_sigma``, ``mask_erode_px``) is **no** fault: it
perturbs every call by a configured amount and keeps the same object, so flagging it would flag
every call and say nothing about recovering; a model's bad arguments (``Error: image_index 3 is
out of range``) are no fault either: the tool answered correctly to what it was asked.

**Two sources, separate streams.** (1) The oracle's realistic ``ToolNoise.failure_rate``
(:mod:`tool_backends.noise`) yields ``"failure"`` and ``"wrong"``, drawn from the call's own RNG
(``ctx.rng``). (2) :class:`FaultInjectingClient` wraps any :class:`~tool_backends.client.ToolClient`
(oracle, model-backed, remote) and injects ``"error"``, ``"timeout"``, ``"crash"``, ``"failure"``
(pointing tools) and added latency per :class:`ToolFaults`, on its own stream seeded by
``(episode seed, call number, FAULT_STREAM, seed)``. Both derive from the reset seed: same seed,
same faults, bit for bit. ``gym.make(id, tool_options={"faults": {"roborefer": {"rate": 0.3,
"kinds": ["failure"]}}})`` wraps the env's client (:func:`tool_backends.backends.make_client`).

**Recovered** (:func:`recovery`): an episode with at least one faulted call is recovered when,
in a later turn than the first faulted call (so after the policy read its output), the policy
calls a tool again (the same or another) and the episode still ends correct (score >=
:data:`CORRECT_SCORE`). An episode correct without another call (it ignored a fault that did not
matter) is counted ``correct`` but not ``recovered``. The rule cannot tell a reaction from a plan
that calls more tools anyway (pointing in turn 1, depth in turn 2): a multi-turn program whose
fault did not change its answer counts as recovered, so compare rates of agents on the same
faulted episodes (same seeds), and read ``retried`` (a later call of the faulted tool itself)
and ``by_kind`` (an ignored ``"wrong"`` depth scale often leaves a relative-depth answer right).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from tool_backends.client import ToolCall, ToolClient
from tool_backends.declaration import ToolSpec
from tool_backends.result import FAULT_KINDS, ToolInfrastructureError, ToolResult
from tool_backends.truth import EpisodeContext

FAULT_STREAM = 0xFA17
"""Salt of the injector's RNG, so its draws never coincide with a tool's own ``(seed, call)`` stream."""
INJECTED_KINDS = ("error", "timeout", "crash", "failure")
"""Kinds :class:`FaultInjectingClient` injects; ``"wrong"`` needs ground truth: the oracle's ``failure_rate``."""
POINTING_SUFFIXES = (".detect_one", ".detect_all")
"""Tools whose ``"failure"`` is an empty detection (the only tools a ``"failure"`` can be injected into)."""
CORRECT_SCORE = 0.5
"""An episode counts as correct at this score or above (binary families: 1 or 0; the grasp success rule)."""


@dataclass(frozen=True)
class FaultSpec:
    """Injected faults of one tool, one namespace, or every tool (key ``"*"``).

    Attributes:
        rate: Probability in [0, 1] that a call is faulted.
        kinds: Fault kinds drawn uniformly for a faulted call, from :data:`INJECTED_KINDS`.
        latency_s: Seconds added to every call of the tool (a slow tool; no fault by itself:
            the answer is unchanged).
        timeout_s: The timeout an injected ``"timeout"`` reports (the original's per-call 30 s).
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = ("error",)
    latency_s: float = 0.0
    timeout_s: float = 30.0

    def __post_init__(self) -> None:
        for name in ("rate", "latency_s", "timeout_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"FaultSpec.{name} must be a finite number >= 0, got {value!r}")
        if self.rate > 1:
            raise ValueError(f"FaultSpec.rate is a probability in [0, 1], got {self.rate!r}")
        kinds = (self.kinds,) if isinstance(self.kinds, str) else tuple(self.kinds)
        object.__setattr__(self, "kinds", kinds)
        bad = [k for k in kinds if k not in INJECTED_KINDS]
        if not kinds or bad:
            raise ValueError(
                f"FaultSpec.kinds must name at least one of {list(INJECTED_KINDS)}, got {list(kinds)!r}"
                + (" ('wrong' outputs need ground truth: use the oracle's ToolNoise(failure_rate=...))"
                   if "wrong" in bad else "")
            )


@dataclass(frozen=True)
class ToolFaults:
    """Fault settings per tool key: a full name (``"roborefer.detect_one"``), a namespace, or ``"*"``.

    A full name wins over its namespace, which wins over ``"*"``.

    Attributes:
        specs: Key -> :class:`FaultSpec`.
        seed: Extra seed of the injector's stream (vary faults while the episodes stay the same).
    """

    specs: Mapping[str, FaultSpec] = field(default_factory=dict)
    seed: int = 0

    @classmethod
    def parse(cls, value: ToolFaults | Mapping[str, Any], where: str = "faults") -> ToolFaults:
        """From a mapping of key -> :class:`FaultSpec` or its fields (as a config file holds it).

        An optional ``"seed"`` entry sets :attr:`seed`.

        Raises:
            ValueError: a value is neither a FaultSpec nor a dict of its fields, naming the key.
        """
        if isinstance(value, ToolFaults):
            return value
        if not isinstance(value, Mapping):
            raise ValueError(f"{where} must be a ToolFaults or a dict of tool key -> fault settings, got {value!r}")
        specs, seed = {}, 0
        for key, spec in value.items():
            if key == "seed":
                if isinstance(spec, bool) or not isinstance(spec, int):
                    raise ValueError(f"{where}['seed'] must be an integer, got {spec!r}")
                seed = spec
            elif isinstance(spec, FaultSpec):
                specs[str(key)] = spec
            elif isinstance(spec, Mapping):
                try:
                    specs[str(key)] = FaultSpec(**spec)
                except TypeError as exc:
                    raise ValueError(f"{where}['{key}']: {exc}; fields: rate, kinds, latency_s, timeout_s") from None
                except ValueError as exc:
                    raise ValueError(f"{where}['{key}']: {exc}") from None
            else:
                raise ValueError(f"{where}['{key}'] must be a FaultSpec or a dict of its fields, got {spec!r}")
        return cls(specs, seed)

    def spec_for(self, name: str) -> FaultSpec | None:
        """The settings that apply to tool ``name`` (None: no injection)."""
        for key in (name, name.split(".")[0], "*"):
            if key in self.specs:
                return self.specs[key]
        return None

    def check(self, tools: Iterable[str]) -> None:
        """Every key must address an exposed tool, and ``"failure"`` only pointing tools.

        Raises:
            ValueError: naming the key or tool and the fix.
        """
        names = list(tools)
        namespaces = {n.split(".")[0] for n in names}
        for key in self.specs:
            if key != "*" and key not in names and key not in namespaces:
                raise ValueError(f"fault key '{key}' names no exposed tool; valid keys: ['*', "
                                 f"{', '.join(repr(k) for k in sorted(namespaces) + names)}]")
        for name in names:
            spec = self.spec_for(name)
            if spec is not None and spec.rate > 0 and "failure" in spec.kinds and not name.endswith(POINTING_SUFFIXES):
                raise ValueError(
                    f"a 'failure' cannot be injected into '{name}': only pointing tools (*.detect_one, *.detect_all) "
                    "have a failure output of their own; give this tool 'error' or 'timeout', or key the 'failure' "
                    "spec by a pointing namespace ('roborefer', 'vlm')"
                )


class FaultInjectingClient:
    """A :class:`~tool_backends.client.ToolClient` around ``inner`` that injects faults per :class:`ToolFaults`.

    A faulted call never reaches ``inner`` (the tool did not answer), so the inner tools number
    only the calls they ran; all of it follows from the episode seed, so an episode replays bit
    for bit. ``call_many`` decides each call's fault in order, then sends the unfaulted calls to
    ``inner.call_many`` as one round, so batching servers still batch.

    Args:
        inner: The client whose tools are wrapped (any backend, local or remote).
        faults: :class:`ToolFaults` or its mapping form (see :meth:`ToolFaults.parse`).
        seed: Overrides ``faults.seed`` when given.

    Raises:
        ValueError: a fault key names no tool of ``inner``, or a bad setting.
    """

    def __init__(self, inner: ToolClient, faults: ToolFaults | Mapping[str, Any], seed: int | None = None) -> None:
        parsed = ToolFaults.parse(faults)
        self.faults = parsed if seed is None else ToolFaults(parsed.specs, seed)
        self.inner = inner
        self.faults.check(spec.name for spec in inner.specs)
        self._episode_seed = 0
        self._calls = 0

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        return self.inner.specs

    def open_episode(self, episode: EpisodeContext) -> None:
        self._episode_seed = episode.seed
        self._calls = 0
        self.inner.open_episode(episode)

    def call(self, name: str, arguments: Mapping[str, Any]) -> ToolResult:
        return self.call_many([ToolCall(name, arguments)])[0]

    def call_many(self, calls: Sequence[ToolCall]) -> list[ToolResult]:
        drawn = [self._draw(name, arguments) for name, arguments in calls]
        forwarded = [c for c, (r, _) in zip(calls, drawn, strict=True) if r is None]
        answers = iter(self.inner.call_many(forwarded) if forwarded else [])
        out = []
        for result, delay in drawn:
            result = next(answers) if result is None else result
            # the added latency is part of the call's time (the env sums it into timing["tools_s"])
            out.append(replace(result, elapsed_s=result.elapsed_s + delay) if delay else result)
        return out

    def close(self) -> None:
        self.inner.close()

    def _draw(self, name: str, arguments: Mapping[str, Any]) -> tuple[ToolResult | None, float]:
        """The injected result of this call (None: the tool answers) and the latency slept for it."""
        self._calls += 1
        spec = self.faults.spec_for(name)
        if spec is None:
            return None, 0.0
        if spec.latency_s:
            time.sleep(spec.latency_s)
        if spec.rate == 0:
            return None, spec.latency_s
        rng = np.random.default_rng([self._episode_seed, self._calls, FAULT_STREAM, self.faults.seed])
        if rng.random() >= spec.rate:
            return None, spec.latency_s
        kind = spec.kinds[int(rng.integers(len(spec.kinds)))] if len(spec.kinds) > 1 else spec.kinds[0]
        return injected_result(name, arguments, kind, spec), spec.latency_s


def injected_result(name: str, arguments: Mapping[str, Any], kind: str, spec: FaultSpec) -> ToolResult:
    """What the model reads for an injected fault of ``kind`` (``"crash"`` raises instead).

    The texts are those of a real failure (an exception's ``Error:``, a timeout, an empty
    detection); none says the fault was injected.

    Raises:
        ToolInfrastructureError: for ``"crash"``: the tool process died, which the eval retries
            (a crash is infrastructure, never shown to the model).
    """
    if kind == "crash":
        raise ToolInfrastructureError(f"the process serving '{name}' died during the call (an injected crash)")
    if kind == "timeout":
        return ToolResult.error(f"{name} timed out after {spec.timeout_s:g} s", fault="timeout")
    if kind == "failure":
        obj_name = arguments.get("obj_name", "")
        return ToolResult(ok=True, text=f"Detected 0 instance(s) of '{obj_name}': []",
                          data={"points": [], "referents": []}, fault="failure")
    return ToolResult.error(f"{name} failed: RuntimeError: internal tool error", fault="error")


# ---------------------------------------------------------------------- recovery


@dataclass(frozen=True)
class RecoveryStats:
    """How one episode went with respect to its faulted calls.

    Attributes:
        faulted_calls: Calls flagged with a fault.
        kinds: The fault kinds seen, in order of first appearance.
        first_fault: ``(turn, call)`` (0-based) of the first faulted call; None without faults.
        called_again: A tool call was made in a turn after the first faulted call's turn.
        retried: Of those later calls, one went to the first faulted call's own tool: a sharper
            sign of a reaction than ``called_again`` (a plan's next step also calls again).
        correct: The episode's score reached :data:`CORRECT_SCORE`.
    """

    faulted_calls: int = 0
    kinds: tuple[str, ...] = ()
    first_fault: tuple[int, int] | None = None
    called_again: bool = False
    correct: bool = False
    retried: bool = False

    @property
    def faulted(self) -> bool:
        return self.faulted_calls > 0

    @property
    def recovered(self) -> bool:
        """Faulted, called a tool again after reading the fault, and still answered correctly."""
        return self.faulted and self.called_again and self.correct

    def to_dict(self) -> dict[str, Any]:
        return {
            "faulted_calls": self.faulted_calls,
            "kinds": list(self.kinds),
            "first_fault": None if self.first_fault is None else list(self.first_fault),
            "called_again": self.called_again,
            "retried": self.retried,
            "correct": self.correct,
            "recovered": self.recovered,
        }


def recovery(episode: Any, correct_score: float = CORRECT_SCORE) -> RecoveryStats:
    """The :class:`RecoveryStats` of a trajectory or an eval record (see the module docstring).

    Args:
        episode: A :class:`~spacetools_env.rollout.Trajectory` (``tool_results`` and ``score``), an
            eval record or recording line (``trajectory.tool_calls`` and ``score``), or its
            :func:`~benchmarks.eval.records.brief` (its precomputed ``recovery``).
        correct_score: Score at or above which the episode counts as correct.

    Raises:
        ValueError: ``episode`` is none of these.
    """
    if isinstance(episode, Mapping):
        if "trajectory" not in episode and isinstance(episode.get("recovery"), Mapping):
            return _from_dict(episode["recovery"])
        turns = (episode.get("trajectory") or {}).get("tool_calls")
        score = episode.get("score")
    else:
        turns, score = getattr(episode, "tool_results", None), getattr(episode, "score", None)
    if not isinstance(turns, list):
        raise ValueError(
            "recovery() takes a Trajectory or an episode record with trajectory.tool_calls, "
            f"got {type(episode).__name__}"
        )
    faulted, kinds, first, faulted_tool = 0, [], None, None
    called_again = retried = False
    for t, turn in enumerate(turns):
        calls = [c for c in turn if isinstance(c, Mapping)] if isinstance(turn, list) else []
        if first is not None and t > first[0] and calls:
            called_again = True
            retried = retried or any(c.get("name") == faulted_tool for c in calls)
        for i, call in enumerate(calls):
            kind = call.get("fault", False)
            if isinstance(kind, str) and kind:  # a schema-2 record has no fault: unflagged
                faulted += 1
                kinds.append(kind)
                if first is None:
                    first, faulted_tool = (t, i), call.get("name")
    correct = isinstance(score, int | float) and not isinstance(score, bool) and float(score) >= correct_score
    return RecoveryStats(faulted, tuple(dict.fromkeys(kinds)), first, called_again, correct, retried)


def _from_dict(data: Mapping[str, Any]) -> RecoveryStats:
    first = data.get("first_fault")
    return RecoveryStats(
        int(data.get("faulted_calls", 0)),
        tuple(data.get("kinds") or ()),
        None if first is None else (int(first[0]), int(first[1])),
        bool(data.get("called_again")),
        bool(data.get("correct")),
        bool(data.get("retried")),
    )


def recovery_summary(episodes: Iterable[Any], correct_score: float = CORRECT_SCORE) -> dict[str, Any] | None:
    """The recovery figure over episodes; None when no call of any episode faulted.

    Returns:
        ``episodes`` (judged), ``faulted_episodes``, ``recovered``, ``recovery_rate`` (recovered / faulted episodes),
        ``called_again_rate``, ``retried_rate`` and ``correct_rate`` among faulted episodes, ``faulted_calls``,
        and ``by_kind``: per fault kind, the faulted episodes that saw it and how many of them recovered.
    """
    # A bare aggregation row (no trajectory, no precomputed recovery) holds no calls to judge.
    stats = [recovery(e, correct_score) for e in episodes
             if not (isinstance(e, Mapping) and "trajectory" not in e and "recovery" not in e)]
    faulted = [s for s in stats if s.faulted]
    if not faulted:
        return None
    n = len(faulted)
    by_kind: dict[str, dict[str, int]] = {}
    for s in faulted:
        for kind in s.kinds:
            entry = by_kind.setdefault(kind, {"episodes": 0, "recovered": 0})
            entry["episodes"] += 1
            entry["recovered"] += int(s.recovered)
    return {
        "episodes": len(stats),
        "faulted_episodes": n,
        "faulted_calls": sum(s.faulted_calls for s in faulted),
        "recovered": sum(1 for s in faulted if s.recovered),
        "recovery_rate": sum(1 for s in faulted if s.recovered) / n,
        "called_again_rate": sum(1 for s in faulted if s.called_again) / n,
        "retried_rate": sum(1 for s in faulted if s.retried) / n,
        "correct_rate": sum(1 for s in faulted if s.correct) / n,
        "by_kind": dict(sorted(by_kind.items())),
    }


__all__ = [
    "CORRECT_SCORE",
    "FAULT_KINDS",
    "FAULT_STREAM",
    "INJECTED_KINDS",
    "FaultInjectingClient",
    "FaultSpec",
    "RecoveryStats",
    "ToolFaults",
    "injected_result",
    "recovery",
    "recovery_summary",
]
