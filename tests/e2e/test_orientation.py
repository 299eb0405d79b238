"""Either order of a pair's sides runs exactly like its mirror image.

`tests/e2e/mappings/autopilot-mirrored.syncmap` is `mappings/autopilot.syncmap` with its sync
written Autopilot first, every rule read from the other end. From the same seed and the same
edits, both must leave both systems in the same state with the same writes, report the same
counts (each in its own mapping's directions), and leave nothing for a further run to write.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

from harness import MAPPINGS, Sandbox, primary
from mirror import LIST, check_mirror, norm

HERE = Path(__file__).resolve().parent
WRITTEN = str(MAPPINGS / "autopilot.syncmap")
MIRRORED = str(HERE / "mappings" / "autopilot-mirrored.syncmap")
FLIP = {"left_to_right": "right_to_left", "right_to_left": "left_to_right", "both": "both"}


def run(sbx: Sandbox, mapping: str) -> tuple[int, dict[str, Any]]:
    done = sbx.syncmap("run", mapping, "--state", sbx.state, "--format", "json")
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def world(sbx: Sandbox) -> dict[str, Any]:
    """Both systems as a person would compare them: records by their values, never by the ids
    the APIs assigned (creation order may differ between two runs)."""
    snap = check_mirror(sbx)
    contacts = snap["contacts"]
    persons = sorted(
        (
            p.get("name"),
            norm(primary(p.get("emails"))),
            primary(p.get("phones")),
            p.get("owner_id"),
            # the partner a person is linked with, by the partner's email
            norm((contacts.get((p.get("custom_fields") or {}).get(snap["apId"])) or {}).get("Email")),
        )
        for p in snap["persons"]
    )
    fields = ("FirstName", "LastName", "Phone", "Company", "owner_name")
    listed = sorted((norm(c.get("Email")), *(c.get(f) for f in fields), c["contact_id"] in snap["roster"]) for c in contacts.values())
    return {"persons": persons, "contacts": listed}


def writes(sbx: Sandbox) -> Counter[tuple[str, str, str]]:
    """Every write request the API took, by system, method and path with its ids left out (a
    429 is the rate limit's answer, timed by the machine's load: its repeat is the one write)."""
    found: Counter[tuple[str, str, str]] = Counter()
    for system in ("pipedrive", "autopilot"):
        for method, path, status in sbx.writes(system):
            if status != 429:
                found[(system, method, re.sub(r"/(?!v\d/)[^/]*\d[^/]*", "/{id}", path))] += 1
    return found


def counts(summary: dict[str, Any], flip: bool) -> dict[str, dict[str, int]]:
    """The summary's counts by direction, in the written mapping's directions."""
    return {
        (FLIP[f["direction"]] if flip else f["direction"]): {k: v for k, v in f.items() if k not in ("pair", "direction")} for f in summary["flows"]
    }


def edit(sbx: Sandbox) -> None:
    """A sales rep changes a linked person's phone; a marketer changes a listed contact's phone and
    puts three contacts that came from elsewhere on the list, for Pipedrive."""
    snap = check_mirror(sbx)
    list_id = sbx.list_id(LIST)
    newcomers = [c for c in snap["contacts"].values() if c["contact_id"] not in snap["roster"] and c.get("Email") and c.get("LastName")]
    for contact in sorted(newcomers, key=lambda c: c["Email"])[:3]:
        sbx.ap("POST", f"/list/{list_id}/contact/{contact['contact_id']}")
    linked = [p for p in snap["persons"] if (p.get("custom_fields") or {}).get(snap["apId"])]
    sbx.control("pipedrive", "PATCH", f"app/persons/{linked[0]['id']}", {"phones": [{"value": "+1 555 0100 111", "primary": True}]})
    contact = snap["contacts"][linked[1]["custom_fields"][snap["apId"]]]
    sbx.control(
        "autopilot", "POST", "app/contact", {"contact_id": contact["contact_id"], "contact": {"Email": contact["Email"], "Phone": "+1 555 0100 222"}}
    )


def sync_story(sbx: Sandbox, mapping: str, state: str) -> list[Any]:
    """A first sync, edits on both sides, a second sync, a third that must write nothing: what
    each step left and wrote."""
    sbx.reset(pipedrive=30, autopilot=30, seed=7)
    sbx.state = state  # type: ignore[attr-defined]
    steps: list[Any] = []
    for step in range(3):
        if step == 1:
            edit(sbx)
        sbx.clear_log()
        code, summary = run(sbx, mapping)
        steps.append((code, counts(summary, flip=mapping == MIRRORED), world(sbx), writes(sbx)))
    return steps


def test_a_pair_written_autopilot_first_runs_as_its_mirror_image(sbx: Sandbox, tmp_path: Path) -> None:
    written = sync_story(sbx, WRITTEN, str(tmp_path / "written.db"))
    mirrored = sync_story(sbx, MIRRORED, str(tmp_path / "mirrored.db"))
    for step, (a, b) in enumerate(zip(written, mirrored, strict=True)):
        assert a[0] == b[0], f"step {step}: exit codes differ"
        assert a[1] == b[1], f"step {step}: the summaries' counts differ"
        assert a[2] == b[2], f"step {step}: the systems differ"
        assert a[3] == b[3], f"step {step}: the writes differ"
    # The story did something worth comparing: persons went out, listed contacts came in,
    # both edits crossed, and the last run wrote nothing.
    first, second, third = mirrored
    assert first[1]["left_to_right"]["created"] >= 10
    assert second[1]["right_to_left"]["created"] == 3
    assert any(p[2] == "+1 555 0100 222" for p in second[2]["persons"])
    assert any(c[3] == "+1 555 0100 111" for c in second[2]["contacts"])
    assert third[3] == Counter()
