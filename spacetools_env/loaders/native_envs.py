"""The env ids that read benchmarks in their native release formats, as one table.

Each row: env id, family module in :mod:`spacetools_env.tasks`, source factory (a picklable
``functools.partial``), default split. :func:`register_native_envs` registers them through
:func:`~spacetools_env.registration.register_task` (``needs_data=True``); ``gym.make`` finds
and opens the data (images are decoded per item). ``registration.register_builtin_families``
calls it, so every id here is registered with the built-in families.
"""

from __future__ import annotations

import functools
import importlib
from typing import Any

from spacetools_env.loaders.blink import SUBTASKS, blink_source, env_name
from spacetools_env.loaders.bop import bop_scenes_source
from spacetools_env.loaders.cvbench import TASKS as CVBENCH_TASKS
from spacetools_env.loaders.cvbench import cvbench_source
from spacetools_env.loaders.refspatial_bench import TASKS as REFSPATIAL_TASKS
from spacetools_env.loaders.refspatial_bench import refspatial_bench_source as ref_source
from spacetools_env.loaders.robospatial_home import robospatial_home_source
from spacetools_env.loaders.where2place import where2place_source


def _rows() -> list[tuple[str, str, Any, str]]:
    rows: list[tuple[str, str, Any, str]] = [
        ("SpaceTools-RoboSpatialHome-v0", "bench_robospatial_home", robospatial_home_source, "test"),
    ]
    rows += [
        (f"SpaceTools-BLINK-{env_name(s)}-v0", "bench_blink_native", functools.partial(blink_source, subtask=s), "val")
        for s in SUBTASKS
    ]
    rows += [
        (f"SpaceTools-CVBench-{task}-v0", "bench_cvbench_native", functools.partial(cvbench_source, task=task), "test")
        for task in CVBENCH_TASKS
    ]
    rows += [
        (f"SpaceTools-RefSpatialBench-{t}-v0", "bench_refspatial_native", functools.partial(ref_source, task=t), "test")
        for t in REFSPATIAL_TASKS
    ]
    rows.append(("SpaceTools-Where2Place-v0", "bench_where2place", where2place_source, "test"))
    rows.append(("SpaceTools-BOPScenes-Pose-v0", "bench_bop_native", bop_scenes_source, "test"))
    return rows


NATIVE_ENVS = tuple(_rows())


def register_native_envs() -> list[str]:
    """Register :data:`NATIVE_ENVS`; each family module's ``item_from_native`` builds the items."""
    from spacetools_env.registration import register_task

    ids = []
    for env_id, module_name, factory, split in NATIVE_ENVS:
        module = importlib.import_module(f"spacetools_env.tasks.{module_name}")
        source = functools.partial(factory, build=module.item_from_native)
        ids.append(register_task(module.FAMILY, env_id=env_id, source=source, needs_data=True, split=split))
    return ids
