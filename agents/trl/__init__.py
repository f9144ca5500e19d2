"""The TRL bridge: GRPO on SpaceTools envs with TRL's ``GRPOTrainer`` unchanged (needs the ``train`` extra).

- :mod:`agents.trl.rows`: what a dataset row holds (env id, split, index, seed; the question images).
- :mod:`agents.trl.rollout`: :class:`SpaceToolsRollout`, the ``rollout_func`` (the paper's exact protocol
  through ``env.step``, with the trainer's model; :mod:`agents.trl.policy` records the tokens).
- :mod:`agents.trl.rewards`: reward functions over the env's reward and its components.
- :mod:`agents.trl.environment`: :func:`environment_class`, the ``environment_factory`` adapter for TRL's
  native tool loop (tools as methods, ``reset(**row)``, ``get_reward``; what differs is listed there).
"""

from __future__ import annotations

from agents.trl.environment import SpaceToolsEnvironment, environment_class, factory_rows, submit_answers
from agents.trl.rewards import component_reward, env_reward, episode_metrics, score_reward
from agents.trl.rollout import RolloutConfig, SpaceToolsRollout
from agents.trl.rows import episode_row, episode_rows, parse_prompt

__all__ = [
    "RolloutConfig",
    "SpaceToolsEnvironment",
    "SpaceToolsRollout",
    "component_reward",
    "env_reward",
    "environment_class",
    "episode_metrics",
    "episode_row",
    "episode_rows",
    "factory_rows",
    "parse_prompt",
    "score_reward",
    "submit_answers",
]
