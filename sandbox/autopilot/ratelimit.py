"""Autopilot's per-key request rate limit (APD1: 5 requests/second), on the sandbox clock.

A token bucket holding one second's worth of requests (or `burst` requests when given): a
burst of `per_second` requests passes, the next one in the same second gets a 429, and
capacity returns continuously. `per_second` None or 0 turns the limit off; `burst` 1 allows
no burst at all (requests must be 1/per_second apart, as a limiter without burst would).
"""

from __future__ import annotations

from syncmap.sandbox.core import Clock


class RateLimiter:
    def __init__(self, clock: Clock, per_second: float | None, burst: int = 0) -> None:
        if burst < 0:
            raise ValueError("the burst must not be negative")
        self.clock = clock
        self.burst = burst  # 0: one second's worth of requests
        self.configure(per_second)

    def configure(self, per_second: float | None) -> None:
        if per_second is not None and per_second < 0:
            raise ValueError("the rate limit must not be negative")
        self.per_second = per_second or None
        self._capacity = float(self.burst) if self.burst else max(1.0, self.per_second or 0.0)
        self._tokens = self._capacity
        self._last = self.clock.now()

    def allow(self) -> bool:
        if self.per_second is None:
            return True
        now = self.clock.now()
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self.per_second)
        self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
