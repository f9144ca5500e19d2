"""The hf agent's per-episode key/value cache: the same text as re-reading the conversation, less computed."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import ClassVar

import gymnasium as gym
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from agents.models import tiny  # noqa: E402
from agents.models.hf import HFAgent  # noqa: E402
from agents.models.kv_cache import IncrementalDecoder, Row, _prefill_groups, kv_kind  # noqa: E402
from agents.models.prompt_prefix import PrefixTokens  # noqa: E402
from spacetools_env import messages as msg  # noqa: E402
from spacetools_env.batch_rollout import BatchRollout, WorkItem  # noqa: E402
from spacetools_env.rollout import Turn  # noqa: E402
from tests.fixtures_trl import one_torch_thread, tiny_checkpoints  # noqa: E402, F401  (autouse: one thread)

ENV_ID = "SpaceTools-Synth-RelativeDepth-v0"


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_checkpoints(tmp_path_factory, tiny.FAMILIES)


def _play(path: Path, kv_cache: bool, batch_size: int) -> tuple[dict[str, list[str]], HFAgent]:
    agent = HFAgent(model=str(path), max_turn_tokens=24, kv_cache=kv_cache)
    work = [WorkItem(f"ep{i}", ENV_ID, seed=i, options={"index": i, "split": "test"}) for i in range(5)]
    driver = BatchRollout(agent, lambda key: gym.make(key, max_turns=4), batch_size)
    try:
        actions = {}
        for result in driver.play(work):
            assert result.trajectory is not None, result.error
            actions[result.work.episode_id] = list(result.trajectory.actions)
        return actions, agent
    finally:
        driver.close()


@pytest.mark.parametrize("family", sorted(tiny.FAMILIES))
def test_cached_play_writes_what_rereading_writes_and_computes_fewer_tokens(
    checkpoints: dict[str, Path], family: str
) -> None:
    plain, uncached = _play(checkpoints[family], kv_cache=False, batch_size=1)
    batched, agent = _play(checkpoints[family], kv_cache=True, batch_size=3)
    assert uncached.incremental is None and agent.incremental is not None
    assert batched == plain
    assert sum(len(a) for a in plain.values()) > len(plain)  # multi-turn episodes: a cache had something to give
    stats = agent.incremental.stats
    assert stats["computed_tokens"] < 0.7 * stats["prompt_tokens"]  # later turns computed only their new tokens
    assert agent.describe()["generation"]["kv_cache"] is True and uncached.describe()["generation"]["kv_cache"] is False
    assert agent.episodes == {}  # every cache freed at end_episode


@pytest.mark.parametrize("family", sorted(tiny.FAMILIES))
def test_a_tool_image_mid_episode_is_encoded_alone_and_gives_the_uncached_text(
    checkpoints: dict[str, Path], family: str
) -> None:
    env = gym.make(ENV_ID, tools=["vision_ops.crop"], tool_images=True, max_turns=3)
    observation, info = env.reset(seed=0)
    call = '<tool_call>{"name": "vision_ops.crop", "arguments": {"x1": 0.1, "y1": 0.1, "x2": 0.6, "y2": 0.5, ' \
           '"image_index": 0}}</tool_call>'
    replies, _, _, _, info = env.step(call)
    first = Turn("crop", observation, info)
    second = Turn("crop", [*observation, msg.assistant_message(call), *replies], info)
    texts = {}
    for kv_cache in (False, True):
        agent = HFAgent(model=str(checkpoints[family]), max_turn_tokens=6, kv_cache=kv_cache)
        texts[kv_cache] = [agent.act([first])[0], agent.act([second])[0]]
        if kv_cache:
            kv = agent.episodes["crop"].kv
            assert kv is not None and len(kv.tokens) == kv.layers[0][0].shape[1]
            assert agent.incremental is not None
            stats = agent.incremental.stats
            assert stats["computed_tokens"] < stats["prompt_tokens"]  # the first image and the prefix were reused
    assert texts[True] == texts[False]


def test_unsupported_models_and_the_off_switch_use_generate(checkpoints: dict[str, Path]) -> None:
    agent = HFAgent(model=str(checkpoints["qwen2_5_vl"]), kv_cache=False)
    assert agent.incremental is None and kv_kind(agent.model) == "mrope"
    agent.model.config.text_config.layer_types = ["sliding_attention", "full_attention"]
    assert kv_kind(agent.model) is None  # sliding windows are not handled by the cache's padding
    with pytest.raises(ValueError, match="kv_cache must be true or false"):
        HFAgent(model=str(checkpoints["qwen2_5_vl"]), kv_cache="yes")


def test_prefill_groups_never_pad_a_row_past_one_and_a_half_times_its_tokens() -> None:
    lengths = [373, 98, 101, 120, 380, 2, 3]
    groups = _prefill_groups(lengths)
    assert sorted(r for g in groups for r in g) == list(range(len(lengths)))
    for group in groups:
        assert max(lengths[r] for r in group) <= 1.5 * max(1, min(lengths[r] for r in group))
    assert [sorted(g) for g in groups] == [[5, 6], [1, 2, 3], [0, 4]]


def test_prompts_are_tokenized_from_their_prefix_and_checked_against_whole_tokenization(
    checkpoints: dict[str, Path],
) -> None:
    _, agent = _play(checkpoints["qwen2_5_vl"], kv_cache=True, batch_size=2)
    assert agent.prefixes.enabled and agent.prefixes.checks_left == 0  # three batches compared, all equal


def test_a_prefix_whose_tokens_differ_from_the_whole_prompts_turns_the_shortcut_off(
    checkpoints: dict[str, Path],
) -> None:
    env = gym.make(ENV_ID, max_turns=3)
    observation, info = env.reset(seed=0)
    first = Turn("ep", observation, info)
    reply = msg.tool_message("roborefer.detect_one", "Detected 1 instance(s) of 'mug': [(0.5, 0.5)]")
    second = Turn("ep", [*observation, msg.assistant_message("<tool_call>{}</tool_call>"), reply], info)
    plain = HFAgent(model=str(checkpoints["qwen2_5_vl"]), max_turn_tokens=6, kv_cache=False)
    expected = [plain.act([first])[0], plain.act([second])[0]]
    agent = HFAgent(model=str(checkpoints["qwen2_5_vl"]), max_turn_tokens=6)
    got = [agent.act([first])[0]]
    episode = agent.episodes["ep"]
    episode.prefix = replace(episode.prefix, ids=episode.prefix.ids.flip(0))  # tokens that are not the text's
    with pytest.warns(UserWarning, match="tokenized whole from now on"):
        got.append(agent.act([second])[0])
    assert not agent.prefixes.enabled and got == expected


def test_added_tokens_that_strip_whitespace_disable_the_shortcut() -> None:
    class Added:
        def __init__(self, content: str, lstrip: bool) -> None:
            self.content, self.lstrip, self.rstrip = content, lstrip, False

    class Tokenizer:
        added_tokens_decoder: ClassVar[dict[int, Added]] = {0: Added("<|im_start|>", False), 1: Added("<mask>", True)}

        def convert_tokens_to_ids(self, token: str) -> int:
            return 0 if token == "<|im_start|>" else 1

    assert not PrefixTokens(Tokenizer(), set()).enabled
    Tokenizer.added_tokens_decoder = {0: Added("<|im_start|>", False)}
    assert PrefixTokens(Tokenizer(), set()).enabled


@pytest.mark.parametrize("family", ["qwen2_5_vl", "llava"])
def test_continued_positions_equal_the_models_own_for_the_whole_prompt(
    checkpoints: dict[str, Path], family: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Text turns continue the cached position ids; they must be what the model computes on the whole prompt."""
    compared = []
    original = IncrementalDecoder._positions

    def both(self: IncrementalDecoder, row: Row, reused: int = 0) -> torch.Tensor:
        fast = original(self, row, reused)
        whole = original(self, replace(row, cache=None), 0)
        assert torch.equal(fast, whole)
        compared.append(reused)
        return fast

    monkeypatch.setattr(IncrementalDecoder, "_positions", both)
    _play(checkpoints[family], kv_cache=True, batch_size=2)
    assert sum(1 for n in compared if n) > 5  # later turns took the continued path
