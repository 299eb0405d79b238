"""When to try a failed request again: the retry policy and the delays it gives.

Pure arithmetic over the attempt number, the answer's headers and an injected random source,
shared by every governor.

Jitter: the delay for retry n is drawn uniformly from [(1 - jitter) * d, d], where d is the
exponential ceiling min(max_delay, base_delay * 2^(n-1)). Full jitter (jitter = 1) spreads many
clients best, but syncmap is one client per token, and Pipedrive bans tokens that keep sending
after 429s: keeping a floor of (1 - jitter) * d guarantees the wait really grows while the
jitter still keeps concurrent tasks from retrying in lockstep.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

__all__ = ["RetryPolicy", "backoff", "header_delay", "lower_headers", "retry_delay"]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8  # sends of one request, the first included
    base_delay: float = 0.5  # seconds before the first retry (divided by the governor's time scale)
    max_delay: float = 60.0
    jitter: float = 0.5  # fraction of the delay drawn at random (0: none, 1: full jitter)
    max_elapsed: float = 900.0  # real seconds one request may take, retries included

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if min(self.base_delay, self.max_delay, self.max_elapsed) < 0:
            raise ValueError("retry delays must not be negative")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter must be between 0 and 1")


def lower_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {key.lower(): value for key, value in headers.items()}


def backoff(attempt: int, policy: RetryPolicy, rng: Callable[[], float]) -> float:
    """Seconds before retry number `attempt` (1 = the first retry), jittered."""
    ceiling = min(policy.max_delay, policy.base_delay * 2.0 ** min(max(attempt - 1, 0), 60))
    return ceiling * (1.0 - policy.jitter * rng())


def header_delay(headers: Mapping[str, str], *, wall: Callable[[], float] = time.time) -> float | None:
    """Seconds the server asked us to wait: `Retry-After` (seconds or an HTTP date), else
    Pipedrive's `x-ratelimit-reset` (seconds until the burst window ends). None if neither."""
    h = lower_headers(headers)
    for name in ("retry-after", "x-ratelimit-reset"):
        raw = h.get(name, "").strip()
        if not raw:
            continue
        try:
            seconds = float(raw)
        except ValueError:
            try:
                seconds = parsedate_to_datetime(raw).timestamp() - wall()
            except (TypeError, ValueError, IndexError, OverflowError):
                continue
        if seconds == seconds and seconds != float("inf"):  # not NaN or infinite
            return max(0.0, seconds)
    return None


def retry_delay(
    attempt: int,
    status: int | None,
    headers: Mapping[str, str],
    policy: RetryPolicy,
    *,
    time_scale: float,
    rng: Callable[[], float],
    wall: Callable[[], float] = time.time,
) -> float:
    """Real seconds to wait before retry `attempt`: what a 429/503 asks for (plus a little
    jitter so concurrent tasks do not return together), otherwise the jittered backoff."""
    asked = header_delay(headers, wall=wall) if status in (429, 503) else None
    if asked is not None:
        return (asked + policy.base_delay * policy.jitter * rng()) / time_scale
    return backoff(attempt, policy, rng) / time_scale
