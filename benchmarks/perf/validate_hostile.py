"""Leaderboard validation of hostile submissions: each named generator's time as a ratio to a normal one of its size.

A real submission is played first (``run_eval``, the tool-program agent, two synthetic
families x ``--episodes`` items), its answer keys warmed by one validation. Then, for each
named hostile generator of ``tests/fixtures_hostile.py`` (longest string, deepest nesting, most
calls, most turns, most images, most ``$`` references) and each flavour of it:

- *past the limits*: every record pushed to ``--size`` bytes in that one dimension (rejected by
  its documented limit, :class:`benchmarks.leaderboard.limits.Limits`, before anything walks it);
- *within the limits*: the same push stopped just inside the default limits (read, parsed and
  re-scored to the end);

the submission made of those records and a *normal* one whose every record has the same size
(the agent's reasoning padded, every action within the env's 64 KiB cap) are each validated
``--repeats`` times in this process (``workers=1``). Printed: the median and worst seconds of
both, and the ratio of the medians (the target: at most 3).

    python benchmarks/perf/validate_hostile.py                 # 2 x 25 episodes, 256 KiB records
    python benchmarks/perf/validate_hostile.py --quick         # 2 x 3 episodes, a sanity check
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SUITE = "SpaceTools-Synth-RelativeDepth-v0,SpaceTools-Synth-FreeSpace-v0"
TARGET_RATIO = 3.0


@dataclass(frozen=True)
class Row:
    """One generator and flavour: seconds of the hostile and the normal submission of its size."""

    generator: str
    flavour: str
    bytes: int
    hostile: list[float]
    normal: list[float]
    verdict: str
    """The hostile submission's verdict: accepted, or its first problem."""

    @property
    def ratio(self) -> float:
        return statistics.median(self.hostile) / statistics.median(self.normal)

    def line(self) -> str:
        times = "".join(f"{statistics.median(t):>9.3f} /{max(t):>5.2f}" for t in (self.hostile, self.normal))
        return (f"{self.generator:<20}{self.flavour:<20}{self.bytes / 2**20:>7.2f}{times}{self.ratio:>8.2f}  "
                f"{self.verdict[:100]}")


def play(root: Path, episodes: int) -> Path:
    """The submission: a real run of the tool-program agent, with the submission.json it needs."""
    from benchmarks.eval import EvalConfig, run_eval
    from benchmarks.leaderboard import validate_submission
    from benchmarks.leaderboard.actions import called_tools

    out = root / "submission"
    run_eval(EvalConfig(agent="tool-program", suite=SUITE, episodes=episodes, out=out, progress=False),
             log=lambda message: None)
    meta = {"model": "oracle tools", "agent": "tool-program", "tools": called_tools(out), "contact": "a@b.org"}
    (out / "submission.json").write_text(json.dumps(meta))
    report = validate_submission(out, workers=1)  # warms the answer keys both flavours read
    if not report.ok:
        raise SystemExit(f"the played submission does not validate: {report.reasons()[:3]}")
    return out


def measure(submission: Path, root: Path, size: int, repeats: int) -> list[Row]:
    from fixtures_hostile import GENERATORS, WITHIN_LIMITS, timed_against_normal

    records = [json.loads(line) for line in (submission / "results.jsonl").read_text().splitlines()]
    rows = []
    for name, generate in GENERATORS.items():
        for flavour, make in (("past the limits", functools.partial(generate, size=size)),
                              ("within the limits", WITHIN_LIMITS[name])):
            lines = [make(record) for record in records]
            folder = root / f"{name}-{flavour}".replace(" ", "_").replace("$", "d")
            timed = timed_against_normal(submission, lines, folder, repeats)
            (hostile, report), (normal, normal_report) = timed["hostile"], timed["normal"]
            if not normal_report.ok:
                raise SystemExit(f"the normal submission of {name} was rejected: {normal_report.reasons()[:3]}")
            verdict = "accepted" if report.ok else f"rejected: {report.reasons()[0]}"
            rows.append(Row(name, flavour, sum(len(line) + 1 for line in lines), hostile, normal, verdict))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--episodes", type=int, default=25, help="items per family (default 25: 50 records)")
    parser.add_argument("--size", type=int, default=256 * 1024, help="bytes per record past the limits")
    parser.add_argument("--repeats", type=int, default=3, help="validations of each submission (default 3)")
    parser.add_argument("--quick", action="store_true", help="3 items per family, 2 repeats: a sanity check")
    parser.add_argument("--json", help="also write the rows as JSON to this file")
    args = parser.parse_args()
    if args.quick:
        args.episodes, args.repeats = 3, 2
    sys.path.insert(0, str(REPO / "tests"))  # the hostile generators live with the tests
    with tempfile.TemporaryDirectory(prefix="validate-hostile-") as tmp:
        root = Path(tmp)
        os.environ["SPACETOOLS_CACHE_DIR"] = str(root / "cache")  # a private answer-key cache, warmed by play()
        submission = play(root, args.episodes)
        rows = measure(submission, root, args.size, args.repeats)
    print(f"{2 * args.episodes} records, {args.repeats} validations each (median / worst seconds)")
    print(f"{'generator':<20}{'flavour':<20}{'MB':>7}{'hostile':>16}{'normal':>16}{'ratio':>8}  verdict")
    for row in rows:
        print(row.line())
    worst = max(rows, key=lambda row: row.ratio)
    verdict = "OK" if worst.ratio <= TARGET_RATIO else "OVER"
    print(f"worst ratio {worst.ratio:.2f} ({worst.generator}, {worst.flavour}): {verdict} (target <= {TARGET_RATIO:g})")
    if args.json:
        Path(args.json).write_text(json.dumps([{**asdict(row), "ratio": row.ratio} for row in rows], indent=2))


if __name__ == "__main__":
    main()
