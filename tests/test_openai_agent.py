"""The ``openai`` agent against a real OpenAI-compatible server: episodes, protocols, records, options.

The episode tests start ``transformers serve`` (a real server process, ``transformers[serving]``) on
127.0.0.1 serving a tiny random-weight Qwen2.5-VL checkpoint from :mod:`agents.models.tiny`, and play
real episodes through ``gym.make`` and through ``spacetools eval --agent openai``. No canned answers:
only the retry, backoff, timeout and concurrency tests (test_openai_http.py) use a stub server.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import gymnasium as gym
import pytest

import spacetools_env  # noqa: F401  (registers the envs)
from agents.models.openai_compat import OpenAIAgent, manifest_entry
from agents.models.openai_http import ChatEndpoint
from agents.models.openai_messages import DataUrls, action_from_reply, kept_reply, request_messages
from benchmarks.agents import describe_agent
from benchmarks.cli import main
from benchmarks.leaderboard import validate_submission
from benchmarks.leaderboard.actions import called_tools
from spacetools_env.rollout import Turn, agent_policy, rollout
from tool_backends.names import openai_tools, to_function_name

ENV_ID = "SpaceTools-Synth-RelativeDepth-v0"
READY_TIMEOUT_S = 90.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> Path:
    pytest.importorskip("torch")
    from agents.models.tiny import write_checkpoint

    return write_checkpoint("qwen2_5_vl", tmp_path_factory.mktemp("tiny") / "qwen2_5_vl")


@pytest.fixture(scope="module")
def server(checkpoint, tmp_path_factory) -> Iterator[str]:
    """``transformers serve CHECKPOINT`` on a free 127.0.0.1 port; yields its base URL; always terminated."""
    pytest.importorskip("fastapi")
    pytest.importorskip("uvicorn")
    import httpx2

    port = _free_port()
    log = tmp_path_factory.mktemp("serve") / "serve.log"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    command = [sys.executable, "-m", "transformers.cli.transformers", "serve", str(checkpoint), "--host", "127.0.0.1",
               "--port", str(port), "--device", "cpu", "--log-level", "warning"]
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if process.poll() is not None:
                pytest.fail(f"transformers serve exited with {process.returncode}:\n{log.read_text()[-3000:]}")
            try:
                if httpx2.get(f"http://127.0.0.1:{port}/health", timeout=1.0).status_code == 200:
                    break
            except httpx2.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve not ready after {READY_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")
            time.sleep(0.2)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _agent(server: str, checkpoint: Path, **kwargs) -> OpenAIAgent:
    return OpenAIAgent(base_url=server, model=str(checkpoint), max_tokens=12, **kwargs)


# ---------------------------------------------------------------------- a real server
def test_gym_make_episodes_play_through_a_real_server_deterministically(server, checkpoint):
    env = gym.make(ENV_ID, max_turns=2)
    agent = _agent(server, checkpoint)
    played = []
    for seed in (0, 1):
        traj = rollout(env, agent_policy(agent, f"ep{seed}"), seed=seed)
        usage = agent.episode_usage(f"ep{seed}")
        assert traj.terminated or traj.truncated
        assert all(isinstance(a, str) for a in traj.actions)
        assert usage["requests"] == traj.turns and usage["retries"] == 0
        assert usage["prompt_tokens"] > 0 and 0 < usage["completion_tokens"] <= 12 * traj.turns
        played.append(traj.actions)
        agent.end_episode(f"ep{seed}")
    again = rollout(env, agent_policy(agent, "ep0"), seed=0)  # greedy: the same text again
    assert again.actions == played[0]
    agent.close()


def test_the_question_image_reaches_the_model_as_a_data_url(server, checkpoint):
    observation, _ = gym.make(ENV_ID).reset(seed=0)
    messages = request_messages(observation, DataUrls())
    assert messages[0] == {"role": "system", "content": observation[0]["content"][0]["text"]}  # tools block as is
    assert messages[1]["content"][0]["image_url"]["url"].startswith("data:image/png;base64,")
    endpoint = ChatEndpoint(server)
    text_only = [messages[0], {"role": "user", "content": messages[1]["content"][1:]}]
    with_image, without = endpoint.complete_many(
        [{"model": str(checkpoint), "messages": m, "max_tokens": 1} for m in (messages, text_only)], ["a", "b"]
    )
    assert with_image.body["usage"]["prompt_tokens"] > without.body["usage"]["prompt_tokens"]  # image tokens
    endpoint.close()


def test_native_tool_calls_become_the_envs_dict_action_and_replay_to_a_real_server(server, checkpoint):
    env = gym.make(ENV_ID, max_turns=3)
    observation, info = env.reset(seed=0)
    reply = {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_7", "type": "function", "function": {
            "name": to_function_name("roborefer.detect_one"), "arguments": '{"obj_name": "mug", "image_index": 0}'}},
    ]}
    action = action_from_reply(reply, "native")
    assert action["tool_calls"][0]["function"]["name"] == "roborefer__detect_one"
    step_obs, _, _, _, step_info = env.step(action)
    assert [r["name"] for r in step_info["tool_results"]] == ["roborefer.detect_one"]
    conversation = [*observation, {"role": "assistant", "content": [{"type": "text", "text": ""}]}, *step_obs]
    messages = request_messages(conversation, DataUrls(), "native", [kept_reply(reply, 0)])
    assert messages[2]["tool_calls"][0]["id"] == "call_7"
    assert messages[3] == {"role": "tool", "tool_call_id": "call_7", "content": step_obs[0]["content"][0]["text"]}
    endpoint = ChatEndpoint(server)
    body = {"model": str(checkpoint), "messages": messages, "tools": openai_tools(info["tools"]), "max_tokens": 4}
    assert endpoint.complete(body, "native").body["choices"][0]["message"]["role"] == "assistant"
    endpoint.close()


def test_native_protocol_plays_an_episode_with_a_tools_payload(server, checkpoint):
    env = gym.make(ENV_ID, max_turns=2)
    agent = _agent(server, checkpoint, protocol="native")
    traj = rollout(env, agent_policy(agent, "n0"), seed=0)
    assert agent.episode_usage("n0")["requests"] == traj.turns
    body = agent._body(Turn("n0", traj.messages[:2], traj.info), agent.episodes["n0"], 0)
    assert [t["function"]["name"] for t in body["tools"]] == [to_function_name(t["function"]["name"])
                                                             for t in traj.info["tools"]]
    agent.close()


def test_spacetools_eval_agent_openai_records_usage_validates_and_never_records_the_key(
    server, checkpoint, tmp_path, monkeypatch
):
    secret = "sk-test-0123456789-do-not-record"
    monkeypatch.setenv("SPACETOOLS_TEST_API_KEY", secret)
    kwargs = {"base_url": server, "model": str(checkpoint), "max_tokens": 12, "api_key_env": "SPACETOOLS_TEST_API_KEY"}
    out = tmp_path / "run"
    code = main(["eval", "--agent", "openai", "--agent-kwargs", json.dumps(kwargs), "--suite", ENV_ID,
                 "--episodes", "2", "--batch-size", "2", "--env-kwargs", '{"max_turns": 2}', "--out", str(out),
                 "--no-progress"])
    assert code == 0
    records = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    assert len(records) == 2
    for record in records:
        timing = record["timing"]
        assert timing["agent_requests"] == record["turns"] and timing["agent_retries"] == 0
        assert timing["agent_prompt_tokens"] > 0 and isinstance(timing["agent_completion_tokens"], int)
    summary = json.loads((out / "summary.json").read_text())  # this run's usage, summed
    assert summary["timing"]["agent_prompt_tokens"] == sum(r["timing"]["agent_prompt_tokens"] for r in records)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["agent"]["model"] == describe_agent("openai", kwargs) == OpenAIAgent(**kwargs).describe()
    assert manifest["agent"]["model"]["api_key_env"] == "SPACETOOLS_TEST_API_KEY"
    for path in out.iterdir():
        assert secret not in path.read_text(), path
    meta = {"model": "tiny", "agent": "openai", "tools": called_tools(out), "contact": "team@example.org"}
    (out / "submission.json").write_text(json.dumps(meta))
    report = validate_submission(out)
    assert report.ok, report.reasons()


# ---------------------------------------------------------------------- options
def test_an_api_key_option_is_refused_naming_the_environment_variable():
    with pytest.raises(ValueError, match=r"takes no api_key option .* name it with api_key_env"):
        manifest_entry(base_url="http://127.0.0.1:1/v1", model="m", api_key="sk-1")


def test_the_cli_refuses_an_api_key_option_before_writing_anything(tmp_path, capsys):
    kwargs = {"base_url": "http://127.0.0.1:1/v1", "model": "m", "api_key": "sk-never-written"}
    assert _eval(tmp_path / "run", kwargs) == 2
    assert "takes no api_key option" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_bad_options_are_named_before_any_request():
    with pytest.raises(ValueError, match='needs "base_url" and "model"'):
        manifest_entry(model="m")
    with pytest.raises(ValueError, match=r"base_url must be an http:// or https:// URL .* got 'localhost:8000'"):
        manifest_entry(base_url="localhost:8000", model="m")
    with pytest.raises(ValueError, match=r"unknown openai agent option\(s\) \['temprature'\]"):
        manifest_entry(base_url="http://127.0.0.1:1/v1", model="m", temprature=0.5)
    with pytest.raises(ValueError, match="protocol must be one of \\['text', 'native'\\], got 'json'"):
        manifest_entry(base_url="http://127.0.0.1:1/v1", model="m", protocol="json")
    with pytest.raises(ValueError, match="max_concurrency must be a positive integer, got 0"):
        manifest_entry(base_url="http://127.0.0.1:1/v1", model="m", max_concurrency=0)


def test_the_manifest_drops_credentials_in_the_url():
    entry = manifest_entry(base_url="https://user:pw@api.example.org/v1", model="m")
    assert entry["base_url"] == "https://api.example.org/v1"


def _eval(out: Path, kwargs: dict, *extra: str) -> int:
    return main(["eval", "--agent", "openai", "--agent-kwargs", json.dumps(kwargs), "--suite", ENV_ID, "--episodes",
                 "2", "--env-kwargs", '{"max_turns": 2}', "--out", str(out), "--no-progress", *extra])


def test_records_at_batch_size_2_equal_one_at_a_time_but_for_timing(server, checkpoint, tmp_path):
    kwargs = {"base_url": server, "model": str(checkpoint), "max_tokens": 12}
    runs = []
    for size in ("1", "2"):
        assert _eval(tmp_path / size, kwargs, "--batch-size", size) == 0
        lines = (tmp_path / size / "results.jsonl").read_text().splitlines()
        runs.append(sorted(json.dumps({k: v for k, v in json.loads(x).items() if k != "timing"}) for x in lines))
    assert runs[0] == runs[1]


def test_an_unreachable_endpoint_fails_the_episodes_naming_it_and_a_resume_retries_them(tmp_path, capsys):
    url = f"http://127.0.0.1:{_free_port()}/v1"
    kwargs = {"base_url": url, "model": "m", "max_retries": 1, "backoff_s": 0.0}
    assert _eval(tmp_path / "run", kwargs, "--batch-size", "2") == 1
    printed = capsys.readouterr()
    assert f"POST {url}/chat/completions failed after 2 attempt(s): ConnectError" in printed.out + printed.err
    assert (tmp_path / "run" / "results.jsonl").read_text() == ""


def test_the_example_evaluates_the_endpoint_and_sums_its_usage(server, checkpoint, tmp_path):
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "examples" / "openai_endpoint_eval.py"
    spec = importlib.util.spec_from_file_location("openai_endpoint_eval", path)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    totals = example.main(["--base-url", server, "--model", str(checkpoint), "--out", str(tmp_path / "run"),
                           "--episodes", "1", "--max-tokens", "8"])
    assert totals["agent_requests"] >= 1 and totals["agent_prompt_tokens"] > 0


def test_a_lone_surrogate_from_the_endpoint_becomes_u_fffd_in_the_action():
    assert action_from_reply({"content": "a\ud800b <answer>(A)</answer> after"}) == "a\ufffdb <answer>(A)</answer>"
    action = action_from_reply({"tool_calls": [{"id": "x", "function": {"name": "vlm__detect_one\udc00",
                                                                       "arguments": '{"obj_name": "\ud83d"}'}}]},
                               "native")
    function = action["tool_calls"][0]["function"]
    assert function == {"name": "vlm__detect_one\ufffd", "arguments": '{"obj_name": "\ufffd"}'}
    json.dumps(action, ensure_ascii=False).encode("utf-8")  # a record can hold it


def test_seed_null_sends_no_seed_field():
    agent = OpenAIAgent(base_url="http://127.0.0.1:1/v1", model="m", seed=None)
    observation, info = gym.make(ENV_ID).reset(seed=0)
    assert "seed" not in agent._body(Turn("e", observation, info), _new_episode(), 0)
    assert "seed" in OpenAIAgent(base_url="http://127.0.0.1:1/v1", model="m")._body(
        Turn("e", observation, info), _new_episode(), 0)


def _new_episode():
    from agents.models.openai_compat import _Episode

    return _Episode()


def test_native_replay_answers_every_call_once_errors_included_and_sends_tool_images(server, checkpoint):
    from tool_backends import DEFAULT_TOOLS, IMAGE_TOOLS

    env = gym.make(ENV_ID, tools=[*DEFAULT_TOOLS, *IMAGE_TOOLS], tool_images=True, max_turns=3)
    observation, info = env.reset(seed=0)
    crop = '{"x1": 0.0, "y1": 0.0, "x2": 0.5, "y2": 0.5, "image_index": 0}'
    reply = {"role": "assistant", "content": "", "tool_calls": [
        {"id": "a", "type": "function", "function": {"name": "vision_ops__crop", "arguments": crop}},
        {"id": "b", "type": "function", "function": {"name": "vision_ops__crop", "arguments": "{not json"}},
    ]}
    step_obs, *_ = env.step(action_from_reply(reply, "native"))
    assert [m["name"] for m in step_obs] == ["invalid_action", "vision_ops.crop"]
    conversation = [*observation, {"role": "assistant", "content": [{"type": "text", "text": ""}]}, *step_obs]
    messages = request_messages(conversation, DataUrls(), "native", [kept_reply(reply, 0)])
    tool_turns = [m for m in messages if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_turns] == ["a", "b"]
    assert tool_turns[0]["content"].startswith("Cropped the region (0.000, 0.000)-(0.500, 0.500) of image 0")
    assert messages[2]["tool_calls"][1]["function"]["arguments"] == "{}"  # bad JSON replayed as an empty object
    assert tool_turns[1]["content"].startswith("Error: tool call 2")
    assert [p["type"] for p in messages[-1]["content"]] == ["image_url"] and messages[-1]["role"] == "user"
    text = request_messages(conversation, DataUrls())  # the text protocol: one user turn, image inside the tags
    assert [p["type"] for p in text[-1]["content"]] == ["text", "image_url", "text"]
    assert text[-1]["content"][0]["text"].startswith("<tool_response>\nError: tool call 2")
    endpoint = ChatEndpoint(server)
    bodies = [{"model": str(checkpoint), "messages": messages, "tools": openai_tools(info["tools"]), "max_tokens": 2},
              {"model": str(checkpoint), "messages": text, "max_tokens": 2}]
    assert all(c.body["usage"]["prompt_tokens"] > 0 for c in endpoint.complete_many(bodies, ["n", "t"]))
    endpoint.close()


def test_batch_rollout_reads_each_episodes_usage_before_end_episode():
    from spacetools_env.batch_rollout import BatchRollout, WorkItem

    class Counting:
        """Answers at once; reports one request per turn, as an API agent would."""

        def __init__(self) -> None:
            self.requests: dict[str, int] = {}

        def act(self, turns):
            for turn in turns:
                self.requests[turn.episode_id] = self.requests.get(turn.episode_id, 0) + 1
            return ["<answer>(A)</answer>"] * len(turns)

        def episode_usage(self, episode_id):
            return {"requests": self.requests[episode_id]}

        def end_episode(self, episode_id):
            self.requests.pop(episode_id)

    agent = Counting()
    driver = BatchRollout(agent, lambda key: gym.make(key), batch_size=2)
    results = list(driver.play(WorkItem(f"e{k}", ENV_ID, seed=k) for k in range(3)))
    driver.close()
    assert [r.usage for r in results] == [{"requests": 1}] * 3 and agent.requests == {}


def test_the_text_protocol_renders_as_the_hf_agent_renders_the_conversation(checkpoint):
    from transformers import AutoTokenizer

    from agents.models.render import template_messages
    from agents.models.templates import load_template
    from tool_backends import DEFAULT_TOOLS, IMAGE_TOOLS

    env = gym.make(ENV_ID, tools=[*DEFAULT_TOOLS, *IMAGE_TOOLS], tool_images=True, max_turns=3)
    conversation, _ = env.reset(seed=0)
    action = ('<tool_call>{"name": "vision_ops.crop", "arguments": {"x1": 0, "y1": 0, "x2": 0.5, "y2": 0.5, '
              '"image_index": 0}}</tool_call><tool_call>{"name": "roborefer.detect_one", "arguments": {}}</tool_call>')
    observation, *_ = env.step(action)
    conversation = [*conversation, {"role": "assistant", "content": [{"type": "text", "text": action}]}, *observation]
    tokenizer = AutoTokenizer.from_pretrained(checkpoint)
    template = load_template("qwen2_5_vl")

    def render(messages):
        return tokenizer.apply_chat_template(messages, chat_template=template, tokenize=False,
                                             add_generation_prompt=True)

    sent = render(request_messages(conversation, DataUrls()))
    assert sent == render(template_messages(conversation)[0])  # byte for byte, the prompt the hf agent gives
    assert sent.count("<tool_response>") == 2 and sent.count("<|image_pad|>") == 2  # question image + the crop
