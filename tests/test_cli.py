"""The `spacetools` command, as a user runs it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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


# ---------------------------------------------------------------------- eval: --agent-kwargs and --suite module:EnvId
REPO = Path(__file__).resolve().parents[1]
EVAL = ["eval", "--suite", "SpaceTools-Synth-RelativeDepth-v0", "--episodes", "1", "--no-progress"]


def test_eval_agent_kwargs_reach_the_agent_and_the_manifest(tmp_path):
    out = tmp_path / "run"
    kwargs = {"seed": 4, "tool_turns": 2, "max_calls_per_turn": 1}
    assert main([*EVAL, "--agent", "random", "--agent-kwargs", json.dumps(kwargs), "--out", str(out)]) == 0
    assert json.loads((out / "manifest.json").read_text())["agent"]["kwargs"] == kwargs
    record = json.loads((out / "results.jsonl").read_text().splitlines()[0])
    assert record["turns"] == 3 and [len(t) for t in record["trajectory"]["tool_calls"]] == [1, 1, 0]


def test_eval_agent_kwargs_that_are_not_json_are_a_usage_error_naming_the_option(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main([*EVAL, "--agent", "random", "--agent-kwargs", "{seed: 1}", "--out", str(tmp_path / "run")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert "argument --agent-kwargs: not JSON (Expecting property name enclosed in double quotes" in err
    assert "pass an object like '{\"seed\": 1}'" in err


def test_eval_unknown_agent_keyword_is_a_clear_error_before_any_file_is_written(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*EVAL, "--agent", "random", "--agent-kwargs", '{"sed": 1}', "--out", str(out), "--workers", "2"]) == 2
    assert (
        "spacetools: error: agent 'random' takes no keyword argument 'sed' (from --agent-kwargs); it takes: "
        "['max_calls_per_turn', 'seed', 'tool_turns']. Did you mean 'seed'?"
    ) in capsys.readouterr().err
    assert not out.exists()


def test_eval_agent_value_its_constructor_refuses_leaves_no_folder_behind(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*EVAL, "--agent", "random", "--agent-kwargs", '{"tool_turns": -1}', "--out", str(out)]) == 2
    assert "tool_turns must be >= 0 and max_calls_per_turn >= 1, got -1 and 2" in capsys.readouterr().err
    assert not out.exists()  # so the corrected command is not refused as "a different run"
    assert main([*EVAL, "--agent", "random", "--agent-kwargs", '{"tool_turns": 0}', "--out", str(out)]) == 0


def test_eval_suite_module_colon_env_id_imports_the_module_in_runner_and_workers(tmp_path):
    from benchmarks.leaderboard.manifest_checks import manifest_problems

    out = tmp_path / "run"
    suite = "register_custom_family:SpaceTools-Synth-ObjectCount-v0"
    command = [sys.executable, "-m", "benchmarks.cli", "eval", "--agent", "random", "--suite", suite,
               "--episodes", "3", "--workers", "2", "--out", str(out), "--no-progress"]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "examples"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert sorted(r["key"]["index"] for r in records) == [0, 1, 2]
    assert {r["key"]["env_id"] for r in records} == {"SpaceTools-Synth-ObjectCount-v0"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["suite"]["spec"] == suite and manifest["envs"][0]["env_id"] == "SpaceTools-Synth-ObjectCount-v0"
    # the leaderboard never imports what a submission names
    assert any("suite.spec names 'register_custom_family:SpaceTools-Synth-ObjectCount-v0': the 'module:EnvId' "
               "form makes gym.make import the module" in p for p in manifest_problems(manifest))


def test_eval_suite_module_that_cannot_be_imported_is_a_clear_error(tmp_path, capsys):
    argv = ["eval", "--agent", "random", "--suite", "no_such_tasks:My-v0", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    assert (
        "suite entry 'no_such_tasks:My-v0': cannot import module 'no_such_tasks' (ModuleNotFoundError: No module "
        "named 'no_such_tasks'); it must be importable where spacetools runs: install it, or add its folder to "
        "PYTHONPATH"
    ) in capsys.readouterr().err


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--batch-size", "0", "batch_size must be a positive integer (1: one at a time), got 0"),
        ("--suite", "a:b:c", "suite entry 'a:b:c' is not of the form 'module:EnvId' (e.g. 'my_tasks:MyTask-v0')"),
        ("--agent", "nope", "unknown agent 'nope'; known agents: ["),
    ],
    ids=["batch-size", "suite-entry", "agent"],
)
def test_eval_option_errors_name_the_value_and_the_fix(tmp_path, capsys, option, value, message):
    options = {"--agent": "random", "--suite": "SpaceTools-Synth-RelativeDepth-v0", "--out": str(tmp_path / "r")}
    options[option] = value
    assert main(["eval", *[part for pair in options.items() for part in pair], "--no-progress"]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_eval_agent_its_workers_cannot_build_fails_each_episode_with_the_reason(tmp_path, capsys):
    out = tmp_path / "run"
    argv = [*EVAL, "--episodes", "2", "--workers", "2", "--agent", "random", "--agent-kwargs", '{"tool_turns": -1}']
    assert main([*argv, "--out", str(out)]) == 1  # the pool survives: every episode fails, named
    failed = json.loads((out / "summary.json").read_text())["failed"]
    assert len(failed) == 2 and all(
        f["error"] == "the worker could not build the agent: ValueError: tool_turns must be >= 0 and "
        "max_calls_per_turn >= 1, got -1 and 2" for f in failed
    )
