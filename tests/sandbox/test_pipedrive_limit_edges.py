"""Pipedrive sandbox limits and paging at their exact edges: a request that costs exactly what
is left of the daily budget, the last request of a burst window and the first of the next,
and a v1 page that ends exactly at the end of the collection."""

from __future__ import annotations

import pytest
from pipedrive_support import async_test, client, seeded

from syncmap.sandbox.pipedrive import PipedriveSettings
from syncmap.sandbox.pipedrive.pagination import offset_page
from syncmap.sandbox.pipedrive.ratelimit import DAY, BurstLimiter, DailyBudget, DailyCounter, Limits


class StoppedClock:
    """A clock that moves only when told to, so edges can be hit exactly."""

    def __init__(self, now: float = 0.0) -> None:
        self.t = now

    def now(self) -> float:
        return self.t


# ------------------------------------------------------------------ the daily budget


def test_a_cost_equal_to_what_is_left_is_charged() -> None:
    budget = DailyBudget(StoppedClock(), limit=30)
    assert budget.charge(20) is True
    assert budget.remaining == 10
    assert budget.charge(10) is True  # exactly what is left
    assert budget.remaining == 0
    assert budget.charge(1) is False
    assert budget.used == 30


def test_a_cost_one_more_than_what_is_left_is_refused_and_not_charged() -> None:
    budget = DailyBudget(StoppedClock(), limit=30)
    assert budget.charge(31) is False
    assert budget.remaining == 30
    assert budget.charge(30) is True


def test_the_budget_resets_at_midnight_exactly() -> None:
    clock = StoppedClock(DAY - 1)
    budget = DailyBudget(clock, limit=5)
    assert budget.charge(5) is True
    clock.t = DAY - 0.001
    assert budget.remaining == 0
    clock.t = DAY
    assert budget.remaining == 5


@async_test
async def test_the_request_that_spends_the_last_tokens_is_served() -> None:
    # GET /api/v2/persons costs 10 and GET /api/v2/persons/{id} costs 1 (token-costs.json).
    app = await seeded(3, settings=PipedriveSettings(daily_budget=11))
    async with client(app) as c:
        assert (await c.get("/api/v2/persons")).headers["x-daily-ratelimit-token-remaining"] == "1"
        r = await c.get("/api/v2/persons/1")  # costs 1, 1 left
        assert r.status_code == 200, r.text
        assert r.headers["x-daily-ratelimit-token-remaining"] == "0"
        assert (await c.get("/api/v2/persons/2")).status_code == 429


# ------------------------------------------------------------------ the burst window


def test_the_last_request_of_a_window_passes_and_the_next_is_refused() -> None:
    limiter = BurstLimiter(StoppedClock(), seconds=2.0)
    verdicts = [limiter.hit("t", limit=3) for _ in range(4)]
    assert [(v.allowed, v.remaining) for v in verdicts] == [(True, 2), (True, 1), (True, 0), (False, 0)]
    assert {v.limit for v in verdicts} == {3}


def test_a_new_window_opens_exactly_when_the_old_one_ends() -> None:
    clock = StoppedClock(100.0)
    limiter = BurstLimiter(clock, seconds=2.0)
    assert limiter.hit("t", limit=1).allowed
    clock.t = 101.999
    refused = limiter.hit("t", limit=1)
    assert (refused.allowed, refused.reset) == (False, 1)
    clock.t = 102.0
    assert limiter.hit("t", limit=1).allowed


def test_reset_counts_whole_seconds_left_in_the_window() -> None:
    clock = StoppedClock(0.0)
    limiter = BurstLimiter(clock, seconds=2.0)
    assert limiter.hit("t", limit=5).reset == 2
    clock.t = 0.5
    assert limiter.hit("t", limit=5).reset == 2  # 1.5 s left: rounded up
    clock.t = 1.0
    assert limiter.hit("t", limit=5).reset == 1


def test_the_window_is_two_seconds_unless_told_otherwise() -> None:
    clock = StoppedClock(0.0)
    limiter = BurstLimiter(clock)
    assert limiter.hit("t", limit=1).allowed
    clock.t = 1.999
    assert not limiter.hit("t", limit=1).allowed
    clock.t = 2.0
    assert limiter.hit("t", limit=1).allowed


def test_each_token_has_its_own_window() -> None:
    limiter = BurstLimiter(StoppedClock(), seconds=2.0)
    assert limiter.hit("a", limit=1).allowed
    assert not limiter.hit("a", limit=1).allowed
    assert limiter.hit("b", limit=1).allowed


# ------------------------------------------------------------------ POST/PUT counter and reset


def test_daily_post_put_counter_stops_at_zero_and_resets_at_midnight() -> None:
    clock = StoppedClock(DAY + 10)
    counter = DailyCounter(clock, limit=2)
    assert counter.left == 2
    counter.spend()
    counter.spend()
    counter.spend()  # nothing left: stays at zero, never negative
    assert (counter.left, counter.used) == (0, 2)
    clock.t = 2 * DAY
    assert counter.left == 2


def test_reset_restores_every_limit() -> None:
    clock = StoppedClock(5.0)
    limits = Limits(clock, window_seconds=2.0, daily_budget=10, daily_post_put=3)
    limits.burst.hit("t", limit=1)
    limits.search.hit("t", limit=1)
    assert limits.budget.charge(10)
    limits.post_put.spend()
    limits.reset()
    assert limits.burst.hit("t", limit=1).allowed and limits.search.hit("t", limit=1).allowed
    assert (limits.budget.remaining, limits.budget.used) == (10, 0)
    assert (limits.post_put.left, limits.post_put.used) == (3, 0)
    assert limits.budget.charge(10)  # the whole budget again, the same day


# ------------------------------------------------------------------ v1 offset paging


@pytest.mark.parametrize(("start", "limit", "page", "more"), [
    (0, 10, list(range(10)), False),  # the page ends exactly at the end
    (0, 9, list(range(9)), True),     # one item left over
    (0, 11, list(range(10)), False),  # a page larger than what is left
    (9, 1, [9], False),               # the last item alone
    (8, 1, [8], True),
    (10, 5, [], False),               # past the end
])  # fmt: skip
def test_more_items_in_collection_at_the_edge_of_a_page(start: int, limit: int, page: list[int], more: bool) -> None:
    got, pagination = offset_page(list(range(10)), str(start), str(limit))
    assert got == page
    expected = {"start": start, "limit": limit, "more_items_in_collection": more}
    if more:
        expected["next_start"] = start + limit
    assert pagination == expected


@async_test
async def test_v1_list_says_no_more_items_when_the_page_ends_with_the_collection() -> None:
    app = await seeded(3)
    async with client(app) as c:
        everything = (await c.get("/v1/personFields", params={"limit": 500})).json()
        n = len(everything["data"])
        assert n > 2 and everything["additional_data"]["pagination"]["more_items_in_collection"] is False
        exact = (await c.get("/v1/personFields", params={"start": 0, "limit": n})).json()
        assert len(exact["data"]) == n
        assert exact["additional_data"]["pagination"] == {"start": 0, "limit": n, "more_items_in_collection": False}
        short = (await c.get("/v1/personFields", params={"start": 0, "limit": n - 1})).json()
        assert short["additional_data"]["pagination"] == {"start": 0, "limit": n - 1, "more_items_in_collection": True, "next_start": n - 1}
        last = (await c.get("/v1/personFields", params={"start": n - 1, "limit": 1})).json()
        assert [f["key"] for f in last["data"]] == [everything["data"][-1]["key"]]
        assert last["additional_data"]["pagination"]["more_items_in_collection"] is False


@async_test
async def test_an_empty_limit_is_the_default_page_size() -> None:
    app = await seeded(120)
    async with client(app) as c:
        r = await c.get("/api/v2/persons", params={"limit": ""})
        assert r.status_code == 200, r.text
        assert len(r.json()["data"]) == 100
        v1 = (await c.get("/v1/personFields", params={"limit": ""})).json()
        assert v1["additional_data"]["pagination"]["limit"] == 100


@async_test
async def test_a_cursor_that_does_not_decode_says_so() -> None:
    app = await seeded(5)
    async with client(app) as c:
        for cursor in ("%%%", "W10", "bm90IGpzb24"):  # not base64; a JSON list; not JSON
            r = await c.get("/api/v2/persons", params={"cursor": cursor})
            assert (r.status_code, r.json()["error"]) == (400, '"cursor" is invalid'), cursor


@async_test
async def test_limit_and_cursor_errors_say_what_is_wrong() -> None:
    app = await seeded(5)
    async with client(app) as c:
        r = await c.get("/api/v2/persons", params={"limit": 501})
        assert (r.status_code, r.json()["error"]) == (400, '"limit" must be less than or equal to 500')
        cursor = (await c.get("/api/v2/persons", params={"limit": 2})).json()["additional_data"]["next_cursor"]
        r = await c.get("/api/v2/persons", params={"cursor": cursor, "sort_by": "update_time"})
        assert (r.status_code, r.json()["error"]) == (400, '"cursor" does not match the sort parameters')


@async_test
async def test_a_cursor_past_the_last_record_gives_an_empty_last_page() -> None:
    app = await seeded(3)
    async with client(app) as c:
        first = (await c.get("/api/v2/persons", params={"limit": 2})).json()
        cursor = first["additional_data"]["next_cursor"]
        last = first["data"][-1]["id"] + 1  # the cursor names the first record of the next page
        assert (await c.delete(f"/api/v2/persons/{last}")).status_code == 200
        r = await c.get("/api/v2/persons", params={"limit": 2, "cursor": cursor})
        assert r.status_code == 200, r.text
        assert r.json()["data"] == [] and r.json()["additional_data"]["next_cursor"] is None


@async_test
async def test_v1_paging_limits_and_their_errors() -> None:
    app = await seeded(3)
    async with client(app) as c:
        plain = (await c.get("/v1/personFields")).json()["additional_data"]["pagination"]
        assert (plain["start"], plain["limit"]) == (0, 100)
        for params, error in (
            ({"limit": 501}, '"limit" must be less than or equal to 500'),
            ({"limit": 0}, '"limit" must be greater than or equal to 1'),
            ({"start": "x"}, '"start" must be a number'),
            ({"start": -1}, '"start" must be greater than or equal to 0'),
        ):
            r = await c.get("/v1/personFields", params=params)
            assert (r.status_code, r.json()["error"]) == (400, error), params
        assert (await c.get("/v1/personFields", params={"limit": 500})).status_code == 200


@async_test
async def test_records_without_the_sort_value_come_first_ascending_and_last_descending() -> None:
    app = await seeded(5)
    async with client(app) as c:
        made = (await c.post("/api/v2/activities", json={"subject": "No date yet"})).json()["data"]
        assert made["due_date"] is None
        for direction, index in (("asc", 0), ("desc", -1)):
            seen, cursor = [], None
            while True:  # two at a time, so cursors carry a missing (null) sort value too
                params = {"sort_by": "due_date", "sort_direction": direction, "limit": 2, **({"cursor": cursor} if cursor else {})}
                r = await c.get("/api/v2/activities", params=params)
                assert r.status_code == 200, r.text
                seen += r.json()["data"]
                cursor = r.json()["additional_data"]["next_cursor"]
                if cursor is None:
                    break
            assert seen[index]["id"] == made["id"]
            assert len({a["id"] for a in seen}) == len(seen)
