"""The ``spacetools`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
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
