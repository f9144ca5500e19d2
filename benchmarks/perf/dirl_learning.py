"""Learning, demonstrated: SFT of the tiny ``learn`` model on tool-program traces, then live held-out evals.

The documented command of issue 9's "learning, demonstrated, not assumed" (``docs/learning.md`` holds
the figures and what was tried)::

    python benchmarks/perf/dirl_learning.py --out /tmp/dirl-learning          # the full run (< 60 min)
    python benchmarks/perf/dirl_learning.py --out /tmp/dirl-learning --short  # a sanity check (minutes)

What it does, in order:

1. Writes the tiny Qwen2.5-VL of :mod:`agents.models.tiny` at ``--size learn`` (random weights,
   digits one per token, 56x56 images: 4 image tokens).
2. Plays ``--train-episodes`` training-split episodes per family with the tool-program agent
   (``--thoughts decisions``: each decision stated one step from copied text) and keeps the correct
   ones (rejection sampling of the teacher: it is exact with oracle tools, so all are kept).
3. SFT with a minimal loop (AdamW, linear warm-up then cosine): each episode is rendered with the
   checkpoint's chat template exactly as :class:`agents.models.hf.HFAgent` renders it at eval (the
   same messages, images resized by the same ``fit_pixels`` bounds, the same template), loss on the
   assistant turns only (each from its generation prompt to its ``<|im_end|>``, inclusive). A minimal
   loop and not TRL's ``SFTTrainer``: its VLM collator drops ``tool_calls`` and ignores the tools
   column on Qwen2.5-VL (notes ``models_and_training.md``); here the tool calls are plain assistant
   text, as the env's text protocol has them, so rendering is the agent's own.
4. Plays ``--test-episodes`` held-out (``test`` split, fixed seeds) episodes per family live, through
   :class:`~spacetools_env.batch_rollout.BatchRollout`, with: the untrained checkpoint, the trained one
   (greedy), the random agent and the blind agent. Prints per family and agent: the valid tool-call rate
   (an episode made at least one tool call, every call ran without error, and no action was invalid),
   the answer rate and the accuracy (mean score), each with its standard error, and the paired
   bootstrap of the trained model's accuracy against each floor (mean gain, its bootstrap standard
   error, and whether it exceeds two of them).

Prompts are shrunk only through the env's own options: each family offers only the tools its
program calls and no ``# Tools`` block (``tools_in_system_prompt=False``); the system prompt is the
env's. Torch runs on ``--threads`` threads (1 by default: the machine is shared). Same seed, same run.
Outputs in ``--out``: ``base/`` and ``sft/`` checkpoints, ``metrics.jsonl`` (loss per step, evals),
``results.json`` and ``learning.png`` (loss and held-out accuracy over steps).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FAMILY_TOOLS: dict[str, tuple[str, ...]] = {
    "Relation2D": ("roborefer.detect_one",),
    "SpatialConfiguration": ("roborefer.detect_one", "depth_estimator.estimate_depth", "vision_ops.index_at"),
    "RelativeDepth": ("roborefer.detect_one", "depth_estimator.estimate_depth", "vision_ops.index_at"),
}
"""The tools each family's program calls: the only ones its env offers (a shorter prompt, the same protocol)."""
TEST_SEED = 1_000_000
"""Held-out episodes are ``test``-split resets seeded ``TEST_SEED + i``; training ones ``train`` seeded ``i``."""


@dataclass(frozen=True)
class LearningConfig:
    """One learning run.

    Attributes:
        families: Synthetic families trained together and evaluated one by one (keys of FAMILY_TOOLS).
        size: Tiny model size preset (``agents.models.tiny.SIZES``).
        thoughts: Teacher-thought style of the tool programs (``agents.programs.toolkit.THOUGHTS``).
        train_episodes: Teacher episodes per family.
        test_episodes: Held-out episodes per family (at least 200 for the issue's figures).
        steps: SFT optimizer steps; ``batch_size`` episodes each.
        lr: AdamW peak learning rate; ``warmup`` linear warm-up steps, then cosine to 0.
        weight_decay: AdamW weight decay.
        pixels: Image area bound (min and max) of rendering at training and eval (56x56: 4 image tokens).
        max_turn_tokens: New tokens per turn at eval.
        max_episode_tokens: Tokens after the first prompt per episode at eval (the teacher's episodes
            take about 250; an untrained model writes noise up to this budget, which bounds its eval time).
        eval_every: Steps between held-out evals of ``curve_episodes`` episodes per family (0: none).
        seed: Seed of the weights, the batch order and the bootstrap.
        threads: Torch threads.
        init: A checkpoint to start SFT from (e.g. an earlier run's ``sft/``: a longer run in two legs,
            each with its own warm-up and cosine); empty: the fresh ``base/``. The untrained floor is
            ``base/`` either way.
    """

    families: tuple[str, ...] = ("Relation2D", "SpatialConfiguration")
    size: str = "learn"
    thoughts: str = "decisions"
    train_episodes: int = 800
    test_episodes: int = 200
    steps: int = 850
    batch_size: int = 16
    lr: float = 2e-3
    warmup: int = 50
    weight_decay: float = 0.0
    pixels: int = 56 * 56
    max_turn_tokens: int = 160
    max_episode_tokens: int = 512
    eval_every: int = 300
    curve_episodes: int = 48
    seed: int = 0
    threads: int = 1
    init: str = ""

    def __post_init__(self) -> None:
        unknown = [f for f in self.families if f not in FAMILY_TOOLS]
        if unknown or not self.families:
            raise ValueError(f"families {list(self.families)}: unknown {unknown}; known: {sorted(FAMILY_TOOLS)}")
        for name in ("train_episodes", "test_episodes", "steps", "batch_size", "pixels", "max_turn_tokens",
                     "max_episode_tokens", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.init and not (Path(self.init) / "config.json").is_file():
            raise ValueError(f"init {self.init!r} is not a checkpoint folder (no config.json); give an sft/ folder")


# ---------------------------------------------------------------------------- envs and episodes
def env_id(family: str) -> str:
    return f"SpaceTools-Synth-{family}-v0"


def make_env(key: str) -> Any:
    """The env of ``key`` (an env id of FAMILY_TOOLS's families) with its family's tools, no tools block."""
    import gymnasium as gym

    import spacetools_env  # noqa: F401  (registers the ids)

    family = key.removeprefix("SpaceTools-Synth-").removesuffix("-v0")
    return gym.make(key, tools=list(FAMILY_TOOLS[family]), tools_in_system_prompt=False)


def work_items(family: str, count: int, split: str) -> list[Any]:
    from spacetools_env.batch_rollout import WorkItem

    base = TEST_SEED if split == "test" else 0
    return [
        WorkItem(f"{family}/{split}/{i}", env_id(family), seed=base + i, options={"split": split})
        for i in range(count)
    ]


def play(agent: Any, items: Sequence[Any], batch_size: int = 32) -> list[Any]:
    """The trajectories of ``items`` played by ``agent``, in the items' order (a failed episode raises)."""
    from spacetools_env.batch_rollout import BatchRollout

    driver = BatchRollout(agent, make_env, batch_size=batch_size)
    try:
        results = {r.work.episode_id: r for r in driver.play(items)}
    finally:
        driver.close()
    failed = [r for r in results.values() if r.trajectory is None]
    if failed:
        raise RuntimeError(f"{len(failed)} episodes failed, first {failed[0].work.episode_id}: {failed[0].error!r}")
    return [results[item.episode_id].trajectory for item in items]


def teacher_traces(config: LearningConfig) -> list[Any]:
    """Correct tool-program episodes of every family (rejection sampling on the score)."""
    from agents.tool_program import ToolProgramAgent

    kept = []
    for family in config.families:
        played = play(ToolProgramAgent(thoughts=config.thoughts), work_items(family, config.train_episodes, "train"))
        kept += [t for t in played if t.score >= 1.0]
    return kept


# ---------------------------------------------------------------------------- rendering for SFT
@dataclass
class Encoded:
    """One episode as model inputs: token ids, labels (-100 outside assistant turns), vision inputs."""

    input_ids: Any
    labels: Any
    extra: dict[str, Any] = field(default_factory=dict)


def encode(messages: Sequence[dict[str, Any]], processor: Any, template: str, pixels: int) -> Encoded:
    """``messages`` rendered and tokenized as the hf agent renders them, labels on the assistant turns.

    Raises:
        ValueError: the template renders a turn's prompt that is not a prefix of the whole episode
            (then the eval prompt would differ from the trained one).
    """
    import torch

    from agents.models.render import fit_pixels, template_messages

    rendered, arrays = template_messages(messages)
    images = [fit_pixels(a, pixels, pixels) for a in arrays] or None
    full = processor.apply_chat_template(rendered, chat_template=template, tokenize=False)
    batch = processor(text=[full], images=images, return_tensors="pt")
    ids = batch["input_ids"][0]
    labels = torch.full_like(ids, -100)
    end_id = processor.tokenizer.convert_tokens_to_ids("<|im_end|>")
    for k, message in enumerate(rendered):
        if message["role"] != "assistant":
            continue
        prefix = processor.apply_chat_template(
            rendered[:k], chat_template=template, tokenize=False, add_generation_prompt=True
        )
        if not full.startswith(prefix):
            raise ValueError(f"the chat template's prompt for assistant turn {k} is not a prefix of the episode")
        start = int(processor(text=[prefix], images=images, return_tensors="pt")["input_ids"].shape[1])
        ends = (ids[start:] == end_id).nonzero()
        stop = start + int(ends[0]) + 1 if len(ends) else len(ids)
        labels[start:stop] = ids[start:stop]
    extra = {k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask")}
    return Encoded(ids, labels, extra)


def collate(items: Sequence[Encoded], pad_id: int) -> dict[str, Any]:
    """A right-padded batch: ids, attention mask, labels, per-token extras padded, vision inputs joined."""
    import torch

    length = max(len(e.input_ids) for e in items)
    ids = torch.full((len(items), length), pad_id, dtype=torch.long)
    labels = torch.full((len(items), length), -100, dtype=torch.long)
    mask = torch.zeros((len(items), length), dtype=torch.long)
    for row, e in enumerate(items):
        n = len(e.input_ids)
        ids[row, :n], labels[row, :n], mask[row, :n] = e.input_ids, e.labels, 1
    out: dict[str, Any] = {"input_ids": ids, "attention_mask": mask, "labels": labels}
    for key in items[0].extra:
        values = [e.extra[key] for e in items]
        if values[0].dim() == 2 and values[0].shape[0] == 1 and values[0].shape[1] == len(items[0].input_ids):
            padded = torch.zeros((len(items), length), dtype=values[0].dtype)  # per-token (mm_token_type_ids)
            for row, v in enumerate(values):
                padded[row, : v.shape[1]] = v[0]
            out[key] = padded
        else:
            out[key] = torch.cat(values)
    return out


# ---------------------------------------------------------------------------- the SFT loop
def lr_at(step: int, config: LearningConfig) -> float:
    """Linear warm-up to ``lr`` over ``warmup`` steps, then cosine to 0 at ``steps``."""
    if step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    progress = (step - config.warmup) / max(1, config.steps - config.warmup)
    return config.lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def train(
    model: Any, data: Sequence[Encoded], config: LearningConfig, pad_id: int, log: Any = None, on_step: Any = None
) -> list[float]:
    """``config.steps`` AdamW steps on batches drawn without replacement (reshuffled each epoch); the losses.

    ``log(record)`` gets ``{"step", "loss", "lr", "seconds"}`` per step; ``on_step(step)`` runs after
    each (the held-out curve evals).
    """
    import torch

    rng = np.random.default_rng(config.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    order: list[int] = []
    losses: list[float] = []
    start = time.perf_counter()
    model.train()
    for step in range(config.steps):
        if len(order) < config.batch_size:
            order += rng.permutation(len(data)).tolist()
        batch, order = order[: config.batch_size], order[config.batch_size :]
        for group in optimizer.param_groups:
            group["lr"] = lr_at(step, config)
        loss = model(**collate([data[i] for i in batch], pad_id)).loss
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        losses.append(loss.item())
        if log is not None:
            log({"step": step + 1, "loss": losses[-1], "lr": lr_at(step, config),
                 "seconds": round(time.perf_counter() - start, 2)})
        if on_step is not None:
            on_step(step + 1)
            model.train()
    model.eval()
    return losses


# ---------------------------------------------------------------------------- held-out figures
def episode_figures(trajectories: Iterable[Any]) -> dict[str, np.ndarray]:
    """Per episode: ``score``, ``valid_calls`` (>= 1 call, no tool error, no invalid action), ``answered``."""
    score, valid, answered = [], [], []
    for t in trajectories:
        stats = t.info.get("tool_stats", {})
        score.append(t.score)
        valid.append(float(stats.get("calls", 0) >= 1 and stats.get("errors", 0) == 0
                           and t.info.get("invalid_actions", 0) == 0))
        answered.append(float(t.terminated))
    return {"score": np.array(score), "valid_calls": np.array(valid), "answered": np.array(answered)}


def mean_se(values: np.ndarray) -> tuple[float, float]:
    """The mean and its standard error (sample standard deviation over the square root of n)."""
    n = len(values)
    return float(values.mean()), float(values.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0


def paired_bootstrap(a: np.ndarray, b: np.ndarray, seed: int = 0, draws: int = 10_000) -> dict[str, float]:
    """The gain ``mean(a - b)`` over paired episodes, its bootstrap standard error and one-sided p.

    Episodes are resampled with replacement (the same indices for both arms, so the pairing stays).
    ``significant``: the gain exceeds two standard errors (the issue's criterion).
    """
    diff = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    rng = np.random.default_rng(seed)
    means = diff[rng.integers(0, len(diff), size=(draws, len(diff)))].mean(axis=1)
    gain, se = float(diff.mean()), float(means.std(ddof=1))
    return {"gain": gain, "se": se, "p_le_0": float((means <= 0).mean()), "significant": float(gain > 2 * se)}


def hf_agent(path: Path, config: LearningConfig) -> Any:
    from agents.models.hf import HFAgent

    return HFAgent(model=str(path), threads=config.threads, min_pixels=config.pixels, max_pixels=config.pixels,
                   max_turn_tokens=config.max_turn_tokens, max_episode_tokens=config.max_episode_tokens,
                   batch_size=32)


def evaluate(agent: Any, config: LearningConfig, count: int) -> dict[str, dict[str, np.ndarray]]:
    """Per family, the episode figures of ``count`` held-out episodes played by ``agent``."""
    return {f: episode_figures(play(agent, work_items(f, count, "test"))) for f in config.families}


def summarize(figures: dict[str, np.ndarray]) -> dict[str, float]:
    out: dict[str, float] = {"episodes": float(len(figures["score"]))}
    for name, values in figures.items():
        out[name], out[f"{name}_se"] = mean_se(values)
    return out


# ---------------------------------------------------------------------------- the run
def run(config: LearningConfig, out: Path, progress: Any = print) -> dict[str, Any]:
    """The whole demonstration (module docstring); returns and writes ``results.json``."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor

    from agents.blind_guess import BlindGuessAgent
    from agents.models.templates import load_template
    from agents.models.tiny import write_checkpoint
    from agents.random_agent import RandomAgent

    torch.set_num_threads(config.threads)
    out.mkdir(parents=True, exist_ok=True)
    (out / "config.json").write_text(json.dumps(asdict(config), indent=1))
    metrics = (out / "metrics.jsonl").open("w")

    def log(record: dict[str, Any]) -> None:
        metrics.write(json.dumps(record) + "\n")
        metrics.flush()
        if record.get("step", 0) % 50 == 0 or "eval" in record:
            progress(json.dumps(record))

    clock = time.perf_counter()
    base = write_checkpoint("qwen2_5_vl", out / "base", seed=config.seed, size=config.size)
    traces = teacher_traces(config)
    processor = AutoProcessor.from_pretrained(base)
    template = load_template("qwen2_5_vl")
    data = [encode(t.messages, processor, template, config.pixels) for t in traces]
    lengths = [len(d.input_ids) for d in data]
    progress(f"{len(data)} teacher episodes, tokens per episode median {int(np.median(lengths))} max {max(lengths)}, "
             f"{time.perf_counter() - clock:.0f} s")
    model = AutoModelForImageTextToText.from_pretrained(config.init or base)
    sft = out / "sft"

    def save() -> None:
        model.save_pretrained(sft)
        processor.save_pretrained(sft)

    def curve(step: int) -> None:
        if config.eval_every and step % config.eval_every == 0 and step < config.steps:
            save()
            scores = evaluate(hf_agent(sft, config), config, config.curve_episodes)
            log({"eval": "curve", "step": step, **{f: summarize(v) for f, v in scores.items()}})

    train(model, data, config, processor.tokenizer.pad_token_id, log=log, on_step=curve)
    save()
    train_s = time.perf_counter() - clock
    arms = {"untrained": hf_agent(base, config), "sft": hf_agent(sft, config),
            "random": RandomAgent(seed=config.seed), "blind": BlindGuessAgent()}
    figures = {name: evaluate(agent, config, config.test_episodes) for name, agent in arms.items()}
    results: dict[str, Any] = {"config": asdict(config), "train_episodes_kept": len(data), "train_s": round(train_s),
                               "total_s": 0, "families": {}}
    for family in config.families:
        row: dict[str, Any] = {name: summarize(figures[name][family]) for name in arms}
        for floor in ("random", "blind", "untrained"):
            row[f"sft_vs_{floor}"] = paired_bootstrap(
                figures["sft"][family]["score"], figures[floor][family]["score"], seed=config.seed
            )
        results["families"][family] = row
    results["total_s"] = round(time.perf_counter() - clock)
    log({"eval": "final", **results})
    metrics.close()
    (out / "results.json").write_text(json.dumps(results, indent=1))
    plot(out)
    return results


def plot(out: Path) -> None:
    """``learning.png``: the training loss per step and the held-out accuracy of the curve evals and the final one."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    steps = [r for r in records if "loss" in r and "eval" not in r]
    evals = [r for r in records if r.get("eval") == "curve"]
    final = [r for r in records if r.get("eval") == "final"]
    if final and steps:  # the last point: the final eval's SFT accuracy at the last step
        evals.append({"step": steps[-1]["step"], **{f: row["sft"] for f, row in final[-1]["families"].items()}})
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.plot([r["step"] for r in steps], [r["loss"] for r in steps], linewidth=0.6)
    left.set(yscale="log", xlabel="step", ylabel="loss (assistant tokens)", title="SFT loss")
    families = [k for k in (evals[0] if evals else {}) if k not in ("eval", "step")]
    for family in families:
        right.plot([r["step"] for r in evals], [r[family]["score"] for r in evals], marker="o", label=family)
    right.set(xlabel="step", ylabel="held-out accuracy", ylim=(0, 1), title="curve evals")
    if families:
        right.legend()
    fig.tight_layout()
    fig.savefig(out / "learning.png", dpi=100)
    plt.close(fig)


def report(results: dict[str, Any]) -> str:
    """The printed table: per family and agent, valid tool calls, answers, accuracy; then the bootstraps."""
    lines = [f"{'family':<22}{'agent':<11}{'valid calls':>16}{'answered':>16}{'accuracy':>16}"]
    for family, row in results["families"].items():
        for name in ("untrained", "sft", "random", "blind"):
            r = row[name]
            cells = "".join(f"{r[k]:>9.3f} +-{r[k + '_se']:.3f}" for k in ("valid_calls", "answered", "score"))
            lines.append(f"{family:<22}{name:<11}{cells}")
        for floor in ("random", "blind", "untrained"):
            b = row[f"sft_vs_{floor}"]
            verdict = "> 2 SE" if b["significant"] else "not > 2 SE"
            lines.append(f"{'':<22}sft - {floor}: gain {b['gain']:+.3f} (bootstrap SE {b['se']:.3f}, "
                         f"{b['gain'] / b['se'] if b['se'] else float('inf'):.1f} SE) {verdict}")
    lines.append(f"teacher episodes {results['train_episodes_kept']}, training {results['train_s']} s, "
                 f"total {results['total_s']} s")
    return "\n".join(lines)


SHORT = {"train_episodes": 16, "test_episodes": 8, "steps": 4, "batch_size": 4, "warmup": 2, "eval_every": 2,
         "curve_episodes": 4, "max_turn_tokens": 24,
         "max_episode_tokens": 48}
"""``--short``: every stage on a few episodes (plumbing, not learning)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="run folder (created)")
    defaults = LearningConfig()
    for name, value in asdict(defaults).items():
        if name == "families":
            parser.add_argument("--families", nargs="+", default=list(value), help="families (FAMILY_TOOLS)")
        else:
            parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    parser.add_argument("--short", action="store_true", help="a few episodes and steps (a sanity check)")
    args = vars(parser.parse_args(argv))
    out, short = args.pop("out"), args.pop("short")
    args["families"] = tuple(args["families"])
    if short:
        args.update(SHORT)
    results = run(LearningConfig(**args), out)
    print(report(results))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
