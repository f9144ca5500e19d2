"""Trace files read back: malformed rows named by file, row and field; the released set's layouts."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from agents.traces import Trace, TraceError, check_dataset, read_dataset, to_sharegpt_row, write_dataset
from agents.traces.fields import Where
from agents.traces.trace import TraceMessage, assistant_text
from benchmarks.cli import main
from spacetools_env.prompts import tools_block
from tests.fixtures_traces import export_policy, make_runs, read_rows


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_runs(tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def exported(runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return export_policy(runs, tmp_path_factory.mktemp("exported"))


# ------------------------------------------------------------------------------------------ errors
def _broken(exported: Path, tmp_path: Path, edit) -> Path:
    folder = tmp_path / "broken"
    shutil.copytree(exported, folder)
    rows = read_rows(folder)
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
    assert call.text == "<think>\nFind the cup.\n</think>\n" and call.calls[0].name == "roborefer.detect_one"
    # as LLaMA-Factory prints it: the thought with its blank line, then the call
    assert assistant_text(call) == ('<think>\nFind the cup.\n</think>\n\n<tool_call>\n{"name": "roborefer.detect_one", '
                                    '"arguments": {"obj_name": "cup", "image_index": 0}}\n</tool_call>')
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


def test_a_trace_that_is_not_valid_utf8_is_refused_naming_the_episode(tmp_path):
    bad = Trace("s", [], (TraceMessage("user", ("\ud800",)),), (), {"env_id": "E", "split": "test", "index": 1,
                                                                    "source": "policy"})
    with pytest.raises(TraceError, match=r"episode E/test/1 of source 'policy': a text holds a lone surrogate"):
        write_dataset([bad], tmp_path / "out", "trl")
    assert not (tmp_path / "out").exists() and not list(tmp_path.iterdir())  # no partial folder left


def test_nothing_passing_the_filter_is_an_error_not_an_empty_dataset(tmp_path):
    import gymnasium as gym

    from agents.traces import export_trajectories
    from spacetools_env.rollout import rollout

    env = gym.make("SpaceTools-Synth-RefLocation-v0", difficulty="easy")
    wrong = [rollout(env, lambda messages, info: "<answer>[(0.0, 0.0)]</answer>", seed=s) for s in range(2)]
    env.close()
    assert all(t.score == 0.0 for t in wrong)
    with pytest.raises(TraceError, match=re.escape("no episode scored >= 1 (guess: 2 episodes), so there is nothing "
                                                   "to export; lower --min-score")):
        export_trajectories({"guess": wrong}, tmp_path / "out", "trl")
    assert not (tmp_path / "out").exists()


def _paths(value: Any, path: tuple = ()):
    yield path
    children = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in children:
        yield from _paths(child, (*path, key))


@pytest.mark.parametrize("fmt", ["trl", "sharegpt"])
def test_every_field_of_a_row_broken_is_a_trace_error_never_a_raw_exception(exported, tmp_path, fmt):
    """Each field of a real row replaced by null, a number, a string, a list, an object, or deleted."""
    row = read_rows(exported[fmt])[0]
    folder = tmp_path / "broken"
    shutil.copytree(exported[fmt], folder)
    raw = []
    for path in list(_paths(row))[1:]:
        for new in (None, 7, "x", [], {}, "delete"):
            if new == "delete" and isinstance(path[-1], int):
                continue
            broken = json.loads(json.dumps(row))
            parent = broken
            for key in path[:-1]:
                parent = parent[key]
            if new == "delete":
                del parent[path[-1]]
            else:
                parent[path[-1]] = new
            (folder / "traces.jsonl").write_text(json.dumps(broken) + "\n")
            try:
                read_dataset(folder)
            except TraceError:
                pass
            except Exception as exc:  # what this test exists to catch
                raw.append(f"{path} = {new!r}: {type(exc).__name__}: {exc}")
    assert raw == []
