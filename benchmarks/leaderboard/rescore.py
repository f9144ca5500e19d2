"""Ground truth rebuilt from the env, and each episode re-scored by its family's official scorer.

The suite in the manifest is resolved again with today's code: its version must equal the
frozen suite's, and the expected episodes are that suite's list (ids x split x items). For each
env id the env is built once, ``gym.make(env_id, **make_kwargs, data_dir=...)`` with the
manifest's ``make_kwargs`` (minus keys that would load code or another item source), and every
item is fetched with ``reset(options={"index": i, "split": split})``. The answer is recovered from
the last recorded action with :func:`spacetools_env.parsing.parse_action`; the reported score is
compared with ``family.score(answer, item)`` and never used.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym

import spacetools_env  # noqa: F401  (registers the envs)
from benchmarks.eval.records import jsonable
from benchmarks.eval.suites import PAPER_EVAL_KEYS, EpisodeKey, Suite, is_synthetic, resolve_suite
from spacetools_env.parsing import parse_action

SCORE_TOLERANCE = 1e-9
UNSAFE_MAKE_KWARGS = frozenset({"tool_client", "tool_backend", "tool_options", "source", "task", "render_mode"})
"""``make_kwargs`` never passed on: they choose code (clients, backends, sources), not questions."""
_NOT_PASSED = frozenset({"data_dir", "num_items", "split"})
"""Set by the validator instead: its data, the suite's split, and item counts (which bound, never change, items)."""
_TASK_KEYS = ("family", "version", "env_id", "item_id", "split", "index")


class SuiteError(ValueError):
    """The manifest's suite cannot be checked: unknown, a different version, or its data is missing."""


def frozen_suite(manifest: Mapping[str, Any]) -> Suite:
    """The current frozen suite the manifest names, with its version checked.

    Raises:
        SuiteError: naming the field and the versions.
    """
    suite = manifest.get("suite")
    if not isinstance(suite, dict) or not all(isinstance(suite.get(k), str) for k in ("spec", "version")):
        raise SuiteError(
            "manifest.json 'suite' must be an object with string 'spec' and 'version' (as spacetools eval writes)"
        )
    episodes = suite.get("episodes")
    if episodes is not None and (not isinstance(episodes, int) or isinstance(episodes, bool) or episodes < 1):
        raise SuiteError(f"manifest.json suite.episodes must be a positive integer or null, got {episodes!r}")
    try:
        current = resolve_suite(suite["spec"], episodes)
    except ValueError as exc:
        raise SuiteError(f"manifest.json suite.spec {suite['spec']!r} is not a known suite: {exc}") from None
    if current.version != suite["version"]:
        raise SuiteError(
            f"suite {current.name!r} is version {current.version} today, the submission was run on version "
            f"{suite['version']!r}; re-run `spacetools eval --suite {suite['spec']}` with the current code"
        )
    return current


def make_kwargs_of(manifest: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """env id -> the ``gym.make`` keyword arguments the manifest records (unsafe keys and data_dir removed)."""
    out: dict[str, dict[str, Any]] = {}
    for entry in manifest.get("envs") or []:
        if isinstance(entry, dict) and isinstance(entry.get("env_id"), str):
            kwargs = entry.get("make_kwargs") if isinstance(entry.get("make_kwargs"), dict) else {}
            out[entry["env_id"]] = {k: v for k, v in kwargs.items() if k not in UNSAFE_MAKE_KWARGS | _NOT_PASSED}
    return out


def unsafe_make_kwargs(manifest: Mapping[str, Any]) -> list[str]:
    """``env_id: key`` for every make kwarg that would choose code rather than questions."""
    found = []
    for entry in manifest.get("envs") or []:
        if isinstance(entry, dict) and isinstance(entry.get("make_kwargs"), dict):
            found += [f"{entry.get('env_id')}: {k}" for k in sorted(set(entry["make_kwargs"]) & UNSAFE_MAKE_KWARGS)]
    return found


@dataclass
class Rebuilt:
    """One env rebuilt for re-scoring, with its split and item count."""

    env: gym.Env
    split: str
    count: int


class GroundTruth:
    """Builds each env of a suite once; gives the expected keys and re-scores records against it."""

    def __init__(self, suite: Suite, make_kwargs: Mapping[str, dict[str, Any]], data_dir: str | None) -> None:
        self.suite = suite
        self.data_dir = data_dir
        self.envs: dict[str, Rebuilt] = {}
        try:
            for env_id in suite.env_ids:
                self.envs[env_id] = self._build(env_id, dict(make_kwargs.get(env_id, {})))
        except BaseException:
            self.close()
            raise

    def _build(self, env_id: str, kwargs: dict[str, Any]) -> Rebuilt:
        """``env_id`` made with the submission's kwargs, the suite's split and the validator's data."""
        suite, data_dir = self.suite, self.data_dir
        if suite.split is not None:  # else the benchmark's own split: a submission may not pick another
            kwargs["split"] = suite.split
        if data_dir is not None:
            kwargs["data_dir"] = data_dir
        env = gym.make(env_id, **kwargs)
        split = env.unwrapped.config.split
        try:
            available = env.unwrapped.source.num_items(split)
        except (OSError, ValueError) as exc:
            env.close()
            raise SuiteError(f"cannot rebuild {env_id} to re-score it: {exc}") from exc
        count = available if suite.episodes is None else suite.episodes
        if count > available:
            env.close()
            raise SuiteError(f"{env_id} has {available} items in split {split!r}; suite asks for {count}")
        return Rebuilt(env, split, count)

    def expected(self) -> list[EpisodeKey]:
        """The suite's episode list, in play order."""
        return [EpisodeKey(env_id, r.split, i) for env_id, r in self.envs.items() for i in range(r.count)]

    def close(self) -> None:
        for rebuilt in self.envs.values():
            rebuilt.env.close()

    def rescore(self, key: EpisodeKey, record: dict[str, Any], base_seed: int) -> tuple[dict[str, Any], list[str]]:
        """The record as the aggregation should see it (trusted fields rebuilt), and every inconsistency."""
        env = self.envs[key.env_id].env
        env.reset(seed=key.seed(base_seed), options={"index": key.index, "split": key.split})
        raw = env.unwrapped
        item, family = raw.item, raw.family
        answer, problems = _answer_problems(record)
        score = jsonable(float(family.score(answer, item))) if answer is not None else 0.0
        if not _same_score(record["score"], score):
            problems.append(f"reported score {record['score']!r} != {score!r} re-scored by the official scorer")
        trusted = {
            "family": family.name,
            "family_version": family.version,
            "eval_key": PAPER_EVAL_KEYS.get(key.env_id, family.eval_key),
            "source": "synthetic" if is_synthetic(key.env_id) else "benchmark",
            "item_id": item.item_id,
            "meta": jsonable({k: v for k, v in item.meta.items() if k not in _TASK_KEYS}),
            "seed": key.seed(base_seed),
        }
        for name, value in trusted.items():
            if record[name] != value:
                problems.append(f"{name} is {_short(record[name])}, the env gives {_short(value)}")
        calls = sum(len(turn) for turn in record["trajectory"]["tool_calls"])
        reported_calls = record["tools"].get("calls")
        if reported_calls != calls:
            problems.append(f"tools.calls is {reported_calls!r} but the trajectory has {calls} tool calls")
        brief = {k: v for k, v in record.items() if k != "trajectory"}
        return {**brief, **trusted, "score": score}, problems


def _answer_problems(record: dict[str, Any]) -> tuple[str | None, list[str]]:
    """The answer of the last action (what is scored), and why the record disagrees with its actions.

    The recorded answer must be the ``<answer>`` of the last action, and no earlier action may answer.
    """
    actions = record["trajectory"]["actions"]
    parsed = [parse_action(a).answer for a in actions]
    problems = []
    early = [i for i, answer in enumerate(parsed[:-1]) if answer is not None]
    if early:
        problems.append(f"action {early[0]} already answers, yet the episode went on; the first answer ends it")
    last = parsed[-1] if parsed else None
    if record["answer"] != last:
        problems.append(f"answer {_short(record['answer'])} is not the <answer> of the last action ({_short(last)})")
    if record["terminated"] != (last is not None):
        has = "has" if last is not None else "has no"
        problems.append(f"terminated is {record['terminated']} but the last action {has} answer")
    return last, problems


def _same_score(reported: Any, rescored: Any) -> bool:
    if reported is None or rescored is None:
        return reported is None and rescored is None
    return math.isclose(float(reported), float(rescored), rel_tol=0.0, abs_tol=SCORE_TOLERANCE)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
