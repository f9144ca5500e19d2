"""The settings of one eval run (``spacetools eval`` and :func:`benchmarks.eval.run_eval`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spacetools_env.world import DIFFICULTIES


@dataclass(frozen=True)
class EvalConfig:
    """Agent x suite -> ``out/results.jsonl``, ``out/manifest.json``, ``out/summary.json``.

    Attributes:
        agent: Agent name (``tool-program``) or ``module:Class`` import string.
        suite: ``synth``, ``paper`` or comma-separated env ids (see :mod:`benchmarks.eval.suites`).
        out: Output folder; an existing one is resumed if its manifest matches, refused otherwise.
        episodes: Items per env id (None: the suite's default).
        workers: Worker processes; 1 plays in this process (cleanest timings).
        batch_size: Episodes each worker plays in lockstep, one batched agent call per turn
            (:mod:`spacetools_env.batch_rollout`); ``workers * batch_size`` are in flight. Records
            are the same at any size (only timing differs), so a run may resume at another.
        difficulty: Scene preset for synthetic ids (benchmark items ignore it).
        data_dir: Local copy of the benchmarks, passed to ``gym.make`` as ``data_dir=``.
        split: Override of the suite's split.
        seed: Base seed; each episode resets with a stable hash of it and the episode key.
        agent_kwargs: JSON-able keyword arguments for the agent's constructor.
        env_kwargs: JSON-able extra ``gym.make`` keyword arguments (``max_turns``, ``tools``, ...).
        progress: Show a progress bar with the running mean score.
    """

    agent: str
    suite: str
    out: Path
    episodes: int | None = None
    workers: int = 1
    batch_size: int = 1
    difficulty: str = "medium"
    data_dir: str | None = None
    split: str | None = None
    seed: int = 0
    agent_kwargs: Mapping[str, Any] = field(default_factory=dict)
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    progress: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.agent, str) or not self.agent.strip():
            raise ValueError(f"agent must be a name or 'module:Class', got {self.agent!r}")
        if not isinstance(self.suite, str) or not self.suite.strip():
            raise ValueError("suite must be 'synth', 'paper' or comma-separated env ids")
        object.__setattr__(self, "out", Path(self.out))
        if self.episodes is not None and (not isinstance(self.episodes, int) or self.episodes < 1):
            raise ValueError(f"episodes must be a positive integer or None, got {self.episodes!r}")
        if not isinstance(self.workers, int) or self.workers < 1:
            raise ValueError(f"workers must be a positive integer, got {self.workers!r}")
        if not isinstance(self.batch_size, int) or isinstance(self.batch_size, bool) or self.batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer (1: one at a time), got {self.batch_size!r}")
        if self.difficulty not in DIFFICULTIES:
            raise ValueError(f"unknown difficulty {self.difficulty!r}; presets are {sorted(DIFFICULTIES)}")
        if not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {self.seed!r}")
        reserved = sorted(set(self.env_kwargs) & {"split", "difficulty", "data_dir"})
        if reserved:
            raise ValueError(f"env_kwargs may not set {reserved}; use the EvalConfig fields of the same names")
        for name in ("agent_kwargs", "env_kwargs"):
            value = dict(getattr(self, name))
            try:
                json.dumps(value, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise ValueError(f"{name} must be JSON-able (it is saved in the manifest): {exc}") from None
            object.__setattr__(self, name, value)  # a private copy: the caller's dict may change

    @property
    def results_path(self) -> Path:
        return self.out / "results.jsonl"

    @property
    def manifest_path(self) -> Path:
        return self.out / "manifest.json"

    @property
    def summary_path(self) -> Path:
        return self.out / "summary.json"
