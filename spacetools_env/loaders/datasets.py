"""Every benchmark release the loaders read, by the short name ``spacetools data download`` takes.

BOP datasets are named ``bop-<dataset>`` (``bop-ycbv``, ``bop-lmo``, ...): the ones in
:data:`~spacetools_env.loaders.bop_release.BOP_ARCHIVES` are listed; any other ``bop-<dataset>`` is
accepted too, with :func:`~spacetools_env.loaders.bop_release.default_archives`.
"""

from __future__ import annotations

from spacetools_env.loaders.bop_release import BOP_ARCHIVES, bop_dataset
from spacetools_env.loaders.native import BLINK, CVBENCH, ROBOSPATIAL_HOME
from spacetools_env.loaders.paths import SPACETOOLS_EVAL, HubDataset
from spacetools_env.loaders.refspatial_bench import REFSPATIAL_BENCH
from spacetools_env.loaders.where2place import WHERE2PLACE

_BOP_PREFIX = "bop-"

DATASETS: dict[str, HubDataset] = {
    d.name: d
    for d in (
        SPACETOOLS_EVAL, ROBOSPATIAL_HOME, BLINK, CVBENCH, REFSPATIAL_BENCH, WHERE2PLACE,
        *(bop_dataset(name) for name in BOP_ARCHIVES),
    )
}


def get_dataset(name: str) -> HubDataset:
    """The release called ``name`` (``bop-<dataset>`` for any BOP dataset).

    Raises:
        ValueError: naming the known releases.
    """
    if name in DATASETS:
        return DATASETS[name]
    if name.startswith(_BOP_PREFIX) and len(name) > len(_BOP_PREFIX):
        try:
            return bop_dataset(name[len(_BOP_PREFIX):])
        except ValueError:
            pass
    raise ValueError(f"unknown dataset {name!r}; known: {sorted(DATASETS)} (and bop-<dataset> for other BOP sets)")
