"""The state store: every method's rules, the file's privacy and journal, migrations, and
durability across a SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncmap.runtime.state import (
    Link,
    StateError,
    StateStore,
    StateVersionError,
    default_state_path,
    migrations,
    open_state,
)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store(path: Path, clock: Clock) -> Iterator[StateStore]:
    opened = open_state(path, clock=clock)
    yield opened
    opened.close()


def link(left: str, right: str, pair: str = "persons", **values: object) -> Link:
    return Link(pair, left, right, {"name": left, **values}, {"Name": right}, 5.0)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- where the file lives, and its privacy -----------------------------------------------------


def test_default_path_follows_xdg_then_the_platform(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert default_state_path({"XDG_DATA_HOME": "/data"}, "linux", home) == Path("/data/syncmap/state.db")
    assert default_state_path({}, "linux", home) == home / ".local/share/syncmap/state.db"
    # The XDG spec says a relative XDG_DATA_HOME is invalid and is ignored.
    assert default_state_path({"XDG_DATA_HOME": "rel"}, "linux", home) == home / ".local/share/syncmap/state.db"
    assert default_state_path({}, "darwin", home) == home / "Library/Application Support/syncmap/state.db"


def test_open_without_a_path_creates_the_default_file_in_private_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    old_umask = os.umask(0)  # so the modes below are the ones syncmap chose, not the umask's
    try:
        open_state(None).close()
    finally:
        os.umask(old_umask)
    assert (tmp_path / "xdg/syncmap/state.db").is_file()
    assert mode(tmp_path / "xdg") == 0o700
    assert mode(tmp_path / "xdg/syncmap") == 0o700


def test_the_file_and_its_journal_are_private_and_in_wal_mode(path: Path) -> None:
    old_umask = os.umask(0)
    try:
        store = open_state(path)
        store.put_link(link("1", "a"))
    finally:
        os.umask(old_umask)
    # While the store is open the WAL and shared-memory files exist.
    for name in ("state.db", "state.db-wal", "state.db-shm"):
        assert mode(path.with_name(name)) == 0o600, name
    other = sqlite3.connect(path)
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other.close()
    store.close()


def test_an_existing_file_keeps_its_mode(path: Path) -> None:
    open_state(path).close()
    path.chmod(0o640)  # the user's choice, e.g. a group that makes backups
    open_state(path).close()
    assert mode(path) == 0o640


# -- links -------------------------------------------------------------------------------------


def test_put_link_upserts_by_pair_and_left_id(store: StateStore) -> None:
    store.put_link(link("1", "a"))
    store.put_link(link("1", "b", colour="red"))
    assert store.link_by_left("persons", "1") == link("1", "b", colour="red")
    assert store.links_by_right("persons", "a") == []
    assert store.count_links("persons") == 1


def test_several_left_records_may_share_one_right_record(store: StateStore) -> None:
    store.put_links([link("2", "c"), link("1", "c"), link("3", "d")])
    assert [x.left_id for x in store.links_by_right("persons", "c")] == ["1", "2"]


def test_pairs_are_separate(store: StateStore) -> None:
    store.put_link(link("1", "a", pair="persons"))
    store.put_link(link("1", "z", pair="deals"))
    assert store.link_by_left("persons", "1").right_id == "a"
    assert store.link_by_left("deals", "1").right_id == "z"
    assert store.links_by_right("deals", "a") == []
    assert (store.count_links("persons"), store.count_links("deals"), store.count_links("orgs")) == (1, 1, 0)
    assert store.link_by_left("orgs", "1") is None


def test_remove_link_returns_what_it_removed(store: StateStore) -> None:
    store.put_links([link("1", "a"), link("2", "a")])
    assert store.remove_link("persons", "1") == link("1", "a")
    assert store.remove_link("persons", "1") is None
    assert [x.left_id for x in store.links_by_right("persons", "a")] == ["2"]


def test_put_links_is_one_transaction(store: StateStore) -> None:
    def links() -> Iterator[object]:
        yield link("1", "a")
        yield link("2", "b")
        yield "not a link"

    with pytest.raises(TypeError, match="put_links takes Link records"):
        store.put_links(links())  # type: ignore[arg-type]
    assert store.count_links("persons") == 0


def test_ids_are_strings_and_values_json(store: StateStore) -> None:
    with pytest.raises(TypeError, match=r"Link.left_id must be a str \(ids are strings\), got int 7"):
        Link("persons", 7, "a", {}, {}, 0.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"Link\.right_values must be a dict"):
        Link("persons", "7", "a", {}, [], 0.0)  # type: ignore[arg-type]
    with pytest.raises(StateError, match="link persons/1 left_values cannot be stored: it is not JSON"):
        store.put_link(Link("persons", "1", "a", {"when": object()}, {}, 0.0))
    with pytest.raises(StateError, match="not JSON-serialisable"):
        store.put_link(Link("persons", "1", "a", {"score": float("nan")}, {}, 0.0))
    assert store.count_links("persons") == 0


def test_values_round_trip(store: StateStore) -> None:
    values = {"name": "Zoë", "tags": ["a", "b"], "owner": {"id": 3}, "score": 1.5, "empty": None, "ok": True}
    store.put_link(Link("persons", "1", "a", values, {}, 12.25))
    got = store.link_by_left("persons", "1")
    assert (got.left_values, got.synced_at) == (values, 12.25)


def test_iter_links_pages_in_left_id_order(store: StateStore) -> None:
    store.page_size = 2  # type: ignore[attr-defined]
    for count in (4, 5):  # a multiple of the page size, and not
        store.put_links(link(f"{i:02d}", "r", pair=f"p{count}") for i in reversed(range(count)))
        assert [x.left_id for x in store.iter_links(f"p{count}")] == [f"{i:02d}" for i in range(count)]
    assert list(store.iter_links("nothing")) == []


def test_iter_links_tolerates_writes_while_iterating(store: StateStore) -> None:
    store.page_size = 2  # type: ignore[attr-defined]
    store.put_links(link(str(i), "r") for i in range(6))
    seen = []
    for item in store.iter_links("persons"):
        seen.append(item.left_id)
        store.remove_link("persons", item.left_id)  # e.g. a full id pass finding deletes
    assert seen == [str(i) for i in range(6)]
    assert store.count_links("persons") == 0


def test_iter_links_streams(store: StateStore) -> None:
    store.page_size = 500  # type: ignore[attr-defined]
    wide = {f"field_{k}": "x" * 40 for k in range(8)}
    store.put_links(Link("persons", f"{i:06d}", f"r{i}", wide, wide, 0.0) for i in range(10_000))
    tracemalloc.start()
    try:
        assert sum(1 for _ in store.iter_links("persons")) == 10_000
        streamed = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        assert len(list(store.iter_links("persons"))) == 10_000
        listed = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert streamed * 5 < listed, (streamed, listed)


# -- transactions ------------------------------------------------------------------------------


def test_a_transaction_is_atomic_and_invisible_until_it_commits(store: StateStore, path: Path) -> None:
    reader = open_state(path)
    with store.transaction():
        store.put_link(link("1", "a"))
        store.set_cursor("persons", "c1")
        assert reader.link_by_left("persons", "1") is None
    assert reader.link_by_left("persons", "1") == link("1", "a")

    with pytest.raises(RuntimeError), store.transaction():
        store.put_link(link("2", "b"))
        store.set_cursor("persons", "c2")
        raise RuntimeError("the request failed")
    assert (store.link_by_left("persons", "2"), store.get_cursor("persons")) == (None, "c1")
    reader.close()


def test_a_nested_transaction_rolls_back_alone(store: StateStore) -> None:
    with store.transaction():
        store.put_link(link("1", "a"))
        with pytest.raises(RuntimeError), store.transaction():
            store.put_link(link("2", "b"))
            raise RuntimeError
        with store.transaction():
            store.put_link(link("3", "c"))
    assert [x.left_id for x in store.iter_links("persons")] == ["1", "3"]


def test_another_threads_write_waits_for_a_transaction_to_end(store: StateStore) -> None:
    inside, written = threading.Event(), threading.Event()

    def other_thread() -> None:
        inside.wait()
        store.put_link(link("2", "b"))  # must not join the transaction that is about to fail
        written.set()

    thread = threading.Thread(target=other_thread)
    thread.start()
    with pytest.raises(RuntimeError), store.transaction():
        store.put_link(link("1", "a"))
        inside.set()
        assert not written.wait(0.2), "a write from another thread ran inside this transaction"
        raise RuntimeError
    thread.join(5)
    assert [x.left_id for x in store.iter_links("persons")] == ["2"]


# -- cursors and metadata ----------------------------------------------------------------------


def test_cursors_and_meta(store: StateStore) -> None:
    assert (store.get_cursor("persons"), store.get_meta("fields")) == (None, None)
    store.set_cursor("persons", "2026-11-29T10:00:00Z")
    store.set_cursor("persons", "2026-11-29T11:00:00Z")
    assert store.get_cursor("persons") == "2026-11-29T11:00:00Z"
    store.set_meta("fields", {"apId": "abc123", "types": ["call"]})
    store.set_meta("count", 3)
    assert (store.get_meta("fields"), store.get_meta("count")) == ({"apId": "abc123", "types": ["call"]}, 3)
    with pytest.raises(TypeError, match="cursor 'persons' must be a str"):
        store.set_cursor("persons", 5)  # type: ignore[arg-type]
    with pytest.raises(StateError, match="meta 'bad' cannot be stored"):
        store.set_meta("bad", {1j})


# -- the outbox --------------------------------------------------------------------------------


def test_intents_open_finish_and_survive_a_reopen(path: Path, clock: Clock) -> None:
    store = open_state(path, clock=clock)
    run = store.start_run(mode="once", plan_digest="sha256:1")
    first = store.add_intent(run_id=run, pair="persons", system="pipedrive", op="create", key="e@x", payload={"a": 1})
    clock.now = 1001.0
    second = store.add_intent(run_id=run, pair="deals", system="pipedrive", op="update", key="9", payload={})
    third = store.add_intent(run_id=run, pair="persons", system="autopilot", op="upsert", key="f@x", payload={})
    store.finish_intent(third, status="done", result={"contact_id": "person_1"})
    store.close()  # a crash would leave the same: open intents have an unknown outcome

    store = open_state(path, clock=clock)
    opened = store.open_intents()
    assert [i.id for i in opened] == [first, second]
    assert (opened[0].payload, opened[0].status, opened[0].result, opened[0].created_at) == ({"a": 1}, "open", None, 1000.0)
    assert (opened[0].run_id, opened[0].system, opened[0].op, opened[0].key) == (run, "pipedrive", "create", "e@x")
    assert [i.id for i in store.open_intents("deals")] == [second]
    store.finish_intent(first, status="abandoned")
    assert [i.id for i in store.open_intents()] == [second]
    store.close()


def test_finishing_an_intent_is_checked(store: StateStore) -> None:
    run = store.start_run(mode="once", plan_digest="d")
    intent = store.add_intent(run_id=run, pair="p", system="s", op="create", key="k", payload={})
    with pytest.raises(ValueError, match="an intent's outcome must be one of done, failed, abandoned, pending, retried; got 'ok'"):
        store.finish_intent(intent, status="ok")
    store.finish_intent(intent, status="failed", result={"status": 400})
    with pytest.raises(StateError, match=f"intent {intent} is already finished \\(failed\\)"):
        store.finish_intent(intent, status="done")
    with pytest.raises(StateError, match="no intent 999"):
        store.finish_intent(999, status="done")
    # A pending write (refused for a while) is listed as such and finished once sent again.
    waiting = store.add_intent(run_id=run, pair="p", system="s", op="update", key="k2", payload={})
    store.finish_intent(waiting, status="pending", result={"error": "HTTP 503"})
    assert [i.id for i in store.open_intents("p", status="pending")] == [waiting] and store.open_intents("p") == []
    store.finish_intent(waiting, status="retried")
    assert store.open_intents("p", status="pending") == []
    with pytest.raises(StateError, match=f"intent {waiting} is already finished \\(retried\\)"):
        store.finish_intent(waiting, status="done")
    with pytest.raises(StateError, match="no run 999"):
        store.add_intent(run_id=999, pair="p", system="s", op="create", key="k", payload={})


# -- dead letters ------------------------------------------------------------------------------


def letter(
    store: StateStore,
    record_id: str = "7",
    reason: str = "missing_required",
    message: str = "first_name is empty",
    details: dict | None = None,
) -> int:
    return store.add_dead_letter(
        pair="persons",
        side="left",
        record_id=record_id,
        reason=reason,
        message=message,
        details={"field": "first_name"} if details is None else details,
    )


def test_a_dead_letter_seen_again_is_counted_not_repeated(store: StateStore, clock: Clock) -> None:
    first = letter(store)
    clock.now = 2000.0
    again = letter(store, message="first_name is still empty", details={"field": "first_name", "try": 2})
    assert again == first
    (only,) = store.dead_letters()
    assert (only.count, only.first_seen, only.last_seen) == (2, 1000.0, 2000.0)
    assert (only.message, only.details, only.resolved) == ("first_name is still empty", {"field": "first_name", "try": 2}, False)
    # Another reason or another record is another letter.
    assert letter(store, reason="bad_owner") != first
    assert letter(store, record_id="8") != first
    assert len(store.dead_letters()) == 3


def test_resolved_letters_are_history(store: StateStore) -> None:
    first = letter(store)
    other = letter(store, record_id="8")
    store.resolve_dead_letter(first)
    store.resolve_dead_letter(first)  # resolving twice changes nothing
    assert [x.id for x in store.dead_letters()] == [other]
    assert [(x.id, x.resolved) for x in store.dead_letters(include_resolved=True)] == [(first, True), (other, False)]
    # The same problem coming back after a fix is a new letter.
    reopened = letter(store)
    assert reopened not in (first, other)
    assert store.dead_letters(ids=[reopened])[0].count == 1
    assert store.dead_letters(ids=[first]) == []
    assert [x.id for x in store.dead_letters(ids=[first], include_resolved=True)] == [first]
    assert store.dead_letters(ids=[]) == []
    with pytest.raises(StateError, match="no dead letter 999"):
        store.resolve_dead_letter(999)


def test_a_record_that_syncs_clears_its_letters(store: StateStore) -> None:
    letter(store, reason="missing_required")
    letter(store, reason="bad_owner")
    keep = letter(store, record_id="8")
    assert store.resolve_dead_letters_for("persons", "left", "7") == 2
    assert store.resolve_dead_letters_for("persons", "left", "7") == 0
    assert store.resolve_dead_letters_for("persons", "right", "8") == 0
    assert [x.id for x in store.dead_letters()] == [keep]


def test_a_dead_letter_names_a_side(store: StateStore) -> None:
    with pytest.raises(ValueError, match="a dead letter's side must be one of left, right; got 'pipedrive'"):
        store.add_dead_letter(pair="p", side="pipedrive", record_id="1", reason="r", message="m", details={})
    with pytest.raises(ValueError, match="a dead letter's side must be one of left, right"):
        store.resolve_dead_letters_for("p", "autopilot", "1")
    with pytest.raises(TypeError, match="record_id must be a str"):
        store.add_dead_letter(pair="p", side="left", record_id=1, reason="r", message="m", details={})  # type: ignore[arg-type]


# -- the run log -------------------------------------------------------------------------------


def test_runs_and_their_events(store: StateStore, clock: Clock) -> None:
    first = store.start_run(mode="once", plan_digest="sha256:a")
    store.log_event(first, "conflict", "persons", {"field": "Email", "lost": "old@x"})
    store.log_event(first, "wait", None, {"limit": "burst", "seconds": 2})
    clock.now = 1010.0
    store.finish_run(first, status="done", summary={"created": 3})
    second = store.start_run(mode="interval", plan_digest="sha256:a")
    assert [r.id for r in store.runs()] == [second, first]
    assert [r.id for r in store.runs(limit=1)] == [second]
    done = store.runs()[1]
    assert (done.started_at, done.finished_at, done.mode, done.status, done.summary) == (1000.0, 1010.0, "once", "done", {"created": 3})
    assert (store.runs()[0].finished_at, store.runs()[0].status, store.runs()[0].summary) == (None, None, None)
    assert [(e["kind"], e["pair"], e["details"]) for e in store.events(first)] == [
        ("conflict", "persons", {"field": "Email", "lost": "old@x"}),
        ("wait", None, {"limit": "burst", "seconds": 2}),
    ]
    assert [e["kind"] for e in store.events(first, "wait")] == ["wait"]
    assert store.events(second) == []
    with pytest.raises(StateError, match="no run 999"):
        store.log_event(999, "skip", None, {})
    with pytest.raises(StateError, match="no run 999"):
        store.finish_run(999, status="done", summary={})


# -- the inbox ---------------------------------------------------------------------------------


def test_the_inbox_deduplicates_deliveries(store: StateStore, clock: Clock) -> None:
    first = store.add_inbox(source="pipedrive", delivery_key="evt-1", body={"data": {"id": 1}})
    assert first is not None
    assert store.add_inbox(source="pipedrive", delivery_key="evt-1", body={"data": {"id": 1}}) is None
    other = store.add_inbox(source="autopilot", delivery_key="evt-1", body={})
    (item, second) = store.pending_inbox()
    assert (item.id, item.source, item.delivery_key, item.body, item.received_at) == (first, "pipedrive", "evt-1", {"data": {"id": 1}}, 1000.0)
    assert (item.status, item.attempts, item.error, second.id) == ("pending", 0, None, other)
    assert [x.id for x in store.pending_inbox(limit=1)] == [first]


def test_finishing_an_inbox_item(store: StateStore) -> None:
    done = store.add_inbox(source="pipedrive", delivery_key="1", body={})
    retry = store.add_inbox(source="pipedrive", delivery_key="2", body={})
    assert done is not None and retry is not None
    store.finish_inbox(done, status="done")
    store.finish_inbox(retry, status="pending", error="pipedrive answered 503")
    (left,) = store.pending_inbox()
    assert (left.id, left.attempts, left.error) == (retry, 1, "pipedrive answered 503")
    assert store.count_pending_inbox() == 1
    store.finish_inbox(retry, status="failed", error="gave up")
    assert store.pending_inbox() == [] and store.count_pending_inbox() == 0
    # A delivery already processed is still a duplicate when it comes again.
    assert store.add_inbox(source="pipedrive", delivery_key="1", body={}) is None
    with pytest.raises(ValueError, match="an inbox item's status must be one of pending, done, failed"):
        store.finish_inbox(done, status="ok")
    with pytest.raises(StateError, match="no inbox item 999"):
        store.finish_inbox(999, status="done")


# -- migrations --------------------------------------------------------------------------------


def make_v1_file(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    migrations.migrate(conn, str(path), steps=migrations.STEPS[:1])
    conn.execute("INSERT INTO links VALUES ('persons', '1', 'a', ?, '{}', 3.0)", (json.dumps({"name": "Ada"}),))
    conn.execute("INSERT INTO cursors VALUES ('persons', 'c1', 3.0)")
    conn.close()


def test_a_v1_file_is_migrated_and_keeps_its_data(path: Path) -> None:
    make_v1_file(path)
    store = open_state(path)
    assert store.link_by_left("persons", "1") == Link("persons", "1", "a", {"name": "Ada"}, {}, 3.0)
    assert store.get_cursor("persons") == "c1"
    assert store.add_inbox(source="pipedrive", delivery_key="k", body={}) is not None  # the v2 table
    store.close()
    conn = sqlite3.connect(path)
    assert migrations.schema_version(conn) == migrations.SCHEMA_VERSION == 2
    conn.close()


def test_a_failing_migration_leaves_the_old_version_whole(path: Path) -> None:
    make_v1_file(path)
    conn = sqlite3.connect(path, isolation_level=None)
    broken = (*migrations.STEPS, ("CREATE TABLE extra (x)", "CREATE TABLE extra (x)"))
    with pytest.raises(sqlite3.OperationalError, match="already exists"):
        migrations.migrate(conn, str(path), steps=broken)
    assert migrations.schema_version(conn) == 1
    assert conn.execute("SELECT name FROM sqlite_master WHERE name IN ('inbox', 'extra')").fetchall() == []
    conn.close()


def test_a_file_from_a_newer_syncmap_is_refused_untouched(path: Path) -> None:
    open_state(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute(f"PRAGMA user_version = {migrations.SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(StateVersionError, match=r"was written by a newer syncmap \(state schema 3; this syncmap knows up to 2\): upgrade syncmap"):
        open_state(path)
    conn = sqlite3.connect(path)
    assert migrations.schema_version(conn) == migrations.SCHEMA_VERSION + 1
    conn.close()


def test_files_that_are_not_state_files_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE photos (id)")
    conn.commit()
    conn.close()
    with pytest.raises(StateError, match=r"other\.db is not a syncmap state file"):
        open_state(other)
    conn = sqlite3.connect(other)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # refused before any change
    conn.close()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(StateError, match=r"cannot create or open the state file .*a-file/state\.db"):
        open_state(blocker / "state.db")
    garbage = tmp_path / "notes.txt"
    garbage.write_text("these are my notes, not a database\n" * 200)
    with pytest.raises(StateError, match=r"cannot use the state file .*notes\.txt: file is not a database"):
        open_state(garbage)


# -- independence and durability ---------------------------------------------------------------


def test_the_store_imports_no_http_sandbox_or_engine() -> None:
    code = (
        "import sys, syncmap.runtime.state\n"
        "print([m for m in sys.modules if m.split('.')[0] == 'httpx' or m.startswith(('syncmap.sandbox', 'syncmap.runtime.engine'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


# Writes units forever, each one transaction (200 links, an intent and the cursor), and prints
# a unit's number once it has committed. Restarted, it resumes after the cursor.
WRITER = """
import sys
from syncmap.runtime.state import Link, open_state
store = open_state(sys.argv[1])
run = store.start_run(mode="once", plan_digest="d")
unit = int(store.get_cursor("unit") or -1) + 1
while True:
    with store.transaction():
        store.add_intent(run_id=run, pair="p", system="s", op="create", key=str(unit), payload={"unit": unit})
        store.put_links(Link("p", f"{unit:06d}-{i:03d}", "r", {"unit": unit}, {}, 0.0) for i in range(200))
        store.set_cursor("unit", str(unit))
    print(unit, flush=True)
    unit += 1
"""


def test_committed_units_survive_sigkill_and_half_units_do_not(path: Path) -> None:
    reported = -1
    for wanted in (5, 20, 40):
        child = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        for line in child.stdout:
            reported = int(line)
            if reported >= wanted:
                break
        child.send_signal(signal.SIGKILL)  # mid-stream: it is writing the next unit by now
        child.wait()
        child.stdout.close()
        assert reported >= wanted, "the writer stopped before it was killed"

        store = open_state(path)
        last = int(store.get_cursor("unit"))  # type: ignore[arg-type]
        assert last >= reported
        units: dict[int, int] = {}
        for item in store.iter_links("p"):
            units[item.left_values["unit"]] = units.get(item.left_values["unit"], 0) + 1
        assert units == dict.fromkeys(range(last + 1), 200)
        assert sorted(int(i.key) for i in store.open_intents()) == list(range(last + 1))
        store.close()


def test_links_by_right_does_not_grow_with_the_number_of_links(tmp_path) -> None:
    """links_by_right is called once per written record: it must be an index lookup, not a
    scan of the pair's links (which SQLite picks by itself without statistics)."""
    import time as _time

    from syncmap.runtime.state import Link, open_state

    def per_call(count: int) -> float:
        store = open_state(tmp_path / f"links-{count}.db")
        store.put_links(Link("p", f"{i:06d}", f"r{i}", {"a": 1}, {"b": 2}, 0.0) for i in range(count))
        started = _time.perf_counter()
        for i in range(0, count, count // 300):
            assert [link.left_id for link in store.links_by_right("p", f"r{i}")] == [f"{i:06d}"]
        store.close()
        return (_time.perf_counter() - started) / 300

    small, large = per_call(2_000), per_call(60_000)
    # 30 times the links, one match each: a lookup costs about the same, a scan 30 times more.
    assert large / small < 6, f"{small * 1000:.3f} ms at 2,000 links, {large * 1000:.3f} ms at 60,000"
