"""The agent protocol: from conversations to actions, batched.

An agent sees, for each running episode, the whole conversation so far and the latest
``info`` (task metadata and tool schemas, never the answer), and returns one action each:
text in the model's own format, or a structured tool-call dict.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

from spacetools_env.rollout import Turn, agent_policy


@runtime_checkable
class Agent(Protocol):
    """Anything that maps turns to actions."""

    name: str

    def act(self, turns: Sequence[Turn]) -> list[Any]:
        """One action per turn, in order."""
        ...

    def end_episode(self, episode_id: str) -> None:
        """Forget the state of a finished episode."""
        ...


as_policy = agent_policy

__all__ = ["Agent", "Turn", "as_policy"]
