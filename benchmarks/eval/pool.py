"""Episodes on a pool of worker processes; a worker that dies fails only the episode it was playing.

At most ``workers`` episodes are in flight at once, so when a worker process dies (a crash in
native code, ``os._exit`` in an agent, the out-of-memory killer) the episodes that may have
killed it are known: the ones in flight. ``ProcessPoolExecutor`` fails every one of them, so
each is played again alone in a one-worker pool: the innocent ones are recorded, the one that
kills its worker again comes back as a failed episode with the reason (retried by the next run,
like any failed episode), and the rest of the run goes on in a fresh pool.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from benchmarks.eval.records import safe_text
from benchmarks.eval.suites import EpisodeKey
from benchmarks.eval.worker import Played, PlayerSpec, init_worker, play_in_worker

_DIED = (
    "the worker process playing it died ({reason}), and died again when it was played alone: a crash "
    "in native code, os._exit or the out-of-memory killer; the other episodes went on"
)


def played_in_pool(spec: PlayerSpec, pending: Iterable[EpisodeKey], workers: int) -> Iterator[Played]:
    """Finished episodes in completion order; a dead worker's episodes are replayed one by one."""
    queue = deque(pending)
    while queue:
        suspects, reason = yield from _run(spec, queue, min(workers, len(queue)))
        for key in suspects:  # the worker that died was playing one of these
            died, _ = yield from _run(spec, deque([key]), 1)
            if died:
                yield Played(key, None, None, _DIED.format(reason=reason))


def _run(
    spec: PlayerSpec, queue: deque[EpisodeKey], workers: int
) -> Generator[Played, None, tuple[list[EpisodeKey], str]]:
    """Play from ``queue`` (taking what it submits) until it is empty or a worker dies.

    Returns:
        The episodes in flight when a worker died (none if none did) and the pool's error.
    """
    # spawn, not fork: PyBullet and tool backends hold native state a fork would share.
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=init_worker,
        initargs=(spec, os.getpid()),
    )
    in_flight: dict[Future[Played], EpisodeKey] = {}
    try:
        while queue or in_flight:
            while queue and len(in_flight) < workers:
                try:
                    in_flight[pool.submit(play_in_worker, queue[0])] = queue[0]
                except BrokenProcessPool as exc:
                    return list(in_flight.values()), str(exc)
                queue.popleft()
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            broken = [f for f in done if isinstance(f.exception(), BrokenProcessPool)]
            for future in done:
                if future not in broken:
                    yield _result(future, in_flight.pop(future))
            if broken:  # every other future fails too; those that finished first are kept
                wait(in_flight)
                for future in [f for f in in_flight if not isinstance(f.exception(), BrokenProcessPool)]:
                    yield _result(future, in_flight.pop(future))
                return list(in_flight.values()), str(broken[0].exception())
        return [], ""
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _result(future: Future[Played], key: EpisodeKey) -> Played:
    """The worker's result; anything it raised past the player (its result not picklable) fails that episode."""
    try:
        return future.result()
    except Exception as exc:
        return Played(key, None, None, safe_text(f"{type(exc).__name__}: {exc}"))
