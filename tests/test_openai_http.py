"""The openai agent's HTTP client: retries, seeded backoff, timeouts and the concurrency cap.

These use a stub HTTP server (a thread on 127.0.0.1 answering what each test scripts), since a real
server cannot be told to fail; the agent's episodes against a real server are in test_openai_agent.py.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import gymnasium as gym
import pytest

import spacetools_env  # noqa: F401  (registers the envs)
from agents.models.openai_compat import OpenAIAgent
from agents.models.openai_http import ChatEndpoint, EndpointError, RetryPolicy
from spacetools_env.rollout import Turn

ENV_ID = "SpaceTools-Synth-RelativeDepth-v0"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Stub:
    """A scripted HTTP server on 127.0.0.1: each POST takes the next (status, headers, delay) of ``script``."""

    def __init__(self, script: list[tuple[int, dict[str, str], float]]) -> None:
        self.script, self.posts, self.in_flight, self.most = list(script), 0, 0, 0
        self.lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with stub.lock:
                    stub.posts += 1
                    status, headers, delay = stub.script.pop(0) if stub.script else (200, {}, 0.0)
                    stub.in_flight += 1
                    stub.most = max(stub.most, stub.in_flight)
                time.sleep(delay)
                with stub.lock:
                    stub.in_flight -= 1
                answer = {"choices": [{"message": {"role": "assistant", "content": body.get("tag", "ok")}}],
                          "usage": {"prompt_tokens": 3, "completion_tokens": 2}} if status == 200 else {"error": "no"}
                data = json.dumps(answer).encode()
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (a timeout test)
                    pass

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True  # a handler still sleeping (a timeout test) does not hold the teardown
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def stub():
    made: list[_Stub] = []

    def make(*script: tuple[int, dict[str, str], float]) -> _Stub:
        made.append(_Stub(list(script)))
        return made[-1]

    yield make
    for s in made:
        s.close()


def _endpoint(url: str, waits: list[float], **kwargs) -> ChatEndpoint:
    retry = RetryPolicy(max_retries=kwargs.pop("max_retries", 3), backoff_s=0.01, max_backoff_s=0.05)
    return ChatEndpoint(url, retry=retry, seed=5, sleep=waits.append, **kwargs)


def test_429_and_5xx_are_retried_with_seeded_backoff_and_counted_in_usage(stub):
    server = stub((503, {}, 0.0), (429, {"Retry-After": "0.03"}, 0.0))
    waits: list[float] = []
    completion = _endpoint(server.url, waits).complete({"tag": "x"}, "ep:0")
    assert completion.attempts == 3 and server.posts == 3
    policy = RetryPolicy(max_retries=3, backoff_s=0.01, max_backoff_s=0.05)
    assert waits == [policy.delay(5, "ep:0", 0), policy.delay(5, "ep:0", 1, retry_after=0.03)]
    assert waits[1] >= 0.03  # at least the server's Retry-After


def test_the_backoff_is_deterministic_capped_and_differs_between_requests():
    policy = RetryPolicy(max_retries=8, backoff_s=1.0, max_backoff_s=5.0, jitter=0.5)
    assert policy.delay(0, "a:0", 3) == policy.delay(0, "a:0", 3)
    assert policy.delay(0, "a:0", 3) != policy.delay(0, "b:0", 3)
    assert all(2.5 <= policy.delay(0, "a:0", k) <= 5.0 for k in range(3, 8))  # capped at max_backoff_s
    assert policy.delay(0, "a:0", 0, retry_after=60.0) == 5.0  # a long Retry-After is capped too


def test_a_400_is_not_retried_and_names_the_status(stub):
    server = stub((400, {}, 0.0))
    with pytest.raises(EndpointError, match=r"answered HTTP 400: '\{\"error\": \"no\"\}' \(not retried\)"):
        _endpoint(server.url, []).complete({}, "k")
    assert server.posts == 1


def test_a_401_names_the_api_key_variable(stub):
    server = stub((401, {}, 0.0))
    with pytest.raises(EndpointError, match="Check the API key: it is read from the environment variable"):
        _endpoint(server.url, []).complete({}, "k")


def test_a_persistent_500_fails_after_max_retries_naming_what_is_retried(stub):
    server = stub(*[(500, {}, 0.0)] * 5)
    with pytest.raises(EndpointError, match=r"failed after 3 attempt\(s\): HTTP 500: .* Retried: HTTP 408/409/429/5xx, "
                                            r"timeouts and connection errors, up to max_retries=2"):
        _endpoint(server.url, [], max_retries=2).complete({}, "k")
    assert server.posts == 3


def test_a_slow_answer_times_out_and_is_retried(stub):
    server = stub((200, {}, 1.0), (200, {}, 1.0))
    with pytest.raises(EndpointError, match=r"failed after 2 attempt\(s\): ReadTimeout"):
        _endpoint(server.url, [], max_retries=1, timeout_s=0.2).complete({}, "k")


def test_a_refused_connection_is_retried():
    waits: list[float] = []
    with pytest.raises(EndpointError, match=r"failed after 3 attempt\(s\): ConnectError"):
        _endpoint(f"http://127.0.0.1:{_free_port()}/v1", waits, max_retries=2).complete({}, "k")
    assert len(waits) == 2


def test_a_batch_is_sent_concurrently_at_most_max_concurrency_in_flight_results_in_order(stub):
    server = stub(*[(200, {}, 0.15)] * 6)
    endpoint = _endpoint(server.url, [], max_concurrency=2)
    completions = endpoint.complete_many([{"tag": f"t{k}"} for k in range(6)], [f"e{k}:0" for k in range(6)])
    assert [c.body["choices"][0]["message"]["content"] for c in completions] == [f"t{k}" for k in range(6)]
    assert server.most == 2  # concurrent, and never more than the cap


def test_the_agent_counts_retries_per_episode(stub):
    server = stub((502, {}, 0.0))
    agent = OpenAIAgent(base_url=server.url, model="m", backoff_s=0.0, max_backoff_s=0.0)
    observation, info = gym.make(ENV_ID).reset(seed=0)
    assert agent.act([Turn("e", observation, info)]) == ["ok"]
    assert agent.episode_usage("e") == {"requests": 1, "retries": 1, "prompt_tokens": 3, "completion_tokens": 2}


def test_a_2xx_that_is_not_a_chat_completion_is_not_retried(stub):
    server = stub((201, {}, 0.0))
    with pytest.raises(EndpointError, match=r"answered 2xx with a body that is not a chat completion .* ends in /v1"):
        _endpoint(server.url, []).complete({}, "k")
    assert server.posts == 1


def test_an_episode_id_reused_without_end_episode_starts_a_fresh_episode(stub):
    from spacetools_env.rollout import agent_policy, rollout

    server = stub()
    agent = OpenAIAgent(base_url=server.url, model="m")
    env = gym.make(ENV_ID, max_turns=2)
    for seed in (0, 1):  # rollout() never calls end_episode; the id "0" is the same both times
        traj = rollout(env, agent_policy(agent), seed=seed)
        assert agent.episode_usage("0")["requests"] == traj.turns == 2
