"""The journey actions a plan declares (`actions:`), run for one Autopilot contact at a time.

One `perform`:
1. read the contact (or take it as the journey sent it) and check the delivery key: a key done
   within the key window is a duplicate and writes nothing;
2. find the contact's Pipedrive person: the Person⇄Contact pair's stored link, else a search by
   email. `update` steps never create it (a `person_missing` dead letter); `create`/`upsert`
   steps do, through the pair (owner default R13, link field R11, required fields), so the new
   person joins the sync: linked in the state store and added to the mirror list (R7);
3. plan every step's writes and check every value against the live account (R18 activity
   types, R20 owners, stages by name) before anything is written: a bad value writes nothing;
4. write, recording an intent before each create; a create whose outcome is unknown is looked
   for (by the person and the values it set) before the same key creates again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import quote

from syncmap.compiler import passes
from syncmap.compiler.passes import plan_nodes
from syncmap.runtime.actions.stages import resolve_stage
from syncmap.runtime.candidates import Candidate, DeadLetter, is_gone
from syncmap.runtime.connectors.autopilot import Autopilot
from syncmap.runtime.connectors.base import Record
from syncmap.runtime.connectors.pipedrive import Pipedrive
from syncmap.runtime.engine import Engine, PairRun, _jsonable
from syncmap.runtime.pairing import id_order
from syncmap.runtime.runner import ACTION_LETTERS
from syncmap.runtime.values import Context, evaluate, is_empty, ref_key, refs_in, same, truth

# A person is found by its email before an action creates one (R4).
EMAIL_KEY = {"type": "email"}

# A done key is remembered this long: a retry inside it is a duplicate, the same key after it acts
# again. Autopilot documents no retry span for journey webhooks; a day covers any retry policy seen.
DEFAULT_KEY_WINDOW = 86_400.0
NEW_PERSON = "(the person this action creates)"  # `this` in a dry run, before the person exists
STAGE_LOOKUP = "/api/v2/stages"


class UnknownAction(LookupError):
    """The plan declares no action of that name (the server answers 404, the CLI exits 2)."""


@dataclass(frozen=True)
class ActionOutcome:
    action: str
    contact: str  # the Autopilot contact id (or the email given, when there is no such contact)
    status: str  # "done" | "duplicate" | "dead_letter" | "dry_run"
    writes: list[dict[str, Any]]  # {"system", "object", "op", "id", "changes"} per write made (or planned)
    message: str  # one human line
    reason: str | None = None  # a dead letter's reason


@dataclass
class Write:
    """One Pipedrive write of a step, planned before any is sent."""

    step: int
    object: str
    op: str  # "create" | "update"
    id: str | None
    changes: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"system": "pipedrive", "object": self.object, "op": self.op, "id": self.id, "changes": _jsonable(self.changes)}


class KeyedLocks:
    """One asyncio lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class ActionRunner:
    def __init__(self, engine: Engine, *, key_window: float = DEFAULT_KEY_WINDOW) -> None:
        # The engine the pairs run on (`serve`'s, or one `syncmap action` makes): actions share
        # its loaded account (users, fields, lists), the context values are evaluated in, its
        # state and the pair that creates persons, so a person an action creates is the pair's.
        self.engine = engine
        self.plan, self.connectors, self.state = engine.plan, engine.connectors, engine.state
        self.dry_run, self.key_window = engine.dry_run, key_window
        self.ctx = engine.ctx
        self.actions = {action["name"]: action for action in self.plan["actions"]}
        self.person_pair = next(
            (
                p
                for p in self.engine.plan["pairs"]  # oriented: the person's side is on the left
                if (p["left"]["system"], p["left"]["object"], p["right"]["system"], p["right"]["object"])
                == ("pipedrive", "Person", "autopilot", "Contact")
            ),
            None,
        )
        self._locks = KeyedLocks()

    @property
    def pd(self) -> Pipedrive:
        pd: Pipedrive = self.connectors["pipedrive"]
        return pd

    @property
    def ap(self) -> Autopilot:
        ap: Autopilot = self.connectors["autopilot"]
        return ap

    # -- set-up -----------------------------------------------------------------------------
    async def setup(self) -> None:
        """What the actions need beyond the engine's set-up (made by whoever runs the engine, and
        again by each of its passes): users for owner ids (R20), activity types (R18), pipelines
        and stages, custom fields they write."""
        pd = self.pd
        nodes = plan_nodes(self.plan["actions"])
        if not pd.users and any(node.get("api") == "owner_id" or node.get("kind") == "user" for node in nodes):
            await pd.load_users()
            self.ctx.users_by_name["pipedrive"] = pd.users_by_name()
        steps = [step for action in self.plan["actions"] for step in action["steps"]]
        if not pd.activity_types and any(step["target"]["object"] == "Activity" for step in steps):
            await pd.load_activity_types()
        if any((node.get("lookup") or {}).get("path") == STAGE_LOOKUP for node in nodes):
            await pd.load_stages()
        for obj in sorted({node["object"] for node in _custom_targets(self.plan["actions"])} - set(pd.custom)):
            await pd.load_fields(obj)  # a missing field fails only the action that writes it

    # -- one action for one contact ---------------------------------------------------------
    async def perform(self, name: str, contact: str | Mapping[str, Any], *, delivery: str | None = None) -> ActionOutcome:
        action = self.actions.get(name)
        if action is None:
            known = ", ".join(f'"{n}"' for n in self.actions) or "none"
            raise UnknownAction(f'the plan has no action named "{name}" (its actions: {known})')
        given = str(contact.get("contact_id") or contact.get("Email") or "") if isinstance(contact, Mapping) else str(contact).strip()
        if not given:
            raise ValueError("no contact given: an Autopilot contact id or email is needed")
        # One action at a time per contact: two actions creating the same person concurrently
        # would make two persons.
        async with self._locks.hold(given.lower()):
            # A record as the journey sent it is used as is; one without its contact_id (or an
            # id or email given alone) is read through the API.
            if isinstance(contact, Mapping) and not is_empty(contact.get("contact_id")):
                raw: dict[str, Any] | None = dict(contact)
            else:
                raw = await self.ap.get("Contact", quote(given, safe="@"))
            if raw is None:
                return self._outcome(action, given, DeadLetter("contact_missing", f"Autopilot has no contact {given}"), [])
            contact_id = str(raw.get("contact_id") or given)
            memo = f"action:{name}:{contact_id}:{delivery}" if delivery else None
            seen = self._seen(memo)
            if seen is not None:
                return ActionOutcome(
                    name, contact_id, "duplicate", seen["writes"], f"{name} already ran for this delivery at {_clock(seen['at'])}: nothing written"
                )
            run_id = 0 if self.dry_run else self.state.start_run(mode="action", plan_digest=self.plan["source"]["digest"])
            status = "failed"
            writes: list[dict[str, Any]] = []  # filled as writes are made: a dead letter part-way reports them
            try:
                await self._act(action, raw, run_id, memo, writes)
            except DeadLetter as letter:
                status = "dead_letters"
                return self._outcome(action, contact_id, letter, writes)
            else:
                status = "done"
                if memo and not self.dry_run:
                    self.state.set_meta(memo, {"status": "done", "at": time.time(), "writes": writes})
                verb = "would write" if self.dry_run else "wrote"
                return ActionOutcome(
                    name, contact_id, "dry_run" if self.dry_run else "done", writes, f"{name} for {contact_id}: {verb} {_count(writes)}"
                )
            finally:
                if run_id:
                    self.state.finish_run(run_id, status=status, summary={"action": name, "contact": contact_id})

    def _seen(self, memo: str | None) -> dict[str, Any] | None:
        done: dict[str, Any] | None = self.state.get_meta(memo) if memo else None  # as `run` stored it
        if done and done.get("status") == "done" and time.time() - float(done["at"]) < self.key_window:
            return done
        return None

    def _outcome(self, action: Mapping[str, Any], contact_id: str, letter: DeadLetter, writes: list[dict[str, Any]]) -> ActionOutcome:
        if not self.dry_run:
            self.state.add_dead_letter(
                pair=f"{ACTION_LETTERS}{action['name']}",
                side="right",
                record_id=contact_id,
                reason=letter.reason,
                message=letter.message,
                details=_jsonable(letter.details),
            )
        note = " (dry run: not stored)" if self.dry_run else ""
        return ActionOutcome(
            action["name"], contact_id, "dead_letter", writes, f"{action['name']} for {contact_id}: {letter.message}{note}", letter.reason
        )

    async def _act(self, action: Mapping[str, Any], raw: Mapping[str, Any], run_id: int, memo: str | None, done: list[dict[str, Any]]) -> None:
        """Plan, check, then write the action's steps; `done` receives each write made (or, in a
        dry run, planned)."""
        for node in _custom_targets(action):
            if node["custom"]["name"] not in self.pd.custom.get(node["object"], {}):
                raise DeadLetter(
                    "field_missing",
                    f'Pipedrive has no {node["object"].lower()} custom field named "{node["custom"]["name"]}": create it in Pipedrive '
                    "(Settings > Data fields) or fix the name in the mapping",
                    field=node["custom"]["name"],
                )
        keys = ["Email", *dict.fromkeys(ref_key(r) for r in refs_in(action["steps"]) if r["system"] == "autopilot")]
        contact = self.ap.flatten("Contact", raw, keys)
        person_id = await self._find_person(contact)
        creating = None
        if person_id is None:
            if not action["creates_person_if_missing"]:
                raise DeadLetter(
                    "person_missing",
                    f"contact {contact.id} has no Pipedrive person, and {action['name']} never creates one (FAQ): add the contact "
                    "to the list that syncs it, or run an action that creates the person first",
                )
            creating = self._person_changes(raw, contact)
        ctx = replace(self.ctx, this_id=person_id or NEW_PERSON)
        writes: list[Write] = []
        for index, step in enumerate(action["steps"]):
            writes += await self._plan_step(index, step, contact.values, ctx, person_id, creating)
        if creating is not None:
            self.engine.check_values("pipedrive", "Person", creating)
        for write in writes:
            self.engine.check_values("pipedrive", write.object, write.changes)
        if self.dry_run:
            if creating is not None:
                done.append(Write(-1, "Person", "create", None, creating).as_dict())
            done += [w.as_dict() for w in writes]
            return
        if creating is not None:
            person_id = await self._create_person(raw, contact, creating, run_id, done)
            for write in writes:
                for key, value in write.changes.items():
                    if value == NEW_PERSON:
                        write.changes[key] = person_id
        for write in writes:
            done.append(await self._write(action, write, person_id, run_id, memo))

    # -- the person -------------------------------------------------------------------------
    async def _find_person(self, contact: Record) -> str | None:
        """The contact's Pipedrive person: by the pair's link, else by email (R9: the oldest
        person with that email not paired with another contact)."""
        pair_id = self.person_pair["id"] if self.person_pair else None
        for link in self.state.links_by_right(pair_id, contact.id) if pair_id else ():
            if is_gone(link, "left") or await self.pd.get("Person", link.left_id) is None:
                raise DeadLetter(
                    "person_deleted",
                    f"the Pipedrive person {link.left_id} of contact {contact.id} was deleted in Pipedrive; actions do not re-create it (R6)",
                    person=link.left_id,
                )
            return link.left_id
        email = contact.values.get("Email")
        if is_empty(email):
            return None
        for person_id in sorted(await self.pd.find_ids("Person", EMAIL_KEY, str(email).strip().lower()) or (), key=id_order):
            paired = self.state.link_by_left(pair_id, person_id) if pair_id else None
            if paired is not None and paired.right_id != contact.id:
                continue  # another contact's person (duplicates stay separate, R9)
            if await self.pd.get("Person", person_id) is not None:
                return person_id
        return None

    def _person_pair_run(self, run_id: int, contact: Record) -> PairRun:
        """A pass of the Person<->Contact pair, to create the contact's person through it."""
        if self.person_pair is None:
            raise DeadLetter(
                "no_person_pair", "the plan has no pipedrive.Person <-> autopilot.Contact pair to create the person through", contact=contact.id
            )
        run = PairRun(self.engine, self.person_pair, run_id)
        run.created_left = []
        return run

    def _person_changes(self, raw: Mapping[str, Any], contact: Record) -> dict[str, Any]:
        """The new person's values, as the Person⇄Contact pair would create it: mapped fields,
        owner default (R13), link field (R11), required values. The action brings the contact
        into the pair's scope (it joins the mirror list), but the pair's filters still hold."""
        run = self._person_pair_run(0, contact)
        record = self.ap.flatten("Contact", raw, run.sides["right"].keys)
        members = {title: {record.id} for title in passes.scope_lists(run.pair)}
        planned = run.plan_candidate(Candidate(None, record), members)
        if planned is None or not planned[1]["left"]:
            raise DeadLetter(
                "person_not_syncable",
                f"contact {record.id} is kept out of Pipedrive by the {run.id} pair's filters: the person is not created",
            )
        return dict(planned[0].changes["left"])

    async def _create_person(self, raw: Mapping[str, Any], contact: Record, changes: dict[str, Any], run_id: int, done: list[dict[str, Any]]) -> str:
        """Create the person through the pair (its intent, its link and snapshot: the next run
        sees a synced pair, not a new contact), then put the contact on the mirror list (R7)."""
        run = self._person_pair_run(run_id, contact)
        pair = run.pair
        record = self.ap.flatten("Contact", raw, run.sides["right"].keys)
        write = await run.prepare_left(Candidate(None, record), dict(changes))
        if write is None:  # a relation the pair writes is not synced yet (R17)
            raise DeadLetter("person_not_created", f"contact {record.id}'s person needs a related record that is not in Pipedrive yet")
        write.intent = self.state.add_intent(
            run_id=run_id, pair=pair["id"], system="pipedrive", op="create", key=f"{pair['id']}:{record.id}", payload=write.body
        )
        await run.send_left(write)
        if write.outcome != "done":
            if write.outcome != "unknown":
                self.state.finish_intent(write.intent, status="failed", result={"error": write.error})
            raise DeadLetter(
                "person_not_created",
                f"Pipedrive did not create the person of contact {record.id}: {write.error or write.outcome}",
                status=write.status,
            )
        with self.state.transaction():
            run.record_left(write)
        assert write.raw is not None  # outcome "done": the response carried the person
        person_id = str(write.raw["id"])
        done.append(Write(-1, "Person", "create", person_id, changes).as_dict())
        for title, list_id in self.engine.mirror_lists(pair):
            await self.ap.add_to_list(list_id, record.id)
            done.append({"system": "autopilot", "object": "List", "op": "add", "id": list_id, "changes": {"list": title, "contact_id": record.id}})
        return person_id

    # -- planning a step --------------------------------------------------------------------
    def _changes(self, step: Mapping[str, Any], values: Mapping[str, Any], ctx: Context, *, creating: bool) -> dict[str, Any]:
        """The step's assignments evaluated; empty values are left out (R10 `empty skip`)."""
        changes: dict[str, Any] = {}
        for item in step["set"]:
            if item.get("on") == "create" and not creating:
                continue
            value = evaluate(item["value"], values, ctx)
            if not is_empty(value):
                changes[ref_key(item["target"])] = value
        return changes

    async def _plan_step(
        self, index: int, step: Mapping[str, Any], values: Mapping[str, Any], ctx: Context, person_id: str | None, creating: dict[str, Any] | None
    ) -> list[Write]:
        obj, verb = step["target"]["object"], step["verb"]
        if step["target"]["system"] != "pipedrive":
            raise DeadLetter("step_unsupported", f"a step writing {step['target']['system']}.{obj} is not supported by this runtime")
        if obj == "Person":
            if person_id is None:  # created with the step's values (they win over the defaults)
                assert creating is not None  # `_act` plans the person's creation when it has none
                creating.update(self._changes(step, values, ctx, creating=True))
                return []
            current = await self.pd.get("Person", person_id)
            if current is None or (step["where"] and not truth(step["where"], {**values, **self._flat("Person", current, step)}, ctx)):
                return []
            changes = self._unchanged_dropped("Person", current, self._changes(step, values, ctx, creating=False))
            return [Write(index, "Person", "update", person_id, changes)] if changes else []
        matches = [] if verb == "create" or person_id is None else await self._matches(step, values, ctx, person_id)
        if verb == "create" or (verb == "upsert" and not matches):
            return [Write(index, obj, "create", None, self._changes(step, values, ctx, creating=True))]
        if not matches:
            raise DeadLetter(
                f"{obj.lower()}_missing", f"the Pipedrive person {person_id} has no open {obj.lower()} the step applies to", person=person_id
            )
        writes = []
        for raw in matches:
            changes = self._changes(step, values, ctx, creating=False)
            for item in step["set"]:
                if (item["target"].get("field") or {}).get("lookup", {}).get("path") == STAGE_LOOKUP:
                    key = ref_key(item["target"])
                    if key in changes:
                        changes[key] = resolve_stage(changes[key], self.pd.stages, self.pd.pipelines, raw.get("pipeline_id"))
            changes = self._unchanged_dropped(obj, raw, changes)
            if changes:
                writes.append(Write(index, obj, "update", str(raw["id"]), changes))
        return writes

    def _flat(self, obj: str, raw: Mapping[str, Any], step: Mapping[str, Any]) -> dict[str, Any]:
        keys = {ref_key(r) for r in refs_in(step) if r["system"] == "pipedrive" and r["object"] == obj}
        keys |= {ref_key(item["target"]) for item in step["set"]}
        return self.pd.flatten(obj, raw, keys).values

    def _unchanged_dropped(self, obj: str, raw: Mapping[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
        current = self.pd.flatten(obj, raw, changes).values
        return {k: v for k, v in changes.items() if not same(current.get(k), v)}

    async def _matches(self, step: Mapping[str, Any], values: Mapping[str, Any], ctx: Context, person_id: str) -> list[dict[str, Any]]:
        """The person's records of the step's object its `where` holds for (open deals only)."""
        obj = step["target"]["object"]
        filters = {"person_id": person_id, **({"status": "open"} if obj == "Deal" else {})}
        found = []
        async for page in self.pd.pages(obj, filters=filters, sort_by="id"):
            for raw in page:
                if not step["where"] or truth(step["where"], {**values, **self._flat(obj, raw, step)}, ctx):
                    found.append(raw)
        return found

    # -- writing ----------------------------------------------------------------------------
    async def _write(self, action: Mapping[str, Any], write: Write, person_id: str | None, run_id: int, memo: str | None) -> dict[str, Any]:
        from syncmap.runtime.api_errors import is_transient
        from syncmap.runtime.http import ApiError, UnknownOutcome

        pd = self.pd
        try:
            body = pd.body(write.object, write.changes, None)
        except ValueError as error:  # validated before sending: a value its field cannot hold
            raise DeadLetter("value_does_not_fit", str(error)) from None
        if write.op == "update":
            assert write.id is not None  # an update is planned for a record read from Pipedrive
            try:
                made = await pd.update(write.object, write.id, body)
            except ApiError as error:
                if is_transient(error):
                    raise  # busy, not refused: the caller tries again later (serve keeps the delivery)
                raise DeadLetter("api_refused", f"Pipedrive refused the {write.object.lower()} update: {error}", status=error.status) from None
            if made is None:
                raise DeadLetter(f"{write.object.lower()}_missing", f"the Pipedrive {write.object.lower()} {write.id} is gone")
            return write.as_dict()
        pair = f"{ACTION_LETTERS}{action['name']}"
        key = f"{memo or pair}:step{write.step}"
        made_before = ((self.state.get_meta(memo) or {}).get("made") or {}) if memo else {}
        if key in made_before:  # an earlier attempt with this key made it, then stopped short
            return Write(write.step, write.object, "create", made_before[key], write.changes).as_dict()
        if memo:
            # A create of an earlier attempt with this key whose outcome is unknown: look first.
            for unknown in self.state.open_intents(pair):
                if unknown.key == key:
                    found = await self._made_before(write, person_id)
                    self.state.finish_intent(unknown.id, status="done" if found else "abandoned", result={"id": found})
                    if found:
                        return Write(write.step, write.object, "create", found, write.changes).as_dict()
        intent = self.state.add_intent(run_id=run_id, pair=pair, system="pipedrive", op="create", key=key, payload=body)
        try:
            made = await pd.create(write.object, body)
        except UnknownOutcome as error:
            again = "run it again with the same key to look before creating" if memo else "check Pipedrive before running it again"
            raise DeadLetter("outcome_unknown", f"the {write.object.lower()} create's outcome is unknown ({error}): {again}") from None
        except ApiError as error:
            self.state.finish_intent(intent, status="failed", result={"error": str(error)})
            if is_transient(error):
                raise  # refused for being busy: nothing was made, and the caller tries again later
            raise DeadLetter("api_refused", f"Pipedrive refused the {write.object.lower()}: {error}", status=error.status) from None
        with self.state.transaction():
            self.state.finish_intent(intent, status="done", result={"id": str(made["id"])})
            if memo:
                progress = self.state.get_meta(memo) or {"status": "partial", "at": time.time(), "made": {}}
                progress["made"][key] = str(made["id"])
                self.state.set_meta(memo, progress)
        return Write(write.step, write.object, "create", str(made["id"]), write.changes).as_dict()

    async def _made_before(self, write: Write, person_id: str | None) -> str | None:
        """A record of the person that carries every value the create set: made by the attempt
        whose outcome was unknown."""
        if person_id is None:
            return None
        async for page in self.pd.pages(write.object, filters={"person_id": person_id}, sort_by="id"):
            for raw in page:
                if not self._unchanged_dropped(write.object, raw, write.changes):
                    return str(raw["id"])
        return None


def _custom_targets(node: Any) -> list[Mapping[str, Any]]:
    return [n for n in plan_nodes(node) if n.get("kind") == "custom" and n.get("system") == "pipedrive" and "object" in n]


def _count(writes: list[dict[str, Any]]) -> str:
    if not writes:
        return "nothing (already as the action says)"
    return ", ".join(f"{w['op']} {w['system']} {w['object']}{' ' + str(w['id']) if w['id'] else ''}" for w in writes)


def _clock(at: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at))
