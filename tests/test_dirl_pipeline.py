"""The DIRL pipeline around the trainers: trace collection, step 0's data, configs, the run folder, the command.

The end-to-end test runs the shipped tiny config, shortened, through ``spacetools dirl`` on real tiny
checkpoints, real TRL trainers and real envs, and checks what a user would look at afterwards.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from agents.dirl.collect import CollectConfig, FormatDataConfig, collected_datasets, run_collect, run_format_data
from agents.dirl.common import read_metrics
from agents.dirl.config import (
    PRESETS,
    PRESETS_DIR,
    STEP_NAMES,
    ablation_step_config,
    dirl_config_from_dict,
    load_dirl_config,
)
from agents.dirl.pipeline import run_pipeline
from agents.dirl.plots import dirl_curve
from agents.traces import read_dataset, write_dataset
from benchmarks.cli import main
from tests.fixtures_trl import one_torch_thread  # noqa: F401  (autouse: torch on one thread here)

FAULTS = {"roborefer": {"rate": 0.5, "kinds": ["failure"]}}
"""The suite's faults: half the pointing calls answer ``Detected 0 instance(s)`` (the real model's failure)."""
REFLOC = "SpaceTools-Synth-RefLocation-v0"
RELATION = "SpaceTools-Synth-Relation2D-v0"


def _rows(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "traces.jsonl").read_text().splitlines()]


# ---------------------------------------------------------------------------- step 2 and step 0's data
def test_collect_mixes_policy_and_teacher_at_one_to_three_logs_it_and_writes_both_formats(tmp_path):
    # The tool-program agent stands in for a policy that is always right, so the mix is limited by the ratio.
    config = CollectConfig(env_ids=(REFLOC, RELATION), episodes_per_env=6, policy_agent="tool-program",
                           policy_kwargs={}, policy_env_ids=(REFLOC,), policy_episodes_per_env=3)
    logged: list[str] = []
    out = run_collect(config, tmp_path / "traces", log=logged.append, progress=False)
    summary = json.loads((out / "mix.json").read_text())
    assert summary["sources"] == {"policy": {"kept": 3, "episodes": 3}, "teacher": {"kept": 12, "episodes": 12}}
    assert summary["reached"] == {"policy": 3, "teacher": 9}  # 1:3, the teacher sampled down to 9 of 12
    assert any("mix asked 1:3" in line and "policy 3" in line and "teacher 9" in line for line in logged)
    fmt_trl, trl = read_dataset(out / "trl")
    fmt_sg, sharegpt = read_dataset(out / "sharegpt")
    assert (fmt_trl, fmt_sg) == ("trl", "sharegpt") and len(trl) == len(sharegpt) == 12
    assert sorted(t.source for t in trl) == ["policy"] * 3 + ["teacher"] * 9
    assert collected_datasets(out) == (out / "trl",)
    # Finished: a second call returns at once and plays nothing (the folder is not touched).
    before = (out / "teacher" / "results.jsonl").stat().st_mtime_ns
    assert run_collect(config, out, log=logged.append, progress=False) == out
    assert (out / "teacher" / "results.jsonl").stat().st_mtime_ns == before


def test_a_policy_with_no_correct_episode_keeps_the_teacher_alone_and_says_so(tmp_path):
    config = CollectConfig(env_ids=(REFLOC,), episodes_per_env=2, policy_agent="blind-guess", policy_kwargs={},
                           policy_episodes_per_env=2)
    logged: list[str] = []
    out = run_collect(config, tmp_path / "traces", log=logged.append, progress=False)
    summary = json.loads((out / "mix.json").read_text())
    assert summary["sources"]["policy"]["kept"] == 0 and summary["reached"] == {"policy": 0, "teacher": 2}
    assert len(read_dataset(out / "trl")[1]) == 2
    assert any("policy 0 (of 0 correct in 2 played)" in line for line in logged)


def test_a_released_set_is_added_or_used_instead(tmp_path):
    teacher = run_collect(CollectConfig(env_ids=(REFLOC,), episodes_per_env=2, mix=None), tmp_path / "t",
                          progress=False)
    released = tmp_path / "released"  # the released set's layout: ShareGPT with dataset_info.json
    write_dataset(read_dataset(teacher / "sharegpt")[1], released, "sharegpt")
    added = run_collect(CollectConfig(env_ids=(RELATION,), episodes_per_env=1, released=(str(released),)),
                        tmp_path / "added", progress=False)
    datasets = collected_datasets(added)
    assert datasets == (added / "trl", added / "released-1")
    assert [len(read_dataset(d)[1]) for d in datasets] == [1, 2]
    instead = run_collect(CollectConfig(env_ids=(), released=(str(released),), released_only=True),
                          tmp_path / "instead", progress=False)
    assert collected_datasets(instead) == (instead / "released-1",)
    assert not (instead / "teacher").exists()


def test_format_data_answers_without_tools_in_the_asked_format(tmp_path):
    trl = run_format_data(FormatDataConfig(env_ids=(REFLOC, RELATION), episodes_per_env=2), tmp_path / "d",
                          progress=False)
    rows = _rows(trl)
    assert len(rows) == 4
    for row in rows:
        assert row["tools"] == [] and "# Tools" not in row["messages"][0]["content"][0]["text"]
        assert [m["role"] for m in row["messages"]] == ["system", "user", "assistant"]
        answer = row["messages"][-1]["content"][0]["text"]
        assert answer in ("<answer>[(0.5, 0.5)]</answer>", "<answer>(A)</answer>")


def test_collect_config_errors_name_the_field_and_the_fix():
    with pytest.raises(ValueError, match=r"mix must be two positive integers \(policy, teacher\), e.g. \[1, 3\]"):
        CollectConfig(env_ids=(REFLOC,), mix=(1, 0))
    with pytest.raises(ValueError, match="teacher must be one of"):
        CollectConfig(env_ids=(REFLOC,), teacher="claude")
    with pytest.raises(ValueError, match=r"env_kwargs.tools must be \[\] for the answer-format data"):
        FormatDataConfig(env_ids=(REFLOC,), env_kwargs={"tools": ["roborefer.detect_one"]})
    with pytest.raises(ValueError, match="released_only needs at least one released set"):
        CollectConfig(env_ids=(), released_only=True)


# ---------------------------------------------------------------------------- configs
def _shortened_tiny() -> dict:
    """The shipped tiny config, cut to a few steps and episodes (the suite's budget), everything else as shipped."""
    data = json.loads((PRESETS_DIR / "tiny.json").read_text())
    data["step0_data"]["episodes_per_env"] = 4
    data["step0"].update(max_steps=4, save_steps=2, logging_steps=1)
    for key in ("step1", "step4"):
        data[key].update(max_steps=2, rows_per_env=4, save_steps=1, max_completion_length=320)
    data["step2"].update(episodes_per_env=3, policy_episodes_per_env=2)
    data["step3"].update(max_steps=4, save_steps=2, logging_steps=1)
    data["eval"].update(episodes=2)
    data["faults"] = FAULTS  # the shipped tiny has none; the suite's run covers the faulted training and eval
    return data


def test_shipped_configs_round_trip_through_json(tmp_path):
    for name in PRESETS:
        config = load_dirl_config(name)
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(config.to_dict()))
        assert load_dirl_config(path) == config == dirl_config_from_dict(config.to_dict(), "x")
    paper = load_dirl_config("paper")
    assert paper.base_model == "Qwen/Qwen2.5-VL-3B-Instruct" and paper.step0 is None
    assert (paper.step3.learning_rate, paper.step3.max_steps, paper.step3.freeze_vision) == (2e-5, 3000, True)
    assert (paper.step4.num_generations, paper.step4.prompts_per_step(8), paper.step4.learning_rate,
            paper.step4.beta, paper.step4.max_completion_length) == (5, 64, 1e-6, 0.01, 8192)
    assert paper.step1.env_kwargs["tools"] == ["roborefer.detect_one"]


def test_a_bad_config_file_names_the_file_the_field_and_the_fix(tmp_path, capsys):
    data = _shortened_tiny()
    data["step3"]["learning_rat"] = data["step3"].pop("learning_rate")
    path = tmp_path / "mine.json"
    path.write_text(json.dumps(data))
    assert main(["dirl", "--config", str(path), "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"{path}: step3: unknown SFTStepConfig field 'learning_rat'; did you mean 'learning_rate'?" in err
    assert not (tmp_path / "run").exists()
    data = _shortened_tiny()
    data["step1"]["env_kwargs"]["tools"] = ["roborefer.detect_one", "sam2.segment_from_point"]
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=rf"{path}: step1.env_kwargs.tools must be \['roborefer.detect_one'\]"):
        load_dirl_config(path)
    data = _shortened_tiny()
    data["step4"]["num_generations"] = 3  # 4 x 2 completions per step are not whole groups of 3
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=rf"{path}: step4: .*not a multiple of num_generations=3"):
        load_dirl_config(path)
    data = _shortened_tiny()
    data["eval"]["agent_kwargs"] = {"max_pixels": 56 * 56}  # eval images smaller than SFT's: other prompts
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=rf"{path}: step0.min_pixels/max_pixels \(3136, 262144\) differ from "
                                         r"eval.agent_kwargs's \(3136, 3136\).*set them equal"):
        load_dirl_config(path)
    assert main(["dirl", "--config", str(tmp_path / "missing.json"), "--out", str(tmp_path / "run")]) == 2
    assert "not a preset (tiny, paper) nor a file" in capsys.readouterr().err


def test_the_paper_config_builds_every_trainer_with_a_tiny_stand_in(tmp_path, capsys):
    assert main(["dirl", "--config", "paper", "--dry-run", "--out", str(tmp_path), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "config 'paper' is valid; 4 trainers built" in out
    assert ("step 1 (1-pointing-grpo): GRPOTrainer built, max_steps 937, lr 1e-06, per-device batch 4 x "
            "accumulation 10") in out
    assert "step 3 (3-sft): SFTTrainer built, max_steps 3000, lr 2e-05" in out
    assert "step 4 (4-grpo): GRPOTrainer built, max_steps 85, lr 1e-06" in out
    assert "step A (A-grpo-from-base): GRPOTrainer built, max_steps 1022, lr 1e-06" in out  # 937 + 85


def test_the_ablation_arm_is_step_4_with_the_grpo_budget_of_steps_1_and_4(tmp_path, capsys):
    config = dirl_config_from_dict(_shortened_tiny(), "x")
    arm = ablation_step_config(config)
    assert arm.max_steps == config.step1.max_steps + config.step4.max_steps == 4
    assert (arm.env_ids, arm.learning_rate, arm.num_generations) == (
        config.step4.env_ids, config.step4.learning_rate, config.step4.num_generations)
    assert arm.env_kwargs == {**config.step4.env_kwargs, "tool_options": {"faults": FAULTS}}
    # Step 1 plays 8 completions per step, step 4 only 4: the arm keeps step 4's batch, matches the total.
    data = _shortened_tiny()
    data["step4"]["gradient_accumulation_steps"] = 1
    arm = ablation_step_config(dirl_config_from_dict(data, "x"))
    assert (arm.max_steps, arm.completions_per_process) == (6, 4)  # 2 x 8 + 2 x 4 = 24 = 6 x 4
    data = _shortened_tiny()
    data["ablation"] = False
    path = tmp_path / "off.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"step A \(the ablation arm\) is off in config 'tiny'; set \"ablation\""):
        run_pipeline(load_dirl_config(path), tmp_path / "run", steps=["A"])
    data["ablation"] = "yes"
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=rf"{path}: ablation must be true or false"):
        load_dirl_config(path)


def test_bad_faults_are_refused_when_the_config_is_read(tmp_path):
    path = tmp_path / "mine.json"
    cases = [
        ({"roborfer": {"rate": 0.5}}, r"faults \(with step4.env_kwargs\): fault key 'roborfer' names no exposed tool"),
        ({"roborefer": {"rate": 0.0}}, r"faults: no tool has a rate above 0, so nothing would be faulted"),
        ({"sam2": {"rate": 0.5, "kinds": ["failure"]}}, r"a 'failure' cannot be injected into 'sam2.segment_from"),
        ({"roborefer": {"rate": 2.0}}, r"faults\['roborefer'\]"),
    ]
    for faults, message in cases:
        data = _shortened_tiny()
        data["faults"] = faults
        path.write_text(json.dumps(data))
        with pytest.raises(ValueError, match=rf"{path}: .*{message}"):
            load_dirl_config(path)
    data = _shortened_tiny()
    data["step4"]["env_kwargs"]["tool_options"] = {"faults": FAULTS}
    path.write_text(json.dumps(data))
    with pytest.raises(ValueError, match=r"step4.env_kwargs.tool_options.faults and faults are both set; keep faults"):
        load_dirl_config(path)


# ---------------------------------------------------------------------------- the whole tiny pipeline
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory) -> tuple[Path, Path]:
    """The shortened tiny config run end to end through ``spacetools dirl``: (config file, run folder)."""
    root = tmp_path_factory.mktemp("dirl")
    path = root / "tiny-short.json"
    path.write_text(json.dumps(_shortened_tiny()))
    torch.set_num_threads(1)
    assert main(["dirl", "--config", str(path), "--out", str(root / "run"), "--no-progress"]) == 0
    return path, root / "run"


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def test_every_step_writes_its_checkpoint_config_and_finite_metrics(tiny_run):
    _, run = tiny_run
    git = json.loads((run / "git.json").read_text())
    assert len(git["revision"]) == 40 and isinstance(git["dirty"], bool)
    assert load_dirl_config(run / "config.json") == load_dirl_config(tiny_run[0])
    for step in (0, 1, 3, 4, "A"):
        folder = run / STEP_NAMES[step]
        assert (folder / "final" / "model.safetensors").is_file() and (folder / "config.json").is_file()
        lines = read_metrics(folder / "metrics.jsonl")
        assert lines, folder
        for line in lines:
            for key, value in line.items():
                assert value is not None, (folder, key)  # JsonlMetrics writes a non-finite float as null
                if isinstance(value, float):
                    assert math.isfinite(value), (folder, key)
    for step in (1, 4, "A"):
        keys = set().union(*read_metrics(run / STEP_NAMES[step] / "metrics.jsonl"))
        assert {"reward/env", "tools/calls_per_episode", "rollout/turns", "loss/total"} <= keys
    # Steps 1 and 3 start from the shared base, step 4 from step 3 (the configs the steps saved say so).
    base = str(run / "0-base" / "final")
    assert json.loads((run / "1-pointing-grpo" / "config.json").read_text())["model"] == base
    assert json.loads((run / "3-sft" / "config.json").read_text())["model"] == base
    step4 = json.loads((run / "4-grpo" / "config.json").read_text())
    assert step4["model"] == str(run / "3-sft" / "final")
    # The ablation arm: step 4's section from the shared base, steps 1 + 4 of budget; both train under the faults.
    arm = json.loads((run / "A-grpo-from-base" / "config.json").read_text())
    assert arm["model"] == base and arm["max_steps"] == 4
    assert {k: v for k, v in arm.items() if k not in ("model", "max_steps")} == {
        k: v for k, v in step4.items() if k not in ("model", "max_steps")}
    assert max(m["step"] for m in read_metrics(run / "A-grpo-from-base" / "metrics.jsonl")) == 4
    assert step4["env_kwargs"]["tool_options"] == {"faults": FAULTS}
    assert "tool_options" not in json.loads((run / "1-pointing-grpo" / "config.json").read_text())["env_kwargs"]
    policy = json.loads((run / "2-traces" / "config.json").read_text())["policy"]
    assert policy == str(run / "1-pointing-grpo" / "final")
    timing = json.loads((run / "timing.json").read_text())
    assert set(STEP_NAMES.values()) <= set(timing)


def test_parameters_moved_from_the_base_and_the_vision_tower_stayed(tiny_run):
    _, run = tiny_run
    init, base, final = (_weights(run / p) for p in ("0-base/init", "0-base/final", "4-grpo/final"))
    moved = [k for k in base if "visual" not in k and not torch.equal(base[k], final[k])]
    assert moved and any("layers" in k for k in moved)
    assert any(not torch.equal(init[k], base[k]) for k in init if "visual" not in k)
    assert all(torch.equal(init[k], final[k]) for k in init if "visual" in k)  # frozen in every step
    arm = _weights(run / "A-grpo-from-base" / "final")
    assert any("layers" in k and not torch.equal(base[k], arm[k]) for k in base if "visual" not in k)
    assert all(torch.equal(init[k], arm[k]) for k in init if "visual" in k)


def test_traces_are_collected_in_both_formats_with_the_mix_logged(tiny_run):
    _, run = tiny_run
    summary = json.loads((run / "2-traces" / "mix.json").read_text())
    assert summary["asked"] == [1, 3] and summary["sources"]["teacher"] == {"kept": 6, "episodes": 6}
    assert sum(summary["reached"].values()) == len(read_dataset(run / "2-traces" / "trl")[1])
    assert read_dataset(run / "2-traces" / "sharegpt")[0] == "sharegpt"
    # The step-3 SFT trained on them: its data report names the collected folder.
    data = json.loads((run / "3-sft" / "data.json").read_text())
    assert data["datasets"] == [str(run / "2-traces" / "trl")] and data["examples"] > 0


def test_held_out_evaluations_are_eval_runs_and_the_plots_are_written(tiny_run):
    _, run = tiny_run
    scores = json.loads((run / "eval" / "scores.json").read_text())
    assert sorted(scores) == ["0-base", "1-pointing-grpo", "3-sft", "4-grpo", "A-grpo-from-base", "faulted"]
    scores.pop("faulted")
    for name, families in scores.items():
        summary = json.loads((run / "eval" / name / "summary.json").read_text())
        manifest = json.loads((run / "eval" / name / "manifest.json").read_text())
        assert summary["complete"] and summary["agent"] == "hf" and summary["expected"] == 4
        assert manifest["agent"]["kwargs"]["model"] == str(run / name / "final")
        assert sorted(families) == ["RefLocation", "Relation2D"] and all(f["n"] == 2 for f in families.values())
    for plot in ("learning_curves", "tool_rates", "heldout_scores", "ablation", "recovery"):
        data = (run / "plots" / f"{plot}.png").read_bytes()
        assert data.startswith(b"\x89PNG") and len(data) > 5000
    # The ablation plot's DIRL curve: step 1's updates 1-2, then step 4's as updates 3-4 (the arm's 1-4).
    metrics = {name: read_metrics(run / name / "metrics.jsonl") for name in ("1-pointing-grpo", "4-grpo")}
    steps, rewards = dirl_curve(metrics, offset=2)
    assert steps == [1, 2, 3, 4] and rewards[2:] == [m["reward/env"] for m in metrics["4-grpo"] if "reward/env" in m]


def test_faulted_held_out_evals_report_recovery_before_and_after_step_4(tiny_run):
    _, run = tiny_run
    faulted = json.loads((run / "eval" / "scores.json").read_text())["faulted"]
    assert sorted(faulted) == ["0-base", "3-sft", "4-grpo", "A-grpo-from-base", "teacher"]
    for name, row in faulted.items():
        folder = run / "eval" / "faulted" / name
        summary = json.loads((folder / "summary.json").read_text())
        manifest = json.loads((folder / "manifest.json").read_text())
        assert summary["complete"] and summary["expected"] == 4
        assert manifest["env_kwargs"]["tool_options"] == {"faults": FAULTS}
        # The same items and seeds as the clean evaluation.
        records = [json.loads(line) for line in (folder / "results.jsonl").read_text().splitlines()]
        assert sorted(r["seed"] for r in records) == sorted(
            json.loads(line)["seed"] for line in (run / "eval" / "0-base" / "results.jsonl").read_text().splitlines())
        faulted_calls = sum(bool(c.get("fault")) for r in records for turn in r["trajectory"]["tool_calls"]
                            for c in turn)
        assert (row["recovery"] is None) == (faulted_calls == 0)  # a model that called no tool met no fault
        assert row["recovery"] == summary["stats"].get("recovery")  # the eval runner's own figure
    teacher = faulted["teacher"]["recovery"]  # the tool-program agent calls on every episode: it meets faults
    assert teacher is not None and teacher["faulted_episodes"] > 0 and 0.0 <= teacher["recovery_rate"] <= 1.0
    assert set(teacher["by_kind"]) == {"failure"}
    # The flag is in the records, never in what the model read.
    lines = (run / "eval" / "faulted" / "teacher" / "results.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    flagged = [c for r in records for turn in r["trajectory"]["tool_calls"] for c in turn if c.get("fault")]
    assert flagged and all(c["fault"] == "failure" for c in flagged)
    texts = json.dumps([r["trajectory"]["messages"] for r in records])
    assert "fault" not in texts.lower() and "Detected 0 instance(s)" in texts
    # The clean evaluations stay exact.
    assert "tool_options" not in json.loads((run / "eval" / "4-grpo" / "manifest.json").read_text())["env_kwargs"]


def test_a_rerun_skips_finished_steps_and_same_seed_gives_same_metrics(tiny_run, tmp_path):
    path, run = tiny_run
    before = {p: p.stat().st_mtime_ns for p in run.glob("*/metrics.jsonl")}
    assert main(["dirl", "--config", str(path), "--out", str(run), "--no-progress"]) == 0
    assert {p: p.stat().st_mtime_ns for p in run.glob("*/metrics.jsonl")} == before
    # Step 0 again into a new folder, same seed: the same losses (timings aside) and the same weights.
    assert main(["dirl", "--config", str(path), "--out", str(tmp_path / "again"), "--step", "0", "--no-progress"]) == 0
    strip = lambda lines: [{k: v for k, v in m.items() if "runtime" not in k and "per_second" not in k}  # noqa: E731
                           for m in lines]
    assert strip(read_metrics(tmp_path / "again" / "0-base" / "metrics.jsonl")) == strip(
        read_metrics(run / "0-base" / "metrics.jsonl"))
    first, second = _weights(run / "0-base" / "final"), _weights(tmp_path / "again" / "0-base" / "final")
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_a_step_without_its_input_names_the_step_to_run_first(tiny_run, tmp_path, capsys):
    path, run = tiny_run
    assert main(["dirl", "--config", str(path), "--out", str(tmp_path / "new"), "--step", "3"]) == 2
    assert "run --step 0 first" in capsys.readouterr().err
    other = _shortened_tiny()
    other["seed"] = 1
    with pytest.raises(ValueError, match=r"holds a run of another config \(sections \[.*'seed'.*\] differ\)"):
        run_pipeline(dirl_config_from_dict(other, "other"), run, steps=[0])


def test_a_written_step_config_is_the_one_the_pipeline_ran(tiny_run, capsys):
    path, run = tiny_run
    assert main(["dirl", "--config", str(path), "--out", str(run), "--write-step-config", "4"]) == 0
    written = json.loads((run / "4-grpo.json").read_text())
    ran = json.loads((run / "4-grpo" / "config.json").read_text())
    assert capsys.readouterr().out.strip() == str(run / "4-grpo.json")
    assert {k: v for k, v in written.items() if k != "progress"} == {k: v for k, v in ran.items() if k != "progress"}
    assert main(["dirl", "--config", str(path), "--out", str(run), "--write-step-config", "A"]) == 0
    written = json.loads((run / "A-grpo-from-base.json").read_text())
    ran = json.loads((run / "A-grpo-from-base" / "config.json").read_text())
    assert {k: v for k, v in written.items() if k != "progress"} == {k: v for k, v in ran.items() if k != "progress"}
