"""Which way a pair faces when the engine runs it.

A pass walks one side of a pair in chunks, from a cursor, and holds the other side's records
(or a scope list's roster) in memory while it pairs and writes: the walked side must be one
whose connector can list its records changed since a time (`Connector.changes_since`). The
mapping's author chose the order of the sides for reading, not for the engine, so a pair
written the other way round (`sync autopilot.Contact <-> pipedrive.Person`) is turned to face
the engine's way when the plan is loaded: every side-keyed part of the pair is mirrored, and
nothing else. The pair keeps its id, so its state (links, cursors, dead letters) is the same
whichever way it ran; `mirrored` says the sides were swapped, so what a run reports per
direction is turned back into the mapping's own words.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

FLIP = {"left_to_right": "right_to_left", "right_to_left": "left_to_right", "both": "both"}


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
    turned["fields"] = [{**op, "direction": FLIP[op["direction"]]} for op in pair["fields"]]
    if pair.get("mirrored"):
        turned.pop("mirrored")
    else:
        turned["mirrored"] = True
    return turned


def faces_engine(pair: Mapping[str, Any], walkable: Collection[str]) -> bool:
    """Whether the pass can walk the pair's left side as it stands: a pair whose right side
    alone can be walked is turned; any other pair keeps the author's order."""
    return pair["left"]["system"] in walkable or pair["right"]["system"] not in walkable


def orient(plan: Mapping[str, Any], walkable: Collection[str]) -> dict[str, Any]:
    """The plan with each pair facing the engine; `walkable` names the systems whose
    connectors list changes since a cursor. Idempotent: an oriented plan is returned equal."""
    return {**plan, "pairs": [dict(p) if faces_engine(p, walkable) else mirror(p) for p in plan["pairs"]]}
