"""What every oracle toolset shares: per-tool noise settings and a per-image cache.

Oracle tools answer from an image's :class:`~tool_backends.truth.GroundTruth`. That object is
immutable, so anything derived from it alone (a point cloud, a label's mask, a referent index)
is computed once per image and kept while the ground truth is alive.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, TypeVar

import numpy as np

from tool_backends.noise import NO_NOISE, ToolNoise
from tool_backends.toolset import Toolset
from tool_backends.truth import GroundTruth

T = TypeVar("T")

IMAGE_INDEX_DOC = (
    "0-based index of an image already present in the conversation. Use this to reference an "
    "inline image by its order (0 = first, 1 = second, ...)."
)


class TruthCache:
    """Values derived from the most recently used :class:`GroundTruth` objects.

    Keyed by ``id()`` (ground truths hold arrays, so they are not hashable) and checked with a
    weak reference, so a new object that reuses a dead one's id never sees stale entries.
    At most ``max_truths`` are kept: items stay alive in the env's item cache, and a point cloud
    per cached item would multiply an env's memory (an episode uses one image, rarely two).
    """

    def __init__(self, max_truths: int = 2) -> None:
        self.max_truths = max_truths
        self._entries: dict[int, tuple[weakref.ref[GroundTruth], dict[Any, Any]]] = {}

    def get(self, truth: GroundTruth, key: Any, compute: Callable[[], T]) -> T:
        entry = self._entries.pop(id(truth), None)
        if entry is None or entry[0]() is not truth:
            entry = (weakref.ref(truth, self._forget(id(truth))), {})
        self._entries[id(truth)] = entry  # most recently used last
        while len(self._entries) > self.max_truths:
            del self._entries[next(iter(self._entries))]
        values = entry[1]
        if key not in values:
            values[key] = compute()
        return values[key]

    def _forget(self, ident: int) -> Callable[[weakref.ref[GroundTruth]], None]:
        owner = weakref.ref(self)  # no reference cycle through the callback

        def forget(ref: weakref.ref[GroundTruth]) -> None:
            cache = owner()
            if cache is not None and ident in cache._entries and cache._entries[ident][0] is ref:
                del cache._entries[ident]

        return forget

    def __len__(self) -> int:
        return len(self._entries)

    # Weak references do not pickle; a cache is rebuilt on demand, so an env pickles with it empty.
    def __getstate__(self) -> dict[str, Any]:
        return {"max_truths": self.max_truths}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.max_truths = state.get("max_truths", 2)
        self._entries = {}


def read_only(array: np.ndarray) -> np.ndarray:
    """A non-writeable view: stored variables are shared between calls and must not change."""
    view = array.view()
    view.flags.writeable = False
    return view


class OracleToolset(Toolset):
    """Base of the oracle toolsets.

    Args:
        noise: Noise per full tool name (``"sam2.segment_from_point"``) or namespace (``"sam2"``),
            a full name winning over its namespace; keys of other toolsets are ignored here
            (:func:`~tool_backends.oracle.oracle_toolsets` checks them all).

    Attributes:
        noisy_tools: Method names whose answers a :class:`ToolNoise` can perturb; the other
            tools compute exactly on their inputs and accept no noise.
    """

    noisy_tools: ClassVar[tuple[str, ...]] = ()

    def __init__(self, noise: Mapping[str, ToolNoise] | None = None) -> None:
        noise = dict(noise or {})
        self._noise = {}
        for method in self.noisy_tools:
            setting = noise.get(f"{self.namespace}.{method}", noise.get(self.namespace, NO_NOISE))
            self._noise[method] = setting if isinstance(setting, ToolNoise) else ToolNoise(**setting)
        self._cache = TruthCache()

    def noise(self, method: str) -> ToolNoise:
        """The noise model of ``namespace.method`` (exact unless configured)."""
        return self._noise.get(method, NO_NOISE)

    @classmethod
    def noise_keys(cls) -> tuple[str, ...]:
        """Keys of a noise mapping that address this toolset's noisy tools."""
        if not cls.noisy_tools:
            return ()
        return (cls.namespace, *(f"{cls.namespace}.{m}" for m in cls.noisy_tools))


__all__ = ["IMAGE_INDEX_DOC", "OracleToolset", "TruthCache", "read_only"]
