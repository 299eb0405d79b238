"""A compiled plan as a picture: systems, objects, relations, field flows, scopes, deletes, actions.

Pure. `plan_items` reads a plan (and the mapping texts its spans point into) into atomic
statements, each one arrow between two nodes labelled with the mapping's own words;
`graph_of` groups them into a `Graph` that `syncmap.compiler.graph_render` draws as Mermaid or
DOT; `changes` compares the statements of two plans, so a review sees what a mapping change
does to the flows.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

from syncmap.compiler.catalog import CatalogError, load_catalog
from syncmap.compiler.lower import plan_file_name

__all__ = ["Edge", "Graph", "Item", "Node", "changes", "graph_of", "plan_items", "plan_texts"]

Plan = Mapping[str, Any]

# Arrow heads of an edge: at the target only, at both ends, or none (a pairing, which has no direction).
FORWARD, BOTH, NONE = "forward", "both", "none"
ADDED, REMOVED = "added", "removed"

# What each kind of statement is, in the order edges are drawn.
KINDS = ("flow", "pairing", "scope", "filter", "delete", "relation", "trigger", "step")


class Item(NamedTuple):
    """One statement of the mapping as one arrow. `owner` (the pair id or action name) keeps two
    identical lines of different pairs apart when two plans are compared."""

    kind: str
    source: str  # node id: "pipedrive.Person", or "action:Add Deal"
    target: str
    arrow: str
    text: str
    owner: str = ""


class Node(NamedTuple):
    id: str
    label: tuple[str, ...]
    group: str | None  # the system whose box holds it; None for actions
    change: str | None = None


class Edge(NamedTuple):
    kind: str
    source: str
    target: str
    arrow: str
    lines: tuple[str, ...]
    change: str | None = None


class Graph(NamedTuple):
    title: str
    groups: tuple[tuple[str, str], ...]  # (system, its display name), in drawing order
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    empty: str = "nothing to draw"  # what the picture says when it has no edge at all


# ------------------------------------------------------------------ statements of a plan


def plan_texts(root: str, texts: Mapping[str, str]) -> dict[str, str]:
    """The mapping texts (`CompileResult.sources.texts`) keyed as the plan's spans name their
    files: relative to the root mapping's folder."""
    return {plan_file_name(name, root): text for name, text in texts.items()}


# A string (kept whole, `#` and all) or a comment (dropped): the first that matches wins.
_STRING_OR_COMMENT = re.compile(r'("(?:[^"\\]|\\.)*")|#.*$')


def _source_text(span: Mapping[str, Any] | None, texts: Mapping[str, str]) -> str | None:
    """What the mapping says at `span`, on one line: whitespace collapsed, comments dropped.
    None for a statement the mapping did not write (a default has no span); its place in the
    file when the text is not at hand, so a statement is never left out of the picture."""
    if not span:
        return None
    lines = texts.get(span["file"], "").splitlines()[span["line"] - 1 : span["end_line"]]
    if not lines:
        return f"{span['file']}:{span['line']}"
    if len(lines) == 1:
        lines[0] = lines[0][span["col"] - 1 : span["end_col"] - 1]
    else:
        lines[0], lines[-1] = lines[0][span["col"] - 1 :], lines[-1][: span["end_col"] - 1]
    kept = [_STRING_OR_COMMENT.sub(lambda m: m.group(1) or "", line) for line in lines]
    return " ".join(" ".join(kept).split())


def _node(ref: Mapping[str, Any]) -> str:
    return f"{ref['system']}.{ref['object']}"


def _sides(pair: Plan) -> dict[str, str]:
    return {
        "left": _node(pair["left"]),
        "right": _node(pair["right"]),
        pair["left"]["system"]: _node(pair["left"]),
        pair["right"]["system"]: _node(pair["right"]),
    }


def _pair_items(pair: Plan, texts: Mapping[str, str]) -> Iterator[Item]:
    side = _sides(pair)
    left, right, owner = side["left"], side["right"], pair["id"]
    ends = {"left_to_right": (left, right), "right_to_left": (right, left)}

    # A `<->` line is lowered to one operation per direction with the same span: one arrow.
    by_span: dict[tuple[tuple[str, Any], ...], list[Mapping[str, Any]]] = {}
    for op in pair["fields"]:
        if op.get("implied"):
            continue  # no line of its own: the match line is drawn as pairing below
        by_span.setdefault(tuple(sorted(op["span"].items())), []).append(op)
    for ops in by_span.values():
        line = _source_text(ops[0]["span"], texts) or ""
        if {op["direction"] for op in ops} == {"left_to_right", "right_to_left"}:
            yield Item("flow", left, right, BOTH, line, owner)
        else:
            yield Item("flow", *ends[ops[0]["direction"]], FORWARD, line, owner)

    for rule in (pair.get("link"), *pair["match"], pair.get("owner"), pair.get("empty"), pair.get("conflict")):
        text = _source_text((rule or {}).get("span"), texts)
        if text:
            yield Item("pairing", left, right, NONE, text, owner)
    for scope in pair["scope"]:
        toward = side[scope["toward"]]
        text = _source_text(scope.get("span"), texts)
        if text:
            yield Item("scope", right if toward == left else left, toward, FORWARD, text, owner)
    flow_ends = (left, right, BOTH) if pair["direction"] == "both" else (*ends[pair["direction"]], FORWARD)
    for where in pair["filters"]:
        text = _source_text(where.get("span"), texts)
        if text:
            yield Item("filter", *flow_ends, text, owner)
    deletes = pair.get("deletes")
    if deletes:
        yield Item("delete", side[deletes["from"]], side[deletes["to"]], FORWARD, _source_text(deletes.get("span"), texts) or "deletes", owner)


def _action_items(action: Plan, texts: Mapping[str, str]) -> Iterator[Item]:
    node, owner = f"action:{action['name']}", action["name"]
    yield Item("trigger", _node(action["on"]), node, FORWARD, "on", owner)
    for step in action["steps"]:
        target = _node(step["target"])
        header = (_source_text(step.get("span"), texts) or step["verb"]).split("{")[0].strip()
        yield Item("step", node, target, FORWARD, header, owner)
        for assignment in step["set"]:
            text = _source_text(assignment.get("span"), texts)
            if text:
                yield Item("step", node, target, FORWARD, text, owner)


def _walk_refs(value: Any) -> Iterator[Mapping[str, Any]]:
    """Every field reference anywhere in a plan piece (they carry `via`: the relations crossed)."""
    if isinstance(value, Mapping):
        if "via" in value and "system" in value and "object" in value:
            yield value
        for child in value.values():
            yield from _walk_refs(child)
    elif isinstance(value, list):
        for child in value:
            yield from _walk_refs(child)


def _relation_items(plan: Plan) -> Iterator[Item]:
    """The relations the mapping reads through (`organization.name`, `match person`), once each."""
    seen = set()
    for ref in _walk_refs([plan["pairs"], plan["actions"]]):
        here = ref["object"]
        for step in ref["via"]:
            item = Item("relation", f"{ref['system']}.{here}", f"{ref['system']}.{step['target']}", FORWARD, step["relation"])
            if item not in seen:
                seen.add(item)
                yield item
            here = step["target"]


def plan_items(plan: Plan, texts: Mapping[str, str]) -> list[Item]:
    """Every statement of `plan` worth drawing, labelled with the text of the mapping line it
    came from (`texts`: as `plan_texts` keys them)."""
    items: list[Item] = []
    for pair in plan["pairs"]:
        items.extend(_pair_items(pair, texts))
    for action in plan["actions"]:
        items.extend(_action_items(action, texts))
    items.extend(_relation_items(plan))
    return items


# ------------------------------------------------------------------ statements to a graph


def _system_name(system: str) -> str:
    try:
        return load_catalog(system).display_name
    except CatalogError:
        return system.capitalize()


def _objects(plan: Plan) -> list[str]:
    """Every object the plan touches, the staged ones first, in stage order."""
    staged = [stage["object"] for stage in plan.get("stages", [])]
    sides = [_node(pair[s]) for pair in plan["pairs"] for s in ("left", "right")]
    acted = [_node(r) for action in plan["actions"] for r in (action["on"], *(step["target"] for step in action["steps"]))]
    return list(dict.fromkeys(staged + sides + acted))


def _node_for(node_id: str, actions: Mapping[str, Plan], change: str | None) -> Node:
    if node_id.startswith("action:"):
        action = actions[node_id]
        label = (f'action "{action["name"]}"',) + (("creates the person if missing",) if action["creates_person_if_missing"] else ())
        return Node(node_id, label, None, change)
    system, _, obj = node_id.partition(".")
    return Node(node_id, (obj,), system, change)


def _group(items: Iterable[tuple[Item, str | None]]) -> tuple[Edge, ...]:
    """One edge per kind, ends, arrow and change, its lines in the order the mapping gives them."""
    lines: dict[tuple[str, str, str, str, str | None], list[str]] = {}
    for item, change in items:
        key = (item.kind, item.source, item.target, item.arrow, change)
        if item.text not in lines.setdefault(key, []):
            lines[key].append(item.text)
    order = {kind: n for n, kind in enumerate(KINDS)}
    keys = sorted(lines, key=lambda k: order[k[0]])  # stable: the mapping's order within a kind
    return tuple(Edge(*key[:4], tuple(lines[key]), key[4]) for key in keys)


def _build(
    title: str,
    marked: list[tuple[Item, str | None]],
    objects: list[str],
    actions: Mapping[str, Plan],
    node_change: Mapping[str, str],
    *,
    every_object: bool,
    empty: str,
) -> Graph:
    ends = [end for item, _ in marked for end in (item.source, item.target)]
    wanted = objects if every_object else [o for o in objects if o in ends or o in node_change]
    node_ids = list(dict.fromkeys(wanted + ends))
    nodes = tuple(_node_for(n, actions, node_change.get(n)) for n in node_ids)
    systems = list(dict.fromkeys(n.group for n in nodes if n.group))
    return Graph(title, tuple((s, _system_name(s)) for s in systems), nodes, _group(marked), empty)


def _actions(plan: Plan) -> dict[str, Plan]:
    return {f"action:{a['name']}": a for a in plan["actions"]}


def graph_of(plan: Plan, texts: Mapping[str, str], title: str = "") -> Graph:
    """The whole mapping as one graph."""
    marked: list[tuple[Item, str | None]] = [(item, None) for item in plan_items(plan, texts)]
    return _build(title, marked, _objects(plan), _actions(plan), {}, every_object=True, empty="nothing syncs")


def changes(old: Plan, old_texts: Mapping[str, str], new: Plan, new_texts: Mapping[str, str], title: str = "") -> Graph:
    """What going from `old` to `new` does: statements only one of them has, marked added or
    removed (a line whose direction, transform or words changed is one of each), and the objects
    and actions that appear or disappear. Unchanged statements are left out; no change at all
    gives a graph without edges."""
    before, after = plan_items(old, old_texts), plan_items(new, new_texts)
    gone, came = set(before) - set(after), set(after) - set(before)
    marked: list[tuple[Item, str | None]] = [(item, REMOVED) for item in before if item in gone]
    marked += [(item, ADDED) for item in after if item in came]
    old_nodes = set(_objects(old)) | set(_actions(old))
    new_nodes = set(_objects(new)) | set(_actions(new))
    node_change = dict.fromkeys(new_nodes - old_nodes, ADDED) | dict.fromkeys(old_nodes - new_nodes, REMOVED)
    return _build(
        title,
        marked,
        _objects(new) + _objects(old),
        {**_actions(old), **_actions(new)},
        node_change,
        every_object=False,
        empty="no change to what flows",
    )
