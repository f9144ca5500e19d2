"""Batched rollouts: N episodes in lockstep in one process, one batched agent call per turn.

:class:`BatchRollout` is the one driver for the eval runner and for trainer rollouts. It keeps up
to ``batch_size`` episodes running; each round it asks the agent once for an action for every
running episode (``agent.act(turns)``, one :class:`~spacetools_env.rollout.Turn` each), then
steps each episode's env with its action. An episode that ends is handed back at once (with the
env that played it), ``agent.end_episode`` is called, and the next work item from the queue
takes its place, so a model agent sees full batches until the queue runs dry.

Same results as one at a time: an episode depends only on its work item (env, reset seed and
options) and on the agent's per-episode state, never on what else runs beside it, as long as the
agent keys its state and randomness on ``Turn.episode_id`` (the shipped agents do). Each env
instance plays one episode at a time; the driver makes one env per running episode of a key
(``make_env(key)``) and reuses it for the next episode of that key.

Concurrent steps (``step_threads``): the envs of a round are stepped by a thread pool instead of one
after another, so their tool rounds reach the tool client together: a remote or model-backed client
(or a :class:`~tool_backends.gathering.RoundGatherer` in front of one) sees a whole turn's calls across
the running episodes and can batch them. Results are collected in the episodes' order, and each env
runs only its own episode, so trajectories are identical to stepping in turn (only timing changes).
With the in-process oracle it buys nothing (the GIL): it is for clients that wait on a server or a device.

Failures: an exception from ``make_env``, ``env.reset`` or ``env.step`` fails that episode
alone. An exception from the batched ``agent.act`` (or the wrong number of actions) cannot be
pinned on one turn, since the agent may already have advanced the others, so it fails every
episode of that call; each result carries the exception and the other episodes of the queue go on.

>>> import gymnasium as gym, spacetools_env
>>> class Guess:
...     def act(self, turns): return ["<answer>(A)</answer>"] * len(turns)
...     def end_episode(self, episode_id): pass
>>> driver = BatchRollout(Guess(), lambda key: gym.make(key), batch_size=4)
>>> work = [WorkItem(f"e{i}", "SpaceTools-Synth-RelativeDepth-v0", seed=i) for i in range(6)]
>>> sorted(r.work.episode_id for r in driver.play(work) if r.trajectory is not None)
['e0', 'e1', 'e2', 'e3', 'e4', 'e5']
>>> driver.close()
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from spacetools_env.rollout import EpisodeEnv, Trajectory, Turn


class BatchAgent(Protocol):
    """What the driver needs of an agent (``agents.protocol.Agent``)."""

    def act(self, turns: Sequence[Turn]) -> Sequence[Any]:
        """One action per turn, in order."""
        ...

    def end_episode(self, episode_id: str) -> None:
        """Forget the state of a finished episode."""
        ...


@dataclass(frozen=True)
class WorkItem:
    """One episode to play.

    Attributes:
        episode_id: Unique among the queue's episodes; becomes ``Turn.episode_id``.
        env_key: Which env plays it (passed to ``make_env``; the eval runner uses the env id).
        seed: The reset seed.
        options: The reset options (``{"index": 3, "split": "test"}``).
    """

    episode_id: str
    env_key: str
    seed: int | None = None
    options: Mapping[str, Any] | None = None


@dataclass
class EpisodeResult:
    """One finished episode, or why it failed.

    Attributes:
        work: The work item played.
        trajectory: The whole episode; None when it failed.
        error: What failed it (``make_env``/``env.reset``/``env.step`` for this episode, or the
            batched ``agent.act``); None when it finished.
        env: The env that played it, as the episode left it (None if ``make_env`` failed);
            valid until the driver's iterator is advanced (it then plays another episode).
        timing: ``env_s`` (reset and steps), ``agent_s`` (its share of each batched act call:
            the call's seconds over the turns in it), ``wall_s`` (reset to end).
        usage: What the agent spent on it, for an agent with ``episode_usage(episode_id)`` (an API
            agent's requests and tokens), read just before ``end_episode``; empty otherwise.
    """

    work: WorkItem
    trajectory: Trajectory | None
    error: BaseException | None
    env: Any
    timing: dict[str, float] = field(default_factory=dict)
    usage: dict[str, int] = field(default_factory=dict)


@dataclass
class _Running:
    work: WorkItem
    env: Any
    started: float
    traj: Trajectory = field(default_factory=Trajectory)
    info: dict[str, Any] = field(default_factory=dict)
    env_s: float = 0.0
    agent_s: float = 0.0


class BatchRollout:
    """Plays work items ``batch_size`` at a time with one agent; owns the envs it makes.

    Args:
        agent: A batched agent (``act(turns) -> actions``, ``end_episode(id)``).
        make_env: ``make_env(env_key) -> env`` (Gymnasium ``reset``/``step``); called when no
            idle env of that key is left.
        batch_size: Episodes in flight at once (1: one at a time).
        step_threads: Threads stepping a round's envs concurrently (0: in turn; see the module docstring).
    """

    def __init__(
        self, agent: BatchAgent, make_env: Callable[[str], EpisodeEnv], batch_size: int = 1, step_threads: int = 0
    ) -> None:
        for name, value, least, kind in (
            ("batch_size", batch_size, 1, "a positive"), ("step_threads", step_threads, 0, "a non-negative")
        ):
            if not isinstance(value, int) or isinstance(value, bool) or value < least:
                raise ValueError(f"{name} must be {kind} integer, got {value!r}")
        self.agent = agent
        self.make_env = make_env
        self.batch_size = batch_size
        self._pool = ThreadPoolExecutor(step_threads, thread_name_prefix="env-step") if step_threads else None
        self._idle: dict[str, list[Any]] = {}
        self._made: list[Any] = []

    def play(self, work: Iterable[WorkItem]) -> Iterator[EpisodeResult]:
        """Play every item of ``work`` (read lazily); results in the order episodes end."""
        queue = iter(work)
        running: list[_Running] = []
        try:
            while True:
                while len(running) < self.batch_size:
                    item = next(queue, None)
                    if item is None:
                        break
                    started = self._start(item)
                    if isinstance(started, _Running):
                        running.append(started)
                    else:
                        yield from self._finish_all([started])
                if not running:
                    return
                yield from self._round(running)
        finally:  # closed early: forget the unfinished episodes, keep their envs for reuse
            for r in running:
                self.agent.end_episode(r.work.episode_id)
                self._release(r)

    def close(self) -> None:
        """Close every env this driver made."""
        for env in self._made:
            env.close()
        self._made.clear()
        self._idle.clear()
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    # ------------------------------------------------------------------ one episode's life
    def _start(self, item: WorkItem) -> _Running | tuple[_Running, BaseException]:
        running = _Running(item, None, time.perf_counter())
        idle = self._idle.get(item.env_key)
        try:
            if idle:
                running.env = idle.pop()
            else:
                running.env = self.make_env(item.env_key)
                self._made.append(running.env)
            observation, running.info = running.env.reset(seed=item.seed, options=dict(item.options or {}))
        except Exception as exc:
            return running, exc
        finally:
            running.env_s += time.perf_counter() - running.started
        running.traj = Trajectory(messages=list(observation), info=running.info)
        return running

    def _round(self, running: list[_Running]) -> Iterator[EpisodeResult]:
        """One batched agent call for every running episode, then one step of each; the ended ones leave."""
        turns = [Turn(r.work.episode_id, r.traj.messages, r.info) for r in running]
        start = time.perf_counter()
        try:
            actions = list(self.agent.act(turns))
            if len(actions) != len(turns):
                raise ValueError(f"agent.act returned {len(actions)} actions for {len(turns)} turns; one per turn")
        except Exception as exc:
            share = (time.perf_counter() - start) / len(turns)
            for r in running:
                r.agent_s += share
            failed: list[tuple[_Running, BaseException | None]] = [(r, exc) for r in running]
            running.clear()
            yield from self._finish_all(failed)
            return
        share = (time.perf_counter() - start) / len(turns)
        for r in running:
            r.agent_s += share
        if self._pool is None:
            steps = [_step(r.env, action) for r, action in zip(running, actions, strict=True)]
        else:
            steps = list(self._pool.map(_step, [r.env for r in running], actions))
        ended: list[tuple[_Running, BaseException | None]] = []
        for r, action, (outcome, seconds) in zip(running, actions, steps, strict=True):
            r.env_s += seconds
            if isinstance(outcome, BaseException):
                ended.append((r, outcome))
                continue
            observation, reward, terminated, truncated, r.info = outcome
            r.traj.add_turn(action, observation, reward, r.info, terminated, truncated)
            if terminated or truncated:
                ended.append((r, None))
        gone = {id(r) for r, _ in ended}
        running[:] = [r for r in running if id(r) not in gone]
        yield from self._finish_all(ended)

    def _finish_all(self, ended: list[tuple[_Running, BaseException | None]]) -> Iterator[EpisodeResult]:
        """End each episode with the agent, then hand each back; its env is reused once the consumer moves on."""
        pending: list[tuple[_Running, EpisodeResult]] = []
        for r, error in ended:
            usage: dict[str, int] = {}
            report = getattr(self.agent, "episode_usage", None)
            try:
                usage = dict(report(r.work.episode_id)) if report is not None else {}
            except Exception as exc:
                error = error or exc
            try:
                self.agent.end_episode(r.work.episode_id)
            except Exception as exc:
                error = error or exc
            timing = {"env_s": r.env_s, "agent_s": r.agent_s, "wall_s": time.perf_counter() - r.started}
            result = EpisodeResult(r.work, r.traj if error is None else None, error, r.env, timing, usage)
            pending.append((r, result))
        try:
            while pending:
                yield pending[0][1]
                self._release(pending.pop(0)[0])
        finally:
            for r, _ in pending:
                self._release(r)

    def _release(self, r: _Running) -> None:
        if r.env is not None:  # None: make_env itself failed
            self._idle.setdefault(r.work.env_key, []).append(r.env)


def _step(env: Any, action: Any) -> tuple[Any, float]:
    """``env.step(action)`` or the exception it raised, and the seconds it took."""
    start = time.perf_counter()
    try:
        return env.step(action), time.perf_counter() - start
    except Exception as exc:
        return exc, time.perf_counter() - start
