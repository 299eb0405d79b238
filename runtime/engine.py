"""The sync engine: runs a plan's pairs, stage by stage, against two connectors and a state store.

One pass of one pair (docs/runtime.md, "How a run works"):
1. read: Pipedrive records changed since the pair's cursor (all of them on a full pass), sorted
   by update time so a record changed during the scan is read again later or next time; the
   Autopilot side in full (it has no `updated_since`), or only the roster of a scope list;
2. pair: by the stored link, then the link field, then a relation through another pair, then
   each match group in order; Pipedrive records that share a match key stay separate: the first
   pairs, the others become dead letters naming each other (R9);
3. diff each pair against the values last synced (`syncmap.runtime.diff`), and write: Autopilot
   in bulk upserts of 100, Pipedrive concurrently as far as the rate governor allows;
4. remember: links and snapshots commit as writes complete; the cursor moves only after the pair
   finished, so a run killed anywhere re-reads and re-pairs, and re-writes nothing it had done.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from syncmap.compiler import passes
from syncmap.runtime.candidates import BEFORE, FIELD_LEVEL, GONE, SHARED, Candidate, DeadLetter, is_gone
from syncmap.runtime.connectors.base import Record
from syncmap.runtime.diff import Op, diff, digest_ops, keys_of, snapshot_after
from syncmap.runtime.pair_run_host import PairRunHost
from syncmap.runtime.pairing import Pairing, id_order
from syncmap.runtime.pending import Pending, adopt_created, settle
from syncmap.runtime.plan_change import PlanChange, backfill_cost, changed_pairs, describe, kept, meta_key, record_of
from syncmap.runtime.read_ahead import read_ahead
from syncmap.runtime.report import Report
from syncmap.runtime.state import Link, StateStore
from syncmap.runtime.values import Context, is_empty, normalize_key, ref_key, refs_in, same, truth
from syncmap.runtime.wire import field_types
from syncmap.runtime.writing import Writing

SIDES = ("left", "right")
OTHER = {"left": "right", "right": "left"}
# Pipedrive's updated_since has whole seconds; re-reading a little makes an equal-second change safe.
CURSOR_OVERLAP_SECONDS = 2.0
# Pipedrive records a pass pairs and writes before it reads on (memory holds one chunk).
CHUNK = 5000


@dataclass
class Side:
    name: str  # "left" | "right"
    system: str
    obj: str
    keys: list[str] = field(default_factory=list)


class PairRun(Pairing, Writing):
    def __init__(self, engine: Engine, pair: Mapping[str, Any], run_id: int) -> None:
        self.engine, self.pair, self.run_id = engine, pair, run_id
        self.id = pair["id"]
        self.state = engine.state
        self.ops: list[Op] = digest_ops(pair["fields"], field_types(engine.connectors))
        self.sides = {s: Side(s, pair[s]["system"], pair[s]["object"]) for s in SIDES}
        for s in SIDES:
            self.sides[s].keys = self._keys(s)
        self.lettered: set[tuple[str, str]] = set()  # (side, record id) given a dead letter this pass
        self.waiting = 0  # records whose related record is not synced yet (R17)
        self._letters: dict[tuple[str, str], list[Any]] | None = None
        self.forced: set[str] = set()  # target keys of rules this pair did not run with (plan_change)
        self.change: PlanChange | None = None
        self.pending = Pending()  # writes the APIs refused for a while (`syncmap.runtime.pending`)
        self.held: bool | None = None  # the pass's close (its `full`), held while writes are pending

    # -- what each side must carry ----------------------------------------------------------
    def _keys(self, side: str) -> list[str]:
        system, obj = self.pair[side]["system"], self.pair[side]["object"]
        keys = dict.fromkeys(keys_of(self.ops, side))
        for ref in refs_in([self.pair["filters"], self.pair["scope"]]):
            if ref["system"] == system and ref["object"] == obj:
                keys[ref_key(ref)] = None
        link = self.pair.get("link")
        if link and link[side]["kind"] == "custom":
            keys[ref_key(link[side])] = None
        for group in self.pair["match"]:
            for key in group["keys"]:
                match_ref = key.get(side)
                if isinstance(match_ref, Mapping) and "path" in match_ref:
                    keys[ref_key(match_ref)] = None
        for implicit in self.pair["implicit_filters"]:
            if implicit["side"] == system:
                keys[implicit["field"]] = None
        upsert_key = passes.traits(system, obj).upsert_key
        if upsert_key is not None:
            keys[upsert_key] = None  # a write into this side names its record by this key
        for required in self.pair["required"]:
            if required["system"] == system and required["object"] == obj:
                keys[required["field"]] = None
        return list(keys)

    def writes(self, side: str) -> bool:
        return passes.flows_into(self.pair, side)

    # -- reading --------------------------------------------------------------------------------
    def connector(self, side: str) -> Any:
        return self.engine.connectors[self.sides[side].system]

    async def chunks(self, side: str, *, full: bool) -> AsyncIterator[dict[str, Record]]:
        """The walked side, CHUNK records at a time, from the pair's cursor: a pass pairs and
        writes each chunk before reading on, so memory holds one chunk, not the collection. A
        side that cannot list its changes since a time is read whole, in one chunk."""
        s = self.sides[side]
        connector = self.connector(side)
        if not passes.walkable(self.pair[side]):
            yield await self.read(side, full=full)
            return
        since = None
        if not full:
            cursor = self.state.get_cursor(f"{self.id}:{side}")
            since = float(cursor) - CURSOR_OVERLAP_SECONDS if cursor else None
        newest, total, chunk = None, 0, {}
        async for page in connector.pages(s.obj, updated_since=since):
            for raw in page:
                for record in connector.records(s.obj, raw, s.keys):
                    if not record.deleted:
                        chunk[record.id] = record
                    newest = max(newest or 0.0, record.updated or 0.0)
            if len(chunk) >= CHUNK:
                total += len(chunk)
                self.engine.progress(f"{self.id}: read {total:,} {s.system} {s.obj} records")
                yield chunk
                chunk = {}
        total += len(chunk)
        self.read_until = max(newest or 0.0, since or 0.0) or None
        self.engine.report.read(s.system, s.obj, total)
        yield chunk

    async def read(self, side: str, *, full: bool) -> dict[str, Record]:
        """A side whole: every record, or, for a side scoped by a list, the list's members."""
        s = self.sides[side]
        connector = self.connector(side)
        records: dict[str, Record] = {}
        if passes.walkable(self.pair[side]):
            async for chunk in self.chunks(side, full=full):
                records.update(chunk)
            return records
        pages = connector.member_pages(self.scope_lists(side)[0]) if side == "right" and self.roster_only() else connector.pages(s.obj)
        async for page in pages:
            for raw in page:
                for record in connector.records(s.obj, raw, s.keys):
                    if not record.deleted:
                        records[record.id] = record
            self.engine.progress(f"{self.id}: read {len(records):,} {s.system} {s.obj} records")
        self.engine.report.read(s.system, s.obj, len(records))
        return records

    def needs_right_read(self) -> bool:
        return passes.reads_held_side(self.pair)

    def scope_lists(self, side: str) -> list[str]:
        """Titles of the lists of this side's system that scope the pair."""
        return passes.scope_lists(self.pair, self.sides[side].system)

    def roster_only(self) -> bool:
        return passes.roster_only(self.pair)

    # -- the pass ---------------------------------------------------------------------------------
    async def run(self, only: Mapping[str, set[str]] | None = None) -> None:
        """One pass; with `only` (side -> record ids), just those records (`syncmap retry`)."""
        engine = self.engine
        full = False if only else engine.full_pass(self.id)
        engine.full_pass_now[self.id] = full
        self.change = None if only else engine.plan_changes.get(self.id)
        if self.change is not None:
            self.forced = {self.ops[i].target_key for i in self.change.forced(self.pair["fields"])}
        if only:
            left_chunks = _one(await self.read_ids("left", only.get("left", set())))
            if only.get("right"):
                right = await self.read_ids("right", only.get("right", set()))
            else:  # a push that pairs by the upsert (`needs_right_read`) needs no read of the right side
                right = await self.read("right", full=True) if self.needs_right_read() else {}
        else:
            # Many records matched to one by a field (the contacts of a company, one
            # organization) have no link each: every pass reads that side whole to match.
            whole_left = full or (not self.one_to_one() and bool(self.pair["creates"]["left"]))
            right = await self.read("right", full=True) if self.needs_right_read() else {}
            left_chunks = read_ahead(self.chunks("left", full=whole_left))  # reads on while a chunk is written
        self.right_complete = not only and self.needs_right_read() and not self.roster_only()
        if not only and self.roster_only() and self.needs_right_read():
            engine.members.setdefault(self.scope_lists("right")[0], set(right))  # the roster just read
        members = await engine.scope_members(self.pair)
        # Links as they were before this pass: what a full read does not find was deleted. A
        # record this pass creates is in no read, so the list is taken before anything is linked.
        before = [(link.left_id, link.right_id) for link in self.state.iter_links(self.id)] if full else []
        self.begin_pairing(right)
        if not full and not self.needs_right_read() and self.one_to_one():
            # The held side is not read (a keyed write pairs), and an incremental pass reads only
            # what changed: the match keys linked records hold come from the state, or a new
            # record sharing one would be written over its holder's partner (R9).
            self.own_linked()
        async for chunk in left_chunks:
            with self.state.transaction():  # pairing writes dead letters: one commit for all of them
                candidates = self.pair_chunk(chunk, right)
            await self.apply(candidates, members)
        with self.state.transaction():
            candidates = self.pair_tail(right)
        await self.apply(candidates, members)
        if full:
            await self.deletions(self.gone(before, right))
        if self.waiting:
            engine.report.notes.append(
                f"{self.id}: {self.waiting} {self.pair['right']['object'].lower()} records wait for "
                f"their {self.pair['left']['object'].lower()}'s relation to be synced first (R17)"
            )
        if not engine.dry_run and not only:
            if self.pending:
                self.held = full  # moved once a later round has sent what is pending (`pending.settle`)
            else:
                self.close_pass(full)
        if not only:
            engine.plan_changes.pop(self.id, None)

    def close_pass(self, full: bool) -> None:
        """The pass's work is done: its cursors move."""
        with self.state.transaction():
            # Writes of earlier runs whose outcome was unknown (a crash, a timeout): this
            # pass read both sides back and paired what they made, so they are settled.
            for intent in self.state.open_intents(self.id):
                if intent.run_id != self.run_id:
                    self.state.finish_intent(intent.id, status="abandoned", result={"settled_by_run": self.run_id})
            if getattr(self, "read_until", None):
                self.state.set_cursor(f"{self.id}:left", repr(self.read_until))
            if full:
                self.state.set_cursor(f"{self.id}:full", repr(time.time()))
            # The plan this pass brought every record to: the next run compares with it.
            self.state.set_meta(meta_key(self.id), record_of(self.pair, run_id=self.run_id, at=time.time()))
        self.held = None

    async def targeted(self, records: Mapping[str, Mapping[str, Record | None]], deleted: Mapping[str, set[str]]) -> None:
        """Chosen records through the pass's pairing, diff and writes (a webhook's records):
        `records` holds side -> id -> the record as the delivery carried it, or None to read it.
        A partner that is linked is not read: the values last synced stand for it, as on an
        incremental pass. An unlinked Pipedrive record is matched by its email against the
        contact Autopilot holds under it; an unlinked contact is looked up in Pipedrive by
        `look_up_left`. Deletions flow as `deletes` says (R6)."""
        engine = self.engine
        engine.full_pass_now[self.id] = False
        self.right_complete = False
        read: dict[str, dict[str, Record]] = {"left": {}, "right": {}}
        missing = {side: set(deleted.get(side, ())) for side in SIDES}
        for side in SIDES:
            for record_id, record in (records.get(side) or {}).items():
                if record is None:
                    record = (await self.read_ids(side, {record_id})).get(record_id)
                if record is None:
                    missing[side].add(record_id)  # gone by the time it was read
                else:
                    read[side][record.id] = record
        gone: list[tuple[str, Any]] = []
        for side in SIDES:
            for record_id in sorted(missing[side]):
                links = [self.state.link_by_left(self.id, record_id)] if side == "left" else self.state.links_by_right(self.id, record_id)
                gone.extend((side, link) for link in links if link is not None and not is_gone(link, side))
        await self.partners_by_key(read)
        members = await engine.scope_members(self.pair)
        self.begin_pairing(read["right"])
        with self.state.transaction():
            candidates = self.pair_chunk(read["left"], read["right"])
            candidates += self.pair_tail(read["right"])
        await self.apply(candidates, members)
        if gone:
            await self.deletions(gone)

    async def partners_by_key(self, read: dict[str, dict[str, Record]]) -> None:
        """An unlinked left record's partner, read by the key the right side's writes are keyed
        by (Autopilot finds a contact by its email): pairing then sees it as a full pass would."""
        right = self.sides["right"]
        connector = self.connector("right")
        key = passes.traits(right.system, right.obj).upsert_key
        if key is None:
            return
        for record in list(read["left"].values()):
            if self.state.link_by_left(self.id, record.id) is not None:
                continue
            for group in self.pair["match"]:
                for match in group["keys"]:
                    if match["kind"] != "field" or not isinstance(match.get("right"), Mapping) or match["right"].get("path") != [key]:
                        continue
                    value = normalize_key(record.values.get(ref_key(match["left"])), ("trim",))
                    if value is None:
                        continue
                    raw = await connector.get(right.obj, value)
                    if raw is not None:
                        partner = connector.flatten(right.obj, raw, right.keys)
                        read["right"].setdefault(partner.id, partner)

    def targetable(self) -> bool:
        """Whether one record can be synced alone (`targeted`): one-to-one pairs matched by
        fields. Others pair through records of the other side that a pass reads (the contacts
        of a company, the person's partner of a deal)."""
        matched_by_fields = all(key["kind"] == "field" for group in self.pair["match"] for key in group["keys"])
        return self.one_to_one() and matched_by_fields and passes.keyed_writes(self.pair, "right") is not None

    def echo(self, side: str, record: Record) -> bool:
        """Whether `record` holds exactly the values last synced on its side: our own write
        coming back (or a change to fields no rule reads). Nothing to do, and nothing to read."""
        if side == "left":
            link = self.state.link_by_left(self.id, record.id)
        else:
            links = self.state.links_by_right(self.id, record.id)
            link = links[0] if len(links) == 1 else None
        if link is None or is_gone(link, side):
            return False
        snapshot = link.left_values if side == "left" else link.right_values
        return all(same(value, snapshot.get(key)) or (is_empty(value) and is_empty(snapshot.get(key))) for key, value in record.values.items())

    async def read_ids(self, side: str, ids: set[str]) -> dict[str, Record]:
        s = self.sides[side]
        connector = self.connector(side)
        records: dict[str, Record] = {}
        for record_id in sorted(ids):
            raw = await connector.get(s.obj, record_id)
            if raw is None:
                continue
            await connector.ensure_related(raw)
            # An item may hold several records (a contact carries its activities): the one asked for.
            records.update((r.id, r) for r in connector.records(s.obj, raw, s.keys) if r.id == record_id)
        return records

    # -- pairing ---------------------------------------------------------------------------------
    # -- writing ---------------------------------------------------------------------------------
    async def apply(self, candidates: list[Candidate], members: dict[str, set[str]]) -> None:
        engine = self.engine
        right_writes: list[tuple[Candidate, dict[str, Any], Any]] = []
        left_tasks = []
        unchanged: list[Candidate] = []
        candidates = [c for c in [await self.look_up_left(c) for c in candidates] if c.left or c.right]
        candidates = adopt_created(self, candidates)  # creates a killed run made, recorded as it would have
        with self.state.transaction():  # the diff's dead letters and conflicts commit together
            planned = [(candidate, self.plan_or_letter(candidate, members)) for candidate in candidates]
        with self.state.transaction():  # conflicts logged and unchanged pairs remembered: one commit
            for candidate, plan in planned:
                if plan is None:
                    continue
                result, writable = plan
                if result.conflicts:
                    for conflict in result.conflicts:
                        engine.report.count(self.id, _direction(OTHER[conflict.winner]), "conflicts")
                        engine.log(
                            "conflict",
                            self.id,
                            {
                                "left_id": candidate.left.id if candidate.left else None,
                                "right_id": candidate.right.id if candidate.right else None,
                                "field": conflict.field,
                                "winner": conflict.winner,
                                "kept": conflict.kept,
                                "lost": conflict.lost,
                                "policy": conflict.policy,
                            },
                        )
                if result.changes["right"] or (candidate.right is None and writable.get("right")):
                    right_writes.append((candidate, result.changes["right"], result))
                if result.changes["left"] or (candidate.left is None and writable.get("left")):
                    left_tasks.append(self.prepare_left(candidate, result.changes["left"]))
                if not result.any() and candidate.left is not None and candidate.right is not None:
                    engine.report.count(self.id, self.main_direction(), "unchanged")
                    unchanged.append(candidate)
            if not engine.dry_run:
                for candidate in unchanged:
                    self.remember(candidate)
        if self.change is not None and self.change.scope_changed:
            await self.deletions(self.left_scope([c for c, plan in planned if plan is None], members), unlink=True)
        self.created_left: list[Candidate] = []
        # The two APIs have separate limits: write both at once.
        await asyncio.gather(self.write_right(right_writes, members) if right_writes else _nothing(), self.write_lefts(left_tasks))
        if self.created_left:
            # A record just created in Pipedrive carries values of its own (the default owner,
            # its organization): they flow back in the same run.
            followups = []
            for candidate in self.created_left:
                plan = self.plan_candidate(candidate, members)
                if plan is not None and plan[0].changes["right"]:
                    followups.append((candidate, plan[0].changes["right"], plan[0]))
            if followups:
                await self.write_right(followups, members)
        await self.write_link_fields([c for c in candidates if c.left is not None])
        await self.mirror_list(candidates, members)

    def plan_or_letter(self, candidate: Candidate, members: Mapping[str, set[str]]) -> tuple[Any, dict[str, bool]] | None:
        try:
            return self.plan_candidate(candidate, members)
        except DeadLetter as letter:
            self.engine.dead_letter(self, *candidate.either("left"), letter)
            return None

    async def look_up_left(self, candidate: Candidate) -> Candidate:
        """An unpaired record that would create a Pipedrive person: on an incremental pass the
        person may exist unchanged (so unread); search by the match key before creating (R9)."""
        if candidate.left is not None or candidate.right is None or self.engine.full_pass_now.get(self.id):
            return candidate
        if not (
            self.writes("left")
            and self.pair["creates"]["left"]
            and self.in_scope("left", candidate, candidate.right.values, self.engine.members, False)
        ):
            return candidate
        s = self.sides["left"]
        connector = self.connector("left")
        for group in self.pair["match"]:
            for key in group["keys"]:
                if key["kind"] != "field" or not isinstance(key.get("left"), Mapping) or not isinstance(key.get("right"), Mapping):
                    continue
                value = normalize_key(candidate.right.values.get(ref_key(key["right"])), tuple(key.get("normalize") or ("trim", "lowercase")))
                if value is None:
                    continue
                found = await connector.find_ids(s.obj, key["left"], value)
                for record_id in sorted(found or (), key=id_order):
                    raw = await connector.get(s.obj, record_id)
                    if raw is None:
                        continue
                    record = connector.flatten(s.obj, raw, s.keys)
                    linked = self.state.link_by_left(self.id, record.id)
                    if linked is None:
                        return Candidate(record, candidate.right)
                    if linked.right_id != candidate.right.id:
                        self.engine.dead_letter(
                            self,
                            "right",
                            candidate.right.id,
                            DeadLetter(
                                "duplicate_match_key",
                                f"{self.pair['right']['object']} {candidate.right.id} has the match key of {s.system} "
                                f"{s.obj.lower()} {record.id}, which is paired with {linked.right_id}: it is not synced "
                                "(merge the duplicates, R9)",
                                holder=record.id,
                            ),
                        )
                        return Candidate(None, None)
        return candidate

    def main_direction(self) -> str:
        return {"both": "both", "left_to_right": "left_to_right", "right_to_left": "right_to_left"}[self.pair["direction"]]

    def plan_candidate(self, candidate: Candidate, members: Mapping[str, set[str]]) -> tuple[Any, dict[str, bool]] | None:
        engine = self.engine
        pair = self.pair
        records = {"left": candidate.left.values if candidate.left else None, "right": candidate.right.values if candidate.right else None}
        for side in SIDES:
            record = records[side]
            if record is not None and not self.passes_filters(side, record):
                return None
        writable = {}
        for side in SIDES:
            source = records[OTHER[side]]
            if source is None or not self.writes(side):
                writable[side] = False
                continue
            allowed = pair["creates"][side] if records[side] is None else pair["updates"][side]
            linked = candidate.left is not None and candidate.right is not None
            writable[side] = bool(allowed) and self.in_scope(side, candidate, source, members, linked)
        for side in SIDES:
            if candidate.link is not None and is_gone(candidate.link, side):
                writable[side] = False  # deleted there by a person: never resurrected
        if candidate.link is not None and candidate.link.right_values.get(SHARED) and writable["right"] and candidate.right:
            self.shared_email(candidate.right, candidate.link.right_values[SHARED])
            writable["right"] = False
        if not any(writable.values()):
            return None
        snapshots = {
            "left": dict(candidate.link.left_values) if candidate.link else None,
            "right": dict(candidate.link.right_values) if candidate.link else None,
        }
        if snapshots["right"] is not None and candidate.right is not None:
            records["right"] = self.unapplied(candidate.right, snapshots["right"])
        for op in self.ops:
            snapshot = snapshots[op.reads]
            if (op.target_key in engine.retry_fields.get(self.id, ()) or op.target_key in self.forced) and snapshot is not None:
                for key in op.source_keys:
                    snapshot.pop(key, None)  # looks changed: written (or reported) again
        newest = _newest(candidate)
        result = diff(
            self.ops,
            records,
            snapshots,
            engine.ctx,
            writable=writable,
            systems={s: pair[s]["system"] for s in SIDES},
            pair_conflict=pair.get("conflict") or {"policy": "newest"},
            empty_policy=(pair.get("empty") or {}).get("policy", "skip"),
            newest=newest,
        )
        for misfit in result.misfits:
            # Validated before sending: the value is reported on its source record and the
            # field left out; the snapshot taken when the pair syncs keeps it from being tried
            # again until its source changes.
            written_from = candidate.right if misfit.side == "left" else candidate.left
            if written_from is not None:
                letter = DeadLetter("value_does_not_fit", misfit.message, field=misfit.field)
                engine.dead_letter(self, OTHER[misfit.side], written_from.id, letter)
        for side in SIDES:
            if records[side] is None and writable[side]:
                self.complete_create(side, candidate, result.changes[side])
        return result, writable

    def open_letters(self, side: str, record_id: str) -> list[Any]:
        """Open dead letters of this pair, by record; read once per pass (the state has no
        per-record query, and most records have none)."""
        if self._letters is None:
            self._letters = {}
            for letter in self.state.dead_letters():
                if letter.pair == self.id:
                    self._letters.setdefault((letter.side, letter.record_id), []).append(letter)
        return self._letters.get((side, record_id), [])

    def shared_email(self, right: Record, reached: str) -> None:
        self.engine.dead_letter(
            self,
            "right",
            right.id,
            DeadLetter(
                "email_shared_in_autopilot",
                f"Autopilot has several contacts with the email {right.values.get('Email')!r}: updates by email "
                f"reach {reached}, not {right.id} (merge them in Autopilot, then `syncmap retry`)",
                reached=reached,
            ),
        )

    def unapplied(self, record: Record, snapshot: dict[str, Any]) -> dict[str, Any]:
        """The right record's values, less what a write did not change there. A field that shows again the value it had before our last write was not changed by
        a person: Autopilot did not apply that write. Report it, and do not carry the old value
        back into Pipedrive as if it were news."""
        right = dict(record.values)
        for key, old in (snapshot.get(BEFORE) or {}).items():
            if key in right and same(right[key], old) and not same(right[key], snapshot.get(key)):
                self.engine.dead_letter(
                    self,
                    "right",
                    record.id,
                    DeadLetter(
                        "write_not_applied",
                        f"Autopilot kept {key} = {old!r} after syncmap wrote {snapshot.get(key)!r} (an upsert may keep "
                        "existing names): change it in Autopilot, or in Pipedrive to try again",
                        field=key,
                        kept=old,
                        written=snapshot.get(key),
                    ),
                )
                right[key] = snapshot.get(key)
        return right

    def passes_filters(self, side: str, record: Mapping[str, Any]) -> bool:
        system, obj = self.pair[side]["system"], self.pair[side]["object"]
        for implicit in self.pair["implicit_filters"]:
            if implicit["side"] != system:
                continue
            value = record.get(implicit["field"])
            if implicit.get("present") and is_empty(value):
                return False
            if "equals" in implicit and value != implicit["equals"]:
                return False
        for item in self.pair["filters"]:
            refs = list(refs_in(item["condition"]))
            if refs and all(r["system"] == system and r["object"] == obj for r in refs) and not truth(item["condition"], record, self.engine.ctx):
                return False
        return True

    def in_scope(self, toward: str, candidate: Candidate, source: Mapping[str, Any], members: Mapping[str, set[str]], linked: bool) -> bool:
        system = self.pair[toward]["system"]
        source_record = candidate.left if toward == "right" else candidate.right
        for scope in self.pair["scope"]:
            if scope["toward"] != system:
                continue

            def member(list_system: str, name: str) -> bool:
                return source_record is not None and source_record.id in members.get(name, set())

            if not truth(scope["condition"], source, self.engine.ctx, member=member, linked=linked):
                return False
        return True

    def complete_create(self, side: str, candidate: Candidate, changes: dict[str, Any]) -> None:
        """A record about to be created gets its owner default (R13), checked owner (R20), link
        field (R11) and activity type (R18); a missing required value is a dead letter (R23)."""
        engine, pair = self.engine, self.pair
        system, obj = pair[side]["system"], pair[side]["object"]
        source = candidate.right if side == "left" else candidate.left
        owner = pair.get("owner")
        if owner and owner["system"] == system and is_empty(changes.get("owner_id")):
            value = engine.owner_default(owner["default"])
            if value is not None:
                changes["owner_id"] = value
        link = pair.get("link")
        if link and link[side]["kind"] == "custom" and source is not None:
            changes[ref_key(link[side])] = source.id
        for required in pair["required"]:
            if required["system"] == system and required["object"] == obj and is_empty(changes.get(required["field"])):
                raise DeadLetter(
                    "missing_required",
                    f"{required['seed']} is required to create a {system} {obj}, and this record has none",
                    field=required["field"],
                )

    def remember(self, candidate: Candidate, fresh: str | None = None) -> None:
        """Store the pair and the values both sides hold now: the next pass's baseline. A side
        just created (`fresh`) has synced only what was written into it: its other values have
        not reached the partner yet, so they are left out and count as changes."""
        if self.engine.dry_run or candidate.left is None or candidate.right is None:
            return
        previous = self.state.link_by_left(self.id, candidate.left.id)
        values = {
            "left": snapshot_after(candidate.left.values, {}, self.sides["left"].keys),
            "right": snapshot_after(candidate.right.values, {}, self.sides["right"].keys),
        }
        if fresh is not None:
            written = {op.target_key for op in self.ops if op.writes == fresh}
            link = self.pair.get("link")
            if link and link[fresh]["kind"] == "custom":
                written.add(ref_key(link[fresh]))  # written at creation (R11)
            values[fresh] = {k: (v if k in written else None) for k, v in values[fresh].items()}
        if BEFORE in candidate.right.values:
            values["right"][BEFORE] = candidate.right.values[BEFORE]
        left_values, right_values = values["left"], values["right"]
        if previous and previous.right_id == candidate.right.id:
            # Keep what we know of a side that was not read this pass (of the fields the plan
            # still has: a rule removed takes its values out of the snapshot).
            left_keys, right_keys = self.sides["left"].keys, self.sides["right"].keys
            left_values = {**kept(previous.left_values, left_keys), **{k: v for k, v in left_values.items() if k in candidate.left.values}}
            right_values = {
                **{k: v for k, v in kept(previous.right_values, right_keys).items() if k != BEFORE},
                **{k: v for k, v in right_values.items() if k in candidate.right.values},
            }
        self.state.put_link(Link(self.id, candidate.left.id, candidate.right.id, left_values, right_values, time.time()))
        # A record that pairs and syncs now has its record-level letters resolved (unless this
        # pass just wrote one); a field-level letter stays open until a retry writes the field.
        for side, record_id in (("left", candidate.left.id), ("right", candidate.right.id)):
            if (side, record_id) in self.lettered:
                continue
            for letter in self.open_letters(side, record_id):
                if letter.reason not in FIELD_LEVEL:
                    self.state.resolve_dead_letter(letter.id)

    # -- deletions ----------------------------------------------------------------------------
    def gone(self, before: list[tuple[str, str]], right: dict[str, Record]) -> list[tuple[str, Any]]:
        """Links that existed before this pass whose record a full read did not find."""
        found = []
        for left_id, right_id in before:
            if left_id not in self.seen_left:
                side = "left"
            elif self.right_complete and right_id not in right:
                side = "right"
            else:
                continue
            link = self.state.link_by_left(self.id, left_id)
            if link is not None and link.right_id == right_id and not is_gone(link, side):
                found.append((side, link))
        return found

    def left_scope(self, candidates: list[Candidate], members: Mapping[str, set[str]]) -> list[tuple[str, Any]]:
        """(side, link) of each linked pair that a changed filter or scope now excludes: the
        side whose record failed a `where`, or the source of every flow an `only` now closes.
        Only records read in this pass are judged: values remembered from the last sync lack
        the fields a new condition reads, and a pair is never undone on a guess."""
        out = []
        for candidate in candidates:
            link = candidate.link
            if link is None or candidate.left is None or candidate.right is None or is_gone(link, "left") or is_gone(link, "right"):
                continue
            values = {"left": candidate.left.values, "right": candidate.right.values}
            read = {"left": candidate.left.id in self.seen_left, "right": candidate.right.id in self.right_links}
            failed = [side for side in SIDES if read[side] and not self.passes_filters(side, values[side])]
            towards = [side for side in SIDES if self.writes(side)]
            closed = [t for t in towards if read[OTHER[t]] and not self.in_scope(t, candidate, values[OTHER[t]], members, True)]
            if failed:
                out.append((failed[0], link))
            elif towards and closed == towards:
                out.append((OTHER[closed[0]], link))
        return out

    async def deletions(self, gone: list[tuple[str, Any]], *, unlink: bool = False) -> None:
        """A linked record gone from one side (or, `unlink`, out of a changed scope). Deletions
        flow only the way the mapping's `deletes` says (R6: never into Pipedrive); otherwise the
        pair is kept as a tombstone, or, for a record that only left the scope, unlinked."""
        engine = self.engine
        deletes = self.pair.get("deletes")
        for side, link in gone:
            deleted_system = self.pair[side]["system"]
            other = OTHER[side]
            flows = deletes is not None and deletes["from"] == deleted_system
            engine.report.change(
                pair=self.id,
                direction=_direction(other),
                system=self.pair[other]["system"],
                object=self.pair[other]["object"],
                action="delete" if flows else "unlink",
                id=link.right_id if other == "right" else link.left_id,
                changes={},
            )
            if engine.dry_run:
                continue
            if flows:
                # A right record several left records pair with goes only with the last of them.
                shared = other == "right" and any(o.left_id != link.left_id for o in self.state.links_by_right(self.id, link.right_id))
                if not shared:
                    await self.connector(other).delete(self.pair[other]["object"], link.right_id if other == "right" else link.left_id)
                    engine.report.count(self.id, _direction(other), "deleted")
                self.state.remove_link(self.id, link.left_id)
            elif unlink:
                self.state.remove_link(self.id, link.left_id)  # both still exist: a later scope may pair them again
            else:
                # Deleted by a person on one side, and the mapping does not delete the partner:
                # keep the pair as a tombstone so the partner is never re-created there (R6).
                values = {"left": dict(link.left_values), "right": dict(link.right_values)}
                values[side] = {GONE: True}
                self.state.put_link(Link(self.id, link.left_id, link.right_id, values["left"], values["right"], time.time()))


async def _one(records: dict[str, Record]) -> AsyncIterator[dict[str, Record]]:
    yield records


async def _nothing() -> None:
    return None


async def _no_pages() -> Any:
    return
    yield


def _direction(toward: str) -> str:
    return "left_to_right" if toward == "right" else "right_to_left"


def _newest(candidate: Candidate) -> str:
    left = candidate.left.updated if candidate.left else None
    right = candidate.right.updated if candidate.right else None
    if left is not None and right is not None:
        return "right" if right > left else "left"
    if right is not None and left is None:
        return "right"
    # Unknown times (a contact created through the API may carry no updated_at): the CRM holds.
    return "left"


class Engine:
    def __init__(
        self,
        plan: Mapping[str, Any],
        connectors: Mapping[str, Any],
        state: StateStore,
        *,
        dry_run: bool = False,
        full_scan_every: float = 3600.0,
        concurrency: int = 8,
        ctx: Context | None = None,
        errors: tuple[type[BaseException], type[BaseException]] | None = None,
        progress: Callable[[str], None] | None = None,
    ) -> None:
        # Each pair faces the way its pass walks (compiler/passes.py): what follows reads the
        # oriented plan only, so either order of a pair's sides runs as its mirror image.
        self.plan = passes.orient(plan)
        self.connectors, self.state = connectors, state
        self.dry_run, self.full_scan_every = dry_run, full_scan_every
        self.ctx = ctx or Context()
        self.report = self.new_report()
        self.run_id = 0
        self._semaphore = asyncio.Semaphore(concurrency)
        from syncmap.runtime.http import ApiError, UnknownOutcome

        self.api_error, self.unknown_outcome = errors or (ApiError, UnknownOutcome)
        from syncmap.runtime.api_errors import LimitReached

        # What a request can end in when the API, not the record, is the problem.
        self.api_failures: tuple[type[BaseException], ...] = (self.api_error, self.unknown_outcome, LimitReached)
        self.members: dict[str, set[str]] = {}
        self.progress = progress or (lambda line: None)
        self.full_pass_now: dict[str, bool] = {}
        self.retry_fields: dict[str, set[str]] = {}  # pair -> target keys a retry writes again
        self.plan_changes: dict[str, PlanChange] = {}  # pairs whose rules changed since they last ran

    def new_report(self) -> Report:
        return Report(keep_changes=self.dry_run, mirrored=frozenset(p["id"] for p in self.plan["pairs"] if p.get("mirrored")))

    # -- set-up -----------------------------------------------------------------------------
    async def setup(self) -> None:
        """Each connector checks its credentials and loads (or, writing, creates) what the plan
        needs of its account: users, custom fields, link fields, activity types, lists."""
        for name, connector in self.connectors.items():
            await connector.check()
            lists = list(dict.fromkeys(t for pair in self.plan["pairs"] for t in passes.mirror_lists(pair) + passes.scope_lists(pair, name)))
            await connector.prepare(self.plan["pairs"], lists=lists, write=not self.dry_run)
            self.ctx.me[name] = connector.me_id()
            users = connector.users_by_name()
            if users:
                self.ctx.users_by_name[name] = users

    def mirror_lists(self, pair: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(title, list id) of each mirror list the account has (a title it lacks is left out,
        never paired with another title's id)."""
        right = self.connectors[pair["right"]["system"]]
        return [(t, list_id) for t in passes.mirror_lists(pair) if (list_id := right.list_id(t)) is not None]

    async def scope_members(self, pair: Mapping[str, Any]) -> dict[str, set[str]]:
        """The ids of each scope list's members, read once per run (`members`, by title)."""
        for side in SIDES:
            connector = self.connectors.get(pair[side]["system"])
            for title in passes.scope_lists(pair, pair[side]["system"]):
                if title in self.members or connector is None:
                    continue
                ids: set[str] = set()
                async for page in connector.member_pages(title):
                    ids.update(connector.flatten(pair[side]["object"], raw, ()).id for raw in page)
                self.members[title] = ids
        return self.members

    def check_values(self, system: str, obj: str, changes: dict[str, Any]) -> None:
        """Values about to be written, against the account (a DeadLetter says which does not fit)."""
        self.connectors[system].check_values(obj, changes)

    def owner_default(self, value: Mapping[str, Any]) -> Any:
        from syncmap.runtime.values import evaluate

        return evaluate(value, {}, self.ctx)

    def full_pass(self, pair_id: str) -> bool:
        if pair_id in self.plan_changes:
            return True  # its rules changed: every record is brought to the new plan
        last = self.state.get_cursor(f"{pair_id}:full")
        return last is None or time.time() - float(last) >= self.full_scan_every

    # -- running ----------------------------------------------------------------------------
    async def run(self, *, mode: str = "once") -> Report:
        return await self._run(mode, None)

    async def retry(self, letters: Sequence[Any]) -> Report:
        """Replay dead letters: each record goes through its pair again (fixed data or mapping
        permitting); a record that syncs now has its letters resolved."""
        only: dict[str, dict[str, set[str]]] = {}
        for letter in letters:
            only.setdefault(letter.pair, {}).setdefault(letter.side, set()).add(letter.record_id)
            # Replayed from scratch: a letter that still applies is written again, and a field
            # that failed is tried again even though its source has not changed since.
            if not self.dry_run:
                self.state.resolve_dead_letter(letter.id)
            for key in letter.details.get("fields") or ([letter.details["field"]] if letter.details.get("field") else []):
                self.retry_fields.setdefault(letter.pair, set()).add(key)
        return await self._run("retry", only)

    # -- a long-lived engine (`syncmap serve`) -------------------------------------------
    async def begin(self, mode: str) -> None:
        """Set up once and open a run that deliveries are logged under, until `end`."""
        self.run_id = 0 if self.dry_run else self.state.start_run(mode=mode, plan_digest=self.plan["source"]["digest"])
        if not self.dry_run:
            self.state.set_meta("plan", self.plan)
        await self.setup()

    def end(self, status: str) -> None:
        if not self.dry_run and self.run_id:
            self.state.finish_run(self.run_id, status=status, summary=self.report.as_dict())

    async def reconcile(self) -> Report:
        """A pass over every pair as `run` makes one, under a run of its own: what deliveries
        missed (both APIs drop some) is found here. List rosters are read afresh."""
        serving = self.run_id
        self.members, self.report = {}, self.new_report()
        try:
            return await self._run("reconcile", None)
        finally:
            self.run_id = serving

    def pair_run(self, pair_id: str) -> PairRun:
        pair = next(p for p in self.plan["pairs"] if p["id"] == pair_id)
        return PairRun(self, pair, self.run_id)

    async def pass_pair(self, pair_id: str) -> None:
        """One pair's pass, as `run` makes it, within the serving run (rosters read afresh)."""
        pair = next(p for p in self.plan["pairs"] if p["id"] == pair_id)
        for title in passes.scope_lists(pair):
            self.members.pop(title, None)
        await settle(PairRun(self, pair, self.run_id), None)

    def pairs_fed_by(self, system: str, obj: str) -> list[str]:
        """Pairs whose records come out of this object's records without being it: Autopilot
        activities are the engagement a contact carries."""
        connector = self.connectors.get(system)
        return [
            p["id"]
            for p in self.plan["pairs"]
            if connector is not None and any(p[s]["system"] == system and connector.carried_by(p[s]["object"]) == obj for s in SIDES)
        ]

    def pairs_of(self, system: str, obj: str) -> list[tuple[str, str]]:
        """(pair id, side) of every pair that syncs this object, in stage order."""
        found: list[tuple[str, str]] = []
        for stage in self.plan["stages"]:
            for pair_id in stage["pairs"]:
                pair = next(p for p in self.plan["pairs"] if p["id"] == pair_id)
                found.extend((pair_id, side) for side in SIDES if pair[side]["system"] == system and pair[side]["object"] == obj)
        return found

    async def _run(self, mode: str, only: Mapping[str, Mapping[str, set[str]]] | None) -> Report:
        self.run_id = 0 if self.dry_run else self.state.start_run(mode=mode, plan_digest=self.plan["source"]["digest"])
        if not self.dry_run:
            self.state.set_meta("plan", self.plan)  # `status` and `retry` work from the state file alone
        status = "failed"
        if only is None:
            self.note_plan_changes()
        try:
            await self.setup()
            for stage in self.plan["stages"]:
                for pair_id in stage["pairs"]:
                    if only is not None and pair_id not in only:
                        continue
                    pair = next(p for p in self.plan["pairs"] if p["id"] == pair_id)
                    await settle(PairRun(self, pair, self.run_id), None if only is None else only[pair_id])
            status = self.report.outcome()
        except BaseException as error:
            from syncmap.runtime.http import LimitReached

            if isinstance(error, LimitReached):
                status = "stopped"
                self.report.stopped = str(error)
            else:
                raise
        finally:
            if not self.dry_run:
                self.state.finish_run(self.run_id, status=status, summary=self.report.as_dict())
        return self.report

    def note_plan_changes(self) -> None:
        """Pairs whose rules changed since their last pass: this run reads them in full (said,
        with explain's cost of that pass, before anything is read)."""
        stored = {p["id"]: self.state.get_meta(meta_key(p["id"])) for p in self.plan["pairs"]}
        self.plan_changes = {change.pair: change for change in changed_pairs(self.plan, stored)}
        for change in self.plan_changes.values():
            records = self.state.count_links(change.pair)
            cost = backfill_cost(self.plan, change.pair, records)
            self.report.backfill(change.pair, describe(change, cost, records), cost)

    async def gather(self, tasks: list[Any]) -> None:
        async def guarded(task: Any) -> None:
            async with self._semaphore:
                await task

        results = await asyncio.gather(*(guarded(t) for t in tasks), return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    def dead_letter(self, run: PairRunHost, side: str, record_id: str, letter: DeadLetter) -> None:
        run.lettered.add((side, record_id))
        self.report.count(run.id, run.main_direction(), "dead_letters")
        self.report.change(
            pair=run.id,
            direction=run.main_direction(),
            system=run.pair[side]["system"],
            object=run.pair[side]["object"],
            action="dead_letter",
            id=record_id,
            changes={"reason": letter.reason, "message": letter.message},
        )
        if not self.dry_run:
            self.state.add_dead_letter(
                pair=run.id, side=side, record_id=record_id, reason=letter.reason, message=letter.message, details=_jsonable(letter.details)
            )

    def duplicate(self, run: PairRunHost, record: Record, first: Record, key: tuple[str, ...]) -> None:
        self.dead_letter(
            run,
            "left",
            record.id,
            DeadLetter(
                "duplicate_match_key",
                f"{run.pair['left']['object']} {first.id} and {record.id} share the match key {', '.join(map(str, key))}: "
                f"{first.id} pairs, {record.id} is not synced (duplicates inside {run.pair['left']['system']} stay separate, R9)",
                ids=[first.id, record.id],
                key=list(key),
            ),
        )

    def log(self, kind: str, pair: str, details: dict[str, Any]) -> None:
        if not self.dry_run:
            self.state.log_event(self.run_id, kind, pair, _jsonable(details))


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
