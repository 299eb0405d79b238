"""Rate governors: one per connector, deciding when each request may go.

A governor waits before a request until the API's limits leave room for it (`acquire`),
learns from every answer (`observe`), and says how long to wait before a retry
(`retry_delay`). It knows which limit it waited for (`last_wait`) and how long in total per
limit (`waits`, seconds summed over requests, so concurrent waits add up). All of it is
concurrency-safe for many asyncio tasks: no await sits between checking for room and taking it.

`time_scale` divides every window, wait and reset a governor computes, so a governor can lead a
sandbox whose clock runs that many times faster. Clock, sleep, wall time and randomness are
injected for tests.
"""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from syncmap.compiler.cost import load_limits
from syncmap.compiler.pipedrive_plans import burst_limits, load_plans
from syncmap.compiler.pipedrive_plans import daily_budget as plan_daily_budget
from syncmap.compiler.token_costs import TokenCosts, load_token_costs
from syncmap.runtime.api_errors import LimitReached
from syncmap.runtime.retry import RetryPolicy, header_delay, lower_headers, retry_delay
from syncmap.runtime.windows import Pacer, SlotWindow, TokenBudget

__all__ = ["AutopilotGovernor", "Governor", "PipedriveGovernor", "is_search", "next_midnight_utc"]

PIPEDRIVE_BURST = "Pipedrive burst window"
PIPEDRIVE_SEARCH = "Pipedrive search window"
PIPEDRIVE_BUDGET = "Pipedrive daily token budget"
PIPEDRIVE_POST_PUT = "Pipedrive daily POST/PUT requests"
AUTOPILOT_RATE = "Autopilot rate"

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[Any]]


class Governor(Protocol):
    last_wait: str | None
    waits: dict[str, float]

    async def acquire(self, method: str, path: str) -> None:
        """Wait until the request may go; raise LimitReached when it cannot be paid before the
        limit resets. Every acquire that returns must be followed by exactly one observe."""

    def observe(self, method: str, path: str, status: int, headers: Mapping[str, str], *, body: Any = None) -> None:
        """Learn from an answer (status 0: none came). Raises LimitReached when the answer
        shows a limit that cannot be paid before it resets."""

    def retry_delay(self, attempt: int, status: int | None, headers: Mapping[str, str], *, policy: RetryPolicy | None = None) -> float:
        """Real seconds to wait before retry `attempt` (1 = the first retry)."""

    def cost(self, method: str, path: str) -> int:
        """Tokens the request costs (0 for APIs without a token budget)."""


def is_search(path: str) -> bool:
    """Pipedrive's Search API (its own burst limit): `…/search` routes and `/v1/itemSearch…`."""
    bare = path.split("?", 1)[0].rstrip("/")
    return bare.endswith("/search") or "/itemSearch" in bare


def next_midnight_utc(now: float) -> float:
    today = datetime.fromtimestamp(now, tz=UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (today + timedelta(days=1)).timestamp()


def _int(headers: Mapping[str, str], name: str) -> int | None:
    try:
        return int(float(headers[name]))
    except (KeyError, ValueError, OverflowError):
        return None


def _seconds(headers: Mapping[str, str], name: str) -> float | None:
    try:
        value = float(headers[name])
    except (KeyError, ValueError):
        return None
    return value if math.isfinite(value) and value >= 0 else None


def _positive_scale(time_scale: float) -> float:
    if not (time_scale > 0 and math.isfinite(time_scale)):
        raise ValueError("time_scale must be a positive number")
    return time_scale


class _Waiting:
    """What both governors share: the injected clock, sleep and randomness, the wait
    accounting and the retry delays."""

    def __init__(self, *, time_scale: float, clock: Clock, sleep: Sleep, rng: Callable[[], float], wall: Clock) -> None:
        self.time_scale = _positive_scale(time_scale)
        self.clock, self.sleep, self.rng, self.wall = clock, sleep, rng, wall
        self.last_wait: str | None = None
        self.waits: dict[str, float] = {}

    async def _wait(self, limit: str, seconds: float) -> None:
        self.last_wait = limit
        self.waits[limit] = self.waits.get(limit, 0.0) + seconds
        await self.sleep(seconds)

    def retry_delay(self, attempt: int, status: int | None, headers: Mapping[str, str], *, policy: RetryPolicy | None = None) -> float:
        return retry_delay(attempt, status, headers, policy or RetryPolicy(), time_scale=self.time_scale, rng=self.rng, wall=self.wall)


class PipedriveGovernor(_Waiting):
    """Pipedrive's limits (pipedrive-api.md §5): the per-token 2-second burst window, the
    Search API's own window, the company's daily token budget and the daily POST/PUT count.

    - Burst: the limit starts from the plan's row in `compiler/costs/pipedrive_plans.json` (or `burst`)
      and follows `x-ratelimit-limit` / `-remaining` / `-reset` from then on.
    - Search: `search_burst` (10 per 2 s on every plan); by default a search also takes a slot
      of the general window (`search_counts_in_general_window`), since whether it does is not
      documented and counting it costs little.
    - Budget: each request is charged its cost from the token-cost table before it goes.
      What is left is known from `daily_budget` (the tokens syncmap may spend today) or from
      the undocumented `x-daily-ratelimit-token-remaining` header when the API sends it; while
      neither is known nothing is refused up front and the API's 429 decides. A request that
      cannot be paid, or a 429 whose body speaks of the daily budget (`budget_markers`), raises
      LimitReached with the next midnight UTC as `reset_at`. The plan's 30,000 x multiplier
      budget (one seat) is only reported (`budget_guess`): seats and top-ups are unknown here.
    """

    def __init__(
        self,
        *,
        plan: str | None = None,
        burst: int | None = None,
        daily_budget: int | None = None,
        costs: TokenCosts | None = None,
        time_scale: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        search_burst: int | None = None,
        search_counts_in_general_window: bool = True,
        budget_markers: tuple[str, ...] = ("budget", "daily"),
        wall: Clock = time.time,
    ) -> None:
        super().__init__(time_scale=time_scale, clock=clock, sleep=sleep, rng=rng, wall=wall)
        limits = load_limits()["pipedrive"]
        self.plan = plan or load_plans()["default_plan"]
        api_token_burst, _ = burst_limits(self.plan)  # ValueError for an unknown plan
        if daily_budget is not None and daily_budget < 0:
            raise ValueError("daily_budget must not be negative")
        window = float(limits["burst_window_seconds"]["value"]) / self.time_scale
        self.burst = SlotWindow(int(burst if burst is not None else api_token_burst), window)
        self.search = SlotWindow(int(search_burst if search_burst is not None else limits["search_burst"]["value"]), window)
        self.search_counts_in_general_window = search_counts_in_general_window
        self.costs = costs or load_token_costs()
        self.daily_budget = daily_budget
        self.budget_guess = plan_daily_budget(self.plan)
        self.budget = TokenBudget(daily_budget)
        self.budget_markers = tuple(marker.lower() for marker in budget_markers)
        self.post_put_left: int | None = None
        self.reset_at = self._next_reset()

    # -- the day ----------------------------------------------------------------------------
    def _next_reset(self) -> float:
        now = self.wall()
        return now + (next_midnight_utc(now) - now) / self.time_scale

    def _roll_day(self) -> None:
        if self.wall() >= self.reset_at:
            self.budget = TokenBudget(self.daily_budget)
            self.post_put_left = None
            self.reset_at = self._next_reset()

    def _limit_reached(self, limit: str, detail: str) -> LimitReached:
        return LimitReached("pipedrive", limit, self.reset_at, detail)

    # -- the protocol -----------------------------------------------------------------------
    def cost(self, method: str, path: str) -> int:
        return self.costs.cost(method, path)

    def _windows(self, path: str) -> list[tuple[str, SlotWindow]]:
        if not is_search(path):
            return [(PIPEDRIVE_BURST, self.burst)]
        both = self.search_counts_in_general_window
        return [(PIPEDRIVE_SEARCH, self.search)] + ([(PIPEDRIVE_BURST, self.burst)] if both else [])

    async def acquire(self, method: str, path: str) -> None:
        cost = self.cost(method, path)
        windows = self._windows(path)
        while True:
            self._roll_day()
            if not self.budget.can_pay(cost):
                left = (self.budget.remaining or 0) - self.budget.reserved
                raise self._limit_reached(PIPEDRIVE_BUDGET, f"{method} {path.split('?', 1)[0]} costs {cost} tokens, {max(0, left)} left")
            if method in ("POST", "PUT") and self.post_put_left == 0:
                raise self._limit_reached(PIPEDRIVE_POST_PUT, "x-daily-requests-left is 0")
            now = self.clock()
            name, wait = max(((name, window.wait(now)) for name, window in windows), key=lambda item: item[1])
            if wait <= 0:
                for _, window in windows:
                    window.take()
                self.budget.reserve(cost)
                return
            await self._wait(name, wait)

    def observe(self, method: str, path: str, status: int, headers: Mapping[str, str], *, body: Any = None) -> None:
        now = self.clock()
        h = lower_headers(headers)
        windows = self._windows(path)
        for _, window in windows:
            window.release(now)
        reset = _seconds(h, "x-ratelimit-reset")
        windows[0][1].learn(now, _int(h, "x-ratelimit-limit"), _int(h, "x-ratelimit-remaining"), None if reset is None else reset / self.time_scale)
        cost = self.cost(method, path)
        self.budget.settle(cost, charged=status != 429)  # a refusal costs nothing; anything else may have
        tokens_left = _int(h, "x-daily-ratelimit-token-remaining")
        if tokens_left is not None:
            self.budget.learn(tokens_left)
        requests_left = _int(h, "x-daily-requests-left")
        if requests_left is not None:
            self.post_put_left = requests_left
        if status == 429 and (self._speaks_of_budget(body) or (tokens_left is not None and tokens_left < cost)):
            self.budget.learn(tokens_left if tokens_left is not None else 0)  # without a count: none left today
            raise self._limit_reached(PIPEDRIVE_BUDGET, f"the API refused {method} {path.split('?', 1)[0]}")

    def _speaks_of_budget(self, body: Any) -> bool:
        if isinstance(body, dict):
            text = " ".join(str(body.get(key) or "") for key in ("error", "message", "error_info"))
        else:
            text = str(body or "")
        text = text.lower()
        return any(marker in text for marker in self.budget_markers)


class AutopilotGovernor(_Waiting):
    """Autopilot's request rate (autopilot-api.md §1.9: 5 requests/s per the draft docs, the
    live limit UNVERIFIED, hence `rate`; whether it allows a burst is unverified too). Requests
    are paced evenly (`Pacer`); a 429 halves the pace, successes win it back slowly, and from the
    first 429 on every step is kept whole, as a limiter without burst needs. A 429's
    `Retry-After`, when sent, holds every request."""

    def __init__(
        self,
        *,
        rate: float = 5.0,
        time_scale: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        wall: Clock = time.time,
    ) -> None:
        super().__init__(time_scale=time_scale, clock=clock, sleep=sleep, rng=rng, wall=wall)
        self.pacer = Pacer(rate * self.time_scale)
        self._sent: dict[str, deque[float]] = {}  # route -> when its requests in flight went, oldest first
        self.quickest: dict[str, float] = {}  # route -> the quickest answer seen, in seconds

    def cost(self, method: str, path: str) -> int:
        return 0

    async def acquire(self, method: str, path: str) -> None:
        while True:
            now = self.clock()
            wait = self.pacer.wait(now)
            if wait <= 0:
                self.pacer.take(now)
                self._sent.setdefault(_route(method, path), deque()).append(now)
                return
            await self._wait(AUTOPILOT_RATE, wait)

    def observe(self, method: str, path: str, status: int, headers: Mapping[str, str], *, body: Any = None) -> None:
        now = self.clock()
        route = _route(method, path)
        in_flight = self._sent.get(route)
        sent = in_flight.popleft() if in_flight else None
        if status and sent is not None:
            # A bulk upsert takes longer to answer than a read: each kind of request is timed
            # against its own quickest answer, the time the server needs at the least.
            quickest = self.quickest[route] = min(self.quickest.get(route, math.inf), now - sent)
            self.pacer.answered(now - quickest)
        if status == 429:
            self.pacer.slow_down(now)
            asked = header_delay(headers, wall=self.wall)
            if asked is not None:
                # Every request waits for it, not only the retry of the refused one: concurrent
                # tasks, and `serve` trying a held batch again, would otherwise meet a 429 each.
                self.pacer.hold(now + asked / self.time_scale)
        elif 200 <= status < 500:
            self.pacer.speed_up()


def _route(method: str, path: str) -> str:
    """`POST contacts`, `GET contact`, `POST list`: the kind of request, whose answers take alike."""
    return f"{method} {path.split('?', 1)[0].strip('/').split('/', 1)[0]}"
