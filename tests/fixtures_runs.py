"""Real ``spacetools eval`` runs made into leaderboard submissions, as a submitter would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from benchmarks.eval import EvalConfig, run_eval
from benchmarks.leaderboard.actions import called_tools


def eval_submission(out: Path, agent: str, suite: str, *, model: str = "oracle tools", **config: Any) -> Path:
    """Run ``agent`` on ``suite`` into ``out`` and write the ``submission.json`` beside the results.

    ``submission.json`` declares exactly the tools the trajectories call (what validation requires);
    ``config`` goes to :class:`~benchmarks.eval.EvalConfig` (``episodes``, ``env_kwargs``, ...).
    """
    summary = run_eval(EvalConfig(agent=agent, suite=suite, out=out, progress=False, **config), log=lambda m: None)
    assert summary.complete, summary.failed
    meta = {"model": model, "agent": agent, "tools": called_tools(out), "contact": "team@example.org"}
    (out / "submission.json").write_text(json.dumps(meta))
    return out
