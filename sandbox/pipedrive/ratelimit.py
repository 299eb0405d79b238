"""Pipedrive's two limits (pipedrive-api.md §5), both on the sandbox clock.

- The burst limit: per token, a fixed 2-second window that opens with the first request after
  the previous one ended; a request beyond the plan's limit gets a 429.
- The daily token budget: per company, charged with each operation's `x-token-cost`, reset at
  midnight UTC of the sandbox clock; a request that costs more than what is left gets a 429.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from syncmap.sandbox.core import Clock

DAY = 86_400


@dataclass
class Window:
    start: float
    used: int = 0


@dataclass
class BurstVerdict:
    allowed: bool
    limit: int
    remaining: int
    reset: int  # whole seconds until the window ends


class BurstLimiter:
    def __init__(self, clock: Clock, seconds: float = 2.0) -> None:
        self.clock = clock
        self.seconds = seconds
        self.windows: dict[str, Window] = {}

    def reset(self) -> None:
        self.windows.clear()

    def hit(self, key: str, limit: int) -> BurstVerdict:
        now = self.clock.now()
        window = self.windows.get(key)
        if window is None or now >= window.start + self.seconds:
            window = self.windows[key] = Window(start=now)
        reset = max(1, math.ceil(window.start + self.seconds - now - 1e-9))
        if window.used >= limit:
            return BurstVerdict(False, limit, 0, reset)
        window.used += 1
        return BurstVerdict(True, limit, limit - window.used, reset)


class DailyBudget:
    def __init__(self, clock: Clock, limit: int) -> None:
        self.clock = clock
        self.limit = limit
        self.used = 0
        self._day = self._today()

    def _today(self) -> int:
        return int(self.clock.now() // DAY)

    def _roll(self) -> None:
        today = self._today()
        if today != self._day:
            self._day, self.used = today, 0

    def reset(self) -> None:
        self.used = 0
        self._day = self._today()

    @property
    def remaining(self) -> int:
        self._roll()
        return max(0, self.limit - self.used)

    def charge(self, cost: int) -> bool:
        """Spend `cost` tokens if that many are left."""
        self._roll()
        if cost > self.limit - self.used:
            return False
        self.used += cost
        return True


class DailyCounter:
    """`x-daily-requests-left`: POST/PUT requests left for the UTC day."""

    def __init__(self, clock: Clock, limit: int) -> None:
        self.clock = clock
        self.limit = limit
        self.used = 0
        self._day = int(clock.now() // DAY)

    def reset(self) -> None:
        self.used = 0
        self._day = int(self.clock.now() // DAY)

    @property
    def left(self) -> int:
        today = int(self.clock.now() // DAY)
        if today != self._day:
            self._day, self.used = today, 0
        return max(0, self.limit - self.used)

    def spend(self) -> None:
        if self.left > 0:
            self.used += 1


class Limits:
    """Everything the gateway counts, kept on `app.state.limits` so control routes can see it."""

    def __init__(self, clock: Clock, *, window_seconds: float, daily_budget: int, daily_post_put: int) -> None:
        self.burst = BurstLimiter(clock, window_seconds)
        self.search = BurstLimiter(clock, window_seconds)
        self.budget = DailyBudget(clock, daily_budget)
        self.post_put = DailyCounter(clock, daily_post_put)

    def reset(self) -> None:
        self.burst.reset()
        self.search.reset()
        self.budget.reset()
        self.post_put.reset()
