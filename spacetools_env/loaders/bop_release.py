"""Where a BOP release is and how to get it: hub repository, archives, and the dataset folder on disk.

``spacetools data download bop-<dataset>`` fetches :data:`BOP_ARCHIVES` from ``bop-benchmark/<dataset>``
and extracts them into ``<data_dir>/<dataset>/``; :func:`find_models_info` finds that folder like
every release (:mod:`spacetools_env.loaders.paths`), by its ``models_info.json``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from spacetools_env.loaders.native import first_existing
from spacetools_env.loaders.paths import ENV_VAR, BenchmarkDataNotFoundError, HubDataset, candidate_paths

DEFAULT_DATASET = "ycbv"


HUB_OWNER = "bop-benchmark"


MODELS_INFO_PATHS = ("models_info.json", "models/models_info.json", "models_eval/models_info.json")


_DATASET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


BOP_ARCHIVES: Mapping[str, tuple[str, ...]] = {
    # UNVERIFIED file names (not checked against the hub repositories, which this repository has not
    # listed): the BOP site's "<ds>_base.zip, <ds>_models.zip, <ds>_test_*.zip" scheme, with the test
    # archive that ships ground truth. T-LESS's test split is "test_primesense"; HOPE's and HANDAL's
    # public ground truth is their validation split. Fix a name here when a download reports it missing.
    "ycbv": ("ycbv_base.zip", "ycbv_models.zip", "ycbv_test_bop19.zip"),
    "lmo": ("lmo_base.zip", "lmo_models.zip", "lmo_test_bop19.zip"),
    "tless": ("tless_base.zip", "tless_models.zip", "tless_test_primesense_bop19.zip"),
    "hope": ("hope_base.zip", "hope_models.zip", "hope_val_realsense.zip"),
    "handal": ("handal_base.zip", "handal_models.zip", "handal_val.zip"),
}
"""The archives ``spacetools data download bop-<dataset>`` fetches and extracts, per dataset.

Other datasets get :func:`default_archives`. ``<ds>_base.zip`` holds the folder ``<ds>/``; the
others hold the dataset folder's contents (``models/``, ``test/``), as the BOP site's ``unzip
<ds>_base.zip; unzip <ds>_models.zip -d <ds>`` says; extraction accepts either form.
"""


def default_archives(name: str) -> tuple[str, ...]:
    """The archives of a BOP dataset not in :data:`BOP_ARCHIVES`: base, models and the BOP19 test subset."""
    return (f"{name}_base.zip", f"{name}_models.zip", f"{name}_test_bop19.zip")


def bop_dataset(name: str = DEFAULT_DATASET) -> HubDataset:
    """The hub release of BOP dataset ``name``: ``bop-benchmark/<name>``, folder ``<name>``, its archives.

    Raises:
        ValueError: ``name`` is not a plain folder name.
    """
    if not isinstance(name, str) or not _DATASET_NAME.match(name):
        raise ValueError(f"BOP dataset must be a folder name such as 'ycbv', 'lmo' or 'tless', got {name!r}")
    archives = tuple(BOP_ARCHIVES.get(name, default_archives(name)))
    return HubDataset(name=f"bop-{name}", repo_id=f"{HUB_OWNER}/{name}", archives=archives)


def dataset_root(models_info: Path) -> Path:
    """The dataset folder of a ``models_info.json`` found at one of :data:`MODELS_INFO_PATHS`."""
    nested = {Path(p).parent.name for p in MODELS_INFO_PATHS} - {""}
    return models_info.parent.parent if models_info.parent.name in nested else models_info.parent


def find_models_info(dataset: HubDataset, data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The ``models_info.json`` of a BOP release: each place in lookup order, each of :data:`MODELS_INFO_PATHS`.

    Raises:
        BenchmarkDataNotFoundError: naming every place looked and how to unpack the release.
    """
    hit = first_existing(dataset, MODELS_INFO_PATHS, data_dir)
    if hit is not None:
        return hit[0]
    per_path = [candidate_paths(dataset, relative, data_dir) for relative in MODELS_INFO_PATHS]
    searched = [path for places in zip(*per_path, strict=True) for _, path in places]
    lines = "\n".join(f"  - {path}  ({why})" for places in zip(*per_path, strict=True) for why, path in places)
    name = dataset.folder
    archives = ", ".join(dataset.archives)
    message = (
        f"{dataset.repo_id}: no BOP dataset folder found (looked for {' or '.join(MODELS_INFO_PATHS)}):\n{lines}\n"
        f"Fix: run `{dataset.download_command} --data-dir <data_dir>` (fetches {archives} and extracts them "
        f"into <data_dir>/{name}/), then pass data_dir=<data_dir> (gym.make(..., data_dir=...)) or set "
        f"{ENV_VAR}=<data_dir>. By hand: download them from https://huggingface.co/datasets/{dataset.repo_id} "
        f"(or https://bop.felk.cvut.cz/datasets/) and unzip them into <data_dir>/ so that "
        f"<data_dir>/{name}/models/models_info.json and <data_dir>/{name}/test/<scene>/ exist."
    )
    raise BenchmarkDataNotFoundError(message, dataset=dataset, relative_path=MODELS_INFO_PATHS[0], searched=searched)
