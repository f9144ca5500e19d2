"""SFT traces: real `spacetools eval` runs exported through the CLI, read back, filtered and mixed."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from PIL import Image

from agents.tool_program import ToolProgramAgent
from agents.traces import (
    Trace,
    TraceError,
    check_dataset,
    mix,
    read_dataset,
    to_sharegpt_row,
    trace_from_trajectory,
    write_dataset,
)
from agents.traces.fields import Where
from agents.traces.trace import TraceImage, TraceMessage, assistant_text
from benchmarks.cli import main
from spacetools_env.parsing import ToolCallRequest
from spacetools_env.prompts import tools_block
from spacetools_env.rollout import Turn, rollout

SUITE = "SpaceTools-Synth-RelativeDepth-v0,SpaceTools-Synth-RefLocation-v0"


def _eval(out: Path, agent: str, episodes: int = 3) -> Path:
    code = main(["eval", "--agent", agent, "--suite", SUITE, "--episodes", str(episodes), "--difficulty", "easy",
                 "--out", str(out), "--no-progress"])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two real eval runs of two synthetic families: the tool-program agent (all correct) and blind guesses."""
    root = tmp_path_factory.mktemp("runs")
    return {"policy": _eval(root / "policy", "tool-program"), "teacher": _eval(root / "teacher", "blind-guess")}


@pytest.fixture(scope="module")
def exported(runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("exported")
    out = {}
    for fmt in ("trl", "sharegpt"):
        assert main(["traces", "export", str(runs["policy"]), "--format", fmt, "--out", str(root / fmt)]) == 0
        out[fmt] = root / fmt
    return out


def _records(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines() if line.strip()]


def _rows(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "traces.jsonl").read_text().splitlines()]


def _files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ---------------------------------------------------------------------------------------------- TRL format
def test_trl_rows_carry_structured_calls_tool_turns_schemas_and_image_files(runs, exported):
    rows, records = _rows(exported["trl"]), _records(runs["policy"])
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
    for trace, record in zip(traces, _records(runs["policy"]), strict=True):
        assistant = [m for m in trace.messages if m.role == "assistant"]
        assert [assistant_text(m) for m in assistant] == record["trajectory"]["actions"]
        assert sum(len(m.calls) for m in assistant) == record["tools"]["calls"]
        tool_texts = [m.text for m in trace.messages if m.role == "tool"]
        assert tool_texts == [c["text"] for turn in record["trajectory"]["tool_calls"] for c in turn]
        assert trace.system_without_tools is not None
        assert trace.system_without_tools + tools_block(trace.tools) == trace.system


# ------------------------------------------------------------------------------------------ ShareGPT format
def _llamafactory_function(value: str) -> str:
    """What LLaMA-Factory's qwen2_vl template prints for a function_call value.

    Transcribed from LLaMA-Factory's ``FunctionFormatter.apply`` (``tool_call_words`` =
    ("<tool_call>", "</tool_call>")) and ``QwenToolUtils.function_formatter``.
    """
    match = re.search(r"<tool_call>(.*?)</tool_call>", value, re.DOTALL)
    payload = json.loads(match.group(1) if match else value)
    calls = payload if isinstance(payload, list) else [payload]
    text = "\n".join("<tool_call>\n" + json.dumps({"name": c["name"], "arguments": c["arguments"]},
                                                   ensure_ascii=False) + "\n</tool_call>" for c in calls)
    return (value.replace(match.group(0), "") if match else "") + text


def test_sharegpt_rows_render_in_llamafactory_as_the_env_showed_them(runs, exported):
    info = json.loads((exported["sharegpt"] / "dataset_info.json").read_text())
    assert info == {"spacetools_traces": {
        "file_name": "traces.jsonl", "formatting": "sharegpt",
        "columns": {"messages": "conversations", "system": "system", "tools": "tools", "images": "images"},
        "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                 "observation_tag": "observation", "function_tag": "function_call", "system_tag": "system"}}}
    for row, record in zip(_rows(exported["sharegpt"]), _records(runs["policy"]), strict=True):
        env_system = record["trajectory"]["messages"][0]["content"][0]["text"]
        assert row["system"] + tools_block(json.loads(row["tools"])) == env_system  # LLaMA-Factory's qwen tool prompt
        turns = row["conversations"]
        assert [t["from"] for t in turns][:2] == ["human", "function_call"] and turns[-1]["from"] == "gpt"
        assert turns[0]["value"] == "<image>" + record["trajectory"]["messages"][1]["content"][1]["text"]
        model_turns = [t for t in turns if t["from"] in ("function_call", "gpt")]
        rendered = [_llamafactory_function(t["value"]) if t["from"] == "function_call" else t["value"]
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
    assert _files(tmp_path / "again") == _files(exported[fmt])


def test_a_trl_export_read_back_writes_the_same_sharegpt_set(exported, tmp_path):
    _, traces = read_dataset(exported["trl"])
    write_dataset(traces, tmp_path / "converted", "sharegpt")
    assert _files(tmp_path / "converted") == _files(exported["sharegpt"])


def test_in_memory_rollouts_export_as_their_eval_records_do(runs, exported):
    _, from_records = read_dataset(exported["trl"])
    record = _records(runs["policy"])[0]
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
        assert _files(tmp_path / f"{fmt}2") == _files(tmp_path / fmt)
    assert _rows(tmp_path / "sharegpt")[0]["conversations"][1]["from"] == "gpt"


# ------------------------------------------------------------------------------------------ filters and mix
def test_min_score_keeps_only_correct_episodes_by_default(runs, tmp_path, capsys):
    records = _records(runs["teacher"])
    correct = sum(r["score"] == 1.0 for r in records)
    assert 0 < correct < len(records)
    assert main(["traces", "export", str(runs["teacher"]), "--format", "trl", "--out", str(tmp_path / "a")]) == 0
    assert len(_rows(tmp_path / "a")) == correct
    assert f"teacher: {correct} of {len(records)} episodes scored >= 1" in capsys.readouterr().out
    assert main(["traces", "export", str(runs["teacher"]), "--format", "trl", "--out", str(tmp_path / "b"),
                 "--min-score", "0"]) == 0
    assert [r["meta"]["score"] for r in _rows(tmp_path / "b")] == [r["score"] for r in records]


def test_mix_samples_the_sources_at_the_ratio_and_reports_the_source_that_ran_short(runs, tmp_path, capsys):
    args = ["traces", "export", str(runs["policy"]), str(runs["teacher"]), "--format", "sharegpt", "--mix", "1:3",
            "--min-score", "0"]
    assert main([*args, "--out", str(tmp_path / "a")]) == 0
    out = capsys.readouterr().out
    assert "mix asked 1:3, reached 2:6 episodes\n  policy: 2 of 6 kept episodes\n  teacher: 6 of 6 kept episodes\n" \
           "  limited by: teacher (every episode of it taken)" in out
    sources = [r["meta"]["source"] for r in _rows(tmp_path / "a")]
    assert sources == ["policy"] * 2 + ["teacher"] * 6
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert _files(tmp_path / "a") == _files(tmp_path / "b")  # seeded: the same sample every time
    assert main([*args, "--seed", "7", "--out", str(tmp_path / "c")]) == 0
    assert len(_rows(tmp_path / "c")) == 8


def test_mix_takes_as_many_as_the_scarcest_source_allows():
    picked, report = mix([list(range(10)), list(range(20))], (1, 3), seed=5, names=("policy", "teacher"))
    assert [len(p) for p in picked] == [6, 20] and report.short == ("teacher",)
    assert picked[0] == sorted(picked[0]) and picked == mix([list(range(10)), list(range(20))], (1, 3), seed=5,
                                                            names=("policy", "teacher"))[0]
    assert report.format().splitlines()[0] == "mix asked 1:3, reached 6:20 episodes (not exactly the ratio)"
    picked, report = mix([list(range(2)), list(range(60))], (1, 3), names=("policy", "teacher"))
    assert [len(p) for p in picked] == [2, 6] and report.short == ("policy",)
    assert report.format().splitlines()[0] == "mix asked 1:3, reached 2:6 episodes"


# ------------------------------------------------------------------------------------------ errors
def _broken(exported: Path, tmp_path: Path, edit) -> Path:
    folder = tmp_path / "broken"
    shutil.copytree(exported, folder)
    rows = _rows(folder)
    edit(rows)
    (folder / "traces.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return folder


def _trl_edits():
    def no_messages(rows):
        del rows[1]["messages"]

    def string_arguments(rows):
        rows[0]["messages"][2]["tool_calls"][0]["function"]["arguments"] = '["obj_name"]'

    def missing_image(rows):
        rows[2]["images"] = ["images/missing.png"]

    def extra_image(rows):
        rows[0]["images"].append(rows[0]["images"][0])

    return [
        (no_messages, "row 2: field 'messages' is missing"),
        (string_arguments, "row 1: field 'messages[2].tool_calls[0].function.arguments': expected a JSON object "
                          "(or its JSON string), got list"),
        (missing_image, "row 3: field 'images': image file 'images/missing.png' cannot be read relative to"),
        (extra_image, "row 1: field 'images': expected one path per image placeholder"),
    ]


@pytest.mark.parametrize(("edit", "message"), _trl_edits())
def test_a_malformed_trl_row_is_an_error_naming_file_row_and_field(exported, tmp_path, capsys, edit, message):
    folder = _broken(exported["trl"], tmp_path, edit)
    assert main(["traces", "check", str(folder)]) == 2
    err = capsys.readouterr().err
    assert f"spacetools: error: {folder / 'traces.jsonl'}: {message}" in err
    assert "re-export the run" in err or "keep the image files" in err


def _sharegpt_edits():
    def two_gpt_turns(rows):
        rows[0]["conversations"][2]["from"] = "gpt"

    def bad_call_json(rows):
        rows[1]["conversations"][1]["value"] = "<think>x</think>\n<tool_call>\n{oops\n</tool_call>"

    def bad_tools(rows):
        rows[0]["tools"] = "[{"

    return [
        (two_gpt_turns, "row 1: field 'conversations[2].from': expected 'human' or 'observation' at this position"),
        (bad_call_json, "row 2: field 'conversations[1].value': expected the calls as JSON"),
        (bad_tools, "row 1: field 'tools': expected a JSON list of tool schemas"),
    ]


@pytest.mark.parametrize(("edit", "message"), _sharegpt_edits())
def test_a_malformed_sharegpt_row_is_an_error_naming_file_row_and_field(exported, tmp_path, edit, message):
    folder = _broken(exported["sharegpt"], tmp_path, edit)
    with pytest.raises(TraceError, match=re.escape(f"{folder / 'traces.jsonl'}: {message}")):
        check_dataset(folder)


def test_a_line_that_is_not_json_is_named(exported, tmp_path):
    folder = tmp_path / "cut"
    shutil.copytree(exported["trl"], folder)
    with (folder / "traces.jsonl").open("a") as handle:
        handle.write('{"messages": [\n')
    with pytest.raises(TraceError, match=r"traces.jsonl: row 7: not JSON .*one JSON object per line"):
        check_dataset(folder)


def test_export_errors_name_the_folder_and_the_fix(runs, exported, tmp_path, capsys):
    assert main(["traces", "export", str(tmp_path), "--format", "trl", "--out", str(tmp_path / "o")]) == 2
    assert f"{tmp_path} holds no results.jsonl and manifest.json; pass the --out folder" in capsys.readouterr().err
    assert main(["traces", "export", str(runs["policy"]), "--format", "trl", "--mix", "1:3",
                 "--out", str(tmp_path / "o")]) == 2
    assert "--mix 1:3 has 2 parts but 1 sources were given" in capsys.readouterr().err
    assert main(["traces", "export", str(runs["policy"]), "--format", "trl", "--mix", "1:x",
                 "--out", str(tmp_path / "o")]) == 2
    assert "--mix must be positive integers separated by ':'" in capsys.readouterr().err
    assert main(["traces", "export", str(runs["policy"]), "--format", "trl", "--out", str(exported["trl"])]) == 2
    assert "exists and is not an empty folder; pass a new --out folder" in capsys.readouterr().err


# ------------------------------------------------------------------------------------------ the released set
def _released_row(layout: str, image: str) -> dict[str, Any]:
    think_call = '<think>\nFind the cup.\n</think>\n\n{"name": "roborefer.detect_one", "arguments": {"obj_name": ' \
                 '"cup", "image_index": 0}}'
    turns = [("human", "user", "<image>Where is the cup?"), ("function_call", "function_call", think_call),
             ("observation", "observation", "Detected 1 instance(s) of 'cup': [(0.5, 0.4)]"),
             ("gpt", "assistant", "<answer>[(0.5, 0.4)]</answer>")]
    tag = {"from_value": ("from", "value", 0), "role_content": ("role", "content", 1)}[layout]
    return {"conversations": [{tag[0]: t[tag[2]], tag[1]: t[2]} for t in turns], "system": "You are an expert.",
            "tools": json.dumps([{"type": "function", "function": {"name": "roborefer.detect_one"}}]),
            "images": [image]}


@pytest.mark.parametrize("layout", ["from_value", "role_content"])
def test_the_released_set_layouts_read_back(tmp_path, layout):
    Image.new("RGB", (8, 6), (10, 20, 30)).save(tmp_path / "cup.jpg")
    rows = [_released_row(layout, "cup.jpg")]
    (tmp_path / "spacetools_sft.json").write_text(json.dumps(rows))  # a JSON list, as LLaMA-Factory sets often are
    fmt, traces = read_dataset(tmp_path / "spacetools_sft.json")
    trace = traces[0]
    assert fmt == "sharegpt" and trace.source == "spacetools_sft.json"
    assert trace.system == "You are an expert." + tools_block(trace.tools)
    call = trace.messages[1]
    assert call.text == "<think>\nFind the cup.\n</think>" and call.calls[0].name == "roborefer.detect_one"
    assert call.calls[0].arguments == {"obj_name": "cup", "image_index": 0}
    assert trace.messages[2].name == "roborefer.detect_one" and trace.images[0].suffix == ".jpg"
    assert check_dataset(tmp_path / "spacetools_sft.json").rows == 1


def test_a_dataset_info_entry_names_the_columns_and_tags(tmp_path):
    Image.new("RGB", (8, 6)).save(tmp_path / "a.png")
    row = _released_row("role_content", "a.png")
    row["msgs"] = row.pop("conversations")
    (tmp_path / "sft.jsonl").write_text(json.dumps(row) + "\n")
    info = {"sft": {"file_name": "sft.jsonl", "formatting": "sharegpt", "columns": {"messages": "msgs"},
                    "tags": {"role_tag": "role", "content_tag": "content", "user_tag": "user",
                             "assistant_tag": "assistant"}}}
    (tmp_path / "dataset_info.json").write_text(json.dumps(info))
    fmt, traces = read_dataset(tmp_path)
    assert fmt == "sharegpt" and [m.role for m in traces[0].messages] == ["user", "assistant", "tool", "assistant"]


def test_a_text_holding_the_image_token_is_refused_for_sharegpt():
    bad = Trace("s", [], (TraceMessage("user", ("see <image> here",)),), (), {"env_id": "E", "split": "test",
                                                                                "index": 4})
    with pytest.raises(TraceError, match=r"episode E/test/4: a user text holds '<image>'.*--format trl"):
        to_sharegpt_row(bad)


def test_where_names_file_and_row():
    assert str(Where("f.jsonl", 3).error("x", "a string", 5, "fix it")) == (
        "f.jsonl: row 3: field 'x': expected a string, got int 5; fix it")


# ------------------------------------------------------------------------------------------ chat templates
def _render_qwen2_5_vl(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
    """The shipped Qwen2.5-VL template rendered as transformers does (its sandbox, its ``tojson``)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from agents.models.templates import load_template

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = lambda value, indent=None: json.dumps(value, ensure_ascii=False, indent=indent)
    return env.from_string(load_template("qwen2_5_vl")).render(messages=messages, tools=tools)


def _env_chatml(record: dict[str, Any]) -> str:
    """The conversation the env played, as Qwen2.5-VL's ChatML (consecutive tool messages in one user turn)."""
    out, messages = [], record["trajectory"]["messages"]
    for i, m in enumerate(messages):
        body = "".join(p["text"] if p["type"] == "text" else "<|vision_start|><|image_pad|><|vision_end|>"
                       for p in m["content"])
        if m["role"] != "tool":
            out.append(f"<|im_start|>{m['role']}\n{body}<|im_end|>\n")
            continue
        first, last = messages[i - 1]["role"] != "tool", i + 1 == len(messages) or messages[i + 1]["role"] != "tool"
        out.append(("<|im_start|>user" if first else "") + f"\n<tool_response>\n{body}\n</tool_response>"
                   + ("<|im_end|>\n" if last else ""))
    return "".join(out)


def test_trl_rows_render_with_the_shipped_qwen_template_as_the_env_conversation(runs, exported):
    """TRL's VLM collator renders ``messages`` without ``tools``; a text pipeline passes ``tools``, bare system."""
    _, traces = read_dataset(exported["trl"])
    for row, trace, record in zip(_rows(exported["trl"]), traces, _records(runs["policy"]), strict=True):
        expected = _env_chatml(record)
        assert _render_qwen2_5_vl(row["messages"], None) == expected
        bare = [{**row["messages"][0], "content": [{"type": "text", "text": trace.system_without_tools}]},
                *row["messages"][1:]]
        assert _render_qwen2_5_vl(bare, row["tools"]) == expected


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
    row = _rows(tmp_path / "trl")[0]
    assert row["images"] == [f"images/{trace.images[0].file_name}"]  # TRL fills placeholders of non-tool turns only
    assert row["messages"][3]["content"][1] == {"type": "image", "image": f"images/{trace.images[1].file_name}"}
    sharegpt = _rows(tmp_path / "sharegpt")[0]
    assert sharegpt["conversations"][2]["value"] == "cropped<image>" and len(sharegpt["images"]) == 2


def test_trl_rows_loaded_by_datasets_still_render_as_the_env_conversation(runs, exported):
    """Through ``datasets`` (optional: not a core dependency) as TRL's guide loads tool calls: ``Json`` columns."""
    datasets = pytest.importorskip("datasets")
    from agents.traces.dataset_dir import trl_rows

    rows = trl_rows(exported["trl"])
    dataset = datasets.Dataset.from_list(rows, on_mixed_types="use_json")
    dataset = dataset.cast_column("images", datasets.Sequence(datasets.Image()))
    for example, record in zip(dataset, _records(runs["policy"]), strict=True):
        assert _render_qwen2_5_vl(example["messages"], None) == _env_chatml(record)
        assert example["images"][0].size == (640, 480)
