"""Real `spacetools eval` runs and their trace exports, shared by the trace tests, and the renderers they compare."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from benchmarks.cli import main

SUITE = "SpaceTools-Synth-RelativeDepth-v0,SpaceTools-Synth-RefLocation-v0"


def run_eval(out: Path, agent: str, episodes: int = 3) -> Path:
    code = main(["eval", "--agent", agent, "--suite", SUITE, "--episodes", str(episodes), "--difficulty", "easy",
                 "--out", str(out), "--no-progress"])
    assert code == 0
    return out


def make_runs(root: Path) -> dict[str, Path]:
    """Two real eval runs of two synthetic families: the tool-program agent (all correct) and blind guesses."""
    return {"policy": run_eval(root / "policy", "tool-program"), "teacher": run_eval(root / "teacher", "blind-guess")}


def export_policy(runs: dict[str, Path], root: Path) -> dict[str, Path]:
    """The policy run exported through the CLI in each format."""
    out = {}
    for fmt in ("trl", "sharegpt"):
        assert main(["traces", "export", str(runs["policy"]), "--format", fmt, "--out", str(root / fmt)]) == 0
        out[fmt] = root / fmt
    return out


def read_records(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "results.jsonl").read_text().splitlines() if line.strip()]


def read_rows(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (folder / "traces.jsonl").read_text().splitlines()]


def folder_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def llamafactory_function(value: str) -> str:
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


def render_qwen2_5_vl(messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> str:
    """The shipped Qwen2.5-VL template rendered as transformers does (its sandbox, its ``tojson``)."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    from agents.models.templates import load_template

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.filters["tojson"] = lambda value, indent=None: json.dumps(value, ensure_ascii=False, indent=indent)
    return env.from_string(load_template("qwen2_5_vl")).render(messages=messages, tools=tools)


def env_chatml(record: dict[str, Any]) -> str:
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
