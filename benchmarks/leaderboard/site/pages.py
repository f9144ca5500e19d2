"""The ranking page (``index.html``) and one page per submission."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.leaderboard.report import ValidationReport
from benchmarks.leaderboard.site.html import cell, e, num, page, table
from benchmarks.leaderboard.site.plots import bar_chart, legend
from benchmarks.leaderboard.site.ranking import Standing, headline

MAX_REASONS = 5


@dataclass
class Entry:
    """One submission on the site."""

    slug: str
    report: ValidationReport
    manifest: dict[str, Any] = field(default_factory=dict)
    """The submission's ``manifest.json`` (read once, when it was accepted)."""
    standing: Standing = field(default_factory=lambda: Standing({}, None))
    """Set when ranked within its group (see :func:`group_benchmarks`)."""
    episodes: list[tuple[dict[str, Any], str, float | None]] = field(default_factory=list)
    """(record, page path relative to the submission folder, replayed score) of each viewable episode."""

    @property
    def meta(self) -> dict[str, Any]:
        return self.report.submission or {}

    @property
    def name(self) -> str:
        return str(self.meta.get("model") or self.slug)


def group_benchmarks(entries: Sequence[Entry]) -> list[str]:
    """Every benchmark any entry of a ranking group reports: the group's columns and mean."""
    return sorted({b for entry in entries for b in (entry.report.summary or {}).get("benchmarks", {})})


def _suite_label(suite: dict[str, Any] | None) -> str:
    if not suite:
        return "unknown suite"
    return f"{suite['name']} v{suite['version']} ({suite['episodes']} episodes)"


def _ranking(entries: Sequence[Entry], benchmarks: list[str]) -> str:
    headers = [("#", "num"), ("Model", "sortable"), ("Agent", "sortable"), ("Tools", "num sortable"),
               ("Mean", "num sortable")] + [(b, "num sortable") for b in benchmarks] + [("Episodes", "num sortable")]
    rows = []
    for rank, entry in enumerate(entries, start=1):
        rows.append(
            [f'<td class="num">{rank}</td>',
             f'<td><a href="s/{e(entry.slug)}/index.html">{e(entry.name)}</a></td>',
             cell(entry.meta.get("agent", "")),
             f'<td class="num">{len(entry.meta.get("tools") or [])}</td>',
             num(entry.standing.mean)]
            + [num(entry.standing.headlines.get(b)) for b in benchmarks]
            + [f'<td class="num">{entry.report.rescored}</td>']
        )
    return table(headers, rows, cls="ranking sortable", row_classes=["best"])


def _plots(entries: Sequence[Entry], benchmarks: list[str]) -> str:
    charts = []
    for bench in benchmarks:
        metric_names: list[str] = []
        per_entry = []
        for entry in entries:
            metrics = (entry.report.summary or {}).get("benchmarks", {}).get(bench, {}).get("metrics_pct", {})
            per_entry.append(metrics)
            metric_names += [m for m in metrics if m not in metric_names and not m.endswith("_n")]
        series = {m: [metrics.get(m) for metrics in per_entry] for m in metric_names}
        charts.append(bar_chart(bench, series))
    return legend([entry.name for entry in entries]) + f'<div class="plots">{"".join(charts)}</div>'


def index_page(groups: dict[str, list[Entry]], rejected: Sequence[Entry]) -> str:
    """Rankings (one per suite), the per-benchmark plots, and the rejected submissions with reasons."""
    body = ["<h1>SpaceTools leaderboard</h1>",
            '<p class="muted">Every score on this page was re-computed by the official scorers from the '
            "submitted trajectories (<code>spacetools leaderboard validate</code>); reported scores are never "
            "used. Submissions are ranked by the mean of their benchmark headlines, within one suite.</p>"]
    for label, entries in groups.items():
        benchmarks = group_benchmarks(entries)
        body.append(f'<section class="suite"><h2>Suite {e(label)}</h2>')
        body.append(_ranking(entries, benchmarks))
        body.append("<h3>Per benchmark</h3>" + _plots(entries, benchmarks) + "</section>")
    if not groups:
        body.append("<p>No accepted submissions yet.</p>")
    if rejected:
        rows = []
        for entry in rejected:
            reasons = entry.report.problems[:MAX_REASONS]
            more = len(entry.report.problems) - len(reasons)
            text = "".join(f"<li>{e(p)}</li>" for p in reasons) + (f"<li>... and {more} more</li>" if more else "")
            rows.append([cell(Path(entry.report.path).name), cell(entry.name), f"<td><ul>{text}</ul></td>"])
        body.append("<h2>Rejected submissions</h2>")
        body.append(table([("Directory", ""), ("Model", ""), ("Reasons", "")], rows, cls="rejected"))
    return page("SpaceTools leaderboard", "\n".join(body), script=True)


def _benchmark_tables(summary: dict[str, Any]) -> str:
    out = []
    for name, bench in (summary.get("benchmarks") or {}).items():
        metrics = bench.get("metrics_pct") or {}  # strict: an unparsable answer counts 0 (what ranks)
        top = headline(name, metrics)
        headers, rows = [("metric (%)", ""), ("value", "num")], [[cell(m), num(v)] for m, v in metrics.items()]
        unparsable = int(bench.get("unparsable") or 0)
        if unparsable:  # the official scripts' number beside it, for comparison with published results
            official = bench.get("official_metrics_pct") or {}
            headers.append(("official (unparsable dropped)", "num"))
            rows = [[*row, num(official.get(m))] for row, m in zip(rows, metrics, strict=True)]
        note = f", {unparsable} unparsable: 0 here, dropped by the official scripts" if unparsable else ""
        out.append(f"<h3>{e(name)} <span class=\"muted\">(n={bench.get('n')}{note}"
                   f"{', headline ' + e(top[0]) if top else ''})</span></h3>")
        out.append(table(headers, rows))
        types = bench.get("by_question_type") or {}
        if types:
            rows = [[cell(t), num(v.get("mean_score"), 3), f'<td class="num">{v.get("n")}</td>',
                     num(v.get("turns")), num(v.get("calls_per_episode")), num(v.get("tool_error_rate"), 3)]
                    for t, v in types.items()]
            out.append(table([("question type", ""), ("score", "num"), ("n", "num"), ("turns", "num"),
                              ("calls", "num"), ("tool err", "num")], rows))
    return "".join(out)


def _tools_table(tools: dict[str, Any]) -> str:
    rows = [[f'<td class="tool-name">{e(name)}</td>', f'<td class="num">{s.get("calls")}</td>',
             num(s.get("calls_per_episode")), num(s.get("error_rate"), 3)]
            for name, s in (tools.get("by_tool") or {}).items()]
    per_episode, error_rate = tools.get("calls_per_episode") or 0.0, tools.get("error_rate") or 0.0
    head = (f"<p>{per_episode:.2f} calls per episode, error rate {error_rate:.3f}, "
            f"{tools.get('episodes_without_tools', 0)} episodes without tools.</p>")
    return head + table([("tool", ""), ("calls", "num"), ("per episode", "num"), ("error rate", "num")], rows)


def submission_page(entry: Entry) -> str:
    """Metadata, every re-scored number, tool statistics, and links to the viewable trajectories."""
    meta, summary = entry.meta, entry.report.summary or {}
    facts = [("Model", meta.get("model")), ("Agent", meta.get("agent")), ("Tools", ", ".join(meta.get("tools") or [])),
             ("Contact", meta.get("contact")), ("Date", meta.get("date")), ("Suite", _suite_label(entry.report.suite))]
    rows = [[f"<th>{e(k)}</th>", cell(v)] for k, v in facts if v]
    if meta.get("url"):
        url = e(meta["url"])
        rows.append(["<th>Link</th>", f'<td><a href="{url}" rel="nofollow noopener">{url}</a></td>'])
    body = ['<nav><a href="../../index.html">Leaderboard</a></nav>', f"<h1>{e(entry.name)}</h1>",
            table([], rows, cls="facts")]
    if meta.get("notes"):
        body.append(f"<pre>{e(meta['notes'])}</pre>")
    body.append(f"<h2>Benchmarks</h2>{_benchmark_tables(summary)}")
    body.append(f"<h2>Tool use</h2>{_tools_table(summary.get('tools') or {})}")
    body.append("<h2>Trajectories</h2>")
    if entry.episodes:
        rows = [[f'<td><a class="episode" href="{e(href)}">{e(rec["episode_id"])}</a></td>', cell(rec.get("family")),
                 num(score, 3), f'<td class="num">{rec.get("turns")}</td>',
                 f'<td class="num">{rec.get("tools", {}).get("calls", 0)}</td>']
                for rec, href, score in entry.episodes]
        body.append(table([("episode", "sortable"), ("family", "sortable"), ("score", "num sortable"),
                           ("turns", "num sortable"), ("tool calls", "num sortable")], rows, cls="episodes sortable"))
    else:
        body.append('<p class="muted">No trajectories were rendered for this submission.</p>')
    return page(entry.name, "\n".join(body), root="../../", script=True)
