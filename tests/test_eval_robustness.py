"""The eval runner against hostile text and a broken disk: one episode never stops an eval.

Real runs through the CLI (``benchmarks.cli.main``); the disk faults are injected at the one
place the store writes (``os.write`` / ``os.ftruncate`` on ``results.jsonl`` only), or met for
real on a small tmpfs when this process may mount one.
"""

from __future__ import annotations

import contextlib
import errno
import json
import multiprocessing
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from agents.tool_program import ToolProgramAgent
from benchmarks.cli import main
from benchmarks.eval import read_results
from benchmarks.eval.records import UnwritableRecordError, record_line

SUITE = "SpaceTools-Synth-RelativeDepth-v0"


class SurrogateAgent(ToolProgramAgent):
    """The tool-program agent, answering with a lone surrogate (a str no UTF-8 file can hold) on item 1."""

    hostile = True

    def act(self, turns):
        actions = super().act(turns)
        return [
            "<answer>mug\ud800</answer>" if SurrogateAgent.hostile and t.info["task"]["index"] == 1 else a
            for t, a in zip(turns, actions, strict=True)
        ]


def _eval(out: Path, *extra: str, agent: str = "tool-program", episodes: int = 3) -> int:
    args = ["eval", "--agent", agent, "--suite", SUITE, "--episodes", str(episodes), "--out", str(out)]
    return main([*args, "--no-progress", *extra])


def _indices(out: Path) -> list[int]:
    return [json.loads(line)["key"]["index"] for line in (out / "results.jsonl").read_bytes().decode().splitlines()]


# ---------------------------------------------------------------------- records that cannot be written
def test_record_line_names_the_field_holding_a_lone_surrogate():
    record = {"answer": "ok", "trajectory": {"tool_calls": [[{"text": "fine"}, {"text": "mug\udc00"}]]}}
    with pytest.raises(UnwritableRecordError, match=r"field trajectory\.tool_calls\[0\]\[1\]\.text holds the lone "
                       r"surrogate U\+DC00, which is not valid UTF-8"):
        record_line(record)
    with pytest.raises(UnwritableRecordError, match="the record is not JSON: Out of range float"):
        record_line({"score": float("nan")})
    assert record_line({"answer": "caf\u00e9"}) == '{"answer":"café"}'.encode()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_an_unwritable_record_fails_its_episode_alone_and_resume_retries_it(tmp_path, capsys, workers):
    agent = f"{SurrogateAgent.__module__}:SurrogateAgent"
    SurrogateAgent.hostile = True
    assert _eval(tmp_path, "--workers", workers, agent=agent) == 1  # incomplete, not crashed
    assert sorted(_indices(tmp_path)) == [0, 2]  # the file stays valid UTF-8, the others are recorded
    summary = json.loads((tmp_path / "summary.json").read_text())
    [failed] = summary["failed"]
    assert failed["episode_id"].endswith("/test/1")
    assert "record not written: field " in failed["error"]
    assert "holds the lone surrogate U+D800, which is not valid UTF-8" in failed["error"]
    assert "1 episodes failed (re-run the same command to retry them)" in capsys.readouterr().out

    before = (tmp_path / "results.jsonl").read_bytes()
    assert _eval(tmp_path, agent=agent) == 1  # the same episode fails again; nothing else is replayed
    assert (tmp_path / "results.jsonl").read_bytes() == before
    SurrogateAgent.hostile = False
    assert _eval(tmp_path, agent=agent) == 0
    assert sorted(_indices(tmp_path)) == [0, 1, 2]
    assert (tmp_path / "results.jsonl").read_bytes().startswith(before)


class CrashingAgent(ToolProgramAgent):
    """Kills its worker process (as a segfault or the OOM killer would) on item 1 while $CRASH_ITEM_1 is set."""

    def act(self, turns):
        in_worker = multiprocessing.parent_process() is not None  # never kill the test process itself
        if os.environ.get("CRASH_ITEM_1") and in_worker and any(t.info["task"]["index"] == 1 for t in turns):
            os._exit(9)
        return super().act(turns)


@pytest.mark.parametrize("batch_size", ["1", "3"])
def test_a_worker_killed_by_one_episode_fails_that_episode_alone(tmp_path, monkeypatch, capsys, batch_size):
    # In a batch the crash comes from an act call holding several episodes; the worker's whole task
    # is suspect and replayed one episode at a time, so only the killer fails.
    agent = f"{CrashingAgent.__module__}:CrashingAgent"
    monkeypatch.setenv("CRASH_ITEM_1", "1")  # spawned workers inherit it
    assert _eval(tmp_path, "--workers", "2", "--batch-size", batch_size, agent=agent, episodes=4) == 1
    assert sorted(_indices(tmp_path)) == [0, 2, 3]  # the episodes beside it were replayed and recorded
    [failed] = json.loads((tmp_path / "summary.json").read_text())["failed"]
    assert failed["episode_id"].endswith("/test/1")
    assert "the worker process playing it died" in failed["error"]
    assert "died again when it was played alone" in failed["error"]
    monkeypatch.delenv("CRASH_ITEM_1")
    assert _eval(tmp_path, "--workers", "2", agent=agent, episodes=4) == 0
    assert sorted(_indices(tmp_path)) == [0, 1, 2, 3]


# ---------------------------------------------------------------------- a full disk
@contextlib.contextmanager
def _full_disk_after(monkeypatch, records: int, cut_fails: bool = False):
    """``results.jsonl`` takes ``records`` more lines, then half a line, then ENOSPC (as a filling disk does)."""
    real_write, real_truncate = os.write, os.ftruncate
    state = {"lines": 0}

    def is_results(fd: int) -> bool:
        with contextlib.suppress(OSError):
            return os.readlink(f"/proc/self/fd/{fd}").endswith("results.jsonl")
        return False

    def write(fd, data):
        if not is_results(fd):
            return real_write(fd, data)
        if state["lines"] < records:
            state["lines"] += 1
            return real_write(fd, data)
        if state["lines"] == records:  # a short write: what still fitted
            state["lines"] += 1
            return real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def ftruncate(fd, length):
        if cut_fails and is_results(fd):
            raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real_truncate(fd, length)

    with monkeypatch.context() as patch:
        patch.setattr(os, "write", write)
        patch.setattr(os, "ftruncate", ftruncate)
        yield


def test_a_full_disk_is_an_error_naming_the_folder_and_the_fix_and_resume_completes(tmp_path, monkeypatch, capsys):
    with _full_disk_after(monkeypatch, records=2):
        assert _eval(tmp_path, episodes=4) == 2
    err = capsys.readouterr().err
    assert f"spacetools: error: no space left on the disk holding {tmp_path} (No space left on device)" in err
    assert "Free space on that disk and re-run the same command to resume, or pass another --out folder" in err
    data = (tmp_path / "results.jsonl").read_bytes()
    assert data.endswith(b"\n") and _indices(tmp_path) == [0, 1]  # the half line was cut at once

    assert _eval(tmp_path, episodes=4) == 0
    assert _indices(tmp_path) == [0, 1, 2, 3]
    assert (tmp_path / "results.jsonl").read_bytes().startswith(data)


def test_a_torn_line_left_by_a_full_disk_is_repaired_on_resume(tmp_path, monkeypatch, capsys):
    with _full_disk_after(monkeypatch, records=1, cut_fails=True):
        assert _eval(tmp_path, episodes=3) == 2
    assert "no space left on the disk holding" in capsys.readouterr().err
    found = read_results(tmp_path / "results.jsonl")
    assert len(found.records) == 1 and found.torn_bytes > 0  # the cut failed too: a torn tail is left

    assert _eval(tmp_path, episodes=3) == 0
    assert "dropped a torn last line" in capsys.readouterr().err
    assert _indices(tmp_path) == [0, 1, 2]  # none lost, none twice


@pytest.fixture
def tiny_disk(tmp_path):
    """A 48 KiB tmpfs (the real ENOSPC); skipped where this process may not mount."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=48k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_real_full_tmpfs_then_more_space_resumes_without_loss_or_duplicates(tiny_disk, capsys):
    out = tiny_disk / "run"
    assert _eval(out, episodes=6) == 2
    assert f"no space left on the disk holding {out}" in capsys.readouterr().err
    kept = (out / "results.jsonl").read_bytes() if (out / "results.jsonl").exists() else b""
    subprocess.run(["mount", "-o", "remount,size=4m", str(tiny_disk)], check=True)  # "free space"
    assert _eval(out, episodes=6) == 0
    assert _indices(out) == list(range(6))
    assert (out / "results.jsonl").read_bytes().startswith(kept)
