"""verl dataset rows of SpaceTools episodes, and the reward function that scores their answers.

A row (:func:`verl_row`) is what verl's ``RLHFDataset`` reads from a parquet file: ``prompt`` (chat
messages with an ``<image>`` placeholder per image, which verl replaces by the ``images`` column),
``images`` (PNG bytes, as verl's ``process_image`` accepts), ``data_source`` (the env id),
``agent_name: tool_agent`` and ``extra_info`` naming the episode (``env_id``, ``split``, ``index``,
``seed``) with its ``tools_kwargs`` (:func:`agents.verl.tools.tools_kwargs`).

The prompt is the env's first conversation with ``tools_in_system_prompt=False``: verl renders the
tools through the chat template's ``tools=`` (as TRL's ``environment_factory`` path does), so the
env's Qwen2.5 tools block would announce them twice.

:func:`compute_score` is a verl ``custom_reward_function``: it plays the row's item in a fresh env and
steps the response's first ``<answer>...</answer>`` (the official scorers read the first), so the
score is the task family's scorer, the project's single source of truth. The tool-error penalty is not
in it: verl collects the tools' step rewards separately (``tool_rewards``).
"""

from __future__ import annotations

import io
import re
from collections.abc import Mapping, Sequence
from typing import Any

from agents.verl.tools import tools_kwargs
from tool_backends.backends import DEFAULT_TOOLS

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def verl_row(
    env_id: str, split: str, index: int, seed: int, tools: Sequence[str] = DEFAULT_TOOLS,
    env_kwargs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One verl dataset row for item ``index`` of ``split``, played with ``seed`` (see the module docstring).

    Args:
        tools: The tools of the tool YAML (every one gets the row's ``create_kwargs``).
        env_kwargs: The YAML's ``env_kwargs`` (other than ``tools``), for the env's prompt.
    """
    import gymnasium as gym
    from PIL import Image

    import spacetools_env  # noqa: F401  (registers the env ids)

    options = {**dict(env_kwargs or {}), "tools": list(tools), "tools_in_system_prompt": False}
    env = gym.make(env_id, **options)
    try:
        observation, _ = env.reset(seed=int(seed), options={"split": split, "index": int(index)})
    finally:
        env.close()
    system, user = observation
    images, text = [], []
    for part in user["content"]:
        if part["type"] == "image":
            buffer = io.BytesIO()
            Image.fromarray(part["image"]).convert("RGB").save(buffer, format="PNG")
            images.append({"bytes": buffer.getvalue()})
            text.append("<image>")
        else:
            text.append(part.get("text", ""))
    key = {"env_id": env_id, "split": split, "index": int(index), "seed": int(seed)}
    return {
        "data_source": env_id,
        "agent_name": "tool_agent",
        "prompt": [
            {"role": "system", "content": "".join(p.get("text", "") for p in system["content"])},
            {"role": "user", "content": "".join(text)},
        ],
        "images": images,
        "reward_model": {"style": "rule", "ground_truth": ""},
        "extra_info": {**key, "need_tools_kwargs": True,
                       "tools_kwargs": tools_kwargs(env_id, split, index, seed, tools)},
    }


def compute_score(
    data_source: str, solution_str: str, ground_truth: Any = None, extra_info: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> float:
    """verl's reward function: the env's score of the response's first ``<answer>`` (0.0 without one).

    Raises:
        ValueError: ``extra_info`` does not name the episode (rows from :func:`verl_row` do).
    """
    import gymnasium as gym

    import spacetools_env  # noqa: F401  (registers the env ids)

    info = dict(extra_info or {})
    missing = [k for k in ("split", "index", "seed") if info.get(k) is None]
    if missing:
        raise ValueError(f"compute_score needs extra_info {missing} (has {sorted(info)}); build rows with "
                         "agents.verl.verl_row")
    match = _ANSWER.search(solution_str or "")
    if match is None:
        return 0.0
    env = gym.make(str(info.get("env_id") or data_source))
    try:
        env.reset(seed=int(info["seed"]), options={"split": str(info["split"]), "index": int(info["index"])})
        _, _, _, _, step_info = env.step(f"<answer>{match.group(1)}</answer>")
    finally:
        env.close()
    return float(step_info["score"])


__all__ = ["compute_score", "verl_row"]
