"""A compiled plan in plain words: what flows where, which product rules hold, what it costs.

Pure: `explain_plan(plan, estimate)` builds the content as plain data (what
`syncmap explain --format json` prints) and `render_human` turns that same data into text, so
both formats always say the same. Every place it points at comes from a span in the plan.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from syncmap.compiler.catalog import CatalogError, load_catalog
from syncmap.compiler.cost import PIPEDRIVE, Estimate, match_keys

__all__ = ["RULES", "explain_plan", "render_human", "render_json"]

Plan = Mapping[str, Any]

# The product rules of DESIGN.md ("Seed rules and where each is enforced"), in short.
RULES: dict[str, str] = {
    "R1": "Person sync is two-way",
    "R2": 'Autopilot contacts reach Pipedrive only via the "Pipedrive Contacts" list or a Pipedrive action',
    "R3": "10k+ contacts: the initial sync is slow because of API limits",
    "R4": "Add Deal, Assign Person Owner, Schedule Activity create the person if missing; the others never do",
    "R5": "a contact that can't be synced is reported, not lost",
    "R6": "deletions only from Pipedrive; Autopilot never deletes a Pipedrive person",
    "R7": 'the "Pipedrive Contacts" list mirrors every person in Pipedrive',
    "R8": "sync is instant",
    "R9": "pairing by Person ID; other arrivals deduplicated by email",
    "R10": "empty fields are neither shown nor written",
    "R11": "the apId custom field in Pipedrive carries the partner id",
    "R12": "requests over the limit are retried; Pipedrive has no bulk update",
    "R13": "unassigned contacts are owned by the connecting user",
    "R14": "each object's permissions, custom fields, relations and required fields",
    "R15": "activity Marked as Done time deduplicates against Occurred At",
    "R16": "only closed (done) activities sync out",
    "R17": "activities need the contact relation, synced source to destination first",
    "R18": "activity type: blank or Call, Meeting, Task, Deadline, Email, Lunch",
    "R19": "a deal pairs only once its expected close date is set",
    "R20": "an owner id written to Pipedrive must be an existing user's exact id",
    "R21": "the owner name is one full name and is never split",
    "R22": "mapping fields over a one-to-many relation is discouraged",
    "R23": "required fields must be mapped",
}

HONOURED, CHECKED, RUNTIME, ESTIMATE, NOT_USED = "honoured", "checked", "run time", "estimate", "not used"

_ONE_TO_MANY_CODE = "SM306"
_ACTIVITY_TYPES = "Call, Meeting, Task, Deadline, Email, Lunch"


# ------------------------------------------------------------------ words for plan pieces


def _system(name: str) -> str:
    try:
        return load_catalog(name).display_name
    except CatalogError:
        return name.capitalize()


def _where(span: Mapping[str, Any] | None) -> str:
    return f"{span['file']}:{span['line']}" if span else ""


def _ref(ref: Mapping[str, Any]) -> str:
    return f"{_system(ref['system'])} {ref['object']} {'.'.join(ref['path'])}"


def _value(v: Mapping[str, Any] | None) -> str:
    if v is None:
        return "nothing"
    kind = v.get("kind")
    if kind == "field":
        return _ref(v["ref"])
    if kind == "literal":
        return "empty" if v.get("value") is None else json.dumps(v["value"], ensure_ascii=False)
    if kind == "format":
        return f"the text {json.dumps(v['template'], ensure_ascii=False)}"
    if kind == "clock":
        shift = v.get("shift")
        base: str = v["base"]
        return base + (f" {shift['sign']} {shift['amount']} {shift['unit']}" if shift else "")
    if kind == "this":
        return "this record"
    if kind == "list":
        return "[" + ", ".join(_value(i) for i in v["items"]) + "]"
    if kind == "me":
        return f"{v['system']}.me (the connecting user)"
    if kind == "user_id":
        return f"user {v['value']}"
    if kind == "member":
        return f'membership of {_system(v["system"])} list "{v["name"]}"'
    if kind in ("linked", "new"):
        return "linked records" if kind == "linked" else "records not linked yet"
    return kind or "?"


_OPS = {"eq": "is", "ne": "is not", "lt": "<", "le": "<=", "gt": ">", "ge": ">="}


def _condition(c: Mapping[str, Any]) -> str:
    op = c.get("op")
    if op in ("and", "or"):
        return f" {op} ".join(f"({_condition(a)})" for a in c["args"])
    if op == "not":
        return f"not ({_condition(c['arg'])})"
    if op in _OPS:
        return f"{_value(c['left'])} {_OPS[op]} {_value(c['right'])}"
    if op == "in":
        return f"{_value(c['value'])} is one of " + ", ".join(_value(o) for o in c["options"])
    if op == "member":
        return f'on the {_system(c["system"])} list "{c["list"]}"'
    if op == "linked":
        return "already linked"
    if op == "new":
        return "not linked yet"
    if op == "truthy":
        return f"{_value(c['value'])} is true"
    return str(op)


def _only(c: Mapping[str, Any]) -> str:
    """`only records on the list …` / `only records where …`."""
    return f"only records {_condition(c)}" if c.get("op") in ("member", "linked", "new") else f"only records where {_condition(c)}"


def _transforms(ts: Sequence[Mapping[str, Any]]) -> str:
    parts = []
    for t in ts:
        if t["name"] == "map":
            parts.append("map {" + ", ".join(f"{json.dumps(a)} → {json.dumps(b)}" for a, b in t["pairs"]) + "}")
        else:
            parts.append(t["name"])
    return ", ".join(parts)


def _field_op(op: Mapping[str, Any]) -> dict[str, Any]:
    text = f"{_value(op['source'])} → {_ref(op['target'])}"
    notes = []
    if op.get("transforms"):
        notes.append("with " + _transforms(op["transforms"]))
    if op.get("default") is not None:
        notes.append(f"default {_value(op['default'])}")
    if op.get("implied"):
        notes.append("implied by the match: written on the record the match creates")
    elif op.get("on") == "create":
        notes.append("on create only")
    if op.get("conflict"):
        notes.append("conflicts: " + _conflict(op["conflict"]))
    if notes:
        text += " (" + "; ".join(notes) + ")"
    return {"text": text, "source": _value(op["source"]), "target": _ref(op["target"]), "at": _where(op.get("span"))}


def _conflict(c: Mapping[str, Any]) -> str:
    return "the newest change wins" if c.get("policy") == "newest" else f"{_system(c['winner'])} wins"


def _span_at(span: Mapping[str, Any] | None) -> str | None:
    return f"{span['file']}:{span['line']}" if span else None


def _at(where: str | None) -> str:
    return f" ({where})" if where else ""


# ------------------------------------------------------------------ pairs


def _direction_words(pair: Mapping[str, Any]) -> str:
    left, right = _system(pair["left"]["system"]), _system(pair["right"]["system"])
    return {"both": "two-way", "left_to_right": f"one-way, {left} to {right}", "right_to_left": f"one-way, {right} to {left}"}[pair["direction"]]


def _pair(pair: Mapping[str, Any]) -> dict[str, Any]:
    L, R = pair["left"], pair["right"]
    names = {"left": f"{_system(L['system'])} {L['object']}", "right": f"{_system(R['system'])} {R['object']}"}
    flows = []
    for direction, a, b in (("left_to_right", "left", "right"), ("right_to_left", "right", "left")):
        ops = [_field_op(op) for op in pair["fields"] if op["direction"] == direction]
        if ops:
            flows.append({"from": names[a], "to": names[b], "title": f"{_system(pair[a]['system'])} → {_system(pair[b]['system'])}", "fields": ops})
    pairing = []
    if pair.get("link"):
        link = pair["link"]
        keeper = "left" if link["left"].get("kind") == "custom" else "right"  # the custom field that keeps the partner's id (R11)
        pairing.append(
            f"linked by {_ref(link['left'])} = {_ref(link['right'])} (the partner id is kept in {_system(pair[keeper]['system'])})"
            + _at(_span_at(pair["link"].get("span")))
        )
    for line in pair["match"]:
        keys = []
        for m in line.get("keys", [line]):
            sides = [_ref(k) if "system" in k else _value(k) for k in (m["left"], m["right"]) if k]
            key = " = ".join(sides) if len(sides) == 2 else f"the related {_key_side(m)['path'][-1]} ({sides[0]})"
            if m.get("normalize"):
                key += " (compared after " + ", ".join(m["normalize"]) + ")"
            keys.append(key)
        who = "unlinked records" if pair.get("link") else "records"
        pairing.append(f"{who} match on " + " and ".join(keys) + _at(_where(line.get("span"))))
    scope = [f"{_only(s['condition'])} flow into {_system(s['toward'])}{_at(_where(s['span']))}" for s in pair["scope"]]
    filters = [f"{_only(f['condition'])}{_at(_where(f['span']))}" for f in pair["filters"]]
    implicit = []
    for f in pair["implicit_filters"]:
        test = f"= {json.dumps(f['equals'])}" if "equals" in f else "must be set"
        implicit.append(
            {"text": f"{_system(f['side'])} {f['field']} {test} ({f['rule']}, even if the mapping does not say so)", "seed": f.get("seed")}
        )
    permissions = {}
    for key in ("left", "right"):
        flows_in = pair["direction"] in ("both", "left_to_right" if key == "right" else "right_to_left")
        permissions[names[key]] = {"creates": bool(pair["creates"][key]), "updates": bool(pair["updates"][key]), "receives": flows_in}
    deletes = pair.get("deletes")
    if deletes:
        delete_text = (
            f"deletions flow from {_system(deletes['from'])} to {_system(deletes['to'])}{_at(_where(deletes['span']))}; "
            f"a deletion in {_system(deletes['to'])} never reaches {_system(deletes['from'])}"
        )
    else:
        delete_text = "deletions are not synced in either direction"
    owner = pair.get("owner")
    owner_text = (
        f"records created in {_system(owner['system'])} without an owner are owned by {_value(owner['default'])}{_at(_where(owner['span']))}"
        if owner
        else "no owner rule"
    )
    empty_at = _span_at(pair["empty"]["span"])
    empty_text = (
        "empty values are skipped: never written, never shown"
        if pair["empty"]["policy"] == "skip"
        else "empty values are written (they blank the field on the other side)"
    ) + (_at(empty_at) if empty_at else " (the default)" if pair["empty"]["policy"] == "skip" else "")
    conflict_at = _span_at(pair["conflict"].get("span"))
    conflict_text = f"when both sides changed a field since the last sync, {_conflict(pair['conflict'])}" + (
        _at(conflict_at) if conflict_at else " (the default)"
    )
    required = [_required(r, pair) for r in pair["required"]]
    return {
        "id": pair["id"],
        "title": f"{names['left']} {_ARROWS[pair['direction']]} {names['right']}",
        "direction": _direction_words(pair),
        "at": _where(pair["span"]),
        "flows": flows,
        "pairing": pairing,
        "scope": scope,
        "filters": filters,
        "implicit_filters": implicit,
        "permissions": permissions,
        "deletes": delete_text,
        "owner": owner_text,
        "empty": empty_text,
        "conflict": conflict_text,
        "required": required,
    }


_ARROWS = {"both": "<->", "left_to_right": "->", "right_to_left": "<-"}


def _key_side(m: Mapping[str, Any]) -> Mapping[str, Any]:
    """The side a match key names first: the relation of a shorthand key (`match person`) stands
    on whichever side has it, with null on the other."""
    side: Mapping[str, Any] = m["left"] or m["right"]
    return side


def _required(r: Mapping[str, Any], pair: Mapping[str, Any]) -> dict[str, Any]:
    """A required field, with the lines that map it (written into it, or read from it)."""
    by = []
    for op in pair["fields"]:
        tgt, src = op["target"], (op.get("source") or {}).get("ref")
        if (tgt["system"], tgt["object"], tgt["path"][0]) == (r["system"], r["object"], r["field"]):
            how = "written on creation, implied by the match, from" if op.get("implied") else "written from"
            by.append(f"{how} {_value(op['source'])}{_at(_where(op['span']))}")
        elif src and (src["system"], src["object"], src["path"][0]) == (r["system"], r["object"], r["field"]):
            by.append(f"read into {_ref(tgt)}{_at(_where(op['span']))}")
    for m in match_keys(pair):
        for ref in (m.get("left"), m.get("right")):
            if ref and "system" in ref and (ref["system"], ref["object"], ref["path"][0]) == (r["system"], r["object"], r["field"]):
                by.append(f"a match key{_at(_where(m['span']))}")
    for f in pair["implicit_filters"]:
        if (f["side"], f["field"]) == (r["system"], r["field"]) and f.get("present"):
            by.append(f"records without it wait, unpaired ({f['rule']})")
    return {
        "system": r["system"],
        "object": r["object"],
        "field": r["field"],
        "seed": r.get("seed"),
        "satisfied": bool(by),
        "by": by,
        "text": f'{_system(r["system"])} {r["object"]} {r["field"]} ("{r.get("seed")}"): ' + ("; ".join(by) if by else "NOT mapped"),
    }


# ------------------------------------------------------------------ actions


def _action(a: Mapping[str, Any]) -> dict[str, Any]:
    steps = []
    for s in a["steps"]:
        target = f"{_system(s['target']['system'])} {s['target']['object']}"
        text = f"{s['verb']} {target}"
        if s.get("where"):
            text += f" where {_condition(s['where'])}"
        sets = [f"{'.'.join(w['target']['path'])} = {_value(w['value'])}" for w in s["set"]]
        steps.append(
            {
                "text": text,
                "sets": sets,
                "creates_person_if_missing": bool(s["creates_person_if_missing"]),
                "retried_blind": bool(s.get("idempotent")),
                "at": _where(s.get("span")),
            }
        )
    on = f"{_system(a['on']['system'])} {a['on']['object']}"
    return {
        "name": a["name"],
        "on": on,
        "creates_person_if_missing": bool(a["creates_person_if_missing"]),
        "steps": steps,
        "at": _where(a.get("span")),
    }


# ------------------------------------------------------------------ product rules


def _pairs_with(plan: Plan, system: str, obj: str) -> list[Mapping[str, Any]]:
    return [p for p in plan["pairs"] if any((p[k]["system"], p[k]["object"]) == (system, obj) for k in ("left", "right"))]


def _ops(plan: Plan) -> list[Mapping[str, Any]]:
    return [op for p in plan["pairs"] for op in p["fields"]]


def _sets(plan: Plan) -> list[tuple[Mapping[str, Any], Mapping[str, Any]]]:
    return [(a, w) for a in plan["actions"] for s in a["steps"] for w in s["set"]]


Finding = tuple[str, list[str]]


def _r1(plan: Plan, est: Estimate | None) -> Finding:
    persons = _pairs_with(plan, PIPEDRIVE, "Person")
    two_way = [p for p in persons if p["direction"] == "both"]
    if two_way:
        return HONOURED, [f"{p['id']}{_at(_where(p['span']))}" for p in two_way]
    return (NOT_USED, [f"{p['id']} is one-way{_at(_where(p['span']))}" for p in persons]) if persons else (NOT_USED, ["no Person pair"])


def _r2(plan: Plan, est: Estimate | None) -> Finding:
    where = []
    for p in plan["pairs"]:
        for s in p["scope"]:
            if s["toward"] == PIPEDRIVE:
                where.append(f"{p['id']}: {_only(s['condition'])} flow into Pipedrive{_at(_where(s['span']))}")
    creators = [a["name"] for a in plan["actions"] if a["creates_person_if_missing"]]
    if creators:
        where.append("or through an action that creates the person: " + ", ".join(creators))
    inbound = [
        p
        for p in plan["pairs"]
        if any(
            p[k]["system"] == PIPEDRIVE and p["direction"] in ("both", "right_to_left" if k == "left" else "left_to_right") for k in ("left", "right")
        )
    ]
    return (HONOURED if where else CHECKED if inbound else NOT_USED), where or ["nothing flows from Autopilot contacts into Pipedrive"]


def _r3(plan: Plan, est: Estimate | None) -> Finding:
    return ESTIMATE, [est.r3 if est else "see `syncmap explain FILE --records N`"]


def _r4(plan: Plan, est: Estimate | None) -> Finding:
    where = [
        f"{a['name']}: {'creates' if a['creates_person_if_missing'] else 'never creates'} the person if missing{_at(_where(a.get('span')))}"
        for a in plan["actions"]
    ]
    return (HONOURED if where else NOT_USED), where or ["no actions"]


def _runtime(what: str) -> Callable[[Plan, Estimate | None], Finding]:
    return lambda plan, est: (RUNTIME, [what])


def _r6(plan: Plan, est: Estimate | None) -> Finding:
    where = [
        f"{p['id']}: deletes {p['deletes']['from']} -> {p['deletes']['to']}{_at(_where(p['deletes']['span']))}"
        for p in plan["pairs"]
        if p.get("deletes")
    ]
    if where:
        return HONOURED, where + ["deletes toward Pipedrive are rejected by `check`"]
    return CHECKED, ["no deletions are synced; deletes toward Pipedrive are rejected by `check`"]


def _r7(plan: Plan, est: Estimate | None) -> Finding:
    where = []
    for p in plan["pairs"]:
        for s in p["scope"]:
            c = s["condition"]
            if (
                c.get("op") == "member"
                and s["toward"] == PIPEDRIVE
                and p["direction"] in ("both", "left_to_right" if p["left"]["system"] == PIPEDRIVE else "right_to_left")
            ):
                where.append(
                    f'list "{c["list"]}"{_at(_where(s["span"]))}: every {p["left"]["object"] if p["left"]["system"] == PIPEDRIVE else p["right"]["object"]} '
                    "synced out of Pipedrive joins it (run time)"
                )
    return (HONOURED, where) if where else (NOT_USED, ["no list scopes a pair that flows out of Pipedrive"])


def _r9(plan: Plan, est: Estimate | None) -> Finding:
    where = []
    for p in plan["pairs"]:
        if p.get("link"):
            where.append(
                f"{p['id']}: link {'.'.join(p['link']['left']['path'])} = {'.'.join(p['link']['right']['path'])}{_at(_span_at(p['link'].get('span')))}"
            )
        for m in match_keys(p):
            if "email" in {(m.get("left") or {}).get("type"), (m.get("right") or {}).get("type")}:
                where.append(f"{p['id']}: match by email{_at(_where(m['span']))}")
    return (HONOURED, where) if where else (NOT_USED, ["no link or email match"])


def _r10(plan: Plan, est: Estimate | None) -> Finding:
    skip = [f"{p['id']}: empty skip{_at(_span_at(p['empty']['span'])) or ' (default)'}" for p in plan["pairs"] if p["empty"]["policy"] == "skip"]
    other = [f"{p['id']}: empty {p['empty']['policy']}" for p in plan["pairs"] if p["empty"]["policy"] != "skip"]
    return (HONOURED if skip and not other else NOT_USED if other else CHECKED), skip + other


def _r11(plan: Plan, est: Estimate | None) -> Finding:
    where = [
        f"{p['id']}: link {_ref(p['link']['left'])} = {_ref(p['link']['right'])}{_at(_span_at(p['link'].get('span')))} "
        "(created if missing, written once)"
        for p in plan["pairs"]
        if p.get("link")
    ]
    return (HONOURED, where) if where else (NOT_USED, ["no link field"])


def _r13(plan: Plan, est: Estimate | None) -> Finding:
    where = [f"{p['id']}: owner default {_value(p['owner']['default'])}{_at(_where(p['owner']['span']))}" for p in plan["pairs"] if p.get("owner")]
    setters = [a["name"] for a, w in _sets(plan) if w["target"]["path"] == ["owner_id"]]
    if setters:
        where.append("an owner is set by " + ", ".join(dict.fromkeys(setters)))
    return (HONOURED, where) if where else (NOT_USED, ["no owner rule"])


def _r14(plan: Plan, est: Estimate | None) -> Finding:
    objects = sorted(
        {f"{p[k]['system']}.{p[k]['object']}" for p in plan["pairs"] for k in ("left", "right")}
        | {f"{s['target']['system']}.{s['target']['object']}" for a in plan["actions"] for s in a["steps"]}
    )
    return CHECKED, ["compiled against the catalogs: " + ", ".join(objects)]


def _r15(plan: Plan, est: Estimate | None) -> Finding:
    where = [
        f"{p['id']}: match {'.'.join(m['left']['path'])} = {'.'.join(m['right']['path'])}{_at(_where(m['span']))}"
        for p in plan["pairs"]
        for m in match_keys(p)
        if m.get("left") and m.get("right") and "marked_as_done_time" in (m["left"].get("path") or []) + (m["right"].get("path") or [])
    ]
    return (HONOURED, where) if where else (NOT_USED, ["no activity pairs with Autopilot activities"])


def _implicit(rule: str) -> Callable[[Plan, Estimate | None], Finding]:
    def find(plan: Plan, est: Estimate | None) -> Finding:
        where = [
            f"{p['id']}{_at(_where(p['span']))}: {f['field']} {'= ' + json.dumps(f['equals']) if 'equals' in f else 'must be set'} "
            f'(seed: "{f.get("seed")}")'
            for p in plan["pairs"]
            for f in p["implicit_filters"]
            if rule in f["rule"].split(",")
        ]
        return (HONOURED, where) if where else (NOT_USED, ["the mapping has no pair this applies to"])

    return find


def _r17(plan: Plan, est: Estimate | None) -> Finding:
    stage_of = {pid: s for s in plan["stages"] for pid in s["pairs"]}
    person = next((s for s in plan["stages"] if s["object"] == "pipedrive.Person"), None)
    where = []
    for p in _pairs_with(plan, PIPEDRIVE, "Activity"):
        rel = [m for m in match_keys(p) if m["kind"] == "relation"]
        stage = stage_of.get(p["id"])
        order = f"stage {stage['stage']}, after persons in stage {person['stage']}" if stage and person else "after persons"
        where.append(
            f"{p['id']}: matched through {_key_side(rel[0])['path'][-1]}{_at(_where(rel[0]['span']))}, {order}" if rel else f"{p['id']}: {order}"
        )
    return (HONOURED, where) if where else (NOT_USED, ["no activity pairs"])


def _r18(plan: Plan, est: Estimate | None) -> Finding:
    where = [
        f"{_value(op['source'])} in a sync{_at(_where(op['span']))}"
        for op in _ops(plan)
        if (op["target"]["system"], op["target"]["object"], op["target"]["path"]) == (PIPEDRIVE, "Activity", ["type"])
    ]
    where += [
        f"{_value(w['value'])} in {a['name']}{_at(_where(w['span']))}"
        for a, w in _sets(plan)
        if (w["target"]["system"], w["target"]["object"], w["target"]["path"]) == (PIPEDRIVE, "Activity", ["type"])
    ]
    if where:
        return HONOURED, [f"activity type {w}: one of {_ACTIVITY_TYPES}" for w in where]
    return NOT_USED, ["no activity type is written"]


def _r20(plan: Plan, est: Estimate | None) -> Finding:
    where = [
        f"{_field_op(op)['text']}{_at(_where(op['span']))}"
        for op in _ops(plan)
        if op["target"]["system"] == PIPEDRIVE and op["target"]["path"] == ["owner_id"]
    ]
    where += [
        f"{a['name']}: owner_id = {_value(w['value'])}{_at(_where(w['span']))}"
        for a, w in _sets(plan)
        if w["target"]["system"] == PIPEDRIVE and w["target"]["path"] == ["owner_id"]
    ]
    if where:
        return HONOURED, where + ["integer-typed at compile time; checked against /v1/users at run time"]
    return NOT_USED, ["no owner id is written to Pipedrive"]


def _r21(plan: Plan, est: Estimate | None) -> Finding:
    where = [
        f"{_field_op(op)['text']}{_at(_where(op['span']))}, as one full name"
        for op in _ops(plan)
        if (op.get("source") or {}).get("kind") == "field" and op["source"]["ref"]["path"] == ["owner", "name"]
    ]
    return (HONOURED, where) if where else (NOT_USED, ["the owner name is not mapped"])


def _r22(plan: Plan, est: Estimate | None) -> Finding:
    hits = [f"{w['message']}{_at(_where(w['span']))}" for w in plan["warnings"] if w["code"] == _ONE_TO_MANY_CODE]
    return (NOT_USED, hits) if hits else (CHECKED, ["no field is mapped over a one-to-many relation"])


def _r23(plan: Plan, est: Estimate | None) -> Finding:
    req = [_required(r, p) for p in plan["pairs"] for r in p["required"]]
    done = [r for r in req if r["satisfied"]]
    if not req:
        return NOT_USED, ["no object with required fields"]
    return (HONOURED if len(done) == len(req) else NOT_USED), [f"{len(done)} of {len(req)} required fields mapped (listed per pair)"]


_RULE_FINDERS: dict[str, Callable[[Plan, Estimate | None], Finding]] = {
    "R1": _r1,
    "R2": _r2,
    "R3": _r3,
    "R4": _r4,
    "R5": _runtime("dead letters with a reason; `status`, `retry`"),
    "R6": _r6,
    "R7": _r7,
    "R8": _runtime("webhooks in `serve`, polling as the fallback"),
    "R9": _r9,
    "R10": _r10,
    "R11": _r11,
    "R12": _runtime("the governor honours rate headers and retries; Pipedrive writes go one by one"),
    "R13": _r13,
    "R14": _r14,
    "R15": _r15,
    "R16": _implicit("R16"),
    "R17": _r17,
    "R18": _r18,
    "R19": _implicit("R19"),
    "R20": _r20,
    "R21": _r21,
    "R22": _r22,
    "R23": _r23,
}


# ------------------------------------------------------------------ the whole explanation


def explain_plan(plan: Plan, estimate: Estimate | None = None) -> dict[str, Any]:
    """Everything `syncmap explain` says about a plan, as plain data (JSON-ready)."""
    stages = []
    for s in plan["stages"]:
        system, _, obj = s["object"].partition(".")
        stages.append(
            {
                "stage": s["stage"],
                "object": f"{_system(system)} {obj}",
                "pairs": list(s["pairs"]),
                "note": "" if s["pairs"] else "read only, through a path",
            }
        )
    rules = []
    for rid, title in RULES.items():
        status, where = _RULE_FINDERS[rid](plan, estimate)
        rules.append({"rule": rid, "title": title, "status": status, "where": where})
    return {
        "mapping": plan["source"]["root"],
        "stages": stages,
        "pairs": [_pair(p) for p in plan["pairs"]],
        "actions": [_action(a) for a in plan["actions"]],
        "rules": rules,
        "warnings": [{"code": w["code"], "message": w["message"], "at": _where(w["span"])} for w in plan["warnings"]],
        "cost": estimate.as_json() if estimate is not None else None,
    }


def render_json(data: Mapping[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def render_human(data: Mapping[str, Any]) -> str:
    out: list[str] = [f"{data['mapping']}: what flows where", ""]
    out.append("Stages, in dependency order")
    for s in data["stages"]:
        out.append(f"  {s['stage']}. {s['object']}: " + (", ".join(s["pairs"]) or s["note"]))
    for p in data["pairs"]:
        out += ["", f"{p['title']}  ({p['direction']}, {p['at']})"]
        for flow in p["flows"]:
            out.append(f"  {flow['title']}")
            out += [f"    {op['text']}  [{op['at']}]" for op in flow["fields"]]
        out.append("  pairing:")
        out += [f"    {x}" for x in p["pairing"]] or ["    none"]
        if p["scope"]:
            out.append("  scope:")
            out += [f"    {x}" for x in p["scope"]]
        out.append("  filters:" + ("" if p["filters"] or p["implicit_filters"] else " none"))
        out += [f"    {x}" for x in p["filters"]]
        for f in p["implicit_filters"]:
            out.append(f"    {f['text']}")
            out.append(f'      seed: "{f["seed"]}"')
        out.append("  may write:")
        for name, perm in p["permissions"].items():
            if perm["receives"]:
                out.append(f"    {name}: creates {_yes(perm['creates'])}, updates {_yes(perm['updates'])}")
            else:
                out.append(f"    {name}: nothing flows in")
        out.append(f"  deletes: {p['deletes']}")
        out.append(f"  owner: {p['owner']}")
        out.append(f"  empty values: {p['empty']}")
        out.append(f"  conflicts: {p['conflict']}")
        if p["required"]:
            out.append("  required fields:")
            out += [f"    {'ok' if r['satisfied'] else 'MISSING'}  {r['text']}" for r in p["required"]]
    if data["actions"]:
        out += ["", "Actions (run per contact by a journey step; not part of a sync)"]
        for a in data["actions"]:
            out.append(f'  "{a["name"]}" on {a["on"]}  ({a["at"]}): creates the person if missing: {_yes(a["creates_person_if_missing"])}')
            for s in a["steps"]:
                out.append(f"    {s['text']}" + (": " + ", ".join(s["sets"]) if s["sets"] else ""))
    out += ["", "Product rules (DESIGN.md)"]
    for r in data["rules"]:
        out.append(f"  {r['rule']:<4} {r['status']:<9} {r['title']}")
        out += [f"       - {w}" for w in r["where"]]
    out += ["", "Warnings"]
    out += [f"  warning[{w['code']}]: {w['message']} ({w['at']})" for w in data["warnings"]] or ["  none"]
    if data.get("cost"):
        out += [""] + _render_cost(data["cost"])
    return "\n".join(out) + "\n"


def _render_cost(c: Mapping[str, Any]) -> list[str]:
    out = [
        f"Initial sync estimate: {c['records']:,} records per paired object; Pipedrive plan {c['pipedrive_plan']} "
        f"({c['pipedrive_burst_per_2s']} requests per 2 s, {c['pipedrive_daily_budget']:,} tokens a day for {c['seats']} "
        f"seat{'s' * (c['seats'] != 1)}); Autopilot {c['autopilot_rate']:g} requests/s"
    ]
    for system in sorted({x["system"] for x in c["calls"]}, key=lambda s: (s != PIPEDRIVE, s)):
        out.append(f"  {_system(system)}: {'requests':>9} {'tokens':>9}")
        for x in (x for x in c["calls"] if x["system"] == system):
            size = f", {x['per_request']} a request" if x["per_request"] and x["per_request"] > 1 else ""
            flow = f" [{x['direction']}]" if x["direction"] else ""
            out.append(
                f"    {x['requests']:>{len(_system(system)) + 7},} {x['tokens']:>9,}  {x['kind']:<5} {x['method']} {x['path']}: {x['what']}{size}{flow}"
            )
        total = c["totals"][system]
        out.append(f"    {total['requests']:>{len(_system(system)) + 7},} {total['tokens']:>9,}  total")
    binding = c["binding"]
    out.append(f"  least time the rate limits allow: {c['min_duration']}" + (f", bound by the {binding}" if binding else ""))
    for t in c["limits"]:
        mark = "  <- binds" if t["limit"] == binding else ""
        out.append(f"    {t['limit']:<30} {t['duration']:>12}   {t['detail']}{mark}")
    out.append(f"  {c['r3']}")
    out.append("  assumptions:")
    out += [f"    - {a}" for a in c["assumptions"]]
    if c["unverified"]:
        out.append("  unverified facts used:")
        out += [f"    - {u}" for u in c["unverified"]]
    if c["unknown"]:
        out.append("  no cost data for: " + ", ".join(c["unknown"]))
    return out
