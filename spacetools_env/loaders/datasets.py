"""Every benchmark release the loaders read, by the short name ``spacetools data download`` takes."""

from __future__ import annotations

from spacetools_env.loaders.native import BLINK, CVBENCH, ROBOSPATIAL_HOME
from spacetools_env.loaders.paths import SPACETOOLS_EVAL, HubDataset
from spacetools_env.loaders.refspatial_bench import REFSPATIAL_BENCH
from spacetools_env.loaders.where2place import WHERE2PLACE

DATASETS: dict[str, HubDataset] = {
    d.name: d for d in (SPACETOOLS_EVAL, ROBOSPATIAL_HOME, BLINK, CVBENCH, REFSPATIAL_BENCH, WHERE2PLACE)
}


def get_dataset(name: str) -> HubDataset:
    """The release called ``name``.

    Raises:
        ValueError: naming the known releases.
    """
    try:
        return DATASETS[name]
    except KeyError:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}") from None
