"""A third-party family registered in under 60 lines passes the same conformance kit as ours."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import ClassVar

import gymnasium as gym

from spacetools_env.testing import TaskConformance

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "register_custom_family.py"
sys.path.insert(0, str(EXAMPLE.parent))
ENV_ID = importlib.import_module("register_custom_family").ENV_ID


def test_example_is_short_and_registers_an_id():
    assert len(EXAMPLE.read_text().splitlines()) < 60
    assert ENV_ID == "SpaceTools-Synth-ObjectCount-v0" and ENV_ID in gym.registry


class TestExampleFamilyConformance(TaskConformance):
    env_id = ENV_ID
    make_kwargs: ClassVar[dict] = {"difficulty": "easy"}
