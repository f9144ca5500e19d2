"""The answer-key file format: an item encoded without its pixels, and the checksummed ``.npz`` holding it.

An answer key is every field of a synthetic item except :data:`WITHHELD_FIELDS` (see
:mod:`benchmarks.leaderboard.answer_keys` for where keys come from and when a file is used).
:func:`encode_item` turns an item into JSON-able fields plus arrays (bool masks bit-packed);
:func:`decode_item` rebuilds it with the withheld fields replaced by markers that record any use
(:func:`touched_withheld`). :func:`write_file` stores a key's entries atomically with a SHA-256
over the payload and every array; :func:`read_file` loads with ``allow_pickle=False`` and raises
ValueError for anything unreadable, mismatched or edited.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from spacetools_env.task import TaskItem

WITHHELD_FIELDS = frozenset({"images", "truth"})
"""Item fields an answer key leaves out: pixels and the oracle tools' ground truth, never scored."""

Entry = tuple[Any, list[np.ndarray]]
"""An encoded item: its JSON-able fields (arrays referenced by position) and the arrays."""


class AnswerKeyMiss(LookupError):
    """A scorer read a field an answer key leaves out (``images`` or ``truth``)."""


class UnsupportedValue(TypeError):
    """An item field holds a value the answer-key format cannot store exactly."""


class _Withheld:
    """Stands for a left-out field: any use raises :class:`AnswerKeyMiss` and marks it ``touched``.

    The mark matters: scorers never raise on model text, and some catch every exception, so the
    validator checks :func:`touched_withheld` after scoring rather than relying on the exception.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self.touched = False

    def _miss(self, *args: Any, **kwargs: Any) -> Any:
        object.__setattr__(self, "touched", True)
        raise AnswerKeyMiss(f"the answer key leaves out item.{object.__getattribute__(self, '_name')}")

    @property  # type: ignore[misc]  # shadows object.__class__ on purpose: isinstance() reads it
    def __class__(self) -> type:  # isinstance() reads it: a type check is a use too
        object.__setattr__(self, "touched", True)
        return _Withheld

    def __getattr__(self, name: str) -> Any:  # only for attributes not found: .shape, .strip, ...
        object.__setattr__(self, "touched", True)
        raise AnswerKeyMiss(f"the answer key leaves out an item field (asked for .{name})")

    __getitem__ = __iter__ = __len__ = __bool__ = __contains__ = __array__ = _miss
    __eq__ = __hash__ = __str__ = __format__ = __lt__ = __gt__ = __le__ = __ge__ = _miss

    def __repr__(self) -> str:
        return f"<{self._name} withheld from the answer key>"


def encode_item(item: TaskItem) -> Entry:
    """Every field of ``item`` but :data:`WITHHELD_FIELDS`, as tagged JSON plus arrays.

    Raises:
        UnsupportedValue: a field holds something other than None, bool, int, float, str, tuples,
            lists, mappings, numpy scalars or numeric/bool arrays.
    """
    names = {f.name for f in dataclasses.fields(item)}
    extra = sorted(set(getattr(item, "__dict__", {})) - names)
    if extra:  # set outside the dataclass fields (say in __post_init__): a key would silently lack them
        raise UnsupportedValue(f"{type(item).__name__} holds attributes that are not fields: {extra}")
    arrays: list[np.ndarray] = []
    fields = {
        f.name: encode_value(getattr(item, f.name), arrays)
        for f in dataclasses.fields(item)
        if f.name not in WITHHELD_FIELDS
    }
    return fields, arrays


def decode_item(item_type: type[TaskItem], fields: Mapping[str, Any], arrays: list[np.ndarray]) -> TaskItem:
    """The item an answer key describes; its withheld fields raise :class:`AnswerKeyMiss` when used."""
    item = object.__new__(item_type)  # no __init__/__post_init__: the fields are set exactly as stored
    for f in dataclasses.fields(item_type):
        value = _Withheld(f.name) if f.name in WITHHELD_FIELDS else _decode(fields[f.name], arrays)
        object.__setattr__(item, f.name, value)
    return item


def touched_withheld(item: TaskItem) -> bool:
    """Whether anything used a field of ``item`` that its answer key leaves out (even if the error was caught)."""
    return any(
        isinstance(value, _Withheld) and value.touched
        for value in (object.__getattribute__(item, f.name) for f in dataclasses.fields(item))
    )


def encode_value(value: Any, arrays: list[np.ndarray]) -> Any:
    if value is None or isinstance(value, (bool, str)) or type(value) in (int, float):
        return value
    if isinstance(value, np.ndarray):
        if value.dtype == np.bool_:
            arrays.append(np.packbits(value, axis=None))
            return {"$bits": len(arrays) - 1, "shape": list(value.shape)}
        if value.dtype.kind not in "iuf" or not value.dtype.isnative:
            raise UnsupportedValue(f"arrays of dtype {value.dtype} are not stored in answer keys")
        arrays.append(np.ascontiguousarray(value))
        return {"$array": len(arrays) - 1}
    if isinstance(value, np.generic) and value.dtype.kind in "biuf":
        return {"$scalar": value.dtype.str, "value": value.item()}
    if isinstance(value, tuple) and type(value) is tuple:
        return {"$tuple": [encode_value(v, arrays) for v in value]}
    if type(value) is list:
        return [encode_value(v, arrays) for v in value]
    if isinstance(value, Mapping):
        return {"$dict": [[encode_value(k, arrays), encode_value(v, arrays)] for k, v in value.items()]}
    raise UnsupportedValue(f"{type(value).__name__} values are not stored in answer keys")


def _decode(value: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(value, list):
        return [_decode(v, arrays) for v in value]
    if not isinstance(value, dict):
        return value
    if "$bits" in value:
        shape = tuple(value["shape"])
        bits = np.unpackbits(arrays[value["$bits"]], count=int(np.prod(shape, dtype=np.int64)))
        return bits.astype(np.bool_).reshape(shape)
    if "$array" in value:
        return arrays[value["$array"]].copy()
    if "$scalar" in value:
        return np.dtype(value["$scalar"]).type(value["value"])
    if "$tuple" in value:
        return tuple(_decode(v, arrays) for v in value["$tuple"])
    if "$dict" in value:
        return {_decode(k, arrays): _decode(v, arrays) for k, v in value["$dict"]}
    raise ValueError(f"unknown answer-key tag in {sorted(value)}")


def same_entry(a: Entry, b: Entry) -> bool:
    same_fields = json.dumps(a[0], sort_keys=True) == json.dumps(b[0], sort_keys=True)  # NaN-safe
    return same_fields and len(a[1]) == len(b[1]) and all(_same_array(x, y) for x, y in zip(a[1], b[1], strict=True))


def _same_array(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


# ---------------------------------------------------------------------------- keys and files
def _checksum(payload: bytes, arrays: list[np.ndarray]) -> str:
    digest = hashlib.sha256(payload)
    for i, array in enumerate(arrays):
        digest.update(f"\0a{i}:{array.dtype.str}:{array.shape}\0".encode())
        digest.update(np.ascontiguousarray(array).tobytes())
    return digest.hexdigest()


def write_file(path: Path, key: Mapping[str, Any], entries: Mapping[int, Entry]) -> None:
    """Write ``entries`` atomically (a temporary file renamed over ``path``), with their checksum."""
    arrays: list[np.ndarray] = []
    stored = {}
    for index in sorted(entries):
        fields, own = entries[index]
        stored[str(index)] = {"fields": fields, "arrays": list(range(len(arrays), len(arrays) + len(own)))}
        arrays += own
    payload = json.dumps({"key": key, "entries": stored}, sort_keys=True).encode()
    members: dict[str, Any] = {f"a{i}": a for i, a in enumerate(arrays)}
    members["payload"] = np.frombuffer(payload, dtype=np.uint8)
    members["sha256"] = np.frombuffer(_checksum(payload, arrays).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".npz")
    try:
        with os.fdopen(handle, "wb") as out:
            np.savez_compressed(out, **members)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_file(path: Path, key: Mapping[str, Any]) -> dict[int, Entry]:
    """The entries of a file written by :func:`write_file` for ``key``.

    Raises:
        ValueError: the file is unreadable, its checksum does not match, or it holds another key.
    """
    try:
        with np.load(path, allow_pickle=False) as npz:
            payload = npz["payload"].tobytes()
            expected = npz["sha256"].tobytes().decode("ascii")
            count = sum(1 for name in npz.files if name.startswith("a"))
            arrays = [npz[f"a{i}"] for i in range(count)]
    except (OSError, KeyError, ValueError, EOFError, UnicodeDecodeError, zipfile.BadZipFile, zlib.error) as exc:
        raise ValueError(f"cannot be read ({type(exc).__name__}: {exc})") from None
    if _checksum(payload, arrays) != expected:
        raise ValueError("its SHA-256 does not match its contents (corrupted or edited)")
    try:
        data = json.loads(payload)
        if data.get("key") != json.loads(json.dumps(key)):
            raise ValueError("it holds the answer keys of other settings")
        return {int(i): (e["fields"], [arrays[a] for a in e["arrays"]]) for i, e in data["entries"].items()}
    except (KeyError, TypeError, IndexError, AttributeError, UnicodeDecodeError) as exc:
        raise ValueError(f"its payload is malformed ({type(exc).__name__}: {exc})") from None


# ---------------------------------------------------------------------------- generation
