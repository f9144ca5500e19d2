"""``manifest.json`` as untrusted input: which suite it may name, and no value in it may select code.

Checked on the parsed JSON before any env is built (:func:`manifest_problems`):

- **The suite.** Env ids resolve only against the suite the operator named (``validate --suite``,
  ``build --suite``): the manifest's ``suite.spec`` must be that suite. Without one, only the
  suite registry's own suites are accepted (:mod:`benchmarks.eval.suites`: ``synth``, ``paper``,
  or a list of SpaceTools ids), never another Gymnasium id (its entry point is code the
  submission would pick) nor the ``module:EnvId`` form (``gym.make`` imports ``module``).
  Every ``envs[].env_id`` must be an id of that suite, once.
- **No code.** The whole manifest is walked: a key that chooses code (``tool_client``,
  ``source``, ...) in any options object and a ``module:name`` import string anywhere are
  refused, except under the fields that describe the submitter's own agent (``agent``,
  ``run.config.agent``, ``run.config.agent_kwargs``: where ``spacetools eval`` records
  ``module:Class`` agents) and ``envs[].spec_kwargs`` (the registry's own entry for the id, item
  source factory included, as recorded): the validator never reads either.
- **Make options** within the documented limits (:mod:`benchmarks.leaderboard.make_options`).
"""

from __future__ import annotations

import re
from typing import Any

import spacetools_env
from benchmarks.eval.suites import PAPER_EVAL_KEYS, synth_ids
from benchmarks.leaderboard.make_options import CODE_OPTIONS, make_option_problems

FIELDS = frozenset({
    "schema", "spacetools_version", "suite", "agent", "seed", "difficulty", "env_kwargs", "envs",
    "created", "git_revision", "python", "gymnasium", "numpy", "run",
})
"""The top-level fields :func:`benchmarks.eval.manifest.build_manifest` writes; any other is refused."""
NAMED_SUITES = ("synth", "paper")
AGENT_FIELDS = (("agent",), ("run", "config", "agent"), ("run", "config", "agent_kwargs"))
"""Where the submitter's agent is described (``module:Class`` allowed): never read by the validator."""
MAX_VALUES = 50_000
"""JSON values walked in one manifest (the paper suite's holds about 1,500)."""
_MAX_IMPORT_CHARS = 256
_IMPORT_STRING = re.compile(r"\s*[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*\s*:\s*[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*\s*")


def manifest_problems(manifest: dict[str, Any], suite: str | None = None) -> list[str]:
    """Every reason ``manifest`` may not be used to build envs, each naming the field and the fix.

    Args:
        manifest: The parsed ``manifest.json``.
        suite: The suite the operator validates against (``synth``, ``paper`` or comma-separated
            ids); None: any suite of the registry (named suites, or lists of SpaceTools ids).
    """
    problems = []
    unknown = sorted(set(manifest) - FIELDS)
    if unknown:
        problems.append(f"unknown fields {unknown}; a manifest has the fields spacetools eval writes: {sorted(FIELDS)}")
    problems += [f"{where} {why}".strip() for where, why in _code_values(manifest)]
    ids, problem = _suite_ids(manifest.get("suite"), suite)
    if problem:
        return [*problems, problem]
    problems += _env_problems(manifest.get("envs"), ids)
    return problems


def suite_ids(spec: str) -> tuple[str, ...]:
    """The env ids of a suite spec as the registry lists them (named suites expanded); nothing is imported."""
    spec = spec.strip()
    if spec == "synth":
        return synth_ids()
    if spec == "paper":
        return tuple(PAPER_EVAL_KEYS)
    return tuple(i.strip() for i in spec.split(",") if i.strip())


def _suite_ids(entry: Any, operator: str | None) -> tuple[tuple[str, ...], str | None]:
    spec = entry.get("spec") if isinstance(entry, dict) else None
    if not isinstance(spec, str):
        return (), "suite must be an object with a string 'spec' (as spacetools eval writes)"
    ids = suite_ids(spec)
    if operator is not None:
        if ids != suite_ids(operator):
            return ids, (
                f"suite.spec {spec!r} is not the suite this leaderboard validates ({operator!r}); "
                f"run `spacetools eval --suite {operator}` (or validate with --suite {spec!r})"
            )
        return ids, None
    if spec.strip() in NAMED_SUITES:
        return ids, None
    known = set(spacetools_env.registered_ids())
    for env_id in ids:
        if ":" in env_id:
            return ids, (
                f"suite.spec names {env_id!r}: the 'module:EnvId' form makes gym.make import the module, "
                "so a submission would choose code; name a registered SpaceTools id"
            )
        if env_id not in known:
            return ids, (
                f"suite.spec names {env_id!r}, which is not a SpaceTools env id; without --suite only the suite "
                f"registry's suites ({', '.join(NAMED_SUITES)}, or SpaceTools ids) are validated: the operator "
                "names any other with --suite"
            )
    return ids, None


def _env_problems(envs: Any, ids: tuple[str, ...]) -> list[str]:
    if not isinstance(envs, list) or not all(isinstance(e, dict) for e in envs):
        return ["envs must be a list of objects, one per env id of the suite (as spacetools eval writes)"]
    problems, seen = [], set()
    for number, entry in enumerate(envs):
        env_id = entry.get("env_id")
        if env_id not in ids:
            problems.append(f"envs[{number}].env_id {env_id!r} is not an env id of the suite {list(ids)}")
        elif env_id in seen:
            problems.append(f"envs[{number}].env_id {env_id!r} is listed twice")
        seen.add(env_id)
        if "make_kwargs" in entry:
            problems += make_option_problems(env_id, entry["make_kwargs"])
    missing = [i for i in ids if i not in seen]
    if missing:
        problems.append(f"envs has no entry for {missing}; the manifest must record the make options of every env")
    return problems


def _code_values(manifest: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, why) for every code-selecting key or value in ``manifest`` (walked with a stack, within a budget)."""
    found: list[tuple[str, str]] = []
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(manifest, ())]
    seen = 1
    while stack:
        value, path = stack.pop()
        if isinstance(value, dict | list):
            seen += len(value)  # every value is counted once, when its container is opened
            if seen > MAX_VALUES:
                found.append(("", f"holds more than {MAX_VALUES} JSON values; a manifest as spacetools eval "
                                  "writes it holds about 100 per env id"))
                break
        if path in AGENT_FIELDS or (path and path[-1] == "spec_kwargs"):  # described, never read
            continue
        if isinstance(value, str):
            if len(value) <= _MAX_IMPORT_CHARS and _IMPORT_STRING.fullmatch(value):
                found.append((_where(path), f"is {value!r}, a 'module:name' import string; a manifest never "
                                            "selects code, remove it"))
        elif isinstance(value, dict):
            checked_elsewhere = bool(path) and path[-1] == "make_kwargs"  # make_option_problems names these
            for key, item in reversed(value.items()):
                if key not in CODE_OPTIONS:
                    stack.append((item, (*path, key)))
                elif not checked_elsewhere:
                    found.append((_where((*path, key)), "chooses code, not questions; remove it and re-run"))
        elif isinstance(value, list):
            walked = [(item, (*path, n)) for n, item in enumerate(value) if isinstance(item, str | dict | list)]
            stack += reversed(walked)
    return found


def _where(path: tuple[str | int, ...]) -> str:
    """``envs[1].family`` for ``("envs", 1, "family")``."""
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in path).lstrip(".")
