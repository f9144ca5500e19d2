"""The static leaderboard site: ranking tables, per-benchmark plots, a trajectory viewer.

    from benchmarks.leaderboard.site import build_site

    build_site(["runs/model-a", "runs/model-b"], "site/")   # then open site/index.html

Same as ``spacetools leaderboard build runs/model-a runs/model-b --out site``.
"""

from __future__ import annotations

from benchmarks.leaderboard.site.build import DEFAULT_TRAJECTORIES, SiteError, SiteSummary, build_site

__all__ = ["DEFAULT_TRAJECTORIES", "SiteError", "SiteSummary", "build_site"]
