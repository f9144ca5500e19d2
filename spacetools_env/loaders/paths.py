"""Where a benchmark's local copy lives: ``data_dir=``, then ``$SPACETOOLS_DATA_DIR``, then the HF cache.

Layout under a data directory (the ``data_dir=`` argument or ``$SPACETOOLS_DATA_DIR``): one
folder per dataset, named after its hub repository, holding the repository's files as published::

    <data_dir>/
        spacetools-eval-benchmarks/        # siyich/spacetools-eval-benchmarks
            data/robospatial.parquet
            data/blinkdepth.parquet
            ...

A data directory that *is* a dataset's folder (``<data_dir>/data/robospatial.parquet``, what
``huggingface-cli download --local-dir DIR`` writes) is accepted as well. The Hugging Face cache
is read in its own layout, ``<cache>/datasets--<owner>--<name>/snapshots/<revision>/<file>``:
the revision ``refs/main`` names first, then the other snapshots, newest first. The cache is
``$HF_HUB_CACHE``, else ``$HF_HOME/hub``, else ``~/.cache/huggingface/hub``.

The first place holding the file wins. When none does, :class:`BenchmarkDataNotFoundError`
names every place looked, the file expected and the command that fetches it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

ENV_VAR = "SPACETOOLS_DATA_DIR"


@dataclass(frozen=True)
class HubDataset:
    """A benchmark release on the Hugging Face hub, as found locally.

    Attributes:
        name: The short name ``spacetools data download NAME`` takes.
        repo_id: The hub dataset repository (``owner/name``).
        archives: Zip archives of the repository to fetch (only these) and extract into the
            dataset's folder, for releases published as archives (BOP); empty: the repository's
            files are the release, fetched whole.
    """

    name: str
    repo_id: str
    archives: tuple[str, ...] = ()

    @property
    def folder(self) -> str:
        """The dataset's folder under a data directory: the repository's name."""
        return self.repo_id.split("/")[-1]

    @property
    def cache_folder(self) -> str:
        """The dataset's folder in the Hugging Face hub cache."""
        return "datasets--" + self.repo_id.replace("/", "--")

    @property
    def download_command(self) -> str:
        return f"spacetools data download {self.name}"


SPACETOOLS_EVAL = HubDataset(name="spacetools-eval", repo_id="siyich/spacetools-eval-benchmarks")


class BenchmarkDataNotFoundError(FileNotFoundError):
    """A benchmark file is in none of the places looked (built by :meth:`from_places`).

    Constructible from its message alone, as Gymnasium's async vector env re-raises worker errors.

    Attributes:
        dataset: The dataset the file belongs to.
        relative_path: The file's path inside the dataset (``data/robospatial.parquet``).
        searched: Every path looked at, in lookup order.
    """

    def __init__(
        self,
        message: object,
        *,
        dataset: HubDataset | None = None,
        relative_path: str | None = None,
        searched: list[Path] | None = None,
    ) -> None:
        super().__init__(str(message))
        self.dataset, self.relative_path = dataset, relative_path
        self.searched = list(searched or [])

    @classmethod
    def from_places(
        cls, dataset: HubDataset, relative_path: str, places: list[tuple[str, Path | None]]
    ) -> BenchmarkDataNotFoundError:
        """The error for ``places`` (why, path), a None path marking a place not configured."""
        lines = "\n".join(f"  - {why}" if path is None else f"  - {path}  ({why})" for why, path in places)
        message = (
            f"{dataset.repo_id}: {relative_path!r} not found. Looked in:\n{lines}\n"
            f"Fix: run `{dataset.download_command}` (or `huggingface-cli download --repo-type dataset "
            f"{dataset.repo_id}`), or put the file at <data_dir>/{dataset.folder}/{relative_path} and pass "
            f"data_dir=<data_dir> (gym.make(..., data_dir=...)) or set {ENV_VAR}=<data_dir>."
        )
        searched = [path for _, path in places if path is not None]
        return cls(message, dataset=dataset, relative_path=relative_path, searched=searched)


def hf_hub_cache(environ: Mapping[str, str] | None = None) -> Path:
    """The Hugging Face hub cache folder: ``$HF_HUB_CACHE``, ``$HF_HOME/hub`` or ``~/.cache/huggingface/hub``."""
    env = os.environ if environ is None else environ
    if env.get("HF_HUB_CACHE"):
        return Path(env["HF_HUB_CACHE"]).expanduser()
    if env.get("HF_HOME"):
        return Path(env["HF_HOME"]).expanduser() / "hub"
    return Path("~/.cache/huggingface/hub").expanduser()


def _under_data_dir(root: Path, dataset: HubDataset, relative_path: str, why: str) -> Iterator[tuple[str, Path]]:
    yield why, root / dataset.folder / relative_path
    yield f"{why}, as the dataset folder itself", root / relative_path


def _snapshots(repo_cache: Path) -> list[Path]:
    """Snapshot folders of a cached repository: the one ``refs/main`` names, then the rest, newest first."""
    folder = repo_cache / "snapshots"
    try:
        found = [p for p in folder.iterdir() if p.is_dir()]
    except OSError:
        return []
    found.sort(key=lambda p: (-p.stat().st_mtime, p.name))
    try:
        main = (repo_cache / "refs" / "main").read_text().strip()
    except OSError:
        main = ""
    return sorted(found, key=lambda p: p.name != main)


def _places(
    dataset: HubDataset, relative_path: str, data_dir: str | os.PathLike[str] | None, env: Mapping[str, str]
) -> list[tuple[str, Path | None]]:
    """Lookup order, each place with why it is looked at; None marks a place not configured."""
    places: list[tuple[str, Path | None]] = []
    if data_dir is not None:
        places += _under_data_dir(Path(data_dir).expanduser(), dataset, relative_path, "data_dir argument")
    else:
        places.append(("data_dir argument: not given", None))
    if env.get(ENV_VAR):
        places += _under_data_dir(Path(env[ENV_VAR]).expanduser(), dataset, relative_path, f"${ENV_VAR}")
    else:
        places.append((f"${ENV_VAR}: not set", None))
    repo_cache = hf_hub_cache(env) / dataset.cache_folder
    snapshots = _snapshots(repo_cache)
    if snapshots:
        places += [(f"Hugging Face cache, revision {s.name}", s / relative_path) for s in snapshots]
    else:
        places.append(("Hugging Face cache, no snapshot downloaded", repo_cache / "snapshots" / "*" / relative_path))
    return places


def candidate_paths(
    dataset: HubDataset,
    relative_path: str,
    data_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> list[tuple[str, Path]]:
    """Every place ``relative_path`` of ``dataset`` may be, in lookup order, each with why it is looked at."""
    env = os.environ if environ is None else environ
    return [(why, path) for why, path in _places(dataset, relative_path, data_dir, env) if path is not None]


def find_benchmark_file(
    dataset: HubDataset,
    relative_path: str,
    data_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Path:
    """The local copy of one file of a benchmark release.

    Args:
        dataset: The release, e.g. :data:`SPACETOOLS_EVAL`.
        relative_path: The file's path inside the release (``data/robospatial.parquet``).
        data_dir: The ``data_dir=`` argument (``EnvConfig.data_dir``); looked at first.
        environ: Environment variables (default ``os.environ``), for tests.

    Returns:
        The first existing file, in the order of :func:`candidate_paths`.

    Raises:
        BenchmarkDataNotFoundError: naming every place looked and the command that fixes it.
    """
    places = _places(dataset, relative_path, data_dir, os.environ if environ is None else environ)
    for _, path in places:
        if path is not None and path.is_file():
            return path
    raise BenchmarkDataNotFoundError.from_places(dataset, relative_path, places)
