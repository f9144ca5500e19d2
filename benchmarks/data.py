"""``spacetools data``: fetch a benchmark release into the layout the loaders read.

Downloads go through ``huggingface_hub`` (installed on demand: ``pip install huggingface_hub``)
into ``<data_dir>/<repository name>/`` when a data directory is given (then pass the same
``data_dir=`` to ``gym.make`` or set ``$SPACETOOLS_DATA_DIR``), or into the Hugging Face cache,
which the loaders also search. Without a network, copy the release there by hand.

Releases published as zip archives (BOP: ``HubDataset.archives``) fetch only those archives and
then extract them into the dataset folder (:func:`extract_archives`): every member is checked
before anything is written (no absolute paths, no ``..``, no links, nothing resolving outside
the folder), an archive whose single top-level folder is the dataset folder's name
(``ycbv_base.zip`` holds ``ycbv/``) is extracted without that level, and an archive already
extracted (a marker file records its size and modification time) is skipped, so running the
command again does no work.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import stat
import zipfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from spacetools_env.loaders.datasets import DATASETS, get_dataset
from spacetools_env.loaders.paths import HubDataset

MARKER_DIR = ".spacetools-extracted"
"""Folder (inside the dataset folder) of the per-archive extraction markers."""


class UnsafeArchiveError(RuntimeError):
    """An archive member would be written outside the target folder, or is a link: nothing is extracted."""


def download(name: str, data_dir: str | None = None) -> Path:
    """Fetch the release ``name`` (and extract its archives, if it has any); returns the folder it is in.

    Raises:
        ValueError: an unknown name.
        RuntimeError: ``huggingface_hub`` is missing, or the download failed (with what to do).
        UnsafeArchiveError: an archive tries to write outside the dataset folder.
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
    patterns = list(dataset.archives) or None
    try:
        folder = Path(hub.snapshot_download(
            repo_id=dataset.repo_id, repo_type="dataset", local_dir=local_dir, allow_patterns=patterns
        ))
    except Exception as exc:  # network, authentication (gated sets), disk: all need the user's action
        target = local_dir or "the Hugging Face cache"
        raise RuntimeError(
            f"could not download {dataset.repo_id} into {target}: {type(exc).__name__}: {exc}. "
            f"Without a network, copy the release into <data_dir>/{dataset.folder}/ by hand."
        ) from exc
    if dataset.archives:
        extract_archives(folder, dataset)
    return folder


def extract_archives(folder: Path, dataset: HubDataset) -> list[str]:
    """Extract ``dataset.archives`` found in ``folder`` into ``folder``; returns the ones extracted now.

    Raises:
        RuntimeError: an archive is missing from ``folder`` (the download did not fetch it: its
            name in the archive list may be wrong) or is not a readable zip file.
        UnsafeArchiveError: an archive has a member that is absolute, climbs out with ``..``, is a
            link, or would resolve outside ``folder``; nothing of that archive is written.
    """
    folder = Path(folder)
    missing = [name for name in dataset.archives if not (folder / name).is_file()]
    if missing:
        present = sorted(p.name for p in folder.glob("*.zip"))
        raise RuntimeError(
            f"{dataset.repo_id}: archive(s) {missing} not in {folder} (zip files there: {present or 'none'}). "
            f"The archive list of {dataset.name} may name a file the repository does not have: see "
            f"https://huggingface.co/datasets/{dataset.repo_id}/tree/main and fix the list "
            "(spacetools_env.loaders.bop_release.BOP_ARCHIVES for BOP sets), "
            "or download and unzip the archives by hand."
        )
    return [name for name in dataset.archives if extract_archive(folder / name, folder, strip=dataset.folder)]


def extract_archive(archive: Path, target: Path, *, strip: str | None = None) -> bool:
    """Extract one zip archive into ``target`` safely; False when it was already extracted.

    Args:
        archive: The zip file.
        target: The folder to extract into (created).
        strip: A top-level folder name to drop when every member lies under it (BOP's base
            archive holds ``<dataset>/``, its other archives the folder's contents).

    Raises:
        RuntimeError: ``archive`` is not a readable zip file.
        UnsafeArchiveError: see :func:`extract_archives`.
    """
    target.mkdir(parents=True, exist_ok=True)
    marker = target / MARKER_DIR / f"{archive.name}.json"
    stamp = _stamp(archive)
    if _read_marker(marker) == stamp:
        return False
    try:
        with zipfile.ZipFile(archive) as zf:
            members = zf.infolist()
            plan = _plan(archive, members, target, strip)
            for info, destination in plan:
                if info.is_dir():
                    destination.mkdir(parents=True, exist_ok=True)
                    continue
                destination.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as source, open(destination, "wb") as sink:
                    shutil.copyfileobj(source, sink, length=1 << 20)
    except zipfile.BadZipFile as exc:
        raise RuntimeError(f"{archive}: not a readable zip file ({exc}); delete it and download again") from None
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps(stamp))
    return True


def _plan(
    archive: Path, members: Sequence[zipfile.ZipInfo], target: Path, strip: str | None
) -> list[tuple[zipfile.ZipInfo, Path]]:
    """Every member with its destination, all checked before anything is written."""
    root = target.resolve()
    names = [_member_path(archive, info) for info in members]
    drop = bool(strip) and bool(names) and all(len(p.parts) >= 1 and p.parts[0] == strip for p in names)
    plan = []
    for info, path in zip(members, names, strict=True):
        parts = path.parts[1:] if drop else path.parts
        if not parts:  # the stripped top-level folder itself
            continue
        destination = root.joinpath(*parts)
        resolved = destination.resolve()
        if resolved != root and root not in resolved.parents:
            raise UnsafeArchiveError(
                f"{archive}: member {info.filename!r} would be written to {resolved}, outside {root} "
                "(through a link already there); nothing was extracted from this archive"
            )
        plan.append((info, destination))
    return plan


def _member_path(archive: Path, info: zipfile.ZipInfo) -> PurePosixPath:
    """The member's relative path, or UnsafeArchiveError for an absolute, climbing or link member."""
    name = info.filename.replace("\\", "/")
    path = PurePosixPath(name)
    refuse = None
    if path.is_absolute() or (len(name) > 1 and name[1] == ":"):
        refuse = "an absolute path"
    elif ".." in path.parts:
        refuse = "a path climbing out with '..'"
    elif stat.S_ISLNK(info.external_attr >> 16):
        refuse = "a symbolic link"
    if refuse is not None:
        raise UnsafeArchiveError(
            f"{archive}: member {info.filename!r} is {refuse}; refusing to extract this archive "
            "(nothing was written). Download it again from the hub, or extract it by hand after checking it."
        )
    return PurePosixPath(*[p for p in path.parts if p not in ("", ".")])


def _stamp(archive: Path) -> dict[str, int | str]:
    st = os.stat(archive)  # follows the HF cache's symlink to the blob
    return {"archive": archive.name, "size": st.st_size, "mtime_ns": st.st_mtime_ns}


def _read_marker(marker: Path) -> object:
    try:
        return json.loads(marker.read_text())
    except (OSError, ValueError):
        return None


def describe() -> str:
    """One line per known release: its name and hub repository."""
    return "\n".join(f"{name:<18} {d.repo_id}" for name, d in sorted(DATASETS.items()))
