"""The few HTML pieces every page shares: escaping, the page shell, the style sheet, table sorting.

Pages are plain static HTML (no server, no fetch), so the site opens from ``file://`` as well as
from any static host; the only script sorts tables and the pages read fine without it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from html import escape

_BREAK = re.compile(r"(?<=[a-z])(?=[A-Z])|(?<=[-_/])(?=\w)")

CSS = """
:root { --fg:#1d2330; --muted:#5b6475; --line:#d9dde5; --accent:#2759c9; --bg:#fff; --soft:#f5f7fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--fg); background: var(--bg);
       margin: 0 auto; max-width: 1200px; padding: 16px 24px 48px; }
h1 { font-size: 22px; margin: 8px 0 4px; } h2 { font-size: 18px; margin: 28px 0 8px; }
h3 { font-size: 15px; margin: 18px 0 6px; }
a { color: var(--accent); text-decoration: none; } a:hover { text-decoration: underline; }
.muted { color: var(--muted); }
nav { font-size: 13px; margin-bottom: 8px; }
table { border-collapse: collapse; margin: 8px 0 16px; font-variant-numeric: tabular-nums; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
th { background: var(--soft); font-weight: 600; white-space: nowrap; }
th.sortable { cursor: pointer; } th.sortable:after { content: " \\2195"; color: var(--muted); font-size: 11px; }
td.num, th.num { text-align: right; }
tr.best td { font-weight: 600; }
pre { white-space: pre-wrap; word-break: break-word; background: var(--soft); border: 1px solid var(--line);
      border-radius: 4px; padding: 8px; margin: 4px 0; font-size: 12.5px; max-height: 420px; overflow: auto; }
.turn { border-left: 3px solid var(--line); padding: 2px 0 2px 12px; margin: 14px 0; }
.call { margin: 10px 0 10px 4px; }
.call.error .tool-name { color: #b42318; }
.tool-name { font-family: ui-monospace, monospace; font-weight: 600; }
.fig { position: relative; display: inline-block; margin: 6px 8px 6px 0; max-width: 100%; line-height: 0; }
.fig img { display: block; max-width: min(640px, 100%); height: auto; }
.fig svg.overlay { position: absolute; left: 0; top: 0; width: 100%; height: 100%; pointer-events: none; }
.caption { font-size: 12px; color: var(--muted); line-height: 1.3; margin-top: 2px; }
.score { font-weight: 600; } .score.ok { color: #067647; } .score.bad { color: #b42318; }
.warn { background: #fff4e5; border: 1px solid #f5c27a; padding: 6px 10px; border-radius: 4px; }
.legend span { display: inline-block; margin-right: 14px; font-size: 12px; }
.legend i { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; }
.plots { display: flex; flex-wrap: wrap; gap: 18px; }
.plot { border: 1px solid var(--line); border-radius: 6px; padding: 8px 12px; margin: 0; }
.wide { overflow-x: auto; max-width: 100%; }
table.ranking { width: 100%; }
table.ranking th { white-space: normal; overflow-wrap: break-word; font-size: 12.5px; }
table.ranking th, table.ranking td { padding: 4px 6px; }
table.ranking td { overflow-wrap: anywhere; min-width: 6em; }
table.ranking td.num { white-space: nowrap; min-width: 0; }
details summary { cursor: pointer; color: var(--muted); }
"""

SORT_JS = """
document.querySelectorAll("table.sortable").forEach(function (table) {
  table.querySelectorAll("th.sortable").forEach(function (th, col) {
    th.addEventListener("click", function () {
      var index = Array.prototype.indexOf.call(th.parentNode.children, th);
      var body = table.tBodies[0], rows = Array.prototype.slice.call(body.rows);
      var down = th.getAttribute("data-dir") !== "desc";
      rows.sort(function (a, b) {
        var x = a.cells[index].getAttribute("data-v") || a.cells[index].textContent;
        var y = b.cells[index].getAttribute("data-v") || b.cells[index].textContent;
        var nx = parseFloat(x), ny = parseFloat(y);
        var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
        return down ? -c : c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
      th.setAttribute("data-dir", down ? "desc" : "asc");
    });
  });
});
"""


def e(value: object) -> str:
    """``value`` as escaped HTML text (quotes too: safe inside attributes)."""
    return escape(str(value), quote=True)


def breakable(text: str) -> str:
    """``text`` escaped, with line-break chances inside long names (``Spatial<wbr>Configuration``,
    ``RoboSpatial-<wbr>Home``), so a table of many benchmark columns fits the page."""
    return "<wbr>".join(e(part) for part in _BREAK.split(text))


def page(title: str, body: str, *, root: str = "", script: bool = False) -> str:
    """A whole HTML document; ``root`` is the relative path back to the site root (for links and CSS)."""
    tail = f"<script>{SORT_JS}</script>" if script else ""
    return (
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{e(title)}</title><link rel=\"stylesheet\" href=\"{root}style.css\"></head>\n"
        f"<body>{body}{tail}</body></html>\n"
    )


def table(
    headers: Iterable[tuple[str, str]], rows: Iterable[Iterable[str]], *, cls: str = "", row_classes: Iterable[str] = ()
) -> str:
    """A table from already-escaped cells; ``headers`` are (label, css class) pairs."""
    head = "".join(f'<th class="{c}">{breakable(label)}</th>' for label, c in headers)
    classes = list(row_classes)
    body = "".join(
        f'<tr class="{classes[i] if i < len(classes) else ""}">{"".join(cells)}</tr>' for i, cells in enumerate(rows)
    )
    return f'<div class="wide"><table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def num(value: float | None, digits: int = 2) -> str:
    """A right-aligned numeric cell that sorts by its value (``-`` when missing)."""
    if value is None or not math.isfinite(value):  # NaN: an item the official scorer skipped
        return '<td class="num" data-v="-1e308">-</td>'
    return f'<td class="num" data-v="{value!r}">{value:.{digits}f}</td>'


def cell(value: object) -> str:
    return f"<td>{e(value)}</td>"
