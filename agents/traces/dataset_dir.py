"""A trace dataset on disk: ``traces.jsonl`` (one row per episode), ``images/`` beside it, and for the
ShareGPT format LLaMA-Factory's ``dataset_info.json``; written, and read back in either format.

Rows are written as compact-free ``json.dumps(row, ensure_ascii=False)`` lines in the given order and
images under content-addressed names, so the same traces always give the same bytes (export,
import, export is the identity on the files).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agents.traces.fields import Where
from agents.traces.sharegpt import DATASET_NAME, dataset_info, from_sharegpt_row, to_sharegpt_row
from agents.traces.trace import Trace, TraceError, TraceImage
from agents.traces.trl_format import IMAGES_DIR, from_trl_row, to_trl_row
from spacetools_env.loaders.errors import RowError
from spacetools_env.loaders.images import image_size

FORMATS = ("trl", "sharegpt")
ROWS_FILE = "traces.jsonl"
INFO_FILE = "dataset_info.json"


@dataclass(frozen=True)
class Written:
    """What :func:`write_dataset` wrote."""

    folder: Path
    rows: int
    images: int


def write_dataset(traces: Iterable[Trace], out: Path, fmt: str) -> Written:
    """Write ``traces`` to the empty (or new) folder ``out`` in format ``fmt`` (``trl`` or ``sharegpt``).

    The files are written in a sibling staging folder and moved to ``out`` once complete, so an
    export that fails half-way (an episode that does not replay) leaves no partial dataset behind.

    Raises:
        TraceError: ``out`` is not empty, or a trace cannot be written in ``fmt``.
        ValueError: an unknown format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown trace format {fmt!r}; formats: {list(FORMATS)}")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise TraceError(f"{out} exists and is not an empty folder; pass a new --out folder")
    staging = out.parent / f".{out.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)  # left by an export that was killed
    try:
        rows, images = _write(traces, staging, fmt)
        if out.exists():
            out.rmdir()
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return Written(out, rows, images)


def _write(traces: Iterable[Trace], folder: Path, fmt: str) -> tuple[int, int]:
    (folder / IMAGES_DIR).mkdir(parents=True)
    rows = 0
    names: set[str] = set()
    convert = to_trl_row if fmt == "trl" else to_sharegpt_row
    with (folder / ROWS_FILE).open("wb") as handle:
        for trace in traces:
            handle.write(_line(convert(trace), trace))
            rows += 1
            for image in trace.images:
                if image.file_name not in names:
                    names.add(image.file_name)
                    (folder / IMAGES_DIR / image.file_name).write_bytes(image.data)
    if fmt == "sharegpt":
        (folder / INFO_FILE).write_text(json.dumps(dataset_info(ROWS_FILE), indent=2) + "\n", encoding="utf-8")
    return rows, len(names)


def _line(row: dict[str, Any], trace: Trace) -> bytes:
    try:
        return (json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate in an in-memory rollout's text (eval records cannot hold one)
        meta = trace.meta
        raise TraceError(
            f"episode {meta.get('env_id')}/{meta.get('split')}/{meta.get('index')} of source {trace.source!r}: a text "
            "holds a lone surrogate, which is not valid UTF-8; leave the episode out or replace the surrogate"
        ) from None


def trl_rows(folder: Path) -> list[dict[str, Any]]:
    """The rows of a ``--format trl`` folder with image paths made absolute, ready for ``datasets``.

    ``datasets.Dataset.from_list(trl_rows(folder), on_mixed_types="use_json")`` (tool arguments and
    schemas are arbitrary JSON, TRL's dataset-format guide), then cast ``images`` to
    ``datasets.Sequence(datasets.Image())`` to get PIL images for ``SFTTrainer``.
    """
    rows = [row for _, row in _rows(folder / ROWS_FILE)]
    for row in rows:
        row["images"] = [str((folder / p).resolve()) for p in row.get("images", [])]
        for message in row.get("messages", []):
            for part in message.get("content", []):
                if part.get("type") == "image" and isinstance(part.get("image"), str):
                    part["image"] = str((folder / part["image"]).resolve())
    return rows


def read_dataset(path: Path) -> tuple[str, list[Trace]]:
    """The format and traces of a trace folder (or one ``.json``/``.jsonl`` file): ours, or the released set's.

    A ``dataset_info.json`` names the files and their column and tag mappings (LLaMA-Factory's
    ``sharegpt`` entries); otherwise ``traces.jsonl`` (or the file given) is read and each row's
    layout detected: ``messages`` starting with a system message is TRL's, ``conversations`` (or
    ``from``/``value`` turns) ShareGPT.

    Raises:
        TraceError: naming the file, row and field of the first malformed row, or a missing image.
    """
    folder = path if path.is_dir() else path.parent
    info_path = folder / INFO_FILE
    if path.is_dir() and info_path.is_file():
        traces = []
        for name, entry in _info_entries(info_path).items():
            file = folder / str(entry.get("file_name", ""))
            loader = _Loader(folder)
            for where, row in _rows(file):
                traces.append(from_sharegpt_row(row, where, loader, entry.get("columns"), entry.get("tags")))
            if not traces:
                raise TraceError(f"{file}: dataset {name!r} holds no rows")
        return "sharegpt", traces
    file = path / ROWS_FILE if path.is_dir() else path
    loader = _Loader(folder)
    rows = list(_rows(file))
    if not rows:
        raise TraceError(f"{file} holds no rows; export a run with `spacetools traces export`")
    # one format per file, from the first row that shows it (a broken row is then reported in that format)
    fmt = next((f for f in map(_detect, (row for _, row in rows)) if f), "sharegpt")
    reader = from_trl_row if fmt == "trl" else from_sharegpt_row
    return fmt, [reader(row, where, loader) for where, row in rows]


def _detect(row: Any) -> str | None:
    if not isinstance(row, dict):
        return None
    messages = row.get("messages")
    first = messages[0] if isinstance(messages, list) and messages else None
    if isinstance(first, dict) and isinstance(first.get("content"), list):
        return "trl"
    return "sharegpt" if isinstance(messages, list) or isinstance(row.get("conversations"), list) else None


def _info_entries(path: Path) -> dict[str, dict[str, Any]]:
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TraceError(f"{path}: not a JSON file ({exc}); it must be LLaMA-Factory's dataset_info.json") from None
    entries = {k: v for k, v in info.items() if isinstance(v, dict) and v.get("formatting") == "sharegpt"} if (
        isinstance(info, dict)) else {}
    if not entries:
        raise TraceError(
            f"{path}: no dataset entry with \"formatting\": \"sharegpt\"; expected e.g. "
            f"{json.dumps(dataset_info(ROWS_FILE, DATASET_NAME))}"
        )
    return entries


def _rows(file: Path) -> Iterator[tuple[Where, Any]]:
    """(where, row) of a JSON Lines file, or of a JSON file holding a list of rows."""
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise TraceError(f"{file} not found; pass a folder written by `spacetools traces export`") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise TraceError(f"{file}: cannot be read as UTF-8 text ({exc})") from None
    if file.suffix == ".json" or text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as exc:
            raise TraceError(f"{file}: not JSON ({exc}); a .json trace file holds a list of rows") from None
        if not isinstance(rows, list):
            raise TraceError(f"{file}: a .json trace file holds a list of rows, got {type(rows).__name__}")
        for n, row in enumerate(rows, start=1):
            yield Where(str(file), n), row
        return
    for n, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TraceError(f"{file}: row {n}: not JSON ({exc.msg} at column {exc.colno}); one JSON object per "
                             "line, re-export the run or fix the line") from None
        yield Where(str(file), n), row


class _Loader:
    """Image files relative to the dataset folder, each read once; the header must be an image."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.cache: dict[str, TraceImage] = {}

    def __call__(self, relative: str, where: Where, field: str) -> TraceImage:
        image = self.cache.get(relative)
        if image is None:
            path = self.folder / relative
            try:
                data = path.read_bytes()
                image_size(data, field)
            except OSError as exc:
                raise TraceError(f"{where.file}: row {where.row}: field {field!r}: image file {relative!r} cannot be "
                                 f"read relative to {self.folder} ({exc.strerror or exc}); keep the image files "
                                 "where the row says, relative to the folder of the rows") from None
            except RowError as exc:
                raise TraceError(f"{where.file}: row {where.row}: field {field!r}: image file {relative!r} is not a "
                                 f"readable image ({exc}); re-export the run") from None
            image = self.cache[relative] = TraceImage(data, path.suffix or ".png")
        return image
