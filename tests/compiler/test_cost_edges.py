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
    # every person becomes a contact: ceil(records / 100) bulk POSTs; every person created from a
    # list member sends its owner name and company back: ceil(records / 100) more, counted apart
    est = estimate(autopilot_plan, records)
    assert [(c.what.split()[0], c.requests) for c in est.calls if (c.kind, c.method, c.path) == ("write", "POST", "/contacts")] == [
        ("create", bulk_posts),
        ("send", bulk_posts),
    ]
    assert requests_of(autopilot_plan, records, "autopilot", "write", "POST", "/contacts") == 2 * bulk_posts


@pytest.mark.parametrize(("records", "pages"), [(0, 1), (1, 1), (500, 1), (501, 2), (1000, 2), (1001, 3)])
def test_pipedrive_reads_round_up_to_whole_pages(autopilot_plan: dict, records: int, pages: int) -> None:
    assert requests_of(autopilot_plan, records, "pipedrive", "read", "GET", "/api/v2/persons") == pages


@pytest.mark.parametrize(("records", "pages"), [(0, 1), (1, 1), (100, 1), (101, 2), (200, 2), (201, 3)])
def test_autopilot_reads_round_up_to_whole_pages(autopilot_plan: dict, records: int, pages: int) -> None:
    # `only autopilot.list(...) -> pipedrive`: the contacts side is the list's roster, 100 a page
    assert requests_of(autopilot_plan, records, "autopilot", "list", "GET", "/list/{list_id}/contacts/{bookmark}") == pages
    assert requests_of(autopilot_plan, records, "autopilot", "read", "GET", "/contacts/{bookmark}") == 0
    # five-objects.syncmap: the Deal, Activity -> Contact and Activity <- autopilot.Activity pairs
    # each read every contact, 100 a page
    five = compiled("mappings/five-objects.syncmap")
    assert requests_of(five, records, "autopilot", "read", "GET", "/contacts/{bookmark}") == 3 * pages


def test_tokens_exactly_one_budget_take_one_day(autopilot_plan: dict) -> None:
    tokens = estimate(autopilot_plan, 1000).tokens()
    exact = estimate(autopilot_plan, 1000, daily_budget=tokens)
    assert exact.budget_days == 1
    assert next(t for t in exact.limits if t.limit == BUDGET).seconds == 0
    over = estimate(autopilot_plan, 1000, daily_budget=tokens - 1)
    assert over.budget_days == 2
    assert next(t for t in over.limits if t.limit == BUDGET).seconds == DAY


def test_budget_exceeded_from_is_the_first_count_over_the_budget(autopilot_plan: dict) -> None:
    # tokens(N) = 52 of one-off calls (users/me 2, users 20, v1 personFields 20, create apId 10)
    # + 2 x 10 per page of 500 (organizations through a path, persons) + 2 x 5 per record (create
    # the person of a list member, PATCH apId into a person that got a contact). 2,501..3,000
    # records take 6 pages each: at 2,982 records 52 + 6 x 20 + 29,820 = 29,992, within 30,000;
    # at 2,983: 30,002, over.
    est = estimate(autopilot_plan, 10, daily_budget=30_000)
    assert est.budget_exceeded_from == 2_983
    assert estimate(autopilot_plan, 2_982).tokens() == 52 + 120 + 29_820 == 29_992
    assert estimate(autopilot_plan, 2_983).tokens() == 52 + 120 + 29_830 == 30_002


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
    # /account and one bulk POST, no read (a push matched by Email alone: the upsert pairs)
    # (Autopilot: 2 requests / 5 per s = 0.4 s)
    est = estimate(compiled("tests/cases/valid/include-connections.syncmap"), 1)
    assert [t.seconds for t in est.limits] == pytest.approx([0.1, 0.0, 0.4])
    assert est.binding is not None and est.binding.limit == RATE and est.min_seconds == pytest.approx(0.4)


def test_set_up_names_no_pair_and_a_pairs_reads_and_writes_name_it(autopilot_plan: dict) -> None:
    # a pair reads its own sides (the runtime reads per pair), so its reads name it as its writes do
    push = "pipedrive.Person->autopilot.Contact"
    est = estimate(compiled("tests/cases/valid/include-connections.syncmap"), 1)
    assert [(c.kind, c.pair) for c in est.calls] == [("setup", None), ("read", push), ("setup", None), ("write", push)]
    assert [c["pair"] for c in est.as_json()["calls"]] == [None, push, None, push]
    # a read through a path (organization.name) is made once per run for every pair: no pair
    both = "pipedrive.Person<->autopilot.Contact"
    assert [(c.kind, c.object, c.pair) for c in estimate(autopilot_plan, 1).calls] == [
        ("setup", None, None),
        ("setup", "User", None),
        ("setup", "Person", None),
        ("setup", "Person", None),
        ("read", "Organization", None),
        ("read", "Person", both),
        ("write", "Person", both),
        ("write", "Person", both),
        ("setup", None, None),
        ("setup", None, None),
        ("setup", None, None),
        ("write", "Contact", both),
        ("write", "Contact", both),
        ("list", "Contact", both),
        ("list", None, both),
    ]


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
    # Pipedrive: 4 setup (52 tokens), 2 + 2 pages (40), 1,000 creates + 1,000 apId PATCHes
    # (10,000); Autopilot: 3 setup (account, lists, create the list), no read of contacts,
    # 10 + 10 bulk POSTs (creates, owner/company sent back), 10 roster pages + 0 list joins
    # (in the upsert); no kind without calls gets a key
    totals = estimate(autopilot_plan, 1000).totals()
    assert totals == {
        "pipedrive": {"requests": 2008, "tokens": 52 + 40 + 10_000, "setup_requests": 4, "read_requests": 4, "write_requests": 2000},
        "autopilot": {"requests": 33, "tokens": 0, "setup_requests": 3, "write_requests": 20, "list_requests": 10},
    }


def test_r3_names_the_binding_limit(autopilot_plan: dict) -> None:
    est = estimate(autopilot_plan, 10_000, pipedrive_plan="essential")
    assert est.binding is not None and est.binding.limit == BUDGET
    assert est.r3.endswith(
        f", bound by the {BUDGET}; on this plan one day's Pipedrive budget (30,000 tokens) runs out "
        f"from about {est.budget_exceeded_from:,} records per object"
    )


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
    # the runtime reads field keys from v1 (limits.json); nothing else of Pipedrive to set up
    assert [s for s in setup if s[1].startswith(("/v1", "/api"))] == [("GET", "/v1/users/me"), ("GET", "/v1/personFields")]


def reads(est) -> list[tuple]:
    return [(c.system, c.object, c.direction, c.what, c.requests, c.per_request) for c in est.calls if c.kind == "read"]


def test_every_read_says_which_flow_it_serves(autopilot_plan: dict) -> None:
    assert reads(estimate(autopilot_plan, 1000)) == [
        # organization.name -> Company: read through a path once per run, for no one flow
        ("pipedrive", "Organization", None, "every Organization (read through a path, once per run)", 2, 500),
        # a pair reads its Pipedrive side for both its directions
        ("pipedrive", "Person", "pipedrive ↔ autopilot", "every Person", 2, 500),
        # no read of every contact: the contacts side is the list's roster (a "list" call)
    ]
    five = reads(estimate(compiled("mappings/five-objects.syncmap"), 1000))
    assert five == [
        # organization.name (Person pair) and `person` (Deal, Activity pairs): read once per run
        ("pipedrive", "Organization", None, "every Organization (read through a path, once per run)", 2, 500),
        ("pipedrive", "Person", None, "every Person (read through a path, once per run)", 2, 500),
        # then each pair in stage order reads its Pipedrive side whole, in the pair's direction
        ("pipedrive", "Organization", "pipedrive ← autopilot", "every Organization", 2, 500),
        ("pipedrive", "Person", "pipedrive ↔ autopilot", "every Person", 2, 500),
        ("pipedrive", "Deal", "pipedrive ↔ autopilot", "every Deal", 2, 500),
        # (the activities' stage: the pair writing activities before the one reading them out)
        ("pipedrive", "Activity", "pipedrive ← autopilot", "every Activity", 2, 500),
        ("pipedrive", "Activity", "pipedrive → autopilot", "every Activity", 2, 500),
        # every contact for the Deal pair and Activity -> Contact (matched by person, not Email);
        # Autopilot activities come from a read of every contact, made by their own pair
        ("autopilot", "Contact", "pipedrive ↔ autopilot", "every Contact", 10, 100),
        ("autopilot", "Contact", "pipedrive ← autopilot", "every Contact, for its Activity records", 10, 100),
        ("autopilot", "Contact", "pipedrive → autopilot", "every Contact", 10, 100),
    ]


def test_an_object_without_cost_data_is_listed_as_unknown_not_priced(autopilot_plan: dict) -> None:
    limits = copy.deepcopy(dict(load_limits()))
    del limits["pipedrive"]["objects"]["Organization"]
    est = estimate(autopilot_plan, 1000, limits=limits)
    assert est.unknown == ("pipedrive.Organization",)
    assert [r[1] for r in reads(est)] == ["Person"]
    # only the organizations' read is missing; every other call is priced as with the data
    full = estimate(autopilot_plan, 1000)
    assert est.calls == tuple(c for c in full.calls if c.object != "Organization") and len(est.calls) == len(full.calls) - 1
    assert est.tokens() == full.tokens() - 2 * 10


def test_a_list_that_does_not_page_is_one_request_whatever_the_count() -> None:
    limits = copy.deepcopy(dict(load_limits()))
    limits["pipedrive"]["objects"]["Deal"]["list"]["paged"] = False
    est = estimate(compiled("mappings/five-objects.syncmap"), 100_000, limits=limits)
    (deals,) = [r for r in reads(est) if r[1] == "Deal"]
    assert deals[4:] == (1, None)


def test_every_write_says_what_it_writes_and_why(autopilot_plan: dict) -> None:
    writes = [
        (c.system, c.method, c.path, c.direction, c.what, c.records, c.per_request, c.requests)
        for c in estimate(autopilot_plan, 1000).calls
        if c.kind in ("write", "list")
    ]
    assert writes == [
        # list members become persons, apId in the create body (no PATCH for them; R11)
        ("pipedrive", "POST", "/api/v2/persons", "autopilot → pipedrive",
         "create the Person of every Contact (worst case: none exists yet)", 1000, 1, 1000),
        # the apId link lives in Pipedrive: one PATCH per person that got a contact (R11)
        ("pipedrive", "PATCH", "/api/v2/persons/{id}", "pipedrive → autopilot",
         "write the partner id into apId of every Person paired or created in autopilot (R11)", 1000, 1, 1000),
        ("autopilot", "POST", "/contacts", "pipedrive → autopilot",
         "create the Contact of every Person (worst case: none exists yet)", 1000, 100, 10),
        # owner.name and organization.name flow only out: a person created from a contact sends them back
        ("autopilot", "POST", "/contacts", "pipedrive → autopilot",
         "send back the values of each Person created from a Contact (owner, company)", 1000, 100, 10),
        ("autopilot", "GET", "/list/{list_id}/contacts/{bookmark}", "pipedrive ↔ autopilot",
         'members of "Pipedrive Contacts" (worst case: all 1,000 contacts; R2)', 1000, 100, 10),
        # list_adds defaults to in-upsert: the join rides in the creates' bulk POST, no request (R7)
        ("autopilot", "POST", "/contacts", "pipedrive → autopilot",
         'join "Pipedrive Contacts" via _autopilot_list in the bulk upsert (R7)', 1000, None, 0),
    ]  # fmt: skip
    per_contact = [
        (c.method, c.path, c.direction, c.what, c.records, c.per_request, c.requests)
        for c in estimate(autopilot_plan, 1000, list_adds="per-contact").calls
        if c.kind == "list" and c.method == "POST"
    ]
    assert per_contact == [
        ("POST", "/list/{list_id}/contact/{contact_id}", "pipedrive → autopilot",
         'add each contact created from pipedrive to "Pipedrive Contacts" (R7)', 1000, 1, 1000),
    ]  # fmt: skip
    five = estimate(compiled("mappings/five-objects.syncmap"), 1000)
    assert sorted(c.what for c in five.calls if c.kind == "write" and c.what.startswith("update")) == [
        "update the paired Contact of every Activity",
        "update the paired Contact of every Deal",
        "update the paired Deal of every Contact",
    ]


@pytest.mark.parametrize(("budget", "first_over"), [
    (71, 0),  # the one-off calls and first pages (52 + 2 x 10 = 72 tokens) already exceed it
    (72, 1),  # 0 records use it exactly: the first record is one too many
    (75, 1),
    (81, 1),
    (82, 2),  # 1 record uses it exactly (72 + 2 x 5)
    (83, 2),
])  # fmt: skip
def test_budget_exceeded_from_at_small_budgets(autopilot_plan: dict, budget: int, first_over: int) -> None:
    # tokens(N) = 72 + 10 N for N <= 500 (see test_budget_exceeded_from_is_the_first_count_over_the_budget)
    assert estimate(autopilot_plan, 0).tokens() == 72 and estimate(autopilot_plan, 1).tokens() == 82
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
