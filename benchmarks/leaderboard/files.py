"""The submission directory as untrusted input: sizes, links, code-carrying files, strict JSON.

Nothing here executes or deserializes code: files are read as bytes and parsed with :mod:`json`
only. ``.npy`` headers are read as text (numpy's header parser uses ``ast.literal_eval``) to
tell an object array apart; the array itself is never loaded.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.leaderboard.report import ValidationReport

MB = 1 << 20
CODE_SUFFIXES = (".pkl", ".pickle", ".npz", ".pt", ".pth", ".joblib", ".ckpt", ".dill", ".cloudpickle")
"""Formats that unpickle on load; any file with one of these suffixes rejects the submission."""
_PICKLE_PROTOCOLS = (2, 3, 4, 5)


@dataclass(frozen=True)
class Limits:
    """Size limits of a submission (documented; the tests lower them to test the rejection).

    Attributes:
        results_bytes: ``results.jsonl`` (the paper suite with full trajectories is ~30 MB).
        record_bytes: One line of ``results.jsonl`` (images are references, never pixels).
        manifest_bytes: ``manifest.json``.
        submission_bytes: ``submission.json``.
        total_bytes: Everything in the directory together.
        max_files: Files in the directory, at any depth.
    """

    results_bytes: int = 256 * MB
    record_bytes: int = 1 * MB
    manifest_bytes: int = 4 * MB
    submission_bytes: int = 64 * 1024
    total_bytes: int = 512 * MB
    max_files: int = 64

    def __post_init__(self) -> None:
        for name, value in self.__dict__.items():
            if not isinstance(value, int) or value < 1:
                raise ValueError(f"Limits.{name} must be a positive integer, got {value!r}")


def scan_directory(root: Path, limits: Limits, report: ValidationReport) -> None:
    """Reject links, files that could carry code, and oversized contents anywhere under ``root``."""
    total, count = 0, 0
    real_root = root.resolve()
    for folder, dirs, files in os.walk(root, followlinks=False):
        for name in sorted(dirs + files):
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            if path.is_symlink():
                report.add(rel, _link_problem(path, real_root))
                continue
            if name in dirs:
                continue
            if not path.is_file():
                report.add(rel, "is not a regular file (device, socket or pipe); only plain files are accepted")
                continue
            count += 1
            total += path.stat().st_size
            problem = code_problem(path)
            if problem:
                report.add(rel, problem)
    if count > limits.max_files:
        report.add(".", f"holds {count} files; at most {limits.max_files} are accepted")
    if total > limits.total_bytes:
        report.add(".", f"holds {total} bytes; at most {limits.total_bytes} are accepted")


def _link_problem(path: Path, real_root: Path) -> str:
    target = os.readlink(path)
    resolved = path.resolve()
    if not resolved.is_relative_to(real_root):
        return f"is a symlink to {target!r}, which resolves outside the submission directory; ship plain files"
    return f"is a symlink (to {target!r}); links are not accepted, ship plain files"


def code_problem(path: Path) -> str | None:
    """Why ``path`` could execute code when loaded (pickle and friends), or None. Never loads it."""
    suffix = path.suffix.lower()
    if suffix in CODE_SUFFIXES:
        return f"{suffix} files can execute code when loaded (pickle); submissions are JSON only, remove it"
    with open(path, "rb") as handle:
        head = handle.read(2)
        if suffix == ".npy":
            handle.seek(0)
            return _npy_problem(handle)
    if len(head) == 2 and head[0] == 0x80 and head[1] in _PICKLE_PROTOCOLS:
        return "looks like a pickle (starts with a pickle protocol header); submissions are JSON only, remove it"
    return None


def _npy_problem(handle: Any) -> str | None:
    try:
        version = np.lib.format.read_magic(handle)
        read_header = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
        _, _, dtype = read_header(handle)  # the header only (parsed with ast.literal_eval)
    except (ValueError, OSError, SyntaxError) as exc:
        return f"is not a readable .npy file ({exc}); remove it"
    if dtype.hasobject:
        return "is a .npy array of Python objects (loading it unpickles); submissions are JSON only, remove it"
    return None


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON (use null)")


def loads(text: str | bytes) -> Any:
    """Strict JSON: ``NaN``/``Infinity`` are errors, as in the records the runner writes."""
    return json.loads(text, parse_constant=_reject_constant)


def read_json_file(root: Path, name: str, limit: int, report: ValidationReport) -> Any | None:
    """The parsed JSON file ``root/name``, or None after adding why it cannot be accepted."""
    path = root / name
    if path.is_symlink() or not path.exists():
        if not path.is_symlink():
            report.add(name, f"is missing; a submission needs {name} (see benchmarks/leaderboard/__init__.py)")
        return None
    size = path.stat().st_size
    if size > limit:
        report.add(name, f"is {size} bytes; the limit is {limit} bytes")
        return None
    try:
        return loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        report.add(name, f"is not valid JSON ({exc})")
        return None
