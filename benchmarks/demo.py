"""The demo: a scripted agent plays every synthetic family through ``gym.make`` and reports.

``spacetools demo`` prints a per-family table (score, turns, tool calls, tool errors) and
writes a few episodes as pictures: the question image with the tool results and the model's
answer drawn on it, the reference answer beside it, a caption and a legend.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

import spacetools_env
from benchmarks.agents import load_agent
from spacetools_env import unwrap
from spacetools_env.drawing import SHAPE_COLORS, Color, draw_shapes, text_font
from spacetools_env.overlays import BoxShape, GraspShape, MaskShape, PointsShape, Shape, answer_shapes, shapes_of
from spacetools_env.rollout import Trajectory, agent_policy, rollout


@dataclass(frozen=True)
class DemoConfig:
    """Settings of ``spacetools demo``.

    Attributes:
        episodes: Episodes per family.
        difficulty: Scene preset: easy, medium or hard.
        agent: Agent name or ``module:Class`` import string.
        out: Folder for pictures and ``summary.json``.
        pictures: Episodes per family saved as pictures.
        families: Family names to play (None: all registered synthetic families).
        split: Item split to draw from.
    """

    episodes: int = 10
    difficulty: str = "medium"
    agent: str = "tool-program"
    out: Path = Path("demo_output")
    pictures: int = 2
    families: tuple[str, ...] | None = None
    split: str = "test"

    def __post_init__(self) -> None:
        if self.episodes < 1:
            raise ValueError(f"episodes must be >= 1, got {self.episodes}")
        if self.pictures < 0:
            raise ValueError(f"pictures must be >= 0, got {self.pictures}")
        known = {f.name for f in spacetools_env.families().values()}
        unknown = sorted(set(self.families or ()) - known)
        if unknown:
            raise ValueError(f"unknown families {unknown}; known: {sorted(known)}")


@dataclass(frozen=True)
class FamilyRow:
    family: str
    env_id: str
    episodes: int
    score: float
    turns: float
    tool_calls: float
    tool_errors: int
    invalid_actions: int
    seconds: float


def synthetic_ids(families: tuple[str, ...] | None = None) -> list[str]:
    ids = [i for i in spacetools_env.registered_ids() if i.startswith("SpaceTools-Synth-")]
    if families:
        ids = [i for i in ids if gym.spec(i).kwargs["task"] in families]
    return ids


def run_demo(config: DemoConfig) -> list[FamilyRow]:
    """Play ``config.episodes`` episodes of each family; returns one row per family."""
    agent = load_agent(config.agent)
    config.out.mkdir(parents=True, exist_ok=True)
    env_ids = synthetic_ids(config.families)
    rows = []
    with tqdm(total=len(env_ids) * config.episodes, desc="episodes", unit="ep") as bar:
        for env_id in env_ids:
            env = gym.make(env_id, difficulty=config.difficulty, split=config.split)
            start, trajectories = time.perf_counter(), []
            for index in range(config.episodes):
                bar.set_postfix_str(env_id.removeprefix("SpaceTools-Synth-"))
                traj = rollout(env, agent_policy(agent, env_id), options={"index": index})
                agent.end_episode(env_id)
                trajectories.append(traj)
                if index < config.pictures:
                    inner = unwrap(env)
                    reference = inner.family.oracle(inner.item) if inner.item is not None else None
                    save_picture(traj, config.out / f"{env_id}-{index}.png", reference, inner.family.eval_key)
                bar.update()
            rows.append(_row(env_id, trajectories, time.perf_counter() - start))
            env.close()
    (config.out / "summary.json").write_text(json.dumps([asdict(r) for r in rows], indent=2))
    return rows


def _row(env_id: str, trajectories: list[Trajectory], seconds: float) -> FamilyRow:
    infos = [t.info for t in trajectories]
    return FamilyRow(
        family=infos[0]["task"]["family"],
        env_id=env_id,
        episodes=len(trajectories),
        score=float(np.mean([t.score for t in trajectories])),
        turns=float(np.mean([t.turns for t in trajectories])),
        tool_calls=float(np.mean([i["tool_stats"]["calls"] for i in infos])),
        tool_errors=int(sum(i["tool_stats"]["errors"] for i in infos)),
        invalid_actions=int(sum(i["invalid_actions"] for i in infos)),
        seconds=seconds,
    )


def format_table(rows: list[FamilyRow]) -> str:
    header = (
        f"{'family':<22}{'episodes':>9}{'score':>8}{'turns':>7}{'calls':>7}{'tool errors':>13}{'invalid':>9}{'s/ep':>7}"
    )
    lines = [header, "-" * len(header)]
    for r in rows:
        lines.append(
            f"{r.family:<22}{r.episodes:>9}{r.score:>8.3f}{r.turns:>7.2f}{r.tool_calls:>7.2f}"
            f"{r.tool_errors:>13}{r.invalid_actions:>9}{r.seconds / r.episodes:>7.2f}"
        )
    mean = float(np.mean([r.score for r in rows])) if rows else 0.0
    lines.append(f"{'mean score':<22}{'':>9}{mean:>8.3f}")
    return "\n".join(lines)


ANSWER_COLOR: Color = (255, 0, 255)
REFERENCE_COLOR: Color = (0, 190, 255)
_LEGEND_NAMES = {MaskShape: "tool mask (outline)", BoxShape: "tool 3D box", GraspShape: "tool grasp",
                 PointsShape: "tool points"}
_GAP, _LINE, _PAD = 8, 18, 6


@dataclass(frozen=True)
class Picture:
    """What one demo picture shows: the question image, tool results and both answers."""

    image: np.ndarray
    tool_shapes: list[Shape]
    answer: str
    answer_shapes: list[Shape]
    reference: str | None
    reference_shapes: list[Shape]
    caption: list[str]


def episode_picture(traj: Trajectory, reference: str | None, eval_key: str | None) -> Picture:
    """The parts of an episode's picture, from its trajectory and the reference (oracle) answer."""
    image = next(p["image"] for p in traj.messages[1]["content"] if p["type"] == "image")
    size = (image.shape[1], image.shape[0])
    answer = traj.info.get("answer") or ""
    question = next(p["text"] for p in traj.messages[1]["content"] if p["type"] == "text")
    return Picture(
        image=image,
        tool_shapes=[shape for results in traj.tool_results for shape in shapes_of(results)],
        answer=answer,
        answer_shapes=answer_shapes(answer, eval_key, size),
        reference=reference,
        reference_shapes=answer_shapes(reference, eval_key, size) if reference else [],
        caption=[f"{traj.info['task']['family']}   score={traj.score:.2f}   turns={traj.turns}", question],
    )


def save_picture(traj: Trajectory, path: Path, reference: str | None = None, eval_key: str | None = None) -> None:
    """Two panels side by side (the model's tool results and answer; the reference answer), a caption and a legend.

    Masks are outlined, never filled, so objects keep the colours the questions ask about.
    """
    render_picture(episode_picture(traj, reference, eval_key)).save(path)


def render_picture(picture: Picture) -> Image.Image:
    height, width = picture.image.shape[:2]
    model = draw_shapes(draw_shapes(picture.image, picture.tool_shapes), picture.answer_shapes, ANSWER_COLOR)
    truth = draw_shapes(picture.image, picture.reference_shapes, REFERENCE_COLOR)
    font = text_font(13)
    text_width = 2 * width + _GAP - 2 * _PAD
    lines = [picture.caption[0], *wrap_text(picture.caption[1], font, text_width)[:5]]
    lines += wrap_text(f"model answer: {picture.answer or '(none)'}", font, text_width)[:3]
    if picture.reference is not None:
        lines += wrap_text(f"reference answer: {picture.reference}", font, text_width)[:3]
    top = _LINE + _PAD
    canvas = Image.new("RGB", (2 * width + _GAP, top + height + _PAD + _LINE * (len(lines) + 1) + _PAD), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((_PAD, _PAD // 2), "model: tool results and answer", fill=(0, 0, 0), font=font)
    draw.text((width + _GAP + _PAD, _PAD // 2), "reference answer", fill=(0, 0, 0), font=font)
    canvas.paste(Image.fromarray(model), (0, top))
    canvas.paste(Image.fromarray(truth), (width + _GAP, top))
    y = top + height + _PAD
    for line in lines:
        draw.text((_PAD, y), line, fill=(0, 0, 0), font=font)
        y += _LINE
    _draw_legend(draw, (_PAD, y), legend_entries(picture), font)
    return canvas


def legend_entries(picture: Picture) -> list[tuple[Color, str]]:
    kinds = {type(shape) for shape in picture.tool_shapes}
    entries = [(SHAPE_COLORS[kind], name) for kind, name in _LEGEND_NAMES.items() if kind in kinds]
    if picture.answer_shapes:
        entries.append((ANSWER_COLOR, "model answer"))
    if picture.reference_shapes:
        entries.append((REFERENCE_COLOR, "reference answer"))
    return entries


def _draw_legend(
    draw: ImageDraw.ImageDraw, origin: tuple[int, int], entries: list[tuple[Color, str]], font: Any
) -> None:
    x, y = origin
    draw.text((x, y), "legend:", fill=(0, 0, 0), font=font)
    x += int(draw.textlength("legend: ", font=font)) + _PAD
    for color, name in entries:
        draw.rectangle((x, y + 3, x + 11, y + 14), fill=color, outline=(0, 0, 0))
        draw.text((x + 16, y), name, fill=(0, 0, 0), font=font)
        x += 16 + int(draw.textlength(name, font=font)) + 3 * _PAD


def wrap_text(text: str, font: Any, width: int) -> list[str]:
    """Greedy word wrap to ``width`` pixels; words keep single spaces between them."""
    lines: list[str] = []
    line = ""
    for word in text.split():
        trial = f"{line} {word}" if line else word
        if line and font.getlength(trial) > width:
            lines.append(line)
            line = word
        else:
            line = trial
    return [*lines, line] if line else lines
