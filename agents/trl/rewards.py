"""TRL reward functions over the extra keys :class:`~agents.trl.rollout.SpaceToolsRollout` returns.

TRL calls each reward function with the completions and every extra key of the rollout as keyword
lists (one value per completion), plus ``log_metric``. :func:`env_reward` is the env's own reward (the
sum of its step rewards: the scorer's score, the shaped term and the penalties with the env's weights),
so GRPO optimizes what eval reports; :func:`score_reward` is the task score alone;
:func:`component_reward` one component. The first two log, under stable
prefixes, each reward component's mean (``reward/<component>``), the env reward and score, and the tool
statistics (``tools/calls_per_episode``, ``tools/errors_per_episode``, ``tools/failure_rate``, and per
tool ``tools/<name>/calls_per_episode`` and ``tools/<name>/errors_per_episode``), so tool-use collapse
shows in TRL's logs; TRL itself logs each function as ``rewards/<name>/mean``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any


def env_reward(
    completions: Sequence[Any], env_reward: Sequence[float], log_metric: Callable[[str, float], None] | None = None,
    **kwargs: Any,
) -> list[float | None]:
    """The env's episode reward of each completion (the rollout's ``env_reward``)."""
    _log(log_metric, env_reward, kwargs)
    return [float(r) for r in env_reward]


def score_reward(
    completions: Sequence[Any], score: Sequence[float], log_metric: Callable[[str, float], None] | None = None,
    **kwargs: Any,
) -> list[float | None]:
    """The task's score of each completion (0 when unanswered)."""
    _log(log_metric, kwargs.get("env_reward", score), {**kwargs, "score": score})
    return [float(s) for s in score]


def component_reward(name: str) -> Callable[..., list[float | None]]:
    """A reward function of one reward component summed over the episode (``score``, ``shaped``, ...).

    TRL logs it as ``rewards/component_<name>/mean``; weigh components with ``GRPOConfig.reward_weights``.

    >>> component_reward("shaped")([None, None], reward_components=[{"shaped": 0.5}, {}])
    [0.5, 0.0]
    """

    def reward(completions: Sequence[Any], reward_components: Sequence[Mapping[str, float]],
               **kwargs: Any) -> list[float | None]:
        return [float(c.get(name, 0.0)) for c in reward_components]

    reward.__name__ = reward.__qualname__ = f"component_{name}"
    return reward


def episode_metrics(
    env_reward: Sequence[float], reward_components: Sequence[Mapping[str, float]], tool_calls: Sequence[int],
    tool_errors: Sequence[int], turns: Sequence[int], answered: Sequence[bool], score: Sequence[float],
    tools_by_name: Sequence[Mapping[str, Mapping[str, int]]] | None = None,
) -> dict[str, float]:
    """The batch means TRL's logs get (``reward/``, ``tools/``, ``rollout/`` prefixes).

    ``tools_by_name`` (per episode, tool name -> ``{"calls", "errors"}``) adds the per-tool means; a
    tool no episode of the batch called is absent, not 0.
    """
    n = max(1, len(env_reward))
    metrics = {"reward/env": sum(env_reward) / n, "reward/score": sum(score) / n}
    for name in sorted({key for c in reward_components for key in c}):
        metrics[f"reward/{name}"] = sum(float(c.get(name, 0.0)) for c in reward_components) / n
    calls, errors = sum(tool_calls), sum(tool_errors)
    metrics["tools/calls_per_episode"] = calls / n
    metrics["tools/errors_per_episode"] = errors / n
    metrics["tools/failure_rate"] = errors / calls if calls else 0.0
    for name in sorted({tool for episode in tools_by_name or () for tool in episode}):
        for stat in ("calls", "errors"):
            total = sum(int(episode.get(name, {}).get(stat, 0)) for episode in tools_by_name or ())
            metrics[f"tools/{name}/{stat}_per_episode"] = total / n
    metrics["rollout/turns"] = sum(turns) / n
    metrics["rollout/answered"] = sum(bool(a) for a in answered) / n
    return metrics


def _log(log_metric: Callable[[str, float], None] | None, rewards: Sequence[float], extra: Mapping[str, Any]) -> None:
    keys = ("reward_components", "tool_calls", "tool_errors", "turns", "answered", "score")
    if log_metric is None or any(key not in extra for key in keys):
        return
    metrics = episode_metrics(
        rewards, extra["reward_components"], extra["tool_calls"], extra["tool_errors"], extra["turns"],
        extra["answered"], extra["score"], tools_by_name=extra.get("tools_by_name"),
    )
    for name, value in metrics.items():
        log_metric(name, value)
