"""Plan values, conditions and transforms evaluated on flat records: pure functions.

A record reaches the engine as a flat dict keyed by `ref_key(ref)` (e.g. `first_name`,
`email.primary`, `organization.name`, `custom:Lead score`, `person`), built by its connector.
Nothing here does I/O; the few things only the live account knows (who `me` is, a user id by
name, the clock) come in through `Context`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def ref_key(ref: Mapping[str, Any]) -> str:
    """The flat key a reference is read and written under."""
    if ref.get("kind") == "custom":
        custom = ref["custom"]
        # Autopilot's type is part of a custom field's identity; Pipedrive's key is per account.
        return f"custom:{custom['key'] or custom['name']}"
    return ".".join(ref["path"])


def is_empty(value: Any) -> bool:
    """R10: what counts as "no value": never shown, never written under `empty skip`."""
    if value is None:
        return True
    if isinstance(value, str):
        return value.strip() == ""
    if isinstance(value, (list, dict)):
        return not value
    return False


def normalize_for_compare(value: Any) -> Any:
    """Values of two APIs compare equal when they mean the same: 5 == 5.0 == "5", dates by day."""
    if is_empty(value):
        return None
    if isinstance(value, bool):
        return ("boolean", value)  # True is not the number 1
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip()
        if EMAIL.fullmatch(text):
            return text.casefold()  # both APIs treat addresses case-insensitively (R9)
        if re.fullmatch(r"-?\d+(\.\d+)?", text):
            return float(text)
        match = re.fullmatch(r"(\d{4}-\d{2}-\d{2})(?:[T ]00:00(?::00(?:\.0+)?)?(?:Z|[+-]00:?00)?)?", text)
        if match:
            return match.group(1)
        return text
    return value


def same(a: Any, b: Any) -> bool:
    return bool(normalize_for_compare(a) == normalize_for_compare(b))


def normalize_key(value: Any, steps: Iterable[str]) -> Any:
    """A match key's value, normalised as the plan says (`[trim, lowercase]` for email)."""
    if is_empty(value):
        return None
    text = str(value) if not isinstance(value, str) else value
    for step in steps:
        if step == "trim":
            text = text.strip()
        elif step == "lowercase":
            text = text.lower()
    return text


@dataclass
class Context:
    """What a value may need from the live accounts and the clock."""

    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC)
    me: dict[str, Any] = field(default_factory=dict)  # system -> the connecting user's id
    users_by_name: dict[str, dict[str, Any]] = field(default_factory=dict)  # system -> name -> id
    this_id: str | None = None  # the record an action runs for


def shifted(base: dt.datetime, shift: Mapping[str, Any] | None) -> dt.datetime:
    if not shift:
        return base
    amount = int(shift["amount"]) * (-1 if shift["sign"] == "-" else 1)
    unit = shift["unit"]
    if unit in ("days", "weeks", "hours", "minutes"):
        return base + dt.timedelta(**{unit: amount})
    months = amount * (12 if unit == "years" else 1)
    year, month0 = divmod(base.month - 1 + months, 12)
    year += base.year
    day = min(base.day, [31, 29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month0])
    return base.replace(year=year, month=month0 + 1, day=day)


def evaluate(value: Mapping[str, Any] | None, record: Mapping[str, Any], ctx: Context) -> Any:
    """A plan value (`kind` field, literal, format, clock, me, user, this, user_id, list)."""
    if value is None:
        return None
    kind = value["kind"]
    if kind == "field":
        return record.get(ref_key(value["ref"]))
    if kind == "literal":
        return value["value"]
    if kind == "format":
        fields = value["fields"]

        def fill(match: re.Match[str]) -> str:
            got = record.get(ref_key(fields[match.group(1)])) if match.group(1) in fields else None
            return "" if is_empty(got) else str(got)

        return re.sub(r"\{([^{}]+)\}", fill, value["template"]).strip()
    if kind == "clock":
        moment = shifted(ctx.now(), value.get("shift"))
        if value["base"] == "today":
            return moment.date().isoformat()
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
    if kind == "me":
        return ctx.me.get(value["system"])
    if kind == "user":
        return ctx.users_by_name.get(value["system"], {}).get(value["name"])
    if kind == "user_id":
        return value["value"]
    if kind == "this":
        return ctx.this_id
    if kind == "list":
        return [evaluate(item, record, ctx) for item in value["items"]]
    raise ValueError(f"the runtime cannot evaluate a value of kind {kind!r}")


def apply_transforms(value: Any, transforms: Iterable[Mapping[str, Any]], *, backwards: bool = False) -> Any:
    steps = list(transforms)
    for step in reversed(steps) if backwards else steps:
        if is_empty(value):
            return value
        name = step["name"]
        if name == "lowercase":
            value = str(value).lower()
        elif name == "uppercase":
            value = str(value).upper()
        elif name == "trim":
            value = str(value).strip()
        elif name == "map":
            pairs = [(b, a) for a, b in step["pairs"]] if backwards else step["pairs"]
            for source, target in pairs:
                if same(value, source):
                    value = target
                    break
    return value


def truth(
    condition: Mapping[str, Any],
    record: Mapping[str, Any],
    ctx: Context,
    *,
    member: Callable[[str, str], bool] | None = None,
    linked: bool | None = None,
) -> bool:
    """A plan condition on one record. `member(system, list)` answers list membership;
    `linked` whether the record is paired already (for `linked` / `new`)."""
    op = condition["op"]
    if op == "and":
        return all(truth(arg, record, ctx, member=member, linked=linked) for arg in condition["args"])
    if op == "or":
        return any(truth(arg, record, ctx, member=member, linked=linked) for arg in condition["args"])
    if op == "not":
        return not truth(condition["arg"], record, ctx, member=member, linked=linked)
    if op == "truthy":
        got = evaluate(condition["value"], record, ctx)
        return not is_empty(got) and got is not False and got != 0
    if op == "member":
        return bool(member and member(condition["system"], condition["list"]))
    if op == "linked":
        return bool(linked)
    if op == "new":
        return not linked
    if op == "in":
        got = evaluate(condition["value"], record, ctx)
        return any(same(got, evaluate(option, record, ctx)) for option in condition["options"])
    left = evaluate(condition["left"], record, ctx)
    right = evaluate(condition["right"], record, ctx)
    if op == "eq":
        return same(left, right)
    if op == "ne":
        return not same(left, right)
    a, b = normalize_for_compare(left), normalize_for_compare(right)
    if a is None or b is None:
        return False
    try:
        return bool({"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op])
    except TypeError:
        return False


def refs_in(node: Any) -> Iterable[Mapping[str, Any]]:
    """Every reference inside a plan value or condition (to know what a record must carry)."""
    if isinstance(node, Mapping):
        if node.get("kind") == "field" and "ref" in node:
            yield node["ref"]
        elif node.get("kind") == "format":
            yield from node["fields"].values()
        for key, child in node.items():
            if key not in ("ref", "fields"):
                yield from refs_in(child)
    elif isinstance(node, list):
        for child in node:
            yield from refs_in(child)
