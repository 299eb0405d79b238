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

from syncmap.runtime.candidates import BEFORE, FIELD_LEVEL, GONE, SHARED, Candidate, DeadLetter, is_gone
from syncmap.runtime.connectors.autopilot import Autopilot
from syncmap.runtime.connectors.base import Record
from syncmap.runtime.connectors.pipedrive import Pipedrive
from syncmap.runtime.diff import Op, diff, digest_ops, keys_of, snapshot_after
from syncmap.runtime.pair_run_host import PairRunHost
from syncmap.runtime.pairing import Pairing, id_order
from syncmap.runtime.read_ahead import read_ahead
from syncmap.runtime.report import Report
from syncmap.runtime.state import Link, StateStore
from syncmap.runtime.values import Context, is_empty, normalize_key, ref_key, refs_in, same, truth
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
        self.ops: list[Op] = digest_ops(pair["fields"])
        self.sides = {s: Side(s, pair[s]["system"], pair[s]["object"]) for s in SIDES}
        for s in SIDES:
            self.sides[s].keys = self._keys(s)
        self.flows = {"left_to_right": "right", "right_to_left": "left", "both": None}[pair["direction"]]
        self.lettered: set[tuple[str, str]] = set()  # (side, record id) given a dead letter this pass
        self.waiting = 0  # records whose related record is not synced yet (R17)
        self._letters: dict[tuple[str, str], list[Any]] | None = None

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
        if system == "autopilot" and obj == "Contact":
            keys["Email"] = None  # Autopilot updates a contact by its email
        for required in self.pair["required"]:
            if required["system"] == system and required["object"] == obj:
                keys[required["field"]] = None
        return list(keys)

    def writes(self, side: str) -> bool:
        return self.pair["direction"] == "both" or self.flows == side

    # -- reading --------------------------------------------------------------------------------
    async def chunks(self, side: str, *, full: bool) -> AsyncIterator[dict[str, Record]]:
        """Pipedrive's side, CHUNK records at a time: a pass pairs and writes each chunk before
        reading on, so memory holds one chunk, not the whole collection."""
        s = self.sides[side]
        connector = self.engine.connectors[s.system]
        if not isinstance(connector, Pipedrive):
            yield await self.read(side, full=full)
            return
        since = None
        if not full:
            cursor = self.state.get_cursor(f"{self.id}:{side}")
            since = float(cursor) - CURSOR_OVERLAP_SECONDS if cursor else None
        newest, total, chunk = None, 0, {}
        async for page in connector.pages(s.obj, updated_since=since):
            for raw in page:
                record = connector.flatten(s.obj, raw, s.keys)
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
        s = self.sides[side]
        connector = self.engine.connectors[s.system]
        records: dict[str, Record] = {}
        if isinstance(connector, Pipedrive):
            async for chunk in self.chunks(side, full=full):
                records.update(chunk)
            return records
        if s.obj == "Activity":
            async for page in connector.pages():
                for raw in page:
                    for record in engagement_records(raw):
                        records[record.id] = record
            return records
        async for page in self.contact_pages(side):
            for raw in page:
                record = connector.flatten(raw, s.keys)
                records[record.id] = record
            self.engine.progress(f"{self.id}: read {len(records):,} {s.system} {s.obj} records")
        self.engine.report.read(s.system, s.obj, len(records))
        return records

    def needs_right_read(self) -> bool:
        """Autopilot upserts by Email, so a one-way push into contacts paired by email alone
        needs no read of Autopilot first: the upsert pairs (and says which contact it was)."""
        right = self.sides["right"]
        if self.writes("left") or right.system != "autopilot" or right.obj != "Contact" or not self.pair["match"]:
            return True
        for group in self.pair["match"]:
            keys = group["keys"]
            if len(keys) != 1 or not isinstance(keys[0].get("right"), Mapping) or keys[0]["right"].get("path") != ["Email"]:
                return True
        return False

    def roster_only(self) -> bool:
        """With `only autopilot.list(…) -> pipedrive`, contacts off the list never flow into
        Pipedrive, and what flows out needs no read (the upsert pairs by email): reading the
        list's roster is enough (R2), however many contacts the account has."""
        right = self.sides["right"]
        return right.system == "autopilot" and right.obj == "Contact" and bool(self.engine.scope_list_titles(self.pair))

    def contact_pages(self, side: str) -> Any:
        ap: Autopilot = self.engine.connectors["autopilot"]
        if self.roster_only():
            title = self.engine.scope_list_titles(self.pair)[0]
            if title not in ap.lists:
                return _no_pages()
            return ap.roster_pages(ap.lists[title])
        return ap.pages()

    # -- the pass ---------------------------------------------------------------------------------
    async def run(self, only: Mapping[str, set[str]] | None = None) -> None:
        """One pass; with `only` (side -> record ids), just those records (`syncmap retry`)."""
        engine = self.engine
        full = False if only else engine.full_pass(self.id)
        engine.full_pass_now[self.id] = full
        if only:
            left_chunks = _one(await self.read_ids("left", only.get("left", set())))
            right = await self.read_ids("right", only.get("right", set())) if only.get("right") else await self.read("right", full=True)
        else:
            # Many records matched to one by a field (the contacts of a company, one
            # organization) have no link each: every pass reads that side whole to match.
            whole_left = full or (not self.one_to_one() and bool(self.pair["creates"]["left"]))
            right = await self.read("right", full=True) if self.needs_right_read() else {}
            left_chunks = read_ahead(self.chunks("left", full=whole_left))  # reads on while a chunk is written
        self.right_complete = not only and self.needs_right_read() and not self.roster_only()
        if not only and self.roster_only() and self.needs_right_read():
            engine.members.setdefault(engine.scope_list_titles(self.pair)[0], set(right))  # the roster just read
        members = await engine.scope_members(self.pair)
        # Links as they were before this pass: what a full read does not find was deleted. A
        # record this pass creates is in no read, so the list is taken before anything is linked.
        before = [(link.left_id, link.right_id) for link in self.state.iter_links(self.id)] if full else []
        self.begin_pairing(right)
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
        await self.partners_by_email(read)
        members = await engine.scope_members(self.pair)
        self.begin_pairing(read["right"])
        with self.state.transaction():
            candidates = self.pair_chunk(read["left"], read["right"])
            candidates += self.pair_tail(read["right"])
        await self.apply(candidates, members)
        if gone:
            await self.deletions(gone)

    async def partners_by_email(self, read: dict[str, dict[str, Record]]) -> None:
        """An unlinked Pipedrive record's contact, read by its email (Autopilot keys contacts by
        email): pairing then sees the contact as a full pass would."""
        right = self.sides["right"]
        if right.system != "autopilot" or right.obj != "Contact":
            return
        ap: Autopilot = self.engine.connectors["autopilot"]
        for record in list(read["left"].values()):
            if self.state.link_by_left(self.id, record.id) is not None:
                continue
            for group in self.pair["match"]:
                for key in group["keys"]:
                    if key["kind"] != "field" or not isinstance(key.get("right"), Mapping) or key["right"].get("path") != ["Email"]:
                        continue
                    email = normalize_key(record.values.get(ref_key(key["left"])), ("trim",))
                    if email is None:
                        continue
                    raw = await ap.get(email)
                    if raw is not None:
                        contact = ap.flatten(raw, self.sides["right"].keys)
                        read["right"].setdefault(contact.id, contact)

    def targetable(self) -> bool:
        """Whether one record can be synced alone (`targeted`): one-to-one pairs matched by
        fields. Others pair through records of the other side that a pass reads (the contacts
        of a company, the person's partner of a deal)."""
        matched_by_fields = all(key["kind"] == "field" for group in self.pair["match"] for key in group["keys"])
        sides = {(self.pair[s]["system"], self.pair[s]["object"]) for s in SIDES}
        return self.one_to_one() and matched_by_fields and sides == {("pipedrive", "Person"), ("autopilot", "Contact")}

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
        connector = self.engine.connectors[s.system]
        records: dict[str, Record] = {}
        for record_id in sorted(ids):
            if isinstance(connector, Pipedrive):
                raw = await connector.get(s.obj, record_id)
                if raw is not None:
                    await connector.ensure_related(raw)
                    records[record_id] = connector.flatten(s.obj, raw, s.keys)
            elif s.obj == "Contact":
                raw = await connector.get(record_id)
                if raw is not None:
                    record = connector.flatten(raw, s.keys)
                    records[record.id] = record
        return records

    # -- pairing ---------------------------------------------------------------------------------
    # -- writing ---------------------------------------------------------------------------------
    async def apply(self, candidates: list[Candidate], members: dict[str, set[str]]) -> None:
        engine = self.engine
        right_writes: list[tuple[Candidate, dict[str, Any], Any]] = []
        left_tasks = []
        unchanged: list[Candidate] = []
        candidates = [c for c in [await self.look_up_left(c) for c in candidates] if c.left or c.right]
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
        if s.system != "pipedrive" or s.obj != "Person":
            return candidate
        for group in self.pair["match"]:
            for key in group["keys"]:
                if key["kind"] == "field" and isinstance(key.get("left"), Mapping) and key["left"].get("type") == "email":
                    email = normalize_key(candidate.right.values.get(ref_key(key["right"])), ("trim", "lowercase"))
                    if email is None:
                        continue
                    pd: Pipedrive = self.engine.connectors["pipedrive"]
                    for person_id in sorted(await pd.find_person_ids_by_email(email), key=id_order):
                        raw = await pd.get(s.obj, person_id)
                        if raw is None:
                            continue
                        record = pd.flatten(s.obj, raw, s.keys)
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
                                    f"Contact {candidate.right.id} has the email of Pipedrive person {record.id}, which is "
                                    f"paired with contact {linked.right_id}: it is not synced (merge the duplicates, R9)",
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
            if op.target_key in engine.retry_fields.get(self.id, ()) and snapshot is not None:
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
            # Keep what we know of a side that was not read this pass.
            left_values = {**previous.left_values, **{k: v for k, v in left_values.items() if k in candidate.left.values}}
            right_values = {
                **{k: v for k, v in previous.right_values.items() if k != BEFORE},
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

    async def deletions(self, gone: list[tuple[str, Any]]) -> None:
        """A linked record gone from one side. Deletions flow only the way the mapping's
        `deletes` says (R6: never into Pipedrive); otherwise the pair is unlinked."""
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
            if flows and self.pair[other]["system"] == "autopilot":
                shared = [other for other in self.state.links_by_right(self.id, link.right_id) if other.left_id != link.left_id]
                if not shared:
                    await engine.connectors["autopilot"].delete(link.right_id)
                    engine.report.count(self.id, _direction(other), "deleted")
                self.state.remove_link(self.id, link.left_id)
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


def engagement_records(contact: Mapping[str, Any]) -> list[Record]:
    """Autopilot's engagement history (`mail_*` maps of delivery id -> epoch ms) as activities."""
    from syncmap.runtime.times import to_epoch

    records = []
    for key, events in contact.items():
        if not key.startswith("mail_") or not isinstance(events, Mapping):
            continue
        kind = key[len("mail_") :]
        for delivery, when in events.items():
            moment = to_epoch(when)
            if moment is None:
                continue
            occurred = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(moment))
            record_id = f"{contact['contact_id']}:{kind}:{delivery}"
            records.append(
                Record(
                    record_id,
                    {
                        "kind": kind,
                        "occurred_at": occurred,
                        "contact": str(contact["contact_id"]),
                        "contact_id": str(contact["contact_id"]),
                        "delivery_id": delivery,
                        "activity_id": record_id,
                    },
                    moment,
                )
            )
    return records


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
        self.plan, self.connectors, self.state = plan, connectors, state
        self.dry_run, self.full_scan_every = dry_run, full_scan_every
        self.ctx = ctx or Context()
        self.report = Report(keep_changes=dry_run)
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

    # -- set-up -----------------------------------------------------------------------------
    async def setup(self) -> None:
        pd: Pipedrive | None = self.connectors.get("pipedrive")
        ap: Autopilot | None = self.connectors.get("autopilot")
        if pd is not None:
            await pd.check()
            self.ctx.me["pipedrive"] = pd.me.get("id")
            # Only what the plan needs: users for owner names (`owner.name`), owner ids (R20) and
            # user(…) values.
            nodes = _walk(self.plan["pairs"])
            if any(node.get("kind") == "user" or node.get("relation") in ("owner", "creator") or node.get("api") == "owner_id" for node in nodes):
                await pd.load_users()
                self.ctx.users_by_name["pipedrive"] = pd.users_by_name()
            created = {p[s]["object"] for p in self.plan["pairs"] for s in SIDES if p[s]["system"] == "pipedrive" and p["creates"][s]}
            if "Activity" in created:
                await pd.load_activity_types()
            custom = {ref["object"] for ref in _walk(self.plan["pairs"]) if ref.get("kind") == "custom" and ref.get("system") == "pipedrive"}
            for obj in sorted(custom):
                await pd.load_fields(obj)
            for pair in self.plan["pairs"]:
                link = pair.get("link")
                for side in SIDES:
                    if link and link[side]["system"] == "pipedrive" and link[side]["kind"] == "custom" and not self.dry_run:
                        await pd.ensure_field(pair[side]["object"], link[side]["custom"]["name"])
                for op in pair["fields"]:
                    for ref in [op["target"], *refs_in(op["source"])]:
                        if ref["system"] == "pipedrive" and ref["kind"] == "custom":
                            pd.field_key(ref["object"], ref["custom"]["name"])
            # Records read through a relation (`organization.name`): loaded once per run, so a
            # value read through a path is there when a pair needs it.
            hops = {
                hop["target"]
                for ref in _walk(self.plan["pairs"])
                if ref.get("system") == "pipedrive"
                for hop in ref.get("via") or ()
                if isinstance(hop, Mapping)
            }
            for obj in sorted(hops & {"Organization", "Person", "Deal"}):
                await pd.load_related(obj)
        if ap is not None:
            await ap.check()
            if any(self.scope_list_titles(pair) for pair in self.plan["pairs"]):
                await ap.load_lists()
            for pair in self.plan["pairs"]:
                for title in self.mirror_list_titles(pair) + self.scope_list_titles(pair):
                    if not self.dry_run:
                        await ap.ensure_list(title)

    def scope_list_titles(self, pair: Mapping[str, Any]) -> list[str]:
        titles = []
        for scope in pair["scope"]:
            for node in _walk(scope["condition"]):
                if node.get("op") == "member" and node.get("system") == "autopilot":
                    titles.append(node["list"])
        return titles

    def mirror_list_titles(self, pair: Mapping[str, Any]) -> list[str]:
        """R7: the list that scopes what flows into Pipedrive mirrors the persons synced out."""
        if pair["right"]["system"] != "autopilot" or pair["left"]["object"] != "Person" or pair["direction"] == "right_to_left":
            return []
        return self.scope_list_titles(pair)

    def mirror_lists(self, pair: Mapping[str, Any]) -> list[tuple[str, str]]:
        """(title, list id) of each mirror list Autopilot has (a title it lacks is left out, never
        paired with another title's id)."""
        ap: Autopilot = self.connectors["autopilot"]
        return [(t, ap.lists[t]) for t in self.mirror_list_titles(pair) if t in ap.lists]

    async def scope_members(self, pair: Mapping[str, Any]) -> dict[str, set[str]]:
        ap: Autopilot | None = self.connectors.get("autopilot")
        for title in self.scope_list_titles(pair):
            if title in self.members or ap is None:
                continue
            ids: set[str] = set()
            list_id = ap.lists.get(title)
            if list_id:
                async for page in ap.roster_pages(list_id):
                    ids.update(str(c["contact_id"]) for c in page)
            self.members[title] = ids
        return self.members

    def check_pipedrive_values(self, obj: str, changes: dict[str, Any]) -> None:
        """Values about to be written to Pipedrive against the account: an owner must be an
        active user (R20), an activity type one of the account's (R18, written as its key).
        A DeadLetter says which."""
        pd: Pipedrive = self.connectors["pipedrive"]
        # The connecting user (the owner default, R13) is one by definition; any other id is
        # checked against the account's users, loaded whenever the plan can write one.
        owner = changes.get("owner_id")
        if "owner_id" in changes and not is_empty(owner) and str(owner) != str(pd.me.get("id")) and not pd.active_user(owner):
            raise DeadLetter(
                "owner_not_a_user",
                f"owner id {owner} is not an active user of this Pipedrive account (R20)",
                owner_id=owner,
            )
        if obj == "Activity" and not is_empty(changes.get("type")):
            key = pd.activity_type_key(changes["type"])
            if key is None:
                raise DeadLetter(
                    "activity_type_unknown",
                    f"activity type {changes['type']!r} is not one of the account's activity types (R18)",
                    type=changes["type"],
                )
            changes["type"] = key

    def owner_default(self, value: Mapping[str, Any]) -> Any:
        from syncmap.runtime.values import evaluate

        return evaluate(value, {}, self.ctx)

    def full_pass(self, pair_id: str) -> bool:
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
            if letter.details.get("field"):
                self.retry_fields.setdefault(letter.pair, set()).add(letter.details["field"])
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
        self.members, self.report = {}, Report(keep_changes=self.dry_run)
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
        for title in self.scope_list_titles(pair):
            self.members.pop(title, None)
        await PairRun(self, pair, self.run_id).run(None)

    def pairs_fed_by(self, system: str, obj: str) -> list[str]:
        """Pairs whose records come out of this object's records without being it: Autopilot
        activities are the engagement a contact carries."""
        if (system, obj) != ("autopilot", "Contact"):
            return []
        return [p["id"] for p in self.plan["pairs"] if any(p[s]["system"] == "autopilot" and p[s]["object"] == "Activity" for s in SIDES)]

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
        try:
            await self.setup()
            for stage in self.plan["stages"]:
                for pair_id in stage["pairs"]:
                    if only is not None and pair_id not in only:
                        continue
                    pair = next(p for p in self.plan["pairs"] if p["id"] == pair_id)
                    await PairRun(self, pair, self.run_id).run(None if only is None else only[pair_id])
            status = "dead_letters" if self.report.totals()["dead_letters"] else "done"
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


def _walk(node: Any) -> list[Mapping[str, Any]]:
    found = []
    if isinstance(node, Mapping):
        found.append(node)
        for child in node.values():
            found.extend(_walk(child))
    elif isinstance(node, list):
        for child in node:
            found.extend(_walk(child))
    return found


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set)):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)
