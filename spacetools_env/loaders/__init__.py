"""Loaders: real benchmarks, read from a local copy in their published formats, as item sources.

- :mod:`~spacetools_env.loaders.paths`: where a local copy is found (``data_dir=``, then
  ``$SPACETOOLS_DATA_DIR``, then the Hugging Face cache) and the error when it is not.
- :mod:`~spacetools_env.loaders.rows`: a validated row, data-URI image/mask decoders.
- :mod:`~spacetools_env.loaders.errors`: :class:`CorruptDataError` (a ``ValueError``), the one error
  family for a bad file (:class:`CorruptFileError`) or row (:class:`CorruptRowError`).
- :mod:`~spacetools_env.loaders.images`, :mod:`~spacetools_env.loaders.json_files`,
  :mod:`~spacetools_env.loaders.parquet_files`: the one reading path of each kind of file (images
  within a pixel budget checked from the header, JSON, parquet): corrupt bytes raise those errors.
- :mod:`~spacetools_env.loaders.item_source`: :class:`CachedItemSource`, the base of every item
  source on disk (lazy opening, split and range checks, the decoded-item LRU, pickling).
- :mod:`~spacetools_env.loaders.spacetools_parquet`: the SpaceTools evaluation parquet
  (``siyich/spacetools-eval-benchmarks``, nine keys).

pyarrow is imported only when a file is opened, so importing this package is cheap.
"""

from __future__ import annotations

from spacetools_env.loaders.errors import CorruptDataError, CorruptFileError, CorruptRowError, RowError
from spacetools_env.loaders.images import MAX_IMAGE_PIXELS, PIXEL_BUDGET_ENV
from spacetools_env.loaders.item_source import CachedItemSource
from spacetools_env.loaders.paths import (
    ENV_VAR,
    SPACETOOLS_EVAL,
    BenchmarkDataNotFoundError,
    HubDataset,
    candidate_paths,
    find_benchmark_file,
    hf_hub_cache,
)
from spacetools_env.loaders.rows import BenchmarkRow
from spacetools_env.loaders.spacetools_parquet import KEYS, SpaceToolsEvalSource, spacetools_eval_source

__all__ = [
    "ENV_VAR",
    "KEYS",
    "MAX_IMAGE_PIXELS",
    "PIXEL_BUDGET_ENV",
    "SPACETOOLS_EVAL",
    "BenchmarkDataNotFoundError",
    "BenchmarkRow",
    "CachedItemSource",
    "CorruptDataError",
    "CorruptFileError",
    "CorruptRowError",
    "HubDataset",
    "RowError",
    "SpaceToolsEvalSource",
    "candidate_paths",
    "find_benchmark_file",
    "hf_hub_cache",
    "spacetools_eval_source",
]
