"""``build_site``: validate submissions, rank them, and write the static leaderboard site.

Layout of ``out``::

    index.html                    rankings (one per suite), per-benchmark plots, rejected submissions
    style.css
    s/<slug>/index.html           one submission: metadata, every re-scored number, tool use
    s/<slug>/<episode>.html       the trajectory viewer, one page per replayed episode
    assets/<sha256>.jpg|png       images and mask overlays, named by content (shared across pages)
    .spacetools-site              marks the folder as a built site: a rebuild may replace it

Nothing in a submission is trusted: each one is validated first (every episode re-scored), the
ranking uses the re-scored summary, and the viewer's pixels come from replaying the recorded
actions in the env (see :mod:`benchmarks.leaderboard.replay`).
"""

from __future__ import annotations

import json
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym

from benchmarks.eval.suites import EpisodeKey
from benchmarks.leaderboard.files import loads
from benchmarks.leaderboard.replay import replay
from benchmarks.leaderboard.report import ValidationReport
from benchmarks.leaderboard.rescore import SuiteError, frozen_suite, make_kwargs_of, rebuild_env
from benchmarks.leaderboard.site.assets import Assets
from benchmarks.leaderboard.site.html import CSS
from benchmarks.leaderboard.site.pages import Entry, group_benchmarks, index_page, submission_page
from benchmarks.leaderboard.site.ranking import standing
from benchmarks.leaderboard.site.trajectory import episode_page
from benchmarks.leaderboard.validate import RESULTS, validate_submission

MARKER = ".spacetools-site"
DEFAULT_TRAJECTORIES = 3
"""Episodes per env id and submission shown in the viewer (replaying costs about one episode each)."""

Log = Callable[[str], None]


class SiteError(ValueError):
    """The site cannot be written where asked (an existing folder that is not a built site)."""


@dataclass(frozen=True)
class SiteSummary:
    out: Path
    accepted: int
    rejected: int
    trajectories: int
    images: int


def build_site(
    submissions: Sequence[str | Path],
    out: str | Path,
    *,
    data_dir: str | None = None,
    trajectories: int = DEFAULT_TRAJECTORIES,
    replay: bool = False,
    cache_dir: str | Path | None = None,
    suite: str | None = None,
    log: Log = print,
) -> SiteSummary:
    """Validate ``submissions`` and write the leaderboard site to ``out``.

    Args:
        submissions: Submission directories (see :mod:`benchmarks.leaderboard`).
        out: The site folder: created, or replaced if it holds a site built before.
        data_dir: Local copy of the benchmarks (for suites with benchmark ids).
        trajectories: Episodes per env id per submission to replay for the viewer (0: none).
        replay: Validate with ``replay=True``: every episode replayed, tool texts compared.
        cache_dir: The answer-key cache (default: ``$SPACETOOLS_CACHE_DIR``, else ``~/.cache/spacetools``).
        suite: The suite this leaderboard ranks; a submission run on another is rejected (None:
            any suite of the registry; see :func:`~benchmarks.leaderboard.validate_submission`).
        log: Progress, and every rejected submission with each of its problems.

    Raises:
        SiteError: ``out`` exists, is not empty and was not built by this command.
    """
    if trajectories < 0:
        raise ValueError(f"trajectories must be >= 0, got {trajectories}")
    target = Path(out)
    _check_target(target, [Path(p) for p in submissions] + ([Path(data_dir)] if data_dir else []))
    # Built beside the target and swapped in at the end: a failed build never leaves a half site.
    target.parent.mkdir(parents=True, exist_ok=True)
    site = Path(tempfile.mkdtemp(prefix=f".{target.name}-building-", dir=target.parent))
    try:
        entries = _validated([Path(p) for p in submissions], data_dir, replay, cache_dir, log, suite)
        summary = _build(entries, site, data_dir, trajectories, log)
        if target.exists():
            shutil.rmtree(target)
        site.rename(target)
    except BaseException:
        shutil.rmtree(site, ignore_errors=True)
        raise
    log(f"site: {target / 'index.html'} ({summary.accepted} accepted, {summary.rejected} rejected, "
        f"{summary.trajectories} trajectories)")
    return SiteSummary(target, summary.accepted, summary.rejected, summary.trajectories, summary.images)


def _build(entries: list[Entry], site: Path, data_dir: str | None, per_env: int, log: Log) -> SiteSummary:
    (site / MARKER).write_text("built by spacetools leaderboard build; this folder is replaced on rebuild\n")
    assets = Assets(site)
    accepted = [entry for entry in entries if entry.report.ok]
    groups: dict[str, list[Entry]] = {}
    for entry in accepted:
        groups.setdefault(_group_label(entry), []).append(entry)
    for members in groups.values():  # every benchmark of the group counts, a missing headline as 0
        benchmarks = group_benchmarks(members)
        for member in members:
            member.standing = standing(member.report.summary, benchmarks)
        members.sort(key=lambda m: -(m.standing.mean if m.standing.mean is not None else -1.0))
    shown = 0
    for entry in accepted:
        (site / "s" / entry.slug).mkdir(parents=True)
        shown += _render_trajectories(entry, site, assets, data_dir, per_env, log)
        (site / "s" / entry.slug / "index.html").write_text(submission_page(entry), encoding="utf-8")
    rejected = [entry for entry in entries if not entry.report.ok]
    (site / "style.css").write_text(CSS, encoding="utf-8")
    (site / "index.html").write_text(index_page(dict(sorted(groups.items())), rejected), encoding="utf-8")
    return SiteSummary(site, len(accepted), len(rejected), shown, assets.written)


def _validated(paths: list[Path], data_dir: str | None, replay: bool, cache_dir: str | Path | None, log: Log,
               suite: str | None = None) -> list[Entry]:
    """Every submission validated, the cheap checks of all of them first.

    A broken ``submission.json`` or manifest is reported at once, with each of its problems,
    before any submission is re-scored; only those that pass are re-scored.
    """
    reports = [_report(path, lambda path: validate_submission(path, rescore=False, suite=suite)) for path in paths]
    early = [report for report in reports if not report.ok]
    for report in early:
        _log_report(report, log, "before re-scoring")
    if early:
        log(f"{len(early)} of {len(paths)} submissions rejected before re-scoring; re-scoring the others")
    entries = []
    for index, (path, report) in enumerate(zip(paths, reports, strict=True)):
        if report.ok:
            report = _report(path, lambda path: validate_submission(
                path, data_dir=data_dir, replay=replay, cache_dir=cache_dir, log=log, suite=suite))
            _log_report(report, log)
        manifest = loads((path / "manifest.json").read_bytes()) if report.ok else {}  # validated: a JSON object
        entries.append(Entry(_slug(index, report.submission, path), report, manifest))
    return entries


def _report(path: Path, validate: Callable[[Path], ValidationReport]) -> ValidationReport:
    """The submission validated; a validator crash rejects that submission only, with the error as reason."""
    try:
        return validate(path)
    except Exception as exc:
        report = ValidationReport(path=str(path))
        report.add(str(path), f"could not be validated: {type(exc).__name__}: {exc}")
        return report


def _log_report(report: ValidationReport, log: Log, when: str = "") -> None:
    """The verdict's first line; for a rejected submission, every problem (each its own line)."""
    head = report.format().splitlines()[0]
    if not report.ok and when:
        head = f"{report.path}: REJECTED {when} ({len(report.problems)} problems)"
    log(head)
    for problem in report.problems:
        log(f"  - {problem}")


def _group_label(entry: Entry) -> str:
    """Suite, version, size, and any non-default make options: only like is ranked with like."""
    suite = entry.report.suite or {}
    label = f"{suite.get('name')} v{suite.get('version')} ({suite.get('episodes')} episodes)"
    options = {env: kw for env, kw in sorted(make_kwargs_of(entry.manifest).items()) if kw}
    settings = sorted({json.dumps(kw, sort_keys=True) for kw in options.values()})
    return label + (f", options {'; '.join(settings)}" if settings else "")


def _check_target(out: Path, inputs: list[Path]) -> None:
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / MARKER).is_file())):
        raise SiteError(
            f"{out} exists and is not a site built by `spacetools leaderboard build`; "
            "pick a new --out folder (a built site is replaced on rebuild, anything else is never deleted)"
        )
    root = out.resolve()
    for path in inputs:
        if path.resolve() == root or root in path.resolve().parents:
            raise SiteError(f"{path} is inside the site folder {out}, which a rebuild replaces; move it out first")


def _slug(index: int, meta: dict[str, Any] | None, path: Path) -> str:
    name = str((meta or {}).get("model") or path.name)
    return f"{index:02d}-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:40] or "submission")


def _records(root: Path) -> Iterable[dict[str, Any]]:
    with (root / RESULTS).open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield loads(line)


def _pick(records: list[dict[str, Any]], per_env: int) -> list[dict[str, Any]]:
    """Up to ``per_env`` episodes per env id: half failures first (they teach most), then by index."""
    by_env: dict[str, list[dict[str, Any]]] = {}
    for record in sorted(records, key=lambda r: (r["key"]["env_id"], r["key"]["index"])):
        by_env.setdefault(record["key"]["env_id"], []).append(record)
    picked = []
    for group in by_env.values():
        failed = [r for r in group if r.get("score") is None or float(r["score"]) < 1.0][: (per_env + 1) // 2]
        taken = {r["episode_id"] for r in failed}
        rest = [r for r in group if r["episode_id"] not in taken][: per_env - len(failed)]
        picked += sorted(failed + rest, key=lambda r: r["key"]["index"])
    return picked


def _render_trajectories(
    entry: Entry, site: Path, assets: Assets, data_dir: str | None, per_env: int, log: Log
) -> int:
    if per_env == 0:
        return 0
    root, manifest = Path(entry.report.path), entry.manifest
    try:
        suite = frozen_suite(manifest)
    except SuiteError:  # validated a moment ago; a suite changing under our feet shows no trajectories
        return 0
    kwargs = make_kwargs_of(manifest)
    base_seed = int(manifest.get("seed", {}).get("base", 0))
    folder = site / "s" / entry.slug
    envs: dict[str, gym.Env] = {}
    try:
        for record in _pick(list(_records(root)), per_env):
            key = EpisodeKey(record["key"]["env_id"], record["key"]["split"], int(record["key"]["index"]))
            record["seed"] = key.seed(base_seed)  # the validator checked it equals this; use our own anyway
            env = envs.get(key.env_id)
            if env is None:
                env = envs[key.env_id] = rebuild_env(key.env_id, kwargs.get(key.env_id, {}), suite.split, data_dir)
            href = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{key.env_id}_{key.split}_{key.index}") + ".html"
            try:
                replayed = replay(env, record)
                page = episode_page(replayed, record, entry.name, assets)
            except Exception as exc:
                log(f"{entry.report.path}: {key.id}: no viewer page ({type(exc).__name__}: {exc})")
                continue
            (folder / href).write_text(page, encoding="utf-8")
            entry.episodes.append((record, href, replayed.score))
    finally:
        for env in envs.values():
            env.close()
    return len(entry.episodes)
