"""``envs[].make_kwargs``: the ``gym.make`` options a manifest may ask the validator for, checked before any is used.

Only :class:`spacetools_env.config.EnvConfig` fields that shape questions and episodes are
accepted, each within the validator's documented limits (:mod:`benchmarks.leaderboard.limits`);
options that choose code (a tool client, backend or item source) are refused, and so is any
other key (Gymnasium's own ``gym.make`` options included). Every check is on the JSON value
alone: nothing is built, rendered or imported until all of them pass, so a 4096x4096
``difficulty`` override costs a dictionary lookup, not minutes of rendering.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
from collections.abc import Callable, Mapping
from typing import Any

from benchmarks.leaderboard import limits as L
from spacetools_env.sources import resolve_difficulty
from spacetools_env.world import DIFFICULTIES, SceneConfig

CODE_OPTIONS = frozenset({"tool_client", "tool_backend", "tool_options", "source", "task", "render_mode"})
"""Options that choose code (clients, backends, sources, the task), not questions: always refused."""
SET_BY_VALIDATOR = frozenset({"data_dir", "num_items", "split"})
"""Recorded by ``spacetools eval`` and accepted, but never passed on: the validator uses its own
data, the suite's split and the suite's item count."""

Check = Callable[[Any], str | None]


def _int(lo: int, hi: int, default: int) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, int) and not isinstance(value, bool) and lo <= value <= hi:
            return None
        return (f"must be an integer from {lo} to {hi} (the validator's limit; the env's default is {default}), "
                f"got {_show(value)}")

    return check


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else f"must be true or false, got {_show(value)}"


def _tools(value: Any) -> str | None:
    if value is None:
        return None
    ok = isinstance(value, list) and all(isinstance(v, str) and 0 < len(v) <= L.MAX_NAME_CHARS for v in value)
    if not ok or len(value) > L.MAX_TOOLS:
        return (f"must be null or a list of at most {L.MAX_TOOLS} tool names of 1 to {L.MAX_NAME_CHARS} characters, "
                f"got {_show(value)}")
    return None


def _weights(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict) or len(value) > L.MAX_REWARD_WEIGHTS:
        return f"must be null or an object of at most {L.MAX_REWARD_WEIGHTS} component weights, got {_show(value)}"
    for name, weight in value.items():
        number = isinstance(weight, int | float) and not isinstance(weight, bool)
        if len(name) > L.MAX_NAME_CHARS or not number or not math.isfinite(weight) or abs(weight) > L.MAX_WEIGHT:
            limit = f"{L.MAX_WEIGHT:g}"
            return f"weight {_show(name)} must be a number from -{limit} to {limit}, got {_show(weight)}"
    return None


def _json_object(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        return f"must be null or a JSON object, got {_show(value)}"
    size = len(json.dumps(value))
    if size > L.MAX_OPTIONS_BYTES:
        return f"is {size} bytes as JSON; at most {L.MAX_OPTIONS_BYTES} are accepted"
    return None


def _recorded(value: Any) -> str | None:
    if value is None or (isinstance(value, str | dict) and len(json.dumps(value)) <= L.MAX_OPTIONS_BYTES):
        return None
    return f"must be null, a string or an object of at most {L.MAX_OPTIONS_BYTES} bytes, got {_show(value)}"


def _difficulty(value: Any) -> str | None:
    """A preset name, or overrides of a preset within the rendering limits, checked before anything renders."""
    if isinstance(value, str):
        known = value in DIFFICULTIES
        return None if known else f"must be one of the presets {sorted(DIFFICULTIES)}, got {_show(value)}"
    if not isinstance(value, dict):
        return f"must be a preset name {sorted(DIFFICULTIES)} or an object of SceneConfig overrides, got {_show(value)}"
    size = len(json.dumps(value))
    if size > L.MAX_OPTIONS_BYTES:
        return f"is {size} bytes as JSON; at most {L.MAX_OPTIONS_BYTES} are accepted"
    fields = {f.name for f in dataclasses.fields(SceneConfig)} | {"preset"}
    unknown = sorted(set(value) - fields)
    if unknown:
        return f"has unknown SceneConfig fields {unknown}; accepted: {sorted(fields)}"
    preset = value.get("preset", "medium")
    if preset not in DIFFICULTIES:
        return f"preset must be one of {sorted(DIFFICULTIES)}, got {_show(preset)}"
    problem = _scene_cost(value, DIFFICULTIES[preset])
    if problem:
        return problem
    try:
        resolve_difficulty(value)  # SceneConfig's own checks: plain arithmetic, nothing rendered
    except (ValueError, TypeError) as exc:
        return f"is not a valid scene: {exc}"
    return None


def _scene_cost(value: dict[str, Any], base: SceneConfig) -> str | None:
    """What makes rendering expensive: pixels per image, objects per scene, resampling for visibility."""
    width, height = value.get("width", base.width), value.get("height", base.height)
    for name, side in (("width", width), ("height", height)):
        if not (isinstance(side, int) and not isinstance(side, bool) and 32 <= side <= L.MAX_IMAGE_SIDE):
            limit = f"32 to {L.MAX_IMAGE_SIDE} pixels"
            return f"{name} must be an integer from {limit} (the validator's limit), got {_show(side)}"
    if width * height > L.MAX_IMAGE_PIXELS:
        return (f"renders {width}x{height} = {width * height} pixels per image; the validator renders at most "
                f"{L.MAX_IMAGE_PIXELS} (e.g. 1024x768)")
    objects = value.get("num_objects", base.num_objects)
    pair = isinstance(objects, list | tuple) and len(objects) == 2 and isinstance(objects[1], int)
    if pair and objects[1] > L.MAX_SCENE_OBJECTS:
        return f"num_objects allows {objects[1]} objects; at most {L.MAX_SCENE_OBJECTS} per scene"
    visible = value.get("min_visible_px", base.min_visible_px)
    if isinstance(visible, int) and visible > L.MAX_MIN_VISIBLE_PX:
        most = L.MAX_MIN_VISIBLE_PX
        return f"min_visible_px is {visible}; at most {most} (a larger one resamples scenes up to 50 times)"
    return None


OPTIONS: Mapping[str, Check] = {
    "difficulty": _difficulty,
    "max_turns": _int(1, L.MAX_TURNS, 8),
    "max_calls_per_turn": _int(1, L.MAX_CALLS_PER_TURN, 8),
    "max_response_chars": _int(32, L.MAX_RESPONSE_CHARS, 2048),
    "max_action_chars": _int(1, L.MAX_ACTION_CHARS, 65536),
    "tools": _tools,
    "reward_weights": _weights,
    "tool_images": _flag,
    "tools_in_system_prompt": _flag,
    "source_options": _json_object,
    **{name: _recorded for name in SET_BY_VALIDATOR},
}
"""Every accepted make option and its check (a problem, or None)."""


def make_option_problems(env_id: Any, kwargs: Any) -> list[str]:
    """Every problem of one ``envs[].make_kwargs``, each naming the env id, the option, the limit and the fix."""
    where = f"envs make_kwargs {env_id}"
    if not isinstance(kwargs, dict):
        return [f"{where} must be an object of gym.make options, got {_show(kwargs)}"]
    problems = []
    for name, value in kwargs.items():
        if name in CODE_OPTIONS:
            problems.append(f"{where}: {name} chooses code, not questions; remove it and re-run")
        elif name not in OPTIONS:
            close = difflib.get_close_matches(name, list(OPTIONS), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"{where}: unknown option {_show(name)}{hint}; a manifest may set {sorted(OPTIONS)}")
        else:
            problem = OPTIONS[name](value)
            if problem:
                problems.append(f"{where}: {name} {problem}")
    return problems


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
