"""RecordTrajectory: every turn of every episode to a JSONL file, shaped as the eval runner's records."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym

from spacetools_env.env import unwrap
from spacetools_env.episode_json import RECORD_SCHEMA, episode_fields
from spacetools_env.rollout import Trajectory


class RecordTrajectory(gym.Wrapper[Any, Any, Any, Any], gym.utils.RecordConstructorArgs):
    """Append one JSON line per episode to ``path``, holding every turn of it.

    A line is written when the episode ends (answer or turn budget), and for an episode left
    unfinished by the next ``reset`` or by ``close`` (then ``terminated`` and ``truncated`` are
    both false). Its fields are those of the eval runner's ``results.jsonl`` records that an
    episode alone determines (``family``, ``item_id``, ``answer``, ``score``, ``reward``,
    ``unparsable``, ``tools``, ``invalid_actions``, ``turns``, ``terminated``, ``truncated``, ``trajectory`` with
    ``messages``/``actions``/``tool_calls``, converted by :mod:`spacetools_env.episode_json`,
    images as references), plus ``env_id``, ``split``, ``index`` and the ``seed`` given to
    ``reset``. Runner fields (``key``, ``agent``, ``timing``) are left out. Lines are valid UTF-8
    (a lone surrogate in model text is written as ``?``), flushed as written; the file is opened
    per line, so the wrapper holds no file between episodes.

    Put it directly around the env from ``gym.make`` (under :class:`ChatHistory` or
    :class:`StructuredActions`), so it sees the env's own messages and actions.

    Args:
        env: A SpaceTools env.
        path: The JSONL file; its folder is created; lines are appended.
    """

    def __init__(self, env: gym.Env[Any, Any], path: str | os.PathLike[str]) -> None:
        # gym.make(env.spec) (check_env, vector envs) rebuilds the wrapper from these
        gym.utils.RecordConstructorArgs.__init__(self, path=path)
        super().__init__(env)
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.episodes_written = 0
        self._trajectory: Trajectory | None = None
        self._seed: int | None = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[Any, dict[str, Any]]:
        self._write_unfinished()
        observation, info = self.env.reset(seed=seed, options=options)
        self._trajectory = Trajectory(messages=list(observation), info=info)
        self._seed = seed
        return observation, info

    def step(self, action: Any) -> tuple[Any, SupportsFloat, bool, bool, dict[str, Any]]:
        observation, reward, terminated, truncated, info = self.env.step(action)
        if self._trajectory is not None:
            self._trajectory.add_turn(action, list(observation), reward, info, terminated, truncated)
            if terminated or truncated:
                self._write(self._trajectory)
                self._trajectory = None
        return observation, reward, terminated, truncated, info

    def close(self) -> None:
        self._write_unfinished()
        super().close()

    def _write_unfinished(self) -> None:
        if self._trajectory is not None and self._trajectory.turns:
            self._write(self._trajectory)
        self._trajectory = None

    def _write(self, traj: Trajectory) -> None:
        line = json.dumps(self.record(traj), ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        with self.path.open("ab") as out:
            out.write(line.encode("utf-8", errors="replace") + b"\n")
            out.flush()
        self.episodes_written += 1

    def record(self, traj: Trajectory) -> dict[str, Any]:
        """The JSON record of ``traj`` (what one line holds)."""
        task = traj.info.get("task", {})
        raw = unwrap(self.env)
        unparsable = raw.item is not None and raw.family.is_unparsable(traj.info.get("answer"), raw.item)
        return {
            "schema": RECORD_SCHEMA,
            "env_id": task.get("env_id"),
            "split": task.get("split"),
            "index": task.get("index"),
            "seed": self._seed,
            **episode_fields(traj, unparsable=unparsable),
        }
