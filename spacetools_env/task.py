"""What a task family is: an item type, a prompt, an official scorer, a shaped term, an oracle.

A family file (``spacetools_env/tasks/*.py``) defines a frozen :class:`TaskItem` subclass holding
its answer's ground truth, a ``generate(rng, scene_config)`` function for the synthetic world,
a pure scorer and an oracle, and bundles them in a :class:`TaskFamily`. Benchmark loaders
produce the same item types from real data, so one scorer serves both.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from spacetools_env.prompts import DEFAULT_SYSTEM_PROMPT
from tool_backends import GroundTruth

if TYPE_CHECKING:
    from spacetools_env.world import SceneConfig


@dataclass(frozen=True)
class TaskItem:
    """One question about one or more images.

    Attributes:
        item_id: Stable identifier (``"RelativeDepth/test/17"``).
        question: The user text, including the answer-format instruction.
        images: Question images, HxWx3 uint8; index 0 is the one the question is about.
        truth: Ground truth per image for oracle tools (None where unknown).
        meta: Small JSON-able facts (question type, object names, difficulty) for reports.
        system_prompt: This item's own system message (a benchmark that ships its prompts);
            None uses the family's. The env appends the tools block either way.
    """

    item_id: str
    question: str
    images: tuple[np.ndarray, ...]
    truth: tuple[GroundTruth | None, ...] = ()
    meta: Mapping[str, Any] = field(default_factory=dict)
    system_prompt: str | None = None


Scorer = Callable[[str, Any], float]
"""``score(answer_text, item) -> float in [0, 1]``: pure, never raises on any text."""


@dataclass(frozen=True)
class TaskFamily:
    """Everything the env needs to pose and grade one kind of question.

    Attributes:
        name: CamelCase family name; the synthetic env id is ``SpaceTools-Synth-<name>-v<version>``.
        item_type: The frozen :class:`TaskItem` subclass this family produces.
        score: Official scorer on the text inside ``<answer>``.
        oracle: The correct answer text for an item (what ``<answer>`` should contain).
        generate: ``generate(rng, scene_config) -> item`` for the synthetic world; None for
            families that only come from recorded benchmarks.
        shaped: Dense term in [0, 1] (partial credit); defaults to the official score.
        system_prompt: The system message (tool schemas are appended by the env).
        version: Bumped, with a note in ``description``, whenever generation or scoring changes.
        description: Docs: what the family asks and how it mirrors the original benchmark.
        eval_key: The original SpaceTools evaluation key this family mirrors, if any.
        counterexample: A wrong answer for an item (scores 0); the conformance kit checks it.
        unparsable: ``unparsable(answer, item)``: True for an answer the official evaluation
            cannot parse and drops from its denominator (RefSpatial-Bench and Where2Place skip
            such samples). ``score`` gives it 0, and so does the reward: the eval summary reports
            the strict aggregate (it counts 0, what ranks) and the official one (dropped, counted
            apart). None: the official evaluation never drops an answer.
    """

    name: str
    item_type: type[TaskItem]
    score: Scorer
    oracle: Callable[[Any], str]
    generate: Callable[[np.random.Generator, SceneConfig], TaskItem] | None = None
    shaped: Scorer | None = None
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    version: int = 0
    description: str = ""
    eval_key: str | None = None
    counterexample: Callable[[Any], str] | None = None
    unparsable: Callable[[str, Any], bool] | None = None

    def __post_init__(self) -> None:
        if not self.name.isidentifier() or not self.name[0].isupper():
            raise ValueError(f"family name must be a CamelCase identifier, got {self.name!r}")
        if not (isinstance(self.item_type, type) and issubclass(self.item_type, TaskItem)):
            raise TypeError(f"item_type must be a TaskItem subclass, got {self.item_type!r}")
        if self.version < 0:
            raise ValueError(f"version must be >= 0, got {self.version}")

    def shaped_score(self, answer: str, item: TaskItem) -> float:
        return (self.shaped or self.score)(answer, item)

    def is_unparsable(self, answer: str | None, item: TaskItem) -> bool:
        """Whether the official evaluation drops ``answer`` (see ``unparsable``); no answer is never dropped."""
        return answer is not None and self.unparsable is not None and bool(self.unparsable(answer, item))

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        # Pickled by registry name: envs travel to vector-env workers and checkpoints without
        # requiring the family's functions (lambdas included) to be picklable.
        return (_registered_family, (self.name,))


def _registered_family(name: str) -> TaskFamily:
    from spacetools_env.registration import get_family

    return get_family(name)


class ItemSource(Protocol):
    """Where a family's items come from: the synthetic world or a benchmark on disk."""

    def num_items(self, split: str) -> int:
        """How many items ``split`` holds (the synthetic world: a configurable count)."""
        ...

    def get(self, split: str, index: int) -> TaskItem:
        """Item ``index`` of ``split``; the same arguments always give the same item."""
        ...
