"""Playing episodes: one :class:`EpisodePlayer` per process, with its own envs and agent.

Episodes are independent, so a worker needs only the episode key; it returns the finished
record already serialized to the UTF-8 bytes of its line (the main process only appends them).
A record that cannot be serialized (a lone surrogate, a value JSON cannot hold) fails its own
episode here, with the field named, like any other failed episode; the writer never sees it.
A worker whose parent dies (``kill -9`` of the runner) exits by itself within a second instead
of lingering.
"""

from __future__ import annotations

import os
import threading
import time
import traceback
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import gymnasium as gym

from benchmarks.agents import load_agent
from benchmarks.eval.records import UnwritableRecordError, brief, episode_record, record_line, safe_text
from benchmarks.eval.suites import EpisodeKey
from spacetools_env import unwrap
from spacetools_env.rollout import Trajectory, agent_policy, rollout


class Played(NamedTuple):
    """One finished episode: its record as UTF-8 JSON line bytes (and without its trajectory), or why it failed."""

    key: EpisodeKey
    line: bytes | None
    brief: dict[str, Any] | None
    error: str | None


@dataclass(frozen=True)
class PlayerSpec:
    """What a worker needs to rebuild envs and agent (picklable; sent once per worker).

    Attributes:
        agent: Agent name or import string.
        agent_kwargs: Constructor arguments of the agent.
        seed: Base seed of the run.
        make_kwargs: Env id -> ``gym.make`` keyword arguments.
        eval_keys: Env id -> original evaluation key (None for families mirroring none).
        synthetic: Env ids whose items come from the synthetic world.
    """

    agent: str
    agent_kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    make_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    eval_keys: dict[str, str | None] = field(default_factory=dict)
    synthetic: frozenset[str] = frozenset()


class _Stopwatch:
    """Times ``reset``/``step`` of the env it wraps (duck-typed for :func:`rollout`)."""

    def __init__(self, env: gym.Env) -> None:
        self.env = env
        self.seconds = 0.0

    def reset(self, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.env.reset(**kwargs)
        finally:
            self.seconds += time.perf_counter() - start

    def step(self, action: Any) -> Any:
        start = time.perf_counter()
        try:
            return self.env.step(action)
        finally:
            self.seconds += time.perf_counter() - start


class EpisodePlayer:
    """Plays episodes by key, building each env on first use and keeping it for the next."""

    def __init__(self, spec: PlayerSpec) -> None:
        self.spec = spec
        self.agent = load_agent(spec.agent, **spec.agent_kwargs)
        self.agent_name = str(getattr(self.agent, "name", spec.agent))
        self.envs: dict[str, gym.Env] = {}

    def play(self, key: EpisodeKey) -> Played:
        """Play one episode; an exception (agent or infrastructure) is returned, not raised."""
        try:
            record = self._play(key)
            line = record_line(record)
        except UnwritableRecordError as exc:
            return Played(key, None, None, f"record not written: {exc}")
        except Exception as exc:  # one failed episode must not stop the run; it is retried on resume
            detail = "".join(traceback.format_exception_only(exc)).strip()
            return Played(key, None, None, safe_text(f"{detail} [{_where(exc)}]"))
        return Played(key, line, brief(record), None)

    def _play(self, key: EpisodeKey) -> dict[str, Any]:
        env = self._env(key.env_id)
        timed, agent_s = _Stopwatch(env), 0.0
        inner = agent_policy(self.agent, key.id)

        def policy(messages: list[dict[str, Any]], info: dict[str, Any]) -> Any:
            nonlocal agent_s
            start = time.perf_counter()
            try:
                return inner(messages, info)
            finally:
                agent_s += time.perf_counter() - start

        seed = key.seed(self.spec.seed)
        start = time.perf_counter()
        try:
            traj: Trajectory = rollout(timed, policy, seed=seed, options={"index": key.index, "split": key.split})
        finally:
            self.agent.end_episode(key.id)
        timing = {
            "env_s": timed.seconds,
            "tools_s": float(unwrap(env).timing.get("tools_s", 0.0)),
            "agent_s": agent_s,
            "wall_s": time.perf_counter() - start,
        }
        raw = unwrap(env)
        return episode_record(
            key,
            traj,
            agent=self.agent_name,
            seed=seed,
            eval_key=self.spec.eval_keys.get(key.env_id),
            synthetic=key.env_id in self.spec.synthetic,
            timing=timing,
            unparsable=raw.item is not None and raw.family.is_unparsable(traj.info.get("answer"), raw.item),
        )

    def _env(self, env_id: str) -> gym.Env:
        env = self.envs.get(env_id)
        if env is None:
            env = self.envs[env_id] = gym.make(env_id, **self.spec.make_kwargs.get(env_id, {}))
        return env

    def close(self) -> None:
        for env in self.envs.values():
            env.close()
        self.envs.clear()


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"


# ---------------------------------------------------------------------- worker processes
_PLAYER: EpisodePlayer | None = None


def init_worker(spec: PlayerSpec, runner_pid: int) -> None:
    """Process-pool initializer: watch the runner, then build this worker's player.

    ``runner_pid`` comes from the runner rather than ``os.getppid()`` here: a runner killed while
    this worker was still starting has already handed it to init, and ``getppid()`` would then
    name init, which never exits.
    """
    global _PLAYER
    threading.Thread(target=_exit_with_parent, args=(runner_pid,), daemon=True, name="parent-watch").start()
    import spacetools_env  # noqa: F401  (registers the envs in a spawned process)

    _PLAYER = EpisodePlayer(spec)


def play_in_worker(key: EpisodeKey) -> Played:
    if _PLAYER is None:
        raise RuntimeError("init_worker was not called in this process")
    return _PLAYER.play(key)


def _exit_with_parent(parent: int) -> None:
    # A pool worker blocks on its task queue forever if the runner is killed: leave instead.
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)
