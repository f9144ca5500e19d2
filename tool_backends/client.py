"""How the environment reaches tools: a client with a per-episode session.

The env only ever talks to a :class:`ToolClient`. :class:`LocalToolClient` runs toolsets in the
env's own process; a remote client (the Ray tool server) implements the same five members, which
is why episode data is handed over once in :meth:`ToolClient.open_episode` and every call carries
only its name and already-resolved arguments.

:meth:`ToolClient.call_many` takes a whole round of one episode's calls at once (the env sends
each turn's calls as rounds: :mod:`spacetools_env.tool_rounds`), so a server can batch or pipeline
them; results come back in call order and must equal calling :meth:`ToolClient.call` on each in
turn (the call number seeds each call's RNG, so the order is part of the result).

What a remote tool server needs to keep results bit-identical while batching across episodes:

- One client per env, so per episode in flight. ``open_episode`` registers the episode (images,
  ground truth, seed, ``tool_images``) under a session id; ``call_many`` sends (session, round).
- Within a session, a round runs in order: the call number (1, 2, ... over the episode, counting
  the calls of known tools that reached it) seeds the call's RNG, and with ``tool_images`` an image a
  call returns is addressable by the next call. Rounds of different sessions are independent, so
  a batcher may merge them (every ``estimate_depth`` of N episodes in one forward pass).
- The ``$variable`` store stays in the env: arguments arrive resolved and may hold arrays
  (``"$depth_map"`` becomes the depth array), so the transport carries numpy arrays.
- The rounds of one ``BatchRollout`` reach the clients together when it steps its envs concurrently
  (``step_threads``); a :class:`~tool_backends.gathering.RoundGatherer` in front of the clients then
  hands a batcher or server every running episode's round of the turn as one batch. Envs are
  independent, so the results stay the same.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from tool_backends.declaration import ToolSpec
from tool_backends.result import ToolError, ToolInfrastructureError, ToolResult
from tool_backends.toolset import Toolset
from tool_backends.truth import EpisodeContext, GroundTruth


class CallContext:
    """What one tool call may read: the episode, and an RNG private to this call.

    The RNG is seeded by ``(episode seed, call number)`` and built on first use: exact tools
    never draw, and building a generator costs more than the rest of a call's overhead.
    """

    __slots__ = ("_rng", "_seed", "episode")

    def __init__(self, episode: EpisodeContext, seed: Sequence[int]) -> None:
        self.episode = episode
        self._seed = seed
        self._rng: np.random.Generator | None = None

    @property
    def rng(self) -> np.random.Generator:
        if self._rng is None:
            self._rng = np.random.default_rng(list(self._seed))
        return self._rng

    def image(self, index: int) -> np.ndarray:
        """The conversation's image ``index``; a clear error when it does not exist."""
        count = len(self.episode.images)
        if not 0 <= index < count:
            valid = f"0..{count - 1}" if count else "none"
            raise ToolError(
                f"image_index {index} is out of range: the conversation has {count} image(s) "
                f"(valid indices: {valid})"
            )
        return self.episode.images[index]

    def truth(self, index: int) -> GroundTruth:
        """Ground truth of image ``index`` (oracle tools only).

        Raises:
            ToolError: the image has no ground truth (a benchmark that ships no depth or masks).
                Reported to the model rather than raised out of ``step()``, so agents that never
                call tools, or call only truth-free ones, still run on such benchmarks.
        """
        self.image(index)
        truth = self.episode.truth[index] if index < len(self.episode.truth) else None
        first_returned = len(self.episode.images) - self.episode.returned_images
        if truth is None and index >= first_returned:
            raise ToolError(
                f"image {index} was returned by a tool (a crop or zoom) and has no ground truth, which the oracle "
                f"backend answers from; call this tool on a question image (image_index 0..{first_returned - 1})"
            )
        if truth is None:
            raise ToolError(
                f"the oracle backend has no ground truth for image {index} (this item ships no depth or masks); "
                "run this benchmark with a model or replay tool backend"
            )
        return truth


class ToolCall(NamedTuple):
    """One call with its arguments already resolved (no ``$variable`` left)."""

    name: str
    arguments: Mapping[str, Any]


@runtime_checkable
class ToolClient(Protocol):
    """The env's only view of tools."""

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        """Declarations of the tools this client exposes, in a stable order."""
        ...

    def open_episode(self, episode: EpisodeContext) -> None:
        """Start a session: later calls see these images and this ground truth.

        With ``episode.tool_images``, images a call returns are appended to the session's images
        (:meth:`EpisodeContext.with_tool_images`), as the env appends them to the conversation; a
        later call of the same :meth:`call_many` may address them, so a client that runs a round's
        calls concurrently must still append in call order.
        """
        ...

    def call(self, name: str, arguments: Mapping[str, Any]) -> ToolResult:
        """Run one tool call; bad calls return a failed result, only infrastructure faults raise."""
        ...

    def call_many(self, calls: Sequence[ToolCall]) -> list[ToolResult]:
        """Run calls of the open episode as if by :meth:`call` one after another; one result per call, in order."""
        ...

    def close(self) -> None:
        """Release resources (processes, connections)."""
        ...


class LocalToolClient:
    """Runs toolsets in-process.

    Args:
        toolsets: Toolset instances whose tools are offered.
        include: Exact tool names to expose (e.g. only ``roborefer.detect_one`` for Phase 1);
            None exposes them all. Unknown names raise ``ValueError`` listing the available ones.
    """

    def __init__(self, toolsets: Iterable[Toolset], include: Sequence[str] | None = None) -> None:
        tools = {spec.name: (spec, fn) for ts in toolsets for spec, fn in ts.tools()}
        if include is not None:
            missing = [n for n in include if n not in tools]
            if missing:
                raise ValueError(f"unknown tool(s) {missing}; available: {sorted(tools)}")
            tools = {n: tools[n] for n in include}
        self._tools = tools
        self._specs = tuple(spec for spec, _ in tools.values())
        self._episode = EpisodeContext(images=())
        self._calls = 0

    @property
    def specs(self) -> tuple[ToolSpec, ...]:
        return self._specs

    def open_episode(self, episode: EpisodeContext) -> None:
        self._episode = episode
        self._calls = 0

    def call(self, name: str, arguments: Mapping[str, Any]) -> ToolResult:
        start = time.perf_counter()
        entry = self._tools.get(name)
        if entry is None:
            return ToolResult.error(_unknown_tool_message(name, list(self._tools)))
        spec, fn = entry
        self._calls += 1
        ctx = CallContext(self._episode, (self._episode.seed, self._calls))
        try:
            result = fn(ctx, **spec.bind(arguments))
        except ToolError as exc:
            result = ToolResult.error(str(exc))
        except ToolInfrastructureError:
            raise
        except Exception as exc:  # a tool choking on odd input must not end the episode
            result = ToolResult.error(f"{name} failed: {type(exc).__name__}: {exc}")
        if result.images and self._episode.tool_images:  # they join the conversation: later calls may use them
            self._episode = self._episode.with_tool_images(result.images)
        return replace(result, elapsed_s=time.perf_counter() - start)

    def call_many(self, calls: Sequence[ToolCall]) -> list[ToolResult]:
        """In order, in this process: exactly :meth:`call` on each."""
        return [self.call(name, arguments) for name, arguments in calls]

    def close(self) -> None:
        self._episode = EpisodeContext(images=())


def _unknown_tool_message(name: str, available: list[str]) -> str:
    # difflib's work grows with the name's length; no tool name is near a 100-character one
    hint = difflib.get_close_matches(name, available, n=1, cutoff=0.5) if len(name) <= 100 else []
    suggestion = f" Did you mean '{hint[0]}'?" if hint else ""
    shown = name if len(name) <= 60 else name[:57] + "..."
    return f"Unknown tool '{shown}'; available: {available}.{suggestion}"
