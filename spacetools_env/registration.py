"""One registry for every task family and its Gymnasium ids, driven by a table.

Built-in families live one per module in :mod:`spacetools_env.tasks`; each module exposes
``FAMILY``. Third parties call :func:`register_task` with their own :class:`TaskFamily` and get
a Gymnasium id back, checked by the same contract tests (:mod:`spacetools_env.testing`).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from typing import Any

import gymnasium as gym

from spacetools_env.loaders import spacetools_eval_source
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

# env id -> (module in spacetools_env.tasks, key of the SpaceTools evaluation parquet). These ids
# read siyich/spacetools-eval-benchmarks from a local copy (spacetools_env.loaders.paths), found
# and opened at gym.make; split "test" only.
BENCHMARK_ENVS = (
    ("SpaceTools-RoboSpatial-v0", "bench_robospatial", "robospatial"),
    ("SpaceTools-RefSpatial-Location-v0", "bench_refspatial", "reflocation"),
    ("SpaceTools-RefSpatial-Placement-v0", "bench_refspatial", "refplacement"),
    ("SpaceTools-RefSpatial-Unseen-v0", "bench_refspatial", "refunseen"),
    ("SpaceTools-BLINK-Depth-v0", "bench_blink", "blinkdepth"),
    ("SpaceTools-CVBench-2DRelation-v0", "bench_cvbench", "cvb2drelation"),
    ("SpaceTools-CVBench-3DDepth-v0", "bench_cvbench", "cvb3ddepth"),
    ("SpaceTools-BOP-Pose-v0", "bench_bop_pose", "boppose"),
    ("SpaceTools-BOP-Grasp-v0", "bench_bop_grasp", "bopgrasp"),
)

_FAMILIES: dict[str, TaskFamily] = {}
_IDS: dict[str, str] = {}
_NEEDS_DATA: set[str] = set()


def register_task(
    family: TaskFamily,
    *,
    env_id: str | None = None,
    source: Callable[..., Any] | None = None,
    needs_data: bool = False,
    **env_defaults: Any,
) -> str:
    """Register a task family and give it a Gymnasium id.

    Args:
        family: The family: item type, prompt, official scorer, shaped term, oracle, generator.
        env_id: The id to register; defaults to ``SpaceTools-Synth-<name>-v<version>`` for
            families with a synthetic generator (required otherwise).
        source: A picklable ``source(family, config) -> ItemSource`` factory for items that do
            not come from the synthetic world (benchmark loaders); None for the synthetic world.
        needs_data: The source reads a local copy of a dataset, so the id cannot run without
            one (the registry-wide contract tests skip it; see :func:`registered_ids`).
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
    if needs_data:
        _NEEDS_DATA.add(env_id)
    else:
        _NEEDS_DATA.discard(env_id)
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


def registered_ids(*, needs_data: bool | None = None) -> list[str]:
    """Every Gymnasium id registered through :func:`register_task`, sorted.

    Args:
        needs_data: None: all ids; False: the ids that run with no data on disk (synthetic
            and in-memory sources); True: the ids that read a benchmark's local copy.
    """
    return sorted(i for i in _IDS if needs_data is None or (i in _NEEDS_DATA) == needs_data)


def benchmark_ids() -> list[str]:
    """The ids that read a benchmark's local copy (``data_dir=``, see :mod:`spacetools_env.loaders`)."""
    return registered_ids(needs_data=True)


def families() -> dict[str, TaskFamily]:
    return dict(_FAMILIES)


def register_builtin_families() -> list[str]:
    ids = []
    for module_name in BUILTIN_FAMILY_MODULES:
        module = importlib.import_module(f"spacetools_env.tasks.{module_name}")
        ids.append(register_task(module.FAMILY))
    from spacetools_env.loaders.native_envs import register_native_envs

    return ids + register_benchmark_envs() + register_native_envs()


def register_benchmark_envs() -> list[str]:
    """Register :data:`BENCHMARK_ENVS`; their sources find and open the data at ``gym.make``."""
    ids = []
    for env_id, module_name, key in BENCHMARK_ENVS:
        module = importlib.import_module(f"spacetools_env.tasks.{module_name}")
        source = functools.partial(spacetools_eval_source, key=key, build=module.item_from_row)
        ids.append(register_task(module.FAMILY, env_id=env_id, source=source, needs_data=True, split="test"))
    return ids


def make_vec(
    env_id: str, num_envs: int, mode: str = "sync", vector_kwargs: dict[str, Any] | None = None, **kwargs: Any
) -> gym.vector.VectorEnv:
    """``gym.make_vec``, with async workers sending observations through their pipes.

    ``gym.make_vec(id, n, vectorization_mode="async")`` works too (see
    :mod:`spacetools_env.vector_memory`); this one passes ``shared_memory=False`` in async mode,
    which skips the manager process that shared memory needs for chat observations.

    Args:
        env_id: A registered id.
        num_envs: How many copies.
        mode: ``"sync"`` or ``"async"``.
        vector_kwargs: More ``SyncVectorEnv``/``AsyncVectorEnv`` arguments (win over the default).
        **kwargs: ``gym.make`` options for every copy.
    """
    defaults: dict[str, Any] = {"shared_memory": False} if mode == "async" else {}
    vector_kwargs = {**defaults, **(vector_kwargs or {})}
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode=mode, vector_kwargs=vector_kwargs, **kwargs)
