"""Where a model's files are, and what identifies them in a manifest.

A model is a checkpoint folder or a hub id; a hub id is fetched into the Hugging Face cache with
``huggingface_hub.snapshot_download`` (nothing is downloaded when the cache holds that revision, and
the tests only ever pass folders). The revision recorded is the hub commit of the snapshot.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf")


def resolve_checkpoint(model: str, revision: str | None = None) -> tuple[Path, str | None]:
    """``(folder, revision)`` of ``model``: a folder as it is (revision None), a hub id as its snapshot.

    Raises:
        ValueError: a folder with a revision, or a name that is neither a folder nor a hub id.
    """
    if not isinstance(model, str) or not model:
        raise ValueError(f"the hf agent's 'model' must be a checkpoint folder or a hub id, got {model!r}")
    folder = Path(model).expanduser()
    if folder.is_dir():
        if revision is not None:
            raise ValueError(f"revision={revision!r} applies to hub ids; {model!r} is a local folder")
        return folder.resolve(), None
    if folder.exists() or model.startswith((".", "/", "~")) or model.count("/") > 1:
        raise ValueError(f"model {model!r} is not a checkpoint folder (no such directory) nor a hub id 'org/name'")
    from huggingface_hub import snapshot_download

    try:
        snapshot = Path(snapshot_download(repo_id=model, revision=revision))
    except Exception as exc:  # offline, unknown id or revision, gated repo: one error naming the fix
        raise ValueError(
            f"cannot get model {model!r} (revision {revision!r}) from the Hugging Face hub: {exc}. "
            "Pass a local checkpoint folder, or check the id, the revision and the network"
        ) from exc
    return snapshot, snapshot.name


def weights_sha256(folder: Path) -> str:
    """One sha256 over the checkpoint's weight files (names and bytes, in name order)."""
    digest = hashlib.sha256()
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))
    if not files:
        raise ValueError(f"{folder} holds no weight files ({', '.join(WEIGHT_SUFFIXES)}); is it a checkpoint folder?")
    for path in files:
        digest.update(path.name.encode("utf-8") + b"\0")
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()
