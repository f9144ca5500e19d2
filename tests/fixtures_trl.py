"""Helpers of the TRL bridge tests: tiny checkpoints of the kit, and the env ids they play."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
import torch

from agents.models.tiny import write_checkpoint

DEPTH = "SpaceTools-Synth-RelativeDepth-v0"
RELATION = "SpaceTools-Synth-Relation2D-v0"


def tiny_checkpoints(factory: pytest.TempPathFactory, families: Iterable[str]) -> dict[str, Path]:
    """Family -> a freshly written tiny checkpoint folder of the kit (``agents.models.tiny``)."""
    folder = factory.mktemp("tiny")
    return {family: write_checkpoint(family, folder / family) for family in families}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Torch on one thread for the module (tests share the machine's cores), restored after."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
