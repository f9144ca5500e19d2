"""The contract every benchmark env id meets, as a test mixin: a new loader gets it by adding a row.

Subclass :class:`BenchmarkContract` in a class named ``Test...``, list the ids, give a right and a
wrong answer for item 0 of each, and provide a ``data_dir`` fixture (the module's, or the class's
own) naming a folder that holds every listed id's data::

    class TestBlinkContract(BenchmarkContract):
        env_ids = ("SpaceTools-BLINK-Counting-v0",)
        answers = {"SpaceTools-BLINK-Counting-v0": ("(B)", "The answer is (B).")}

        @pytest.fixture(scope="class")
        def data_dir(self, tmp_path_factory):
            return str(build_blink(tmp_path_factory.mktemp("blink")))

Every test then runs once per id (``test_conformance`` once per id and conformance check):
registration, the family docstring, the conformance kit, right/wrong answers, the missing-data
error at ``gym.make``, every item decoding with the oracle scoring 1, the item cache and the
shared opened file, split/index errors, and a source that pickles small and reopens.

The module using it should also isolate itself from data on the machine:
``pytestmark = pytest.mark.usefixtures("no_outside_data")`` (see ``conftest.py``).
"""

from __future__ import annotations

import pickle
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import gymnasium as gym
import pytest

import spacetools_env
from spacetools_env import testing
from spacetools_env.loaders import BenchmarkDataNotFoundError

PICKLED_SOURCE_LIMIT = 2_000  # bytes: a source pickles as its arguments, never its data


def _source(env_id: str, data_dir: str | Path) -> Any:
    env: Any = gym.make(env_id, data_dir=str(data_dir)).unwrapped
    return env.source


def _split(env_id: str) -> str:
    return gym.spec(env_id).kwargs["split"]


def _check_id(check: Callable[..., None]) -> str:
    return check.__name__


class BenchmarkContract:
    """What every benchmark env id must do (see the module docstring).

    Attributes:
        env_ids: The ids checked.
        answers: env id -> (a right answer, a wrong answer) for item 0 of its default split.
    """

    env_ids: ClassVar[Sequence[str]] = ()
    answers: ClassVar[Mapping[str, tuple[str, str]]] = {}

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        # pytest calls this hook on the class: it spreads each test over this class's rows.
        if "env_id" in metafunc.fixturenames:
            metafunc.parametrize("env_id", list(self.env_ids))
        if "check" in metafunc.fixturenames:
            metafunc.parametrize("check", testing.ALL_CHECKS, ids=_check_id)

    # ------------------------------------------------------------------------ registration
    def test_registered_as_needing_data_with_a_default_split(self, env_id: str) -> None:
        assert env_id in spacetools_env.registered_ids(needs_data=True)
        assert env_id not in spacetools_env.registered_ids(needs_data=False)
        assert isinstance(gym.spec(env_id).kwargs.get("split"), str)

    def test_docstring_has_version_history(self, env_id: str) -> None:
        assert "Version history" in spacetools_env.get_family(gym.spec(env_id).kwargs["task"]).description

    # ------------------------------------------------------------------------ episodes
    def test_conformance(self, env_id: str, check: Callable[..., None], data_dir: str) -> None:
        check(env_id, data_dir=data_dir)

    def test_right_answer_scores_one_and_wrong_answer_zero(self, env_id: str, data_dir: str) -> None:
        assert env_id in self.answers, f"add a (right, wrong) answer for item 0 of {env_id!r} to the answers table"
        right, wrong = self.answers[env_id]
        env = gym.make(env_id, data_dir=data_dir)
        for answer, expected in ((right, 1.0), (wrong, 0.0)):
            env.reset(options={"index": 0})
            _, _, terminated, _, info = env.step(f"<think>done</think><answer>{answer}</answer>")
            assert terminated and info["score"] == expected, (answer, info["score"])
        env.close()

    # ------------------------------------------------------------------------ data on disk
    def test_gym_make_without_data_names_the_places_looked(self, env_id: str, tmp_path: Path) -> None:
        nowhere = tmp_path / "nowhere"
        with pytest.raises(BenchmarkDataNotFoundError) as caught:
            gym.make(env_id, data_dir=str(nowhere))  # at make, not at the first reset
        message = str(caught.value)
        assert isinstance(caught.value, FileNotFoundError)
        assert str(nowhere) in message and "Fix" in message, message
        assert caught.value.searched and nowhere in caught.value.searched[0].parents, "data_dir= is looked at first"
        assert str(pickle.loads(pickle.dumps(caught.value))) == message

    def test_every_item_decodes_and_the_oracle_scores_one(self, env_id: str, data_dir: str) -> None:
        source, split = _source(env_id, data_dir), _split(env_id)
        family = spacetools_env.get_family(gym.spec(env_id).kwargs["task"])
        count = source.num_items(split)
        assert source.validate() >= count > 0
        items = [source.get(split, index) for index in range(count)]
        assert len({item.item_id for item in items}) == count, "item ids are unique"
        for item in items:
            assert family.score(family.oracle(item), item) == 1.0, item.item_id
            if family.counterexample is not None:
                assert family.score(family.counterexample(item), item) == 0.0, item.item_id

    def test_items_are_cached_and_sources_share_the_opened_file(self, env_id: str, data_dir: str) -> None:
        first, second, split = _source(env_id, data_dir), _source(env_id, data_dir), _split(env_id)
        item = first.get(split, 0)
        assert first.get(split, 0) is item, "a repeated get is a cache hit"
        assert second._open() is first._open(), "sources of one file share the opened file"

    def test_unknown_split_and_index_out_of_range_are_value_errors(self, env_id: str, data_dir: str) -> None:
        source, split = _source(env_id, data_dir), _split(env_id)
        with pytest.raises(ValueError, match=r"unknown split 'no-such-split' for "):
            source.num_items("no-such-split")
        count = source.num_items(split)
        for index in (-1, count):
            with pytest.raises(ValueError, match=rf"index {index} is out of range for .* \(0\.\.{count - 1}\)"):
                source.get(split, index)

    def test_source_pickles_small_and_reopens(self, env_id: str, data_dir: str) -> None:
        source, split = _source(env_id, data_dir), _split(env_id)
        item = source.get(split, 0)
        data = pickle.dumps(source)
        assert len(data) < PICKLED_SOURCE_LIMIT, f"{len(data)} bytes: the source pickled its data"
        assert pickle.loads(data).get(split, 0).item_id == item.item_id
