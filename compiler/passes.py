"""How a plan's pairs run, decided from the plan and the system catalogs.

`syncmap run` makes these decisions (runtime/engine.py) and `syncmap explain` prices them
(compiler/cost.py); each is one function here, so what explain predicts cannot drift from what
run does, and a system's part in them is data in its catalog, not code:

- **Orientation.** A pass walks one side of a pair in chunks, from a cursor, and holds the
  other side's records (or a scope list's members) while it pairs and writes. The walked side
  must be an object whose API lists the records changed since a time (the catalog's
  `api.changes_since`, e.g. Pipedrive's `updated_since`). The author chose the order of a
  pair's sides for reading, not for the engine: a pair whose right side alone can be walked
  is mirrored when the plan is loaded (every side-keyed part swapped, nothing else; the pair
  keeps its id, so its state is the same whichever way the mapping wrote it).
- **Keyed writes.** An object the system writes by a key of its own (its identity's `dedupe`
  field where the API upserts, e.g. Autopilot contacts by `Email`) finds or creates the
  partner itself: a one-way push matched by that key alone reads nothing of that side first.
- **Lists.** A scope list on the held side is read as its members, not the whole collection
  (R2); where the catalog says such a list mirrors the partner (`list_mirrors_partner`, R7),
  every record synced out joins it.
- **Cardinality.** Objects joined by a link field (`link_field`, R11) are one entity on two
  systems, so each record pairs with at most one partner; other pairs may be many-to-one (the
  contacts of one company and its organization).
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from syncmap.compiler.catalog import CatalogError, load_catalog

SIDES = ("left", "right")
OTHER = {"left": "right", "right": "left"}
FLIP = {"left_to_right": "right_to_left", "right_to_left": "left_to_right", "both": "both"}


@dataclass(frozen=True)
class Traits:
    """What a pass needs to know of one object of one system, from its catalog."""

    changes_since: str | None = None  # the list route's parameter for "changed since a time"
    upsert_key: str | None = None  # the field the API writes records by, finding or creating them


@functools.cache
def traits(system: str, obj: str) -> Traits:
    try:
        spec = load_catalog(system).object(obj)
    except CatalogError:
        return Traits()  # a system without a shipped catalog: walked and written by id
    if spec is None:
        return Traits()
    upserts = any(key in spec.api for key in ("upsert", "bulk_upsert"))
    return Traits(
        changes_since=spec.api.get("changes_since"),
        upsert_key=spec.identity.dedupe[0] if upserts and spec.identity.dedupe else None,
    )


def walkable(side: Mapping[str, Any]) -> bool:
    return traits(side["system"], side["object"]).changes_since is not None


# -- orientation ------------------------------------------------------------------------------
def mirror(pair: Mapping[str, Any]) -> dict[str, Any]:
    """The same pair with its sides swapped: mirror(mirror(p)) == p."""
    turned = dict(pair)
    turned["left"], turned["right"] = pair["right"], pair["left"]
    turned["direction"] = FLIP[pair["direction"]]
    for policy in ("creates", "updates"):
        turned[policy] = {"left": pair[policy]["right"], "right": pair[policy]["left"]}
    if pair.get("link"):
        turned["link"] = {**pair["link"], "left": pair["link"]["right"], "right": pair["link"]["left"]}
    turned["match"] = [{**group, "keys": [{**key, "left": key["right"], "right": key["left"]} for key in group["keys"]]} for group in pair["match"]]
    turned["fields"] = _turned_fields(pair["fields"])
    if pair.get("mirrored"):
        turned.pop("mirrored")
    else:
        turned["mirrored"] = True
    return turned


def _turned_fields(fields: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each field operation flowing the other way. A two-way rule is two operations with one
    span and its transforms as written, which the right-to-left one applies backwards (last
    first, each value map read from value to key: runtime/diff.py). Turned round, each keeps
    what it did: its transforms become the other reading (reversed, each map inverted)."""
    halves = Counter(tuple(sorted(op["span"].items())) for op in fields)
    turned = []
    for op in fields:
        one = {**op, "direction": FLIP[op["direction"]]}
        if halves[tuple(sorted(op["span"].items()))] == 2:
            one["transforms"] = [{**t, "pairs": [[b, a] for a, b in t["pairs"]]} if t["name"] == "map" else t for t in reversed(op["transforms"])]
        turned.append(one)
    return turned


def faces_engine(pair: Mapping[str, Any]) -> bool:
    """Whether a pass can walk the pair's left side as written: a pair whose right side alone
    can be walked is turned; any other keeps the author's order."""
    return walkable(pair["left"]) or not walkable(pair["right"])


def orient(plan: Mapping[str, Any]) -> dict[str, Any]:
    """The plan with each pair facing the engine. Idempotent."""
    return {**plan, "pairs": [dict(p) if faces_engine(p) else mirror(p) for p in plan["pairs"]]}


# -- what a pass reads and writes -------------------------------------------------------------
def flows_into(pair: Mapping[str, Any], side: str) -> bool:
    """Whether the pair's direction carries values into `side`."""
    return pair["direction"] in ("both", "left_to_right" if side == "right" else "right_to_left")


def keyed_writes(pair: Mapping[str, Any], side: str) -> str | None:
    """The key writes into `side` are made by, when every match line pairs by that key alone:
    the write itself then finds (or creates) the partner and says which it was. None otherwise."""
    key = traits(pair[side]["system"], pair[side]["object"]).upsert_key
    if key is None or not pair["match"]:
        return None
    for group in pair["match"]:
        keys = group["keys"]
        if len(keys) != 1 or not isinstance(keys[0].get(side), Mapping) or keys[0][side].get("path") != [key]:
            return None
    return key


def reads_held_side(pair: Mapping[str, Any]) -> bool:
    """Whether a pass reads the held (right) side: not for a one-way push whose keyed writes pair."""
    return flows_into(pair, "left") or keyed_writes(pair, "right") is None


def scope_lists(pair: Mapping[str, Any], system: str | None = None) -> list[str]:
    """Titles of the lists that scope the pair (of one system's lists, given `system`), in order."""
    titles = []
    for scope in pair["scope"]:
        for node in plan_nodes(scope["condition"]):
            if node.get("op") == "member" and node.get("list") and (system is None or node.get("system") == system):
                titles.append(str(node["list"]))
    return titles


def roster_only(pair: Mapping[str, Any]) -> bool:
    """With `only autopilot.list("X") -> pipedrive`, records off the list never flow the other
    way, and what flows in is written by key: the held side is the list's members (R2)."""
    right = pair["right"]
    return bool(scope_lists(pair, right["system"])) and traits(right["system"], right["object"]).upsert_key is not None


def mirror_lists(pair: Mapping[str, Any]) -> list[str]:
    """R7: the scope lists that every record synced out of the walked side joins, where the held
    side's catalog says such a list mirrors that partner."""
    if pair["direction"] == "right_to_left":
        return []
    left, right = pair["left"], pair["right"]
    mirrors = any(
        rule.get("partner") == left["system"] and rule.get("partner_object") == left["object"]
        for rule in _rules(right["system"], "list_mirrors_partner", right["object"])
    )
    return scope_lists(pair, right["system"]) if mirrors else []


def one_to_one(pair: Mapping[str, Any]) -> bool:
    """Whether each record pairs with at most one partner: a pair kept by a link, or objects a
    link field joins (one entity on two systems, as a person and a contact are)."""
    if pair.get("link"):
        return True
    return any(
        rule.get("partner") == pair[OTHER[side]]["system"] and rule.get("partner_object") == pair[OTHER[side]]["object"]
        for side in SIDES
        for rule in _rules(pair[side]["system"], "link_field", pair[side]["object"])
    )


def _rules(system: str, kind: str, obj: str) -> list[Any]:
    try:
        return load_catalog(system).rules_of(kind, object=obj)
    except CatalogError:
        return []


def plan_nodes(node: Any) -> list[Mapping[str, Any]]:
    """Every mapping inside a part of a plan (refs, values, conditions), depth first."""
    found: list[Mapping[str, Any]] = []
    if isinstance(node, Mapping):
        found.append(node)
        for child in node.values():
            found.extend(plan_nodes(child))
    elif isinstance(node, list):
        for child in node:
            found.extend(plan_nodes(child))
    return found
