"""What :func:`~benchmarks.leaderboard.validate_submission` returns: ok, the problems, the re-scored summary."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_SHOWN = 50
"""Problems printed by :meth:`ValidationReport.format` (all are kept in :attr:`ValidationReport.problems`)."""


@dataclass(frozen=True)
class Problem:
    """One reason to reject a submission.

    Attributes:
        where: The file, and the line or record, e.g. ``results.jsonl:12 (SpaceTools-...-v0/test/3)``.
        message: What is wrong, what was expected, and how to fix it.
    """

    where: str
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class ValidationReport:
    """The verdict on one submission directory.

    Attributes:
        path: The submission directory.
        problems: Every reason to reject it; empty when it is accepted.
        episodes: Records read from ``results.jsonl``.
        rescored: Records whose score was recomputed by the official scorer.
        submission: The parsed ``submission.json`` (None when missing or invalid).
        suite: ``{"name", "version", "episodes"}`` of the frozen suite it was checked against.
        summary: :func:`benchmarks.eval.aggregate.summarize` over the *re-scored* records (None
            when nothing could be re-scored).
        seconds: Wall time of the validation.
    """

    path: str
    problems: list[Problem] = field(default_factory=list)
    episodes: int = 0
    rescored: int = 0
    submission: dict[str, Any] | None = None
    suite: dict[str, Any] | None = None
    summary: dict[str, Any] | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, where: str, message: str) -> None:
        self.problems.append(Problem(where, message))

    def reasons(self) -> list[str]:
        """Every problem as one ``where: message`` line."""
        return [str(p) for p in self.problems]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "ok": self.ok,
            "problems": [{"where": p.where, "message": p.message} for p in self.problems],
            "episodes": self.episodes,
            "rescored": self.rescored,
            "submission": self.submission,
            "suite": self.suite,
            "summary": self.summary,
            "seconds": self.seconds,
        }

    def format(self) -> str:
        """A human-readable verdict: OK/REJECTED, the problems, then the re-scored benchmark numbers."""
        head = "OK" if self.ok else f"REJECTED ({len(self.problems)} problems)"
        lines = [f"{self.path}: {head}; {self.episodes} records read, {self.rescored} re-scored in {self.seconds:.1f}s"]
        if self.submission:
            lines.append(f"  model: {self.submission.get('model')}  agent: {self.submission.get('agent')}")
        if self.suite:
            lines.append(f"  suite: {self.suite['name']} v{self.suite['version']} ({self.suite['episodes']} episodes)")
        for problem in self.problems[:MAX_SHOWN]:
            lines.append(f"  - {problem}")
        if len(self.problems) > MAX_SHOWN:
            lines.append(f"  ... and {len(self.problems) - MAX_SHOWN} more")
        if self.summary:
            mean = self.summary.get("mean_score")
            lines.append(f"  re-scored mean score: {mean:.4f}" if mean is not None else "  re-scored mean: -")
            for name, bench in self.summary.get("benchmarks", {}).items():
                metrics = ", ".join(f"{k} {v:.2f}" for k, v in bench["metrics_pct"].items())
                lines.append(f"  {name} (n={bench['n']}): {metrics}")
        return "\n".join(lines)
