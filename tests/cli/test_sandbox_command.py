"""`syncmap sandbox` up to the point of serving: the plans it accepts and the warning for a
sandbox that other machines can reach with credentials anyone knows."""

from __future__ import annotations

import functools

import pytest
from click.testing import CliRunner

from syncmap.compiler.cost import plan_names
from syncmap.runtime.cli import cli, sandbox_cmd


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def served(monkeypatch) -> list[dict]:
    """Runs `syncmap sandbox` up to the point of serving, recording what it would serve with."""
    calls: list[dict] = []

    async def record(sandboxes: functools.partial, *, plan: str, profile: str) -> None:
        calls.append(sandboxes.keywords)  # what serve_sandboxes would be called with
        assert (plan, profile) == (sandboxes.keywords["plan"], sandboxes.keywords["profile"])

    monkeypatch.setattr(sandbox_cmd, "_serve", record)
    return calls


def test_sandbox_plan_accepts_exactly_the_cost_tables_plans(served: list[dict]) -> None:
    for plan in plan_names():
        result = run("sandbox", "--plan", plan)
        assert result.exit_code == 0, (plan, result.stderr)
    assert [call["plan"] for call in served] == plan_names()
    assert "lite" in plan_names()  # a newer plan name, refused before the list was shared
    unknown = run("sandbox", "--plan", "gold")
    assert unknown.exit_code == 2 and "essential" in unknown.stderr and not served[len(plan_names()) :]


def test_the_sandbox_itself_knows_every_plan_the_cost_table_offers() -> None:
    from syncmap.sandbox.pipedrive.settings import BUDGET_MULTIPLIERS, BURST_LIMITS

    assert list(BURST_LIMITS) == plan_names() and set(BUDGET_MULTIPLIERS) == set(plan_names())


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "::", "sandbox.example"])
def test_a_sandbox_beyond_loopback_with_default_credentials_warns(served: list[dict], host: str) -> None:
    result = run("sandbox", "--host", host)
    assert result.exit_code == 0
    assert f"warning: listening on {host}, beyond loopback" in result.stderr
    assert "--pipedrive-token sandbox-token and --autopilot-key sandbox-key" in result.stderr
    assert "warning" not in result.stdout  # stdout stays the environment lines


def test_only_the_credential_still_at_its_default_is_named(served: list[dict]) -> None:
    result = run("sandbox", "--host", "0.0.0.0", "--pipedrive-token", "s3cret")
    assert "--autopilot-key sandbox-key" in result.stderr and "sandbox-token" not in result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["--host", "127.0.0.1"],
        ["--host", "127.0.0.2"],
        ["--host", "::1"],
        ["--host", "localhost"],
        [],
        ["--host", "0.0.0.0", "--pipedrive-token", "s3cret", "--autopilot-key", "k3y"],
    ],
)
def test_no_warning_on_loopback_or_with_own_credentials(served: list[dict], args: list[str]) -> None:
    result = run("sandbox", *args)
    assert result.exit_code == 0 and "warning" not in result.stderr
