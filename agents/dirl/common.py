"""What the DIRL steps share: config files, metrics as JSON lines, checkpoints to resume from.

- :func:`save_config` / :func:`load_config`: a step's frozen dataclass config as JSON, read back with
  every unknown key named (did-you-mean) and every field type checked by the dataclass itself.
- :class:`JsonlMetrics`: a ``transformers`` ``TrainerCallback`` appending each log entry of a trainer
  as one JSON line (``{"step": N, **logs}``) to the step's ``metrics.jsonl``; on resume, lines past
  the checkpoint's step are dropped first, so a resumed run never duplicates a step.
- :func:`latest_checkpoint`: the newest ``checkpoint-N`` folder a ``Trainer`` wrote (None: none).
- :func:`finished_run` / :func:`save_final`: a step folder's run checked against the config (refused
  when another config wrote it, returned when already finished) and its final model written whole.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import math
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

Config = TypeVar("Config")

_CHECKPOINT = re.compile(r"^checkpoint-(\d+)$")
CONFIG, FINAL = "config.json", "final"
"""A step folder's saved config and its final model folder."""


def config_dict(config: Any) -> dict[str, Any]:
    """``config`` (a dataclass, nested ones included) as plain JSON-able data (tuples become lists)."""
    return json.loads(json.dumps(dataclasses.asdict(config), default=_plain))


def save_config(config: Any, path: Path) -> Path:
    """Write ``config`` as indented JSON to ``path`` (its folder is made); returns ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config_dict(config), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def load_config(cls: type[Config], data: Mapping[str, Any], source: str) -> Config:
    """``cls(**data)``, with an unknown key named with its closest field (``source`` says where from)."""
    if not isinstance(data, Mapping):
        raise ValueError(f"{source}: expected a JSON object of {cls.__name__} fields, got {type(data).__name__}")
    fields = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    for key in data:
        if key not in fields:
            close = difflib.get_close_matches(str(key), sorted(fields), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f"; the fields are {sorted(fields)}"
            raise ValueError(f"{source}: unknown {cls.__name__} field {key!r}{hint}")
    return cls(**data)


def latest_checkpoint(folder: Path) -> Path | None:
    """The ``checkpoint-N`` folder with the largest ``N`` under ``folder`` (None: none, or no folder)."""
    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := _CHECKPOINT.match(p.name))]
    return max(found)[1] if found else None


def checkpoint_step(checkpoint: Path | None) -> int:
    """The global step of a ``checkpoint-N`` folder (0 for None)."""
    if checkpoint is None:
        return 0
    match = _CHECKPOINT.match(checkpoint.name)
    if match is None:
        raise ValueError(f"{checkpoint}: not a checkpoint-N folder")
    return int(match.group(1))


def read_metrics(path: Path) -> list[dict[str, Any]]:
    """The metric lines of ``path`` (empty when it does not exist)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def truncate_metrics(path: Path, after_step: int) -> None:
    """Drop the lines of ``path`` whose ``step`` is past ``after_step`` (what a resume replays)."""
    kept = [m for m in read_metrics(path) if int(m.get("step", 0)) <= after_step]
    if path.exists():
        path.write_text("".join(json.dumps(m, sort_keys=True) + "\n" for m in kept), encoding="utf-8")


def is_int(value: Any) -> bool:
    """An int that is not a bool (JSON's ``true`` is no step count)."""
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    """A finite int or float (not a bool)."""
    return is_int(value) or (isinstance(value, float) and math.isfinite(value))


def check_field(ok: bool, config: str, name: str, value: Any, expected: str) -> None:
    """Raise ``ValueError("<config>.<name> must be <expected>, got <value>")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{config}.{name} must be {expected}, got {value!r}")


def finished_run(config: Any, out: Path, kind: str, mutable: Sequence[str]) -> Path | None:
    """``out/final`` when ``out`` already holds the finished run of ``config``; None when there is training to do.

    Raises:
        ValueError: ``out/config.json`` is unreadable, or holds a config differing in a field outside
            ``mutable`` (the fields are named; ``kind`` says what run it is, e.g. "an SFT").
    """
    path = out / CONFIG
    if not path.is_file():
        return None
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not a readable JSON config ({exc}); remove the folder or pass a new out") from None
    if not isinstance(saved, dict):
        return None
    differ = sorted(k for k, v in config_dict(config).items() if saved.get(k) != v and k not in mutable)
    if differ:
        raise ValueError(f"{path}: this folder holds {kind} run with other {differ}; pass a new out folder "
                         f"(only {list(mutable)} may change)")
    final = out / FINAL
    return final if saved.get("max_steps") == config.max_steps and final.is_dir() else None


def save_final(trainer: Any, out: Path) -> Path:
    """The trainer's model and processor saved to ``out/final``, which appears complete or not at all."""
    final, staging = out / FINAL, out / f".{FINAL}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    trainer.save_model(str(staging))
    if trainer.processing_class is not None:
        trainer.processing_class.save_pretrained(str(staging))  # with the chat template it trained with
    shutil.rmtree(final, ignore_errors=True)
    os.replace(staging, final)
    return final


def _callback_base() -> type:
    from transformers import TrainerCallback

    return TrainerCallback


class JsonlMetrics(_callback_base()):  # type: ignore[misc]
    """Append each trainer log entry to ``path`` as ``{"step": global_step, **logs}`` (see the module docstring).

    Non-finite floats are written as ``null`` (JSON has no NaN) so every line stays strict JSON.
    """

    def __init__(self, path: Path, resume_step: int = 0) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        truncate_metrics(path, resume_step)

    def on_log(self, args: Any, state: Any, control: Any, logs: Mapping[str, Any] | None = None, **_: Any) -> None:
        if not logs or not getattr(state, "is_world_process_zero", True):
            return
        entry = {"step": int(state.global_step), **{k: _finite(v) for k, v in logs.items()}}
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(entry, sort_keys=True) + "\n")


def _finite(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"not JSON-able in a config: {type(value).__name__}")
