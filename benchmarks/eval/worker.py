"""Playing episodes: one :class:`EpisodePlayer` per process, with its own envs and agent.

Episodes are independent, so a worker needs only the episode keys; it plays them
``batch_size`` at a time through :class:`~spacetools_env.batch_rollout.BatchRollout` and returns
each finished record already serialized to the UTF-8 bytes of its line (the main process only
appends them).
A record that cannot be serialized (a lone surrogate, a value JSON cannot hold) fails its own
episode here, with the field named, like any other failed episode; the writer never sees it.
A worker whose parent dies (``kill -9`` of the runner) exits by itself within a second instead
of lingering.
"""

from __future__ import annotations

import importlib
import os
import threading
import time
import traceback
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple, cast

import gymnasium as gym

from benchmarks.agents import load_agent
from benchmarks.eval.records import UnwritableRecordError, brief, episode_record, record_line, safe_text
from benchmarks.eval.suites import EpisodeKey
from spacetools_env import unwrap
from spacetools_env.batch_rollout import BatchRollout, EpisodeResult, WorkItem
from spacetools_env.rollout import Trajectory


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
        batch_size: Episodes played in lockstep (one batched agent call per turn).
        imports: Modules to import first (they register the ids of ``module:EnvId`` suites).
    """

    agent: str
    agent_kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    make_kwargs: dict[str, dict[str, Any]] = field(default_factory=dict)
    eval_keys: dict[str, str | None] = field(default_factory=dict)
    synthetic: frozenset[str] = frozenset()
    batch_size: int = 1
    imports: tuple[str, ...] = ()


class EpisodePlayer:
    """Plays episodes by key through one :class:`~spacetools_env.batch_rollout.BatchRollout`.

    Up to ``spec.batch_size`` episodes run in lockstep; each env is built on first use and kept
    for the next episode of its id.
    """

    def __init__(self, spec: PlayerSpec) -> None:
        self.spec = spec
        for module in spec.imports:  # module:EnvId suites: the module registers the id
            importlib.import_module(module)
        self.agent = load_agent(spec.agent, **spec.agent_kwargs)
        self.agent_name = str(getattr(self.agent, "name", spec.agent))
        self.driver = BatchRollout(self.agent, self._make_env, spec.batch_size)

    def play_many(self, keys: Iterable[EpisodeKey]) -> Iterator[Played]:
        """Every episode of ``keys``, in the order they end; an exception fails its episode(s), never the run."""
        by_id: dict[str, EpisodeKey] = {}

        def work() -> Iterator[WorkItem]:
            for key in keys:
                by_id[key.id] = key
                options = {"index": key.index, "split": key.split}
                yield WorkItem(key.id, key.env_id, key.seed(self.spec.seed), options)

        for result in self.driver.play(work()):
            yield self._played(by_id.pop(result.work.episode_id), result)

    def _played(self, key: EpisodeKey, result: EpisodeResult) -> Played:
        try:
            if result.error is not None:
                raise result.error
            record = self._record(key, result)
            line = record_line(record)
        except UnwritableRecordError as exc:
            return Played(key, None, None, f"record not written: {exc}")
        except Exception as exc:  # one failed episode must not stop the run; it is retried on resume
            detail = "".join(traceback.format_exception_only(exc)).strip()
            return Played(key, None, None, safe_text(f"{detail} [{_where(exc)}]"))
        return Played(key, line, brief(record), None)

    def _record(self, key: EpisodeKey, result: EpisodeResult) -> dict[str, Any]:
        traj = cast(Trajectory, result.trajectory)
        raw = unwrap(result.env)
        timing: dict[str, float | int] = {
            "env_s": result.timing["env_s"],
            "tools_s": float(raw.timing.get("tools_s", 0.0)),
            "agent_s": result.timing["agent_s"],
            "wall_s": result.timing["wall_s"],
            # an API agent's requests, retries and tokens (not seconds, but cost like them: outside the score)
            **{f"agent_{name}": int(count) for name, count in result.usage.items()},
        }
        return episode_record(
            key,
            traj,
            agent=self.agent_name,
            seed=key.seed(self.spec.seed),
            eval_key=self.spec.eval_keys.get(key.env_id),
            synthetic=key.env_id in self.spec.synthetic,
            timing=timing,
            unparsable=raw.item is not None and raw.family.is_unparsable(traj.info.get("answer"), raw.item),
        )

    def _make_env(self, env_id: str) -> gym.Env:
        return gym.make(env_id, **self.spec.make_kwargs.get(env_id, {}))

    def close(self) -> None:
        self.driver.close()


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    return f"{frames[-1].filename}:{frames[-1].lineno}" if frames else "?"


# ---------------------------------------------------------------------- worker processes
_PLAYER: EpisodePlayer | None = None
_BUILD_ERROR: str | None = None


def init_worker(spec: PlayerSpec, runner_pid: int) -> None:
    """Process-pool initializer: watch the runner, then build this worker's player.

    ``runner_pid`` comes from the runner rather than ``os.getppid()`` here: a runner killed while
    this worker was still starting has already handed it to init, and ``getppid()`` would then
    name init, which never exits. An agent that cannot be built (a bad ``--agent-kwargs`` value
    its constructor refuses) fails every episode with its reason instead of breaking the pool.
    """
    global _PLAYER, _BUILD_ERROR
    threading.Thread(target=_exit_with_parent, args=(runner_pid,), daemon=True, name="parent-watch").start()
    import spacetools_env  # noqa: F401  (registers the envs in a spawned process)

    try:
        _PLAYER = EpisodePlayer(spec)
    except Exception as exc:
        _BUILD_ERROR = safe_text(f"the worker could not build the agent: {type(exc).__name__}: {exc}")


def play_in_worker(keys: list[EpisodeKey]) -> list[Played]:
    """Play ``keys`` (a task of the pool) in lockstep batches; one result per key."""
    if _PLAYER is None:
        error = _BUILD_ERROR or "init_worker was not called in this process"
        return [Played(key, None, None, error) for key in keys]
    return list(_PLAYER.play_many(keys))


def _exit_with_parent(parent: int) -> None:
    # A pool worker blocks on its task queue forever if the runner is killed: leave instead.
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)
