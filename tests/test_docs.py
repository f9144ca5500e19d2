"""Generated documentation stays true to the code."""

from __future__ import annotations

from pathlib import Path

from spacetools_env.docs import render_env_docs
from spacetools_env.registration import BUILTIN_FAMILY_MODULES

ROOT = Path(__file__).resolve().parents[1]


def test_env_docs_are_regenerated():
    text = (ROOT / "docs" / "envs.md").read_text()
    assert text == render_env_docs(), "docs/envs.md is stale: run `python -m spacetools_env.docs > docs/envs.md`"


def test_architecture_page_names_every_package_module():
    text = (ROOT / "docs" / "architecture.md").read_text()
    for name in ("env.py", "parsing.py", "client.py", "registration.py", "testing.py", "rollout.py"):
        assert name in text
    assert len(BUILTIN_FAMILY_MODULES) == 9
