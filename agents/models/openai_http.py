"""POSTs to an OpenAI-compatible ``/chat/completions``: timeouts, retries with seeded backoff, a concurrency cap.

Plain ``httpx2`` (already installed with ``transformers``, through ``huggingface_hub``), not the
``openai`` package: the agent needs one POST of JSON and its JSON answer, and the ``openai`` client's
own retries draw their jitter from an unseeded generator, so they would have to be switched off and
written here anyway. What is retried, up to ``max_retries`` times:

- HTTP 408 (request timeout), 409 (conflict), 429 (rate limit) and every 5xx status;
- a timeout (connect, read, write, or waiting for a pooled connection) and a connection error
  (refused, reset, closed mid-answer).

Not retried (they would fail again): every other 4xx (400 a bad request or a prompt over the
context, 401/403 a missing or wrong key, 404 a wrong ``base_url`` or model, 422), a 2xx whose body is
not a chat completion, and a URL that is not ``http(s)://``. The delay before retry ``k`` (from 0) is
``min(max_backoff_s, backoff_s * 2**k)``, less a jitter fraction drawn from a generator seeded by
``(seed, request key, k)`` (so two runs wait alike, and concurrent requests do not retry in step),
and at least the server's ``Retry-After`` seconds (capped by ``max_backoff_s`` too).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

RETRIED_STATUS = frozenset({408, 409, 429})
"""4xx statuses that are retried; every 5xx is retried too."""


class EndpointError(RuntimeError):
    """The endpoint failed a request for good; the message names the URL, the answer, the attempts and the fix."""


@dataclass(frozen=True)
class RetryPolicy:
    """How failed requests are retried (see the module docstring for what is).

    Attributes:
        max_retries: Retries after the first attempt (0: none).
        backoff_s: Delay before the first retry; it doubles at each retry.
        max_backoff_s: Cap of one delay (a ``Retry-After`` longer than this is capped too).
        jitter: Fraction of each delay drawn at random (seeded): a delay ``d`` becomes ``d * (1 - jitter * u)``.
    """

    max_retries: int = 4
    backoff_s: float = 0.5
    max_backoff_s: float = 30.0
    jitter: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.max_retries, int) or isinstance(self.max_retries, bool) or self.max_retries < 0:
            raise ValueError(f"max_retries must be a non-negative integer, got {self.max_retries!r}")
        if not self.backoff_s >= 0 or not self.max_backoff_s >= 0:
            raise ValueError(
                f"backoff_s and max_backoff_s must be >= 0, got {self.backoff_s!r} and {self.max_backoff_s!r}"
            )
        if not 0 <= self.jitter <= 1:
            raise ValueError(f"jitter must be in [0, 1], got {self.jitter!r}")

    def delay(self, seed: int, key: str, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry ``retry`` (from 0) of request ``key``; the same for the same arguments."""
        base = min(self.max_backoff_s, self.backoff_s * 2**retry)
        u = random.Random(f"{seed}:{key}:{retry}").random()  # str seeds hash with sha512: same in every process
        wait = base * (1 - self.jitter * u)
        if retry_after is not None:
            wait = max(wait, min(self.max_backoff_s, retry_after))
        return wait


@dataclass(frozen=True)
class Completion:
    """One answered request: the parsed JSON body and how many attempts it took."""

    body: dict[str, Any]
    attempts: int


class ChatEndpoint:
    """An OpenAI-compatible chat-completions endpoint, called by many threads at once (at most ``max_concurrency``).

    Args:
        base_url: The API root, e.g. ``http://127.0.0.1:8000/v1`` (``/chat/completions`` is appended).
        api_key: Sent as ``Authorization: Bearer``; None sends no header (local servers need none).
        timeout_s: Seconds to wait for the answer (the read timeout: a long generation needs a long one).
        connect_timeout_s: Seconds to wait for a connection.
        max_concurrency: Requests in flight at most.
        retry: The retry policy.
        seed: Seeds the backoff jitter.
        sleep: How to wait between attempts (tests pass a recorder).
    """

    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        timeout_s: float = 600.0,
        connect_timeout_s: float = 10.0,
        max_concurrency: int = 8,
        retry: RetryPolicy | None = None,
        seed: int = 0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import httpx2

        check_client_options(base_url, timeout_s, connect_timeout_s, max_concurrency)
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.retry = retry or RetryPolicy()
        self.seed, self.sleep, self.max_concurrency = seed, sleep, max_concurrency
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self._client = httpx2.Client(
            headers=headers,
            timeout=httpx2.Timeout(float(timeout_s), connect=float(connect_timeout_s)),
            limits=httpx2.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency),
        )

    def complete_many(self, bodies: Sequence[Mapping[str, Any]], keys: Sequence[str]) -> list[Completion]:
        """Each request body answered, in order, at most ``max_concurrency`` in flight; ``keys`` seed the jitter.

        Raises:
            EndpointError: the first request (in order) that failed for good.
        """
        if len(bodies) <= 1 or self.max_concurrency == 1:
            return [self.complete(body, key) for body, key in zip(bodies, keys, strict=True)]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(bodies))) as pool:
            return list(pool.map(self.complete, bodies, keys))

    def complete(self, body: Mapping[str, Any], key: str) -> Completion:
        """One request, retried as the policy says.

        Raises:
            EndpointError: naming the URL, the last failure, the attempts and what to check.
        """
        import httpx2

        retry = 0
        while True:
            retry_after: float | None = None
            try:
                response = self._client.post(self.url, json=body)
            except (httpx2.TimeoutException, httpx2.NetworkError, httpx2.RemoteProtocolError) as exc:
                failure = f"{type(exc).__name__}: {exc}"
            except httpx2.HTTPError as exc:  # an unsupported URL, a local protocol error: the same again
                raise EndpointError(f"POST {self.url} failed ({type(exc).__name__}: {exc}); not retried") from None
            else:
                if response.status_code < 300:
                    return Completion(_completion_json(self.url, response.text), retry + 1)
                failure = f"HTTP {response.status_code}: {_snippet(response.text)}"
                if not _retried(response.status_code):
                    hint = _hint(response.status_code)
                    raise EndpointError(f"POST {self.url} answered {failure} (not retried). {hint}")
                retry_after = _retry_after(response.headers.get("retry-after"))
            if retry >= self.retry.max_retries:
                raise EndpointError(
                    f"POST {self.url} failed after {retry + 1} attempt(s): {failure}. Retried: HTTP 408/409/429/5xx, "
                    f"timeouts and connection errors, up to max_retries={self.retry.max_retries}. Check that the "
                    "server is up and reachable, or raise max_retries / timeout_s"
                )
            self.sleep(self.retry.delay(self.seed, key, retry, retry_after))
            retry += 1

    def close(self) -> None:
        self._client.close()


def check_client_options(base_url: Any, timeout_s: Any, connect_timeout_s: Any, max_concurrency: Any) -> None:
    """Refuse a ``base_url`` that is not http(s), a timeout that is not > 0, a concurrency that is not >= 1.

    Raises:
        ValueError: naming the option, the value and what it must be.
    """
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ValueError(
            f"base_url must be an http:// or https:// URL such as 'http://127.0.0.1:8000/v1', got {base_url!r}"
        )
    if not isinstance(max_concurrency, int) or isinstance(max_concurrency, bool) or max_concurrency < 1:
        raise ValueError(f"max_concurrency must be a positive integer, got {max_concurrency!r}")
    for name, value in (("timeout_s", timeout_s), ("connect_timeout_s", connect_timeout_s)):
        if not isinstance(value, int | float) or isinstance(value, bool) or not value > 0:
            raise ValueError(f"{name} must be a number of seconds > 0, got {value!r}")


def _retried(status: int) -> bool:
    return status in RETRIED_STATUS or status >= 500


def _retry_after(value: str | None) -> float | None:
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:  # an HTTP date: use the policy's own delay
        return None


def _completion_json(url: str, text: str) -> dict[str, Any]:
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    choices = body.get("choices") if isinstance(body, dict) else None
    first = choices[0] if isinstance(choices, list) and choices else None
    if not isinstance(first, dict) or not isinstance(first.get("message"), dict):
        raise EndpointError(
            f"POST {url} answered 2xx with a body that is not a chat completion (no choices[0].message object): "
            f"{_snippet(text)}. "
            "Check that base_url is the API root of an OpenAI-compatible server (it usually ends in /v1)"
        )
    return body


def _hint(status: int) -> str:
    if status in (401, 403):
        return "Check the API key: it is read from the environment variable named by api_key_env"
    if status == 404:
        return "Check base_url (the API root, usually ending in /v1) and that the server serves the model"
    return "The server refused the request as sent: see its message"


def _snippet(text: str, limit: int = 300) -> str:
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 3] + "...")
