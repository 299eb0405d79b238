"""The governors' arithmetic on a fake clock: burst windows (their edges, headers overriding
the guesses, concurrent acquirers against the sandbox's own window model), the search window,
the daily token budget, Autopilot's pace, and the retry delays."""

from __future__ import annotations

import asyncio
import heapq
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from syncmap.runtime.api_errors import LimitReached
from syncmap.runtime.governor import AutopilotGovernor, PipedriveGovernor, is_search, next_midnight_utc
from syncmap.runtime.retry import RetryPolicy, backoff, header_delay
from syncmap.runtime.windows import Pacer
from syncmap.sandbox.autopilot.ratelimit import RateLimiter
from syncmap.sandbox.pipedrive.ratelimit import BurstLimiter

LIST, ONE, CREATE, SEARCH = "/api/v2/persons", "/api/v2/persons/7", "/api/v2/persons", "/api/v2/persons/search"
WALL = datetime(2026, 11, 29, 18, 0, tzinfo=UTC).timestamp()  # six hours before midnight UTC


class FakeTime:
    """Virtual time for many tasks: `sleep` parks a task until the driver moves time to its
    wake-up; `run` lets every task go as far as it can, then wakes the earliest sleeper."""

    def __init__(self, start: float = 100.0) -> None:
        self.now = start
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = 0

    def clock(self) -> float:
        return self.now

    def wall(self) -> float:
        return WALL + self.now

    async def sleep(self, seconds: float) -> None:
        """The governors' sleep. They never sleep for no time: that only hands the turn to
        other tasks, and a governor looping on it would never let time move."""
        assert seconds > 0, f"asked to sleep {seconds} s"
        await self.elapse(seconds)

    async def elapse(self, seconds: float) -> None:
        """Time passing for the test's own reasons (a request's latency), zero included."""
        assert seconds >= 0
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self.now + seconds, self._seq, future))
        self._seq += 1
        await future

    def run(self, *coros: Awaitable[Any]) -> list[Any]:
        async def drive() -> list[Any]:
            tasks = [asyncio.ensure_future(c) for c in coros]
            while not all(t.done() for t in tasks):
                for _ in range(30):
                    await asyncio.sleep(0)
                if self._sleepers and not all(t.done() for t in tasks):
                    wake, _, future = heapq.heappop(self._sleepers)
                    self.now = max(self.now, wake)
                    future.set_result(None)
            return [t.result() for t in tasks]

        return asyncio.run(drive())


def pipedrive(t: FakeTime, **kwargs: Any) -> PipedriveGovernor:
    return PipedriveGovernor(clock=t.clock, sleep=t.sleep, wall=t.wall, rng=lambda: 0.5, **kwargs)


def one_request(
    t: FakeTime, gov: Any, method: str, path: str, sent: list[float], answer: Callable[[], dict[str, str]] = dict, status: int = 200
) -> Awaitable[None]:
    async def go() -> None:
        await gov.acquire(method, path)
        sent.append(t.now)
        gov.observe(method, path, status, answer())

    return go()


# ------------------------------------------------------------------ the burst window


def test_sequential_requests_fill_each_window_then_wait_for_the_next() -> None:
    t = FakeTime()
    gov = pipedrive(t, burst=5)
    sent: list[float] = []

    async def many() -> None:
        for _ in range(12):
            await one_request(t, gov, "GET", ONE, sent)

    t.run(many())
    assert [round(s - 100.0, 6) for s in sent] == [0.0] * 5 + [2.0] * 5 + [4.0] * 2
    assert gov.last_wait == "Pipedrive burst window"
    assert gov.waits == {"Pipedrive burst window": pytest.approx(4.0)}


def test_the_plan_gives_the_starting_guess() -> None:
    t = FakeTime()
    assert pipedrive(t, plan="essential").burst.limit == 20
    assert pipedrive(t, plan="enterprise").burst.limit == 120
    assert pipedrive(t).burst.limit == 40  # advanced, the default plan
    with pytest.raises(ValueError, match=r"unknown Pipedrive plan 'gold'.*essential"):
        pipedrive(t, plan="gold")


def test_headers_override_the_guessed_limit() -> None:
    t = FakeTime()
    gov = pipedrive(t, plan="enterprise")  # guesses 120 per 2 s
    sent: list[float] = []
    headers = {"X-RateLimit-Limit": "3", "X-RateLimit-Remaining": "2", "X-RateLimit-Reset": "2"}
    t.run(*(one_request(t, gov, "GET", ONE, sent, lambda: headers) for _ in range(7)))
    assert gov.burst.limit == 3
    # the first answer taught the limit; the two requests it left room for go at once, the
    # rest three per window
    assert [round(s - 100.0, 6) for s in sent] == [0.0] * 3 + [2.0] * 3 + [4.0]


def test_a_server_counting_more_than_we_sent_holds_us_back_until_its_reset() -> None:
    t = FakeTime()
    gov = pipedrive(t, burst=10)
    sent: list[float] = []
    # someone else used the token: after our one request the server has 2 left, for 1 more second
    first = {"x-ratelimit-limit": "10", "x-ratelimit-remaining": "2", "x-ratelimit-reset": "1"}
    t.run(one_request(t, gov, "GET", ONE, sent, lambda: first))
    t.run(*(one_request(t, gov, "GET", ONE, sent) for _ in range(3)))
    assert [round(s - 100.0, 6) for s in sent] == [0.0, 0.0, 0.0, 1.0]


def test_a_429_with_reset_blocks_the_window_until_then() -> None:
    t = FakeTime()
    gov = pipedrive(t, burst=40)
    sent: list[float] = []
    full = {"x-ratelimit-limit": "40", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "2"}
    t.run(one_request(t, gov, "GET", ONE, sent, lambda: full, status=429))
    t.run(one_request(t, gov, "GET", ONE, sent))
    assert [round(s - 100.0, 6) for s in sent] == [0.0, 2.0]


def test_time_scale_divides_windows_and_resets() -> None:
    t = FakeTime()
    gov = pipedrive(t, burst=2, time_scale=10)
    sent: list[float] = []
    t.run(*(one_request(t, gov, "GET", ONE, sent) for _ in range(3)))
    assert [round(s - 100.0, 6) for s in sent] == [0.0, 0.0, 0.2]
    full = {"x-ratelimit-limit": "2", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "1"}
    t.run(one_request(t, gov, "GET", ONE, sent, lambda: full))
    t.run(one_request(t, gov, "GET", ONE, sent))
    assert round(sent[-1] - sent[-2], 6) == 0.2  # the window, scaled (its reset, 0.1 s, is shorter)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_concurrent_acquirers_never_overflow_the_servers_window(seed: int) -> None:
    """Forty tasks with random latency against the sandbox's own fixed-window counter: the
    server never refuses, and the windows are used, not left idle."""
    t = FakeTime()
    server_clock = type("C", (), {"now": staticmethod(t.clock)})()
    server = BurstLimiter(server_clock, 2.0)
    gov = pipedrive(t, burst=5)
    rng = random.Random(seed)
    refused: list[float] = []

    async def task() -> None:
        for _ in range(3):
            await gov.acquire("GET", ONE)
            await t.elapse(rng.uniform(0, 0.3))  # on the way to the server
            verdict = server.hit("token", 5)
            if not verdict.allowed:
                refused.append(t.now)
            await t.elapse(rng.uniform(0, 0.3))  # the answer on its way back
            headers = {"x-ratelimit-limit": "5", "x-ratelimit-remaining": str(verdict.remaining), "x-ratelimit-reset": str(verdict.reset)}
            gov.observe("GET", ONE, 200 if verdict.allowed else 429, headers)

    t.run(*(task() for _ in range(40)))
    assert refused == []
    assert gov.burst.in_flight == 0
    # 120 requests, 5 per window of 2 s plus the latency each holds its slot: at most 2.6 s per 5
    assert t.now - 100.0 <= 120 / 5 * 2.6


async def no_sleep(seconds: float) -> None:
    raise AssertionError(f"asked to sleep {seconds} s with room to go")


def test_a_request_with_room_goes_without_sleeping_or_counting_a_wait() -> None:
    """A zero-second sleep would still hand the turn to other tasks and count a wait."""
    t = FakeTime()
    gov = PipedriveGovernor(burst=2, clock=t.clock, sleep=no_sleep, wall=t.wall)
    ap = AutopilotGovernor(rate=5, clock=t.clock, sleep=no_sleep)

    async def go() -> None:
        for _ in range(2):
            await gov.acquire("GET", ONE)
            gov.observe("GET", ONE, 200, {})
        await ap.acquire("GET", "/contacts")
        t.now += 0.2  # exactly one step later: the next turn has come
        await ap.acquire("GET", "/contacts")

    asyncio.run(go())
    assert (gov.last_wait, gov.waits) == (None, {})
    assert (ap.last_wait, ap.waits) == (None, {})


@pytest.mark.parametrize("time_scale,reset,gap", [(1, "0.5", 0.5), (10, "0.5", 0.05), (4, "1", 0.25)])
def test_a_reset_shorter_than_the_window_frees_the_servers_count_then(time_scale: float, reset: str, gap: float) -> None:
    t = FakeTime()
    gov = pipedrive(t, burst=2, time_scale=time_scale)  # the window: 2 s, scaled
    sent: list[float] = []
    full = {"x-ratelimit-limit": "2", "x-ratelimit-remaining": "0", "x-ratelimit-reset": reset}
    t.run(one_request(t, gov, "GET", ONE, sent, lambda: full))
    t.run(one_request(t, gov, "GET", ONE, sent))
    assert round(sent[1] - sent[0], 6) == gap  # the server's reset (scaled), not our window


# ------------------------------------------------------------------ the search window


def test_search_has_its_own_window() -> None:
    assert is_search("/api/v2/persons/search") and is_search("/v1/persons/search?term=x") and is_search("/v1/itemSearch")
    assert not is_search("/api/v2/persons/42") and not is_search("/api/v2/searchable")
    t = FakeTime()
    gov = pipedrive(t, burst=40, search_burst=10, search_counts_in_general_window=False)
    sent: list[float] = []
    t.run(*(one_request(t, gov, "GET", SEARCH, sent) for _ in range(11)))
    assert [round(s - 100.0, 6) for s in sent] == [0.0] * 10 + [2.0]
    assert gov.last_wait == "Pipedrive search window"
    sent.clear()
    t.run(*(one_request(t, gov, "GET", ONE, sent) for _ in range(40)))
    assert set(sent) == {t.now}  # the general window was untouched


def test_searches_also_take_general_slots_by_default() -> None:
    t = FakeTime()
    gov = pipedrive(t, burst=12, search_burst=10)
    sent: list[float] = []
    t.run(*(one_request(t, gov, "GET", SEARCH, sent) for _ in range(10)))
    general: list[float] = []
    t.run(*(one_request(t, gov, "GET", ONE, general) for _ in range(3)))
    assert [round(s - 100.0, 6) for s in general] == [0.0, 0.0, 2.0]


# ------------------------------------------------------------------ the daily token budget


@pytest.mark.parametrize("budget,passes", [(10, True), (9, False)])
def test_a_cost_equal_to_what_is_left_passes_one_token_more_is_refused(budget: int, passes: bool) -> None:
    t = FakeTime()
    gov = pipedrive(t, daily_budget=budget)
    assert gov.cost("GET", LIST) == 10
    sent: list[float] = []
    if passes:
        t.run(one_request(t, gov, "GET", LIST, sent))
        assert gov.budget.remaining == 0
        with pytest.raises(LimitReached):
            t.run(one_request(t, gov, "GET", ONE, sent))  # 1 token, none left
    else:
        with pytest.raises(LimitReached) as caught:
            t.run(one_request(t, gov, "GET", LIST, sent))
        assert sent == []
        error = caught.value
        assert (error.system, error.limit) == ("pipedrive", "Pipedrive daily token budget")
        assert error.reset_at == next_midnight_utc(t.wall()) == WALL + 6 * 3600
        assert "Pipedrive daily token budget reached (GET /api/v2/persons costs 10 tokens, 9 left)" in str(error)
        assert "resets at 2026-11-30 00:00 UTC" in str(error)


def test_tokens_in_flight_are_reserved() -> None:
    t = FakeTime()
    gov = pipedrive(t, daily_budget=25)
    started: list[str] = []

    async def hold() -> None:
        await gov.acquire("GET", LIST)
        started.append("a")
        await gov.acquire("GET", LIST)
        started.append("b")
        await gov.acquire("GET", LIST)  # 30 > 25: refused while the first two are in flight

    with pytest.raises(LimitReached):
        t.run(hold())
    assert started == ["a", "b"]
    gov.observe("GET", LIST, 429, {})  # a refusal is not charged...
    gov.observe("GET", LIST, 200, {})  # ...an answer is
    assert (gov.budget.remaining, gov.budget.reserved) == (15, 0)


def test_the_servers_remaining_tokens_override_our_count() -> None:
    t = FakeTime()
    gov = pipedrive(t, daily_budget=10_000)
    sent: list[float] = []
    t.run(one_request(t, gov, "GET", LIST, sent, lambda: {"x-daily-ratelimit-token-remaining": "12"}))
    t.run(one_request(t, gov, "GET", LIST, sent))  # 12 left: 10 passes
    with pytest.raises(LimitReached):
        t.run(one_request(t, gov, "POST", CREATE, sent))  # 5 > 2
    assert len(sent) == 2


def test_without_a_known_budget_nothing_is_refused_up_front_but_the_429_stops_the_run() -> None:
    t = FakeTime()
    gov = pipedrive(t, plan="growth")
    assert gov.budget.remaining is None and gov.budget_guess == 60_000
    sent: list[float] = []
    t.run(*(one_request(t, gov, "GET", LIST, sent) for _ in range(20)))

    async def refused(body: dict[str, Any]) -> None:
        await gov.acquire("GET", LIST)
        gov.observe("GET", LIST, 429, {}, body=body)

    t.run(refused({"success": False, "error": "Request over limit"}))  # a burst 429: learn, go on
    with pytest.raises(LimitReached) as caught:
        t.run(refused({"success": False, "error": "Daily API token budget exceeded", "data": None}))
    assert caught.value.reset_at == WALL + 6 * 3600
    with pytest.raises(LimitReached):
        t.run(gov.acquire("GET", ONE))  # and nothing more goes today


def test_a_429_with_fewer_tokens_left_than_the_cost_is_the_budget() -> None:
    t = FakeTime()
    gov = pipedrive(t)

    async def refused() -> None:
        await gov.acquire("GET", LIST)
        gov.observe("GET", LIST, 429, {"x-daily-ratelimit-token-remaining": "4"}, body="Too Many Requests")

    with pytest.raises(LimitReached):
        t.run(refused())


def test_the_budget_comes_back_after_midnight_utc() -> None:
    t = FakeTime()
    gov = pipedrive(t, daily_budget=10, time_scale=60)
    t.run(one_request(t, gov, "GET", LIST, []))
    with pytest.raises(LimitReached) as caught:
        t.run(gov.acquire("GET", LIST))
    assert caught.value.reset_at == pytest.approx(WALL + 6 * 3600 / 60)  # the reset, scaled
    t.now += 6 * 3600 / 60
    t.run(one_request(t, gov, "GET", LIST, []))


def test_a_zero_budget_is_allowed_and_refuses_every_request_a_negative_one_is_an_error() -> None:
    t = FakeTime()
    gov = pipedrive(t, daily_budget=0)
    with pytest.raises(LimitReached, match=r"costs 1 tokens, 0 left"):
        t.run(gov.acquire("GET", ONE))
    with pytest.raises(ValueError, match="daily_budget must not be negative"):
        pipedrive(t, daily_budget=-1)


def test_a_refusal_says_how_many_tokens_are_left_after_those_in_flight() -> None:
    t = FakeTime()
    gov = pipedrive(t, daily_budget=25)

    async def three() -> None:
        await gov.acquire("GET", LIST)
        await gov.acquire("GET", LIST)
        await gov.acquire("GET", LIST)

    with pytest.raises(LimitReached, match=r"GET /api/v2/persons costs 10 tokens, 5 left\)"):
        t.run(three())
    gov.observe("GET", LIST, 200, {})
    gov.observe("GET", LIST, 200, {})
    t.run(one_request(t, gov, "GET", ONE, []))
    with pytest.raises(LimitReached, match=r"costs 10 tokens, 4 left\)"):
        t.run(gov.acquire("GET", LIST + "?start=0"))  # the query is not part of what is named
    t.run(*(one_request(t, gov, "GET", ONE, []) for _ in range(4)))
    with pytest.raises(LimitReached, match=r"costs 1 tokens, 0 left\)"):
        t.run(gov.acquire("GET", ONE))


def test_at_midnight_utc_the_days_budget_is_whole_again_and_the_next_reset_is_a_day_later() -> None:
    t = FakeTime()
    gov = pipedrive(t, daily_budget=10)
    midnight = WALL + 6 * 3600
    t.run(one_request(t, gov, "GET", LIST, []))
    t.now = midnight - WALL - 0.001
    with pytest.raises(LimitReached):
        t.run(gov.acquire("GET", ONE))  # a moment before midnight: still spent
    t.now = midnight - WALL  # midnight itself
    t.run(one_request(t, gov, "GET", LIST, []))
    assert gov.budget.remaining == 0  # today's budget again, spent, not an unknown budget
    with pytest.raises(LimitReached) as caught:
        t.run(gov.acquire("GET", ONE))
    assert caught.value.reset_at == midnight + 24 * 3600


@pytest.mark.parametrize("tokens_left,budget", [("10", False), ("9", True)])
def test_a_429_leaving_exactly_the_cost_is_the_burst_one_token_less_is_the_budget(tokens_left: str, budget: bool) -> None:
    t = FakeTime()
    gov = pipedrive(t)

    async def refused() -> None:
        await gov.acquire("GET", LIST)  # 10 tokens
        gov.observe("GET", LIST, 429, {"x-daily-ratelimit-token-remaining": tokens_left}, body={"error": "Request over limit"})

    if budget:
        with pytest.raises(LimitReached):
            t.run(refused())
    else:
        t.run(refused())
        t.run(one_request(t, gov, "GET", LIST, []))  # and the retry may go


def test_a_plain_text_429_speaking_of_the_budget_stops_the_run() -> None:
    t = FakeTime()
    gov = pipedrive(t)

    async def refused(body: str) -> None:
        await gov.acquire("GET", LIST)
        gov.observe("GET", LIST, 429, {}, body=body)

    t.run(refused("Too Many Requests"))
    with pytest.raises(LimitReached, match=r"the API refused GET /api/v2/persons\)"):
        t.run(refused("Daily token budget exceeded"))


def test_no_post_put_requests_left_stops_writes_only() -> None:
    t = FakeTime()
    gov = pipedrive(t)
    t.run(one_request(t, gov, "GET", LIST, [], lambda: {"x-daily-requests-left": "0"}))
    t.run(one_request(t, gov, "PATCH", ONE, []))
    with pytest.raises(LimitReached, match="Pipedrive daily POST/PUT requests reached"):
        t.run(gov.acquire("POST", CREATE))


def test_malformed_headers_are_ignored() -> None:
    t = FakeTime()
    gov = pipedrive(t, burst=4)
    junk = {
        "x-ratelimit-limit": "lots",
        "x-ratelimit-remaining": "",
        "x-ratelimit-reset": "nan",
        "x-daily-ratelimit-token-remaining": "1e999",
        "retry-after": "soon",
    }
    t.run(one_request(t, gov, "GET", ONE, [], lambda: junk))
    assert gov.burst.limit == 4 and gov.budget.remaining is None
    assert gov.retry_delay(1, 429, junk, policy=RetryPolicy(jitter=0)) == 0.5


# ------------------------------------------------------------------ Autopilot's pace


def test_autopilot_is_paced_and_slows_down_after_a_429() -> None:
    t = FakeTime()
    gov = AutopilotGovernor(rate=5, clock=t.clock, sleep=t.sleep, rng=lambda: 0.5)
    sent: list[float] = []
    t.run(*(one_request(t, gov, "GET", "/contacts", sent) for _ in range(4)))
    assert [round(s - 100.0, 6) for s in sent] == [0.0, 0.2, 0.4, 0.6]
    assert gov.last_wait == "Autopilot rate"
    t.run(one_request(t, gov, "GET", "/contacts", sent, status=429))
    assert gov.pacer.rate == pytest.approx(2.5)
    t.run(one_request(t, gov, "GET", "/contacts", sent))
    assert round(sent[-1] - sent[-2], 6) == 0.4  # the slower pace
    for _ in range(20):
        gov.observe("GET", "/contacts", 200, {})
    assert gov.pacer.rate == 5  # and back up, never beyond the nominal rate


def test_autopilot_by_default_goes_five_a_second_and_costs_no_tokens() -> None:
    t = FakeTime()
    gov = AutopilotGovernor(clock=t.clock, sleep=t.sleep)
    sent: list[float] = []
    t.run(*(one_request(t, gov, "GET", "/contacts", sent) for _ in range(3)))
    assert [round(s - 100.0, 6) for s in sent] == [0.0, 0.2, 0.4]
    assert gov.cost("POST", "/contact") == gov.cost("GET", "/contacts") == 0


def test_autopilot_wins_pace_back_on_answers_below_500_only() -> None:
    t = FakeTime()
    gov = AutopilotGovernor(rate=5, clock=t.clock, sleep=t.sleep)
    gov.observe("GET", "/contacts", 429, {})
    for status in (0, 500, 503):  # no answer, or a server error: says nothing about the rate
        gov.observe("GET", "/contacts", status, {})
    assert gov.pacer.rate == pytest.approx(2.5)
    gov.observe("GET", "/contact/x", 404, {})  # an answer, even a refusal: the server had room
    assert gov.pacer.rate == pytest.approx(2.75)


def test_a_429_asking_to_retry_after_holds_every_request_until_then() -> None:
    t = FakeTime()
    gov = AutopilotGovernor(rate=5, time_scale=2, clock=t.clock, sleep=t.sleep, wall=t.wall)
    sent: list[float] = []
    t.run(one_request(t, gov, "GET", "/contacts", sent))
    gov.observe("GET", "/contacts", 429, {"Retry-After": "6"})  # another task's request, refused
    t.run(*(one_request(t, gov, "GET", "/contacts", sent) for _ in range(2)))
    # 6 s on a clock twice as fast, then the pace the 429 halved (10 r/s -> 5), each step kept
    # whole since that 429 (plus the 2 % margin)
    assert [round(s - 100.0, 6) for s in sent] == [0.0, 3.0, 3.204]
    gov.observe("GET", "/contacts", 429, {})  # without the header: only the slower pace (6 r/s -> 3)
    t.run(one_request(t, gov, "GET", "/contacts", sent))
    assert round(sent[-1] - sent[-2], 6) == 0.333333


def test_autopilot_time_scale_and_bad_rates() -> None:
    t = FakeTime()
    gov = AutopilotGovernor(rate=5, time_scale=4, clock=t.clock, sleep=t.sleep)
    sent: list[float] = []
    t.run(*(one_request(t, gov, "GET", "/contacts", sent) for _ in range(3)))
    assert [round(s - 100.0, 6) for s in sent] == [0.0, 0.05, 0.1]
    for bad in (0, -1, float("inf")):
        with pytest.raises(ValueError, match="rate"):
            AutopilotGovernor(rate=bad)
    with pytest.raises(ValueError, match="time_scale"):
        AutopilotGovernor(time_scale=0)


# ------------------------------------------------------------------ retry delays


def test_backoff_grows_with_jitter_below_the_ceiling() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0, jitter=0.5)
    assert [backoff(n, policy, lambda: 0.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert [backoff(n, policy, lambda: 1.0) for n in range(1, 5)] == [0.25, 0.5, 1.0, 1.5]
    assert backoff(10_000, policy, lambda: 0.0) == 3.0  # no overflow
    with pytest.raises(ValueError):
        RetryPolicy(jitter=2)
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def test_retry_delay_honours_what_the_server_asks() -> None:
    gov = AutopilotGovernor(rng=lambda: 0.0, time_scale=2)
    policy = RetryPolicy(base_delay=0.5, jitter=0.5)
    assert gov.retry_delay(1, 429, {"Retry-After": "3"}, policy=policy) == 1.5
    assert gov.retry_delay(4, 429, {}, policy=policy) == 2.0  # no header: the backoff (4 s), scaled
    assert gov.retry_delay(1, 500, {"Retry-After": "30"}, policy=policy) == 0.25  # only 429/503 ask
    t = FakeTime()
    pd = pipedrive(t)
    assert pd.retry_delay(1, 429, {"x-ratelimit-reset": "2"}, policy=RetryPolicy(jitter=0)) == 2.0
    date = datetime.fromtimestamp(WALL + 120, tz=UTC).strftime("%a, %d %b %Y %H:%M:%S GMT")
    assert header_delay({"retry-after": date}, wall=lambda: WALL) == 120.0


def test_a_late_wake_up_keeps_the_pace_a_pause_starts_it_afresh() -> None:
    pacer = Pacer(5.0)
    pacer.take(0.0)
    assert pacer.wait(0.0) == pytest.approx(0.2)
    pacer.take(0.25)  # woke 0.05 late: the next turn stays at 0.4, not 0.45
    assert pacer.wait(0.25) == pytest.approx(0.15)
    pacer.take(1.0)  # after a pause: one step from now, no saved-up burst
    assert pacer.wait(1.0) == pytest.approx(0.2)


def test_once_spaced_a_late_wake_up_is_not_caught_up() -> None:
    """A limiter without burst refuses a request less than a step after the last: after the
    first 429 the pacer keeps every step whole (plus its margin), however late a task woke."""
    pacer = Pacer(5.0, margin=0.05)
    pacer.take(0.0)
    pacer.slow_down(0.01)  # the 429: half the pace, a whole (slower) step from now
    assert pacer.spaced and pacer.wait(0.01) == pytest.approx(0.4)
    for _ in range(10):
        pacer.speed_up()
    pacer.take(0.45)  # woke 0.04 late
    assert pacer.wait(0.45) == pytest.approx(0.2 * 1.05)  # a whole step from when it went, not from 0.41


def test_once_spaced_the_next_request_waits_a_step_after_the_server_may_have_seen_the_last() -> None:
    pacer = Pacer(5.0, margin=0.0)
    pacer.answered(50.0)  # on a schedule, answers move nothing: the server's burst room absorbs them
    pacer.take(0.0)
    assert pacer.wait(0.0) == pytest.approx(0.2)
    pacer.spaced = True
    pacer.take(1.0)
    pacer.answered(1.15)  # held up on its way: the server may have seen it at 1.15
    assert pacer.wait(1.2) == pytest.approx(0.15)  # 1.35, not 1.2
    pacer.answered(1.0)  # an answer that says less changes nothing
    assert pacer.wait(1.2) == pytest.approx(0.15)
    with pytest.raises(ValueError, match="margin"):
        Pacer(5.0, margin=1.0)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_against_a_limiter_without_burst_only_the_first_429_is_met(seed: int) -> None:
    """Sequential bulk upserts against the sandbox's own limiter with `burst=1`, each held up
    on its way by a random 0-40 ms (a busy server) and answered 10 ms after it got through:
    the first 429 shows there is no burst, and no other request is refused. Pacing on the
    schedule (kept through late answers) met a 429 every dozen requests, each halving the
    pace; here the pace stays near the rate."""
    t = FakeTime()
    server_clock = type("C", (), {"now": staticmethod(t.clock)})()
    server = RateLimiter(server_clock, 5.0, burst=1)
    gov = AutopilotGovernor(rate=5, clock=t.clock, sleep=t.sleep, rng=lambda: 0.5)
    rng = random.Random(seed)
    refused: list[int] = []
    n = 200

    async def upserts() -> None:
        for i in range(n):
            while True:
                await gov.acquire("POST", "/contacts")
                await t.elapse(rng.uniform(0, 0.04))  # on its way, or waiting for a busy server
                allowed = server.allow()
                await t.elapse(0.01)  # the answer
                gov.observe("POST", "/contacts", 200 if allowed else 429, {})
                if allowed:
                    break
                refused.append(i)

    t.run(upserts())
    assert len(refused) == 1
    assert t.now - 100.0 <= n * 0.2 * 1.15  # the rate's bound, plus the margin and the delays' spread
    assert gov.quickest["POST contacts"] >= 0.01


def test_each_kind_of_request_is_timed_against_its_own_quickest_answer() -> None:
    t = FakeTime()
    gov = AutopilotGovernor(rate=5, clock=t.clock, sleep=t.sleep)

    async def one(method: str, path: str, latency: float) -> None:
        await gov.acquire(method, path)
        await t.elapse(latency)
        gov.observe(method, path, 200, {})

    t.run(one("GET", "/account", 0.001), one("POST", "/contacts", 0.05))
    t.run(one("POST", "/contacts?x=1", 0.08), one("GET", "/contact/person_1", 0.002))
    assert gov.quickest == pytest.approx({"GET account": 0.001, "POST contacts": 0.05, "GET contact": 0.002})
    gov.observe("GET", "/contacts", 0, {})  # an answer never sent for: nothing in flight, nothing learned
    assert "GET contacts" not in gov.quickest
