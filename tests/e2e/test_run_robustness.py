"""A run meets what production throws at it: 429 storms, 5xx, a SIGKILL, the daily budget."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from harness import MAPPINGS, Sandbox, primary
from mirror import LIST, check_mirror, norm, snapshot

MAPPING = str(MAPPINGS / "autopilot.syncmap")


def run(sbx: Sandbox, *args: str) -> subprocess.CompletedProcess[str]:
    return sbx.syncmap("run", MAPPING, "--state", sbx.state, "--format", "json", *args)


def seed_both_ways(sbx: Sandbox, persons: int, members: int) -> list[str]:
    """Pipedrive persons, and Autopilot contacts of which `members` are on the scope list."""
    sbx.reset(pipedrive=persons, autopilot=members * 2, seed=3)
    list_id = sbx.ap("POST", "/list", json={"name": LIST})["list_id"]
    emails = []
    for contact in sbx.contacts()[:members]:
        sbx.control("autopilot", "POST", f"app/list/{list_id}/contact/{contact['contact_id']}")
        emails.append(norm(contact.get("Email")))
    return emails


def email_counts(sbx: Sandbox) -> tuple[Counter, Counter]:
    return (Counter(norm(primary(p["emails"])) for p in sbx.persons()), Counter(norm(c.get("Email")) for c in sbx.contacts()))


def no_duplicates(sbx: Sandbox, before: tuple[Counter, Counter], excused: frozenset[str] = frozenset()) -> None:
    """The state the mapping describes, and no record twice that the seed had once (the seed
    has its own duplicates on both sides, which syncmap must neither merge nor multiply)."""
    snap = check_mirror(sbx, excused)
    links = Counter((p.get("custom_fields") or {}).get(snap["apId"]) for p in snap["persons"])
    links.pop(None, None)
    assert not [c for c, n in links.items() if n > 1], f"contacts linked from two persons: {links}"
    after = email_counts(sbx)
    for side, (old, new) in zip(("Pipedrive", "Autopilot"), zip(before, after, strict=True), strict=True):
        grown = {e: (old[e], n) for e, n in new.items() if e and n > max(old[e], 1)}
        assert not grown, f"{side} has more records with these emails than before: {grown}"


def until_settled(sbx: Sandbox, tries: int = 4) -> list[dict]:
    """Run until a pass ends clean; every pass's summary, in order."""
    summaries = []
    for _ in range(tries):
        done = run(sbx)
        assert done.returncode in (0, 1, 3), done.stderr
        summaries.append(json.loads(done.stdout))
        if done.returncode in (0, 1) and not summaries[-1]["notes"]:
            return summaries
    raise AssertionError(f"no clean run after {tries} tries: {done.stdout[-2000:]}")


def test_429_storm_and_server_errors_end_in_the_exact_state(sbx: Sandbox) -> None:
    seed_both_ways(sbx, persons=30, members=10)
    before = email_counts(sbx)
    sbx.faults(p429=0.10, p500=0.03, p502=0.01, p503=0.01, seed=9)
    summaries = until_settled(sbx)
    sbx.faults()
    no_duplicates(sbx, before)
    # The storm was met and ridden out: the runtime counted the 429s and 5xx the sandbox sent.
    # (The fault seed is one under which both APIs met both kinds: the checks below say so.)
    for system in ("pipedrive", "autopilot"):
        faults = [r.get("fault") for r in sbx.requests(system)]
        assert "429" in faults and {"500", "502", "503"} & set(faults), (system, faults)
        met = sum(s["apis"][system]["rate_limited"] for s in summaries)
        assert met >= faults.count("429")  # plus any real window 429s
    # Once settled, nothing is left to do.
    sbx.clear_log()
    assert run(sbx).returncode in (0, 1)
    assert sbx.writes("pipedrive") == [] and sbx.writes("autopilot") == []


def kill_when(sbx: Sandbox, proc: subprocess.Popen[str], reached: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60
    while not reached():
        assert proc.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"the run never reached {what}"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def test_a_run_killed_at_any_point_and_restarted_duplicates_nothing(sbx: Sandbox) -> None:
    seed_both_ways(sbx, persons=60, members=25)
    before = email_counts(sbx)
    sbx.faults(latency_ms=10)  # stretch the run so each kill lands where it is aimed

    def count(system: str, method: str, path: str) -> int:
        return sum(1 for r in sbx.requests(system) if r["method"] == method and r["path"].startswith(path))

    points = [
        ("the first page of persons", lambda: count("pipedrive", "GET", "/api/v2/persons") >= 1),
        ("the first bulk upsert", lambda: count("autopilot", "POST", "/v1/contacts") >= 1),
        ("a few persons created in Pipedrive", lambda: count("pipedrive", "POST", "/api/v2/persons") >= 3),
        ("link fields being written", lambda: count("pipedrive", "PATCH", "/api/v2/persons") >= 5),
    ]
    for what, reached in points:
        kill_when(sbx, sbx.start("run", MAPPING, "--state", sbx.state), reached, what)
    sbx.faults()
    until_settled(sbx)
    no_duplicates(sbx, before)


def test_a_run_stopped_by_the_daily_budget_resumes_the_next_day(sbx: Sandbox) -> None:
    seed_both_ways(sbx, persons=20, members=8)
    before = email_counts(sbx)
    sbx.control("pipedrive", "PUT", "limits", {"budget_remaining": 120})
    done = run(sbx)
    assert done.returncode == 3, done.stdout + done.stderr
    summary = json.loads(done.stdout)
    assert "budget" in summary["stopped"].lower()
    sbx.control("pipedrive", "PUT", "clock", {"advance": 86_400})
    sbx.control("autopilot", "PUT", "clock", {"advance": 86_400})
    until_settled(sbx)
    no_duplicates(sbx, before)


# -- a run ends exact (issue 17): several hundred records, faults on both APIs ---------------------
PERSONS, MEMBERS = 600, 150
# 18% of requests to each API meet a fault: 429s, three kinds of 5xx, a connection dropped before
# the request is processed, and an answer lost after it was (a client timing out: a create
# applied that the client never heard of). Plus latency on every answer.
FAULTS = {"p429": 0.08, "p500": 0.02, "p502": 0.02, "p503": 0.02, "p_drop": 0.02, "p_lost_answer": 0.02, "latency_ms": 5}
_references: dict[str, tuple[Any, Counter]] = {}


def both_systems(sbx: Sandbox) -> tuple[Counter, Counter]:
    """Both systems as a person comparing them through the APIs sees them, without the ids a
    run assigns: each person with its values and the email of the contact its link names, each
    contact with its values and whether it is on the list."""
    snap = snapshot(sbx)
    contacts = snap["contacts"]
    persons: Counter = Counter()
    for p in snap["persons"]:
        linked = contacts.get((p.get("custom_fields") or {}).get(snap["apId"]))
        email = linked.get("Email") if linked else None
        persons[(p["name"], primary(p["emails"]), primary(p.get("phones")), p.get("org_id"), p.get("owner_id"), email)] += 1
    people: Counter = Counter()
    for c in contacts.values():
        fields = tuple(c.get(k) for k in ("Email", "FirstName", "LastName", "Phone", "Company", "owner_name"))
        people[(*fields, c["contact_id"] in snap["roster"])] += 1
    return persons, people


def letters(summary: dict[str, Any], seeded: int) -> Counter:
    """The dead letters by reason and record; a person the run created is named by none (its id
    depends on the order the creates happened in)."""
    created = lambda d: d["system"] == "pipedrive" and int(d["id"]) > seeded  # noqa: E731
    return Counter((d["reason"], d["system"], "created" if created(d) else d["id"]) for d in summary["dead_letters"])


def seed(sbx: Sandbox) -> int:
    """The issue's scenario seeded; the highest person id the seed made."""
    seed_both_ways(sbx, PERSONS, MEMBERS)
    return max(p["id"] for p in sbx.persons())


def reference(sbx: Sandbox) -> tuple[Any, Counter]:
    """Both systems after a fault-free first sync of the seed, and its dead letters (the
    seed's own data problems: no email, a missing name, an email two contacts share)."""
    if sbx.profile not in _references:
        state = sbx.state
        sbx.state = state + ".reference"  # type: ignore[attr-defined]
        seeded = seed(sbx)
        done = run(sbx)
        assert done.returncode in (0, 1), done.stdout[-2000:] + done.stderr
        _references[sbx.profile] = (both_systems(sbx), letters(json.loads(done.stdout), seeded))
        sbx.state = state  # type: ignore[attr-defined]
    return _references[sbx.profile]


def excused(summary: dict[str, Any]) -> frozenset[str]:
    return frozenset(d["id"] for d in summary["dead_letters"] if d["reason"] == "email_shared_in_autopilot")


def assert_exact(sbx: Sandbox, summary: dict[str, Any], before: tuple[Counter, Counter], seeded: int) -> None:
    """Both systems as the fault-free sync left them, no duplicate, the mapping's mirror holds,
    the same dead letters (only the seed's own problems), nothing left pending or unknown, and a
    second run, faults still on, writes nothing."""
    expected, expected_letters = _references[sbx.profile]
    sbx.faults()  # the test's own reads meet none
    assert summary["outbox"]["pending"] == 0 and summary["status"] in ("done", "dead_letters"), summary["notes"]
    assert letters(summary, seeded) == expected_letters
    no_duplicates(sbx, before, excused(summary))
    got = both_systems(sbx)
    for side, (want, have) in zip(("Pipedrive", "Autopilot"), zip(expected, got, strict=True), strict=True):
        assert want == have, f"{side} differs from a fault-free sync: missing {want - have}, extra {have - want}"
    status = json.loads(sbx.syncmap("status", "--state", sbx.state, "--format", "json").stdout)
    assert status["pending_writes"] == [] and status["unknown_outcomes"] == []
    sbx.clear_log()
    sbx.faults(**FAULTS, seed=99)
    again = run(sbx)
    assert again.returncode in (0, 1), again.stdout[-2000:] + again.stderr
    assert sbx.writes("pipedrive") == [] and sbx.writes("autopilot") == []


def test_a_first_sync_under_faults_on_both_apis_ends_exact_in_one_run(sbx: Sandbox) -> None:
    reference(sbx)
    seeded = seed(sbx)
    before = email_counts(sbx)
    sbx.faults(**FAULTS, seed=11)
    done = run(sbx)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr
    summary = json.loads(done.stdout)
    # The faults were met, on both APIs, and creates were left unknown, looked up and found.
    met = {system: Counter(r.get("fault") for r in sbx.requests(system)) for system in ("pipedrive", "autopilot")}
    for system, faults in met.items():
        assert faults["429"] and faults["500"] + faults["502"] + faults["503"] + faults["drop"], (system, faults)
    both = met["pipedrive"] + met["autopilot"]
    assert all(both[kind] for kind in ("429", "500", "502", "503", "drop", "lost_answer")), both
    assert summary["outbox"]["unknown"] and summary["outbox"]["found"] and summary["outbox"]["retried"], summary["outbox"]
    assert_exact(sbx, summary, before, seeded)


def test_runs_killed_at_random_points_under_faults_end_exact_after_a_restart(sbx: Sandbox) -> None:
    reference(sbx)
    seeded = seed(sbx)
    before = email_counts(sbx)
    sbx.faults(**FAULTS, seed=12)
    chance = random.Random(17)
    # Points in what is left of the work (a first run makes about 850 requests, most of them
    # writes; a restarted run only what its predecessors did not finish).
    for upto in (700, 250, 100):
        sbx.clear_log()
        point = chance.randrange(20, upto)
        proc = sbx.start("run", MAPPING, "--state", sbx.state)
        kill_when(sbx, proc, lambda: len(sbx.requests("pipedrive")) + len(sbx.requests("autopilot")) >= point, f"request {point}")  # noqa: B023
    done = run(sbx)
    assert done.returncode in (0, 1), done.stdout[-3000:] + done.stderr
    assert_exact(sbx, json.loads(done.stdout), before, seeded)
