"""Reward components and their weights.

Each step's reward is ``sum(weight[k] * component[k])``; every component is reported in
``info["reward_components"]`` so a trainer can log them (``reward/score``...) and spot
tool-use collapse. Components:

- ``score``: the task's official score in [0, 1], on the answering step (the single source of truth).
- ``shaped``: the family's dense term in [0, 1] on the answering step (NNDC distance credit for
  pointing, hull IoU for boxes, the score itself for yes/no and multiple choice).
- ``invalid_action``: minus the number of malformed parts of the action this step (bad JSON,
  no call nor answer, calls over the per-turn cap).
- ``tool_error``: minus the number of tool calls that failed this step.

Defaults: the official score dominates; the shaped term adds partial credit for near misses
(the paper trains pointing with NNDC); small penalties teach the format without swamping the
task signal. Override any weight with ``gym.make(id, reward_weights={"shaped": 0.0})``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

COMPONENTS = ("score", "shaped", "invalid_action", "tool_error")
DEFAULT_WEIGHTS: Mapping[str, float] = MappingProxyType(
    {"score": 1.0, "shaped": 0.5, "invalid_action": 0.1, "tool_error": 0.05}
)


def resolve_weights(overrides: Mapping[str, float] | None) -> dict[str, float]:
    """Default weights updated with ``overrides``.

    Raises:
        ValueError: an unknown component name or a non-finite weight.
    """
    weights = dict(DEFAULT_WEIGHTS)
    for name, value in (overrides or {}).items():
        if name not in weights:
            raise ValueError(f"unknown reward component {name!r}; components are {list(COMPONENTS)}")
        value = float(value)
        if value != value or value in (float("inf"), float("-inf")):
            raise ValueError(f"reward weight {name!r} must be finite, got {value}")
        weights[name] = value
    return weights


def zero_components() -> dict[str, float]:
    return dict.fromkeys(COMPONENTS, 0.0)


def total(components: Mapping[str, float], weights: Mapping[str, float]) -> float:
    return float(sum(weights[k] * components[k] for k in COMPONENTS))
