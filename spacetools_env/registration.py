"""One registry for every task family and its Gymnasium ids, driven by a table.

Built-in families live one per module in :mod:`spacetools_env.tasks`; each module exposes
``FAMILY``. Third parties call :func:`register_task` with their own :class:`TaskFamily` and get
a Gymnasium id back, checked by the same contract tests (:mod:`spacetools_env.testing`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import gymnasium as gym

from spacetools_env.task import TaskFamily

ENTRY_POINT = "spacetools_env.env:SpaceToolsEnv"

# module in spacetools_env.tasks -> its family mirrors this original evaluation key
BUILTIN_FAMILY_MODULES = (
    "spatial_configuration",
    "compatibility",
    "free_space",
    "relative_depth",
    "relation_2d",
    "depth_3d",
    "ref_location",
    "ref_placement",
    "box_pose",
)

_FAMILIES: dict[str, TaskFamily] = {}
_IDS: dict[str, str] = {}


def register_task(
    family: TaskFamily,
    *,
    env_id: str | None = None,
    source: Callable[..., Any] | None = None,
    **env_defaults: Any,
) -> str:
    """Register a task family and give it a Gymnasium id.

    Args:
        family: The family: item type, prompt, official scorer, shaped term, oracle, generator.
        env_id: The id to register; defaults to ``SpaceTools-Synth-<name>-v<version>`` for
            families with a synthetic generator (required otherwise).
        source: A picklable ``source(family, config) -> ItemSource`` factory for items that do
            not come from the synthetic world (benchmark loaders); None for the synthetic world.
        **env_defaults: Default ``gym.make`` keyword arguments (``max_turns``, ``tools``, ...).

    Returns:
        The registered id, ready for ``gym.make``.

    Raises:
        ValueError: another family already uses this name, or no id can be derived.
    """
    existing = _FAMILIES.get(family.name)
    if existing is not None and existing != family:
        raise ValueError(f"a different task family named {family.name!r} is already registered")
    if env_id is None:
        if family.generate is None:
            raise ValueError(f"family {family.name!r} has no synthetic generator: pass env_id= and source=")
        env_id = f"SpaceTools-Synth-{family.name}-v{family.version}"
    _FAMILIES[family.name] = family
    kwargs = {"task": family.name, **env_defaults}
    if source is not None:
        kwargs["source"] = source
    if env_id in gym.registry:
        del gym.registry[env_id]
    gym.register(id=env_id, entry_point=ENTRY_POINT, kwargs=kwargs)
    _IDS[env_id] = family.name
    return env_id


def get_family(name: str) -> TaskFamily:
    """The registered family called ``name``.

    Raises:
        KeyError: naming the registered families.
    """
    try:
        return _FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown task family {name!r}; registered: {sorted(_FAMILIES)}") from None


def registered_ids() -> list[str]:
    """Every Gymnasium id registered through :func:`register_task`, sorted."""
    return sorted(_IDS)


def families() -> dict[str, TaskFamily]:
    return dict(_FAMILIES)


def register_builtin_families() -> list[str]:
    ids = []
    for module_name in BUILTIN_FAMILY_MODULES:
        module = importlib.import_module(f"spacetools_env.tasks.{module_name}")
        ids.append(register_task(module.FAMILY))
    return ids


def make_vec(env_id: str, num_envs: int, mode: str = "sync", **kwargs: Any) -> gym.vector.VectorEnv:
    """``gym.make_vec`` with what chat observations need (no shared memory for async workers)."""
    vector_kwargs = {"shared_memory": False} if mode == "async" else {}
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, vector_kwargs=vector_kwargs, **kwargs)
