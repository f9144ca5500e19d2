"""Play one episode with any policy and keep everything a trainer or a report needs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, SupportsFloat

from spacetools_env import messages as msg

Policy = Callable[[list[dict[str, Any]], dict[str, Any]], Any]
"""``policy(conversation, info) -> action``: the full conversation so far and the latest info."""


class EpisodeEnv(Protocol):
    """What :func:`rollout` needs of an env: Gymnasium's ``reset`` and ``step`` (any ``gym.Env`` has them)."""

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        """Start an episode; returns the first observation and info."""
        ...

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        """Apply ``action``; returns observation, reward, terminated, truncated and info."""
        ...


@dataclass(frozen=True)
class Turn:
    """One decision point of one episode, as a batched agent sees it.

    Attributes:
        episode_id: Unique among running episodes; an agent may key its per-episode state on it.
        messages: The conversation so far (system, user, assistant and tool messages).
        info: The env's latest ``info`` (task metadata and tool schemas, never the answer).
    """

    episode_id: str
    messages: list[dict[str, Any]]
    info: dict[str, Any]


def agent_policy(agent: Any, episode_id: str = "0") -> Policy:
    """Adapt a batched agent (``act(turns) -> actions``) to a single-episode policy."""

    def policy(messages: list[dict[str, Any]], info: dict[str, Any]) -> Any:
        return agent.act([Turn(episode_id, messages, info)])[0]

    return policy


@dataclass
class Trajectory:
    """One played episode.

    Attributes:
        messages: The whole conversation (system, user, then assistant and tool messages).
        actions: The raw actions, one per turn.
        rewards: Step rewards; ``reward_components`` holds each step's components.
        tool_results: Per turn, the records of the calls run (name, arguments, ok, text, data).
        info: The last ``info`` (score, tool statistics, task metadata).
    """

    messages: list[dict[str, Any]] = field(default_factory=list)
    actions: list[Any] = field(default_factory=list)
    rewards: list[float] = field(default_factory=list)
    reward_components: list[dict[str, float]] = field(default_factory=list)
    tool_results: list[list[dict[str, Any]]] = field(default_factory=list)
    info: dict[str, Any] = field(default_factory=dict)
    terminated: bool = False
    truncated: bool = False

    @property
    def score(self) -> float:
        return float(self.info.get("score", 0.0))

    @property
    def turns(self) -> int:
        return len(self.actions)

    @property
    def total_reward(self) -> float:
        return float(sum(self.rewards))

    def add_turn(
        self, action: Any, observation: list[dict[str, Any]], reward: SupportsFloat, info: dict[str, Any],
        terminated: bool, truncated: bool,
    ) -> None:
        """Append one ``step``: the action as an assistant message, then the messages it returned."""
        self.actions.append(action)
        self.messages.append(action_message(action))
        self.messages.extend(observation)
        self.rewards.append(float(reward))
        self.reward_components.append(dict(info["reward_components"]))
        self.tool_results.append(info["tool_results"])
        self.info = info
        self.terminated, self.truncated = bool(terminated), bool(truncated)


def action_message(action: Any) -> msg.Message:
    """The assistant message for an action: its text, or the ``repr`` of a structured dict."""
    return msg.assistant_message(action if isinstance(action, str) else repr(action))


def rollout(
    env: EpisodeEnv, policy: Policy, *, seed: int | None = None, options: dict[str, Any] | None = None
) -> Trajectory:
    """Reset ``env`` and step it with ``policy`` until the episode ends."""
    observation, info = env.reset(seed=seed, options=options)
    traj = Trajectory(messages=list(observation), info=info)
    while True:
        action = policy(traj.messages, info)
        observation, reward, terminated, truncated, info = env.step(action)
        traj.add_turn(action, observation, reward, info, terminated, truncated)
        if terminated or truncated:
            return traj
