"""What `mappings/autopilot.syncmap` promises, checked through both APIs, written from the
mapping and the FAQ (not from the engine): every Pipedrive person with an email of its own is a
contact with the mapped values, carries that contact's id in `apId`, and is on the
"Pipedrive Contacts" list; every complete contact on that list is a Pipedrive person."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from harness import ROOT, Sandbox, primary

LIST = "Pipedrive Contacts"


def norm(email: Any) -> str | None:
    return str(email).strip().lower() if email and str(email).strip() else None


def snapshot(sbx: Sandbox) -> dict[str, Any]:
    persons = sbx.persons()
    orgs = {o["id"]: o for o in sbx._pd_pages("/api/v2/organizations")}
    users = {u["id"]: u for u in sbx.pd("GET", "/v1/users")["data"]}
    contacts = {c["contact_id"]: c for c in sbx.contacts()}
    ap_id = sbx.person_fields().get("apId")
    return {"persons": persons, "orgs": orgs, "users": users, "contacts": contacts, "apId": ap_id, "roster": sbx.roster(LIST)}


def owners_of_emails(persons: list[dict[str, Any]]) -> dict[str, int]:
    """R9: of the persons sharing an email, the first (lowest id) pairs; the others are reported."""
    first: dict[str, int] = {}
    for person in sorted(persons, key=lambda p: p["id"]):
        email = norm(primary(person["emails"]))
        if email:
            first.setdefault(email, person["id"])
    return first


def check_mirror(sbx: Sandbox, excused: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Assert the mapping holds; return the snapshot for further checks. `excused`: contacts the
    mapping cannot hold as it says, each reported by a dead letter a person must act on (an email
    several Autopilot contacts share: Autopilot's upsert by email reaches another of them)."""
    snap = snapshot(sbx)
    assert snap["apId"], "the link field apId exists in Pipedrive (R11)"
    owners = owners_of_emails(snap["persons"])
    contacts, problems = snap["contacts"], []
    for person in snap["persons"]:
        email = norm(primary(person["emails"]))
        if email is None or owners[email] != person["id"]:
            continue
        contact_id = (person.get("custom_fields") or {}).get(snap["apId"])
        contact = contacts.get(contact_id)
        if contact_id in excused:
            continue
        if contact is None:
            problems.append(f"person {person['id']} ({email}) has no contact (apId={contact_id!r})")
            continue
        # Pipedrive keeps one `name` and splits it itself (the split is unverified: the strict
        # profile splits "Uma Van Dijk" as "Uma Van" + "Dijk"), so names agree as a whole.
        full = lambda *parts: " ".join(p for p in parts if p)  # noqa: E731
        if full(contact.get("FirstName"), contact.get("LastName")) != full(person.get("first_name"), person.get("last_name")):
            problems.append(
                f"person {person['id']}: contact {contact_id} is named {full(contact.get('FirstName'), contact.get('LastName'))!r}, "
                f"expected {person.get('name')!r}"
            )
        expected = {
            "Email": email,
            "Phone": primary(person.get("phones")),
            "Company": (snap["orgs"].get(person.get("org_id")) or {}).get("name"),
            "owner_name": (snap["users"].get(person.get("owner_id")) or {}).get("name"),
        }
        for field, value in expected.items():
            if value in (None, ""):
                continue  # R10: empty values are never written
            got = norm(contact.get(field)) if field == "Email" else contact.get(field)
            if got != value:
                problems.append(f"person {person['id']}: contact {contact_id} {field} = {got!r}, expected {value!r}")
        if contact_id not in snap["roster"]:
            problems.append(f"contact {contact_id} of person {person['id']} is not on {LIST!r} (R7)")
    linked = {(p.get("custom_fields") or {}).get(snap["apId"]): p for p in snap["persons"]}
    for contact_id in snap["roster"]:
        contact = contacts.get(contact_id)
        if not contact or not (contact.get("FirstName") and contact.get("LastName") and norm(contact.get("Email"))):
            continue
        person = linked.get(contact_id)
        if person is None:
            if norm(contact.get("Email")) in owners:
                continue  # paired through a person sharing that email (R9 reports the rest)
            problems.append(f"list member {contact_id} ({contact.get('Email')}) has no Pipedrive person")
    assert not problems, "\n".join(problems)
    return snap


# -- the mirror of any mapping ------------------------------------------------------------------
#
# `check_mapping` reads the mapping's own lines (corpus.Block) and both systems through their
# APIs, and asserts, for each sync block and each direction it allows:
#   - every source record in scope has a partner: scope = the block's `where` filters, its list
#     and `only not …` scopes, the match key present, the fields the target requires (R23), and
#     of the records sharing a match key only the lowest id (R9: the others are reported);
#   - the partner holds the source's value of every mapped field (after `with` and `default`;
#     Pipedrive names compared as one whole name; empty sources are never written, R10);
#   - the link field holds the partner's id; no two records hold the same link; no match key
#     has more records after the runs than max(before, 1) (nothing duplicated);
#   - with a list scope, every contact paired with a Pipedrive person is on the list (R7).
# It does not check: which side won a conflict (a two-way field only has to agree), deletes
# (nothing is deleted between the two runs), Autopilot engagement activities (the
# Activity <- Activity pair is only run, not mirrored), `only new` values after creation,
# or a mismatch on a record the run reported as a dead letter for that record (counted and
# returned, so a caller can see how much was excused).

PD_PATHS = {"Person": "persons", "Organization": "organizations", "Deal": "deals", "Activity": "activities", "User": None}
# Reasons a record may rightly be left out of the mirror: the product rules say so and the run
# reported it. A record dead-lettered for any other reason is a failure like a missing one.
EXCUSED = {
    "duplicate_match_key",
    "duplicate_email",
    "email_shared_in_autopilot",
    "value_does_not_fit",
    "owner_not_a_user",
    "missing_required",
    "person_not_syncable",
    "person_missing",
}
REQUIRED = {"Person": ("first_name", "last_name"), "Organization": ("name",), "Deal": ("expected_close_date",)}
_CUSTOM = re.compile(r'^custom\("([^"]+)"(?:,\s*(\w+))?\)$')


def canon(value: Any) -> Any:
    """One comparable form for a value read from either API: numbers as floats, dates as
    YYYY-MM-DD, text stripped, empty as None."""
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, dict) and "value" in value:  # monetary, address
        return canon(value["value"])
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value).strip()
    if re.match(r"^\d{4}-\d{2}-\d{2}([T ]|$)", text):
        return text[:10]
    try:
        return float(text)
    except ValueError:
        return text or None


@dataclass
class World:
    """Both systems as their APIs show them."""

    pd: dict[str, dict[Any, dict[str, Any]]]
    fields: dict[str, dict[str, str]]
    users: dict[Any, dict[str, Any]]
    contacts: dict[str, dict[str, Any]]
    rosters: dict[str, set[str]]


def read_world(sbx: Sandbox, lists: Iterable[str] = ()) -> World:
    pd = {obj: {r["id"]: r for r in sbx._pd_pages(f"/api/v2/{path}")} for obj, path in PD_PATHS.items() if path}
    fields = {
        obj: {f["name"]: f["key"] for f in sbx.pd("GET", f"/v1/{obj[0].lower()}{obj[1:]}Fields", params={"limit": 500})["data"]}
        for obj in ("Person", "Organization", "Deal", "Activity")
    }
    users = {u["id"]: u for u in sbx.pd("GET", "/v1/users")["data"]}
    pd["User"] = users
    contacts = {c["contact_id"]: c for c in sbx.contacts()}
    return World(pd, fields, users, contacts, {title: sbx.roster(title) for title in lists})


def pd_value(world: World, obj: str, record: dict[str, Any], path: str) -> Any:
    custom = _CUSTOM.match(path)
    if custom:
        key = world.fields.get(obj, {}).get(custom.group(1))
        return (record.get("custom_fields") or {}).get(key) if key else None
    head, _, rest = path.partition(".")
    if head in ("email", "phone") and rest:
        items = record.get(f"{head}s") if f"{head}s" in record else record.get(head)
        if isinstance(items, list):
            if rest == "primary":
                return primary(items)
            return next((i.get("value") for i in items if i.get("label") == rest), None)
        return items
    if head == "organization":
        org = world.pd["Organization"].get(record.get("org_id")) or {}
        return org.get(rest) if rest else record.get("org_id")
    if head == "owner" and rest:
        return (world.users.get(record.get("owner_id")) or {}).get(rest)
    if head == "person" and not rest:
        return record.get("person_id")
    return record.get(path)


def ap_value(contact: dict[str, Any], path: str) -> Any:
    custom = _CUSTOM.match(path)
    if custom:
        return next((f.get("value") for f in contact.get("custom_fields") or () if f.get("kind") == custom.group(1)), None)
    return contact.get(path)


def _literal(text: str) -> Any:
    text = text.strip()
    if text.startswith('"'):
        return text[1:-1]
    if text in ("true", "false"):
        return text == "true"
    if text == "null":
        return None
    try:
        return float(text)
    except ValueError:
        return _PATH


_PATH = object()


def holds(condition: str, read: Any) -> bool:
    """A `where`/`only` condition of the language, evaluated with `read(path)`."""
    condition = condition.strip()
    for word in (" or ", " and "):
        parts = _split_outside(condition, word)
        if len(parts) > 1:
            results = [holds(p, read) for p in parts]
            return any(results) if word == " or " else all(results)
    if condition.startswith("(") and condition.endswith(")"):
        return holds(condition[1:-1], read)
    if condition.startswith("not "):
        return not holds(condition[4:], read)
    found = re.match(r"^(.+?)\s+in\s+\[(.*)\]$", condition)
    if found:
        options = [_literal(x) for x in found.group(2).split(",")]
        return canon(read(found.group(1).strip())) in [canon(o) for o in options]
    found = re.match(r"^(.+?)\s*(==|!=)\s*(.+)$", condition)
    if found:
        right = _literal(found.group(3))
        right = read(found.group(3).strip()) if right is _PATH else right
        same = canon(read(found.group(1).strip())) == canon(right)
        return same if found.group(2) == "==" else not same
    return bool(read(condition))


def _split_outside(text: str, word: str) -> list[str]:
    masked = re.sub(r'"[^"]*"|\[[^\]]*\]', lambda m: " " * len(m.group()), text)
    parts, start, at = [], 0, masked.find(word)
    while at >= 0:
        parts.append(text[start:at])
        start = at + len(word)
        at = masked.find(word, start)
    return [*parts, text[start:]]


def transformed(rule_options: str, value: Any) -> Any:
    """The value a rule writes for `value`: its `with` transforms and `default`."""
    if value in (None, "") and (found := re.search(r"\bdefault\s+(\"[^\"]*\"|\S+)", rule_options)):
        value = _literal(found.group(1))
    if value is None:
        return None
    if re.search(r"\bwith\b[^{]*\blowercase\b", rule_options):
        value = str(value).lower()
    if re.search(r"\bwith\b[^{]*\btrim\b", rule_options):
        value = str(value).strip()
    found = re.search(r"\bmap\s*\{(.*)\}", rule_options)
    if found:
        table = dict(re.findall(r'"([^"]*)"\s*=\s*"([^"]*)"', found.group(1)))
        value = table.get(str(value), value)
    return value


@dataclass
class Side:
    """One block, Pipedrive first: its rules as (pd path, ap path, flows, options)."""

    pd_obj: str
    ap_obj: str
    rules: list[tuple[str, str, set[str], str]]
    keys: list[list[tuple[str, str]]]  # match groups of (pd path, ap path)
    relation: bool  # `match person`: paired through the person's contact
    link: str | None  # the Pipedrive link field's name
    flows: set[str]  # "out" (Pipedrive to Autopilot), "in"
    lists: list[str]
    only_in: list[str]  # other `only … -> pipedrive` conditions
    where: list[str]


def oriented(block: Any) -> Side:
    if block.left.startswith("autopilot."):
        block = block.swapped()
    flows = {"out" if src == "pipedrive" else "in" for src, _ in block.flows()}
    rules = []
    for rule in block.rules:
        arrows = {"->": {"out"}, "<-": {"in"}, "<->": {"out", "in"}}[rule.arrow]
        rules.append((rule.left, rule.right, arrows, rule.options))
    keys: list[list[tuple[str, str]]] = []
    relation, link, lists, only_in, where = False, None, [], [], []
    for line in block.lines:
        word, _, rest = line.partition(" ")
        if word == "match":
            group = []
            for key in rest.split(","):
                left, eq, right = key.partition("=")
                if not eq or (left.strip(), right.strip()) == ("person", "contact_id"):
                    relation = True
                else:
                    group.append((left.strip(), right.strip()))
            if group:
                keys.append(group)
        elif word == "link":
            found = _CUSTOM.match(rest.split("=")[0].strip().removeprefix("pipedrive."))
            link = found.group(1) if found else None
        elif word == "only":
            cond = rest.rsplit("->", 1)[0].strip()
            listed = re.match(r'^autopilot\.list\("([^"]+)"\)$', cond)
            if listed:
                lists.append(listed.group(1))
            elif rest.rstrip().endswith("pipedrive"):
                only_in.append(cond)
        elif word == "where":
            where.append(rest)
    return Side(block.left.split(".")[1], block.right.split(".")[1], rules, keys, relation, link, flows, lists, only_in, where)


def _pd_field(path: str, obj: str) -> bool:
    """Whether a `where` condition's path is a Pipedrive field (else it is the contact's)."""
    head = path.split(".")[0].split("(")[0]
    return head in _catalog("pipedrive", obj) or head in ("email", "phone", "organization", "owner", "person")


@functools.cache
def _catalog(system: str, obj: str) -> set[str]:
    data = json.loads((ROOT / "compiler" / "catalogs" / f"{system}.json").read_text())
    return set(data["objects"].get(obj, {}).get("fields", {})) | set(data["objects"].get(obj, {}).get("relations", {}))


def check_mapping(sbx: Sandbox, blocks: Iterable[Any], before: World, dead_letters: list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Assert the mapping's blocks hold in both systems; return what was checked, per block
    (`Person<->Contact`: pairs, values compared, mismatches excused by a dead letter)."""
    sides = [oriented(b) for b in blocks]
    world = read_world(sbx, {title for s in sides for title in s.lists})
    excused = {(d.get("object"), str(d.get("id"))) for d in dead_letters if d.get("reason") in EXCUSED}
    problems: list[str] = []
    counts: dict[str, dict[str, int]] = {}
    partners: dict[str, dict[Any, str]] = {}  # pd object -> pd id -> contact id (for relations)
    for side in sides:
        if side.ap_obj != "Contact":
            continue  # Autopilot's engagement history: run, not mirrored (see above)
        name = f"{side.pd_obj}{'<->' if len(side.flows) == 2 else '->' if 'out' in side.flows else '<-'}{side.ap_obj}"
        counts[name] = {"pairs": 0, "values": 0, "excused": 0}
        partners[side.pd_obj] = _check_side(side, world, before, excused, partners, problems, counts[name])
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems[:40])
    print(f"mirror: {counts}")  # shown with a failure of the caller's own asserts
    return counts


def _key(values: Iterable[Any]) -> tuple[Any, ...] | None:
    out = tuple(str(canon(v)).lower() if canon(v) is not None else None for v in values)
    return None if any(v is None for v in out) else out


def _key_counts(records: Iterable[dict[str, Any]], read: Any) -> dict[tuple[Any, ...], int]:
    counts: dict[tuple[Any, ...], int] = {}
    for record in records:
        if k := _key(read(record)):
            counts[k] = counts.get(k, 0) + 1
    return counts


def _check_side(
    side: Side,
    world: World,
    before: World,
    excused: set[tuple[Any, str]],
    partners: dict[str, dict[Any, str]],
    problems: list[str],
    counts: dict[str, int],
) -> dict[Any, str]:
    obj = side.pd_obj
    records = world.pd[obj]
    contacts = world.contacts
    read_pd = lambda r: lambda path: pd_value(world, obj, r, path)  # noqa: E731
    read_ap = lambda c: lambda path: ap_value(c, path)  # noqa: E731
    pd_where = [w for w in side.where if _pd_field(re.split(r"[\s!=<>]", w.strip())[0], obj)]
    ap_where = [w for w in side.where if w not in pd_where]
    name_rules = {pd for pd, _, _, _ in side.rules if pd in ("first_name", "last_name")}

    # Pairs: by the link field, else by the match key (lowest id first, R9), else by relation.
    pairs: dict[Any, str] = {}
    if side.link:
        key = world.fields[obj].get(side.link)
        if key is None:
            problems.append(f"{obj}: the link field {side.link!r} does not exist (R11)")
        holders: dict[str, Any] = {}
        for rid, r in sorted(records.items()):
            cid = (r.get("custom_fields") or {}).get(key) if key else None
            if cid:
                if cid in holders:
                    problems.append(f"{obj} {rid} and {holders[cid]} both link contact {cid} (duplicate)")
                holders[cid] = rid
                if cid not in contacts:
                    problems.append(f"{obj} {rid} links contact {cid}, which does not exist")
                pairs[rid] = cid
    by_key: dict[tuple[Any, ...], list[str]] = {}
    for group in side.keys:
        for cid, c in contacts.items():
            k = _key(ap_value(c, ap) for _, ap in group)
            if k:
                by_key.setdefault((side.keys.index(group), *k), []).append(cid)
    owners: dict[tuple[Any, ...], Any] = {}
    for rid, r in sorted(records.items()):
        for group in side.keys:
            k = _key(pd_value(world, obj, r, pd) for pd, _ in group)
            if k:
                owners.setdefault((side.keys.index(group), *k), rid)
                if rid not in pairs and owners[(side.keys.index(group), *k)] == rid and len(by_key.get((side.keys.index(group), *k), [])) >= 1:
                    pairs.setdefault(rid, by_key[(side.keys.index(group), *k)][0])
                break
    if side.relation:
        person_of = partners.get("Person", {})
        for rid, r in records.items():
            if r.get("person_id") in person_of:
                pairs.setdefault(rid, person_of[r["person_id"]])

    def key_of(r: dict[str, Any]) -> tuple[Any, ...] | None:
        for group in side.keys:
            k = _key(pd_value(world, obj, r, pd) for pd, _ in group)
            if k:
                return (side.keys.index(group), *k)
        return None

    # Nothing duplicated: no match key has more records than before (or one, if none was there).
    # Only where the block makes records: many contacts name one company (Organization <- Contact).
    for group in side.keys:
        pd_keys = lambda r, g=group: [pd_value(world, obj, r, pd) for pd, _ in g]  # noqa: E731
        ap_keys = lambda c, g=group: [ap_value(c, ap) for _, ap in g]  # noqa: E731
        sides = [("pipedrive", records, before.pd[obj], pd_keys)] * ("in" in side.flows)
        sides += [("autopilot", contacts, before.contacts, ap_keys)] * ("out" in side.flows)
        for system, now, then, read in sides:
            after_counts, before_counts = _key_counts(now.values(), read), _key_counts(then.values(), read)
            for k, n in after_counts.items():
                if n > max(before_counts.get(k, 0), 1):
                    problems.append(f"{system}: {n} records share the {obj}/{side.ap_obj} match key {k} (before: {before_counts.get(k, 0)})")

    # Pipedrive -> Autopilot.
    email_paths = [pd for group in side.keys for pd, ap in group if ap == "Email"] + [pd for pd, ap, _, _ in side.rules if ap == "Email"]
    if "out" in side.flows:
        for rid, r in sorted(records.items()):
            if not all(holds(w, read_pd(r)) for w in pd_where):
                continue
            if side.keys and not side.relation:
                k = key_of(r)
                if k is None or owners.get(k) != rid:
                    continue  # no key: nothing to find it by; a later duplicate: reported (R9)
            if not side.relation and side.ap_obj == "Contact" and all(canon(read_pd(r)(pd)) is None for pd in email_paths):
                continue  # Autopilot identifies contacts by email: none, no contact (the run reports it)
            if side.relation and r.get("person_id") not in partners.get("Person", {}):
                continue
            if (obj, str(rid)) in excused:
                counts["excused"] += 1
                continue
            cid = pairs.get(rid)
            contact = contacts.get(cid) if cid else None
            if contact is None:
                problems.append(f"{obj} {rid} ({key_of(r)}) has no contact (link/key {cid!r})")
                continue
            counts["pairs"] += 1
            if side.lists and obj == "Person":
                for title in side.lists:
                    if cid not in world.rosters[title]:
                        problems.append(f"contact {cid} of {obj} {rid} is not on {title!r} (R7)")
            mates = [
                m
                for m in records.values()
                if side.relation and m.get("person_id") == r.get("person_id") and all(holds(w, read_pd(m)) for w in pd_where)
            ]
            _compare(side, "out", r, contact, world, obj, name_rules, problems, counts, f"{obj} {rid} -> contact {cid}", excused, mates)

    # Autopilot -> Pipedrive.
    if "in" in side.flows:
        linked = {cid: rid for rid, cid in pairs.items()}
        shared = {k for k, ids in by_key.items() if len(ids) > 1}
        for cid, c in sorted(contacts.items()):
            if any(cid not in world.rosters[title] for title in side.lists):
                continue
            if not all(holds(cond, read_ap(c)) for cond in side.only_in):
                continue
            if not all(holds(w, read_ap(c)) for w in ap_where):
                continue
            rid = linked.get(cid)
            if rid is None:
                if side.relation or any(cond in ("linked", "new") for cond in side.only_in):
                    continue  # `only linked`: never creates; relation pairs are made from Pipedrive
                keys = [(side.keys.index(g), *k) for g in side.keys if (k := _key(ap_value(c, ap) for _, ap in g))]
                if side.keys and (not keys or any(k in shared for k in keys)):
                    continue  # no key, or a key several contacts share: not checked
                needed = [ap for pd, ap, fl, _ in side.rules if pd in REQUIRED.get(obj, ()) and "in" in fl]
                if any(canon(ap_value(c, ap)) is None for ap in needed):
                    continue  # R23: a record without the required fields is a dead letter
                if (side.ap_obj, str(cid)) in excused:
                    counts["excused"] += 1
                    continue
                rid = next((owners[k] for k in keys if k in owners), None)
                if rid is None:
                    problems.append(f"contact {cid} ({keys}) has no Pipedrive {obj.lower()}")
                    continue
            counts["pairs"] += 1
            r = records[rid]
            mates = [
                m
                for m in records.values()
                if side.relation and m.get("person_id") == r.get("person_id") and all(holds(w, read_pd(m)) for w in pd_where)
            ]
            _compare(side, "in", r, c, world, obj, name_rules, problems, counts, f"contact {cid} -> {obj} {rid}", excused, mates)
    return pairs


def _compare(
    side: Side,
    flow: str,
    record: dict[str, Any],
    contact: dict[str, Any],
    world: World,
    obj: str,
    name_rules: set[str],
    problems: list[str],
    counts: dict[str, int],
    where: str,
    excused: set[tuple[Any, str]],
    mates: list[dict[str, Any]],
) -> None:
    """The partner holds the source's value of each rule flowing `flow`. `mates`: with a
    relation match (`match person`), the in-scope records of the same person, one contact for
    all of them: a value agrees when it is one of theirs."""
    rules = [(pd, ap, opts) for pd, ap, fl, opts in side.rules if flow in fl]
    two_way = {(pd, ap): len(fl) == 2 for pd, ap, fl, _ in side.rules}
    if obj == "Person" and name_rules == {"first_name", "last_name"} and all(any(pd == n for pd, _, _ in rules) for n in name_rules):
        # Pipedrive keeps one `name` and splits it itself (the strict profile splits "Uma Van
        # Dijk" as "Uma Van" + "Dijk"), so names agree as a whole.
        # A part empty at the source is never written (R10): the target keeps its own.
        ap_of = {pd: ap for pd, ap, _ in rules}
        ap_parts = [ap_value(contact, ap_of["first_name"]), ap_value(contact, ap_of["last_name"])]
        pd_parts = [record.get("first_name"), record.get("last_name")]
        source, target = (ap_parts, pd_parts) if flow == "in" else (pd_parts, ap_parts)
        expected_name = " ".join(str(s or t) for s, t in zip(source, target, strict=True) if s or t)
        got_name = " ".join(str(t) for t in target if t)
        if any(source) and expected_name != got_name:
            problems.append(f"{where}: name {got_name!r}, expected {expected_name!r}")
        rules = [x for x in rules if x[0] not in name_rules]
    for pd, ap, opts in rules:
        if any(text.startswith('"') and "{" in text for text in (pd, ap)):
            continue  # a format string: not mirrored
        pd_raw = _literal(pd) if pd.startswith('"') else pd_value(world, obj, record, pd)
        ap_raw = _literal(ap) if ap.startswith('"') else ap_value(contact, ap)
        source, target = (pd_raw, ap_raw) if flow == "out" else (ap_raw, pd_raw)
        expected = canon(transformed(opts, source))
        if expected is None:
            continue  # R10: empty values are never written
        got = canon(target)
        stood_in = re.search(r"\bdefault\s+(\"[^\"]*\"|\S+)", opts)
        if got is None and two_way.get((pd, ap)) and stood_in and expected == canon(_literal(stood_in.group(1))):
            continue  # the rule's default filled this side for the empty target: not carried back (docs/language.md)
        if "email" in pd or "Email" in ap:
            expected, got = str(expected).lower(), (str(got).lower() if got is not None else None)
        if mates:
            theirs = {canon(pd_value(world, obj, m, pd)) for m in mates}
            ok = got in {canon(transformed(opts, v)) for v in theirs} if flow == "out" else expected in theirs
            if ok:
                counts["values"] += 1
                continue
        counts["values"] += 1
        if got != expected:
            if (obj, str(record.get("id"))) in excused or (side.ap_obj, str(contact.get("contact_id"))) in excused:
                counts["excused"] += 1
                continue
            problems.append(f"{where}: {ap if flow == 'out' else pd} = {target!r}, expected {expected!r} (from {pd if flow == 'out' else ap})")
