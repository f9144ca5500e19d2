"""The ``spacetools`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path


def _demo(args: argparse.Namespace) -> int:
    from benchmarks.demo import DemoConfig, format_table, run_demo

    config = DemoConfig(
        episodes=args.episodes,
        difficulty=args.difficulty,
        agent=args.agent,
        out=Path(args.out),
        pictures=args.pictures,
        families=tuple(args.families) if args.families else None,
    )
    rows = run_demo(config)
    print(format_table(rows))
    print(f"pictures and summary.json written to {config.out}/")
    return 0


def _json_object(example: str) -> Callable[[str], dict]:
    """A parser of a ``JSON`` option (``--env-kwargs``, ``--agent-kwargs``): a JSON object, or a usage error."""

    def parse(text: str) -> dict:
        import json

        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise argparse.ArgumentTypeError(f"not JSON ({exc}); pass an object like '{example}'") from None
        if not isinstance(value, dict):
            kind = type(value).__name__
            raise argparse.ArgumentTypeError(f"must be a JSON object, got {kind} (pass one like '{example}')")
        return value

    return parse


def _eval(args: argparse.Namespace) -> int:
    from benchmarks.eval import EvalConfig, ResultsLockedError, ResultsWriteError, run_eval

    config = EvalConfig(
        agent=args.agent,
        suite=args.suite,
        out=Path(args.out),
        episodes=args.episodes,
        workers=args.workers,
        batch_size=args.batch_size,
        difficulty=args.difficulty,
        data_dir=args.data_dir,
        split=args.split,
        seed=args.seed,
        progress=not args.no_progress,
        agent_kwargs=args.agent_kwargs,
        env_kwargs=args.env_kwargs,
    )
    try:
        summary = run_eval(config)
    # another run; a benchmark's data not found; a full (or unwritable) disk
    except (ResultsLockedError, FileNotFoundError, ResultsWriteError) as exc:
        print(f"spacetools: error: {exc}", file=sys.stderr)
        return 2
    print(summary.format())
    print(f"results.jsonl, manifest.json and summary.json in {config.out}/")
    return 0 if summary.complete else 1


def _add_eval(sub: argparse._SubParsersAction) -> None:
    run = sub.add_parser(
        "eval",
        help="evaluate an agent on a suite (resumable: re-run the same command after a crash)",
        description="Play every episode of a suite with an agent; write results.jsonl, manifest.json and "
        "summary.json to --out. Re-running the same command resumes; a different run into the same "
        "folder is refused. Exit status 1 when some episodes failed (re-run to retry them).",
    )
    run.add_argument("--agent", required=True, help="agent name (e.g. tool-program) or module:Class")
    run.add_argument(
        "--agent-kwargs",
        type=_json_object('{"seed": 1}'),
        default={},
        metavar="JSON",
        help='keyword arguments of the agent\'s constructor, e.g. \'{"seed": 1, "tool_turns": 2}\' for random '
        "(recorded in the manifest)",
    )
    run.add_argument(
        "--suite",
        required=True,
        help="synth, paper, or comma-separated env ids; an id may be module:EnvId (the module is imported and "
        "registers it, e.g. register_custom_family:SpaceTools-Synth-ObjectCount-v0)",
    )
    run.add_argument("--out", required=True, help="output folder (created; resumed if it holds this run)")
    run.add_argument("--episodes", type=int, help="items per env id (default: synth 50, benchmarks all)")
    run.add_argument("--workers", type=int, default=1, help="worker processes (default 1: in this process)")
    run.add_argument(
        "--batch-size",
        type=int,
        default=1,
        help="episodes each worker plays in lockstep, one batched agent call per turn (default 1); "
        "workers x batch-size are in flight, and the records are the same at any size",
    )
    run.add_argument("--difficulty", default="medium", choices=["easy", "medium", "hard"], help="synthetic scenes")
    run.add_argument("--data-dir", help="local copy of the benchmarks (passed to gym.make as data_dir=)")
    run.add_argument("--split", help="override the suite's item split")
    run.add_argument(
        "--env-kwargs",
        type=_json_object('{"max_turns": 4}'),
        default={},
        metavar="JSON",
        help='extra gym.make options for every env, e.g. \'{"max_turns": 4}\' or '
        '\'{"source_options": {"dataset": "lmo"}}\' (recorded in the manifest)',
    )
    run.add_argument("--seed", type=int, default=0, help="base seed of the episodes' resets (default 0)")
    run.add_argument("--no-progress", action="store_true", help="no progress bar")
    run.set_defaults(func=_eval)


def _print_cache(cache_dir: str | None, cache: bool = True) -> None:
    """Say where the answer keys are kept (and how to move them): validate, build and prepare print it."""
    from benchmarks.leaderboard.answer_keys import CACHE_ENV, default_cache_dir

    if not cache:
        print("answer keys: not cached (--no-cache): every synthetic item is regenerated", file=sys.stderr)
        return
    folder = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    print(f"answer keys: cached in {folder / 'answer-keys'} (move with --cache-dir or ${CACHE_ENV})", file=sys.stderr)


def _leaderboard_validate(args: argparse.Namespace) -> int:
    import json

    from benchmarks.leaderboard import validate_submission

    if args.workers is not None and args.workers < 1:
        print(f"spacetools: error: --workers must be >= 1, got {args.workers}", file=sys.stderr)
        return 2
    _print_cache(args.cache_dir, not args.no_cache)
    report = validate_submission(
        Path(args.dir),
        data_dir=args.data_dir,
        cache=not args.no_cache,
        cache_dir=args.cache_dir,
        workers=args.workers,
        log=lambda message: print(message, file=sys.stderr),
        replay=args.replay,
        suite=args.suite,
    )
    print(report.format())
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_dict(), indent=2))
    return 0 if report.ok else 1


def _leaderboard_build(args: argparse.Namespace) -> int:
    from benchmarks.leaderboard.site import SiteError, build_site

    _print_cache(args.cache_dir)
    try:
        summary = build_site(
            args.submissions, args.out, data_dir=args.data_dir, trajectories=args.trajectories,
            replay=args.replay, cache_dir=args.cache_dir, suite=args.suite,
        )
    except SiteError as exc:
        print(f"spacetools: error: {exc}", file=sys.stderr)
        return 2
    return 0 if summary.accepted else 1


def _leaderboard_prepare(args: argparse.Namespace) -> int:
    from benchmarks.leaderboard.validate import prepare_answer_keys

    _print_cache(args.cache_dir)
    try:
        count = prepare_answer_keys(
            args.suite, args.episodes, difficulty=args.difficulty, workers=args.workers, cache_dir=args.cache_dir,
            log=lambda message: print(message, file=sys.stderr),
        )
    except (ValueError, RuntimeError) as exc:
        print(f"spacetools: error: {exc}", file=sys.stderr)
        return 1
    print(f"answer keys ready for {count} synthetic episodes of suite {args.suite!r}")
    return 0


_CACHE_HELP = "answer-key cache folder (default: $SPACETOOLS_CACHE_DIR, else ~/.cache/spacetools)"


def _add_check_options(command: argparse.ArgumentParser) -> None:
    """The re-scoring options validate and build share."""
    command.add_argument("--cache-dir", help=_CACHE_HELP)
    command.add_argument(
        "--suite",
        help="the suite this leaderboard validates (synth, paper or comma-separated env ids): a submission run "
        "on another is rejected, and its env ids resolve against this suite only (default: any suite of the "
        "registry: synth, paper or SpaceTools ids)",
    )
    command.add_argument(
        "--replay",
        action="store_true",
        help="also replay every episode in its env with the oracle tools and reject tool texts that differ "
        "from the record (costs about one episode of env time each)",
    )


def _add_leaderboard(sub: argparse._SubParsersAction) -> None:
    board = sub.add_parser("leaderboard", help="leaderboard submissions")
    commands = board.add_subparsers(dest="leaderboard_command", required=True)
    validate = commands.add_parser(
        "validate",
        help="check a submission and re-score every episode (exit status 0: accepted, 1: rejected)",
        description="Check a submission directory (results.jsonl, manifest.json, submission.json): "
        "files, schema, suite version and episode list, and every score re-computed by the official "
        "scorer. Prints the verdict, every problem, and the re-scored summary.",
    )
    validate.add_argument("dir", help="the submission directory")
    validate.add_argument("--data-dir", help="local copy of the benchmarks (for the paper suite)")
    validate.add_argument("--json", help="also write the report as JSON to this file")
    validate.add_argument(
        "--no-cache",
        action="store_true",
        help="regenerate every synthetic item; read and write no answer keys "
        "(default: kept in $SPACETOOLS_CACHE_DIR or ~/.cache/spacetools, checksummed and spot-checked)",
    )
    validate.add_argument("--workers", type=int, help="processes generating synthetic items (default: CPUs)")
    _add_check_options(validate)
    validate.set_defaults(func=_leaderboard_validate)
    prepare = commands.add_parser(
        "prepare",
        help="build a suite's answer keys ahead of submissions, so validating them is fast",
        description="Generate (or load and spot-check) the cached answer keys of a synthetic suite for "
        "this code version, as `leaderboard validate` would on first use. Run it once per deployed version.",
    )
    prepare.add_argument("--suite", default="synth", help="synth or comma-separated env ids (default synth)")
    prepare.add_argument("--episodes", type=int, help="items per env id, as the submissions were run")
    prepare.add_argument("--difficulty", default="medium", choices=("easy", "medium", "hard"))
    prepare.add_argument("--workers", type=int, help="generating processes (default: CPUs)")
    prepare.add_argument("--cache-dir", help=_CACHE_HELP)
    prepare.set_defaults(func=_leaderboard_prepare)
    build = commands.add_parser(
        "build",
        help="validate submissions and write the static leaderboard site",
        description="Validate every submission (re-scoring every episode), rank the accepted ones per suite, "
        "and write a static site: the ranking table, per-benchmark plots, one page per submission and a "
        "trajectory viewer drawing tool results on the images. Open OUT/index.html in a browser. "
        "Exit status 0 when at least one submission was accepted.",
    )
    build.add_argument("submissions", nargs="+", help="submission directories")
    build.add_argument("--out", required=True, help="site folder (created; a site built before is replaced)")
    build.add_argument("--data-dir", help="local copy of the benchmarks (for the paper suite)")
    build.add_argument(
        "--trajectories", type=int, default=3, help="episodes per env id and submission in the viewer (default 3)"
    )
    _add_check_options(build)
    build.set_defaults(func=_leaderboard_build)


def _data_download(args: argparse.Namespace) -> int:
    from benchmarks.data import download

    try:
        folder = download(args.name, args.data_dir)
    except RuntimeError as exc:
        print(f"spacetools: error: {exc}", file=sys.stderr)
        return 1
    print(f"{args.name} is in {folder}")
    return 0


def _data_list(args: argparse.Namespace) -> int:
    from benchmarks.data import describe

    print(describe())
    return 0


def _add_data(sub: argparse._SubParsersAction) -> None:
    data = sub.add_parser("data", help="benchmark data")
    actions = data.add_subparsers(dest="data_command", required=True)
    fetch = actions.add_parser("download", help="fetch a benchmark release from the Hugging Face hub")
    fetch.add_argument("name", help="release name (see `spacetools data list`)")
    fetch.add_argument("--data-dir", help="download into DATA_DIR/<repository name>/ (default: the HF cache)")
    fetch.set_defaults(func=_data_download)
    listing = actions.add_parser("list", help="the releases the loaders read")
    listing.set_defaults(func=_data_list)


def _traces(args: argparse.Namespace) -> int:
    import importlib

    # `benchmarks` never imports `agents` statically (docs/architecture.md): resolved by name here.
    commands = importlib.import_module("agents.traces.cli")
    return int(getattr(commands, f"{args.traces_command}_command")(args))


def _add_traces(sub: argparse._SubParsersAction) -> None:
    traces = sub.add_parser("traces", help="SFT traces from eval runs (TRL or LLaMA-Factory ShareGPT format)")
    commands = traces.add_subparsers(dest="traces_command", required=True)
    export = commands.add_parser(
        "export",
        help="write the episodes of eval runs as an SFT dataset",
        description="Export the episodes of `spacetools eval` runs (each RUN_DIR is one source) to TRL's "
        "conversational format or the released SFT set's ShareGPT layout (with LLaMA-Factory's "
        "dataset_info.json); images are rebuilt by replaying each episode in its env and written under "
        "OUT/images/. Exit status 0 when traces were written, 2 on an error (no episode passed the filters, "
        "an episode that does not replay, a non-empty --out).",
    )
    export.add_argument("runs", nargs="+", metavar="RUN_DIR", help="--out folders of `spacetools eval` runs")
    export.add_argument("--format", required=True, choices=["trl", "sharegpt"], help="trace format")
    export.add_argument("--out", required=True, help="dataset folder (new or empty)")
    export.add_argument(
        "--min-score", type=float, default=1.0,
        help="keep episodes scoring at least this (default 1.0: only correct episodes, as the paper)",
    )
    export.add_argument(
        "--mix", metavar="A:B", help="sample the runs at this ratio, one part per RUN_DIR in order (e.g. 1:3, the "
        "paper's policy:teacher mix); the mix reached is printed (default: every kept episode)",
    )
    export.add_argument("--seed", type=int, default=0, help="seed of the --mix sampling (default 0)")
    export.add_argument("--data-dir", help="local copy of the benchmarks (for runs on the paper suite)")
    export.set_defaults(func=_traces)
    check = commands.add_parser(
        "check",
        help="import a trace dataset (ours or the released SFT set) and report what it holds",
        description="Read every row and image of a trace folder (or .json/.jsonl file) back; a malformed row "
        "is an error naming the file, row and field. Exit status 0 when everything reads back.",
    )
    check.add_argument("dir", help="dataset folder written by `traces export`, or the released set's folder or file")
    check.set_defaults(func=_traces)


def _dirl(args: argparse.Namespace) -> int:
    import importlib

    # `benchmarks` never imports `agents` statically (docs/architecture.md): resolved by name here.
    commands = importlib.import_module("agents.dirl.pipeline")
    return int(commands.dirl_command(args))


def _dirl_step(text: str) -> int | str:
    """A DIRL step id: a number, or ``A`` (the ablation arm)."""
    return int(text) if text.isdigit() else text.upper()


def _add_dirl(sub: argparse._SubParsersAction) -> None:
    dirl = sub.add_parser(
        "dirl",
        help="train the DIRL reference agent (the paper's recipe on TRL): base, point-tool GRPO, traces, SFT, GRPO",
        description="Run the DIRL pipeline into one run folder (--out): step 0 answer-format SFT (the shared base), "
        "1 GRPO with the pointing tool, 2 trace collection (policy and teacher, mixed 1:3), 3 SFT on the traces, "
        "4 GRPO with all tools; each trained step is evaluated on held-out episodes and the plots are written. "
        "Re-running the same command resumes (finished steps are skipped, a killed one continues from its last "
        "checkpoint). See docs/dirl.md.",
    )
    dirl.add_argument("--config", required=True, help="tiny (CPU), paper (Qwen2.5-VL-3B, GPUs) or a JSON file")
    dirl.add_argument("--out", help="run folder (created; resumed if it holds this config); needed unless --dry-run")
    dirl.add_argument("--step", type=_dirl_step, action="append", choices=[0, 1, 2, 3, 4, "A"],
                      help="run only this step (repeatable; A: the ablation arm, GRPO from the base); its inputs "
                      "must exist (default: every step, and A when the config has ablation on)")
    dirl.add_argument("--dry-run", action="store_true",
                      help="validate the config and build every step's trainer with a tiny stand-in model, then exit "
                      "(nothing is trained; a scratch folder under --out or a temporary one)")
    dirl.add_argument(
        "--write-step-config", type=_dirl_step, choices=[0, 1, 3, 4, "A"], metavar="N",
        help="write step N's resolved config (models and data filled in) to OUT/<step folder>.json and exit, for "
        "`accelerate launch -m agents.dirl.grpo --config OUT/4-grpo.json --out OUT/4-grpo` (docs/dirl.md)",
    )
    dirl.add_argument("--no-progress", action="store_true", help="no progress bars (one line per step still)")
    dirl.set_defaults(func=_dirl)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="spacetools", description="Tool-augmented spatial reasoning environments.")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="play every synthetic family with the scripted tool-program agent")
    demo.add_argument("--episodes", type=int, default=10, help="episodes per family (default 10)")
    demo.add_argument("--difficulty", default="medium", choices=["easy", "medium", "hard"])
    demo.add_argument("--agent", default="tool-program", help="agent name or module:Class")
    demo.add_argument("--out", default="demo_output", help="folder for pictures and summary.json")
    demo.add_argument("--pictures", type=int, default=2, help="episodes per family saved as pictures")
    demo.add_argument("--families", nargs="*", help="family names to play (default: all)")
    demo.set_defaults(func=_demo)
    _add_eval(sub)
    _add_leaderboard(sub)
    _add_data(sub)
    _add_traces(sub)
    _add_dirl(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ValueError as exc:
        print(f"spacetools: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
