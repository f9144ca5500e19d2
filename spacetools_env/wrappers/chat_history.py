"""ChatHistory: observations that hold the whole conversation, not just the newest messages."""

from __future__ import annotations

from typing import Any, SupportsFloat

import gymnasium as gym

from spacetools_env.messages import Message
from spacetools_env.rollout import action_message
from spacetools_env.spaces import ChatMessages


class ChatHistory(gym.Wrapper[list, Any, list, Any], gym.utils.RecordConstructorArgs):
    """The observation is the conversation so far: system, user, then assistant and tool turns.

    The env's own observation is only what is new (``reset``: system and user; ``step``: the
    step's tool messages), as a chat server returns it. Wrapped, every observation is the list a
    chat template consumes: each ``step`` appends the action as an ``assistant`` message (its
    text, or the ``repr`` of a structured dict, as :func:`spacetools_env.rollout.rollout` does),
    then the messages the env returned. Images stay numpy arrays inside their messages.

    Example::

        env = ChatHistory(gym.make("SpaceTools-Synth-RelativeDepth-v0"))
        conversation, info = env.reset(seed=0)        # [system, user]
        conversation, *_ = env.step("<tool_call>...</tool_call>")  # [system, user, assistant, tool]
    """

    def __init__(self, env: gym.Env[list, Any]) -> None:
        # gym.make(env.spec) (check_env, vector envs) rebuilds the wrapper from these
        gym.utils.RecordConstructorArgs.__init__(self)
        super().__init__(env)
        self.observation_space = ChatMessages()
        self.history: list[Message] = []

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[list, dict[str, Any]]:
        observation, info = self.env.reset(seed=seed, options=options)
        self.history = list(observation)
        return list(self.history), info

    def step(self, action: Any) -> tuple[list, SupportsFloat, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        self.history.append(action_message(action))
        self.history.extend(observation)
        return list(self.history), reward, terminated, truncated, info
