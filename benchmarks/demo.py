"""The demo: a scripted agent plays every synthetic family through ``gym.make`` and reports.

``spacetools demo`` prints a per-family table (score, turns, tool calls, tool errors) and
writes a few episodes as pictures: the question image with the tool results drawn on it.
"""

from __future__ import annotations

import json
import re
import textwrap
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
from PIL import Image, ImageDraw
from tqdm import tqdm

import spacetools_env
from benchmarks.agents import load_agent
from spacetools_env.drawing import draw_points, draw_tool_results
from spacetools_env.rollout import Trajectory, agent_policy, rollout

_POINT = re.compile(r"[\(\[]\s*(\d*\.?\d+)\s*,\s*(\d*\.?\d+)\s*[\)\]]")


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
                    save_picture(traj, config.out / f"{env_id}-{index}.png")
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


def save_picture(traj: Trajectory, path: Path) -> None:
    """The question image with every tool result and the answer's points, and a caption."""
    image = next(p["image"] for p in traj.messages[1]["content"] if p["type"] == "image")
    for results in traj.tool_results:
        image = draw_tool_results(image, results)
    answer = traj.info.get("answer") or ""
    points = [(float(x), float(y)) for x, y in _POINT.findall(answer)]
    if points and all(0 <= c <= 1 for p in points for c in p):
        image = draw_points(image, points, color=(255, 0, 255))
    question = next(p["text"] for p in traj.messages[1]["content"] if p["type"] == "text")
    caption = [f"{traj.info['task']['family']}  score={traj.score:.2f}  turns={traj.turns}"]
    caption += textwrap.wrap(question.replace("\n", " "), width=image.shape[1] // 7)[:4]
    caption.append(f"answer: {answer[:160]}")
    canvas = Image.new("RGB", (image.shape[1], image.shape[0] + 16 * len(caption) + 8), "white")
    canvas.paste(Image.fromarray(image), (0, 0))
    draw = ImageDraw.Draw(canvas)
    for i, line in enumerate(caption):
        draw.text((6, image.shape[0] + 4 + 16 * i), line, fill=(0, 0, 0))
    canvas.save(path)
