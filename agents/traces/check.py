"""``spacetools traces check``: read a trace dataset back (ours or the released set) and say what it holds."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from agents.traces.dataset_dir import read_dataset
from agents.traces.trace import Trace, TraceError
from spacetools_env.loaders.errors import RowError
from spacetools_env.loaders.images import image_array


@dataclass
class CheckReport:
    """Counts over every row of a dataset that imported cleanly."""

    path: Path
    fmt: str
    rows: int = 0
    images: int = 0
    assistant_turns: int = 0
    tool_calls: int = 0
    tool_messages: int = 0
    correct: int = 0
    unscored: int = 0
    sources: Counter[str] = field(default_factory=Counter)
    tools: Counter[str] = field(default_factory=Counter)

    def format(self) -> str:
        scored = self.rows - self.unscored
        lines = [
            f"{self.path}: {self.rows} traces in the {self.fmt} format, all rows and {self.images} images read back",
            f"  {self.assistant_turns / max(self.rows, 1):.2f} assistant turns and "
            f"{self.tool_calls / max(self.rows, 1):.2f} structured tool calls per trace, "
            f"{self.tool_messages} tool responses",
            f"  scores: {self.correct} of {scored} scored traces correct" + (
                f", {self.unscored} without a score" if self.unscored else ""),
        ]
        lines += [f"  source {name}: {count} traces" for name, count in sorted(self.sources.items())]
        lines += [f"  {name}: {count} calls" for name, count in self.tools.most_common()]
        return "\n".join(lines)


def check_dataset(path: Path) -> CheckReport:
    """Import every row of ``path`` and decode every image once.

    Raises:
        TraceError: the first malformed row (file, row, field and fix) or unreadable image.
    """
    fmt, traces = read_dataset(path)
    report = CheckReport(path, fmt)
    decoded: set[str] = set()
    for trace in traces:
        _count(report, trace)
        for image in trace.images:
            if image.file_name in decoded:
                continue
            try:
                image_array(image.data, "images")
            except RowError as exc:
                raise TraceError(f"{path}: image {image.file_name} of source {trace.source!r}: {exc}") from None
            decoded.add(image.file_name)
    report.images = len(decoded)
    return report


def _count(report: CheckReport, trace: Trace) -> None:
    report.rows += 1
    report.sources[trace.source or "(none)"] += 1
    score = trace.score
    report.unscored += score is None
    report.correct += score is not None and score >= 1.0
    for message in trace.messages:
        report.assistant_turns += message.role == "assistant"
        report.tool_messages += message.role == "tool"
        report.tool_calls += len(message.calls)
        report.tools.update(c.name for c in message.calls)
