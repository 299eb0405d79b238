"""The estimate at its edges: record counts that do not divide by the page or bulk size, token
totals exactly at one day's budget, plans that need no time, reads through paths, objects
without cost data. The counts are derived by hand from mappings/autopilot.syncmap (Pipedrive
pages of 500, Autopilot pages and bulk writes of 100) unless a test says otherwise."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from syncmap.compiler.api import compile_plan
from syncmap.compiler.cost import BUDGET, DAY, RATE, CostError, estimate, format_duration, load_limits, plan_names

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def autopilot_plan() -> dict:
    result = compile_plan(str(ROOT / "mappings" / "autopilot.syncmap"))
    assert result.plan is not None, result.diagnostics
    return result.plan


def requests_of(plan: dict, records: int, system: str, kind: str, method: str, path: str) -> int:
    est = estimate(plan, records)
    return sum(c.requests for c in est.calls if (c.system, c.kind, c.method, c.path) == (system, kind, method, path))


@pytest.mark.parametrize(("records", "bulk_posts"), [(0, 0), (1, 1), (99, 1), (100, 1), (101, 2), (199, 2), (200, 2), (201, 3)])
def test_bulk_writes_round_up_to_whole_requests(autopilot_plan: dict, records: int, bulk_posts: int) -> None:
    # every person becomes a contact: ceil(records / 100) bulk POSTs
    assert requests_of(autopilot_plan, records, "autopilot", "write", "POST", "/contacts") == bulk_posts


@pytest.mark.parametrize(("records", "pages"), [(0, 1), (1, 1), (500, 1), (501, 2), (1000, 2), (1001, 3)])
def test_pipedrive_reads_round_up_to_whole_pages(autopilot_plan: dict, records: int, pages: int) -> None:
    assert requests_of(autopilot_plan, records, "pipedrive", "read", "GET", "/api/v2/persons") == pages


@pytest.mark.parametrize(("records", "pages"), [(0, 1), (100, 1), (101, 2)])
def test_autopilot_reads_round_up_to_whole_pages(autopilot_plan: dict, records: int, pages: int) -> None:
    assert requests_of(autopilot_plan, records, "autopilot", "read", "GET", "/contacts/{bookmark}") == pages


def test_tokens_exactly_one_budget_take_one_day(autopilot_plan: dict) -> None:
    tokens = estimate(autopilot_plan, 1000).tokens()
    exact = estimate(autopilot_plan, 1000, daily_budget=tokens)
    assert exact.budget_days == 1
    assert next(t for t in exact.limits if t.limit == BUDGET).seconds == 0
    over = estimate(autopilot_plan, 1000, daily_budget=tokens - 1)
    assert over.budget_days == 2
    assert next(t for t in over.limits if t.limit == BUDGET).seconds == DAY


def test_budget_exceeded_from_is_the_first_count_over_the_budget(autopilot_plan: dict) -> None:
    # tokens(N) = 37 of one-off calls + 2 x 10 per page of 500 (persons, organizations)
    # + 2 x 5 per record (create, write the link back). At 2,984 records: 37 + 6 x 20 + 29,840 =
    # 29,997, within 30,000; at 2,985: 30,007, over.
    est = estimate(autopilot_plan, 10, daily_budget=30_000)
    assert est.budget_exceeded_from == 2_985
    assert estimate(autopilot_plan, 2_984).tokens() == 37 + 120 + 29_840
    assert estimate(autopilot_plan, 2_985).tokens() == 37 + 120 + 29_850


def compiled(relative: str) -> dict:
    result = compile_plan(str(ROOT / relative))
    assert result.plan is not None, result.diagnostics
    return result.plan


def test_a_plan_that_syncs_nothing_needs_no_time_and_no_limit_binds() -> None:
    # actions only: no pair, so no read, write or setup call in an initial sync
    est = estimate(compiled("tests/cases/valid/action-with-this.syncmap"), 1000)
    assert est.calls == () and [t.seconds for t in est.limits] == [0.0, 0.0, 0.0]
    assert est.binding is None and est.min_seconds == 0.0
    assert est.as_json()["binding"] is None and "bound by" not in est.r3


def test_a_limit_that_takes_under_a_second_still_binds() -> None:
    # one person: /users/me, one page of persons (Pipedrive: 2 requests x 2 s / 40 = 0.1 s);
    # one page of contacts and one bulk POST (Autopilot: 2 requests / 5 per s = 0.4 s)
    est = estimate(compiled("tests/cases/valid/include-connections.syncmap"), 1)
    assert [t.seconds for t in est.limits] == pytest.approx([0.1, 0.0, 0.4])
    assert est.binding is not None and est.binding.limit == RATE and est.min_seconds == pytest.approx(0.4)


def test_only_writes_name_the_pair_they_serve() -> None:
    est = estimate(compiled("tests/cases/valid/include-connections.syncmap"), 1)
    assert [(c.kind, c.pair) for c in est.calls] == [
        ("setup", None), ("read", None), ("read", None), ("write", "pipedrive.Person->autopilot.Contact"),
    ]
    assert [c["pair"] for c in est.as_json()["calls"]] == [None, None, None, "pipedrive.Person->autopilot.Contact"]


def test_plan_names_come_from_the_limits_given_else_the_shipped_file() -> None:
    assert plan_names() == list(load_limits()["pipedrive"]["plans"])
    assert plan_names()[:5] == ["essential", "advanced", "professional", "power", "enterprise"]
    assert plan_names({"pipedrive": {"plans": {"gold": {}, "silver": {}}}}) == ["gold", "silver"]


@pytest.mark.parametrize(("seconds", "text"), [
    (59, "59 s"), (60, "1 min 0 s"), (3599, "59 min 59 s"),
    (2 * 3600 + 61, "2 h 2 min"),  # minutes round up: 121.02 -> 122
    (DAY - 1, "24 h 0 min"), (DAY, "1 day 0 h"),
    (DAY + 3601, "1 day 2 h"),     # hours round up: 25.0003 -> 26
    (2 * DAY, "2 days 0 h"),
])  # fmt: skip
def test_format_duration_rounds_up_to_the_unit_shown(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


def test_totals_add_up_requests_and_tokens_per_system_and_kind(autopilot_plan: dict) -> None:
    # mappings/autopilot.syncmap at 1,000 records (see test_cost.py for the derivation at 10,000):
    # Pipedrive: 4 setup, 2 + 2 pages, 2,000 writes; Autopilot: 2 setup, 10 pages,
    # 10 bulk POSTs, 10 list pages + 1,000 list adds
    totals = estimate(autopilot_plan, 1000).totals()
    assert totals == {
        "pipedrive": {"requests": 2008, "tokens": 37 + 40 + 10_000, "setup_requests": 4, "read_requests": 4, "write_requests": 2000},
        "autopilot": {"requests": 1032, "tokens": 0, "setup_requests": 2, "read_requests": 10, "write_requests": 10,
                      "list_requests": 1010},
    }


def test_r3_names_the_binding_limit(autopilot_plan: dict) -> None:
    est = estimate(autopilot_plan, 10_000, pipedrive_plan="essential")
    assert est.binding is not None and est.binding.limit == BUDGET
    assert est.r3.endswith(f", bound by the {BUDGET}; on this plan one day's Pipedrive budget (30,000 tokens) runs out "
                           f"from about {est.budget_exceeded_from:,} records per object")


SOURCE_ONLY_CUSTOM = """syncmap 1
connect pipedrive {
  token = env("PIPEDRIVE_API_TOKEN")
}
connect autopilot {
  key = env("AUTOPILOT_API_KEY")
}
sync pipedrive.Person -> autopilot.Contact {
  match %s
  first_name -> FirstName
  last_name -> LastName
  %s
}
"""


@pytest.mark.parametrize(("match", "rule"), [
    ("email.primary = Email", 'custom("Tier") -> Company'),  # a custom field only read
    ('custom("Backup email") = Email', "phone.primary -> Phone"),  # a custom field only matched on
])  # fmt: skip
def test_custom_fields_only_read_or_matched_still_need_their_definitions(match: str, rule: str) -> None:
    texts = {"m.syncmap": SOURCE_ONLY_CUSTOM % (match, rule)}
    result = compile_plan("m.syncmap", texts.__getitem__)
    assert result.plan is not None, [d.message for d in result.diagnostics]
    setup = [(c.method, c.path) for c in estimate(result.plan, 10).calls if c.kind == "setup"]
    assert ("GET", "/api/v2/personFields") in setup


def reads(est) -> list[tuple]:
    return [(c.system, c.object, c.direction, c.what, c.requests, c.per_request) for c in est.calls if c.kind == "read"]


def test_every_read_says_which_flow_it_serves(autopilot_plan: dict) -> None:
    assert reads(estimate(autopilot_plan, 1000)) == [
        # organization.name -> Company: read through a path, toward the other system
        ("pipedrive", "Organization", "pipedrive → autopilot", "every Organization (read through a path)", 2, 500),
        ("pipedrive", "Person", "pipedrive → autopilot", "every Person", 2, 500),
        ("autopilot", "Contact", "autopilot → pipedrive", "every Contact", 10, 100),
    ]
    five = reads(estimate(compiled("mappings/five-objects.syncmap"), 1000))
    assert five == [
        # Organization <- Contact: read as the target of its pair
        ("pipedrive", "Organization", "autopilot → pipedrive", "every Organization", 2, 500),
        ("pipedrive", "Person", "pipedrive → autopilot", "every Person", 2, 500),
        ("pipedrive", "Deal", "pipedrive → autopilot", "every Deal", 2, 500),
        ("pipedrive", "Activity", "pipedrive → autopilot", "every Activity", 2, 500),
        ("autopilot", "Contact", "autopilot → pipedrive", "every Contact", 10, 100),
        # Autopilot activities come with the contacts: no request of their own
        ("autopilot", "Activity", "autopilot → pipedrive", "every Activity, from the Contact records already read", 0, None),
    ]


def test_an_object_without_cost_data_is_listed_as_unknown_not_priced(autopilot_plan: dict) -> None:
    limits = copy.deepcopy(dict(load_limits()))
    del limits["pipedrive"]["objects"]["Organization"]
    est = estimate(autopilot_plan, 1000, limits=limits)
    assert est.unknown == ("pipedrive.Organization",)
    assert [r[1] for r in reads(est)] == ["Person", "Contact"]


def test_a_list_that_does_not_page_is_one_request_whatever_the_count() -> None:
    limits = copy.deepcopy(dict(load_limits()))
    limits["pipedrive"]["objects"]["Deal"]["list"]["paged"] = False
    est = estimate(compiled("mappings/five-objects.syncmap"), 100_000, limits=limits)
    (deals,) = [r for r in reads(est) if r[1] == "Deal"]
    assert deals[4:] == (1, None)


def test_every_write_says_what_it_writes_and_why(autopilot_plan: dict) -> None:
    writes = [(c.system, c.method, c.path, c.direction, c.what, c.records, c.per_request, c.requests)
              for c in estimate(autopilot_plan, 1000).calls if c.kind in ("write", "list")]
    assert writes == [
        # the apId link lives in Pipedrive: written back once the contact exists (R11)
        ("pipedrive", "PATCH", "/api/v2/persons/{id}", "pipedrive → autopilot",
         'write the new partner id into custom("apId") of every Person (R11)', 1000, 1, 1000),
        ("pipedrive", "POST", "/api/v2/persons", "autopilot → pipedrive",
         "create the Person of every Contact (worst case: none exists yet)", 1000, 1, 1000),
        ("autopilot", "POST", "/contacts", "pipedrive → autopilot",
         "create the Contact of every Person (worst case: none exists yet)", 1000, 100, 10),
        ("autopilot", "GET", "/list/{list_id}/contacts/{bookmark}", "autopilot → pipedrive",
         'members of "Pipedrive Contacts" (worst case: all 1,000 contacts; R2)', 1000, 100, 10),
        ("autopilot", "POST", "/list/{list_id}/contact/{contact_id}", "pipedrive → autopilot",
         'add each contact created from pipedrive to "Pipedrive Contacts" (R7)', 1000, 1, 1000),
    ]  # fmt: skip
    five = estimate(compiled("mappings/five-objects.syncmap"), 1000)
    assert sorted(c.what for c in five.calls if c.kind == "write" and c.what.startswith("update")) == [
        "update the paired Contact of every Activity", "update the paired Contact of every Deal", "update the paired Deal of every Contact",
    ]


@pytest.mark.parametrize(("budget", "first_over"), [
    (56, 0),  # the one-off calls and first pages (57 tokens) already exceed it
    (57, 1),  # 0 records use it exactly: the first record is one too many
    (60, 1),
    (66, 1),
    (67, 2),  # 1 record uses it exactly (57 + 10)
    (68, 2),
])  # fmt: skip
def test_budget_exceeded_from_at_small_budgets(autopilot_plan: dict, budget: int, first_over: int) -> None:
    # tokens(N) = 57 + 10 N for N <= 500 (see test_budget_exceeded_from_is_the_first_count_over_the_budget)
    assert estimate(autopilot_plan, 0).tokens() == 57 and estimate(autopilot_plan, 1).tokens() == 67
    assert estimate(autopilot_plan, 10, daily_budget=budget).budget_exceeded_from == first_over


@pytest.mark.parametrize("bad", [
    {"autopilot_rate": 0}, {"autopilot_rate": -1}, {"burst": 0}, {"daily_budget": 0}, {"seats": 0}, {"list_adds": "sometimes"},
])  # fmt: skip
def test_impossible_settings_are_refused_with_a_clear_error(autopilot_plan: dict, bad: dict) -> None:
    with pytest.raises(CostError):
        estimate(autopilot_plan, 10, **bad)


def test_small_but_positive_settings_are_accepted(autopilot_plan: dict) -> None:
    est = estimate(autopilot_plan, 10, autopilot_rate=0.5, burst=1, daily_budget=1)
    assert (est.autopilot_rate, est.burst, est.daily_budget) == (0.5, 1, 1)


def test_budget_detail_counts_the_days_of_waiting(autopilot_plan: dict) -> None:
    def detail(**kwargs) -> str:
        return next(t.detail for t in estimate(autopilot_plan, 1000, **kwargs).limits if t.limit == BUDGET)

    tokens = estimate(autopilot_plan, 1000).tokens()  # 10,077
    assert detail(daily_budget=tokens) == f"{tokens:,} tokens of {tokens:,} a day (advanced, 1 seat): fits in one day"
    assert detail(daily_budget=tokens - 1).endswith(": 2 daily budgets, at least 1 day of waiting for resets")
    assert detail(daily_budget=4000, seats=2).endswith("(advanced, 2 seats): 3 daily budgets, at least 2 days of waiting for resets")


def test_unverified_facts_are_listed_only_when_not_given(autopilot_plan: dict) -> None:
    def overrides(**kwargs) -> list[str]:
        words = ("--autopilot-rate", "--burst", "--daily-budget", "--list-adds")
        return [next(w for w in words if w in u) for u in estimate(autopilot_plan, 10, **kwargs).unverified]

    # the advanced plan's burst limit is verified; its daily budget multiplier is not
    assert overrides() == ["--autopilot-rate", "--daily-budget", "--list-adds"]
    assert overrides(daily_budget=1000) == ["--autopilot-rate", "--list-adds"]
    assert overrides(autopilot_rate=5, list_adds="in-upsert") == ["--daily-budget"]
