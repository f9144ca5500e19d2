"""StructuredActions: numeric action and observation spaces, so classic RL agents (SB3) can act."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, SupportsFloat

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from spacetools_env.messages import message_images, message_text

Action = str | dict[str, Any]
"""What the env accepts: model text, or a structured tool call / answer dict."""

DEFAULT_ANSWERS = ("Yes", "No", "A", "B")
"""The choice answers of the synthetic families (RoboSpatial-style yes/no, BLINK and CV-Bench A/B)."""


def default_menu(
    tool_names: Collection[str], *, grid: int = 3, answers: Sequence[str] = DEFAULT_ANSWERS
) -> list[Action]:
    """A generic menu: choice answers, point answers and tool calls on a ``grid`` x ``grid`` of cell centres.

    Calls need no words from the question: ``depth_estimator.estimate_depth`` on image 0, and
    ``sam2.segment_from_point`` and ``vision_ops.index_at`` on ``"$depth_map"`` at each cell
    centre (normalized [0, 1] image coordinates); only tools in ``tool_names`` are used. Pass
    your own menu to :class:`StructuredActions` for calls that need object names.

    >>> for action in default_menu(["depth_estimator.estimate_depth"], grid=1, answers=["Yes"]):
    ...     print(action)
    {'answer': 'Yes'}
    {'answer': '[(0.5, 0.5)]'}
    {'name': 'depth_estimator.estimate_depth', 'arguments': {'image_index': 0}}
    """
    if not isinstance(grid, int) or grid < 1:
        raise ValueError(f"grid must be a positive integer, got {grid!r}")
    cells = [(round((i + 0.5) / grid, 3), round((j + 0.5) / grid, 3)) for j in range(grid) for i in range(grid)]
    menu: list[Action] = [{"answer": str(a)} for a in answers]
    menu += [{"answer": f"[({x}, {y})]"} for x, y in cells]
    if "depth_estimator.estimate_depth" in tool_names:
        menu.append({"name": "depth_estimator.estimate_depth", "arguments": {"image_index": 0}})
    if "sam2.segment_from_point" in tool_names:
        menu += [{"name": "sam2.segment_from_point", "arguments": {"x": x, "y": y, "image_index": 0}} for x, y in cells]
    if "vision_ops.index_at" in tool_names:
        menu += [{"name": "vision_ops.index_at", "arguments": {"data": "$depth_map", "u": x, "v": y}} for x, y in cells]
    return menu


# Any type parameters: gymnasium types Wrapper.__init__'s env with the wrapper's own spaces
class StructuredActions(gym.Wrapper[Any, Any, Any, Any], gym.utils.RecordConstructorArgs):
    """``Discrete`` actions over a menu of tool calls and answers; ``Dict`` of ``Box`` observations.

    Action ``i`` sends ``menu[i]`` (a tool-call or answer dict) to the env, so an agent that only
    picks integers (a stable-baselines3 policy) plays the real protocol: tools run, rewards and
    ``info`` are the env's own. The observation is what such a policy can read:

    - ``image``: the question's first image resized (nearest pixel) to ``image_size``, uint8 HxWx3;
    - ``tool_text``: the UTF-8 bytes of this turn's tool messages (empty at reset), zero padded
      or cut to ``text_bytes``;
    - ``turn``: the turns taken so far, float32, shape (1,).

    Args:
        env: A SpaceTools env (its tool names pick the default menu's calls).
        menu: The actions, text or dicts (default: :func:`default_menu` for the env's tools).
        image_size: (height, width) of the ``image`` observation.
        text_bytes: Length of the ``tool_text`` observation.
    """

    def __init__(
        self,
        env: gym.Env[Any, Any],
        menu: Sequence[Action] | None = None,
        image_size: tuple[int, int] = (64, 64),
        text_bytes: int = 512,
    ) -> None:
        # gym.make(env.spec) (check_env, vector envs) rebuilds the wrapper from these
        gym.utils.RecordConstructorArgs.__init__(self, menu=menu, image_size=image_size, text_bytes=text_bytes)
        super().__init__(env)
        tool_names = getattr(env.unwrapped, "tool_names", ())
        self.menu: list[Action] = list(default_menu(tool_names) if menu is None else menu)
        if not self.menu or not all(isinstance(a, str | dict) for a in self.menu):
            raise ValueError(f"menu must be a non-empty list of text or dict actions, got {menu!r}")
        height, width = image_size
        if min(height, width, text_bytes) < 1:
            raise ValueError(f"image_size and text_bytes must be positive, got {image_size!r} and {text_bytes!r}")
        self.image_size = (int(height), int(width))
        self.text_bytes = int(text_bytes)
        self.action_space = spaces.Discrete(len(self.menu))
        max_turns = float(getattr(getattr(env.unwrapped, "config", None), "max_turns", np.inf))
        self.observation_space = spaces.Dict({
            "image": spaces.Box(0, 255, (*self.image_size, 3), np.uint8),
            "tool_text": spaces.Box(0, 255, (self.text_bytes,), np.uint8),
            "turn": spaces.Box(0.0, max_turns, (1,), np.float32),
        })
        self._image = np.zeros((*self.image_size, 3), np.uint8)
        self._turn = 0

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
        messages, info = self.env.reset(seed=seed, options=options)
        images = [image for m in messages for image in message_images(m)]
        self._image = _resize(images[0], self.image_size) if images else np.zeros((*self.image_size, 3), np.uint8)
        self._turn = 0
        return self._observation(""), info

    def step(self, action: Any) -> tuple[dict[str, np.ndarray], SupportsFloat, bool, bool, dict[str, Any]]:
        index = int(action)
        if not 0 <= index < len(self.menu):
            raise ValueError(f"action {action!r} is outside the menu: expected an integer in [0, {len(self.menu) - 1}]")
        messages, reward, terminated, truncated, info = self.env.step(self.menu[index])
        self._turn += 1
        text = "\n".join(message_text(m) for m in messages)
        return self._observation(text), reward, terminated, truncated, info

    def _observation(self, text: str) -> dict[str, np.ndarray]:
        data = text.encode("utf-8", errors="replace")[: self.text_bytes]
        tool_text = np.zeros(self.text_bytes, np.uint8)
        tool_text[: len(data)] = np.frombuffer(data, np.uint8)
        return {"image": self._image.copy(), "tool_text": tool_text, "turn": np.array([self._turn], np.float32)}


def _resize(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Nearest-pixel resize of an HxWx3 uint8 image (no image library needed)."""
    height, width = size
    rows = np.minimum((np.arange(height) + 0.5) * image.shape[0] / height, image.shape[0] - 1).astype(int)
    cols = np.minimum((np.arange(width) + 0.5) * image.shape[1] / width, image.shape[1] - 1).astype(int)
    return np.ascontiguousarray(image[rows][:, cols, :3]).astype(np.uint8)
