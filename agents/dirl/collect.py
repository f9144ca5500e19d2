"""DIRL step 2 (trace collection) and step 0's data (answer format only), both through the eval runner.

Every episode here is played by :func:`benchmarks.eval.run_eval`, exactly as ``spacetools eval`` plays it
(same records, manifests and summaries; a killed collection resumes where it stopped), and turned into
SFT traces by :func:`agents.traces.export_runs` (images rebuilt by replay, correct-only filter, the
seeded source mix). Why the eval runner and not a loop of our own: its records are what every other
tool reads (traces export, leaderboard, plots), and it already batches the ``hf`` agent
(:class:`~spacetools_env.batch_rollout.BatchRollout`) and resumes.

Step 2 (:func:`run_collect`, :class:`CollectConfig`) writes under its folder::

    policy/      eval run of the step-1 policy (``--agent hf``) on ``policy_env_ids``
    teacher/     eval run of the teacher (``tool-program``, or ``openai`` for a frontier model)
    trl/         the mixed traces in TRL's format (what step 3 trains on)
    sharegpt/    the same traces in the released set's ShareGPT layout (LLaMA-Factory)
    released-N/  each released SFT set added (``released``), converted to TRL's format
    mix.json     the mix asked for and reached (also logged), the done marker
    config.json  this config

Step 0's data (:func:`run_format_data`, :class:`FormatDataConfig`): the blind-guess agent
(:mod:`agents.blind_guess`) answers every question in one turn in the format it asks for, in envs
made with ``tools=[]``. Why blind-guess: the tiny stand-in for an instruction-tuned model should know
the answer format (``<answer>(A)</answer>``, a point list, Yes/No) and nothing of the tasks, so every
arm starts from the same format-capable base and what the arms learn of the tasks is theirs; a
teacher that solves the tasks would already teach them. Its answers are mostly wrong, so every
episode is kept (``min_score=0``): the format is the lesson, not the answer.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.dirl.common import load_config, save_config
from agents.traces import FORMATS, export_runs, read_dataset, write_dataset
from agents.traces.filters import CORRECT, MixReport, passes
from agents.traces.trace import TraceError
from benchmarks.eval import EvalConfig, read_results, run_eval

Log = Callable[[str], None]
TEACHERS = ("tool-program", "openai")
"""Teacher agents: the scripted tool programs, or an OpenAI-compatible model (the frontier teacher)."""
MIX_FILE = "mix.json"
DATA_FILE = "data.json"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _check_ids(name: str, ids: Any, allow_empty: bool = False) -> tuple[str, ...]:
    if isinstance(ids, str) or not all(isinstance(i, str) and i for i in ids):
        raise ValueError(f"{name} must be a list of env ids (strings), got {ids!r}")
    ids = tuple(ids)
    if not ids and not allow_empty:
        raise ValueError(f"{name} must name at least one env id, e.g. ['SpaceTools-Synth-RefLocation-v0']")
    return ids


def _check_count(name: str, value: Any, minimum: int = 1) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def _json_mapping(name: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{name} must be a JSON object (a mapping), got {type(value).__name__}")
    try:
        json.dumps(dict(value), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must hold JSON values only (it is saved with the run): {exc}") from None
    return dict(value)


@dataclass(frozen=True)
class CollectConfig:
    """DIRL step 2: correct policy episodes mixed with teacher episodes, exported in both trace formats.

    Attributes:
        env_ids: Env ids the teacher plays.
        episodes_per_env: Teacher episodes per env id (items ``0..N-1`` of ``split``).
        policy: The step-1 checkpoint folder (the pipeline fills it in); None: no policy episodes
            (unless ``policy_agent`` is not ``hf``).
        policy_agent: The eval agent that plays the policy: ``hf`` loads ``policy``; another name
            (``openai``: the checkpoint served by vLLM or ``transformers serve``; ``tool-program``
            in tests) is built from ``policy_kwargs`` alone.
        policy_env_ids: Env ids the policy plays (default: ``env_ids``); the paper's point-tool
            specialist played the pointing families.
        policy_episodes_per_env: Policy episodes per env id.
        split: Item split both play (``train``: never the held-out ``test`` items).
        env_kwargs: ``gym.make`` options of every env here. The pipeline passes step 4's, so each
            trace's system prompt and tools block are the ones step-4 GRPO and the held-out
            evaluation render (the prompt ids are the same in SFT, GRPO and eval).
        policy_kwargs: ``hf`` agent options of the policy (generation settings, ``device``,
            ``threads``); sampling by default, seeded per episode, as the IRL rollouts were.
        teacher: ``tool-program`` or ``openai`` (then ``teacher_kwargs`` names ``model`` and ``base_url``).
        teacher_kwargs: The teacher agent's constructor options.
        mix: Policy : teacher ratio (the paper's 1:3); None keeps every correct episode of both.
        min_score: Least score an episode needs to be kept (1.0: correct only, as the paper).
        released: Released SFT set folders (or files) added to the collected traces; each is
            converted to TRL's format under ``released-N/``.
        released_only: Use only ``released`` (nothing is played).
        seed: Base seed of the episodes' resets and of the mix sampling.
        batch_size: Episodes played in lockstep (one batched model call per turn).
        workers: Eval worker processes (1: in this process).
    """

    env_ids: tuple[str, ...]
    episodes_per_env: int = 8
    policy: str | None = None
    policy_agent: str = "hf"
    policy_env_ids: tuple[str, ...] = ()
    policy_episodes_per_env: int = 8
    split: str = "train"
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    policy_kwargs: Mapping[str, Any] = field(default_factory=lambda: {"do_sample": True, "temperature": 1.0})
    teacher: str = "tool-program"
    teacher_kwargs: Mapping[str, Any] = field(default_factory=dict)
    mix: tuple[int, ...] | None = (1, 3)
    min_score: float = CORRECT
    released: tuple[str, ...] = ()
    released_only: bool = False
    seed: int = 0
    batch_size: int = 8
    workers: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "env_ids", _check_ids("env_ids", self.env_ids, allow_empty=self.released_only))
        object.__setattr__(self, "policy_env_ids", _check_ids("policy_env_ids", self.policy_env_ids, True))
        for name in ("episodes_per_env", "policy_episodes_per_env", "batch_size", "workers"):
            _check_count(name, getattr(self, name))
        _check_count("seed", self.seed, 0)
        if self.policy is not None and (not isinstance(self.policy, str) or not self.policy):
            raise ValueError(f"policy must be a checkpoint folder or None, got {self.policy!r}")
        if self.teacher not in TEACHERS:
            raise ValueError(f"teacher must be one of {list(TEACHERS)}, got {self.teacher!r}")
        if self.mix is not None:
            mix = tuple(self.mix)
            if len(mix) != 2 or not all(isinstance(p, int) and not isinstance(p, bool) and p >= 1 for p in mix):
                raise ValueError(f"mix must be two positive integers (policy, teacher), e.g. [1, 3]; got {self.mix!r}")
            object.__setattr__(self, "mix", mix)
        if not isinstance(self.min_score, int | float) or not 0.0 <= float(self.min_score) <= 1.0:
            raise ValueError(f"min_score must be in [0, 1] (1 keeps correct episodes only), got {self.min_score!r}")
        released = _check_ids("released", self.released, allow_empty=True)
        object.__setattr__(self, "released", released)
        if self.released_only and not released:
            raise ValueError("released_only needs at least one released set folder in released")
        for name in ("env_kwargs", "policy_kwargs", "teacher_kwargs"):
            object.__setattr__(self, name, _json_mapping(name, getattr(self, name)))
        if self.policy_agent == "hf" and "model" in self.policy_kwargs:
            raise ValueError("policy_kwargs may not set 'model'; the policy checkpoint is the 'policy' field")

    @property
    def plays_policy(self) -> bool:
        """Whether policy episodes are played (a checkpoint is given, or a non-``hf`` policy agent)."""
        return self.policy is not None or self.policy_agent != "hf"

    @property
    def played_policy_env_ids(self) -> tuple[str, ...]:
        """The env ids the policy plays (``policy_env_ids``, else ``env_ids``)."""
        return self.policy_env_ids or self.env_ids


@dataclass(frozen=True)
class FormatDataConfig:
    """DIRL step 0's data: blind-guess answers, no tools (see the module docstring for why).

    Attributes:
        env_ids: Env ids to answer (one question each per item).
        episodes_per_env: Episodes per env id.
        split: Item split (``train``).
        env_kwargs: ``gym.make`` options; ``tools`` is forced to ``[]`` (no tools block).
        seed: Base seed of the resets.
    """

    env_ids: tuple[str, ...]
    episodes_per_env: int = 16
    split: str = "train"
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "env_ids", _check_ids("env_ids", self.env_ids))
        _check_count("episodes_per_env", self.episodes_per_env)
        _check_count("seed", self.seed, 0)
        kwargs = _json_mapping("env_kwargs", self.env_kwargs)
        if kwargs.get("tools", []) != []:
            raise ValueError(
                f"env_kwargs.tools must be [] for the answer-format data (no tools), got {kwargs['tools']!r}"
            )
        object.__setattr__(self, "env_kwargs", {**kwargs, "tools": []})


# ---------------------------------------------------------------------------- step 0's data
def run_format_data(config: FormatDataConfig, out: Path, log: Log = _stderr, progress: bool = True) -> Path:
    """Play ``config`` with the blind-guess agent into ``out/episodes`` and export ``out/trl``; returns ``out/trl``.

    Returns at once when ``out/trl`` exists (:func:`~agents.traces.write_dataset` only moves a
    complete folder there).
    """
    trl = out / "trl"
    if trl.is_dir():
        return trl
    save_config(config, out / "config.json")
    _play("blind-guess", {}, config.env_ids, config.episodes_per_env, config.split, config.env_kwargs,
          config.seed, out / "episodes", progress=progress)
    report = export_runs([out / "episodes"], trl, "trl", min_score=0.0)
    log(f"step 0 data: {report.written.rows} answer-format traces in {trl}")
    return trl


# ---------------------------------------------------------------------------- step 2
def run_collect(config: CollectConfig, out: Path, log: Log = _stderr, progress: bool = True) -> Path:
    """DIRL step 2 into ``out`` (layout in the module docstring); returns ``out``.

    ``progress`` shows the eval runner's progress bars (not part of the config: it changes no result).

    Resumes: each eval run resumes by itself, and an export already written is kept. Returns at
    once when ``out/mix.json`` exists.

    Raises:
        TraceError: no episode passed the filters and no released set is added.
        ValueError: a policy checkpoint that is needed but not given.
    """
    if (out / MIX_FILE).is_file():
        return out
    save_config(config, out / "config.json")
    runs: dict[str, Path] = {}
    if not config.released_only:
        if config.plays_policy:
            options = dict(config.policy_kwargs)
            if config.policy_agent == "hf":
                options["model"] = config.policy
            runs["policy"] = _play(
                config.policy_agent, options, config.played_policy_env_ids,
                config.policy_episodes_per_env, config.split, config.env_kwargs, config.seed, out / "policy",
                batch_size=config.batch_size, workers=config.workers, progress=progress,
            )
        runs["teacher"] = _play(
            config.teacher, config.teacher_kwargs, config.env_ids, config.episodes_per_env, config.split,
            config.env_kwargs, config.seed, out / "teacher", batch_size=config.batch_size, workers=config.workers,
            progress=progress,
        )
    summary = _export(config, runs, out, log)
    for n, path in enumerate(config.released, start=1):
        summary["released"].append(_add_released(Path(path), out / f"released-{n}", log))
    if not summary["datasets"] and not summary["released"]:
        raise TraceError(f"{out}: no episode scored >= {config.min_score:g} and no released set was added; "
                         "play more episodes, lower min_score, or add a released set (released)")
    (out / MIX_FILE).write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return out


def collected_datasets(out: Path) -> tuple[Path, ...]:
    """The TRL-format dataset folders a finished :func:`run_collect` wrote (what step 3 trains on).

    Raises:
        FileNotFoundError: ``out`` holds no finished collection.
    """
    path = out / MIX_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: step 2 (trace collection) has not finished in {out}; run it first")
    summary = json.loads(path.read_text(encoding="utf-8"))
    return tuple(Path(p) for p in [*summary["datasets"], *summary["released"]])


def _play(
    agent: str, agent_kwargs: Mapping[str, Any], env_ids: Sequence[str], episodes: int, split: str,
    env_kwargs: Mapping[str, Any], seed: int, out: Path, *, batch_size: int = 8, workers: int = 1,
    progress: bool = True,
) -> Path:
    """One eval run (resumed when killed); returns its folder."""
    run_eval(EvalConfig(
        agent=agent, suite=",".join(env_ids), out=out, episodes=episodes, split=split, seed=seed,
        agent_kwargs=dict(agent_kwargs), env_kwargs=dict(env_kwargs), batch_size=batch_size, workers=workers,
        progress=progress,
    ))
    return out


def _kept(run: Path, min_score: float) -> tuple[int, int]:
    """(episodes scoring at least ``min_score``, episodes) of an eval run folder."""
    records = read_results(run / "results.jsonl").records
    return sum(passes(r.get("score"), min_score) for r in records), len(records)


def _export(config: CollectConfig, runs: Mapping[str, Path], out: Path, log: Log) -> dict[str, Any]:
    """Export the runs in both formats at the mix; the summary written to ``mix.json``.

    A policy with no correct episode cannot reach any mix (the scarcest source sets the scale, so
    nothing of the teacher would be kept either): the teacher's episodes are then exported alone, and
    the reached mix says 0 policy episodes, rather than train step 3 on nothing.
    """
    kept = {name: _kept(run, config.min_score) for name, run in runs.items()}
    sources = [name for name in runs if kept[name][0] > 0]
    ratio: tuple[int, ...] | None = config.mix if config.mix is not None and len(sources) == 2 else None
    summary: dict[str, Any] = {
        "asked": list(config.mix) if config.mix is not None else None,
        "sources": {name: {"kept": k, "episodes": n} for name, (k, n) in kept.items()},
        "datasets": [], "released": [], "reached": {},
    }
    if not sources:
        log(f"step 2: no episode scored >= {config.min_score:g} "
            + ", ".join(f"({name}: 0 of {n})" for name, (_, n) in kept.items()))
        return summary
    report = None
    for fmt in FORMATS:
        folder = out / fmt
        if not folder.is_dir():
            report = export_runs([runs[s] for s in sources], folder, fmt, min_score=config.min_score, ratio=ratio,
                                 seed=config.seed)
    summary["datasets"] = [str(out / "trl")]
    summary["reached"] = _reached(sources, kept, report.mix if report is not None else None, out / "trl")
    log("step 2: " + _format_reached(config.mix, summary["reached"], kept))
    return summary


def _reached(sources: Sequence[str], kept: Mapping[str, tuple[int, int]], mix: MixReport | None,
             trl: Path) -> dict[str, int]:
    """Episodes taken per source: from the mix report, else counted in the written rows' ``source``."""
    if mix is not None:
        return {name: taken for name, taken in zip(mix.sources, mix.taken, strict=True)}
    _, traces = read_dataset(trl)
    counts = {name: 0 for name in kept}
    for trace in traces:
        counts[trace.source] = counts.get(trace.source, 0) + 1
    return counts


def _format_reached(asked: tuple[int, ...] | None, reached: Mapping[str, int],
                    kept: Mapping[str, tuple[int, int]]) -> str:
    wanted = ":".join(map(str, asked)) if asked is not None else "none (every kept episode)"
    got = ", ".join(f"{name} {reached.get(name, 0)} (of {k} correct in {n} played)" for name, (k, n) in kept.items())
    return f"mix asked {wanted} (policy:teacher), reached {got}"


def _add_released(path: Path, folder: Path, log: Log) -> str:
    """A released SFT set (ShareGPT or TRL layout) converted to a TRL-format folder; returns its path."""
    if not folder.is_dir():
        fmt, traces = read_dataset(path)
        written = write_dataset(traces, folder, "trl")
        log(f"step 2: released set {path} ({fmt}, {written.rows} rows) added as {folder}")
    return str(folder)


def load_collect_config(data: Mapping[str, Any], source: str) -> CollectConfig:
    """:class:`CollectConfig` from JSON data (lists become tuples); an unknown key is named."""
    data = dict(data)
    for key in ("env_ids", "policy_env_ids", "released", "mix"):
        if isinstance(data.get(key), list):
            data[key] = tuple(data[key])
    return load_config(CollectConfig, data, source)


def load_format_data_config(data: Mapping[str, Any], source: str) -> FormatDataConfig:
    """:class:`FormatDataConfig` from JSON data; an unknown key is named."""
    data = dict(data)
    if isinstance(data.get("env_ids"), list):
        data["env_ids"] = tuple(data["env_ids"])
    return load_config(FormatDataConfig, data, source)
