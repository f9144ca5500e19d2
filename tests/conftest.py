from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import pytest

import spacetools_env  # noqa: F401  (registers the envs)
from spacetools_env.loaders import ENV_VAR

ENV_ID = "SpaceTools-Synth-RelativeDepth-v0"


@pytest.fixture
def env():
    environment = gym.make(ENV_ID)
    yield environment
    environment.close()


@pytest.fixture(scope="session")
def empty_hf_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Hugging Face cache folder that holds nothing (never written to)."""
    return tmp_path_factory.mktemp("empty-hf-cache")


@pytest.fixture
def no_outside_data(monkeypatch: pytest.MonkeyPatch, empty_hf_cache: Path) -> None:
    """Nothing on this machine (a real HF cache, $SPACETOOLS_DATA_DIR) may leak into a test.

    Benchmark test modules use it for every test: ``pytestmark = pytest.mark.usefixtures("no_outside_data")``.
    The HF cache is a session-wide empty folder, not a per-test ``tmp_path``: hundreds of
    parametrised contract tests would otherwise each pay for a temporary folder.
    """
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.delenv("HF_HOME", raising=False)
    monkeypatch.setenv("HF_HUB_CACHE", str(empty_hf_cache))


@pytest.fixture(scope="session", autouse=True)
def _answer_key_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Validations in tests cache their answer keys in a session folder, never the user's ~/.cache."""
    folder = tmp_path_factory.mktemp("spacetools-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SPACETOOLS_CACHE_DIR", str(folder))
        yield
