"""``spacetools data``: fetch a benchmark release into the layout the loaders read.

Downloads go through ``huggingface_hub`` (installed on demand: ``pip install huggingface_hub``)
into ``<data_dir>/<repository name>/`` when a data directory is given (then pass the same
``data_dir=`` to ``gym.make`` or set ``$SPACETOOLS_DATA_DIR``), or into the Hugging Face cache,
which the loaders also search. Without a network, copy the release there by hand.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from spacetools_env.loaders.datasets import DATASETS, get_dataset


def download(name: str, data_dir: str | None = None) -> Path:
    """Fetch the release ``name``; returns the folder it is in.

    Raises:
        ValueError: an unknown name.
        RuntimeError: ``huggingface_hub`` is missing, or the download failed (with what to do).
    """
    dataset = get_dataset(name)
    try:
        hub = importlib.import_module("huggingface_hub")
    except ImportError:
        raise RuntimeError(
            "downloading needs huggingface_hub: run `pip install huggingface_hub`, "
            f"or copy {dataset.repo_id} into <data_dir>/{dataset.folder}/ by hand"
        ) from None
    local_dir = str(Path(data_dir) / dataset.folder) if data_dir else None
    try:
        return Path(hub.snapshot_download(repo_id=dataset.repo_id, repo_type="dataset", local_dir=local_dir))
    except Exception as exc:  # network, authentication (gated sets), disk: all need the user's action
        target = local_dir or "the Hugging Face cache"
        raise RuntimeError(
            f"could not download {dataset.repo_id} into {target}: {type(exc).__name__}: {exc}. "
            f"Without a network, copy the release into <data_dir>/{dataset.folder}/ by hand."
        ) from exc


def describe() -> str:
    """One line per known release: its name and hub repository."""
    return "\n".join(f"{name:<18} {d.repo_id}" for name, d in sorted(DATASETS.items()))
