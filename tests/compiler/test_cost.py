"""The initial-sync estimate: request and token counts derived by hand, the limits data, the binding limit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from syncmap.compiler.api import compile_plan
from syncmap.compiler.cost import BUDGET, BURST, RATE, CostError, estimate, format_duration, load_limits
from syncmap.compiler.token_costs import COSTS_FILE, load_token_costs

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared"
BENCH = ROOT / "bench" / "mappings"
N = 10_000


def _plan(path: Path) -> dict:
    result = compile_plan(str(path))
    assert result.plan is not None, result.diagnostics
    return result.plan


@pytest.fixture(scope="module")
def autopilot_plan() -> dict:
    result = compile_plan(str(ROOT / "mappings" / "autopilot.syncmap"))
    assert result.plan is not None, result.diagnostics
    return result.plan


@pytest.fixture(scope="module")
def five_plan() -> dict:
    result = compile_plan(str(ROOT / "mappings" / "five-objects.syncmap"))
    assert result.plan is not None, result.diagnostics
    return result.plan


def by_path(est, system: str) -> dict[tuple[str, str, str], int]:
    out: dict[tuple[str, str, str], int] = {}
    for c in est.calls:
        if c.system == system:
            key = (c.kind, c.method, c.path)
            out[key] = out.get(key, 0) + c.requests
    return out


def test_autopilot_mapping_at_10k_by_hand(autopilot_plan) -> None:
    est = estimate(autopilot_plan, N)  # advanced plan, 1 seat, 5 requests/s, list joins in the upsert
    pd = by_path(est, "pipedrive")
    assert pd == {
        # set-up: /users/me always; /users for owner.name; v1 person fields (apId is custom), create apId (missing)
        ("setup", "GET", "/v1/users/me"): 1,
        ("setup", "GET", "/v1/users"): 1,
        ("setup", "GET", "/v1/personFields"): 1,
        ("setup", "POST", "/v1/personFields"): 1,
        # reads at 500 a page: organizations once for organization.name (20 pages), persons for the pair (20)
        ("read", "GET", "/api/v2/organizations"): 20,
        ("read", "GET", "/api/v2/persons"): 20,
        # 10,000 list members become persons, one POST each (apId in the create body: no extra PATCH)
        ("write", "POST", "/api/v2/persons"): 10_000,
        # 10,000 persons become contacts; each then gets its apId written, one PATCH each
        ("write", "PATCH", "/api/v2/persons/{id}"): 10_000,
    }
    assert est.requests("pipedrive") == 4 + 40 + 20_000 == 20_044
    # tokens: me 2 + users 20 + v1 personFields 20 + create field 10 = 52; 40 pages x 10 = 400;
    # 20,000 writes x 5 = 100,000
    assert est.tokens("pipedrive") == 52 + 400 + 100_000 == 100_452
    ap = by_path(est, "autopilot")
    assert ap == {
        ("setup", "GET", "/account"): 1,
        ("setup", "GET", "/lists"): 1,
        ("setup", "POST", "/list"): 1,
        # `only autopilot.list(...)`: the roster is the contacts side, never every contact
        ("list", "GET", "/list/{list_id}/contacts/{bookmark}"): 100,
        # 10,000 persons upserted 100 at a time; the 10,000 persons created from contacts send their
        # owner name back in 100 more; new contacts join the list in the upsert (R7): 0 requests
        ("write", "POST", "/contacts"): 100 + 100,
        ("list", "POST", "/contacts"): 0,
    }
    assert est.requests("autopilot") == 303
    assert est.tokens("autopilot") == 0
    limits = {t.limit: t.seconds for t in est.limits}
    assert limits[BURST] == pytest.approx(20_044 * 2 / 40)  # advanced: 40 requests per 2 s -> 1,002.2 s
    assert est.daily_budget == 30_000 * 2 * 1 == 60_000
    assert est.budget_days == 2  # ceil(100,452 / 60,000)
    assert limits[BUDGET] == 86_400  # two budgets: at least one reset to wait for
    assert limits[RATE] == pytest.approx(303 / 5)  # 60.6 s
    assert est.binding.limit == BUDGET
    assert est.min_seconds == 86_400
    # tokens(N) = 52 + 2 * 10 * ceil(N / 500) + 10 * N: 5,970 -> 59,992 (fits), 5,971 -> 60,002 (over)
    assert est.budget_exceeded_from == 5_971


def test_five_objects_mapping_at_10k_by_hand(five_plan) -> None:
    est = estimate(five_plan, N)
    pd = by_path(est, "pipedrive")
    assert pd == {
        ("setup", "GET", "/v1/users/me"): 1,
        ("setup", "GET", "/v1/users"): 1,  # owner.name, owner_id (R20)
        ("setup", "GET", "/v1/personFields"): 1,  # apId and "Lead score" are person fields
        ("setup", "POST", "/v1/personFields"): 1,
        ("setup", "GET", "/v1/activityTypes"): 1,  # activities are created in Pipedrive (R18)
        # organizations twice (once through organization.name, once for the Organization pair) and
        # persons twice (through `person` of deals and activities, and the Person pair): 20 pages each;
        # deals once; activities once per Activity pair
        ("read", "GET", "/api/v2/organizations"): 40,
        ("read", "GET", "/api/v2/persons"): 40,
        ("read", "GET", "/api/v2/deals"): 20,
        ("read", "GET", "/api/v2/activities"): 40,
        ("write", "POST", "/api/v2/organizations"): 10_000,  # Organization <- Contact creates
        ("write", "POST", "/api/v2/persons"): 10_000,
        ("write", "PATCH", "/api/v2/persons/{id}"): 10_000,  # apId of every person that got a contact
        ("write", "PATCH", "/api/v2/deals/{id}"): 10_000,  # `only linked -> pipedrive`: updates only
        ("write", "POST", "/api/v2/activities"): 10_000,  # Activity <- autopilot.Activity, `only new`
    }
    assert est.requests("pipedrive") == 5 + 140 + 50_000 == 50_145
    # setup 2 + 20 + 20 + 10 + 20 = 72; 140 pages x 10 = 1,400; 50,000 writes x 5 = 250,000
    assert est.tokens("pipedrive") == 72 + 1_400 + 250_000 == 251_472
    ap = by_path(est, "autopilot")
    assert ap == {
        ("setup", "GET", "/account"): 1,
        ("setup", "GET", "/lists"): 1,
        ("setup", "POST", "/list"): 1,
        # the Deal pair, Activity -> Contact (matched by person, not by Email) and Activity <-
        # autopilot.Activity (engagement history) each read every contact: 3 x 100 pages
        ("read", "GET", "/contacts/{bookmark}"): 300,
        # the Organization and Person pairs each read the list's roster (R2): 2 x 100 pages
        ("list", "GET", "/list/{list_id}/contacts/{bookmark}"): 200,
        # Person: 100 creates + 100 sent back after persons are created; Deal and Activity: 100 updates each
        ("write", "POST", "/contacts"): 400,
        ("list", "POST", "/contacts"): 0,
    }
    assert est.requests("autopilot") == 3 + 300 + 200 + 400 == 903


def test_one_way_push_matched_by_email_reads_no_autopilot() -> None:
    est = estimate(_plan(BENCH / "pipedrive-to-autopilot.syncmap"), N)
    assert by_path(est, "pipedrive") == {
        ("setup", "GET", "/v1/users/me"): 1,  # no owner, no custom field, no path: nothing else to set up
        ("read", "GET", "/api/v2/persons"): 20,
    }
    assert est.tokens("pipedrive") == 2 + 200
    # no list, and Autopilot's upsert by Email pairs: nothing read in Autopilot, 100 upserts of 100
    assert by_path(est, "autopilot") == {("setup", "GET", "/account"): 1, ("write", "POST", "/contacts"): 100}
    assert est.binding.limit == RATE  # 101 / 5 = 20.2 s > 21 * 2 / 40 = 1.05 s


def test_one_way_pull_from_a_list_reads_its_roster_only() -> None:
    est = estimate(_plan(BENCH / "autopilot-to-pipedrive.syncmap"), N)
    # `owner default pipedrive.me` needs the connecting user only, not every user
    assert by_path(est, "pipedrive") == {
        ("setup", "GET", "/v1/users/me"): 1,
        ("read", "GET", "/api/v2/persons"): 20,
        ("write", "POST", "/api/v2/persons"): 10_000,
    }
    assert est.tokens("pipedrive") == 2 + 200 + 50_000
    assert by_path(est, "autopilot") == {
        ("setup", "GET", "/account"): 1,
        ("setup", "GET", "/lists"): 1,
        ("setup", "POST", "/list"): 1,
        ("list", "GET", "/list/{list_id}/contacts/{bookmark}"): 100,
    }


@pytest.mark.parametrize(
    "mapping,edit,reads,users",
    [
        # a push matched by anything but Email alone must read every contact to pair first
        (
            "pipedrive-to-autopilot",
            ("match email.primary = Email", "match phone.primary = Phone"),
            {("read", "GET", "/contacts/{bookmark}"): 100, ("write", "POST", "/contacts"): 100},
            False,
        ),
        (
            "pipedrive-to-autopilot",
            ("match email.primary = Email", "match email.primary = Email, phone.primary = Phone"),
            {("read", "GET", "/contacts/{bookmark}"): 100, ("write", "POST", "/contacts"): 100},
            False,
        ),
        # an owner id from Autopilot must be a Pipedrive user (R20): every user is read; still the roster only
        (
            "autopilot-to-pipedrive",
            ("  email.primary <- Email\n", '  email.primary <- Email\n  owner_id <- custom("Pipedrive Owner ID", integer)\n'),
            {("list", "GET", "/list/{list_id}/contacts/{bookmark}"): 100},
            True,
        ),
    ],
    ids=["match-by-phone", "match-by-email-and-phone", "owner-ids"],
)
def test_what_a_run_reads_follows_the_mapping(tmp_path, mapping, edit, reads, users) -> None:
    source = (BENCH / f"{mapping}.syncmap").read_text()
    assert edit[0] in source
    path = tmp_path / "m.syncmap"
    path.write_text(source.replace(*edit))
    est = estimate(_plan(path), N)
    assert {k: v for k, v in by_path(est, "autopilot").items() if k[0] != "setup"} == reads
    assert (("setup", "GET", "/v1/users") in by_path(est, "pipedrive")) == users


def test_binding_limit_changes_with_the_plan(autopilot_plan) -> None:
    essential = estimate(autopilot_plan, N, pipedrive_plan="essential")
    assert (essential.burst, essential.daily_budget) == (20, 30_000)
    assert essential.budget_days == 4  # ceil(100,452 / 30,000)
    assert essential.binding.limit == BUDGET and essential.min_seconds == 3 * 86_400

    enterprise = estimate(autopilot_plan, N, pipedrive_plan="enterprise")
    assert (enterprise.burst, enterprise.daily_budget) == (120, 210_000)
    assert enterprise.budget_days == 1  # 100,452 tokens fit in 210,000
    assert enterprise.binding.limit == BURST  # 20,044 requests * 2 s / 120 = 334.1 s > 303 / 5 per s = 60.6 s
    assert enterprise.min_seconds == pytest.approx(20_044 * 2 / 120)

    one_by_one = estimate(autopilot_plan, N, pipedrive_plan="enterprise", list_adds="per-contact")
    assert one_by_one.requests("autopilot") == 303 + 10_000  # each created contact joins the list alone
    assert one_by_one.binding.limit == RATE  # 10,303 / 5 = 2,060.6 s
    assert one_by_one.min_seconds == pytest.approx(10_303 / 5)


def test_seats_and_overrides(autopilot_plan) -> None:
    two_seats = estimate(autopilot_plan, N, seats=2)  # advanced: 60,000 x 2 = 120,000 >= 100,452
    assert two_seats.daily_budget == 120_000 and two_seats.budget_days == 1
    assert two_seats.binding.limit == BURST
    slow = estimate(autopilot_plan, N, seats=2, autopilot_rate=0.25, burst=100, daily_budget=1_000_000, list_adds="in-upsert")
    assert slow.burst == 100 and slow.daily_budget == 1_000_000 and slow.autopilot_rate == 0.25
    assert slow.binding.limit == RATE and slow.min_seconds == pytest.approx(303 / 0.25)  # 1,212 s > 20,044 * 2 / 100
    assert slow.unverified == ()  # every unverified fact was given explicitly
    assert any("--autopilot-rate" in u for u in estimate(autopilot_plan, N).unverified)


def test_small_counts_and_bad_arguments(autopilot_plan) -> None:
    empty = estimate(autopilot_plan, 0)
    # every read still takes one request; nothing is written
    assert by_path(empty, "pipedrive")[("read", "GET", "/api/v2/persons")] == 1
    assert by_path(empty, "pipedrive")[("write", "POST", "/api/v2/persons")] == 0
    assert empty.requests("pipedrive") == 4 + 2
    assert empty.requests("autopilot") == 3 + 1
    assert by_path(estimate(autopilot_plan, 501), "pipedrive")[("read", "GET", "/api/v2/persons")] == 2
    assert by_path(estimate(autopilot_plan, 101), "autopilot")[("write", "POST", "/contacts")] == 2 + 2
    with pytest.raises(CostError, match="unknown Pipedrive plan"):
        estimate(autopilot_plan, N, pipedrive_plan="gold")
    with pytest.raises(CostError):
        estimate(autopilot_plan, -1)
    with pytest.raises(CostError):
        estimate(autopilot_plan, N, list_adds="sometimes")


def test_assumptions_and_r3_are_stated(autopilot_plan) -> None:
    est = estimate(autopilot_plan, N)
    text = " ".join(est.assumptions)
    assert "worst case" in text and "no search calls" in text and "k-1 days" in text and "roster" in text
    assert est.r3.startswith("R3 says an initial sync of 10,000 or more contacts is slow")
    assert "1 day 0 h" in est.r3 and "5,971 records" in est.r3
    data = est.as_json()
    assert json.loads(json.dumps(data)) == data
    assert data["totals"]["pipedrive"]["tokens"] == 100_452 and data["binding"] == BUDGET


def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 59.2, 61, 3600, 86_400 * 3 + 7200)] == ["0 s", "1 min 0 s", "1 min 1 s", "1 h 0 min", "3 days 2 h"]


# ------------------------------------------------------------------ the limits data


def _shared_costs() -> dict[tuple[str, str, str], int]:
    data = json.loads((SHARED / "ref" / "pipedrive" / "token-costs.json").read_text(encoding="utf-8"))
    return {(spec, op["method"], op["path"]): op["token_cost"] for spec, ops in data["specs"].items() for op in ops}


def _operations() -> list[tuple[str, dict]]:
    pd = load_limits()["pipedrive"]
    out = [(f"operations.{name}", op) for name, op in pd["operations"].items()]
    out += [(f"objects.{obj}.{name}", op) for obj, ops in pd["objects"].items() for name, op in ops.items() if isinstance(op, dict)]
    return out


def test_token_cost_table_is_the_published_one() -> None:
    shared = json.loads((SHARED / "ref" / "pipedrive" / "token-costs.json").read_text(encoding="utf-8"))
    assert json.loads(COSTS_FILE.read_text(encoding="utf-8")) == shared


@pytest.mark.parametrize("where,op", _operations(), ids=[w for w, _ in _operations()])
def test_operations_cost_what_their_spec_publishes(where: str, op: dict) -> None:
    # limits.json names the spec each operation comes from; the shared lookup must find that
    # operation's published cost (and not, say, a v1 twin of a v2 route)
    shared = _shared_costs()
    key = (op["spec"], op["method"], op["path"])
    assert key in shared, f"{where}: {key} is not in token-costs.json"
    assert "tokens" not in op, f"{where}: token costs live in token_costs.json only"
    assert load_token_costs().cost(op["method"], op["path"]) == shared[key], where


def test_token_cost_lookup() -> None:
    costs = load_token_costs()
    assert costs.cost("GET", "/api/v2/persons") == 10 and costs.cost("GET", "/api/v2/persons/42") == 1
    assert costs.cost("GET", "/api/v2/persons/search") == 20  # the literal route wins over /persons/{id}
    assert costs.cost("GET", "/v1/users") == costs.cost("GET", "/api/v1/users") == 20  # both prefixes reach v1
    assert costs.cost("get", "/api/v2/persons?limit=500") == 10
    assert costs.cost("GET", "/nowhere") == 0


def test_every_fact_names_its_source() -> None:
    data = load_limits()
    facts = [data["pipedrive"][k] for k in ("page_size", "bulk_write", "burst_window_seconds", "search_burst", "daily_budget_base")]
    facts += [data["autopilot"][k] for k in ("page_size", "bulk_write", "rate_per_second", "list_adds")]
    facts += [tier[k] for tier in data["pipedrive"]["plans"].values() for k in ("burst", "burst_oauth", "multiplier")]
    for fact in facts:
        assert fact["source"] and isinstance(fact["unverified"], bool) and "value" in fact
    # the references call these unverified: they must stay overridable
    assert data["autopilot"]["rate_per_second"]["unverified"] and data["pipedrive"]["plans"]["lite"]["burst"]["unverified"]
    assert data["pipedrive"]["plans"]["essential"]["burst"]["value"] == 20 and data["pipedrive"]["plans"]["enterprise"]["burst"]["value"] == 120


def test_the_mapping_connection_settings_choose_plan_seats_and_rate(tmp_path) -> None:
    from syncmap.compiler.api import compile_plan

    source = (ROOT / "mappings" / "autopilot.syncmap").read_text()
    source = source.replace('  token = env("PIPEDRIVE_API_TOKEN")', '  token = env("PIPEDRIVE_API_TOKEN")\n  plan = "essential"\n  seats = 3')
    source = source.replace('  key = env("AUTOPILOT_API_KEY")', '  key = env("AUTOPILOT_API_KEY")\n  rate = 20')
    path = tmp_path / "m.syncmap"
    path.write_text(source)
    plan = compile_plan(str(path)).plan
    assert plan is not None
    from_mapping = estimate(plan, 1000)
    explicit = estimate(plan, 1000, pipedrive_plan="essential", seats=3, autopilot_rate=20)
    assert from_mapping == explicit
    assert estimate(plan, 1000, pipedrive_plan="enterprise") != from_mapping  # options still win
