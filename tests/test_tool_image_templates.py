"""Every shipped chat template places tool images so that image tokens equal images (real crops, tiny models)."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from agents.models import tiny  # noqa: E402
from agents.models.hf import HFAgent  # noqa: E402
from agents.models.render import template_messages  # noqa: E402
from spacetools_env.messages import assistant_message, conversation_images  # noqa: E402
from tool_backends import DEFAULT_TOOLS, IMAGE_TOOLS  # noqa: E402

torch.set_num_threads(1)
ENV_ID = "SpaceTools-Synth-RelativeDepth-v0"


def _call(name: str, **arguments: object) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': arguments})}</tool_call>"


def crop_conversation() -> list[dict]:
    """A real episode: crop image 0, then zoom into the crop and crop the zoom in one turn (4 images)."""
    env = gym.make(ENV_ID, tools=[*DEFAULT_TOOLS, *IMAGE_TOOLS], tool_images=True)
    history, _ = env.reset(seed=0)
    for action in (
        _call("vision_ops.crop", x1=0.2, y1=0.2, x2=0.8, y2=0.8, image_index=0),
        _call("vision_ops.zoom", x=0.5, y=0.5, factor=2, image_index=1)
        + _call("vision_ops.crop", x1=0.0, y1=0.0, x2=0.5, y2=0.5, image_index=2),
    ):
        observation, *_ = env.step(action)
        history = [*history, assistant_message(action), *observation]
    env.close()
    return history


@pytest.fixture(scope="module")
def conversation() -> list[dict]:
    return crop_conversation()


@pytest.mark.parametrize("family", sorted(tiny.FAMILIES))
def test_every_shipped_template_gives_one_image_placeholder_per_tool_image(
    family: str, conversation: list[dict], tmp_path: Path
) -> None:
    agent = HFAgent(model=str(tiny.write_checkpoint(family, tmp_path / family)), max_turn_tokens=4)
    messages, images = template_messages(conversation)
    assert len(images) == len(conversation_images(conversation)) == 4
    assert all(a is b for a, b in zip(images, conversation_images(conversation), strict=True))
    text = agent.processor.apply_chat_template(
        messages, chat_template=agent.chat_template, tokenize=False, add_generation_prompt=True
    )
    image_token = agent.processor.image_token
    assert text.count(image_token) == len(images), (agent.template_name, text)
    for tool_text in ("Cropped the region (0.200, 0.200)-(0.800, 0.800) of image 0", "Zoomed 2x at"):
        assert tool_text in text
    inputs = agent.processor(text=[text], images=images, return_tensors="pt")
    with torch.no_grad():  # the model itself checks that image tokens match image features
        logits = agent.model(**inputs).logits
    assert torch.isfinite(logits).all()
