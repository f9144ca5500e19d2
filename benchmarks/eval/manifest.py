"""``manifest.json``: everything that decides what a results folder means, written once.

The manifest's *identity* (all of it but the run-time facts in :data:`RUNTIME_FIELDS` and data
file paths) must match when a run resumes into an existing folder; otherwise the run refuses
instead of mixing results from different suites, agents, settings, prompts or data.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import hashlib
import importlib.metadata
import json
import os
import platform
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from benchmarks.agents import AGENTS, describe_agent
from benchmarks.eval.config import EvalConfig
from benchmarks.eval.suites import Suite
from spacetools_env import unwrap
from spacetools_env.episode_json import jsonable

SCHEMA = 2
"""2: records carry ``unparsable`` (schema 2); a run folder of schema 1 is not resumed into."""
RUNTIME_FIELDS = ("created", "git_revision", "python", "gymnasium", "numpy", "run")
"""Facts about the run, not about the question set: they may differ on resume."""
SEED_RULE = "reset seed = int.from_bytes(sha256(f'{base}:{env_id}/{split}/{index}')[:4], 'little') & 0x7fffffff"


class ManifestMismatchError(ValueError):
    """The folder holds results of a different suite, agent or configuration."""


def env_entry(env: gym.Env, make_kwargs: Mapping[str, Any], split: str, episodes: int) -> dict[str, Any]:
    """What the manifest says about one env id: spec, prompt, tools, image limits, data version."""
    raw = unwrap(env)
    if env.spec is None:
        raise ValueError(f"{env} has no registered spec; make it with gym.make(env_id)")
    config = raw.config
    scene = getattr(raw.source, "scene_config", None)
    return {
        "env_id": env.spec.id,
        "spec_kwargs": jsonable(gym.spec(env.spec.id).kwargs),
        "make_kwargs": jsonable(dict(make_kwargs)),
        "family": raw.family.name,
        "family_version": raw.family.version,
        "eval_key": raw.family.eval_key,
        "split": split,
        "num_items": raw.source.num_items(split),
        "episodes": episodes,
        "system_prompt": raw.system_prompt,
        "tools": list(raw.action_space.tool_names),
        "limits": {
            "max_turns": config.max_turns,
            "max_calls_per_turn": config.max_calls_per_turn,
            "max_response_chars": config.max_response_chars,
            "tool_images": config.tool_images,
            "image_size": [scene.width, scene.height] if scene is not None else getattr(raw.source, "image_size", None),
        },
        "scene": jsonable(scene),
        "data": data_version(raw.source),
    }


def build_manifest(config: EvalConfig, suite: Suite, envs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "spacetools_version": _version("spacetools"),
        "suite": {"name": suite.name, "version": suite.version, "spec": config.suite, "episodes": suite.episodes},
        "agent": {
            "name": config.agent,
            "target": AGENTS.get(config.agent, config.agent),
            "kwargs": config.agent_kwargs,
            # a model agent's model (path, revision, weights sha256) and generation settings
            **({"model": entry} if (entry := describe_agent(config.agent, config.agent_kwargs)) else {}),
        },
        "seed": {"base": config.seed, "rule": SEED_RULE},
        "difficulty": config.difficulty,
        "env_kwargs": dict(config.env_kwargs),
        "envs": list(envs),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_revision": git_revision(),
        "python": platform.python_version(),
        "gymnasium": _version("gymnasium"),
        "numpy": np.__version__,
        "run": {"workers": config.workers, "config": jsonable(dataclasses.asdict(config))},
    }


def identity(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a manifest that must match on resume (run-time facts and data paths removed)."""
    ident = {k: copy.deepcopy(v) for k, v in manifest.items() if k not in RUNTIME_FIELDS}
    for env in ident.get("envs", []):
        env.get("make_kwargs", {}).pop("data_dir", None)
        for entry in (env.get("data") or {}).get("files", []):
            entry.pop("path", None)
    return ident


def check_or_write(path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Write ``manifest`` if ``path`` is new, else check that the existing one has the same identity.

    Returns:
        The manifest in force (the existing one when resuming, so ``created`` stays the first run's).

    Raises:
        ManifestMismatchError: naming the fields that differ.
    """
    if not path.exists():
        tmp = path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(manifest, indent=2))
        os.replace(tmp, path)  # atomic: a kill leaves either no manifest or a whole one
        return manifest
    try:
        existing = json.loads(path.read_text())
    except ValueError as exc:
        raise ManifestMismatchError(f"{path} is not valid JSON ({exc}); use a fresh --out folder") from None
    differences = diff(identity(existing), identity(manifest))
    if differences:
        shown = "; ".join(differences[:8]) + (f"; ... ({len(differences)} in all)" if len(differences) > 8 else "")
        raise ManifestMismatchError(
            f"{path.parent} holds results of a different run ({shown}). Resuming would mix results: "
            "use another --out folder, or the same settings as the first run"
        )
    return existing


def diff(old: Any, new: Any, where: str = "") -> list[str]:
    """Paths where two JSON values differ, as ``path: old -> new`` strings."""
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            out += diff(old.get(key, "<missing>"), new.get(key, "<missing>"), f"{where}.{key}" if where else key)
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [d for i, (a, b) in enumerate(zip(old, new, strict=True)) for d in diff(a, b, f"{where}[{i}]")]
    if old != new:
        return [f"{where}: {_short(old)} -> {_short(new)}"]
    return []


def _short(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 60 else text[:57] + "..."


def data_version(source: Any) -> dict[str, Any] | None:
    """The files a benchmark source reads, each with its sha256 (directories: a digest of names, sizes, mtimes).

    A source exposes its files as ``data_files`` (a sequence of paths, or a method returning one),
    or a single ``path`` / ``root``. Synthetic sources have none: None.
    """
    files = None
    for name in ("data_files", "files", "paths", "path", "data_path", "root"):
        value = getattr(source, name, None)
        if value is not None:
            files = value() if callable(value) else value
            break
    if files is None:
        return None
    paths = [Path(files)] if isinstance(files, str | os.PathLike) else [Path(f) for f in files]
    return {"files": [_file_version(p) for p in paths]}


def _file_version(path: Path) -> dict[str, Any]:
    if path.is_dir():
        digest = hashlib.sha256()
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            stat = child.stat()
            digest.update(f"{child.relative_to(path)}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
        return {"path": str(path), "kind": "directory", "tree_sha256": digest.hexdigest()}
    if not path.exists():
        return {"path": str(path), "kind": "missing"}
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return {"path": str(path), "kind": "file", "size": path.stat().st_size, "sha256": digest.hexdigest()}


def git_revision() -> str | None:
    """``HEAD`` of the checkout this code runs from, ``+dirty`` with local changes; None outside git."""
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # read-only: never refresh the index
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, env=env
        )
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "-C", str(root), "diff-index", "--quiet", "HEAD", "--"], capture_output=True, timeout=10, env=env
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return head.stdout.strip() + ("+dirty" if dirty.returncode == 1 else "")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None
