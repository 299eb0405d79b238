"""`syncmap explain`: a mapping in plain words with its cost, a code's long text, and the exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from syncmap.compiler.codes import REGISTRY
from syncmap.runtime.cli import cli

ROOT = Path(__file__).resolve().parents[2]
AUTOPILOT = str(ROOT / "mappings" / "autopilot.syncmap")
FIVE = str(ROOT / "mappings" / "five-objects.syncmap")
SMALL = str(ROOT / "tests" / "cases" / "valid" / "one-way-with-transforms.syncmap")
BAD = str(ROOT / "tests" / "cases" / "invalid" / "SM004-missing-arrow.syncmap")


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_small_mapping_names_every_field_operation() -> None:
    result = run("explain", SMALL)
    assert result.exit_code == 0, result.output
    out = result.stdout
    for line in (
        "Autopilot Contact FirstName → Pipedrive Person first_name (with trim)",
        "Autopilot Contact LastName → Pipedrive Person last_name (with trim)",
        "Autopilot Contact Email → Pipedrive Person email.primary (with trim, lowercase)",
        'Autopilot Contact Phone → Pipedrive Person phone.primary (default "unknown")',
        'Autopilot Contact LeadSource → Pipedrive Person custom("Source") (with map {"Web" → "Website", "Ads" → "Paid"})',
        'true → Pipedrive Person custom("Imported") (on create only)',
    ):
        assert line in out, line
    assert "Pipedrive Person <- Autopilot Contact  (one-way, Autopilot to Pipedrive" in out
    assert 'only records where (on the Autopilot list "Newsletter") and (not (Autopilot Contact unsubscribed is true)) flow into Pipedrive' in out
    assert "Pipedrive Person: creates yes, updates yes" in out and "Autopilot Contact: nothing flows in" in out
    assert "empty values are written" in out and "Pipedrive wins" in out
    assert 'ok  Pipedrive Person first_name ("First Name"): written from Autopilot Contact FirstName' in out


def test_shipped_mapping_rules_actions_and_cost() -> None:
    result = run("explain", AUTOPILOT, "--records", "10000", "--pipedrive-plan", "enterprise")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "Pipedrive Person first_name → Autopilot Contact FirstName  [autopilot.syncmap:37]" in out
    assert "R2   honoured" in out and 'only records on the Autopilot list "Pipedrive Contacts" flow into Pipedrive (autopilot.syncmap:27)' in out
    assert "R11  honoured" in out and "(autopilot.syncmap:20)" in out  # the link line, found in the source
    assert "R16  not used" in out and "R5   run time" in out
    assert '"Add Deal" on Autopilot Contact  (autopilot.syncmap:48): creates the person if missing: yes' in out
    assert '"Update Deal Stage" on Autopilot Contact  (autopilot.syncmap:79): creates the person if missing: no' in out
    # enterprise: 20,044 Pipedrive requests at 120 per 2 s (334.1 s) outlast 303 Autopilot requests at 5/s
    assert "least time the rate limits allow: 5 min 35 s, bound by the pipedrive burst window" in out
    assert "20,044   100,452  total" in out


def test_implicit_filters_quote_the_seed() -> None:
    result = run("explain", FIVE)
    assert result.exit_code == 0, result.output
    assert "Pipedrive done = true (R16, even if the mapping does not say so)" in result.stdout
    assert 'seed: "Only Closed Activities will sync out to another system"' in result.stdout
    assert "Pipedrive expected_close_date must be set (R19" in result.stdout


def test_json_has_the_same_content() -> None:
    result = run("explain", FIVE, "--format", "json", "--pipedrive-plan", "essential", "--records", "1000")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["pairs"][0]["id"] == "pipedrive.Person<->autopilot.Contact"
    assert [r["rule"] for r in data["rules"]] == [f"R{i}" for i in range(1, 24)]
    assert data["cost"]["records"] == 1000 and data["cost"]["pipedrive_plan"] == "essential"
    # 1,000 records: 5 setup + 7 reads of 2 pages (organizations and persons also through paths,
    # activities by both Activity pairs) + 5 writes x 1,000
    assert data["cost"]["totals"]["pipedrive"]["requests"] == 5 + 14 + 5_000
    # the burst window binds: 5,019 requests x 2 s / 20 (essential) = 501.9 s, against 93
    # Autopilot requests / 5 per s; 25,212 tokens fit in one day's 30,000
    assert data["cost"]["binding"] == "pipedrive burst window"
    assert data["cost"]["min_seconds"] == pytest.approx(501.9)
    human = run("explain", FIVE, "--pipedrive-plan", "essential", "--records", "1000").stdout
    for flow in data["pairs"][0]["flows"]:
        for op in flow["fields"]:
            assert op["text"] in human


def test_explain_a_code() -> None:
    result = run("explain", "SM004")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"SM004: {REGISTRY['SM004'].title} (error)")
    assert REGISTRY["SM004"].fix in result.stdout
    assert run("explain", "sm004").stdout == result.stdout


def test_unknown_code_exits_2() -> None:
    result = run("explain", "SM999")
    assert result.exit_code == 2
    assert "unknown diagnostic code `SM999`" in result.stderr
    assert result.stdout == ""


def test_mapping_with_errors_prints_diagnostics_and_exits_1() -> None:
    result = run("explain", BAD)
    assert result.exit_code == 1
    assert "error[SM004]" in result.stderr and result.stdout == ""
    as_json = run("explain", BAD, "--format", "json")
    # stdout is the explanation's data, so the records go to stderr (`| jq .cost` reads nothing)
    assert as_json.exit_code == 1 and as_json.stdout == "" and json.loads(as_json.stderr)[0]["code"] == "SM004"


def test_usage_errors_exit_2() -> None:
    assert run("explain").exit_code == 2
    assert run("explain", "no-such-file.syncmap").exit_code == 2
    assert run("explain", AUTOPILOT, "--pipedrive-plan", "gold").exit_code == 2
    assert run("explain", AUTOPILOT, "--records", "-5").exit_code == 2
