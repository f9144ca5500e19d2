"""The DIRL run folder's plots (PNG under ``plots/``) and its held-out score table.

- ``learning_curves.png``: per trained step, the curves of its ``metrics.jsonl`` against the global
  step that say whether it learns: :data:`LEARNING_KEYS` (the loss; for GRPO also the env reward,
  the task score and the KL to the reference); the rest stay in the file;
- ``tool_rates.png``: per GRPO step its overall ``tools/*`` curves (calls and errors per episode,
  failure rate; per-tool keys stay in the file), and per evaluated step the held-out valid
  tool-call rate and calls per episode;
- ``heldout_scores.png``: held-out mean score per family after each evaluated step;
- ``ablation.png`` (when the arm ``A-grpo-from-base`` has metrics): the env reward of DIRL's GRPO,
  step 1 then step 4 over cumulative optimizer updates (step 4's steps shifted by step 1's
  ``max_steps``), against the arm's over its own updates: the same budget on one axis;
- ``recovery.png`` (when there is a faulted evaluation): per faulted-evaluated step and the teacher,
  the recovery rate, called-again and correct rates among faulted episodes, with their count.

:func:`heldout_table` reads every ``eval/<step>/results.jsonl`` (the records ``spacetools eval``
writes) into per-step, per-family numbers; the pipeline saves it as ``eval/scores.json``. Its
"valid tool-call rate" is the share of episodes with at least one tool call and no failed call
(no tool error, no invalid action): the rate the issue asks SFT to lift.

Needs ``matplotlib`` (the ``train`` extra); the Agg backend, so no display is needed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from agents.dirl.common import read_metrics
from benchmarks.eval import read_results

PLOTS_DIR = "plots"
EVAL_DIR = "eval"
FAULTED_DIR = "faulted"
"""``eval/faulted/<step folder>``: the held-out evaluation under the config's faults."""
TEACHER = "teacher"
"""``eval/faulted/teacher``: the tool-program agent on the same faulted episodes."""
DIRL_GRPO = ("1-pointing-grpo", "4-grpo")
ABLATION_FOLDER = "A-grpo-from-base"
CURVE_KEY = "reward/env"
LEARNING_KEYS = ("loss", "reward/env", "reward/score", "loss/kl")


def heldout_table(run: Path, step_folders: Sequence[str]) -> dict[str, dict[str, dict[str, float]]]:
    """Step folder -> family -> ``{n, score, score_se, valid_tool_call_rate, calls_per_episode}``.

    Only the steps that have an evaluation folder are in it.
    """
    table: dict[str, dict[str, dict[str, float]]] = {}
    for name in step_folders:
        results = run / EVAL_DIR / name / "results.jsonl"
        if not results.is_file():
            continue
        by_family: dict[str, list[dict[str, Any]]] = {}
        for record in read_results(results).records:
            by_family.setdefault(str(record.get("family")), []).append(record)
        table[name] = {family: _family_numbers(records) for family, records in sorted(by_family.items())}
    return table


def faulted_table(run: Path, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """Name -> ``{"families": <as heldout_table>, "recovery": recovery_summary or None}`` of ``eval/faulted/<name>``.

    ``recovery`` is None when no call of any episode faulted (a policy that called no tool meets no
    fault); only names with a faulted evaluation are in it.
    """
    from tool_backends.faults import recovery_summary

    table: dict[str, dict[str, Any]] = {}
    for name in names:
        results = run / EVAL_DIR / FAULTED_DIR / name / "results.jsonl"
        if not results.is_file():
            continue
        records = read_results(results).records
        by_family: dict[str, list[dict[str, Any]]] = {}
        for record in records:
            by_family.setdefault(str(record.get("family")), []).append(record)
        table[name] = {"families": {f: _family_numbers(r) for f, r in sorted(by_family.items())},
                       "recovery": recovery_summary(records)}
    return table


def _family_numbers(records: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    n = len(records)
    scores = [float(r["score"]) if r.get("score") is not None else 0.0 for r in records]
    valid = [
        int((r.get("tools") or {}).get("calls", 0)) > 0 and int((r.get("tools") or {}).get("errors", 0)) == 0
        and int(r.get("invalid_actions", 0)) == 0
        for r in records
    ]
    calls = [int((r.get("tools") or {}).get("calls", 0)) for r in records]
    mean = sum(scores) / n
    return {
        "n": n,
        "score": mean,
        "score_se": math.sqrt(sum((s - mean) ** 2 for s in scores) / (n - 1) / n) if n > 1 else 0.0,
        "valid_tool_call_rate": sum(valid) / n,
        "calls_per_episode": sum(calls) / n,
    }


def write_plots(run: Path, step_folders: Sequence[str], dirl_offset: int | None = None) -> list[Path]:
    """Write the plots of the run folder ``run`` into ``run/plots``; returns the files written.

    ``dirl_offset``: step 1's ``max_steps``, where step 4's updates start on the ablation plot's
    axis (None: step 1's last logged step).
    """
    try:
        import matplotlib
    except ImportError as exc:
        raise ImportError("the DIRL plots need matplotlib: pip install 'spacetools[train]'") from exc
    matplotlib.use("Agg")
    folder = run / PLOTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    metrics = {name: read_metrics(run / name / "metrics.jsonl") for name in step_folders}
    metrics = {name: lines for name, lines in metrics.items() if lines}
    table = heldout_table(run, step_folders)
    written = [
        _learning_curves(metrics, folder / "learning_curves.png"),
        _tool_rates(metrics, table, folder / "tool_rates.png"),
        _heldout_scores(table, folder / "heldout_scores.png"),
    ]
    if ABLATION_FOLDER in metrics:
        written.append(_ablation(metrics, table, dirl_offset, folder / "ablation.png"))
    faulted = faulted_table(run, [*step_folders, TEACHER])
    if faulted:
        written.append(_recovery(faulted, folder / "recovery.png"))
    return written


def dirl_curve(metrics: Mapping[str, Sequence[Mapping[str, Any]]], offset: int | None,
               key: str = CURVE_KEY) -> tuple[list[int], list[float]]:
    """DIRL's GRPO ``key`` over cumulative updates: step 1's points, then step 4's shifted by ``offset``."""
    one = _series(metrics.get(DIRL_GRPO[0], []), key)
    four = _series(metrics.get(DIRL_GRPO[1], []), key)
    shift = offset if offset is not None else (max(one[0]) if one[0] else 0)
    return one[0] + [shift + s for s in four[0]], one[1] + four[1]


def _ablation(
    metrics: Mapping[str, Sequence[Mapping[str, Any]]], table: Mapping[str, Mapping[str, Mapping[str, float]]],
    offset: int | None, path: Path,
) -> Path:
    fig, axes = _figure(2)
    ax = axes[0]
    steps, values = dirl_curve(metrics, offset)
    if steps:
        ax.plot(steps, values, marker=".", label="DIRL: step 1 then step 4")
        if metrics.get(DIRL_GRPO[1]):
            start = offset if offset is not None else steps[0]
            ax.axvline(start + 0.5, color="grey", linestyle=":", linewidth=1)
    arm = _series(metrics[ABLATION_FOLDER], CURVE_KEY)
    ax.plot(arm[0], arm[1], marker=".", label="ablation: GRPO from the base")
    ax.set_title(f"GRPO {CURVE_KEY}, same budget")
    ax.set_xlabel("cumulative optimizer updates")
    ax.legend(fontsize=6)
    ax = axes[1]
    compared = [name for name in ("0-base", DIRL_GRPO[1], ABLATION_FOLDER) if name in table]
    ax.bar(compared, [_pooled(table[n], "score") for n in compared])
    ax.set_ylim(0, 1)
    ax.set_title("held-out mean score (pooled)")
    ax.tick_params(axis="x", labelsize=7)
    return _save(fig, path)


def _recovery(faulted: Mapping[str, Mapping[str, Any]], path: Path) -> Path:
    fig, axes = _figure(1)
    ax = axes[0]
    names = list(faulted)
    keys = ("recovery_rate", "called_again_rate", "correct_rate")
    width = 0.8 / len(keys)
    for i, key in enumerate(keys):
        ys = [(faulted[n]["recovery"] or {}).get(key, 0.0) for n in names]
        ax.bar([j + i * width for j in range(len(names))], ys, width=width, label=key)
    labels = [f"{n}\n({(faulted[n]['recovery'] or {}).get('faulted_episodes', 0)} faulted)" for n in names]
    ax.set_xticks([j + width for j in range(len(names))], labels, fontsize=6)
    ax.set_ylim(0, 1)
    ax.set_title("held-out faulted episodes: recovery")
    ax.legend(fontsize=6)
    return _save(fig, path)


def _series(lines: Sequence[Mapping[str, Any]], key: str) -> tuple[list[int], list[float]]:
    points = [(int(m["step"]), float(m[key])) for m in lines
              if isinstance(m.get(key), int | float) and not isinstance(m.get(key), bool) and math.isfinite(m[key])]
    return [p[0] for p in points], [p[1] for p in points]


def _keys(lines: Sequence[Mapping[str, Any]], prefixes: Sequence[str]) -> list[str]:
    found = {k for m in lines for k, v in m.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    return sorted(k for k in found if any(k == p or k.startswith(p + "/") for p in prefixes))


def _figure(panels: int) -> tuple[Any, list[Any]]:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, max(panels, 1), figsize=(4.5 * max(panels, 1), 3.4), squeeze=False)
    return fig, list(axes[0])


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _learning_curves(metrics: Mapping[str, Sequence[Mapping[str, Any]]], path: Path) -> Path:
    fig, axes = _figure(len(metrics))
    for ax, (name, lines) in zip(axes, metrics.items(), strict=False):
        for key in [k for k in LEARNING_KEYS if _series(lines, k)[0]]:
            steps, values = _series(lines, key)
            if steps:
                ax.plot(steps, values, marker=".", label=key)
        ax.set_title(name)
        ax.set_xlabel("global step")
        ax.legend(fontsize=6)
    if not metrics:
        axes[0].set_title("no metrics yet")
    return _save(fig, path)


def _tool_rates(
    metrics: Mapping[str, Sequence[Mapping[str, Any]]], table: Mapping[str, Mapping[str, Mapping[str, float]]],
    path: Path,
) -> Path:
    grpo = {name: lines for name, lines in metrics.items() if _keys(lines, ("tools",))}
    overall = {name: [k for k in _keys(lines, ("tools",)) if k.count("/") == 1] for name, lines in grpo.items()}
    fig, axes = _figure(len(grpo) + 1)
    for ax, (name, lines) in zip(axes, grpo.items(), strict=False):
        for key in overall[name]:
            steps, values = _series(lines, key)
            if steps:
                ax.plot(steps, values, marker=".", label=key)
        ax.set_title(f"{name}: training")
        ax.set_xlabel("global step")
        ax.legend(fontsize=6)
    ax = axes[-1]
    evaluated = list(table)
    valid = [_pooled(table[s], "valid_tool_call_rate") for s in evaluated]
    calls = [_pooled(table[s], "calls_per_episode") for s in evaluated]
    ax.plot(evaluated, valid, marker="o", label="valid tool-call rate")
    ax.plot(evaluated, calls, marker="s", label="calls / episode")
    ax.set_title("held-out, per step")
    ax.legend(fontsize=6)
    return _save(fig, path)


def _pooled(families: Mapping[str, Mapping[str, float]], key: str) -> float:
    total = sum(f["n"] for f in families.values())
    return sum(f[key] * f["n"] for f in families.values()) / total if total else 0.0


def _heldout_scores(table: Mapping[str, Mapping[str, Mapping[str, float]]], path: Path) -> Path:
    fig, axes = _figure(1)
    ax = axes[0]
    families = sorted({f for by_family in table.values() for f in by_family})
    steps = list(table)
    width = 0.8 / max(len(steps), 1)
    for i, step in enumerate(steps):
        xs = [j + i * width for j in range(len(families))]
        ys = [table[step].get(f, {}).get("score", 0.0) for f in families]
        errs = [table[step].get(f, {}).get("score_se", 0.0) for f in families]
        ax.bar(xs, ys, width=width, yerr=errs, label=step)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(families))], families, fontsize=7)
    ax.set_ylim(0, 1)
    ax.set_ylabel("held-out mean score")
    ax.legend(fontsize=6)
    return _save(fig, path)
