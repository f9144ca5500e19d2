"""The verl adapter (agents/verl) against verl 0.9.1's own tool loading and tool-call code.

verl pins transformers<5.11, older than TRL needs, so it cannot share the test environment. The
session fixture :func:`verl_python` makes a venv with ``--system-site-packages`` (torch, gymnasium,
this checkout come from the main environment) and installs there, ``--no-deps`` and pinned, verl and
exactly what its tool loading and ``ToolAgentLoop`` import (:data:`VERL_REQUIREMENTS`). It is cached
under ``~/.cache/spacetools/verl-venv-<hash of Python and the pins>`` (``$SPACETOOLS_CACHE`` moves the
root), so reruns are instant; a file lock keeps parallel sessions from building it twice. CI has pip's
registries, which is all it needs. Never skipped: a failed install fails the test, naming pip's output.

In that venv, :func:`verl_driver` loads our YAML with ``verl.tools.tool_registry.initialize_tools_from_config``
and runs each turn's calls through verl's own ``ToolAgentLoop._call_tool`` (create -> execute(agent_data)
-> release, as ``asyncio.gather`` over the turn, as the loop does) with verl's ``AgentData``, two episodes
at once. The test then plays the same calls through ``env.step`` (the paper's text protocol, one turn
per verl turn) on the same items here and requires the same texts, images and rewards. Last, one whole
``ToolAgentLoop.run`` on a :func:`agents.verl.verl_row` row with the shipped YAML, the model scripted
(:func:`_verl_rollout`): verl renders our schemas, parses the calls, runs them, masks the tool responses,
and the episode is freed when the loop drops its ``AgentData``.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import yaml
from PIL import Image

import agents.verl as adapter
from agents.models.tiny import write_checkpoint
from agents.verl import ToolSettings, compute_score, tool_config, tools_kwargs, verl_row, write_tool_config
from tool_backends import DEFAULT_TOOLS
from tool_backends.names import to_function_name

REPO = Path(__file__).resolve().parents[1]
DEPTH = "SpaceTools-Synth-RelativeDepth-v0"
RELATION = "SpaceTools-Synth-Relation2D-v0"

VERL_REQUIREMENTS: tuple[str, ...] = (
    "verl==0.9.1",
    # the transformers verl pins (its cpu extra: 5.9.0), and what that release checks at import
    # against versions older than the main environment's
    "transformers==5.9.0", "tokenizers==0.22.2", "huggingface_hub==1.33.0", "kernels==0.12.3",
    "httpx==0.29.0", "httpcore==1.0.9",
    # `import verl` imports verl.protocol: ray (with msgpack, protobuf) and tensordict (with pyvers)
    "ray==2.60.0", "msgpack==1.2.4", "protobuf==7.36.2", "tensordict==0.10.0", "pyvers==0.1.0",
    # verl.tools.tool_registry (omegaconf) and the agent loop (hydra, codetiming, cachetools)
    "omegaconf==2.4.0", "hydra-core==1.3.8", "antlr4-python3-runtime==4.9.3", "codetiming==1.4.0",
    "cachetools==8.0.2",
)
"""What the verl venv installs, all ``--no-deps`` (the rest comes from the main environment)."""

NOISE = {"roborefer": {"point_sigma": 0.05}, "depth_estimator": {"depth_sigma": 0.1}}
"""Tool noise in scenario A: the texts then depend on the seeding of each call by (episode seed, call number)."""


# ------------------------------------------------------------------------------ the verl venv
def _venv_dir() -> Path:
    root = Path(os.environ.get("SPACETOOLS_CACHE", Path.home() / ".cache" / "spacetools"))
    digest = hashlib.sha256(json.dumps([sys.version, VERL_REQUIREMENTS]).encode()).hexdigest()[:12]
    return root / f"verl-venv-0.9.1-py{sys.version_info.major}{sys.version_info.minor}-{digest}"


def _run(command: list[str], what: str, timeout: float) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {done.returncode}): {' '.join(command)}\n{done.stdout[-3000:]}\n"
                           f"{done.stderr[-3000:]}")


@pytest.fixture(scope="session")
def verl_python() -> Path:
    """The Python of the cached verl venv, built on first use (see the module docstring)."""
    venv = _venv_dir()
    venv.parent.mkdir(parents=True, exist_ok=True)
    marker = venv / "spacetools-complete"
    start = time.perf_counter()
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # another session building it: wait, then reuse
        if not marker.exists():
            shutil.rmtree(venv, ignore_errors=True)
            _run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], "making the verl venv", 300)
            python = venv / "bin" / "python"
            _run([str(python), "-m", "pip", "install", "--no-deps", "--no-input", "-q", *VERL_REQUIREMENTS],
                 "pip install of verl's packages", 900)
            marker.write_text("\n".join(VERL_REQUIREMENTS) + "\n")
    print(f"verl venv {venv} ready in {time.perf_counter() - start:.1f} s")
    return venv / "bin" / "python"


# ------------------------------------------------------------------------------ runs inside the venv
def verl_driver(spec_path: str, out_path: str) -> None:
    """In the verl venv: load the spec's YAMLs with verl and run its episodes through ``ToolAgentLoop``.

    ``_call_tool`` is verl's real per-call code (create with the row's ``create_kwargs``, ``execute`` with
    ``agent_data``, ``release`` in ``finally``, verl's truncation); the loop instance is made without its
    ``__init__``, which needs an LLM server and a tokenizer, and given the three attributes ``_call_tool``
    reads, with verl's defaults.
    """
    import asyncio
    import gc
    from importlib.metadata import version

    from verl.experimental.agent_loop.tool_agent_loop import AgentData, ToolAgentLoop
    from verl.experimental.agent_loop.tool_parser import FunctionCall
    from verl.tools.base_tool import BaseTool
    from verl.tools.tool_registry import initialize_tools_from_config

    from agents.verl.tools import live_episodes

    spec = json.loads(Path(spec_path).read_text())
    out: dict[str, Any] = {"versions": {p: version(p) for p in ("verl", "transformers")}, "episodes": {}}
    loops, tools_by_yaml = {}, {}
    for name, path in spec["yamls"].items():
        tools = initialize_tools_from_config(path)
        loop = ToolAgentLoop.__new__(ToolAgentLoop)
        loop.tools = {tool.name: tool for tool in tools}
        loop.max_tool_response_length, loop.tool_response_truncate_side = 2048, "middle"
        loops[name], tools_by_yaml[name] = loop, tools
        out.setdefault("names", {})[name] = [tool.name for tool in tools]
        out.setdefault("base_tool", {})[name] = all(isinstance(tool, BaseTool) for tool in tools)

    try:  # a YAML whose schema no longer matches the declaration fails to load, naming the fix
        initialize_tools_from_config(spec["stale_yaml"])
        out["stale_error"] = None
    except ValueError as exc:
        out["stale_error"] = str(exc)

    agents: dict[str, Any] = {}

    async def play(episode: dict[str, Any]) -> None:
        loop = loops[episode["yaml"]]
        agent_data = agents[episode["request_id"]] = AgentData(
            messages=[], image_data=[], video_data=None, audio_data=None, mm_processor_kwargs=None, metrics={},
            request_id=episode["request_id"], tools_kwargs=episode["tools_kwargs"],
        )
        turns = []
        for turn in episode["turns"]:
            calls = [FunctionCall(name=c["name"], arguments=json.dumps(c["arguments"])) for c in turn]
            answers = await asyncio.gather(*[loop._call_tool(c, agent_data.tools_kwargs, agent_data) for c in calls])
            turns.append([{"text": r.text, "reward": reward, "images": [list(i.size) for i in r.image or []]}
                          for r, reward, _ in answers])
        out["episodes"][episode["request_id"]] = turns

    async def main() -> None:
        await asyncio.gather(*[play(e) for e in spec["episodes"]])

    asyncio.run(main())
    out["live_during"] = sorted(live_episodes())
    out["instances_after_release"] = sum(len(t._instances) for ts in tools_by_yaml.values() for t in ts)
    agents.clear()
    gc.collect()
    out["live_after"] = sorted(live_episodes())
    out["rollout"] = _verl_rollout(spec["rollout"], tools_by_yaml["shipped"])
    out["live_after_rollout"] = sorted(live_episodes())
    Path(out_path).write_text(json.dumps(out))


def _verl_rollout(spec: dict[str, Any], tools: list[Any]) -> dict[str, Any]:
    """In the verl venv: one whole ``ToolAgentLoop.run`` on a :func:`verl_row` row, the model scripted.

    verl's own loop does everything but sample: it renders the prompt with the chat template's ``tools=``
    (our schemas), parses the scripted turns with its hermes parser, runs the calls through our tools,
    appends the tool messages and builds the response mask. The "LLM server" returns each scripted turn's
    tokens (a tiny kit checkpoint's tokenizer and template, text-only: the tools read the env's images).
    """
    import asyncio

    from omegaconf import OmegaConf
    from transformers import AutoTokenizer
    from verl.experimental.agent_loop.agent_loop import DictConfigWrap
    from verl.experimental.agent_loop.tool_agent_loop import ToolAgentLoop, ToolListWrap
    from verl.utils.dataset.rl_dataset import RLHFDataset
    from verl.workers.rollout.replica import TokenOutput

    tokenizer = AutoTokenizer.from_pretrained(spec["checkpoint"])
    end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    multi_turn = {"max_user_turns": 8, "max_assistant_turns": 8, "max_parallel_calls": 8, "format": "hermes",
                  "max_tool_response_length": 2048, "tool_response_truncate_side": "middle"}
    config = OmegaConf.create({"actor_rollout_ref": {"rollout": {
        "multi_turn": multi_turn, "prompt_length": 8192, "response_length": 4096, "full_determinism": False}}})
    scripted = list(spec["turns"])

    class ScriptedServer:
        async def generate(self, request_id: str, prompt_ids: list[int], sampling_params: Any, **_: Any) -> Any:
            return TokenOutput(token_ids=[*tokenizer.encode(scripted.pop(0), add_special_tokens=False), end])

    row = verl_row(**spec["row"])
    prompt = [dict(m, content=m["content"].replace("<image>", "")) for m in row["prompt"]]

    async def main() -> Any:  # verl's loop takes the running event loop when it is made
        loop = ToolAgentLoop(trainer_config=DictConfigWrap(config), server_manager=ScriptedServer(),
                             tokenizer=tokenizer, processor=None, dataset_cls=RLHFDataset,
                             data_config=DictConfigWrap(OmegaConf.create({})), tools=ToolListWrap(tools))
        return await loop.run({"temperature": 1.0}, raw_prompt=prompt, extra_info=row["extra_info"],
                              tools_kwargs=row["extra_info"]["tools_kwargs"])

    output = asyncio.run(main())
    ids, mask = list(output.response_ids), list(output.response_mask)
    return {
        "prompt": tokenizer.decode(output.prompt_ids),
        "response": tokenizer.decode(ids),
        "model_tokens": tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if m]),
        "score": compute_score(row["data_source"], tokenizer.decode(ids, skip_special_tokens=True), None,
                               row["extra_info"]),
        "tool_rewards": output.extra_fields["tool_rewards"],
        "num_turns": output.num_turns,
    }


def _drive(verl_python: Path, spec: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    spec_path, out_path = tmp_path / "spec.json", tmp_path / "out.json"
    spec_path.write_text(json.dumps(spec))
    code = ("import sys; sys.path.insert(0, sys.argv[1]); import test_verl_adapter as t; "
            "t.verl_driver(sys.argv[2], sys.argv[3])")
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "VERL_USE_EXTERNAL_PLUGINS": "none"}
    done = subprocess.run([str(verl_python), "-c", code, str(REPO / "tests"), str(spec_path), str(out_path)],
                          capture_output=True, text=True, timeout=600, env=env, cwd=REPO, check=False)
    assert done.returncode == 0, f"the verl driver failed:\n{done.stdout[-4000:]}\n{done.stderr[-6000:]}"
    return dict(json.loads(out_path.read_text()))


# ------------------------------------------------------------------------------ expected: env.step
def _env_step_turns(env_id: str, key: dict[str, Any], env_kwargs: dict[str, Any], turns: list[list[dict[str, Any]]]
                    ) -> list[list[dict[str, Any]]]:
    """Each call's text, image sizes and the turn's reward by ``env.step`` in the paper's text protocol."""
    env = gym.make(env_id, **env_kwargs)
    try:
        env.reset(seed=key["seed"], options={"split": key["split"], "index": key["index"]})
        played = []
        for turn in turns:
            calls = [json.dumps({"name": c["tool"], "arguments": c["arguments"]}) for c in turn]
            action = "".join(f"<tool_call>\n{call}\n</tool_call>" for call in calls)
            observation, reward, terminated, _, info = env.step(action)
            assert len(observation) == len(turn) and not terminated and info["invalid_actions"] == 0
            played.append([
                {"text": "".join(p["text"] for p in m["content"] if p["type"] == "text"),
                 "images": [[p["image"].shape[1], p["image"].shape[0]] for p in m["content"] if p["type"] == "image"],
                 "turn_reward": reward, "ok": r["ok"]}
                for m, r in zip(observation, info["tool_results"], strict=True)
            ])
        return played
    finally:
        env.close()


def _call(tool: str, **arguments: Any) -> dict[str, Any]:
    return {"tool": tool, "name": to_function_name(tool), "arguments": arguments}


SCENARIO_A = [  # default tools, tool noise: a $variable stored and read within one turn, then errors
    [_call("roborefer.detect_one", obj_name="point A", image_index=0),
     _call("depth_estimator.estimate_depth", image_index=0),
     _call("vision_ops.index_at", data="$depth_map", u=0.25, v=0.5)],
    [_call("roborefer.detect_one", obj_name="point B", image_index=0),
     _call("vision_ops.index_at", data="$depth_map", u=0.75, v=0.5),
     _call("sam2.segment_from_point", x=1.5, y=0.5, image_index=0),
     _call("vision_ops.index_at", data="$depth_mapp", u=0.5, v=0.5),
     _call("roborefer.detect_one", obj_name="point A", image_index=3)],
]
SCENARIO_B = [  # tool images on: a crop's image comes back in ToolResponse.image and is addressable next turn
    [_call("vision_ops.crop", x1=0.1, y1=0.2, x2=0.6, y2=0.7, image_index=0)],
    [_call("vision_ops.zoom", x=0.5, y=0.5, factor=2.0, image_index=1),
     _call("roborefer.detect_one", obj_name="the red cube", image_index=0)],
]


ROLLOUT_TURNS = [  # the scripted model of the whole-loop rollout: two tool turns, then the answer
    [_call("roborefer.detect_one", obj_name="point A", image_index=0),
     _call("depth_estimator.estimate_depth", image_index=0)],
    [_call("vision_ops.index_at", data="$depth_map", u=0.3, v=0.5),
     _call("sam2.segment_from_point", x=1.5, y=0.5, image_index=0)],
]
ROLLOUT_ANSWER = "<answer>B</answer>"


def _scripted_turn(turn: list[dict[str, Any]]) -> str:
    """A turn as Qwen writes it: hermes ``<tool_call>`` blocks of function names and JSON arguments."""
    return "\n".join(f"<tool_call>\n{json.dumps({'name': c['name'], 'arguments': c['arguments']})}\n</tool_call>"
                     for c in turn)


@pytest.fixture(scope="module")
def verl_run(verl_python: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Three episodes through verl (two at once on one YAML, one on a tool-image YAML), and the spec."""
    folder = tmp_path_factory.mktemp("verl")
    yaml_a = write_tool_config(folder / "a.yaml", env_kwargs={"tool_options": {"noise": NOISE}})
    tools_b = ["roborefer.detect_one", "vision_ops.crop", "vision_ops.zoom"]
    yaml_b = write_tool_config(folder / "b.yaml", tools_b, env_kwargs={"tool_images": True}, tool_reward="toolshed")
    episodes: list[dict[str, Any]] = []
    for yaml_name, request_id, env_id, (split, index, seed), turns in [
        ("a", "ep-depth", DEPTH, ("test", 2, 3), SCENARIO_A),
        ("a", "ep-relation", RELATION, ("test", 5, 11), SCENARIO_A),
        ("b", "ep-images", RELATION, ("test", 1, 4), SCENARIO_B),
    ]:
        tools = DEFAULT_TOOLS if yaml_name == "a" else tools_b
        episodes.append({"yaml": yaml_name, "request_id": request_id, "env_id": env_id, "turns": turns,
                         "key": {"split": split, "index": index, "seed": seed},
                         "tools_kwargs": tools_kwargs(env_id, split, index, seed, tools)})
    stale = yaml.safe_load(adapter.SHIPPED_TOOL_CONFIG.read_text())
    stale["tools"][0]["tool_schema"]["function"]["description"] = "An old description."
    stale_yaml = folder / "stale.yaml"
    stale_yaml.write_text(yaml.safe_dump(stale))
    rollout = {"checkpoint": str(write_checkpoint("qwen2_5_vl", folder / "tiny")),
               "row": {"env_id": DEPTH, "split": "test", "index": 2, "seed": 3},
               "turns": [_scripted_turn(t) for t in ROLLOUT_TURNS] + [ROLLOUT_ANSWER]}
    spec = {"yamls": {"a": str(yaml_a), "b": str(yaml_b), "shipped": str(adapter.SHIPPED_TOOL_CONFIG)},
            "stale_yaml": str(stale_yaml), "episodes": episodes, "rollout": rollout}
    env_kwargs = {"a": {"tool_options": {"noise": NOISE}}, "b": {"tools": tools_b, "tool_images": True}}
    return {"spec": spec, "env_kwargs": env_kwargs, "out": _drive(verl_python, spec, folder)}


def test_verl_runs_in_its_own_venv_with_the_pinned_versions(verl_run: dict[str, Any]) -> None:
    assert verl_run["out"]["versions"] == {"verl": "0.9.1", "transformers": "5.9.0"}


def test_verl_loads_the_yaml_as_base_tools_under_function_names(verl_run: dict[str, Any]) -> None:
    out = verl_run["out"]
    assert out["base_tool"] == {"a": True, "b": True, "shipped": True}
    assert out["names"]["a"] == out["names"]["shipped"] == [to_function_name(t) for t in DEFAULT_TOOLS]
    assert out["names"]["b"] == ["roborefer__detect_one", "vision_ops__crop", "vision_ops__zoom"]


def test_verl_refuses_a_yaml_whose_schema_is_stale(verl_run: dict[str, Any]) -> None:
    error = verl_run["out"]["stale_error"]
    assert error is not None and "roborefer.detect_one in the tool YAML differs from the tool's declaration" in error
    assert "agents.verl.write_tool_config" in error


@pytest.mark.parametrize("request_id", ["ep-depth", "ep-relation", "ep-images"])
def test_verl_tool_calls_see_what_env_step_returns(verl_run: dict[str, Any], request_id: str) -> None:
    episode = next(e for e in verl_run["spec"]["episodes"] if e["request_id"] == request_id)
    expected = _env_step_turns(episode["env_id"], episode["key"], verl_run["env_kwargs"][episode["yaml"]],
                               episode["turns"])
    got = verl_run["out"]["episodes"][request_id]
    assert [[c["text"] for c in turn] for turn in got] == [[c["text"] for c in turn] for turn in expected]
    assert [[c["images"] for c in turn] for turn in got] == [[c["images"] for c in turn] for turn in expected]
    oks = [c["ok"] for turn in expected for c in turn]
    if episode["yaml"] == "a":  # the env's reward per call sums to env.step's reward per turn
        for turn, want in zip(got, expected, strict=True):
            assert sum(c["reward"] for c in turn) == pytest.approx(want[0]["turn_reward"])
        assert oks == [True] * 5 + [False] * 3, "scenario A's last three calls are the error cases"
    else:  # the original wrapper's 0.1 per successful call
        assert [c["reward"] for turn in got for c in turn] == [0.1 if ok else 0.0 for ok in oks]
        assert oks == [True, True, True] and [len(c["images"]) for turn in got for c in turn] == [1, 1, 0]


def test_verl_errors_are_the_env_error_texts(verl_run: dict[str, Any]) -> None:
    texts = [c["text"] for c in verl_run["out"]["episodes"]["ep-depth"][1]]
    assert texts[2].startswith("Error: Coordinates (1.5, 0.5) must be in range [0, 1]")
    assert texts[3].startswith("Error: variable $depth_mapp is not defined")
    assert "Did you mean '$depth_map'?" in texts[3]
    assert texts[4].startswith("Error: image_index 3 is out of range")


def test_verl_episodes_stay_apart_and_are_freed_with_their_agent_data(verl_run: dict[str, Any]) -> None:
    out = verl_run["out"]
    assert out["live_during"] == ["ep-depth", "ep-images", "ep-relation"]
    assert out["instances_after_release"] == 0, "release() must drop every instance id"
    assert out["live_after"] == [], "an episode must be freed once verl drops its AgentData"
    assert out["episodes"]["ep-depth"][0][0]["text"] != out["episodes"]["ep-relation"][0][0]["text"]


def test_verl_rollout_through_the_whole_tool_agent_loop_plays_the_env_episode(verl_run: dict[str, Any]) -> None:
    rollout = verl_run["out"]["rollout"]
    key = {"split": "test", "index": 2, "seed": 3}
    expected = _env_step_turns(DEPTH, key, {}, ROLLOUT_TURNS)
    responses = re.findall(r"<tool_response>\n(.*?)\n</tool_response>", rollout["response"], re.DOTALL)
    assert responses == [c["text"] for turn in expected for c in turn]
    assert responses[3].startswith("Error: Coordinates (1.5, 0.5)")
    # the loss sees the model's turns only: tool responses and the template's turn headers are masked out
    assert rollout["model_tokens"] == "".join(t + "<|im_end|>" for t in verl_run["spec"]["rollout"]["turns"])
    rewards = rollout["tool_rewards"]
    assert [sum(rewards[:2]), sum(rewards[2:])] == pytest.approx([t[0]["turn_reward"] for t in expected])
    assert rewards[:3] == [0.0, 0.0, 0.0] and rewards[3] < 0, "only the failed call costs the tool_error penalty"
    env = gym.make(DEPTH)
    env.reset(seed=3, options={"split": "test", "index": 2})
    assert rollout["score"] == env.step(ROLLOUT_ANSWER)[4]["score"]
    env.close()
    # verl rendered our schemas through the template's tools=, under function names
    assert all(f'"name": "{to_function_name(t)}"' in rollout["prompt"] for t in DEFAULT_TOOLS)
    assert verl_run["out"]["live_after_rollout"] == [], "verl's loop dropped the AgentData: the episode is freed"


# ------------------------------------------------------------------------------ without verl
def test_import_works_without_verl_and_the_tool_class_names_the_fix() -> None:
    assert importlib.util.find_spec("verl") is None, "verl must not be installed in the main environment"
    with pytest.raises(ImportError, match=r"pip install --no-deps verl==0\.9\.1"):
        adapter.SpaceToolsTool  # noqa: B018
    with pytest.raises(ImportError, match="needs verl"):
        from agents.verl.tools import SpaceToolsTool  # noqa: F401


def test_shipped_yaml_is_the_default_tools_config() -> None:
    shipped = yaml.safe_load(adapter.SHIPPED_TOOL_CONFIG.read_text())
    assert shipped == tool_config()
    entries = shipped["tools"]
    assert [e["config"]["tool"] for e in entries] == list(DEFAULT_TOOLS)
    assert {e["class_name"] for e in entries} == {"agents.verl.tools.SpaceToolsTool"}
    assert all(e["tool_schema"]["function"]["name"] == to_function_name(e["config"]["tool"]) for e in entries)


def test_tool_config_names_bad_input() -> None:
    with pytest.raises(ValueError, match=r"unknown tool\(s\) \['sam2.segmnt'\]"):
        tool_config(["sam2.segmnt"])
    with pytest.raises(ValueError, match="differs from tools"):
        tool_config(["roborefer.detect_one"], env_kwargs={"tools": ["vlm.detect_one"]})
    with pytest.raises(ValueError, match="tool_reward must be one of"):
        tool_config(tool_reward="bonus")
    with pytest.raises(ValueError, match="unknown key\\(s\\) \\['toool'\\]"):
        ToolSettings.from_config({"type": "native", "toool": "x"})
    with pytest.raises(ValueError, match="is not among the episode env's tools"):
        ToolSettings.from_config({"type": "native", "tool": "vision_ops.crop"})


def test_tools_kwargs_name_the_item_under_every_function_name() -> None:
    kwargs = tools_kwargs(DEPTH, "test", 4, 9)
    assert list(kwargs) == [to_function_name(t) for t in DEFAULT_TOOLS]
    assert {json.dumps(v, sort_keys=True) for v in kwargs.values()} == {
        json.dumps({"create_kwargs": {"env_id": DEPTH, "split": "test", "index": 4, "seed": 9}}, sort_keys=True)
    }


def test_verl_row_is_the_env_prompt_without_tools_block_and_names_the_episode() -> None:
    row = verl_row(DEPTH, "test", 2, 3)
    env = gym.make(DEPTH, tools_in_system_prompt=False)
    observation, _ = env.reset(seed=3, options={"split": "test", "index": 2})
    env.close()
    system, user = observation
    assert row["prompt"][0] == {"role": "system", "content": system["content"][0]["text"]}
    assert "# Tools" not in row["prompt"][0]["content"]
    question = next(p["text"] for p in user["content"] if p["type"] == "text")
    assert row["prompt"][1] == {"role": "user", "content": "<image>" + question}

    image = np.asarray(Image.open(io.BytesIO(row["images"][0]["bytes"])))
    assert np.array_equal(image, user["content"][0]["image"])
    assert row["extra_info"]["tools_kwargs"] == tools_kwargs(DEPTH, "test", 2, 3)
    assert row["agent_name"] == "tool_agent" and row["data_source"] == DEPTH


def test_compute_score_is_the_env_score_of_the_first_answer() -> None:
    info = {"env_id": DEPTH, "split": "test", "index": 2, "seed": 3}
    scores = []
    for choice in ("A", "B"):
        env = gym.make(DEPTH)
        env.reset(seed=3, options={"split": "test", "index": 2})
        want = env.step(f"<answer>{choice}</answer>")[4]["score"]
        env.close()
        response = f"<think>x</think><tool_call>...</tool_call>\n<answer>{choice}</answer> <answer>junk</answer>"
        scores.append(compute_score(DEPTH, response, None, info))
        assert scores[-1] == want
    assert sorted(scores) == [0.0, 1.0]
    assert compute_score(DEPTH, "no answer here", None, info) == 0.0
    with pytest.raises(ValueError, match=r"needs extra_info \['seed'\]"):
        compute_score(DEPTH, "<answer>A</answer>", None, {"split": "test", "index": 2})
