"""The HTTP client every connector uses: one keep-alive httpx client per system, led by a
rate governor, retrying only what is safe to retry.

- 2xx (and any status in `ok`) returns an `Answer`; any other 4xx but 429 raises `ApiError`.
- 429: retried (the request was refused, so resending is safe even for a create), after the
  wait the answer asks for; the governor raises `LimitReached` when the limit is a daily one.
- 5xx, timeouts, dropped connections: retried when the request is idempotent; otherwise the
  request may have been applied, so `UnknownOutcome` is raised at once (never a blind resend).
  Errors that prove nothing was sent (connecting failed) are retried for every request.
- Retries stop after `RetryPolicy.max_attempts` sends or `max_elapsed` seconds with an
  `ApiError` (last status met) or `UnknownOutcome` (no answer): never silently.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx

from syncmap.runtime.api_errors import ApiError, LimitReached, UnknownOutcome, describe_body
from syncmap.runtime.governor import Governor
from syncmap.runtime.retry import RetryPolicy

__all__ = ["Answer", "ApiClient", "ApiError", "ApiStats", "LimitReached", "RetryPolicy", "UnknownOutcome"]

IDEMPOTENT = frozenset({"GET", "HEAD", "PUT", "DELETE", "PATCH"})
# Raised before a byte of the request left: safe to resend whatever the method.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)

BACKOFF_429, BACKOFF_5XX, BACKOFF_NETWORK = "429 backoff", "5xx backoff", "network backoff"


@dataclass
class ApiStats:
    requests: int = 0  # sends, retries included
    retries: int = 0
    rate_limited: int = 0  # 429s met
    server_errors: int = 0
    network_errors: int = 0
    tokens_spent: int = 0  # Pipedrive tokens of the answers the API charges (not 429, not 5xx)
    waits: dict[str, float] = field(default_factory=dict)  # limit or backoff name -> seconds waited

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["waits"] = {name: round(seconds, 3) for name, seconds in sorted(self.waits.items())}
        return data


@dataclass(frozen=True)
class Answer:
    status: int
    body: Any  # parsed JSON; the text when it is not JSON; None for 204 or an empty body
    headers: Mapping[str, str]


def _body(response: httpx.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def _network_cause(exc: Exception) -> str:
    kind = "timed out" if isinstance(exc, httpx.TimeoutException) else "connection failed"
    detail = " ".join(str(exc).split())
    return f"{kind}: {type(exc).__name__}" + (f": {detail}" if detail else "")


@dataclass(frozen=True)
class _Retryable:
    """A failed send that may be retried: the status and body met, or (status 0) a network
    error's cause, and which backoff its wait counts as."""

    status: int
    body: Any
    headers: Mapping[str, str]
    backoff: str
    sent: bool = False  # a network error after the request may have left


class ApiClient:
    def __init__(
        self,
        system: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
        governor: Governor,
        retry: RetryPolicy = RetryPolicy(),
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 30.0,
    ) -> None:
        self.system = system
        self.governor = governor
        self.retry = retry
        # the stats share the governor's waits: one account of every second spent waiting
        self.stats = ApiStats(waits=governor.waits)
        self._http = httpx.AsyncClient(
            base_url=base_url, headers=dict(headers or {}), params=dict(params or {}), transport=transport, timeout=timeout
        )

    async def __aenter__(self) -> ApiClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    def _give_up(self, method: str, path: str, last: _Retryable, note: str) -> Exception:
        if last.status == 0 and last.sent:
            return UnknownOutcome(self.system, method, path, f"{last.body}; {note}")
        return ApiError(self.system, method, path, last.status, last.body, note, headers=last.headers)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        idempotent: bool | None = None,
        ok: Collection[int] = (),
        retry: RetryPolicy | None = None,
    ) -> Answer:
        """One request, retried as `retry` (default: the client's policy) allows."""
        policy = retry or self.retry
        method = method.upper()
        safe = method in IDEMPOTENT if idempotent is None else idempotent
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            await self.governor.acquire(method, path)
            self.stats.requests += 1
            if attempt > 1:
                self.stats.retries += 1
            outcome = await self._send(method, path, params, json, safe, ok)
            if isinstance(outcome, Answer):
                return outcome
            elapsed = time.monotonic() - started
            if attempt >= policy.max_attempts:
                raise self._give_up(method, path, outcome, f"gave up after {attempt} attempts in {elapsed:.1f} s")
            delay = self.governor.retry_delay(attempt, outcome.status or None, outcome.headers, policy=policy)
            if elapsed + delay > policy.max_elapsed:
                raise self._give_up(
                    method,
                    path,
                    outcome,
                    f"gave up after {attempt} attempts: the next would start after {policy.max_elapsed:g} s (RetryPolicy.max_elapsed)",
                )
            self.stats.waits[outcome.backoff] = self.stats.waits.get(outcome.backoff, 0.0) + delay
            await asyncio.sleep(delay)

    async def _send(
        self, method: str, path: str, params: Mapping[str, Any] | None, json: Any, safe: bool, ok: Collection[int]
    ) -> Answer | _Retryable:
        """One send: the answer, what to retry, or the exception that ends the request."""
        try:
            response = await self._http.request(method, path, params=params, json=json)
        except httpx.TransportError as exc:
            self.governor.observe(method, path, 0, {})
            self.stats.network_errors += 1
            cause = _network_cause(exc)
            sent = not isinstance(exc, NOT_SENT)
            if sent and not safe:
                raise UnknownOutcome(self.system, method, path, cause) from exc
            return _Retryable(0, cause, {}, BACKOFF_NETWORK, sent)
        except BaseException:
            self.governor.observe(method, path, 0, {})  # cancelled: give the slot back
            raise
        status, body = response.status_code, _body(response)
        if status == 429:
            self.stats.rate_limited += 1
        elif status >= 500:
            self.stats.server_errors += 1
        else:
            self.stats.tokens_spent += self.governor.cost(method, path)
        self.governor.observe(method, path, status, response.headers, body=body)  # may raise LimitReached
        if 200 <= status < 300 or status in ok:
            return Answer(status, body, response.headers)
        if status == 429:
            return _Retryable(status, body, response.headers, BACKOFF_429)
        if status < 500:
            raise ApiError(self.system, method, path, status, body)
        if not safe:
            raise UnknownOutcome(self.system, method, path, f"HTTP {status}: {describe_body(body)}")
        return _Retryable(status, body, response.headers, BACKOFF_5XX)
