"""Gymnasium wrappers for the ways a user reaches for a SpaceTools env.

- :class:`ChatHistory`: the observation is the whole conversation so far (what a chat template consumes).
- :class:`StructuredActions`: ``Discrete`` actions and ``Box`` observations for classic RL agents (SB3).
- :class:`RecordTrajectory`: every turn of every episode to JSONL, in the eval runner's record shape.
- Tool subsets (the pointing-only Phase 1) are the ``tools=`` option, not a wrapper:
  ``gym.make(id, tools=PHASE1_TOOLS)``. The system prompt's tools block, ``info["tools"]``, the
  action space and the tool client are all built from the tool set, so a wrapper filtering calls
  afterwards would show the model tools it cannot call.
"""

from __future__ import annotations

from spacetools_env.wrappers.chat_history import ChatHistory
from spacetools_env.wrappers.recording import RecordTrajectory
from spacetools_env.wrappers.structured_actions import StructuredActions, default_menu
from tool_backends.backends import PHASE1_TOOLS

__all__ = ["PHASE1_TOOLS", "ChatHistory", "RecordTrajectory", "StructuredActions", "default_menu"]
