"""RefSpatial-Bench raw folders (``BAAI/RefSpatial-Bench``) as items of the RefSpatial family.

The release's raw folders (``Location/``, ``Placement/``, ``Unseen/``; loader
:mod:`spacetools_env.loaders.refspatial_bench`) hold the same questions as the SpaceTools parquet
keys ``reflocation`` / ``refplacement`` / ``refunseen``. Items are :class:`RefSpatialItem`, scored by
the same official RefSpatial-Bench rule (:mod:`spacetools_env.tasks.bench_refspatial`); the
question is RoboRefer's default prompt ``f"{prompt} {suffix}"`` (``Evaluation/test_benchmark.py``).

Registered ids: ``SpaceTools-RefSpatialBench-Location-v0``, ``-Placement-v0``, ``-Unseen-v0``
(split ``test``), family ``RefSpatial``.

Version history:
    v0: initial release.
"""

from __future__ import annotations

import numpy as np

from spacetools_env.loaders.rows import BenchmarkRow, RowError
from spacetools_env.tasks.bench_refspatial import FAMILY, RefSpatialItem, outside_point
from tool_backends.geometry import interior_point

__all__ = ["FAMILY", "item_from_native"]


def item_from_native(row: BenchmarkRow, mask: np.ndarray) -> RefSpatialItem:
    """A :class:`RefSpatialItem` from a ``question.json`` record and its stored mask image.

    As RoboRefer reads masks: channel 0 (the loader passes it), any nonzero value is inside.

    Raises:
        RowError: the mask has no foreground pixel.
    """
    binary = np.asarray(mask) > 0
    if not binary.any():
        raise RowError("mask_path", "a mask with at least one foreground pixel", f"an empty {binary.shape} mask")
    binary.flags.writeable = False
    extras = {k: row.extra_info[k] for k in ("step", "category", "id") if isinstance(row.extra_info.get(k), int | str)}
    return RefSpatialItem(
        **row.item_fields(str(row.extra_info.get("split", "")), **extras),
        mask=binary,
        point=interior_point(binary),
        wrong_point=outside_point(binary),
    )
