"""Demo pictures: objects keep their colours, the reference answer is beside the model's, a legend, spaced captions."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
from PIL import Image

from benchmarks.agents import load_agent
from benchmarks.cli import main
from benchmarks.demo import ANSWER_COLOR, REFERENCE_COLOR, episode_picture, legend_entries, render_picture, wrap_text
from spacetools_env import unwrap
from spacetools_env.drawing import GREEN, draw_shapes, outline_mask, text_font
from spacetools_env.overlays import MaskShape
from spacetools_env.rollout import agent_policy, rollout


def test_mask_is_outlined_and_its_inside_keeps_the_object_colours():
    image = np.full((20, 30, 3), (120, 40, 160), np.uint8)  # a purple object
    mask = np.zeros((20, 30), bool)
    mask[5:15, 5:25] = True
    out = outline_mask(image, mask, GREEN, width=2)
    assert (out[~mask] == image[~mask]).all()  # outside untouched
    assert (out[9:11, 9:21] == (120, 40, 160)).all()  # inside keeps its colour
    assert (out[5, 5:25] == GREEN).all() and (out[6, 10] == GREEN).all() and (out[7, 10] == (120, 40, 160)).all()
    assert (draw_shapes(image, [MaskShape(mask)]) == out).all()
    assert (image == (120, 40, 160)).all()  # the input is not modified


def _demo_picture(tmp_path, family):
    out = tmp_path / "demo"
    assert main(["demo", "--episodes", "1", "--pictures", "1", "--out", str(out), "--families", family]) == 0
    env = gym.make(f"SpaceTools-Synth-{family}-v0", difficulty="medium", split="test")
    observation, _ = env.reset(options={"index": 0})
    question = observation[1]["content"][0]["image"]
    return np.asarray(Image.open(out / f"SpaceTools-Synth-{family}-v0-0.png").convert("RGB")), question


def _has(panel, color):
    return bool((panel == np.array(color, np.uint8)).all(axis=-1).any())


def test_demo_picture_keeps_colours_and_shows_the_reference_beside_the_answer(tmp_path):
    picture, question = _demo_picture(tmp_path, "BoxPose")
    height, width = question.shape[:2]
    assert picture.shape[1] == 2 * width + 8  # two panels side by side
    top = next(y for y in range(picture.shape[0]) if (picture[y, :width] != 255).any(axis=-1).sum() > width // 2)
    model, reference = picture[top:top + height, :width], picture[top:top + height, width + 8:]
    # tool masks (table, floor, box) are outlined: almost every pixel is the rendered scene's own
    assert np.mean((model != question).any(axis=-1)) < 0.05
    assert _has(model, ANSWER_COLOR) and not _has(model, REFERENCE_COLOR)
    assert _has(reference, REFERENCE_COLOR) and not _has(reference, ANSWER_COLOR)
    assert np.mean((reference != question).any(axis=-1)) < 0.02


def test_picture_has_a_legend_and_captions_keep_their_spaces():
    env = gym.make("SpaceTools-Synth-RefLocation-v0", split="test")
    agent = load_agent("tool-program")
    traj = rollout(env, agent_policy(agent, "e"), options={"index": 0})
    inner = unwrap(env)
    picture = episode_picture(traj, inner.family.oracle(inner.item), inner.family.eval_key)
    assert picture.answer_shapes and picture.reference_shapes
    names = [name for _, name in legend_entries(picture)]
    assert names[-2:] == ["model answer", "reference answer"] and "tool points" in names
    assert render_picture(picture).size[0] == 2 * 640 + 8
    font = text_font(13)
    assert font.getlength(" ") >= font.getlength("n") / 3  # Pillow's default font draws "fitontopof"
    assert wrap_text("Can the duck  fit\non top?", font, 10_000) == ["Can the duck fit on top?"]
    assert wrap_text("one two three", font, math.ceil(font.getlength("one two"))) == ["one two", "three"]
