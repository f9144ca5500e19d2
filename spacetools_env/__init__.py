"""spacetools_env: tool-augmented spatial reasoning tasks as Gymnasium environments.

Importing the package registers every built-in family::

    import gymnasium as gym
    import spacetools_env  # noqa: F401

    env = gym.make("SpaceTools-Synth-RelativeDepth-v0")
"""

from __future__ import annotations

from spacetools_env import vector_memory as _vector_memory  # noqa: F401  (AsyncVectorEnv shared memory)
from spacetools_env.env import SpaceToolsEnv, unwrap
from spacetools_env.registration import (
    families,
    get_family,
    make_vec,
    register_builtin_families,
    register_task,
    registered_ids,
)
from spacetools_env.task import ItemSource, TaskFamily, TaskItem

register_builtin_families()

__all__ = [
    "ItemSource",
    "SpaceToolsEnv",
    "TaskFamily",
    "TaskItem",
    "families",
    "get_family",
    "make_vec",
    "register_task",
    "registered_ids",
    "unwrap",
]
