"""Answer keys: the fast re-scoring path gives the full path's results, and a bad cache file is never trusted."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
from fixtures_runs import eval_submission

from benchmarks.leaderboard import answer_key_files, answer_keys, validate_submission
from benchmarks.leaderboard.answer_key_files import AnswerKeyMiss, decode_item, encode_item, read_file, write_file
from benchmarks.leaderboard.answer_keys import AnswerKeys
from benchmarks.leaderboard.validate import prepare_answer_keys
from spacetools_env.docs import builtin_families
from spacetools_env.sources import SyntheticSource
from spacetools_env.world import DIFFICULTIES

# a choice family and a mask family (bit-packed arrays, tuples of numpy floats)
SMALL = "SpaceTools-Synth-RelativeDepth-v0,SpaceTools-Synth-RefPlacement-v0"


@pytest.fixture(scope="module")
def submission(tmp_path_factory) -> Path:
    return eval_submission(tmp_path_factory.mktemp("submission"), "tool-program", SMALL, episodes=3)


@pytest.fixture(scope="module")
def full(submission):
    """The plain path: one reset per episode, nothing on disk."""
    report = validate_submission(submission, cache=False, workers=1)
    assert report.ok, report.reasons()
    return report


def _files(cache: Path) -> list[Path]:
    return sorted((cache / "answer-keys").rglob("*.npz"))


def _validate(path: Path, folder: Path, **kwargs):
    messages: list[str] = []
    report = validate_submission(path, cache_dir=folder, log=messages.append, **kwargs)
    return report, messages


def test_cached_and_parallel_paths_give_the_full_paths_summary(submission, full, tmp_path, monkeypatch):
    monkeypatch.setattr(answer_keys, "PARALLEL_MIN_ITEMS", 0)  # 6 items: use the workers anyway
    cold, messages = _validate(submission, tmp_path, workers=2)
    assert any("2 worker processes" in m for m in messages), messages
    assert len(_files(tmp_path)) == 2
    warm, messages = _validate(submission, tmp_path, workers=2)
    assert not any("generating" in m or "discarding" in m for m in messages), messages
    for report in (cold, warm):
        assert report.ok, report.reasons()
        assert report.rescored == full.rescored == 6
        assert report.summary == full.summary


def test_tampered_score_is_caught_on_the_cached_path(submission, tmp_path):
    _validate(submission, tmp_path, workers=1)  # fill the cache
    copy = Path(shutil.copytree(submission, tmp_path / "sub"))
    records = [json.loads(line) for line in (copy / "results.jsonl").read_text().splitlines()]
    records[4]["score"] = 0.0 if records[4]["score"] else 1.0
    (copy / "results.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    fast, _ = _validate(copy, tmp_path, workers=1)
    slow = validate_submission(copy, cache=False, workers=1)
    assert not fast.ok and fast.reasons() == slow.reasons()
    assert any("results.jsonl:5 (" in r and "re-scored by the official scorer" in r for r in fast.reasons())


def _flip_a_byte_of_the_payload(path: Path) -> None:
    with np.load(path, allow_pickle=False) as npz:
        members = {name: npz[name] for name in npz.files}
    payload = bytearray(members["payload"].tobytes())
    at = payload.index(b'"label"')  # RelativeDepth: change the right letter, keep the old checksum
    payload[at + 10 : at + 11] = b"B" if payload[at + 10 : at + 11] == b"A" else b"A"
    members["payload"] = np.frombuffer(bytes(payload), dtype=np.uint8)
    np.savez_compressed(path, **members)


@pytest.mark.parametrize("damage", ["edited payload", "truncated", "not a zip"])
def test_corrupted_cache_file_is_detected_and_rebuilt(submission, full, tmp_path, damage):
    _validate(submission, tmp_path, workers=1)
    (path,) = [p for p in _files(tmp_path) if "RelativeDepth" in p.name]
    if damage == "edited payload":
        _flip_a_byte_of_the_payload(path)
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:100])
    else:
        path.write_bytes(b"garbage")
    report, messages = _validate(submission, tmp_path, workers=1)
    assert report.ok, report.reasons()
    assert report.summary == full.summary
    assert any(f"discarding {path}" in m for m in messages), messages
    assert len(read_file(path, _key_of(path))) == 3  # rewritten, and its checksum holds


def _key_of(path: Path) -> dict:
    with np.load(path, allow_pickle=False) as npz:
        return json.loads(npz["payload"].tobytes())["key"]


def test_cache_file_rewritten_with_a_matching_checksum_fails_its_spot_check(submission, full, tmp_path):
    """Someone who recomputes the checksum still cannot change a score: loaded files are re-derived in part."""
    _validate(submission, tmp_path, workers=1)
    (path,) = [p for p in _files(tmp_path) if "RelativeDepth" in p.name]
    key = _key_of(path)
    entries = read_file(path, key)
    for fields, _ in entries.values():
        fields["label"] = "B" if fields["label"] == "A" else "A"
    write_file(path, key, entries)
    report, messages = _validate(submission, tmp_path, workers=1)
    assert report.ok, report.reasons()
    assert report.summary == full.summary
    assert any("differs from the stored answer key" in m for m in messages), messages


def test_no_cache_reads_and_writes_nothing(submission, full, tmp_path):
    report, _ = _validate(submission, tmp_path, cache=False)
    assert report.summary == full.summary
    assert not (tmp_path / "answer-keys").exists()


@pytest.mark.parametrize("family", builtin_families(), ids=lambda f: f.name)
def test_answer_key_item_scores_like_the_full_item(family):
    item = SyntheticSource(family, DIFFICULTIES["medium"]).generate("test", 0)
    fields, arrays = encode_item(item)
    keyed = decode_item(family.item_type, json.loads(json.dumps(fields)), arrays)
    assert (keyed.item_id, keyed.meta) == (item.item_id, item.meta)
    for answer in (family.oracle(item), family.counterexample(item), "garbage", ""):
        assert family.score(answer, keyed) == family.score(answer, item)
    with pytest.raises(AnswerKeyMiss):
        keyed.images[0]


def test_a_scorer_reading_a_left_out_field_is_scored_on_the_full_item(submission, full, tmp_path, monkeypatch):
    monkeypatch.setattr(answer_key_files, "WITHHELD_FIELDS", frozenset({"images", "truth", "label", "mask"}))
    report, _ = _validate(submission, tmp_path, workers=1)
    assert report.ok, report.reasons()
    assert report.summary == full.summary


def test_workers_below_one_are_rejected(tmp_path):
    with pytest.raises(ValueError, match="workers must be >= 1, got 0"):
        AnswerKeys(tmp_path, workers=0)


def test_cli_no_cache_flag_writes_no_answer_keys(submission, tmp_path, monkeypatch, capsys):
    from benchmarks.cli import main

    monkeypatch.setenv("SPACETOOLS_CACHE_DIR", str(tmp_path))
    assert main(["leaderboard", "validate", str(submission), "--no-cache", "--workers", "1"]) == 0
    assert not (tmp_path / "answer-keys").exists()
    assert main(["leaderboard", "validate", str(submission)]) == 0
    assert len(_files(tmp_path)) == 2
    assert main(["leaderboard", "validate", str(submission), "--workers", "0"]) == 2
    assert "--workers must be >= 1, got 0" in capsys.readouterr().err


def test_prepared_answer_keys_make_the_first_validation_warm(submission, full, tmp_path):
    assert prepare_answer_keys(SMALL, 3, cache_dir=tmp_path, workers=1) == 6
    report, messages = _validate(submission, tmp_path, workers=1)
    assert report.summary == full.summary
    assert any("6 items loaded" in m and ", 0 generated" in m for m in messages), messages


def test_cli_prepare_builds_the_keys_a_validation_then_loads(submission, tmp_path, monkeypatch, capsys):
    from benchmarks.cli import main

    monkeypatch.setenv("SPACETOOLS_CACHE_DIR", str(tmp_path))
    assert main(["leaderboard", "prepare", "--suite", SMALL, "--episodes", "3", "--workers", "1"]) == 0
    assert "answer keys ready for 6 synthetic episodes" in capsys.readouterr().out
    assert len(_files(tmp_path)) == 2
    assert main(["leaderboard", "validate", str(submission), "--workers", "1"]) == 0
    assert "6 items loaded" in capsys.readouterr().err
    assert main(["leaderboard", "prepare", "--suite", "SpaceTools-Synth-Nope-v0"]) == 1
    assert "unknown env id" in capsys.readouterr().err


def test_answer_keys_of_other_code_versions_are_pruned_when_stale(submission, tmp_path):
    old, recent = tmp_path / "answer-keys" / "0123456789abcdef", tmp_path / "answer-keys" / "fedcba9876543210"
    for folder in (old, recent):
        folder.mkdir(parents=True)
        (folder / "x.npz").write_bytes(b"")
    two_days_ago = time.time() - 2 * 24 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    _validate(submission, tmp_path, workers=1)
    assert not old.exists() and recent.exists()
    written = {p.parent for p in _files(tmp_path)} - {recent}
    assert len(written) == 1 and len(list(next(iter(written)).glob("*.npz"))) == 2  # today's version: 2 envs
