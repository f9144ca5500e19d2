"""What a GRPO dataset row holds: one episode, named by env id, split, index and seed.

A row of the ``rollout_func`` path is ``{"prompt", "images", "env_id", "split", "index", "seed"}``. The env
is reset with ``reset(seed=row["seed"], options={"split": row["split"], "index": row["index"]})``, so every
generation of a GRPO group plays the same item with the same tool noise.

The prompt is the env's first conversation (its system prompt with the tools block, byte for byte, and
the question; the question images in ``images``), because TRL renders the row's prompt with its images
for the training forward pass (pixels and image-token positions) and that must be the sequence the model
was sampled on. TRL hands a ``rollout_func`` only the prompts, so the user message also carries the row
in a ``spacetools_episode`` field (JSON of env id, split, index and seed), which chat templates ignore.
The rollout checks that the prompt renders exactly as the env's conversation.

>>> row = episode_row("SpaceTools-Synth-RelativeDepth-v0", split="test", index=3, seed=7)
>>> parse_prompt(row["prompt"]) == {"env_id": "SpaceTools-Synth-RelativeDepth-v0", "split": "test",
...                                 "index": 3, "seed": 7}
True
>>> row["prompt"][0]["content"].startswith("You are")
True
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

EPISODE_FIELD = "spacetools_episode"
"""The user message's field that names the row (ignored by chat templates)."""
ROW_KEYS = ("env_id", "split", "index", "seed")


def episode_row(
    env_id: str, split: str, index: int, seed: int, env_kwargs: Mapping[str, Any] | None = None, env: Any = None,
    pixels: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """One row: the env's first conversation as the prompt (naming the row), its images, and the key columns.

    Args:
        env: An env of ``env_id`` to reset (made with ``gym.make(env_id, **env_kwargs)`` and closed when None).
        pixels: ``(min_pixels, max_pixels)``: the images scaled into that area as the eval agent scales them
            (:func:`agents.models.render.fit_pixels`; give the rollout the same); None: as the env gives them.
    """
    import gymnasium as gym

    from agents.models.render import fit_pixels
    from agents.trl.policy import to_pil

    key = {"env_id": env_id, "split": split, "index": int(index), "seed": int(seed)}
    own = env is None
    env = gym.make(env_id, **dict(env_kwargs or {})) if own else env
    try:
        observation, _ = env.reset(seed=key["seed"], options={"split": split, "index": key["index"]})
    finally:
        if own:
            env.close()
    system, user = observation
    prompt = [
        {"role": "system", "content": _text(system)},
        {"role": "user", "content": _text(user), EPISODE_FIELD: json.dumps(key)},
    ]
    images = [to_pil(part["image"]) if pixels is None else fit_pixels(np.asarray(part["image"]), *pixels)
              for part in user["content"] if part["type"] == "image"]
    return {"prompt": prompt, "images": images, **key}


def episode_rows(
    env_id: str,
    count: int,
    *,
    split: str = "test",
    start: int = 0,
    seed: int = 0,
    env_kwargs: Mapping[str, Any] | None = None,
    pixels: tuple[int, int] | None = None,
) -> list[dict[str, Any]]:
    """Rows for items ``start .. start + count - 1`` of ``split``, row ``k`` reset with seed ``seed + k``.

    Args:
        env_id: A registered SpaceTools id (or ``module:EnvId``, as ``gym.make`` takes it).
        count: Rows to make.
        split: The item split.
        start: First item index.
        seed: Reset seed of the first row.
        env_kwargs: ``gym.make`` options (give the rollout the same).
        pixels: ``(min_pixels, max_pixels)`` of the images, or None (see :func:`episode_row`).

    Returns:
        Plain dicts; ``datasets.Dataset.from_list(rows)`` makes the training set.
    """
    import gymnasium as gym

    env = gym.make(env_id, **dict(env_kwargs or {}))
    try:
        return [episode_row(env_id, split, start + k, seed + k, env=env, pixels=pixels) for k in range(count)]
    finally:
        env.close()


def _text(message: Mapping[str, Any]) -> str:
    return "".join(part.get("text", "") for part in message["content"] if part.get("type") == "text")


def parse_prompt(prompt: Any, number: int = 0) -> dict[str, Any]:
    """The row a prompt names (see the module docstring).

    Raises:
        ValueError: naming the prompt (0-based position in TRL's batch) and how to build rows.
    """
    field = None
    if isinstance(prompt, Sequence) and not isinstance(prompt, str):
        field = next((m.get(EPISODE_FIELD) for m in prompt if isinstance(m, Mapping) and m.get(EPISODE_FIELD)), None)
    key: Any = None
    if isinstance(field, str):
        try:
            key = json.loads(field)
        except json.JSONDecodeError:
            key = None
    if not isinstance(key, dict) or sorted(key) != sorted(ROW_KEYS):
        raise ValueError(
            f"prompt {number} does not name a SpaceTools episode (its user message's {EPISODE_FIELD!r} field is "
            f"{str(field)[:120]!r}); the rollout_func plays rows whose user message carries JSON with "
            f"{list(ROW_KEYS)} there: build the dataset with agents.trl.episode_rows(env_id, count)"
        )
    return key
