"""Whatever `check` accepts runs: the corpus (corpus.py) against the sandbox, both profiles.

For each mapping: a fresh seeded sandbox, `syncmap run` twice as a user runs it, and then:
no traceback, exit 0 or 1 both times (a mapping the runtime cannot execute must be a compile
error, never a crash or a configuration exit), the second run writes nothing, and both systems
hold what the mapping says (mirror.check_mapping, written from the mapping's lines). Every
problem of a case is collected before failing, so one report names them all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import corpus
import pytest
from harness import Sandbox
from mirror import check_mapping, read_world

from syncmap.compiler.api import check

MAPPINGS = corpus.corpus()
RECORDS = 18  # per system: enough for duplicates, empty fields and list members; small enough for 4 minutes


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("corpus")
    for mapping in corpus.build():
        (folder / f"{mapping.id}.syncmap").write_text(mapping.text())
    return folder


def errors_of(path: Path) -> list[str]:
    return [f"{d.code}: {d.message}" for d in check(str(path)).diagnostics if d.is_error]


def test_the_corpus_is_what_check_accepts(corpus_dir: Path) -> None:
    """At least 30 mappings, every one accepted; every variant left out is one `check` rejects
    (so DROPPED cannot hide a mapping that should run)."""
    assert len(MAPPINGS) >= 30
    rejected = {m.id: errors_of(corpus_dir / f"{m.id}.syncmap") for m in MAPPINGS}
    assert {k: v for k, v in rejected.items() if v} == {}
    for dropped in corpus.DROPPED:
        assert errors_of(corpus_dir / f"{dropped}.syncmap"), f"{dropped} is accepted now: put it back in the corpus"


def test_side_order_is_a_mirror_image() -> None:
    """The generator's swap: every line mirrored, and swapping twice gives the block back."""
    person = corpus.parse_mapping((corpus.ROOT / "mappings" / "autopilot.syncmap").read_text())[0][0]
    swapped = person.swapped()
    assert (swapped.left, swapped.arrow, swapped.right) == ("autopilot.Contact", "<->", "pipedrive.Person")
    assert "Company <- organization.name" in swapped.lines
    assert 'link autopilot.contact_id = pipedrive.custom("apId")' in swapped.lines
    assert "match Email = email.primary" in swapped.lines
    assert swapped.swapped() == person


def prepare(sbx: Sandbox, mapping: corpus.Mapping) -> None:
    sbx.reset(pipedrive=RECORDS, autopilot=RECORDS, seed=11)
    for obj, name, field_type in mapping.pd_fields:
        sbx.pd("POST", f"/v1/{obj[0].lower()}{obj[1:]}Fields", json={"name": name, "field_type": field_type})
    if corpus.LIST in mapping.text():
        list_id = sbx.ap("POST", "/list", json={"name": corpus.LIST})["list_id"]
        for contact in sbx.contacts()[: mapping.list_members]:
            sbx.control("autopilot", "POST", f"app/list/{list_id}/contact/{contact['contact_id']}")


def run(sbx: Sandbox, path: Path, label: str, problems: list[str]) -> dict[str, Any]:
    done = sbx.syncmap("run", str(path), "--state", sbx.state, "--format", "json")
    if "Traceback" in done.stderr:
        problems.append(f"{label}: traceback\n{done.stderr[-2500:]}")
    elif done.returncode not in (0, 1):
        problems.append(f"{label}: exit {done.returncode}\n{done.stderr[-1500:]}")
    try:
        summary: dict[str, Any] = json.loads(done.stdout)
    except ValueError:
        summary = {}
    return summary


@pytest.mark.parametrize("mapping", MAPPINGS, ids=[m.id for m in MAPPINGS])
def test_mapping_runs_twice_and_mirrors(sbx: Sandbox, mapping: corpus.Mapping, corpus_dir: Path) -> None:
    path = corpus_dir / f"{mapping.id}.syncmap"
    prepare(sbx, mapping)
    before = read_world(sbx)
    problems: list[str] = []
    first = run(sbx, path, "first run", problems)
    sbx.clear_log()
    second = run(sbx, path, "second run", problems)
    writes = sbx.writes("pipedrive") + sbx.writes("autopilot")
    if writes:
        problems.append(f"second run wrote {len(writes)} times: {writes[:6]}")
    letters = (first.get("dead_letters") or []) + (second.get("dead_letters") or [])
    try:
        checked = check_mapping(sbx, mapping.blocks, before, letters)
        for block, seen in checked.items():
            if not seen["pairs"]:
                problems.append(f"mirror: no pair of {block} to compare ({seen}): the seed or the mirror misses this block")
    except AssertionError as mismatch:
        problems.append(f"mirror: {mismatch}")
    assert not problems, f"{mapping.id} ({sbx.profile}):\n" + "\n".join(problems)
