"""Registry-wide contract: every registered id passes the conformance kit (new tasks are checked automatically)."""

from __future__ import annotations

import importlib

import pytest

import spacetools_env
from spacetools_env import testing
from spacetools_env.registration import BUILTIN_FAMILY_MODULES

IDS = spacetools_env.registered_ids(needs_data=False)  # benchmark ids: tests/test_benchmark_envs.py


def test_every_builtin_family_is_registered():
    modules = [importlib.import_module(f"spacetools_env.tasks.{m}") for m in BUILTIN_FAMILY_MODULES]
    assert {f"SpaceTools-Synth-{m.FAMILY.name}-v{m.FAMILY.version}" for m in modules} <= set(IDS)
    assert len(modules) == 9


@pytest.mark.parametrize("check", testing.ALL_CHECKS, ids=lambda c: c.__name__)
@pytest.mark.parametrize("env_id", IDS)
def test_conformance(env_id, check):
    check(env_id)


@pytest.mark.parametrize("env_id", IDS)
def test_docstring_sections(env_id):
    family = spacetools_env.get_family(env_id.split("-")[2])
    assert "Version history" in family.description, f"{family.name}: docstring lacks 'Version history'"
