"""An OpenAI-compatible chat-completions endpoint as a batched agent (vLLM, SGLang, transformers serve, APIs).

``spacetools eval --agent openai --agent-kwargs '{"base_url": "http://127.0.0.1:8000/v1", "model": "NAME"}'``
or, in Python::

    agent = OpenAIAgent(base_url="http://127.0.0.1:8000/v1", model="Qwen/Qwen2.5-VL-7B-Instruct")
    traj = rollout(env, agent_policy(agent, "ep-0"), seed=0)

Each ``act`` sends one request per turn, all of a batch's turns at once (at most ``max_concurrency``
in flight; actions come back in order). The conversation goes as :mod:`agents.models.openai_messages`
writes it: the paper's text protocol by default (the env's system prompt with its tools block as is;
the assistant's text is the action) or ``protocol="native"`` function calling (a ``tools`` payload of
function names; the response's ``tool_calls`` become the env's dict action). Images are PNG data URLs.

The API key is read from the environment variable named by ``api_key_env`` (``OPENAI_API_KEY``), never
passed as an option, so it is never in a manifest or a record; unset, no ``Authorization`` header is
sent (local servers need none). Timeouts and retries: :mod:`agents.models.openai_http` (429, 5xx,
timeouts and connection errors are retried with seeded backoff; a request that fails for good raises
:class:`~agents.models.openai_http.EndpointError`, which fails the batch's episodes, so a resume
replays them, rather than scoring an outage as wrong answers).

Decoding: ``temperature=0`` by default; each request carries a ``seed`` drawn from ``(seed, episode id,
turn)`` for servers that honour it. A turn's text is cut right after ``</answer>``. Token usage (the
endpoint's ``usage``) is summed per episode: :meth:`OpenAIAgent.episode_usage`, which the eval records
keep under ``timing``. No-tool mode: make the env with ``tools=[]``; no option is needed here.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from agents.models.openai_http import ChatEndpoint, RetryPolicy, check_client_options
from agents.models.openai_messages import PROTOCOLS, DataUrls, action_from_reply, kept_reply, request_messages
from spacetools_env.rollout import Turn
from tool_backends.names import openai_tools

USAGE_KEYS = ("requests", "retries", "prompt_tokens", "completion_tokens")
NEEDS = (
    'the openai agent needs "base_url" and "model", e.g. --agent-kwargs '
    '\'{"base_url": "http://127.0.0.1:8000/v1", "model": "NAME"}\''
)


@dataclass(frozen=True)
class RequestSettings:
    """What each request asks for; recorded in the eval manifest.

    Attributes:
        protocol: ``text`` (the paper's) or ``native`` (function calling).
        temperature: Sampling temperature (0: greedy).
        top_p: Nucleus mass, or None to leave the server's default.
        max_tokens: New tokens per turn at most, or None for the server's default.
        seed: Base of each request's ``seed`` (and of the retry jitter); None sends no ``seed`` (for an
            endpoint that refuses the field) and seeds the jitter with 0.
        stop: Stop strings sent as is (the server drops them from the text), or None.
        extra_body: More request fields, sent as is (e.g. vLLM's ``top_k``, ``chat_template_kwargs``).
    """

    protocol: str = "text"
    temperature: float = 0.0
    top_p: float | None = None
    max_tokens: int | None = None
    seed: int | None = 0
    stop: tuple[str, ...] | None = None
    extra_body: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {list(PROTOCOLS)}, got {self.protocol!r}")
        if not isinstance(self.temperature, int | float) or not self.temperature >= 0:
            raise ValueError(f"temperature must be a number >= 0, got {self.temperature!r}")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1] or null, got {self.top_p!r}")
        if self.max_tokens is not None and (not isinstance(self.max_tokens, int) or self.max_tokens < 1):
            raise ValueError(f"max_tokens must be a positive integer or null, got {self.max_tokens!r}")
        if self.seed is not None and (not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0):
            raise ValueError(f"seed must be a non-negative integer or null, got {self.seed!r}")
        if not isinstance(self.extra_body, dict):
            raise ValueError(f"extra_body must be a JSON object, got {type(self.extra_body).__name__}")
        reserved = sorted({"model", "messages", "tools", "seed"} & set(self.extra_body))
        if reserved:
            raise ValueError(f"extra_body may not set {reserved}: the agent writes them")


@dataclass
class _Episode:
    images: DataUrls = field(default_factory=DataUrls)
    replies: list[dict[str, Any]] = field(default_factory=list)
    usage: dict[str, int] = field(default_factory=lambda: dict.fromkeys(USAGE_KEYS, 0))


class OpenAIAgent:
    """A chat-completions endpoint as a batched agent (see the module docstring).

    Args:
        base_url: The API root, e.g. ``http://127.0.0.1:8000/v1``.
        model: The ``model`` field of each request (for ``transformers serve``: the checkpoint folder).
        api_key_env: The environment variable holding the API key (unset: no key is sent).
        timeout_s: Seconds to wait for one answer.
        connect_timeout_s: Seconds to wait for a connection.
        max_concurrency: Requests in flight at most.
        max_retries: Retries of a failed request (see :mod:`agents.models.openai_http`).
        backoff_s: Delay before the first retry (doubling).
        max_backoff_s: Cap of one delay.
        **settings: :class:`RequestSettings` fields.
    """

    name = "openai"

    def __init__(
        self,
        base_url: str | None = None,
        model: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        timeout_s: float = 600.0,
        connect_timeout_s: float = 10.0,
        max_concurrency: int = 8,
        max_retries: int = 4,
        backoff_s: float = 0.5,
        max_backoff_s: float = 30.0,
        **settings: Any,
    ) -> None:
        entry = manifest_entry(
            base_url=base_url, model=model, api_key_env=api_key_env, timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s, max_concurrency=max_concurrency, max_retries=max_retries,
            backoff_s=backoff_s, max_backoff_s=max_backoff_s, **settings,
        )
        self.model, self.settings, self._entry = str(model), _settings(settings), entry
        self.endpoint = ChatEndpoint(
            str(base_url),
            api_key=os.environ.get(api_key_env) or None,
            timeout_s=timeout_s,
            connect_timeout_s=connect_timeout_s,
            max_concurrency=max_concurrency,
            retry=RetryPolicy(max_retries=max_retries, backoff_s=backoff_s, max_backoff_s=max_backoff_s),
            seed=self.settings.seed or 0,
        )
        self.episodes: dict[str, _Episode] = {}

    @staticmethod
    def manifest_entry(**kwargs: Any) -> dict[str, Any]:
        """The manifest's record of an agent built with ``kwargs`` (:func:`manifest_entry`); nothing is sent."""
        return manifest_entry(**kwargs)

    # ------------------------------------------------------------------ the agent protocol
    def act(self, turns: Sequence[Turn]) -> list[Any]:
        """One action per turn: the turns' requests sent together (at most ``max_concurrency`` at once)."""
        bodies, keys = [], []
        for turn in turns:
            episode = self.episodes.setdefault(turn.episode_id, _Episode())
            if episode.replies and not any(m["role"] == "assistant" for m in turn.messages):
                # a new episode under an id never ended (rollout() with agent_policy does not call end_episode)
                episode = self.episodes[turn.episode_id] = _Episode()
            number = len(episode.replies)
            bodies.append(self._body(turn, episode, number))
            keys.append(f"{turn.episode_id}:{number}")
        completions = self.endpoint.complete_many(bodies, keys)
        actions = []
        for turn, completion in zip(turns, completions, strict=True):
            episode = self.episodes[turn.episode_id]
            reply = completion.body["choices"][0].get("message") or {}
            episode.replies.append(kept_reply(reply, len(episode.replies)))
            _add_usage(episode.usage, completion.body.get("usage"), completion.attempts)
            actions.append(action_from_reply(reply, self.settings.protocol))
        return actions

    def end_episode(self, episode_id: str) -> None:
        """Forget the episode's images, replies and usage."""
        self.episodes.pop(episode_id, None)

    def episode_usage(self, episode_id: str) -> dict[str, int]:
        """Requests, retries and the endpoint's prompt and completion tokens summed over the episode so far."""
        episode = self.episodes.get(episode_id)
        return dict(episode.usage) if episode is not None else dict.fromkeys(USAGE_KEYS, 0)

    def describe(self) -> dict[str, Any]:
        """The endpoint and settings, for the eval manifest (see :func:`manifest_entry`); never the key."""
        return dict(self._entry)

    def close(self) -> None:
        self.endpoint.close()

    # ------------------------------------------------------------------ one request
    def _body(self, turn: Turn, episode: _Episode, number: int) -> dict[str, Any]:
        s = self.settings
        body: dict[str, Any] = {
            "model": self.model,
            "messages": request_messages(turn.messages, episode.images, s.protocol, episode.replies),
            "temperature": s.temperature,
        }
        if s.seed is not None:
            body["seed"] = _request_seed(s.seed, turn.episode_id, number)
        if s.protocol == "native" and turn.info.get("tools"):
            body["tools"] = openai_tools(turn.info["tools"])
        if s.top_p is not None:
            body["top_p"] = s.top_p
        if s.max_tokens is not None:
            body["max_tokens"] = s.max_tokens
        if s.stop is not None:
            body["stop"] = list(s.stop)
        return {**body, **s.extra_body}


def manifest_entry(**kwargs: Any) -> dict[str, Any]:
    """What the eval manifest records of an ``openai`` agent built with ``kwargs``, without sending anything.

    The endpoint (``base_url`` without any user:password part), the model, the name of the key's
    environment variable (never its value), the client's timeouts, retries and concurrency, and every
    request setting.

    Raises:
        ValueError: a missing ``base_url``/``model``, an ``api_key`` option, or a bad setting.
    """
    options = dict(kwargs)
    if "api_key" in options:
        raise ValueError(
            "the openai agent takes no api_key option (it would be recorded in the run's manifest): put the key in "
            "an environment variable and name it with api_key_env (default OPENAI_API_KEY)"
        )
    base_url, model = options.pop("base_url", None), options.pop("model", None)
    if base_url is None or not isinstance(model, str) or not model:
        raise ValueError(NEEDS)
    client = {
        name: options.pop(name, default)
        for name, default in (
            ("timeout_s", 600.0), ("connect_timeout_s", 10.0), ("max_concurrency", 8), ("max_retries", 4),
            ("backoff_s", 0.5), ("max_backoff_s", 30.0),
        )
    }
    check_client_options(base_url, client["timeout_s"], client["connect_timeout_s"], client["max_concurrency"])
    RetryPolicy(client["max_retries"], client["backoff_s"], client["max_backoff_s"])  # validates
    api_key_env = options.pop("api_key_env", "OPENAI_API_KEY")
    if not isinstance(api_key_env, str) or not api_key_env:
        raise ValueError(f"api_key_env must name an environment variable, got {api_key_env!r}")
    settings = _settings(options)
    return {
        "base_url": _without_credentials(base_url),
        "model": model,
        "api_key_env": api_key_env,
        "client": client,
        "request": {**asdict(settings), "stop": list(settings.stop) if settings.stop is not None else None},
    }


def _settings(options: Mapping[str, Any]) -> RequestSettings:
    known = set(RequestSettings.__dataclass_fields__)
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"unknown openai agent option(s) {unknown}; options: base_url, model, api_key_env, timeout_s, "
            f"connect_timeout_s, max_concurrency, max_retries, backoff_s, max_backoff_s and the request settings "
            f"{sorted(known)}"
        )
    values = dict(options)
    if values.get("stop") is not None:
        stop = values["stop"]
        values["stop"] = (stop,) if isinstance(stop, str) else tuple(str(s) for s in stop)
    return RequestSettings(**values)


def _request_seed(seed: int, episode_id: str, turn: int) -> int:
    return zlib.crc32(f"{seed}:{episode_id}:{turn}".encode()) & 0x7FFFFFFF


def _add_usage(total: dict[str, int], usage: Any, attempts: int) -> None:
    total["requests"] += 1
    total["retries"] += attempts - 1
    if isinstance(usage, Mapping):
        for name in ("prompt_tokens", "completion_tokens"):
            value = usage.get(name)
            if isinstance(value, int) and not isinstance(value, bool):
                total[name] += value


def _without_credentials(url: str) -> str:
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
