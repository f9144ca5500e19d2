"""What an eval run returns, prints and saves as ``summary.json``."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Summary:
    """The outcome of :func:`benchmarks.eval.run_eval`.

    Attributes:
        suite: Suite name (``synth``, ``paper``, ``custom``).
        suite_version: The suite's version string (as in the manifest).
        agent: Agent name or import string.
        out: The output folder.
        expected: Episodes the suite asks for.
        recorded: Of those, episodes now in ``results.jsonl``.
        resumed: Episodes already recorded when this run started.
        played: Episodes played and recorded by this run.
        torn_bytes: Size of a partial last line dropped on start (0: the file ended cleanly).
        failed: ``(episode id, error)`` for episodes that raised, killed their worker process or
            left a record that cannot be written; none is in ``results.jsonl``, so the next run retries them.
        stats: The aggregation (:func:`benchmarks.eval.aggregate.summarize`) over the recorded episodes:
            strict scores (an unparsable answer counts 0), and per benchmark the official aggregate
            (unparsable answers dropped, as the published scripts do) with the dropped count; with
            faulted tool calls, ``recovery`` (faulted episodes, recovered, ``recovery_rate``).
        timing: Seconds summed over this run's episodes (env, tools, agent, wall) and the run's wall time;
            for an agent that reports usage, also its summed ``agent_requests``, ``agent_prompt_tokens`` ...
    """

    suite: str
    suite_version: str
    agent: str
    out: str
    expected: int
    recorded: int
    resumed: int
    played: int
    torn_bytes: int = 0
    failed: tuple[tuple[str, str], ...] = ()
    stats: dict[str, Any] = field(default_factory=dict)
    timing: dict[str, float] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return self.recorded == self.expected

    @property
    def mean_score(self) -> float | None:
        return self.stats.get("mean_score")

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["failed"] = [{"episode_id": e, "error": m} for e, m in self.failed]
        data["complete"] = self.complete
        return data

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False))
        os.replace(tmp, path)

    def format(self) -> str:
        """A plain-text report: families, benchmarks (official rules), question types, tools."""
        s = self.stats
        lines = [
            f"suite {self.suite} (version {self.suite_version}), agent {self.agent}: "
            f"{self.recorded}/{self.expected} episodes recorded ({self.resumed} resumed, {self.played} played now)",
        ]
        if s.get("families"):
            lines += ["", _table("family", s["families"])]
            overall = s.get("overall", {})
            lines.append(f"{'overall (mean of families)':<34}{_num(overall.get('family_mean')):>8}")
            lines.append(f"{'overall (pooled)':<34}{_num(overall.get('pooled')):>8}")
        for name, bench in s.get("benchmarks", {}).items():
            lines += ["", f"{name} (n={bench['n']}, %): {_metrics(bench['metrics_pct'])}"]
            if bench.get("unparsable"):
                lines.append(
                    f"  official, {bench['unparsable']} unparsable dropped (as the published scripts count; "
                    f"above they score 0): {_metrics(bench.get('official_metrics_pct') or {}) or '-'}"
                )
            lines.append(_table("  question type", bench["by_question_type"], indent="  "))
        tools = s.get("tools")
        if tools:
            lines += [
                "",
                f"tools: {_num(tools['calls_per_episode'], 2)} calls/episode, error rate "
                f"{_num(tools['error_rate'])}, {tools['episodes_without_tools']} episodes without tools, "
                f"{_num(tools['invalid_actions_per_episode'], 2)} invalid actions/episode",
            ]
            for name, t in tools["by_tool"].items():
                lines.append(
                    f"  {name:<48}{t['calls']:>7} calls {_num(t['calls_per_episode'], 2):>7}/ep "
                    f"errors {_num(t['error_rate'])}"
                )
        recovery = s.get("recovery")
        if recovery:
            kinds = ", ".join(f"{k} {v['recovered']}/{v['episodes']}" for k, v in recovery["by_kind"].items())
            lines += [
                "",
                f"faults: {recovery['faulted_episodes']} episodes with a faulted call "
                f"({recovery['faulted_calls']} calls), "
                f"recovered {recovery['recovered']} (rate {_num(recovery['recovery_rate'])}: called a tool again and "
                f"answered correctly), called again {_num(recovery['called_again_rate'])}, retried the faulted tool "
                f"{_num(recovery.get('retried_rate'))}, correct "
                f"{_num(recovery['correct_rate'])}; by kind (recovered/episodes): {kinds}",
            ]
        if self.failed:
            lines += ["", f"{len(self.failed)} episodes failed (re-run the same command to retry them):"]
            lines += [f"  {e}: {m}" for e, m in self.failed[:10]]
        return "\n".join(lines)


def _table(title: str, groups: dict[str, dict[str, Any]], indent: str = "") -> str:
    header = f"{title:<34}{'score':>8}{'n':>6}{'turns':>7}{'calls':>7}{'tool err':>9}{'trunc':>7}"
    rows = [header]
    for name, g in groups.items():
        rows.append(
            f"{indent + name:<34}{_num(g['mean_score']):>8}{g['n']:>6}{_num(g['turns'], 2):>7}"
            f"{_num(g['calls_per_episode'], 2):>7}{_num(g['tool_error_rate']):>9}{g['truncated']:>7}"
        )
    return "\n".join(rows)


def _metrics(metrics: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in metrics.items())


def _num(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"
