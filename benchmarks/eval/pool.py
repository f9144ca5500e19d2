"""Episodes on a pool of worker processes; a worker that dies fails only the episode that killed it.

Each task sent to a worker is a list of episode keys, which the worker plays ``batch_size`` at a
time in lockstep (:meth:`~benchmarks.eval.worker.EpisodePlayer.play_many`) and returns as one
list. At batch size 1 a task is one episode, so each record is written as soon as it is played;
at batch size N a task holds up to :data:`TASK_BATCHES` x N episodes (fewer when the queue would
not feed every worker), so a batch refills from its own task while it lasts.

When a worker process dies (a crash in native code, ``os._exit`` in an agent, the out-of-memory
killer), the episodes that may have killed it are known: every episode of the tasks in flight,
those that had already ended included (their results died with the worker).
``ProcessPoolExecutor`` fails all of them, so they are played again one at a time (batch size 1,
one worker): the innocent ones are recorded (the same records as in a batch: episodes do not
depend on what runs beside them), the one that kills its worker again comes back as a failed
episode with the reason (retried by the next run, like any failed episode), and the rest of the
run goes on in a fresh pool.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import replace

from benchmarks.eval.records import safe_text
from benchmarks.eval.suites import EpisodeKey
from benchmarks.eval.worker import Played, PlayerSpec, init_worker, play_in_worker

_DIED = (
    "the worker process playing it died ({reason}), and died again when it was played alone: a crash "
    "in native code, os._exit or the out-of-memory killer; the other episodes went on"
)


TASK_BATCHES = 4
"""A task holds up to this many batches of episodes (at batch size > 1)."""


def played_in_pool(spec: PlayerSpec, pending: Iterable[EpisodeKey], workers: int) -> Iterator[Played]:
    """Finished episodes in completion order; a dead worker's episodes are replayed one at a time."""
    queue = deque(pending)
    alone = replace(spec, batch_size=1)
    while queue:
        suspects, reason = yield from _run(spec, queue, min(workers, len(queue)))
        replay = deque(suspects)  # the worker that died was playing one of these
        while replay:  # one episode in flight at a time: when the worker dies, that one killed it
            died, _ = yield from _run(alone, replay, 1)
            for key in died:
                yield Played(key, None, None, _DIED.format(reason=reason))


def _task_size(batch_size: int, queued: int, workers: int) -> int:
    if batch_size == 1:
        return 1
    share = -(-queued // workers)  # ceil: every worker gets a task
    return max(batch_size, min(TASK_BATCHES * batch_size, share))


def _run(
    spec: PlayerSpec, queue: deque[EpisodeKey], workers: int
) -> Generator[Played, None, tuple[list[EpisodeKey], str]]:
    """Play from ``queue`` (taking what it submits) until it is empty or a worker dies.

    Returns:
        The episodes of the tasks in flight when a worker died (none if none did) and the pool's error.
    """
    # spawn, not fork: PyBullet and tool backends hold native state a fork would share.
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_worker,
        initargs=(spec, os.getpid()),
    )
    in_flight: dict[Future[list[Played]], list[EpisodeKey]] = {}
    try:
        while queue or in_flight:
            while queue and len(in_flight) < workers:
                size = _task_size(spec.batch_size, len(queue), workers)
                task = [queue[i] for i in range(min(size, len(queue)))]
                try:
                    in_flight[pool.submit(play_in_worker, task)] = task
                except BrokenProcessPool as exc:
                    return _keys(in_flight), str(exc)
                for _ in task:
                    queue.popleft()
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            broken = [f for f in done if isinstance(f.exception(), BrokenProcessPool)]
            for future in done:
                if future not in broken:
                    yield from _results(future, in_flight.pop(future))
            if broken:  # every other future fails too; those that finished first are kept
                wait(in_flight)
                for future in [f for f in in_flight if not isinstance(f.exception(), BrokenProcessPool)]:
                    yield from _results(future, in_flight.pop(future))
                return _keys(in_flight), str(broken[0].exception())
        return [], ""
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _keys(in_flight: dict[Future[list[Played]], list[EpisodeKey]]) -> list[EpisodeKey]:
    return [key for task in in_flight.values() for key in task]


def _results(future: Future[list[Played]], task: list[EpisodeKey]) -> list[Played]:
    """The worker's results; anything it raised past the player (a result not picklable) fails the task's episodes."""
    try:
        return future.result()
    except Exception as exc:
        return [Played(key, None, None, safe_text(f"{type(exc).__name__}: {exc}")) for key in task]
