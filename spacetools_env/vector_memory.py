"""Chat observations through ``AsyncVectorEnv``'s shared-memory path, so ``gym.make_vec(..., "async")`` works.

Gymnasium's ``AsyncVectorEnv`` defaults to ``shared_memory=True``: workers write each observation
into a buffer made by ``create_shared_memory(space)`` and the main process reads a view of it.
That buffer is a fixed-size array, which a conversation (any text, any number of images) cannot
fit, so for a custom space Gymnasium fails unless the space registers its own buffer. This module
registers one for :class:`~spacetools_env.spaces.ChatMessages` through Gymnasium's documented
``singledispatch`` hooks: a list held by a ``multiprocessing`` manager, one slot per env, holding
each env's latest observation. Latest-value slots (not queues) mean an observation nobody reads
never piles up in a worker.

The view the main process gets is a read-only sequence; ``AsyncVectorEnv(copy=True)`` (the default)
deep-copies it into a plain tuple of message lists, the same as ``SyncVectorEnv`` returns. With
``copy=False`` it stays a live view, overwritten by the next step, as Gymnasium's array buffers are.
``shared_memory=False`` (what :func:`spacetools_env.make_vec` passes) skips the manager and is faster.
"""

from __future__ import annotations

import multiprocessing as mp
from collections.abc import Iterator, Sequence
from types import ModuleType
from typing import Any, overload

from gymnasium.vector.utils import create_shared_memory, read_from_shared_memory, write_to_shared_memory

from spacetools_env.spaces import ChatMessages


class ChatSlots:
    """One manager-held slot per env for its latest observation (picklable to worker processes)."""

    def __init__(self, n: int, ctx: ModuleType | Any = mp) -> None:
        # the manager (its server process) lives as long as this object; the view keeps it
        self._manager = ctx.Manager()
        self.slots = self._manager.list([[] for _ in range(n)])

    def __getstate__(self) -> dict[str, Any]:
        return {"slots": self.slots}  # workers need the proxy, not the manager

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._manager = None
        self.slots = state["slots"]


class ChatBatchView(Sequence[list]):
    """The main process's view of every env's latest observation; ``deepcopy`` gives a plain tuple."""

    def __init__(self, buffer: ChatSlots, n: int) -> None:
        self._buffer = buffer
        self._n = n

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> list: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[list, ...]: ...

    def __getitem__(self, index: int | slice) -> list | tuple[list, ...]:
        if isinstance(index, slice):
            return tuple(self)[index]
        if not -self._n <= index < self._n:
            raise IndexError(f"env index {index} out of range for {self._n} envs")
        return self._buffer.slots[index]

    def __iter__(self) -> Iterator[list]:
        return iter(self._buffer.slots[:])

    def __deepcopy__(self, memo: dict[int, Any]) -> tuple[list, ...]:
        # the manager already hands back a fresh unpickled copy of every slot
        return tuple(self)

    def __repr__(self) -> str:
        return f"ChatBatchView(num_envs={self._n})"


@create_shared_memory.register(ChatMessages)
def _create_chat_slots(space: ChatMessages, n: int = 1, ctx: ModuleType = mp) -> ChatSlots:
    return ChatSlots(n, ctx)


@read_from_shared_memory.register(ChatMessages)
def _read_chat_slots(space: ChatMessages, shared_memory: ChatSlots, n: int = 1) -> ChatBatchView:
    return ChatBatchView(shared_memory, n)


@write_to_shared_memory.register(ChatMessages)
def _write_chat_slot(space: ChatMessages, index: int, value: list, shared_memory: ChatSlots) -> None:
    shared_memory.slots[index] = value
