"""The `spacetools` command, as a user runs it."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from benchmarks.cli import main


def test_demo_prints_a_table_and_writes_pictures(tmp_path, capsys):
    out = tmp_path / "demo"
    args = ["--episodes", "2", "--pictures", "1", "--out", str(out), "--families", "RelativeDepth", "BoxPose"]
    code = main(["demo", *args])
    assert code == 0
    table = capsys.readouterr().out
    assert "RelativeDepth" in table and "BoxPose" in table and "mean score" in table
    rows = json.loads((out / "summary.json").read_text())
    assert {r["family"] for r in rows} == {"RelativeDepth", "BoxPose"}
    assert all(r["episodes"] == 2 and r["score"] >= 0.9 for r in rows)
    assert sorted(p.name for p in out.glob("*.png")) == [
        "SpaceTools-Synth-BoxPose-v0-0.png",
        "SpaceTools-Synth-RelativeDepth-v0-0.png",
    ]


def test_unknown_family_is_a_clear_error(capsys):
    assert main(["demo", "--families", "Nope"]) == 2
    assert "unknown families ['Nope']" in capsys.readouterr().err


def test_console_script_is_installed():
    result = subprocess.run([sys.executable, "-m", "benchmarks.cli", "--help"], capture_output=True, text=True)
    assert result.returncode == 0 and "demo" in result.stdout


def test_data_list_names_every_release(capsys):
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    assert "spacetools-eval" in out and "siyich/spacetools-eval-benchmarks" in out and "blink" in out


def test_data_download_unknown_name_is_a_clear_error(capsys):
    assert main(["data", "download", "imagenet"]) == 2
    assert "unknown dataset 'imagenet'; known: [" in capsys.readouterr().err


def test_data_download_without_huggingface_hub_says_what_to_do(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # makes the import fail, as when not installed
    assert main(["data", "download", "spacetools-eval", "--data-dir", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "pip install huggingface_hub" in err and "spacetools-eval-benchmarks/" in err


def test_eval_env_kwargs_reach_gym_make_and_the_manifest(tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["eval", "--agent", "tool-program", "--suite", "SpaceTools-Synth-RelativeDepth-v0", "--episodes", "1",
            "--out", str(out), "--no-progress", "--env-kwargs", '{"max_turns": 1}']
    assert main(argv) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["envs"][0]["make_kwargs"]["max_turns"] == 1
    record = json.loads((out / "results.jsonl").read_text().splitlines()[0])
    assert record["truncated"] and record["turns"] == 1  # the program needs more than one turn


def test_eval_env_kwargs_must_be_a_json_object(tmp_path, capsys):
    argv = ["eval", "--agent", "tool-program", "--suite", "synth", "--out", str(tmp_path), "--env-kwargs", "[1]"]
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    assert "must be a JSON object, got list" in capsys.readouterr().err
