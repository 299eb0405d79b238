"""The server's one worker: takes deliveries from the inbox, in arrival order, and runs their
records through the engine; runs a reconciliation pass every `reconcile_every` seconds.

One worker, so a delivery and a pass never write the same record at once. A delivery is
finished in the inbox only after its writes are recorded: a killed server processes it again
on restart, and the engine's links and snapshots make that second time write nothing new.
A batch the API refuses for being busy stays pending as it was, tried again within seconds
of the API answering (`patience.py`: what a failure means and how long to wait).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from syncmap.compiler import passes
from syncmap.runtime.connectors.base import Record
from syncmap.runtime.serve.events import Change, ShapeError, autopilot_delivery, pipedrive_delivery
from syncmap.runtime.serve.metrics import Metrics
from syncmap.runtime.serve.patience import HeldWrites, verdict
from syncmap.runtime.state import InboxItem

BATCH = 200  # deliveries taken from the inbox at a time
LAST_SEEN_LIMIT = 200_000  # records whose newest change time is remembered (about 40 MB at most)
MAX_ATTEMPTS = 5  # a delivery failing this often is given up: the next reconciliation covers it
ACTIONS_PREFIX = "action:"
DIRTY_KEY = "serve.pending_passes"  # state meta: the pairs whose pass deliveries asked for


@dataclass
class Work:
    """What one batch of deliveries asks of one pair."""

    records: dict[str, dict[str, Record | None]] = field(default_factory=lambda: {"left": {}, "right": {}})
    deleted: dict[str, set[str]] = field(default_factory=lambda: {"left": set(), "right": set()})

    def __bool__(self) -> bool:
        return any(self.records.values()) or any(self.deleted.values())


def decode(item: InboxItem) -> Change | None:
    if item.source == "pipedrive":
        return pipedrive_delivery(item.body)[1]
    if item.source == "autopilot":
        return autopilot_delivery(item.body)[1]
    raise ShapeError(f"unknown inbox source {item.source!r}")


class Worker:
    def __init__(
        self,
        engine: Any,
        state: Any,
        metrics: Metrics,
        *,
        reconcile_every: float,
        actions: Any = None,
        on_error: Callable[[str], None] = lambda line: None,
        pair_pass_delay: float = 10.0,
    ) -> None:
        self.engine, self.state, self.metrics = engine, state, metrics
        self.reconcile_every = reconcile_every
        self.actions = actions
        self.on_error = on_error
        self.wake = asyncio.Event()
        self.last_seen: dict[tuple[str, str, str], float] = {}  # (system, object, id) -> newest change time processed
        self.next_pass = time.monotonic() if reconcile_every > 0 else float("inf")
        # pair id -> when its pass is due (pairs without a targeted path). Kept in the state too:
        # their deliveries are finished before the pass, so a pass a killed server owed is due
        # at once in the next one.
        self.dirty: dict[str, float] = dict.fromkeys(state.get_meta(DIRTY_KEY) or (), time.monotonic())
        self.pair_pass_delay = pair_pass_delay
        self.waiting: dict[str, list[float]] = {}  # pair id -> arrival times of the deliveries its pass will answer
        self.marked: set[str] = set()  # pairs the delivery being planned marked for a pass
        self.busy = False  # a batch or a pass is under way (a clean stop lets it finish)
        self.stopping = False

    # -- the loop -------------------------------------------------------------------------------
    def stop_asked(self) -> bool:
        """`stopping`, read through a call: it is set while the loop waits, which a type
        checker that narrowed it at the loop's head cannot see."""
        return self.stopping

    async def loop(self, reconcile: Callable[[], Awaitable[None]]) -> None:
        backoff = 0.0
        while not self.stopping:
            timeout = max(0.0, min(self.next_pass, *self.dirty.values(), time.monotonic() + 3600.0) - time.monotonic())
            if backoff:
                await asyncio.sleep(min(timeout, backoff))  # new deliveries wait too: the API is the problem
            elif not self.state.pending_inbox(limit=1):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wake.wait(), timeout)
            self.wake.clear()
            if self.stop_asked():
                return
            self.busy = True
            try:
                await self.step(reconcile)
                backoff = 0.0
            except Exception as error:
                judged = verdict(backoff, error)
                backoff = judged.wait
                if not judged.spends_attempt:
                    # The API is busy, down or out of budget: the deliveries stay in the inbox as
                    # they were (no attempt spent) and are tried again soon after it answers.
                    self.on_error(f"deliveries wait {backoff:.0f} s: {error}")
                else:
                    # Not the API's state: a delivery this code cannot handle, or a refusal that
                    # will not change. Tried again a few times, then given up (the next
                    # reconciliation covers its records) so it cannot block the rest.
                    self.on_error(f"deliveries failed ({type(error).__name__}: {error}); tried again in {backoff:.0f} s")
                    self.retry_later(self.state.pending_inbox(limit=BATCH), f"{type(error).__name__}: {error}")
            finally:
                self.busy = False

    async def step(self, reconcile: Callable[[], Awaitable[None]]) -> None:
        if time.monotonic() >= self.next_pass:
            self.next_pass = time.monotonic() + self.reconcile_every
            try:
                await reconcile()
            except Exception as error:  # a pass that fails is tried again at the next interval
                self.on_error(f"reconciliation pass failed: {error}")
        items = self.state.pending_inbox(limit=BATCH)
        self.metrics.queue.set(self.state.count_pending_inbox())
        if items:
            await self.process(items)
        else:
            await self.pass_dirty()

    def retry_later(self, items: list[InboxItem], error: str) -> None:
        with self.state.transaction():
            for item in items:
                status = "failed" if item.attempts + 1 >= MAX_ATTEMPTS else "pending"
                self.state.finish_inbox(item.id, status=status, error=error[:500])
                if status == "failed":
                    self.metrics.failed.labels(self._label(item)).inc()

    # -- one batch ------------------------------------------------------------------------------
    async def process(self, items: list[InboxItem]) -> None:
        work: dict[str, Work] = {}
        done: list[InboxItem] = []
        for item in items:
            if item.source.startswith(ACTIONS_PREFIX):
                await self.perform(item)
                continue
            try:
                change = decode(item)
            except ShapeError as error:
                self.state.finish_inbox(item.id, status="failed", error=str(error))
                self.metrics.failed.labels(item.source).inc()
                continue
            self.marked = set()
            if change is not None and not await self.plan_change(change, work):
                self.metrics.echoes.labels(item.source).inc()
            for pair_id in self.marked:
                self.waiting.setdefault(pair_id, []).append(item.received_at)
            done.append(item)
        await self.targeted(work)
        await self.pass_dirty()
        now = time.time()
        with self.state.transaction():
            for item in done:
                self.state.finish_inbox(item.id, status="done")
                self.metrics.processed.labels(item.source).inc()
                if not any(item.received_at in times for times in self.waiting.values()):
                    self.metrics.latency.observe(max(0.0, now - item.received_at))

    async def targeted(self, work: dict[str, Work]) -> None:
        """The batch's records through their pairs. A write the API refused for being busy is
        held, not dead-lettered: HeldWrites then keeps the whole batch pending (what was written
        is recorded, so the next try writes only what is left)."""
        held: list[str] = []
        for stage in self.engine.plan["stages"]:
            for pair_id in stage["pairs"]:
                if work.get(pair_id):
                    run = self.engine.pair_run(pair_id)
                    await run.targeted(work[pair_id].records, work[pair_id].deleted)
                    if run.pending:  # refused for being busy: its intents are pending (runtime/pending.py)
                        held.append(str(run.pending.last or run.pending.interrupted or "refused for a while"))
        if held:
            raise HeldWrites(held)

    async def plan_change(self, change: Change, work: dict[str, Work]) -> bool:
        """Add the change's record to the work of every pair that syncs it; False when there is
        nothing to do (our own write coming back, an older state than one already processed)."""
        engine = self.engine
        key = (change.system, change.obj, change.record_id)
        if change.action in ("list_add", "list_remove"):
            return self.plan_membership(change, work)
        stale = change.occurred is not None and change.occurred < self.last_seen.get(key, float("-inf"))
        if change.occurred is not None and not stale:
            self.last_seen.pop(key, None)  # re-inserted last: the dict runs from least to most recently changed
            self.last_seen[key] = change.occurred
            if len(self.last_seen) > LAST_SEEN_LIMIT:
                # A long-running server would keep every record it ever heard of; the oldest half
                # only guards against retries of changes made long ago.
                for old in list(self.last_seen)[: LAST_SEEN_LIMIT // 2]:
                    del self.last_seen[old]
        connector = engine.connectors.get(change.system)
        if change.system == "pipedrive" and change.raw is not None:
            refresh_related(connector, change)
            await connector.ensure_related(change.raw)
        wanted = False
        for pair_id in engine.pairs_fed_by(change.system, change.obj):
            self.mark(pair_id)
            wanted = True
        for pair_id, side in engine.pairs_of(change.system, change.obj):
            run = engine.pair_run(pair_id)
            if not run.targetable():
                # Many-to-one pairs and pairs matched through a relation need the other side's
                # records to pair, as a pass reads them: a pass of that pair, soon (its changes
                # gathered), instead of one record's path.
                self.mark(pair_id)
                wanted = True
                continue
            slot = work.setdefault(pair_id, Work())
            if change.action == "delete":
                slot.deleted[side].add(change.record_id)
                slot.records[side].pop(change.record_id, None)
                wanted = True
                continue
            record = None
            # The payload stands for the record when it is the first delivery of the newest change
            # and carries every field the pair reads; otherwise the record is read.
            if change.raw is not None and change.attempt == 1 and not stale and covers(connector, change, run.sides[side].keys):
                record = flatten(connector, change, run.sides[side].keys)
                if run.echo(side, record):
                    continue
            if change.record_id in slot.deleted[side]:
                slot.deleted[side].discard(change.record_id)
            if record is None and stale and change.record_id in slot.records[side]:
                continue  # a newer state of it is in this batch already
            slot.records[side][change.record_id] = record
            wanted = True
        return wanted

    def plan_membership(self, change: Change, work: dict[str, Work]) -> bool:
        """A contact joined or left a list. The scope lists' members are kept current from these
        events; a contact that joins the scope list and is not synced yet flows into Pipedrive
        (R2); one taken off the mirror list while its person exists goes back on it (R7)."""
        engine = self.engine
        ap = engine.connectors.get("autopilot")
        title = next((t for t, list_id in (getattr(ap, "lists", None) or {}).items() if list_id == change.list_id), None)
        if title is None:
            return False
        members = engine.members.setdefault(title, set()) if title in engine.members else None
        wanted = False
        for pair_id, side in engine.pairs_of("autopilot", "Contact"):
            pair = next(p for p in engine.plan["pairs"] if p["id"] == pair_id)
            if title not in passes.scope_lists(pair):
                continue
            linked = bool(engine.state.links_by_right(pair_id, change.record_id))
            if change.action == "list_add":
                if members is not None:
                    members.add(change.record_id)
                if linked:
                    continue  # on the list and synced already: our own mirror write, most often
            else:
                if members is not None:
                    members.discard(change.record_id)
                if not linked:
                    continue
            work.setdefault(pair_id, Work()).records[side].setdefault(change.record_id, None)
            wanted = True
        return wanted

    def mark(self, pair_id: str) -> None:
        if pair_id not in self.dirty:
            self.dirty[pair_id] = time.monotonic() + self.pair_pass_delay
            self.state.set_meta(DIRTY_KEY, sorted(self.dirty))
        self.marked.add(pair_id)

    async def pass_dirty(self, *, force: bool = False) -> None:
        """Passes of the pairs deliveries marked, once their delay is over (a burst of deal
        changes makes one pass, not one per change)."""
        now = time.monotonic()
        due = [pair_id for pair_id, when in self.dirty.items() if force or when <= now]
        if not due:
            return
        for stage in self.engine.plan["stages"]:
            for pair_id in stage["pairs"]:
                if pair_id in due:
                    await self.engine.pass_pair(pair_id)
                    del self.dirty[pair_id]  # only once the pass is through: a failed one stays owed
                    self.state.set_meta(DIRTY_KEY, sorted(self.dirty))
                    finished = time.time()
                    for received in self.waiting.pop(pair_id, ()):
                        self.metrics.latency.observe(max(0.0, finished - received))

    # -- journey actions ------------------------------------------------------------------------
    async def perform(self, item: InboxItem) -> None:
        name = item.source[len(ACTIONS_PREFIX) :]
        contact = item.body.get("contact") if isinstance(item.body, Mapping) else None
        try:
            outcome = await self.actions.perform(name, contact, delivery=item.delivery_key)
        except (LookupError, ValueError) as error:  # an action the plan lost, a record without a contact
            self.state.finish_inbox(item.id, status="failed", error=str(error))
            self.metrics.actions.labels(name, "failed").inc()
            self.metrics.failed.labels("action").inc()
            return
        self.state.finish_inbox(item.id, status="done")
        self.metrics.actions.labels(name, outcome.status).inc()
        self.metrics.processed.labels("action").inc()
        self.metrics.latency.observe(max(0.0, time.time() - item.received_at))

    @staticmethod
    def _label(item: InboxItem) -> str:
        return "action" if item.source.startswith(ACTIONS_PREFIX) else item.source


def covers(connector: Any, change: Change, keys: list[str]) -> bool:
    """Whether the payload carries every value the pair reads (Pipedrive's v2 `data` carries
    "only crucial information"; a missing key means: read the record)."""
    raw = change.raw or {}
    if change.system == "autopilot":
        return True  # a hook's contact is the whole contact; an absent field is an empty one
    from syncmap.runtime.connectors.pipedrive import MULTI, RELATION_KEYS

    for key in keys:
        if key.startswith("custom:"):
            definition = connector.custom.get(change.obj, {}).get(key[len("custom:") :])
            if definition is None or definition["key"] not in (raw.get("custom_fields") or {}):
                return False
            continue
        head, _, _ = key.partition(".")
        wire = MULTI.get(head) or RELATION_KEYS.get(head) or ("stage_id" if key == "stage" else key)
        if wire not in raw:
            return False
    return True


def flatten(connector: Any, change: Change, keys: list[str]) -> Record:
    """The record a delivery carries, as the connector of its system reads it."""
    raw = change.raw
    assert raw is not None  # flattened only when the delivery carries its record
    flat: Record = connector.flatten(change.obj, raw, keys)
    return flat


def refresh_related(connector: Any, change: Change) -> None:
    """A changed organization (or person, deal) that other records read through a relation
    (`organization.name`) replaces the copy loaded at set-up."""
    related = getattr(connector, "related", None)
    if related is not None and change.obj in related and change.raw is not None:
        related[change.obj][change.record_id] = change.raw
