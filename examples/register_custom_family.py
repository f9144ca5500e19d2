"""Register a new task family in the synthetic world and get a Gymnasium id for it.

python examples/register_custom_family.py
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import gymnasium as gym
import numpy as np

from spacetools_env import TaskFamily, TaskItem, register_task
from spacetools_env.tasks.common import generate_with_retries, scene_truth
from spacetools_env.world import Scene, SceneConfig


@dataclass(frozen=True, kw_only=True)
class CountItem(TaskItem):
    category: str
    count: int


def _build(scene: Scene, rng: np.random.Generator) -> CountItem | None:
    counts = Counter(o.category for o in scene.objects)
    category = sorted(counts)[int(rng.integers(0, len(counts)))]
    question = f"How many objects of type '{category}' are on the table? Answer with a number."
    return CountItem(item_id="", question=question, images=(scene.rgb,), truth=(scene_truth(scene),),
                     meta={"question_type": "count"}, category=category, count=counts[category])


def generate(rng: np.random.Generator, config: SceneConfig) -> CountItem:
    return generate_with_retries(rng, config, _build)


def score(answer: str, item: CountItem) -> float:
    match = re.fullmatch(r"\s*(\d{1,3})\s*\.?\s*", answer)
    return float(match is not None and int(match.group(1)) == item.count)


COUNTING = TaskFamily(
    name="ObjectCount", item_type=CountItem, score=score, oracle=lambda item: str(item.count), generate=generate,
    counterexample=lambda item: str(item.count + 1),
    description="ObjectCount: how many objects of a category are on the table.\n\nVersion history:\n    v0: initial.",
)
ENV_ID = register_task(COUNTING)

if __name__ == "__main__":
    env = gym.make(ENV_ID)
    obs, info = env.reset(seed=0)
    print(ENV_ID, "->", obs[1]["content"][-1]["text"])
    _, reward, terminated, _, info = env.step(f"<answer>{env.unwrapped.item.count}</answer>")
    print(f"reward={reward} score={info['score']} terminated={terminated}")
