"""Writes the API, not the record, kept from finishing: a run ends exact or says so.

A write refused for a while (429 after the HTTP retries ran out, a 5xx, no answer) is never a
dead letter: nothing a person could fix is wrong with the record. The write stays pending in the
outbox (intent status "pending") and its records are passed again, by ids, after the rest of the
pair's pass, with a backoff that honours the API's reset headers. What is still pending when the
rounds run out is left to the next run, which re-reads it: the pass that left writes pending did
not move its cursor.

A Pipedrive create whose outcome is unknown (a dropped connection or a 5xx after the request
left) is looked up first, by a consistent read: the object's list, sorted by update time since
just before the batch was sent (never the search endpoint, whose index lags). Found, it is the
record the create made; not found, it was not applied and is pending like any other.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from syncmap.runtime.api_errors import ApiError, UnknownOutcome, is_transient
from syncmap.runtime.state.base import INTENT_PENDING
from syncmap.runtime.values import ref_key

if TYPE_CHECKING:
    from syncmap.runtime.engine import PairRun
    from syncmap.runtime.pair_run_host import PairRunHost
    from syncmap.runtime.writing import LeftWrite

# Rounds of retries after a pass before what is left waits for the next run; with the backoff
# below (0.5 s doubling, capped at 60 s, or what the API's reset headers ask) about 4 minutes.
ROUNDS = 8
# The list's `updated_since` has whole seconds: reading a little earlier makes a write in the
# same second as the last one seen safe (as the pass's cursor does).
OVERLAP_SECONDS = 2.0


# A failure that says nothing about the record: the same write may succeed later.
transient = is_transient


@dataclass
class Pending:
    """What one pass of a pair left pending: the records to pass again (side -> ids), the
    intents that wait, and the last transient failure (its system, status and headers give the
    backoff). `interrupted`: the pass itself was cut short, so the next round passes whole."""

    records: dict[str, set[str]] = field(default_factory=dict)
    intents: list[int] = field(default_factory=list)
    writes: int = 0
    interrupted: str = ""
    last: BaseException | None = None
    clock: float = 0.0  # the newest update time the API showed: a lower bound of the next write's

    def __bool__(self) -> bool:
        return bool(self.writes or self.interrupted)

    def hold(self, ids: Iterable[tuple[str, str | None]], error: BaseException | str, intent: int = 0) -> None:
        for side, record_id in ids:
            if record_id is not None:
                self.records.setdefault(side, set()).add(record_id)
        if intent:
            self.intents.append(intent)
        self.writes += 1
        if isinstance(error, BaseException):
            self.last = error

    def interrupt(self, error: BaseException) -> None:
        self.interrupted, self.last = str(error), error

    def seen(self, updated: float | None) -> None:
        if updated is not None:
            self.clock = max(self.clock, updated)


def ids_of(candidate: Any) -> list[tuple[str, str | None]]:
    """(side, id) of both records of a candidate: what a later round reads again."""
    return [(side, record.id if record is not None else None) for side, record in (("left", candidate.left), ("right", candidate.right))]


# -- unknown outcomes ------------------------------------------------------------------------
def since_for(run: PairRunHost, batch: list[LeftWrite]) -> float | None:
    """An update time the API showed before this batch was sent: every record the batch writes
    has a later one. None when nothing was seen yet (then the whole list is read)."""
    times = [run.pending.clock, getattr(run, "read_until", None) or 0.0]
    times += [w.candidate.left.updated or 0.0 for w in batch if w.candidate.left is not None]
    newest = max(times)
    return newest - OVERLAP_SECONDS if newest else None


async def resolve_unknown(run: PairRunHost, batch: list[LeftWrite], since: float | None) -> None:
    """Settle each write of the batch whose outcome is unknown: an update is sent again (a PATCH
    is idempotent); a create is looked up by a consistent read, and is "done" with the record
    found, or "pending" (sent again by a later round) when it is not there."""
    unknown = [w for w in batch if w.outcome == "unknown"]
    creates = [w for w in unknown if w.candidate.left is None]
    for write in unknown:
        if write.candidate.left is not None:
            write.outcome = "pending"
    if not creates:
        return
    run.engine.report.outbox["unknown"] += len(creates)
    s = run.sides["left"]
    connector = run.engine.connectors[s.system]
    async for page in connector.pages(s.obj, updated_since=since):
        for raw in page:
            record_id = str(raw.get("id"))
            if run.state.link_by_left(run.id, record_id) is not None:
                continue  # a record paired already is no unknown create's
            for write in creates:
                if write.outcome == "unknown" and carries(write.body, raw):
                    write.raw, write.outcome = raw, "done"
                    write.note = f"outcome unknown ({write.error}); found as {record_id} by a consistent read"
                    run.engine.report.outbox["found"] += 1
                    break
    for write in creates:
        if write.outcome == "unknown":
            write.outcome = "pending"
            write.error = f"outcome unknown ({write.error}); not found by a consistent read, so not applied"


def carries(body: Mapping[str, Any], raw: Mapping[str, Any]) -> bool:
    """Whether a record holds what a create sent: the same custom values (the link field names
    the partner, so it is the record), the emails sent, and the name."""
    custom = body.get("custom_fields") or {}
    held = raw.get("custom_fields") or {}
    if any(_text(held.get(key)) != _text(value) for key, value in custom.items()):
        return False
    for key in ("emails", "phones"):
        sent = {_text(item.get("value")).lower() for item in body.get(key) or () if isinstance(item, Mapping)}
        there = {_text(item.get("value")).lower() for item in raw.get(key) or () if isinstance(item, Mapping)}
        if not sent <= there:
            return False
    if "name" in body and _text(body["name"]) != _text(raw.get("name")):
        return False
    return bool(custom or body.get("emails") or "name" in body)


def _text(value: Any) -> str:
    return " ".join(str(value).split()) if value is not None else ""


# -- creates of a killed run ---------------------------------------------------------------------
def adopt_created(run: PairRunHost, candidates: list[Any]) -> list[Any]:
    """Pairs found without a stored link whose left record a killed run created: an open create
    intent of an earlier run for that right record, and the left record carrying the link field
    it sent. Recorded now as that run would have recorded them (the left side fresh: only what
    was written into it counts as synced), so the pass goes on exactly as if it had not been
    killed, and the intent is done, saying so."""
    link = run.pair.get("link")
    if not link or link["left"]["kind"] != "custom" or run.engine.dry_run:
        return candidates
    key = ref_key(link["left"])
    creates = {i.key: i for i in run.state.open_intents(run.id) if i.op == "create" and i.run_id != run.run_id}
    adopted = []
    for candidate in candidates:
        intent = creates.get(f"{run.id}:{candidate.right.id}") if candidate.right is not None else None
        if intent is not None and candidate.left is not None and candidate.link is None and candidate.left.values.get(key) == candidate.right.id:
            with run.state.transaction():
                run.remember(candidate, fresh="left")
                run.state.finish_intent(intent.id, status="done", result={"id": candidate.left.id, "resolved": f"found by run {run.run_id}"})
            candidate = type(candidate)(candidate.left, candidate.right, run.state.link_by_left(run.id, candidate.left.id))
        adopted.append(candidate)
    return adopted


# -- the end of a pair's pass ------------------------------------------------------------------
async def settle(run: PairRun, only: Mapping[str, set[str]] | None) -> None:
    """A pair's pass, then rounds that pass again what it left pending, until nothing is or
    the rounds run out. The cursor the first pass held moves once nothing is pending."""
    engine = run.engine
    # Left pending by earlier runs: this pass reads them again (its cursor did not move).
    earlier = [] if only is not None or engine.dry_run else [i.id for i in run.state.open_intents(run.id, status=INTENT_PENDING)]
    await guarded(run, only)
    carry(run, run.pending, earlier)
    current, closer = run, run
    rounds = 0
    while current.pending and rounds < ROUNDS and not engine.dry_run:
        rounds += 1
        await asyncio.sleep(delay(run, current.pending, rounds))
        again = type(run)(engine, run.pair, run.run_id)
        again.pending.clock = current.pending.clock
        whole = bool(current.pending.interrupted)
        engine.report.outbox["retried"] += current.pending.writes
        engine.progress(f"{run.id}: round {rounds}: {current.pending.writes} writes the APIs refused for a while, sent again")
        await guarded(again, (only if only is not None else None) if whole else current.pending.records)
        carry(run, again.pending, current.pending.intents, current.pending)
        current = again
        if whole and only is None:
            closer = again
    if current.pending:
        held = current.pending
        engine.report.outbox["pending"] += held.writes
        engine.report.outbox["interrupted"] += bool(held.interrupted)
        cause = held.interrupted or (str(held.last) if held.last else "refused for a while")
        engine.report.notes.append(
            f"{run.id}: {held.writes} writes left pending after {rounds} rounds of retries (last: {cause}); "
            "the next run sends them again: nothing is lost"
        )
    elif closer.held is not None:
        closer.close_pass(closer.held)


def carry(run: PairRun, now: Pending, intents: list[int], before: Pending | None = None) -> None:
    """After a pass: the pending intents it was to send again are "retried" if it went through
    (a write refused again has a new pending intent), or stay pending, with their records and
    writes, if it was cut short before it could send them."""
    if not now.interrupted:
        supersede(run, intents)
        return
    now.intents = [*intents, *now.intents]
    if before is not None:
        now.writes += before.writes
        for side, ids in before.records.items():
            now.records.setdefault(side, set()).update(ids)


async def guarded(run: PairRun, only: Mapping[str, set[str]] | None) -> None:
    """A pass cut short by a transient failure (a read that kept failing, a lookup that could not
    be made) is pending as a whole: the next round passes it again, from the same cursor."""
    try:
        await run.run(only)
    except (ApiError, UnknownOutcome) as error:
        if not transient(error):
            raise
        run.pending.interrupt(error)


def supersede(run: PairRun, intents: list[int]) -> None:
    """Pending intents a pass has just sent again: "retried" (the new intent has the outcome)."""
    waiting = {i.id: i for i in run.state.open_intents(run.id, status=INTENT_PENDING)}
    with run.state.transaction():
        for intent_id in dict.fromkeys(intents):
            if intent_id in waiting:
                result = {**(waiting[intent_id].result or {}), "retried_by_run": run.run_id}
                run.state.finish_intent(intent_id, status="retried", result=result)


def delay(run: PairRun, pending: Pending, attempt: int) -> float:
    """Real seconds before the next round: what the last refusal's headers ask (Retry-After,
    x-ratelimit-reset), else the governor's backoff, both on the sandbox's time scale."""
    error = pending.last
    system = getattr(error, "system", None) or run.sides["left"].system
    connector = run.engine.connectors.get(system) or next(iter(run.engine.connectors.values()))
    governor = connector.http.governor
    status = getattr(error, "status", None)
    headers = getattr(error, "headers", None) or {}
    seconds: float = governor.retry_delay(attempt, status, headers)
    return seconds
