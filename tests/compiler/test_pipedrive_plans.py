"""The one table of Pipedrive plans (compiler/costs/pipedrive_plans.json): what it says, that
`syncmap explain`'s estimate, the runtime's governor and the sandbox all say the same for every
plan, and that the sandbox takes nothing else from the compiler."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import httpx
import pytest

from syncmap.compiler.api import compile_plan
from syncmap.compiler.cost import estimate, load_limits
from syncmap.compiler.pipedrive_plans import burst_limits, daily_budget, load_plans, plan, plan_names
from syncmap.runtime.governor import PipedriveGovernor
from syncmap.sandbox.pipedrive import create_app

ROOT = Path(__file__).resolve().parents[2]
OLDER = ["essential", "advanced", "professional", "power", "enterprise"]
CURRENT = ["lite", "growth", "premium", "ultimate"]


def test_both_vocabularies_are_rows_and_each_counterpart_is_named_once_and_agrees() -> None:
    plans = load_plans()["plans"]
    assert plan_names() == OLDER + CURRENT
    assert [n for n in plans if plans[n]["names"] == "older"] == OLDER
    for name, row in plans.items():
        other = row["same_as"]
        if other is None:
            continue
        assert plans[other]["same_as"] == name and plans[other]["names"] != row["names"], name
        for fact in ("burst", "burst_oauth", "multiplier"):
            assert row[fact]["value"] == plans[other][fact]["value"], (name, other, fact)
    # Premium's burst (100) is Power's, not Professional's (80): Professional has no counterpart,
    # and its budget is not assumed to be Premium's.
    assert plans["professional"]["same_as"] is None and plans["professional"]["multiplier"]["value"] == 3


def test_only_what_the_reference_verifies_is_marked_verified() -> None:
    # ref/pipedrive-api.md §5.B: the older names' bursts are the official table; the current
    # names' bursts are third-party summaries (§11 item 11); the multipliers and the base are
    # near-verified at best (§11 item 2).
    table = load_plans()
    official = {"essential": (20, 80), "advanced": (40, 160), "professional": (80, 320), "power": (100, 400), "enterprise": (120, 480)}
    for name in plan_names():
        row = plan(name)
        facts = [row["burst"], row["burst_oauth"], row["multiplier"]]
        assert all(f["source"] and isinstance(f["unverified"], bool) for f in facts), name
        assert row["multiplier"]["unverified"] is True
        assert row["burst"]["unverified"] is row["burst_oauth"]["unverified"] is (name in CURRENT)
        if name in official:
            assert burst_limits(name) == official[name]
    assert table["daily_budget_base"]["value"] == 30_000 and table["daily_budget_base"]["unverified"] is True
    assert daily_budget("premium", seats=3) == 30_000 * 5 * 3


async def _sandbox_limits(name: str) -> tuple[int, int]:
    """What the sandbox's answers say: the burst limit and the day's token budget."""
    app = create_app(plan=name)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://pipedrive.test") as http:
        answer = await http.get("/v1/users/me", headers={"x-api-token": "sandbox-token"})
    assert answer.status_code == 200
    return int(answer.headers["x-ratelimit-limit"]), int(answer.headers["x-daily-ratelimit-token-limit"])


@pytest.mark.parametrize("name", OLDER + CURRENT)
def test_explain_the_governor_and_the_sandbox_agree_on_every_plan(name: str) -> None:
    mapping = compile_plan(str(ROOT / "mappings" / "autopilot.syncmap")).plan
    assert mapping is not None
    explained = estimate(mapping, 100, pipedrive_plan=name, seats=1)
    governor = PipedriveGovernor(plan=name)
    sandbox = asyncio.run(_sandbox_limits(name))
    burst, budget = burst_limits(name)[0], daily_budget(name)
    assert (explained.burst, explained.daily_budget) == (burst, budget)
    assert (governor.burst.limit, governor.budget_guess) == (burst, budget)
    assert sandbox == (burst, budget)
    assert load_limits()["pipedrive"]["plans"][name] is plan(name)  # the estimate reads the same rows


def test_an_unknown_plan_is_refused_by_each_reader() -> None:
    with pytest.raises(ValueError, match="unknown Pipedrive plan 'gold'"):
        PipedriveGovernor(plan="gold")
    with pytest.raises(ValueError, match="unknown Pipedrive plan 'gold'"):
        create_app(plan="gold")
    with pytest.raises(ValueError, match="unknown Pipedrive plan 'gold'"):
        daily_budget("gold")


def test_the_sandbox_takes_only_published_data_from_the_compiler() -> None:
    # The dependency rule's exception (docs/architecture.md): the token costs and the plans.
    allowed = {"syncmap.compiler.token_costs", "syncmap.compiler.pipedrive_plans"}
    used = set()
    for path in (ROOT / "sandbox").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("syncmap.compiler"):
                used.add(node.module)
            elif isinstance(node, ast.Import):
                used |= {a.name for a in node.names if a.name.startswith("syncmap.compiler")}
            assert not (isinstance(node, ast.ImportFrom) and node.module and node.module.startswith(("syncmap.runtime", "syncmap.grammar"))), path
    assert used <= allowed and "syncmap.compiler.pipedrive_plans" in used
