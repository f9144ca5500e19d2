"""Per-benchmark bar charts as inline SVG (no plotting library, no script): one group per metric.

Every metric is a percentage (as :mod:`benchmarks.eval.aggregate` reports them), so bars share a
0-100 axis; each submission keeps one colour across all charts (see :data:`PALETTE`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from benchmarks.leaderboard.site.html import e

PALETTE = ("#2759c9", "#e0702b", "#2a9d5c", "#b03a8c", "#8a6d1f", "#4aa3b8", "#7a52c7", "#c23b3b")
LABEL_W, BAR_W, BAR_H, GAP = 190, 280, 13, 8


def colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def legend(names: Sequence[str]) -> str:
    spans = "".join(f'<span><i style="background:{colour(i)}"></i>{e(n)}</span>' for i, n in enumerate(names))
    return f'<div class="legend">{spans}</div>'


def bar_chart(title: str, metrics: Mapping[str, Sequence[float | None]]) -> str:
    """An SVG chart: for each metric a group of bars, one per submission (None: no bar, "n/a").

    Args:
        title: Shown above the chart (the benchmark).
        metrics: metric name -> one value (0-100) per submission, in legend order.
    """
    rows = sum(len(values) for values in metrics.values())
    height = rows * (BAR_H + 2) + len(metrics) * GAP + 30
    width = LABEL_W + BAR_W + 60
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{e(title)}">',
    ]
    for tick in (0, 25, 50, 75, 100):
        x = LABEL_W + BAR_W * tick / 100
        parts.append(f'<line x1="{x}" y1="4" x2="{x}" y2="{height - 20}" stroke="#e3e6ec"/>')
        parts.append(f'<text x="{x}" y="{height - 6}" font-size="10" text-anchor="middle" fill="#5b6475">{tick}</text>')
    y = 6.0
    for metric, values in metrics.items():
        parts.append(
            f'<text x="{LABEL_W - 8}" y="{y + BAR_H - 2}" font-size="11" text-anchor="end" fill="#1d2330">'
            f"{e(_clip(metric))}</text>"
        )
        for i, value in enumerate(values):
            if value is None:
                parts.append(f'<text x="{LABEL_W + 4}" y="{y + BAR_H - 3}" font-size="10" fill="#5b6475">n/a</text>')
            else:
                w = BAR_W * max(0.0, min(100.0, value)) / 100
                parts.append(
                    f'<rect class="bar" x="{LABEL_W}" y="{y:.1f}" width="{w:.1f}" height="{BAR_H}" fill="{colour(i)}">'
                    f"<title>{e(metric)}: {value:.2f}</title></rect>"
                    f'<text x="{LABEL_W + w + 4:.1f}" y="{y + BAR_H - 3:.1f}" font-size="10" fill="#1d2330">'
                    f"{value:.1f}</text>"
                )
            y += BAR_H + 2
        y += GAP
    parts.append("</svg>")
    return f'<figure class="plot"><figcaption><b>{e(title)}</b></figcaption>{"".join(parts)}</figure>'


def _clip(text: str, limit: int = 30) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
