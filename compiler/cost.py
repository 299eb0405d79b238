"""What an initial sync of a plan costs in API calls, and the least time the rate limits allow.

Pure: a plan and a record count in, an `Estimate` out; no network, clock or environment. The
numbers (page sizes, bulk size, per-plan burst limits, the daily token budget) are data in
`costs/limits.json`, each with its source; per-operation token costs come from the table the
runtime and the sandbox share (`token_costs.py`). Facts the references mark unverified can be
overridden by keyword (and by `syncmap explain` options).

The model, in one place (`Estimate.assumptions` says the same in words):

- every object a plan touches holds N records on its side, none paired yet (the worst case:
  every record read on one side needs a write on the other, in every direction the pair
  allows; creates where the target allows them, updates otherwise);
- reads page at the largest size; writes go one per request to Pipedrive and 100 per
  request to Autopilot; a link field is written back once per record created on the
  other side; lists are read page by page and joined per contact;
- Pipedrive's time is the larger of its burst window and its daily budget (k budgets take at
  least k-1 days), Autopilot's is requests / rate; both run at once, so the larger binds.
"""

from __future__ import annotations

import functools
import json
import math
from dataclasses import dataclass, field
from importlib import resources
from collections.abc import Iterable, Mapping
from typing import Any

from syncmap.compiler.token_costs import load_token_costs

__all__ = ["Call", "CostError", "Estimate", "LimitTime", "estimate", "format_duration", "load_limits", "match_keys", "plan_names"]

DAY = 86400.0
PIPEDRIVE, AUTOPILOT = "pipedrive", "autopilot"

BURST, BUDGET, RATE = "pipedrive burst window", "pipedrive daily token budget", "autopilot request rate"


class CostError(ValueError):
    """A bad argument (unknown plan, negative count) or a limits file without a needed fact."""


@functools.lru_cache(maxsize=1)
def load_limits() -> Mapping[str, Any]:
    """The shipped `costs/limits.json` (cached; treat it as read-only)."""
    text = resources.files("syncmap.compiler").joinpath("costs", "limits.json").read_text(encoding="utf-8")
    return json.loads(text)


def plan_names(limits: Mapping[str, Any] | None = None) -> list[str]:
    """The Pipedrive plans the limits file knows, older names first as the file lists them."""
    return list((limits or load_limits())[PIPEDRIVE]["plans"])


@dataclass(frozen=True)
class Call:
    """One kind of request: how many, for which records, and what Pipedrive charges for them."""

    system: str
    kind: str  # read | write | setup | list
    direction: str | None  # the flow it serves, e.g. "pipedrive → autopilot"; None for setup
    object: str | None
    what: str
    method: str
    path: str
    records: int | None  # records moved (None for one-off calls)
    per_request: int | None  # page or bulk size
    requests: int
    tokens_each: int
    pair: str | None = None

    @property
    def tokens(self) -> int:
        return self.requests * self.tokens_each

    def as_json(self) -> dict[str, Any]:
        return {
            "system": self.system, "kind": self.kind, "direction": self.direction, "object": self.object, "what": self.what,
            "method": self.method, "path": self.path, "records": self.records, "per_request": self.per_request,
            "requests": self.requests, "tokens_each": self.tokens_each, "tokens": self.tokens, "pair": self.pair,
        }


@dataclass(frozen=True)
class LimitTime:
    """The least time one limit allows for the requests it governs."""

    limit: str
    seconds: float
    detail: str

    def as_json(self) -> dict[str, Any]:
        return {"limit": self.limit, "seconds": self.seconds, "duration": format_duration(self.seconds), "detail": self.detail}


@dataclass(frozen=True)
class Estimate:
    records: int
    pipedrive_plan: str
    seats: int
    autopilot_rate: float
    burst: int
    daily_budget: int
    list_adds: str
    calls: tuple[Call, ...]
    limits: tuple[LimitTime, ...]
    budget_days: int
    budget_exceeded_from: int | None  # the smallest N whose Pipedrive tokens exceed one daily budget
    assumptions: tuple[str, ...]
    unverified: tuple[str, ...]
    unknown: tuple[str, ...] = field(default=())  # objects with no cost data (a third system)

    def requests(self, system: str) -> int:
        return sum(c.requests for c in self.calls if c.system == system)

    def tokens(self, system: str = PIPEDRIVE) -> int:
        return sum(c.tokens for c in self.calls if c.system == system)

    @property
    def binding(self) -> LimitTime | None:
        """The limit that takes longest (None when nothing needs any time)."""
        best = max(self.limits, key=lambda t: t.seconds, default=None)
        return best if best is not None and best.seconds > 0 else None

    @property
    def min_seconds(self) -> float:
        return max((t.seconds for t in self.limits), default=0.0)

    def totals(self) -> dict[str, dict[str, int]]:
        """Requests (and tokens) per system and kind of call."""
        out: dict[str, dict[str, int]] = {}
        for c in self.calls:
            t = out.setdefault(c.system, {"requests": 0, "tokens": 0})
            t["requests"] += c.requests
            t["tokens"] += c.tokens
            t[c.kind + "_requests"] = t.get(c.kind + "_requests", 0) + c.requests
        return out

    @property
    def r3(self) -> str:
        """How the estimate bears out R3 ("≥10k contacts: initial sync is slow because of API limits")."""
        binding = self.binding
        text = (f"R3 says an initial sync of 10,000 or more contacts is slow because of API limits: for {self.records:,} records "
                f"per object this mapping needs at least {format_duration(self.min_seconds)}")
        text += f", bound by the {binding.limit}" if binding else ""
        if self.budget_exceeded_from is not None:
            text += (f"; on this plan one day's Pipedrive budget ({self.daily_budget:,} tokens) runs out from about "
                     f"{self.budget_exceeded_from:,} records per object")
        return text

    def as_json(self) -> dict[str, Any]:
        binding = self.binding
        return {
            "records": self.records,
            "pipedrive_plan": self.pipedrive_plan,
            "seats": self.seats,
            "autopilot_rate": self.autopilot_rate,
            "pipedrive_burst_per_2s": self.burst,
            "pipedrive_daily_budget": self.daily_budget,
            "list_adds": self.list_adds,
            "calls": [c.as_json() for c in self.calls],
            "totals": self.totals(),
            "limits": [t.as_json() for t in self.limits],
            "binding": binding.limit if binding else None,
            "min_seconds": self.min_seconds,
            "min_duration": format_duration(self.min_seconds),
            "budget_days": self.budget_days,
            "budget_exceeded_from": self.budget_exceeded_from,
            "r3": self.r3,
            "assumptions": list(self.assumptions),
            "unverified": list(self.unverified),
            "unknown": list(self.unknown),
        }


def format_duration(seconds: float) -> str:
    """`0 s`, `42 s`, `5 min 34 s`, `2 h 5 min`, `3 days 2 h` (rounded up to the unit shown)."""
    s = math.ceil(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    if s < DAY:
        m = math.ceil(s / 60)
        return f"{m // 60} h {m % 60} min"
    h = math.ceil(s / 3600)
    days = h // 24
    return f"{days} day{'s' * (days != 1)} {h % 24} h"


# ------------------------------------------------------------------ the calls


def _arrow(a: str, b: str) -> str:
    return f"{a} → {b}"


def _flows(pair: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(source key, target key) for each direction the pair moves records in."""
    d = pair["direction"]
    return [(s, t) for s, t, on in (("left", "right", d in ("both", "left_to_right")), ("right", "left", d in ("both", "right_to_left"))) if on]


def _custom_refs(pair: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    for op in pair["fields"]:
        yield op["target"]
        src = op.get("source") or {}
        if src.get("kind") == "field":
            yield src["ref"]
    if pair.get("link"):
        yield pair["link"]["left"]
        yield pair["link"]["right"]
    for key in match_keys(pair):
        for side in ("left", "right"):
            if isinstance(key.get(side), Mapping) and "system" in key[side]:
                yield key[side]


def match_keys(pair: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """Every match key of a pair, over all its `match` lines (each line groups composite keys)."""
    return [key for line in pair["match"] for key in line.get("keys", [line])]


def _list_scopes(pair: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(list system, list name, partner system) for each `only SYSTEM.list("…") -> partner`."""
    out = []

    def walk(cond: Mapping[str, Any], toward: str) -> None:
        if cond.get("op") == "member" and cond.get("list"):
            out.append((cond["system"], cond["list"], toward))
        for sub in [*cond.get("args", ()), *([cond["arg"]] if "arg" in cond else [])]:
            walk(sub, toward)

    for s in pair["scope"]:
        walk(s["condition"], s["toward"])
    return out


class _Builder:
    def __init__(self, plan: Mapping[str, Any], records: int, limits: Mapping[str, Any], list_adds: str) -> None:
        self.plan, self.n, self.limits, self.list_adds = plan, records, limits, list_adds
        self.calls: list[Call] = []
        self.unknown: list[str] = []
        self.systems = sorted({p[k]["system"] for p in plan["pairs"] for k in ("left", "right")})
        self._once: set[tuple[str, str, str]] = set()

    # -------------------------------------------------------- data look-ups

    def sys(self, system: str) -> Mapping[str, Any] | None:
        return self.limits.get(system)

    def op(self, system: str, obj: str, name: str) -> Mapping[str, Any] | None:
        data = self.sys(system)
        return None if data is None else data.get("objects", {}).get(obj, {}).get(name)

    def value(self, system: str, name: str) -> Any:
        return self.limits[system][name]["value"]

    def tokens(self, system: str, op: Mapping[str, Any]) -> int:
        return load_token_costs().cost(op["method"], op["path"]) if system == PIPEDRIVE else 0

    def others(self, system: str) -> str:
        rest = [s for s in self.systems if s != system]
        return ", ".join(rest) or system

    def add(self, call: Call) -> None:
        self.calls.append(call)

    def once(self, system: str, op: Mapping[str, Any], what: str, obj: str | None = None) -> None:
        """A one-off setup call, counted once per plan however many pairs need it."""
        key = (system, op["method"], op["path"])
        if key in self._once:
            return
        self._once.add(key)
        self.add(Call(system, "setup", None, obj, what, op["method"], op["path"], None, None, 1, self.tokens(system, op)))

    # -------------------------------------------------------- reads

    def reads(self) -> None:
        order: list[tuple[str, str]] = []
        for stage in self.plan["stages"]:
            system, _, obj = stage["object"].partition(".")
            order.append((system, obj))
            for pid in stage["pairs"]:
                pair = self.pair_by_id(pid)
                order += [(pair["left"]["system"], pair["left"]["object"]), (pair["right"]["system"], pair["right"]["object"])]
        for p in self.plan["pairs"]:
            order += [(p["left"]["system"], p["left"]["object"]), (p["right"]["system"], p["right"]["object"])]
        seen: set[tuple[str, str]] = set()
        for system, obj in order:
            if (system, obj) not in seen:
                seen.add((system, obj))
                self.read(system, obj, seen)

    def pair_by_id(self, pid: str) -> Mapping[str, Any]:
        return next(p for p in self.plan["pairs"] if p["id"] == pid)

    def read_direction(self, system: str, obj: str) -> str:
        for p in self.plan["pairs"]:
            for s, t in _flows(p):
                if (p[s]["system"], p[s]["object"]) == (system, obj):
                    return _arrow(system, p[t]["system"])
        for p in self.plan["pairs"]:
            for s, t in _flows(p):
                if (p[t]["system"], p[t]["object"]) == (system, obj):
                    return _arrow(p[s]["system"], system)
        return _arrow(system, self.others(system))

    def read(self, system: str, obj: str, seen: set[tuple[str, str]]) -> None:
        data = self.sys(system)
        spec = None if data is None else data.get("objects", {}).get(obj)
        if spec is None or (spec.get("list") is None and spec.get("derived_from") is None):
            self.unknown.append(f"{system}.{obj}")
            return
        direction = self.read_direction(system, obj)
        paired = any((p[k]["system"], p[k]["object"]) == (system, obj) for p in self.plan["pairs"] for k in ("left", "right"))
        if spec.get("derived_from"):
            base = spec["derived_from"]
            if (system, base) not in seen:
                seen.add((system, base))
                self.read(system, base, seen)
            self.add(Call(system, "read", direction, obj, f"every {obj}, from the {base} records already read", "GET",
                          self.op(system, base, "list")["path"], self.n, None, 0, 0))
            return
        op = spec["list"]
        if op.get("one_off"):
            self.once(system, op, f"every {obj} (one page, no paging)", obj)
            return
        page = None if op.get("paged") is False else int(self.value(system, "page_size"))
        requests = 1 if page is None else max(1, math.ceil(self.n / page))
        what = f"every {obj}" if paired else f"every {obj} (read through a path)"
        self.add(Call(system, "read", direction, obj, what, op["method"], op["path"], self.n, page, requests, self.tokens(system, op)))

    # -------------------------------------------------------- writes

    def write(self, system: str, obj: str, verb: str, records: int, what: str, direction: str, pair: str) -> None:
        op = self.op(system, obj, verb)
        if op is None:
            self.unknown.append(f"{system}.{obj} ({verb})")
            return
        bulk = int(self.value(system, "bulk_write")) if op.get("bulk") or system == PIPEDRIVE else 1
        requests = math.ceil(records / bulk)
        self.add(Call(system, "write", direction, obj, what, op["method"], op["path"], records, bulk, requests, self.tokens(system, op), pair))

    def pairs(self) -> None:
        for p in self.plan["pairs"]:
            for s, t in _flows(p):
                target = p[t]
                if not (p["creates"][t] or p["updates"][t]):
                    continue
                verb = "create" if p["creates"][t] else "update"
                direction = _arrow(p[s]["system"], target["system"])
                what = (f"create the {target['object']} of every {p[s]['object']} (worst case: none exists yet)" if verb == "create"
                        else f"update the paired {target['object']} of every {p[s]['object']}")
                self.write(target["system"], target["object"], verb, self.n, what, direction, p["id"])
                self.link_write_back(p, s, t, direction)
            self.setup_for_pair(p)

    def link_write_back(self, p: Mapping[str, Any], s: str, t: str, direction: str) -> None:
        """The side that keeps the partner's id (R11) learns it only after the partner is created."""
        link = p.get("link")
        if not link or not p["creates"][t]:
            return
        keeper = link[s]
        if keeper.get("kind") != "custom" and (keeper.get("field") or {}).get("access") == "read_only":
            return  # the source side's own id: nothing to write back
        name = keeper["path"][-1]
        self.write(p[s]["system"], p[s]["object"], "update", self.n,
                   f"write the new partner id into {name} of every {p[s]['object']} (R11)", direction, p["id"])

    # -------------------------------------------------------- one-off calls and lists

    def setup(self) -> None:
        if PIPEDRIVE in self.systems and self.sys(PIPEDRIVE):
            self.once(PIPEDRIVE, self.limits[PIPEDRIVE]["operations"]["me"], "the connecting user (connection check, owner default)")

    def setup_for_pair(self, p: Mapping[str, Any]) -> None:
        pd = self.sys(PIPEDRIVE)
        for ref in _custom_refs(p):
            if ref.get("kind") == "custom":
                system, obj = ref["system"], ref["object"]
                if system == PIPEDRIVE and self.op(system, obj, "fields"):
                    self.once(system, self.op(system, obj, "fields"), f"{obj} field definitions (custom field keys)", obj)
                elif system == AUTOPILOT and self.sys(system):
                    self.once(system, self.limits[system]["operations"]["custom_fields"], "custom field definitions", obj)
        link = p.get("link")
        if link:
            for side in ("left", "right"):
                ref = link[side]
                if ref.get("kind") == "custom" and self.op(ref["system"], ref["object"], "field_create"):
                    self.once(ref["system"], self.op(ref["system"], ref["object"], "field_create"),
                              f"create the link field {ref['path'][-1]} (worst case: missing; R11)", ref["object"])
        if pd:
            for op in p["fields"]:
                tgt = op["target"]
                if tgt["system"] == PIPEDRIVE and tgt["path"] == ["owner_id"]:
                    self.once(PIPEDRIVE, pd["operations"]["users"], "every user (owner ids must exist, R20)", "User")
            for key in ("left", "right"):
                side = p[key]
                if side["system"] == PIPEDRIVE and side["object"] == "Activity" and p["creates"][key]:
                    self.once(PIPEDRIVE, pd["operations"]["activity_types"], "activity types (R18)", "Activity")
        for list_system, name, partner in _list_scopes(p):
            self.list_mirror(p, list_system, name, partner)

    def list_mirror(self, p: Mapping[str, Any], system: str, name: str, partner: str) -> None:
        data = self.sys(system)
        if data is None or "list_roster" not in data.get("operations", {}):
            self.unknown.append(f"{system} lists")
            return
        ops = data["operations"]
        self.once(system, ops["lists"], f'find the list "{name}"')
        self.once(system, ops["list_create"], f'create the list "{name}" (worst case: missing)')
        key = (system, "roster", name)
        if key not in self._once:
            self._once.add(key)
            page = int(self.value(system, "page_size"))
            self.add(Call(system, "list", _arrow(system, partner), None, f'members of "{name}" (worst case: all {self.n:,} contacts; R2)',
                          ops["list_roster"]["method"], ops["list_roster"]["path"], self.n, page, max(1, math.ceil(self.n / page)), 0, p["id"]))
        # R7: records of the partner created in this system join the list that mirrors them.
        side = "left" if p["left"]["system"] == system else "right"
        other = "right" if side == "left" else "left"
        if (other, side) not in _flows(p) or not p["creates"][side]:
            return
        key = (system, "adds", name)
        if key in self._once:
            return
        self._once.add(key)
        add = ops["list_add"]
        if self.list_adds == "in-upsert":
            self.add(Call(system, "list", _arrow(partner, system), None, f'join "{name}" via _autopilot_list in the bulk upsert (R7)',
                          "POST", self.op(system, p[side]["object"], "create")["path"], self.n, None, 0, 0, p["id"]))
        else:
            self.add(Call(system, "list", _arrow(partner, system), None, f'add each contact created from {partner} to "{name}" (R7)',
                          add["method"], add["path"], self.n, 1, self.n, 0, p["id"]))


def _calls(plan: Mapping[str, Any], records: int, limits: Mapping[str, Any], list_adds: str) -> tuple[list[Call], list[str]]:
    b = _Builder(plan, records, limits, list_adds)
    b.setup()
    b.reads()
    b.pairs()
    systems = {PIPEDRIVE: 0, AUTOPILOT: 1}
    kinds = {"setup": 0, "read": 1, "write": 2, "list": 3}
    calls = sorted(b.calls, key=lambda c: (systems.get(c.system, 2), c.system, kinds[c.kind]))  # stable: plan order within
    return calls, sorted(set(b.unknown))


def _pd_tokens(plan: Mapping[str, Any], records: int, limits: Mapping[str, Any], list_adds: str) -> int:
    return sum(c.tokens for c in _calls(plan, records, limits, list_adds)[0] if c.system == PIPEDRIVE)


def _threshold(plan: Mapping[str, Any], budget: int, limits: Mapping[str, Any], list_adds: str) -> int | None:
    """The smallest record count whose Pipedrive tokens exceed one day's budget (None: never)."""
    if _pd_tokens(plan, 0, limits, list_adds) > budget:
        return 0
    hi = 1
    while _pd_tokens(plan, hi, limits, list_adds) <= budget:
        if hi > 10**12:
            return None  # tokens do not grow with the record count
        hi *= 2
    lo = hi // 2
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        if _pd_tokens(plan, mid, limits, list_adds) > budget:
            hi = mid
        else:
            lo = mid
    return hi


# ------------------------------------------------------------------ the estimate


def _mapping_setting(plan: Mapping[str, Any], system: str, name: str) -> Any:
    """A constant the mapping's `connect` block gives (`plan = "essential"`), else None."""
    for conn in plan.get("connections", ()):
        if conn["system"] == system:
            return (conn["settings"].get(name) or {}).get("value")
    return None


def estimate(plan: Mapping[str, Any], records: int, *, pipedrive_plan: str | None = None, seats: int | None = None,
             autopilot_rate: float | None = None, burst: int | None = None, daily_budget: int | None = None,
             list_adds: str | None = None, limits: Mapping[str, Any] | None = None) -> Estimate:
    """The calls, tokens and least time of an initial sync of `records` records per paired object.

    The Pipedrive plan, seats and Autopilot rate come from the arguments, else from the
    mapping's `connect` settings (`plan`, `seats`, `rate`), else from the limits file
    ("advanced", 1 seat, 5 requests/s). `burst` (requests per 2 s), `daily_budget` (tokens)
    and `list_adds` ("per-contact" or "in-upsert") override unverified facts of the limits file.
    """
    pipedrive_plan = pipedrive_plan or _mapping_setting(plan, PIPEDRIVE, "plan")
    seats = seats if seats is not None else int(_mapping_setting(plan, PIPEDRIVE, "seats") or 1)
    if autopilot_rate is None and _mapping_setting(plan, AUTOPILOT, "rate") is not None:
        autopilot_rate = float(_mapping_setting(plan, AUTOPILOT, "rate"))
    data = limits if limits is not None else load_limits()
    pd, ap = data[PIPEDRIVE], data[AUTOPILOT]
    plan_name = (pipedrive_plan or pd["default_plan"]).lower()
    if plan_name not in pd["plans"]:
        raise CostError(f"unknown Pipedrive plan `{pipedrive_plan}` (known: {', '.join(pd['plans'])})")
    if records < 0 or seats < 1:
        raise CostError("records must be 0 or more and seats 1 or more")
    rate = float(autopilot_rate if autopilot_rate is not None else ap["rate_per_second"]["value"])
    adds = list_adds or ap["list_adds"]["value"]
    if rate <= 0 or adds not in ap["list_adds"]["choices"]:
        raise CostError(f"the Autopilot rate must be positive and list adds one of {', '.join(ap['list_adds']['choices'])}")
    tier = pd["plans"][plan_name]
    burst_limit = int(burst if burst is not None else tier["burst"]["value"])
    window = float(pd["burst_window_seconds"]["value"])
    budget = int(daily_budget if daily_budget is not None else pd["daily_budget_base"]["value"] * tier["multiplier"]["value"] * seats)
    if burst_limit <= 0 or budget <= 0:
        raise CostError("the burst limit and the daily budget must be positive")

    calls, unknown = _calls(plan, records, data, adds)
    pd_requests = sum(c.requests for c in calls if c.system == PIPEDRIVE)
    pd_tokens = sum(c.tokens for c in calls if c.system == PIPEDRIVE)
    ap_requests = sum(c.requests for c in calls if c.system == AUTOPILOT)
    days = math.ceil(pd_tokens / budget)
    limits_out = (
        LimitTime(BURST, pd_requests * window / burst_limit, f"{pd_requests:,} requests at {burst_limit} per {window:g} s ({plan_name}, api_token)"),
        LimitTime(BUDGET, max(0, days - 1) * DAY,
                  f"{pd_tokens:,} tokens of {budget:,} a day ({plan_name}, {seats} seat{'s' * (seats != 1)}): "
                  + ("fits in one day" if days <= 1 else f"{days} daily budgets, at least {days - 1} day{'s' * (days != 2)} of waiting for resets")),
        LimitTime(RATE, ap_requests / rate, f"{ap_requests:,} requests at {rate:g} per second"),
    )
    search = int(pd["search_burst"]["value"])
    assumptions = (
        f"{records:,} records exist on each side of every pair and in every object read through a path, none paired yet: "
        "every record read on one side needs a write on the other (worst case), in every direction the pair allows; "
        "a write creates where the target allows creates, else updates",
        "scopes and filters let every record through (worst case: every contact is on the list, every deal has its "
        "expected close date, every activity is done)",
        f"reads use the largest pages (Pipedrive {pd['page_size']['value']}, Autopilot {ap['page_size']['value']}); "
        "an empty collection still takes one request",
        f"Pipedrive has no bulk write (one request per record); Autopilot's POST /contacts takes {ap['bulk_write']['value']}",
        "records pair locally from the full reads (link field, then match keys), with no search calls: the search API "
        f"allows {search} requests per {window:g} s, so one search per record would take at least "
        f"{format_duration(records * window / search)}",
        "several pairs writing the same Autopilot contact are counted separately (an upper bound)",
        "a link field is written back once per record created on the other side (R11)",
        "one-off calls assume one page of field definitions, and that the link field and the list do not exist yet",
        "the whole daily token budget is free for syncmap (it is shared by every user and app of the company) and the "
        "sync starts just before the midnight reset, so k budgets take at least k-1 days",
        "Pipedrive and Autopilot are called at the same time; Pipedrive requests go as fast as its burst window allows "
        f"(api_token limits: an OAuth token gets {tier['burst_oauth']['value']} per {window:g} s)",
        "actions, deletes and webhooks are not part of an initial sync and are not counted",
    )
    unverified = []
    if autopilot_rate is None and ap["rate_per_second"]["unverified"]:
        unverified.append(f"Autopilot allows {rate:g} requests/s ({ap['rate_per_second']['source']}); override with --autopilot-rate")
    if burst is None and tier["burst"]["unverified"]:
        unverified.append(f"{plan_name} allows {burst_limit} requests per {window:g} s ({tier['burst']['source']}); override with --burst")
    if daily_budget is None and (pd["daily_budget_base"]["unverified"] or tier["multiplier"]["unverified"]):
        unverified.append(f"the daily budget is {pd['daily_budget_base']['value']:,} x {tier['multiplier']['value']} ({plan_name}) x {seats} "
                          f"seat{'s' * (seats != 1)} tokens ({tier['multiplier']['source']}); override with --daily-budget")
    if list_adds is None and ap["list_adds"]["unverified"]:
        unverified.append(f"list members are added {adds} ({ap['list_adds']['source']}); override with --list-adds")
    return Estimate(
        records=records, pipedrive_plan=plan_name, seats=seats, autopilot_rate=rate, burst=burst_limit, daily_budget=budget,
        list_adds=adds, calls=tuple(calls), limits=limits_out, budget_days=days,
        budget_exceeded_from=_threshold(plan, budget, data, adds) if any(c.system == PIPEDRIVE for c in calls) else None,
        assumptions=assumptions, unverified=tuple(unverified), unknown=tuple(unknown),
    )
