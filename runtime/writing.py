"""Writing: Pipedrive one request per record in recorded batches, Autopilot 100 contacts per
upsert, the link field, the list mirror (a mixin of `syncmap.runtime.engine.PairRun`; it reads
`self.pair`, `self.state`, `self.engine`, `self.sides`, `self.ops`)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Awaitable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from syncmap.compiler import passes
from syncmap.runtime.candidates import BEFORE, SHARED, Candidate, DeadLetter, is_gone
from syncmap.runtime.connectors.autopilot import Autopilot
from syncmap.runtime.connectors.base import ConnectorError, Record
from syncmap.runtime.connectors.pipedrive import Pipedrive
from syncmap.runtime.pair_run_host import PairRunHost
from syncmap.runtime.pending import ids_of, resolve_unknown, since_for, transient
from syncmap.runtime.state import Link
from syncmap.runtime.values import is_empty, ref_key

# Pipedrive writes per batch: intents and results commit once per batch (fsync is the cost).
WRITE_BATCH = 50
BULK = 100  # contacts per Autopilot POST /contacts (its documented limit)


@dataclass
class LeftWrite:
    """One Pipedrive write on its way: prepared, recorded as an intent, sent, recorded."""

    candidate: Candidate
    body: dict[str, Any]
    what: str  # the summary column it counts in
    blamed: tuple[str, str]  # (side, record id) that a refusal is a dead letter of
    intent: int = 0
    raw: dict[str, Any] | None = None
    outcome: str = ""
    error: str = ""
    status: int | None = None
    # The flat changes and current values the body was made from (a field Pipedrive refuses
    # is left out and the rest sent again), and the refused fields with Pipedrive's reason.
    changes: dict[str, Any] = field(default_factory=dict)
    current: dict[str, Any] | None = None
    refused: dict[str, str] = field(default_factory=dict)
    note: str = ""  # how an unknown outcome was settled (`pending.resolve_unknown`)
    failure: BaseException | None = None  # the transient failure of a pending write


class Writing(PairRunHost):
    async def prepare_left(self, candidate: Candidate, changes: dict[str, Any], what: str | None = None) -> LeftWrite | None:
        """A Pipedrive write made ready: values checked against the account (R18, R20),
        relations translated to Pipedrive ids, implied fields written through their field."""
        engine = self.engine
        s = self.sides["left"]
        pd: Pipedrive = engine.connectors[s.system]
        creating = candidate.left is None
        # The record a refusal is about: the source of the write (the right record), else the left.
        blamed = candidate.either("right")
        try:
            engine.check_values(s.system, s.obj, changes)
        except DeadLetter as letter:
            engine.dead_letter(self, *blamed, letter)
            return None
        if not changes and not creating:
            return None
        for op in self.ops:
            if op.writes == "left" and op.target.get("kind") == "relation" and op.target_key in changes:
                changes[op.target_key] = self.left_partner(op.target, changes[op.target_key])
                if changes[op.target_key] is None:
                    # R17: the related record syncs first; until it is in Pipedrive (it may never
                    # be: a contact off the list), this record waits. Not an error.
                    self.waiting += 1
                    return None
        for op in self.ops:
            via = (op.target.get("field") or {}).get("write_via") or {}
            if op.writes == "left" and via.get("how") == "implied" and op.target_key in changes:
                # e.g. marked_as_done_time: Pipedrive stamps it when `done` becomes true.
                changes.pop(op.target_key)
                changes[via["field"]] = via.get("value", True)
        if candidate.left is not None and not candidate.left.raw and any(k.partition(".")[0] in ("email", "phone") for k in changes):
            raw = await pd.get(s.obj, candidate.left.id)  # keep the other emails and phones as they are
            if raw is not None:
                candidate = Candidate(pd.flatten(s.obj, raw, s.keys), candidate.right, candidate.link)
        # What the record holds now: its flat values (first and last name compose `name`) and
        # the lists a changed email or phone is merged into.
        current = {**candidate.left.values, **candidate.left.raw} if candidate.left else None
        body = pd.body(s.obj, changes, current)
        engine.report.change(
            pair=self.id,
            direction="right_to_left",
            system=s.system,
            object=s.obj,
            action="create" if creating else "update",
            id=candidate.left.id if candidate.left else None,
            changes=changes,
        )
        return LeftWrite(candidate, body, what or ("created" if creating else "updated"), blamed, changes=changes, current=current)

    async def write_lefts(self, jobs: Sequence[Awaitable[LeftWrite | None]]) -> None:
        """Pipedrive writes, in batches: each batch's intents commit in one transaction before
        any request is sent, the requests go concurrently (the governor paces them), and their
        results commit in one transaction. One write = one request; two commits per batch."""
        engine = self.engine
        ready = [w for w in [await job for job in jobs] if w is not None]
        if engine.dry_run:
            for write in ready:
                engine.report.count(self.id, "right_to_left", write.what)
            return
        for start in range(0, len(ready), WRITE_BATCH):
            batch = ready[start : start + WRITE_BATCH]
            with self.state.transaction():
                for write in batch:
                    creating = write.candidate.left is None
                    write.intent = self.state.add_intent(
                        run_id=self.run_id,
                        pair=self.id,
                        system="pipedrive",
                        op="create" if creating else "update",
                        key=f"{self.id}:{write.candidate.right.id if write.candidate.right else ''}",
                        payload=write.body,
                    )
            since = since_for(self, batch)
            await engine.gather([self.send_left(write) for write in batch])
            await resolve_unknown(self, batch, since)
            with self.state.transaction():
                for write in batch:
                    self.record_left(write)
            engine.progress(f"{self.id}: wrote {min(start + WRITE_BATCH, len(ready)):,} of {len(ready):,} Pipedrive records")

    async def send_left(self, write: LeftWrite) -> None:
        s = self.sides["left"]
        pd: Pipedrive = self.engine.connectors[s.system]
        try:
            if write.candidate.left is None:
                write.raw = await pd.create(s.obj, write.body)
            else:
                write.raw = await pd.update(s.obj, write.candidate.left.id, write.body)
            write.outcome = "done" if write.raw is not None else "gone"
        except self.engine.unknown_outcome as error:
            write.outcome, write.error, write.failure = "unknown", str(error), error
        except self.engine.api_error as error:
            if self.drop_refused(write, error):
                if write.outcome != "refused":
                    await self.send_left(write)  # the rest of the record, without the refused fields
                return
            write.outcome, write.error, write.status = "failed", str(error), getattr(error, "status", None)
            if transient(error):
                write.outcome, write.failure = "pending", error

    def drop_refused(self, write: LeftWrite, error: BaseException) -> bool:
        """A 400 naming fields of the write refuses those values, not the record: they become
        the write's refused fields (a field-level letter) and the body is made again without
        them; outcome "refused" when nothing is left to send. False when it names no field."""
        s = self.sides["left"]
        pd: Pipedrive = self.engine.connectors[s.system]
        keys = pd.refused_keys(s.obj, error, write.changes) if getattr(error, "status", None) == 400 else []
        for key in keys:
            write.refused[key] = str(error)
            del write.changes[key]
        if keys and write.candidate.left is not None and not write.changes:
            write.outcome = "refused"
        elif keys:
            write.body = pd.body(s.obj, write.changes, write.current)
        return bool(keys)

    def record_left(self, write: LeftWrite) -> None:
        engine, s = self.engine, self.sides["left"]
        creating = write.candidate.left is None
        if write.outcome == "unknown":
            # Not looked up (`resolve_unknown` settles every unknown of a batch): the intent stays
            # open, and the next pass reads the record back before creating again.
            engine.report.notes.append(f"{self.id}: outcome unknown, checked on the next pass: {write.error}")
            self.pending.interrupt(write.failure or RuntimeError(write.error))
            return
        if write.outcome == "pending":  # refused for a while: sent again by a later round or run
            self.state.finish_intent(write.intent, status="pending", result={"error": write.error})
            self.pending.hold(ids_of(write.candidate), write.failure or write.error, write.intent)
            return
        if write.refused:
            fields = list(write.refused)
            names = ", ".join(key.removeprefix("custom:") for key in fields)
            reason = "; ".join(dict.fromkeys(write.refused.values()))
            message = f"Pipedrive refused the value of {names} (the rest of the record was written): {reason}"
            engine.dead_letter(self, *write.blamed, DeadLetter("value_refused", message, field=fields[0], fields=fields))
        if write.outcome == "refused":
            # The record holds what it held; remembering the pair as synced keeps the refused
            # value from being sent again until its source (or the mapping) changes.
            self.state.finish_intent(write.intent, status="failed", result={"error": "every field refused", "fields": list(write.refused)})
            self.remember(write.candidate)
            return
        if write.outcome == "failed":
            self.state.finish_intent(write.intent, status="failed", result={"error": write.error})
            engine.dead_letter(self, *write.blamed, DeadLetter("api_refused", write.error, status=write.status))
            return
        if write.outcome == "gone":  # deleted meanwhile: the next full pass sees it
            self.state.finish_intent(write.intent, status="failed", result={"error": "record gone"})
            return
        pd: Pipedrive = engine.connectors[s.system]
        assert write.raw is not None  # outcome "done": the response carried the record
        written = pd.flatten(s.obj, write.raw, s.keys)
        self.pending.seen(written.updated)
        self.state.finish_intent(write.intent, status="done", result={"id": written.id, **({"resolved": write.note} if write.note else {})})
        left = Record(written.id, written.values, written.updated, raw=written.raw)
        self.remember(Candidate(left, write.candidate.right, write.candidate.link), fresh="left" if creating else None)
        if creating and write.candidate.right is not None:
            self.created_left.append(Candidate(left, write.candidate.right, self.state.link_by_left(self.id, left.id)))
        engine.report.count(self.id, "right_to_left", write.what)

    def keep_pair(self, candidate: Candidate) -> None:
        """A pair found without a stored link (by the link field: a create of a run killed before
        it recorded it) whose write toward Autopilot cannot be made: stored as after that create,
        so an incremental pass, which does not read the Pipedrive record again, still finds the
        pair, and the write is tried (and reported) again rather than the partner created twice."""
        if candidate.left is None or candidate.right is None or self.engine.dry_run:
            return
        if self.state.link_by_left(self.id, candidate.left.id) is None:
            self.remember(candidate, fresh="left")

    def left_partner(self, relation: Mapping[str, Any], right_id: Any) -> str | None:
        """Writing a relation (`person <- contact`): the left record paired with that right record."""
        target = relation["relation"]["target"]
        for other in self.engine.plan["pairs"]:
            if other["left"] == {"system": relation["system"], "object": target}:
                links = self.state.links_by_right(other["id"], str(right_id))
                if links:
                    return links[0].left_id
        return None

    async def write_right(self, writes: list[tuple[Candidate, dict[str, Any], Any]], members: dict[str, set[str]]) -> None:
        engine = self.engine
        s = self.sides["right"]
        if s.system != "autopilot" or s.obj != "Contact":
            raise ConnectorError(f"writing {s.system}.{s.obj} is not supported by this runtime")
        ap: Autopilot = engine.connectors["autopilot"]
        mirrors = engine.mirror_lists(self.pair)

        def prepared() -> Iterator[tuple[dict[str, Any], tuple[Candidate, Record, dict[str, Any]]]]:
            """(body, (candidate, its left record, changes)) per contact to write, made as the batches need them."""
            for candidate, changes, _ in writes:
                left = candidate.left
                assert left is not None  # the source of a write toward the right
                current = candidate.right.values if candidate.right else None
                if current is None and candidate.link is not None:
                    current = dict(candidate.link.right_values)
                # A value that does not fit its field is reported and left out; the record's other
                # fields still sync. Left out of the snapshot too, the field is tried (and reported)
                # again until the data or the mapping is fixed.
                for key in list(changes):
                    problem = ap.misfit(key, changes[key])
                    if problem:
                        engine.dead_letter(self, "left", left.id, DeadLetter("value_does_not_fit", problem, field=key))
                        del changes[key]
                if candidate.right is not None and not changes:
                    continue
                body = ap.body(changes, current)
                if is_empty(body.get("Email")):
                    engine.dead_letter(
                        self,
                        "left",
                        left.id,
                        DeadLetter("no_email", "Autopilot identifies contacts by email, and this record has none", field="Email"),
                    )
                    self.keep_pair(candidate)
                    continue
                bad_email = ap.email_misfit(body)  # refused, it would make the whole batch a 400
                if bad_email:
                    engine.dead_letter(self, "left", left.id, DeadLetter("invalid_email", bad_email, field="Email"))
                    continue
                if candidate.right is None and mirrors:
                    body["_autopilot_list"] = mirrors[0][1]  # R7: documented for creation
                engine.report.change(
                    pair=self.id,
                    direction="left_to_right",
                    system="autopilot",
                    object="Contact",
                    action="create" if candidate.right is None else "update",
                    id=candidate.right.id if candidate.right else None,
                    changes=changes,
                )
                yield body, (candidate, left, changes)

        batches = prepared()
        while True:
            with self.state.transaction():  # the dead letters met while preparing: one commit
                batch = list(itertools.islice(batches, BULK))
            if not batch:
                break
            chunk, chunk_owners = [body for body, _ in batch], [owner for _, owner in batch]
            if engine.dry_run:
                for candidate, _, _ in chunk_owners:
                    engine.report.count(self.id, "left_to_right", "created" if candidate.right is None else "updated")
                continue
            intent = self.state.add_intent(
                run_id=self.run_id, pair=self.id, system="autopilot", op="upsert", key=f"{self.id}:bulk", payload={"count": len(chunk)}
            )
            try:
                ids, refused = await self.upsert_isolating(chunk)
            except self.engine.api_failures as error:
                if not transient(error):
                    raise
                # An upsert by email is idempotent: the batch is sent again by a later round.
                self.state.finish_intent(intent, status="pending", result={"error": str(error), "records": [o[1].id for o in chunk_owners]})
                for candidate, _, _ in chunk_owners:
                    self.pending.hold(ids_of(candidate), error, intent)
                continue
            for body, (_, left, _) in zip(chunk, chunk_owners, strict=True):
                if id(body) in refused:
                    engine.dead_letter(self, "left", left.id, DeadLetter("api_refused", refused[id(body)]))
            with self.state.transaction():
                self.state.finish_intent(intent, status="done", result={"count": len(ids)})
                for body, (candidate, left, changes) in zip(chunk, chunk_owners, strict=True):
                    if id(body) in refused:
                        continue
                    email = str(body.get("Email", "")).strip().lower()
                    contact_id = ids.get(email) or (candidate.right.id if candidate.right else None)
                    if contact_id is None:
                        continue
                    if candidate.right is not None and contact_id != candidate.right.id:
                        # Several contacts share this email and an upsert by email reaches the
                        # oldest: this pair cannot be written in Autopilot. Remember that, so
                        # later runs report it without writing again.
                        self.shared_email(candidate.right, contact_id)
                        self.keep_pair(candidate)
                        link = self.state.link_by_left(self.id, left.id)
                        if link is not None:
                            self.state.put_link(
                                Link(
                                    self.id,
                                    link.left_id,
                                    link.right_id,
                                    dict(link.left_values),
                                    {**link.right_values, SHARED: contact_id},
                                    time.time(),
                                )
                            )
                        continue
                    before = dict(candidate.right.values if candidate.right else (candidate.link.right_values if candidate.link else {}))
                    values = {**before, **changes}
                    right = Record(contact_id, values, None)
                    if candidate.right is not None:
                        # What the fields held before this write: if a later read shows them
                        # again, Autopilot did not apply the write (an upsert may keep names).
                        values[BEFORE] = {k: before.get(k) for k in changes if not is_empty(before.get(k))}
                    others = [other for other in self.state.links_by_right(self.id, contact_id) if other.left_id != left.id]
                    if others and self.sides["left"].obj == "Person":
                        engine.dead_letter(
                            self,
                            "left",
                            left.id,
                            DeadLetter(
                                "duplicate_email",
                                f"Pipedrive persons {others[0].left_id} and {left.id} share the email {email}: "
                                "the first stays paired, this one is not synced (merge or change one of them in Pipedrive)",
                                ids=[others[0].left_id, left.id],
                                email=email,
                            ),
                        )
                        continue
                    self.remember(Candidate(candidate.left, right, candidate.link))
                    engine.report.count(self.id, "left_to_right", "created" if candidate.right is None else "updated")
            # R7: every person synced out is on the mirror list; contacts already there need nothing.
            for list_title, list_id in mirrors:
                for body, (candidate, _, _) in zip(chunk, chunk_owners, strict=True):
                    contact_id = ids.get(str(body.get("Email", "")).strip().lower())
                    if candidate.right is not None and contact_id != candidate.right.id:
                        continue  # the upsert reached another contact with this email: not this pair's
                    if contact_id and candidate.right is None and body.get("_autopilot_list") == list_id:
                        # Joined the list as it was created: a long-lived engine (`serve`) knows it
                        # is a member without waiting for the list's hook, which may be lost.
                        members.setdefault(list_title, set()).add(contact_id)
                    elif contact_id and candidate.right is not None and contact_id not in members.get(list_title, set()):
                        await ap.add_to_list(list_id, contact_id)
                        members.setdefault(list_title, set()).add(contact_id)

    async def upsert_isolating(self, chunk: list[dict[str, Any]]) -> tuple[dict[str, str], dict[int, str]]:
        """A bulk upsert is all or nothing: when Autopilot refuses one, halve the batch until the
        refused contacts stand alone, so each becomes a dead letter with Autopilot's reason and
        the rest are written (about 2·log2(100) extra requests per bad contact)."""
        ap: Autopilot = self.engine.connectors["autopilot"]
        try:
            return await ap.upsert_many(chunk), {}
        except self.engine.api_error as error:
            if getattr(error, "status", None) != 400:
                raise
            if len(chunk) == 1:
                return {}, {id(chunk[0]): str(error)}
        half = len(chunk) // 2
        ids_a, refused_a = await self.upsert_isolating(chunk[:half])
        ids_b, refused_b = await self.upsert_isolating(chunk[half:])
        return {**ids_a, **ids_b}, {**refused_a, **refused_b}

    async def mirror_list(self, candidates: list[Candidate], members: dict[str, set[str]]) -> None:
        """R7: every contact paired with a Pipedrive person is on the list that mirrors them.
        A contact created by an upsert joined it through `_autopilot_list`; the roster read each
        pass shows any that did not (an account where that key does nothing for an existing
        contact, a marketer who took one off), and those are added."""
        engine = self.engine
        titles = passes.mirror_lists(self.pair)
        if not titles or engine.dry_run:
            return
        ap: Autopilot = engine.connectors["autopilot"]
        for title, list_id in engine.mirror_lists(self.pair):
            if title not in members:
                continue
            for candidate in candidates:
                if candidate.left is None or candidate.right is None or candidate.right.id in members[title]:
                    continue
                link = self.state.link_by_left(self.id, candidate.left.id)
                if link is None or link.right_id != candidate.right.id or is_gone(link, "right") or link.right_values.get(SHARED):
                    continue
                await ap.add_to_list(list_id, candidate.right.id)
                members[title].add(candidate.right.id)

    async def write_link_fields(self, candidates: list[Candidate]) -> None:
        """R11: the partner's id goes into Pipedrive's link field once, after the partner exists."""
        link = self.pair.get("link")
        if not link or link["left"]["kind"] != "custom":
            return
        key = ref_key(link["left"])
        tasks = []
        for candidate in candidates:
            if candidate.left is None:
                continue
            stored = self.state.link_by_left(self.id, candidate.left.id)
            if stored is None or stored.left_values.get(key) == stored.right_id:
                continue
            tasks.append(
                self.prepare_left(
                    Candidate(candidate.left, Record(stored.right_id, dict(stored.right_values)), stored), {key: stored.right_id}, "linked"
                )
            )
        await self.write_lefts(tasks)
