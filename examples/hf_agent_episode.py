"""A `transformers` VLM in the ``gym.make`` loop: one episode played by :class:`agents.models.hf.HFAgent`.

Without ``--model`` it writes the tiny random-weight Qwen2.5-VL of the kit (``agents.models.tiny``) to a
temporary folder, so it runs offline on a CPU in seconds (the model writes noise; a real checkpoint
folder or hub id plays for real)::

    python examples/hf_agent_episode.py
    python examples/hf_agent_episode.py --model Qwen/Qwen2.5-VL-3B-Instruct --device cuda --max-turn-tokens 1024
"""

from __future__ import annotations

import argparse
import tempfile
from collections.abc import Sequence
from pathlib import Path

import gymnasium as gym
import torch

import spacetools_env  # noqa: F401  (registers the SpaceTools-* ids)
from agents.models.hf import HFAgent
from agents.models.tiny import write_checkpoint
from spacetools_env.rollout import Turn


def play(model: str, env_id: str, device: str, max_turn_tokens: int, seed: int) -> float:
    """Play one episode of ``env_id`` with the model at ``model``; returns its score."""
    agent = HFAgent(model=model, device=device, max_turn_tokens=max_turn_tokens)
    env = gym.make(env_id)
    observation, info = env.reset(seed=seed)
    conversation = list(observation)
    terminated = truncated = False
    while not (terminated or truncated):
        action = agent.act([Turn("episode-0", conversation, info)])[0]  # a batch of one turn
        observation, reward, terminated, truncated, info = env.step(action)
        conversation += [{"role": "assistant", "content": [{"type": "text", "text": action}]}, *observation]
        print(f"turn {info['turn']}: reward {float(reward):+.3f}, {len(action)} chars")
    agent.end_episode("episode-0")
    env.close()
    print(f"score {info['score']:.3f}, {'answered' if terminated else 'out of turns'}")
    return float(info["score"])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="checkpoint folder or hub id (default: a tiny random Qwen2.5-VL)")
    parser.add_argument("--env-id", default="SpaceTools-Synth-RelativeDepth-v0")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--max-turn-tokens", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)  # explicit: small models on a shared CPU run fastest on one thread
    with tempfile.TemporaryDirectory() as folder:
        model = args.model or str(write_checkpoint("qwen2_5_vl", Path(folder) / "tiny-qwen2_5_vl"))
        play(model, args.env_id, args.device, args.max_turn_tokens, args.seed)


if __name__ == "__main__":
    main()
