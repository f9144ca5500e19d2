"""SFT traces: real `spacetools eval` runs exported through the CLI, rendered, read back, filtered and mixed."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

from agents.tool_program import ToolProgramAgent
from agents.traces import (
    Trace,
    check_dataset,
    export_trajectories,
    mix,
    read_dataset,
    trace_from_trajectory,
    write_dataset,
)
from agents.traces.trace import TraceImage, TraceMessage, assistant_text
from benchmarks.cli import main
from spacetools_env.parsing import ToolCallRequest
from spacetools_env.prompts import tools_block
from spacetools_env.rollout import Turn, rollout
from tests.fixtures_traces import (
    env_chatml,
    export_policy,
    folder_files,
    llamafactory_function,
    make_runs,
    read_records,
    read_rows,
    render_qwen2_5_vl,
)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_runs(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def exported(runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return export_policy(runs, tmp_path_factory.mktemp("exported"))


# ---------------------------------------------------------------------------------------------- TRL format
def test_trl_rows_carry_structured_calls_tool_turns_schemas_and_image_files(runs, exported):
    rows, records = read_rows(exported["trl"]), read_records(runs["policy"])
    assert len(rows) == len(records) == 6
    row, record = rows[0], records[0]
    messages = row["messages"]
    assert messages[0] == {"role": "system", "content": [{"type": "text", "text": record["trajectory"]["messages"][0][
        "content"][0]["text"]}]}
    assert messages[1]["content"][0] == {"type": "image"}
    first_call = messages[2]["tool_calls"][0]
    assert first_call == {"type": "function", "function": {"name": "roborefer.detect_one",
                                                           "arguments": '{"obj_name": "point A", "image_index": 0}'}}
    assert messages[2]["content"][0]["text"].startswith("<think>") and "<tool_call>" not in json.dumps(messages[2])
    assert [m["name"] for m in messages[3:6]] == ["roborefer.detect_one", "roborefer.detect_one",
                                                  "depth_estimator.estimate_depth"]
    assert messages[-1]["content"][0]["text"].endswith("<answer>A</answer>") and "tool_calls" not in messages[-1]
    assert [t["function"]["name"] for t in row["tools"]][:2] == ["roborefer.detect_one", "roborefer.detect_all"]
    assert row["meta"]["score"] == 1.0 and row["meta"]["source"] == "policy"
    # the image file holds the pixels the env shows for that episode (rebuilt by replay, not stored in the run)
    env = gym.make(record["key"]["env_id"], difficulty="easy", split="test")
    observation, _ = env.reset(seed=record["seed"], options={"index": record["key"]["index"], "split": "test"})
    written = np.asarray(Image.open(exported["trl"] / row["images"][0]))
    np.testing.assert_array_equal(written, observation[1]["content"][0]["image"])
    env.close()


def test_every_assistant_turn_renders_back_to_the_text_the_agent_wrote(runs, exported):
    _, traces = read_dataset(exported["trl"])
    for trace, record in zip(traces, read_records(runs["policy"]), strict=True):
        assistant = [m for m in trace.messages if m.role == "assistant"]
        assert [assistant_text(m) for m in assistant] == record["trajectory"]["actions"]
        assert sum(len(m.calls) for m in assistant) == record["tools"]["calls"]
        tool_texts = [m.text for m in trace.messages if m.role == "tool"]
        assert tool_texts == [c["text"] for turn in record["trajectory"]["tool_calls"] for c in turn]
        assert trace.system_without_tools is not None
        assert trace.system_without_tools + tools_block(trace.tools) == trace.system


# ------------------------------------------------------------------------------------------ ShareGPT format
def test_sharegpt_rows_render_in_llamafactory_as_the_env_showed_them(runs, exported):
    info = json.loads((exported["sharegpt"] / "dataset_info.json").read_text())
    assert info == {"spacetools_traces": {
        "file_name": "traces.jsonl", "formatting": "sharegpt",
        "columns": {"messages": "conversations", "system": "system", "tools": "tools", "images": "images"},
        "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                 "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"}}}
    for row, record in zip(read_rows(exported["sharegpt"]), read_records(runs["policy"]), strict=True):
        env_system = record["trajectory"]["messages"][0]["content"][0]["text"]
        assert row["system"] + tools_block(json.loads(row["tools"])) == env_system  # LLaMA-Factory's qwen tool prompt
        turns = row["conversations"]
        assert [t["from"] for t in turns][:2] == ["human", "function_call"] and turns[-1]["from"] == "gpt"
        assert turns[0]["value"] == "<image>" + record["trajectory"]["messages"][1]["content"][1]["text"]
        model_turns = [t for t in turns if t["from"] in ("function_call", "gpt")]
        rendered = [llamafactory_function(t["value"]) if t["from"] == "function_call" else t["value"]
                    for t in model_turns]
        assert rendered == record["trajectory"]["actions"]
        assert "roborefer.detect_one" in turns[1]["value"]  # the paper's dotted names stay
        assert len(row["images"]) == sum(t["value"].count("<image>") for t in turns) == 1


# ------------------------------------------------------------------------------------------ round trips
@pytest.mark.parametrize("fmt", ["trl", "sharegpt"])
def test_export_import_export_is_byte_for_byte_identical(exported, tmp_path, fmt):
    read_fmt, traces = read_dataset(exported[fmt])
    assert read_fmt == fmt
    write_dataset(traces, tmp_path / "again", fmt)
    assert folder_files(tmp_path / "again") == folder_files(exported[fmt])


def test_a_trl_export_read_back_writes_the_same_sharegpt_set(exported, tmp_path):
    _, traces = read_dataset(exported["trl"])
    write_dataset(traces, tmp_path / "converted", "sharegpt")
    assert folder_files(tmp_path / "converted") == folder_files(exported["sharegpt"])


def test_in_memory_rollouts_export_as_their_eval_records_do(runs, exported):
    _, from_records = read_dataset(exported["trl"])
    record = read_records(runs["policy"])[0]
    env = gym.make(record["key"]["env_id"], difficulty="easy", split="test")
    agent = ToolProgramAgent()

    def policy(messages, info):
        return agent.act([Turn("0", messages, info)])[0]

    traj = rollout(env, policy, seed=record["seed"], options={"index": record["key"]["index"], "split": "test"})
    env.close()
    trace = trace_from_trajectory(traj, source="policy", agent="tool-program")
    expected = from_records[0]
    assert (trace.system, trace.tools, trace.messages, trace.images) == (
        expected.system, expected.tools, expected.messages, expected.images)
    assert trace.meta["score"] == 1.0 and trace.meta["env_id"] == record["key"]["env_id"]


def test_a_malformed_turn_keeps_its_text_and_the_env_error_and_round_trips(tmp_path):
    env = gym.make("SpaceTools-Synth-RelativeDepth-v0", difficulty="easy")
    agent = ToolProgramAgent()
    actions = iter(["<think>hm</think><tool_call>{not json}</tool_call>"])

    def policy(messages, info):
        return next(actions, None) or agent.act([Turn("0", messages[:2] + messages[4:], info)])[0]

    trace = trace_from_trajectory(rollout(env, policy, seed=3))
    env.close()
    raw = trace.messages[1]
    assert raw.role == "assistant" and raw.calls == () and raw.text.startswith("<think>hm</think><tool_call>{not")
    assert trace.messages[2].name == "invalid_action" and trace.messages[2].text.startswith("Error: ")
    for fmt in ("trl", "sharegpt"):
        write_dataset([trace], tmp_path / fmt, fmt)
        write_dataset(read_dataset(tmp_path / fmt)[1], tmp_path / f"{fmt}2", fmt)
        assert folder_files(tmp_path / f"{fmt}2") == folder_files(tmp_path / fmt)
    assert read_rows(tmp_path / "sharegpt")[0]["conversations"][1]["from"] == "gpt"


# ------------------------------------------------------------------------------------------ filters and mix
def test_min_score_keeps_only_correct_episodes_by_default(runs, tmp_path, capsys):
    records = read_records(runs["teacher"])
    correct = sum(r["score"] == 1.0 for r in records)
    assert 0 < correct < len(records)
    assert main(["traces", "export", str(runs["teacher"]), "--format", "trl", "--out", str(tmp_path / "a")]) == 0
    assert len(read_rows(tmp_path / "a")) == correct
    assert f"teacher: {correct} of {len(records)} episodes scored >= 1" in capsys.readouterr().out
    assert main(["traces", "export", str(runs["teacher"]), "--format", "trl", "--out", str(tmp_path / "b"),
                 "--min-score", "0"]) == 0
    assert [r["meta"]["score"] for r in read_rows(tmp_path / "b")] == [r["score"] for r in records]


def test_mix_samples_the_sources_at_the_ratio_and_reports_the_source_that_ran_short(runs, tmp_path, capsys):
    args = ["traces", "export", str(runs["policy"]), str(runs["teacher"]), "--format", "sharegpt", "--mix", "1:3",
            "--min-score", "0"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "mix asked 1:3, reached 2:6 episodes\n  policy: 2 of 6 kept episodes\n  teacher: 6 of 6 kept episodes\n" \
           "  limited by: teacher (every episode of it taken)" in out
    sources = [r["meta"]["source"] for r in read_rows(tmp_path / "a")]
    assert sources == ["policy"] * 2 + ["teacher"] * 6
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert folder_files(tmp_path / "a") == folder_files(tmp_path / "b")  # seeded: the same sample every time
    assert main([*args, "--seed", "7", "--out", str(tmp_path / "c")]) == 0
    assert len(read_rows(tmp_path / "c")) == 8


def test_mix_takes_as_many_as_the_scarcest_source_allows():
    picked, report = mix([list(range(10)), list(range(20))], (1, 3), seed=5, names=("policy", "teacher"))
    assert [len(p) for p in picked] == [7, 20] and report.short == ("teacher",)  # 6.67 policy rounds to 7
    assert picked[0] == sorted(picked[0]) and picked == mix([list(range(10)), list(range(20))], (1, 3), seed=5,
                                                            names=("policy", "teacher"))[0]
    assert report.format().splitlines()[0] == "mix asked 1:3, reached 7:20 episodes (not exactly the ratio)"
    picked, report = mix([list(range(2)), list(range(60))], (1, 3), names=("policy", "teacher"))
    assert [len(p) for p in picked] == [2, 6] and report.short == ("policy",)
    assert report.format().splitlines()[0] == "mix asked 1:3, reached 2:6 episodes"


# ------------------------------------------------------------------------------------------ chat templates

def test_trl_rows_render_with_the_shipped_qwen_template_as_the_env_conversation(runs, exported):
    """TRL's VLM collator renders ``messages`` without ``tools``; a text pipeline passes ``tools``, bare system."""
    _, traces = read_dataset(exported["trl"])
    for row, trace, record in zip(read_rows(exported["trl"]), traces, read_records(runs["policy"]), strict=True):
        expected = env_chatml(record)
        assert render_qwen2_5_vl(row["messages"], None) == expected
        bare = [{**row["messages"][0], "content": [{"type": "text", "text": trace.system_without_tools}]},
                *row["messages"][1:]]
        assert render_qwen2_5_vl(bare, row["tools"]) == expected


def test_tool_images_travel_inside_tool_turns_and_round_trip(tmp_path):
    red, blue = (np.full((4, 6, 3), c, np.uint8) for c in (200, 30))
    trace = Trace(
        "system", [], (
            TraceMessage("user", (0, "Where is the mug?")),
            TraceMessage("assistant", ("<think>crop</think>",), calls=(ToolCallRequest("vision_ops.crop", {"x": 1}),)),
            TraceMessage("tool", ("cropped", 1), name="vision_ops.crop"),
            TraceMessage("assistant", ("<answer>A</answer>",))),
        (TraceImage.from_array(red), TraceImage.from_array(blue)), {"source": "s"})
    for fmt in ("trl", "sharegpt"):
        write_dataset([trace], tmp_path / fmt, fmt)
        _, (back,) = read_dataset(tmp_path / fmt)
        assert (back.messages, back.images) == (trace.messages, trace.images)
    row = read_rows(tmp_path / "trl")[0]
    assert row["images"] == [f"images/{trace.images[0].file_name}"]  # TRL fills placeholders of non-tool turns only
    assert row["messages"][3]["content"][1] == {"type": "image", "image": f"images/{trace.images[1].file_name}"}
    sharegpt = read_rows(tmp_path / "sharegpt")[0]
    assert sharegpt["conversations"][2]["value"] == "cropped<image>" and len(sharegpt["images"]) == 2


def test_trl_rows_loaded_by_datasets_still_render_as_the_env_conversation(runs, exported):
    """Through ``datasets`` (optional: not a core dependency) as TRL's guide loads tool calls: ``Json`` columns."""
    datasets = pytest.importorskip("datasets")
    from agents.traces.dataset_dir import trl_rows

    rows = trl_rows(exported["trl"])
    dataset = datasets.Dataset.from_list(rows, on_mixed_types="use_json")
    dataset = dataset.cast_column("images", datasets.Sequence(datasets.Image()))
    for example, record in zip(dataset, read_records(runs["policy"]), strict=True):
        assert render_qwen2_5_vl(example["messages"], None) == env_chatml(record)
        assert example["images"][0].size == (640, 480)


@pytest.mark.usefixtures("no_outside_data")
def test_a_benchmark_run_exports_with_the_items_system_prompt_from_its_data(tmp_path, capsys):
    """A paper-suite run: the env is rebuilt from the run's data (--data-dir), the item's own system prompt kept."""
    from fixtures_bench import build_spacetools_eval

    data = build_spacetools_eval(tmp_path / "data", keys=["blinkdepth"])
    assert main(["eval", "--agent", "blind-guess", "--suite", "SpaceTools-BLINK-Depth-v0", "--data-dir", str(data),
                 "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    export = ["traces", "export", str(tmp_path / "run"), "--format", "sharegpt", "--min-score", "0"]
    assert main([*export, "--out", str(tmp_path / "no-data")]) == 2
    assert "spacetools: error: siyich/spacetools-eval-benchmarks: 'data/blinkdepth.parquet' not found" in (
        capsys.readouterr().err)
    assert main([*export, "--data-dir", str(data), "--out", str(tmp_path / "sft")]) == 0
    records = read_records(tmp_path / "run")
    for row, record in zip(read_rows(tmp_path / "sft"), records, strict=True):
        system = record["trajectory"]["messages"][0]["content"][0]["text"]
        assert row["system"] + tools_block(json.loads(row["tools"])) == system
        assert row["conversations"][-1]["value"] == record["trajectory"]["actions"][-1]
    assert check_dataset(tmp_path / "sft").rows == len(records)


def test_in_memory_rollouts_are_filtered_and_mixed_like_runs(tmp_path):
    env = gym.make("SpaceTools-Synth-RelativeDepth-v0", difficulty="easy")
    agent = ToolProgramAgent()

    def policy(messages, info):
        return agent.act([Turn("0", messages, info)])[0]

    solved = [rollout(env, policy, seed=s) for s in range(4)]
    guesses = [rollout(env, lambda messages, info: "<answer>B</answer>", seed=s) for s in range(4)]
    env.close()
    assert all(t.score == 1.0 for t in solved)
    report = export_trajectories({"policy": solved, "teacher": solved[:3] + guesses}, tmp_path / "sft", "sharegpt",
                                 ratio=(1, 3))
    kept_teacher = 3 + sum(t.score == 1.0 for t in guesses)
    assert report.kept == {"policy": (4, 4), "teacher": (kept_teacher, 7)}
    policy = min(4, round(kept_teacher / 3))
    assert report.mix is not None and report.mix.taken == (policy, kept_teacher)
    sources = [r["meta"]["source"] for r in read_rows(tmp_path / "sft")]
    assert sources == ["policy"] * policy + ["teacher"] * kept_teacher
    assert all(r["meta"]["score"] == 1.0 for r in read_rows(tmp_path / "sft"))


def test_llamafactory_reads_the_sharegpt_rows_as_the_env_conversation(runs, exported):
    """With LLaMA-Factory's own converter and qwen2_vl formatters (optional: not a dependency; skipped without it)."""
    pytest.importorskip("llamafactory")
    from types import SimpleNamespace

    from llamafactory.data.converter import SharegptDatasetConverter
    from llamafactory.data.formatter import FunctionFormatter, ToolFormatter

    folder = exported["sharegpt"]
    info = json.loads((folder / "dataset_info.json").read_text())["spacetools_traces"]
    attr = SimpleNamespace(**info["columns"], **info["tags"], ranking=False, kto_tag=None, videos=None, audios=None,
                           load_from="file")
    convert = SharegptDatasetConverter(dataset_attr=attr, data_args=SimpleNamespace(media_dir=str(folder)))
    function = FunctionFormatter(slots=["{{content}}<|im_end|>\n"], tool_format="qwen")
    for row, record in zip(read_rows(folder), read_records(runs["policy"]), strict=True):
        example = convert(row)
        tools = ToolFormatter(tool_format="qwen").apply(content=example["_tools"])[0]
        text = f"<|im_start|>system\n{example['_system']}{tools}<|im_end|>\n"
        for m in example["_prompt"] + example["_response"]:
            if m["role"] in ("user", "observation"):
                body = m["content"] if m["role"] == "user" else f"<tool_response>\n{m['content']}\n</tool_response>"
                text += f"<|im_start|>user\n{body}<|im_end|>\n<|im_start|>assistant\n"
            elif m["role"] == "function":
                text += "".join(function.apply(content=m["content"], thought_words=("<think>\n", "\n</think>\n\n"),
                                               tool_call_words=("<tool_call>", "</tool_call>")))
            else:
                text += m["content"] + "<|im_end|>\n"
        assert text.replace("<image>", "<|vision_start|><|image_pad|><|vision_end|>") == env_chatml(record)
        assert all(Path(p).is_file() for p in example["_images"])


def test_trl_collates_the_rows_into_the_env_conversation(runs, exported, tmp_path):
    """TRL's own VLM SFT collator on a tiny Qwen2.5-VL checkpoint (optional extras: skipped without trl)."""
    pytest.importorskip("trl")
    datasets = pytest.importorskip("datasets")
    import re

    import torch
    from transformers import AutoProcessor
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    from agents.models.tiny import write_checkpoint
    from agents.traces.dataset_dir import trl_rows

    torch.set_num_threads(1)
    processor = AutoProcessor.from_pretrained(write_checkpoint("qwen2_5_vl", tmp_path / "tiny"))
    collate = DataCollatorForVisionLanguageModeling(processor)
    dataset = datasets.Dataset.from_list(trl_rows(exported["trl"]), on_mixed_types="use_json")
    dataset = dataset.cast_column("images", datasets.Sequence(datasets.Image()))
    for example, record in zip(dataset, read_records(runs["policy"]), strict=True):
        batch = collate([{"messages": example["messages"], "images": example["images"]}])
        text = processor.tokenizer.decode(batch["input_ids"][0])
        assert re.sub(r"(<\|image_pad\|>)+", "<|image_pad|>", text) == env_chatml(record)
        assert batch["image_grid_thw"].shape[0] == len(example["images"])


def test_a_run_of_a_module_env_id_suite_exports_in_a_fresh_process(tmp_path):
    """The custom family of examples/: the export imports the module the run's suite names, as eval did."""
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[1]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(repo / "examples"), os.environ.get("PYTHONPATH", "")])}
    suite = "register_custom_family:SpaceTools-Synth-ObjectCount-v0"
    run = ["eval", "--agent", "blind-guess", "--suite", suite, "--episodes", "2", "--out", str(tmp_path / "r"),
           "--no-progress"]
    export = ["traces", "export", str(tmp_path / "r"), "--format", "trl", "--min-score", "0",
              "--out", str(tmp_path / "sft")]
    for command in (run, export):
        done = subprocess.run([sys.executable, "-m", "benchmarks.cli", *command], cwd=repo, env=env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
    assert [r["meta"]["env_id"] for r in read_rows(tmp_path / "sft")] == ["SpaceTools-Synth-ObjectCount-v0"] * 2


@pytest.mark.parametrize("text", [
    '<think>a</think>\n<tool_call>\n{"name": "t.x", "arguments": {"u": 0.5}}\n</tool_call>',
    '<think>a</think>\n\n<tool_call>\n{"name": "t.x", "arguments": {"u": 0.5}}\n</tool_call>',
    '<tool_call>\n{"name": "t.x", "arguments": {}}\n</tool_call>\n<tool_call>\n{"name": "t.y", "arguments": {}}\n'
    '</tool_call>',
])
def test_a_structured_turn_in_the_protocol_layout_renders_back_exactly(text):
    from agents.traces.trace import structure_turns

    tools = [TraceMessage("tool", ("ok",), name="t.x")] * text.count("<tool_call>")
    (turn, *_) = structure_turns([TraceMessage("assistant", (text,)), *tools])
    assert turn.calls and assistant_text(turn) == text
