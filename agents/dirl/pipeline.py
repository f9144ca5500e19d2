"""The DIRL pipeline: the steps in order, one run folder, held-out evaluations and plots.

``run_pipeline(config, out)`` (``spacetools dirl --config tiny --out runs/dirl``) writes::

    out/config.json          the DIRLConfig (a folder holds one config: another is refused)
    out/git.json             code revision and whether the tree had uncommitted changes
    out/0-base/              init/ (a tiny base written once), data/ (answer-format traces), the SFT run
                             (config.json, metrics.jsonl, data.json, trainer/, final/)
    out/1-pointing-grpo/     GRPO with the point tool (config.json, metrics.jsonl, trainer/, final/)
    out/2-traces/            trace collection (agents.dirl.collect: policy/, teacher/, trl/, sharegpt/, mix.json)
    out/3-sft/               SFT on the traces
    out/4-grpo/              GRPO with all tools
    out/A-grpo-from-base/    the ablation arm (``ablation``): step 4's GRPO from the shared base, DIRL's GRPO budget
    out/eval/<step folder>/  held-out eval of that step's checkpoint (results.jsonl, manifest.json, summary.json)
    out/eval/faulted/<...>/  with ``faults``: the base, steps 3, 4 and A again under the faults, and ``teacher``
                             (the tool-program agent on the same faulted episodes, the reference)
    out/eval/scores.json     per step, per family: score, its standard error, valid tool-call rate, calls; with
                             ``faults`` also ``"faulted"``: per step, its families and ``recovery``
    out/plots/*.png          learning curves, tool-call rates, held-out scores (agents.dirl.plots)
    out/timing.json          wall seconds per step (and per evaluation) of this folder's runs

Order and resumption: steps run in order; each step function skips a finished folder and resumes a
killed one from its last checkpoint (:func:`agents.dirl.sft.run_sft`, :func:`agents.dirl.grpo.run_grpo`;
the eval runner and the collection resume by themselves), so re-running the same command after a
crash continues where it stopped. ``steps`` runs a subset (``--step N``, ``--step A``); a step whose
input is not there yet is an error naming the step to run first.

Faults (``faults``): step 4 and the arm train with the faults in their env options; after the
base, step 3, step 4 and the arm, a second held-out evaluation on the same items and seeds runs
with the faults (``eval/faulted/<step folder>``), and once the tool-program agent on them
(``eval/faulted/teacher``): its recovery rate says what the faulted episodes allow a scripted
agent. The faults are drawn from each episode's reset seed and call number, so every checkpoint
meets the same faults as long as it makes the same calls. The fault flag stays in the records
(the env never shows it to the model).

Checkpoints: step 0's output is the shared base; steps 1 and 3 start from it (and the ablation arm
``A``, run after step 4 when ``ablation`` is on), step 2's policy is step 1's output and step 4
starts from step 3's (the config's ``model`` fields are replaced; see
:mod:`agents.dirl.config`). :func:`resolved_step_config` is each step's config as run;
:func:`write_step_config` writes it for a step launched by hand (``accelerate launch``, docs/dirl.md).

:func:`dry_run` (``--dry-run``) builds every step's trainer from the config with a tiny stand-in
model and exits: a paper config is checked on a CPU in seconds. Progress: one line per step (and
per evaluation) on stderr, the eval runner's bars unless ``--no-progress``.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from agents.dirl.collect import collected_datasets, run_collect, run_format_data
from agents.dirl.common import FINAL, config_dict, save_config
from agents.dirl.config import (
    ABLATION,
    FAULTED_STEPS,
    STEP_NAMES,
    TINY_PREFIX,
    DIRLConfig,
    ablation_step_config,
    with_faults,
)
from agents.dirl.plots import EVAL_DIR, FAULTED_DIR, TEACHER, faulted_table, heldout_table, write_plots

Log = Callable[[str], None]
Step = int | str
STEPS: tuple[Step, ...] = (0, 1, 2, 3, 4, ABLATION)
"""Every step id in the order they run (the ablation arm last: it needs only the base)."""


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def step_folder(out: Path, step: Step) -> Path:
    """The folder of step ``step`` in the run folder ``out``."""
    return out / STEP_NAMES[step]


def base_checkpoint(config: DIRLConfig, out: Path) -> Path:
    """The shared base every arm starts from: step 0's output, or ``base_model`` when there is no step 0."""
    if config.step0 is not None:
        return step_folder(out, 0) / FINAL
    return _initial_model(config, out)


def step_checkpoint(config: DIRLConfig, out: Path, step: Step) -> Path:
    """The checkpoint step ``step`` (0, 1, 3, 4 or ``A``) leaves behind."""
    if step == 0:
        return base_checkpoint(config, out)
    if step == 2:
        raise ValueError("step 2 (trace collection) writes no checkpoint")
    return step_folder(out, step) / FINAL


def _initial_model(config: DIRLConfig, out: Path) -> Path:
    """``base_model``; a ``tiny:<family>`` one written into ``0-base/init`` once (then read back, never rewritten)."""
    if not config.base_model.startswith(TINY_PREFIX):
        return Path(config.base_model)
    folder = step_folder(out, 0) / "init"
    if not (folder / "config.json").is_file():
        from agents.models.tiny import write_checkpoint

        family, size = config.tiny_model
        staging = folder.parent / ".init.partial"
        write_checkpoint(family, staging, seed=config.seed, size=size)
        staging.rename(folder)
    return folder


def _need(path: Path, step: Step, needed_by: Step) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"step {needed_by} needs {path}, written by step {step} ({STEP_NAMES[step]}); "
                                f"run --step {step} first (or the whole pipeline)")
    return path


# ---------------------------------------------------------------------------- the steps
def resolved_step_config(config: DIRLConfig, out: Path, step: Step, progress: bool = True) -> Any:
    """Step ``step``'s own config as the pipeline runs it in ``out``: its inputs (models, data) filled in.

    Step 0's data (:class:`~agents.dirl.collect.FormatDataConfig`) is played by :func:`run_step`
    first; its config here names the folder it is written to. None for step 0 without an SFT.

    Raises:
        FileNotFoundError: an input (an earlier step's output) is not there yet.
    """
    if step == 0:
        if config.step0 is None:
            return None
        data = step_folder(out, 0) / "data" / "trl"
        return dataclasses.replace(config.step0, model=str(_initial_model(config, out)),
                                   datasets=(*config.step0.datasets, str(data)))
    base = _need(base_checkpoint(config, out), 0, step)
    if step == 1:
        return dataclasses.replace(config.step1, model=str(base), progress=progress)
    if step == 2:
        policy = _need(step_checkpoint(config, out, 1), 1, 2)
        # The policy plays with the budgets it was trained under unless the config says otherwise.
        kwargs = {**_budgets(config.step1), **config.step2.policy_kwargs} if config.step2.policy_agent == "hf" else (
            config.step2.policy_kwargs)
        return dataclasses.replace(config.step2, policy=str(policy), policy_kwargs=kwargs)
    if step == 3:
        traces = collected_datasets(_need(step_folder(out, 2), 2, 3))
        datasets = (*config.step3.datasets, *(str(p) for p in traces))
        return dataclasses.replace(config.step3, model=str(base), datasets=datasets)
    if step == 4:
        sft = _need(step_checkpoint(config, out, 3), 3, 4)
        return dataclasses.replace(config.step4, model=str(sft), progress=progress,
                                   env_kwargs=with_faults(config.step4.env_kwargs, config.faults))
    if step == ABLATION:
        return dataclasses.replace(ablation_step_config(config), model=str(base), progress=progress)
    raise ValueError(f"unknown step {step}; the steps are {list(STEPS)}")


def run_step(config: DIRLConfig, out: Path, step: Step, log: Log = _stderr, progress: bool = True) -> Path:
    """Run (or resume, or skip when finished) step ``step`` in ``out``; returns its output folder or checkpoint."""
    from agents.dirl.grpo import run_grpo
    from agents.dirl.sft import run_sft

    folder = step_folder(out, step)
    if step == 0 and config.step0_data is not None:
        run_format_data(config.step0_data, folder / "data", log=log, progress=progress)
    resolved = resolved_step_config(config, out, step, progress)
    if step == 0:
        return run_sft(resolved, folder) if resolved is not None else _initial_model(config, out)
    if step == 2:
        return run_collect(resolved, folder, log=log, progress=progress)
    return (run_sft if step == 3 else run_grpo)(resolved, folder)


def write_step_config(config: DIRLConfig, out: Path, step: Step) -> Path:
    """Write step ``step``'s resolved config to ``out/<step folder>.json`` (for ``accelerate launch``); returns it.

    The step run that way into ``out/<step folder>`` then holds the config the pipeline would
    run it with, so the pipeline finds it finished.
    """
    resolved = resolved_step_config(config, out, step, progress=False)
    if resolved is None:
        raise ValueError(f"step {step} has nothing to run in this config (no step0)")
    _claim(config, out)
    return save_config(resolved, out / f"{STEP_NAMES[step]}.json")


def evaluate_step(config: DIRLConfig, out: Path, step: Step, progress: bool = True, faulted: bool = False) -> Any:
    """The held-out evaluation of step ``step``'s checkpoint into ``out/eval/<step folder>`` (resumed); its Summary.

    ``faulted``: the same items and seeds with ``config.faults`` in the env's ``tool_options``, into
    ``out/eval/faulted/<step folder>`` (its summary then has ``recovery`` when a call faulted).
    """
    from benchmarks.eval import EvalConfig, run_eval

    spec = config.eval
    checkpoint = _need(step_checkpoint(config, out, step), step, step)
    # Step 4's budgets unless the eval section sets them: every step is asked under the same limits.
    options = {**_budgets(config.step4), **spec.agent_kwargs, "model": str(checkpoint)}
    return run_eval(EvalConfig(
        agent="hf", agent_kwargs=options, suite=",".join(spec.env_ids),
        out=_eval_folder(out, STEP_NAMES[step], faulted), episodes=spec.episodes, split=spec.split, seed=spec.seed,
        env_kwargs=_eval_env_kwargs(config, faulted), batch_size=spec.batch_size, progress=progress,
    ))


def evaluate_teacher_faulted(config: DIRLConfig, out: Path, progress: bool = True) -> Any:
    """The tool-program agent on the faulted held-out episodes (``out/eval/faulted/teacher``): the reference.

    A checkpoint that never calls a tool meets no fault (its ``recovery`` is absent); the teacher
    calls on every episode, so its recovery rate says what these faulted episodes allow.
    """
    from benchmarks.eval import EvalConfig, run_eval

    spec = config.eval
    return run_eval(EvalConfig(
        agent="tool-program", suite=",".join(spec.env_ids), out=_eval_folder(out, TEACHER, True),
        episodes=spec.episodes, split=spec.split, seed=spec.seed, env_kwargs=_eval_env_kwargs(config, True),
        batch_size=spec.batch_size, progress=progress,
    ))


def _eval_folder(out: Path, name: str, faulted: bool) -> Path:
    return out / EVAL_DIR / FAULTED_DIR / name if faulted else out / EVAL_DIR / name


def _eval_env_kwargs(config: DIRLConfig, faulted: bool) -> dict[str, Any]:
    if not faulted:
        return config.eval_env_kwargs
    if config.faults is None:
        raise ValueError("a faulted evaluation needs faults in the config (DIRLConfig.faults)")
    return with_faults(config.eval_env_kwargs, config.faults)


def _budgets(step: Any) -> dict[str, int]:
    """The ``hf`` agent's token budgets matching a GRPO step's (per turn, and per episode after the prompt)."""
    return {"max_turn_tokens": step.max_turn_tokens, "max_episode_tokens": step.max_completion_length}


def run_pipeline(
    config: DIRLConfig, out: Path, steps: Sequence[Step] | None = None, *, log: Log = _stderr, progress: bool = True,
) -> Path:
    """Run ``steps`` (default: all; ``A`` when ``ablation`` is on) of ``config`` in ``out``, each with its eval.

    Returns ``out``. One line per step is logged (start, end, wall seconds); the eval runner shows
    a progress bar unless ``progress`` is False. With ``faults``, the steps of
    :data:`~agents.dirl.config.FAULTED_STEPS` are evaluated a second time under the faults, and
    the teacher once (:func:`evaluate_teacher_faulted`), each logged with its recovery rate.

    Raises:
        ValueError: ``out`` holds a run of another config, an unknown step, or ``A`` with ``ablation`` off.
        FileNotFoundError: a step's input (an earlier step's output) is missing.
    """
    default = STEPS if config.ablation else tuple(s for s in STEPS if s != ABLATION)
    chosen = tuple(default if steps is None else steps)
    bad = [s for s in chosen if s not in STEPS]
    if bad:
        raise ValueError(f"unknown step(s) {bad}; the steps are {list(STEPS)}")
    if ABLATION in chosen and not config.ablation:
        raise ValueError(f"step {ABLATION} (the ablation arm) is off in config {config.name!r}; set \"ablation\": true")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    _claim(config, out)
    (out / "git.json").write_text(json.dumps(git_state(), indent=2) + "\n", encoding="utf-8")
    timing = _read_json(out / "timing.json")
    for step in sorted(set(chosen), key=STEPS.index):
        name = STEP_NAMES[step]
        log(f"[dirl] step {step} ({name}): start")
        started = time.perf_counter()
        result = run_step(config, out, step, log=log, progress=progress)
        timing[name] = round(time.perf_counter() - started, 3)
        log(f"[dirl] step {step} ({name}): done in {timing[name]:.1f} s -> {result}")
        if step in config.eval.steps or step == ABLATION:  # the arm exists to be compared: always evaluated
            started = time.perf_counter()
            summary = evaluate_step(config, out, step, progress=progress)
            timing[f"eval/{name}"] = round(time.perf_counter() - started, 3)
            log(f"[dirl] eval {name}: mean score {summary.mean_score} over {summary.recorded} episodes "
                f"in {timing[f'eval/{name}']:.1f} s")
        if config.faults is not None and step in FAULTED_STEPS:
            started = time.perf_counter()
            summary = evaluate_step(config, out, step, progress=progress, faulted=True)
            timing[f"eval/{FAULTED_DIR}/{name}"] = round(time.perf_counter() - started, 3)
            _log_faulted(log, name, out)
        _write_json(out / "timing.json", timing)
    if config.faults is not None:
        evaluate_teacher_faulted(config, out, progress=progress)
        _log_faulted(log, TEACHER, out)
    folders = [STEP_NAMES[s] for s in STEPS]
    scores: dict[str, Any] = dict(heldout_table(out, folders))
    if config.faults is not None:
        scores[FAULTED_DIR] = faulted_table(out, [*folders, TEACHER])
    _write_json(out / EVAL_DIR / "scores.json", scores)
    for plot in write_plots(out, folders, dirl_offset=config.step1.max_steps):
        log(f"[dirl] plot {plot}")
    return out


def _log_faulted(log: Log, name: str, out: Path) -> None:
    row = faulted_table(out, [name]).get(name)
    figure = (row or {}).get("recovery")
    if figure is None:
        log(f"[dirl] faulted eval {name}: no call faulted (no tool was called), no recovery figure")
    else:
        log(f"[dirl] faulted eval {name}: recovered {figure['recovered']} of {figure['faulted_episodes']} faulted "
            f"episodes (rate {figure['recovery_rate']:.3f}), correct among them {figure['correct_rate']:.3f}")


def _claim(config: DIRLConfig, out: Path) -> None:
    """Write ``out/config.json``, or check it holds this config (a folder is one run)."""
    path = out / "config.json"
    data = config_dict(config)
    if path.is_file():
        saved = _read_json(path)
        if saved != data:
            differ = sorted(k for k in set(saved) | set(data) if saved.get(k) != data.get(k))
            raise ValueError(f"{path}: this run folder holds a run of another config (sections {differ} differ); "
                             "pass a new --out, or the config it was started with")
        return
    _write_json(path, data)


def git_state() -> dict[str, Any]:
    """The code's git revision and whether its tree has uncommitted changes (None: not a git checkout)."""
    root = Path(__file__).resolve().parents[2]
    try:
        revision = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True,
                                  check=True, timeout=30).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                                capture_output=True, text=True, check=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return {"revision": None, "dirty": None, "root": str(root)}
    return {"revision": revision, "dirty": bool(status.strip()), "root": str(root)}


def _read_json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        return {}
    data = json.loads(path.read_text(encoding="utf-8"))
    return data if isinstance(data, dict) else {}


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# ---------------------------------------------------------------------------- dry run and the command
def dry_run(config: DIRLConfig, out: Path, log: Log = _stderr) -> list[str]:
    """Validate ``config`` and build every step's trainer with a tiny stand-in model; nothing is trained.

    What is built is the config's own steps, hyperparameters and env options unchanged, except
    ``model`` (a tiny Qwen2.5-VL written under ``out``) and the data: one answer-format and one
    teacher episode of the first env id, so the SFT trainers have examples, and GRPO rows for one
    step's prompts on one process (not the thousands of prompts a paper step renders). A paper config on a CPU
    thus checks every step's TRL arguments (batch and generation sizes, schedules, budgets) in
    seconds. Returns one line per trainer built.
    """
    from agents.dirl.grpo import build_grpo_trainer
    from agents.dirl.sft import build_sft_trainer
    from agents.models.tiny import write_checkpoint

    out = Path(out)
    tiny = out / "tiny-model"
    if not (tiny / "config.json").is_file():
        write_checkpoint("qwen2_5_vl", tiny, seed=config.seed)
    quiet: Log = lambda _message: None  # noqa: E731  (the stand-in data's counts say nothing of the config)
    step2 = dataclasses.replace(config.step2, env_ids=config.step2.env_ids[:1], episodes_per_env=1, policy=None,
                                released=(), released_only=False)
    traces = collected_datasets(run_collect(step2, out / "traces", log=quiet, progress=False))
    built: list[str] = []
    step4 = dataclasses.replace(config.step4, env_kwargs=with_faults(config.step4.env_kwargs, config.faults))
    sections: list[tuple[Step, Any]] = [(1, config.step1), (3, config.step3), (4, step4)]
    if config.ablation:
        sections.append((ABLATION, ablation_step_config(config)))
    if config.step0 is not None and config.step0_data is not None:
        data0 = dataclasses.replace(config.step0_data, env_ids=config.step0_data.env_ids[:1], episodes_per_env=1)
        data = run_format_data(data0, out / "format-data", log=quiet, progress=False)
        sections.insert(0, (0, dataclasses.replace(config.step0, datasets=(str(data),))))
    for step, section in sections:
        folder = out / STEP_NAMES[step]
        trainer: Any
        if step == 0 or step == 3:
            datasets = section.datasets if step == 0 else tuple(str(p) for p in traces)
            trainer = build_sft_trainer(dataclasses.replace(section, model=str(tiny), datasets=datasets), folder)
        else:
            rows = -(-section.prompts_per_step(1) // len(section.env_ids))  # ceil: one step's prompts
            trainer = build_grpo_trainer(dataclasses.replace(section, model=str(tiny), rows_per_env=rows), folder)
        args = trainer.args
        line = (f"step {step} ({STEP_NAMES[step]}): {type(trainer).__name__} built, max_steps {args.max_steps}, "
                f"lr {args.learning_rate:g}, per-device batch {args.per_device_train_batch_size} x accumulation "
                f"{args.gradient_accumulation_steps}")
        built.append(line)
        log(f"[dirl] dry run: {line}")
        del trainer
    return built


def dirl_command(args: Any) -> int:
    """``spacetools dirl``: exit status 0 when the steps ran (or the dry run built), 2 on a usage error."""
    import tempfile

    from agents.dirl.config import load_dirl_config

    try:
        config = load_dirl_config(args.config)
    except FileNotFoundError as exc:
        print(f"spacetools: error: {exc}", file=sys.stderr)
        return 2
    if args.dry_run:
        if args.out:
            lines = dry_run(config, Path(args.out) / "dry-run")
        else:
            with tempfile.TemporaryDirectory(prefix="dirl-dry-run-") as scratch:
                lines = dry_run(config, Path(scratch))
        print(f"config {config.name!r} is valid; {len(lines)} trainers built with a tiny stand-in model:")
        print("\n".join(f"  {line}" for line in lines))
        return 0
    if not args.out:
        print("spacetools: error: --out is needed (the run folder), unless --dry-run", file=sys.stderr)
        return 2
    try:
        if args.write_step_config is not None:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            print(write_step_config(config, Path(args.out), args.write_step_config))
            return 0
        out = run_pipeline(config, Path(args.out), steps=args.step, progress=not args.no_progress)
    except FileNotFoundError as exc:  # a step's input missing: which step to run first
        print(f"spacetools: error: {exc}", file=sys.stderr)
        return 2
    print(f"DIRL run folder: {out} (eval/scores.json, plots/)")
    return 0
