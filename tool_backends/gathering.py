"""One batch of tool rounds across the episodes of a driver: what a batching tool server receives.

Each env owns a client and sends its turn's calls as rounds (``call_many``). When
:class:`~spacetools_env.batch_rollout.BatchRollout` steps its envs concurrently (``step_threads``),
the rounds of its N running episodes arrive at about the same time; a :class:`RoundGatherer` holds
each arriving round for at most ``window_s`` (or until ``max_rounds`` are waiting) and runs all of
them as one batch through ``run_batch``. The default ``run_batch`` runs each session's round on its own
client, in turn (the local oracle needs nothing more); a model-backed or remote backend passes one that
merges them (every ``estimate_depth`` of the batch in one forward pass, one request to a server).

Results do not depend on how rounds were batched: a round is executed by its own session's client, in
its own call order, so an episode sees exactly what it would see alone (the tests compare).

    gatherer = RoundGatherer(window_s=0.005)
    make_env = lambda key: gym.make(key, tool_client=gatherer.factory("oracle"))
    driver = BatchRollout(agent, make_env, batch_size=8, step_threads=8)
    gatherer.stats.largest  # the most sessions seen in one batch
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tool_backends.client import ToolCall, ToolClient
from tool_backends.declaration import ToolSpec
from tool_backends.result import ToolResult
from tool_backends.truth import EpisodeContext


@dataclass(frozen=True)
class SessionRound:
    """One episode's round: its own client (the session) and the calls, in order."""

    client: ToolClient
    calls: Sequence[ToolCall]


def run_each(batch: Sequence[SessionRound]) -> list[list[ToolResult]]:
    """The default batch runner: each round on its own client, in turn."""
    return [list(item.client.call_many(item.calls)) for item in batch]


@dataclass
class GatherStats:
    """Batches run so far: how many, and the sessions in each."""

    sizes: list[int] = field(default_factory=list)

    @property
    def largest(self) -> int:
        return max(self.sizes, default=0)


@dataclass
class _Pending:
    item: SessionRound
    done: threading.Event = field(default_factory=threading.Event)
    results: list[ToolResult] | None = None
    error: BaseException | None = None


class RoundGatherer:
    """Collects rounds from many sessions into batches (see the module docstring).

    Args:
        run_batch: Runs a batch: one result list per round, in the batch's order (default :func:`run_each`).
        window_s: How long the first round of a batch waits for others.
        max_rounds: A batch runs as soon as this many rounds wait.
    """

    def __init__(
        self,
        run_batch: Callable[[Sequence[SessionRound]], list[list[ToolResult]]] = run_each,
        window_s: float = 0.002,
        max_rounds: int = 64,
    ) -> None:
        if window_s < 0 or max_rounds < 1:
            raise ValueError(f"window_s must be >= 0 and max_rounds >= 1, got {window_s!r} and {max_rounds!r}")
        self.run_batch = run_batch
        self.window_s = window_s
        self.max_rounds = max_rounds
        self.stats = GatherStats()
        self._lock = threading.Condition()
        self._waiting: list[_Pending] = []

    def client(self, inner: ToolClient) -> GatheredClient:
        """A client for one env whose rounds go through this gatherer (``inner`` runs them)."""
        return GatheredClient(self, inner)

    def factory(self, backend: str = "oracle", tools: Sequence[str] | None = None, **options: Any) -> Callable[[], Any]:
        """A ``tool_client`` factory for ``gym.make``: a gathered client over ``make_client(backend, ...)``."""
        from tool_backends.backends import make_client

        return lambda: self.client(make_client(backend, tools, **options))

    def submit(self, item: SessionRound) -> list[ToolResult]:
        """Run ``item`` in the next batch; blocks until that batch has run."""
        pending = _Pending(item)
        with self._lock:
            self._waiting.append(pending)
            leader = len(self._waiting) == 1
            self._lock.notify_all()
        if leader:
            self._lead()
        pending.done.wait()
        if pending.error is not None:
            raise pending.error
        assert pending.results is not None
        return pending.results

    def _lead(self) -> None:
        """The first round of a batch waits for the window (or a full batch), then runs the batch."""
        deadline = time.monotonic() + self.window_s
        with self._lock:
            while len(self._waiting) < self.max_rounds and (left := deadline - time.monotonic()) > 0:
                self._lock.wait(left)
            batch, self._waiting = self._waiting[: self.max_rounds], self._waiting[self.max_rounds :]
            if self._waiting:  # the overflow leads the next batch at once
                threading.Thread(target=self._lead, daemon=True).start()
        self.stats.sizes.append(len(batch))
        try:
            outputs = self.run_batch([p.item for p in batch])
            if len(outputs) != len(batch):
                raise RuntimeError(f"run_batch returned {len(outputs)} result lists for {len(batch)} rounds")
        except BaseException as exc:  # every round of the batch learns why
            for p in batch:
                p.error = exc
                p.done.set()
            return
        for p, results in zip(batch, outputs, strict=True):
            p.results = list(results)
            p.done.set()


class GatheredClient:
    """One env's client: rounds go through the gatherer; everything else goes to ``inner``."""

    def __init__(self, gatherer: RoundGatherer, inner: ToolClient) -> None:
        self.gatherer = gatherer
        self.inner = inner

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        return self.inner.specs

    def open_episode(self, episode: EpisodeContext) -> None:
        self.inner.open_episode(episode)

    def call(self, name: str, arguments: Mapping[str, Any]) -> ToolResult:
        return self.call_many([ToolCall(name, arguments)])[0]

    def call_many(self, calls: Sequence[ToolCall]) -> list[ToolResult]:
        return self.gatherer.submit(SessionRound(self.inner, list(calls)))

    def close(self) -> None:
        self.inner.close()
