"""`syncmap graph`'s pictures: what each shipped mapping's picture must hold, written out by hand
from the mappings, checked in the graph and read back from both the Mermaid and the DOT text.

An expectation is (kind, from, arrow, to, line): `line` is the mapping's own line, on an edge of
that kind between those two nodes whose heads are `arrow` ("->": at `to`, "<->": both ends,
"-": none).
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pydot
import pytest

from syncmap.compiler.api import compile_plan
from syncmap.compiler.graph import Graph, changes, graph_of, plan_texts
from syncmap.compiler.graph_render import render_dot, render_mermaid

ROOT = Path(__file__).resolve().parents[2]
P, A = "pipedrive", "autopilot"

ACTIONS = [
    ("trigger", f"{A}.Contact", "->", "action:Add Deal", "on"),
    ("step", "action:Add Deal", "->", f"{P}.Deal", "create pipedrive.Deal"),
    ("step", "action:Add Deal", "->", f"{P}.Deal", 'title = "{FirstName} {LastName}"'),
    ("step", "action:Add Deal", "->", f"{P}.Deal", "person = this"),
    ("step", "action:Add Deal", "->", f"{P}.Deal", "expected_close_date = today + 30 days"),
    ("trigger", f"{A}.Contact", "->", "action:Assign Person Owner", "on"),
    ("step", "action:Assign Person Owner", "->", f"{P}.Person", "upsert pipedrive.Person"),
    ("step", "action:Assign Person Owner", "->", f"{P}.Person", 'owner_id = custom("Pipedrive Owner ID", integer)'),
    ("trigger", f"{A}.Contact", "->", "action:Schedule Activity", "on"),
    ("step", "action:Schedule Activity", "->", f"{P}.Activity", "create pipedrive.Activity"),
    ("step", "action:Schedule Activity", "->", f"{P}.Activity", 'type = "call"'),
    ("step", "action:Schedule Activity", "->", f"{P}.Activity", "due_date = today + 2 days"),
    ("trigger", f"{A}.Contact", "->", "action:Update Pipedrive Field", "on"),
    ("step", "action:Update Pipedrive Field", "->", f"{P}.Person", "update pipedrive.Person"),
    ("step", "action:Update Pipedrive Field", "->", f"{P}.Person", 'custom("Lead score") = custom("Lead Score", integer)'),
    ("trigger", f"{A}.Contact", "->", "action:Update Deal Stage", "on"),
    ("step", "action:Update Deal Stage", "->", f"{P}.Deal", "update pipedrive.Deal where person = this"),
    ("step", "action:Update Deal Stage", "->", f"{P}.Deal", 'stage = "Negotiation"'),
]
PERSON_PAIRING = [
    ("pairing", f"{P}.Person", "-", f"{A}.Contact", 'link pipedrive.custom("apId") = autopilot.contact_id'),
    ("pairing", f"{P}.Person", "-", f"{A}.Contact", "match email.primary = Email"),
    ("pairing", f"{P}.Person", "-", f"{A}.Contact", "owner default pipedrive.me"),
    ("pairing", f"{P}.Person", "-", f"{A}.Contact", "empty skip"),
    ("pairing", f"{P}.Person", "-", f"{A}.Contact", "conflict newest"),
    ("scope", f"{A}.Contact", "->", f"{P}.Person", 'only autopilot.list("Pipedrive Contacts") -> pipedrive'),
    ("delete", f"{P}.Person", "->", f"{A}.Contact", "deletes pipedrive -> autopilot"),
]
PIPEDRIVE_RELATIONS = [
    ("relation", f"{P}.Person", "->", f"{P}.Organization", "organization"),
    ("relation", f"{P}.Person", "->", f"{P}.User", "owner"),
    ("relation", f"{P}.Deal", "->", f"{P}.Person", "person"),
    ("relation", f"{P}.Activity", "->", f"{P}.Person", "person"),
]

AUTOPILOT = {
    "flows": [
        ("flow", f"{P}.Person", "<->", f"{A}.Contact", "first_name <-> FirstName"),
        ("flow", f"{P}.Person", "<->", f"{A}.Contact", "last_name <-> LastName"),
        ("flow", f"{P}.Person", "<->", f"{A}.Contact", "email.primary <-> Email"),
        ("flow", f"{P}.Person", "<->", f"{A}.Contact", "phone.primary <-> Phone"),
        ("flow", f"{P}.Person", "->", f"{A}.Contact", "organization.name -> Company"),
        ("flow", f"{P}.Person", "->", f"{A}.Contact", "owner.name -> owner_name"),
    ],
    "rest": PERSON_PAIRING + PIPEDRIVE_RELATIONS + ACTIONS,
}

FIVE_OBJECTS = {
    "flows": [
        ("flow", f"{P}.Person", "<->", f"{A}.Contact", "first_name <-> FirstName"),
        ("flow", f"{P}.Person", "<->", f"{A}.Contact", "last_name <-> LastName"),
        ("flow", f"{P}.Person", "<->", f"{A}.Contact", "email.primary <-> Email"),
        ("flow", f"{P}.Person", "<->", f"{A}.Contact", "phone.primary <-> Phone"),
        ("flow", f"{P}.Person", "<->", f"{A}.Contact", 'custom("Lead score") <-> custom("Lead Score", integer) conflict pipedrive wins'),
        ("flow", f"{P}.Person", "->", f"{A}.Contact", "owner.name -> owner_name"),
        ("flow", f"{P}.Person", "->", f"{A}.Contact", "organization.name -> Company"),
        ("flow", f"{A}.Contact", "->", f"{P}.Person", 'owner_id <- custom("Pipedrive Owner ID", integer)'),
        ("flow", f"{A}.Contact", "->", f"{P}.Organization", "name <- Company with trim"),
        ("flow", f"{P}.Deal", "->", f"{A}.Contact", 'title -> custom("Open Deal", string)'),
        ("flow", f"{P}.Deal", "->", f"{A}.Contact", 'value -> custom("Open Deal Value", float)'),
        ("flow", f"{P}.Deal", "->", f"{A}.Contact", 'expected_close_date -> custom("Expected Close", date)'),
        (
            "flow",
            f"{P}.Deal",
            "->",
            f"{A}.Contact",
            'status -> custom("Deal Status", string) with map { "open" = "Open", "won" = "Customer", "lost" = "Lost" }',
        ),
        ("flow", f"{A}.Contact", "->", f"{P}.Deal", 'probability <- custom("Deal Probability", integer)'),
        ("flow", f"{P}.Activity", "->", f"{A}.Contact", 'subject -> custom("Last Activity", string)'),
        ("flow", f"{P}.Activity", "->", f"{A}.Contact", 'marked_as_done_time -> custom("Last Activity At", date)'),
        ("flow", f"{A}.Activity", "->", f"{P}.Activity", 'default type = "email"'),
        ("flow", f"{A}.Activity", "->", f"{P}.Activity", "person <- contact"),
        ("flow", f"{A}.Activity", "->", f"{P}.Activity", "marked_as_done_time <- occurred_at"),
        ("flow", f"{A}.Activity", "->", f"{P}.Activity", 'subject <- "Autopilot: {kind}"'),
        ("flow", f"{A}.Activity", "->", f"{P}.Activity", "done = true"),
    ],
    "rest": PERSON_PAIRING
    + PIPEDRIVE_RELATIONS
    + ACTIONS
    + [
        ("relation", f"{A}.Activity", "->", f"{A}.Contact", "contact"),
        ("pairing", f"{P}.Organization", "-", f"{A}.Contact", "match name = Company"),
        ("scope", f"{A}.Contact", "->", f"{P}.Organization", 'only autopilot.list("Pipedrive Contacts") -> pipedrive'),
        ("filter", f"{A}.Contact", "->", f"{P}.Organization", "where Company != null"),
        ("pairing", f"{P}.Deal", "-", f"{A}.Contact", "match person"),
        ("scope", f"{A}.Contact", "->", f"{P}.Deal", "only linked -> pipedrive"),
        ("filter", f"{P}.Deal", "<->", f"{A}.Contact", "where expected_close_date != null"),
        ("pairing", f"{P}.Activity", "-", f"{A}.Contact", "match person"),
        ("filter", f"{P}.Activity", "->", f"{A}.Contact", "where done"),
        ("pairing", f"{P}.Activity", "-", f"{A}.Activity", "match person = contact, marked_as_done_time = occurred_at"),
        ("scope", f"{A}.Activity", "->", f"{P}.Activity", "only new -> pipedrive"),
    ],
}
SHIPPED = {"autopilot.syncmap": AUTOPILOT, "five-objects.syncmap": FIVE_OBJECTS}
HEADS = {"forward": "->", "both": "<->", "none": "-"}


def picture(path: Path) -> tuple[Graph, dict]:
    result = compile_plan(str(path))
    assert result.plan is not None
    return graph_of(result.plan, plan_texts(result.sources.root, result.sources.texts), path.name), result.plan


def statements(graph: Graph) -> set[tuple[str, str, str, str, str]]:
    return {(e.kind, e.source, HEADS[e.arrow], e.target, line) for e in graph.edges for line in e.lines}


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_every_statement_of_a_shipped_mapping_is_drawn_with_its_arrow(name: str) -> None:
    graph, _ = picture(ROOT / "mappings" / name)
    drawn = statements(graph)
    expected = SHIPPED[name]
    assert set(expected["flows"]) | set(expected["rest"]) <= drawn
    # and no field flow more or less than the mapping has
    assert {s for s in drawn if s[0] == "flow"} == set(expected["flows"])


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_systems_objects_and_actions_are_nodes(name: str) -> None:
    graph, plan = picture(ROOT / "mappings" / name)
    nodes = {n.id: n for n in graph.nodes}
    assert graph.groups == (("pipedrive", "Pipedrive"), ("autopilot", "Autopilot"))
    for obj in ("User", "Organization", "Person", "Deal", "Activity"):
        assert nodes[f"{P}.{obj}"].group == P and nodes[f"{P}.{obj}"].label == (obj,)
    assert nodes[f"{A}.Contact"].group == A
    creating = {"Add Deal", "Assign Person Owner", "Schedule Activity"}
    for action in plan["actions"]:
        node = nodes[f"action:{action['name']}"]
        assert node.group is None and node.label[0] == f'action "{action["name"]}"'
        assert ("creates the person if missing" in node.label) == (action["name"] in creating)


def test_every_field_line_of_a_plan_is_one_flow_line() -> None:
    # The plan splits each `<->` line into two operations with one span: one line in the picture.
    for name in SHIPPED:
        graph, plan = picture(ROOT / "mappings" / name)
        spans = {tuple(op["span"].values()) for pair in plan["pairs"] for op in pair["fields"]}
        assert sum(len(e.lines) for e in graph.edges if e.kind == "flow") == len(spans)


def test_a_match_key_written_on_creation_is_drawn_once_as_the_match_line() -> None:
    # The implied write of a match key has the key's span and no line of its own: the picture
    # shows the `match` line as pairing, and no flow besides the block's rules.
    graph, plan = picture(ROOT / "tests" / "cases" / "valid" / "required-by-match-key.syncmap")
    assert [op["implied"] for op in plan["pairs"][0]["fields"]] == [False, True]
    drawn = statements(graph)
    assert {s for s in drawn if s[0] == "flow"} == {("flow", f"{A}.Contact", "->", f"{P}.Person", "last_name <- LastName")}
    assert ("pairing", f"{P}.Person", "-", f"{A}.Contact", "match first_name = FirstName, last_name = LastName") in drawn


# ------------------------------------------------------------------ read back from the text

# What a reader sees: the stroke and heads of each kind of statement (docs/graph.md's table).
MERMAID_LINKS = {
    ("flow", "<->"): "<-->",
    ("flow", "->"): "-->",
    ("pairing", "-"): "---",
    ("scope", "->"): "-.->",
    ("filter", "->"): "-.->",
    ("filter", "<->"): "<-.->",
    ("delete", "->"): "==>",
    ("relation", "->"): "-.->",
    ("trigger", "->"): "-.->",
    ("step", "->"): "-->",
}
MERMAID_NODE = re.compile(r'^\s*(\w+)(?:\["(.*)"\]|\[/"(.*)"/\])$')
MERMAID_EDGE = re.compile(r'^\s*(\w+) (<?[-.=]+>?)\|"(.*)"\| (\w+)$')
ENTITIES = {"#quot;": '"', "#lt;": "<", "#gt;": ">", "#amp;": "&", "#35;": "#"}


def _unmermaid(text: str) -> str:
    return re.sub(r"#\w+;", lambda m: ENTITIES[m.group(0)], text)


def read_mermaid(text: str) -> set[tuple[str, str, str, str]]:
    """(from, link, to, line) for every label line, nodes named as the graph names them."""
    names, system, out = {}, None, set()
    for line in text.splitlines():
        if line.strip().startswith("subgraph "):
            system = line.split()[1].removeprefix("system_")
        elif line.strip() == "end":
            system = None
        elif node := MERMAID_NODE.match(line):
            box, action = node.group(2), node.group(3)
            names[node.group(1)] = f"{system}.{_unmermaid(box)}" if box is not None else "action:" + _unmermaid(action).split('"')[1]
        elif edge := MERMAID_EDGE.match(line):
            for label_line in edge.group(3).split("<br/>"):
                out.add((names[edge.group(1)], edge.group(2), names[edge.group(4)], _unmermaid(label_line)))
    return out


DOT_DIRS = {"->": "forward", "<->": "both", "-": "none"}


def read_dot(text: str) -> set[tuple[str, str, str, str, str]]:
    """(from, dir, style, to, line) for every label line, parsed by pydot."""
    with warnings.catch_warnings():  # pydot still calls pyparsing's old camelCase names
        warnings.simplefilter("ignore", DeprecationWarning)
        (graph,) = pydot.graph_from_dot_data(text)
    out = set()
    for edge in graph.get_edges():
        attrs = edge.get_attributes()
        label = attrs["label"][1:-1]
        lines = [line.replace('\\"', '"').replace("\\\\", "\\") for line in label.split("\\l") if line]
        for line in lines:
            out.add((edge.get_source().strip('"'), attrs["dir"], attrs.get("style", "solid"), edge.get_destination().strip('"'), line))
    return out


DOT_STYLES = {
    "flow": "solid",
    "pairing": "dashed",
    "scope": "dotted",
    "filter": "dotted",
    "delete": "bold",
    "relation": "dashed",
    "trigger": "dotted",
    "step": "solid",
}


# The committed pictures of docs/graph.md (tests/compiler/test_plan.py keeps them current).
@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_mermaid_text_draws_every_statement_with_its_link(name: str) -> None:
    drawn = read_mermaid((ROOT / "docs" / "graphs" / name.replace(".syncmap", ".mmd")).read_text(encoding="utf-8"))
    for kind, source, heads, target, line in SHIPPED[name]["flows"] + SHIPPED[name]["rest"]:
        assert (source, MERMAID_LINKS[(kind, heads)], target, line) in drawn


@pytest.mark.parametrize("name", sorted(SHIPPED))
def test_dot_text_parses_and_draws_every_statement_with_its_direction(name: str) -> None:
    drawn = read_dot((ROOT / "docs" / "graphs" / name.replace(".syncmap", ".dot")).read_text(encoding="utf-8"))
    for kind, source, heads, target, line in SHIPPED[name]["flows"] + SHIPPED[name]["rest"]:
        assert (source, DOT_DIRS[heads], DOT_STYLES[kind], target, line) in drawn


def test_labels_that_look_like_syntax_are_escaped() -> None:
    from syncmap.compiler.graph import Edge, Node

    tricky = 'say "hi" #1 <b> & a\\b'
    graph = Graph(
        "t",
        (("pipedrive", "Pipedrive"),),
        (Node("pipedrive.Person", ("Person",), "pipedrive"),),
        (Edge("flow", "pipedrive.Person", "pipedrive.Person", "forward", (tricky,)),),
    )
    assert ("pipedrive.Person", "-->", "pipedrive.Person", tricky) in read_mermaid(render_mermaid(graph))
    assert ("pipedrive.Person", "forward", "solid", "pipedrive.Person", tricky) in read_dot(render_dot(graph))


# ------------------------------------------------------------------ --changes

OLD = """\
syncmap 1

connect pipedrive {
  token = env("PIPEDRIVE_API_TOKEN")
}

connect autopilot {
  key = env("AUTOPILOT_API_KEY")
}

sync pipedrive.Person <-> autopilot.Contact {
  link pipedrive.custom("apId") = autopilot.contact_id
  match email.primary = Email
  only autopilot.list("Pipedrive Contacts") -> pipedrive
  deletes pipedrive -> autopilot

  first_name    <-> FirstName
  last_name     <-> LastName
  email.primary <-> Email
  phone.primary <-> Phone
}
"""


def _plan(tmp_path: Path, name: str, text: str) -> tuple[dict, dict]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    result = compile_plan(str(path))
    assert result.plan is not None, result.diagnostics
    return result.plan, plan_texts(result.sources.root, result.sources.texts)


def test_changes_show_only_what_was_added_and_removed(tmp_path: Path) -> None:
    new = (
        OLD.replace("  phone.primary <-> Phone", "  phone.primary  -> Phone\n  organization.name -> Company")
        .replace("  deletes pipedrive -> autopilot\n", "")
        .replace("last_name     <-> LastName", "last_name <-> LastName with trim")
    )
    graph = changes(*_plan(tmp_path, "old.syncmap", OLD), *_plan(tmp_path, "new.syncmap", new))
    drawn = {(e.kind, e.source, HEADS[e.arrow], e.target, e.change, line) for e in graph.edges for line in e.lines}
    assert drawn == {
        ("flow", f"{P}.Person", "<->", f"{A}.Contact", "removed", "phone.primary <-> Phone"),
        ("flow", f"{P}.Person", "->", f"{A}.Contact", "added", "phone.primary -> Phone"),
        ("flow", f"{P}.Person", "->", f"{A}.Contact", "added", "organization.name -> Company"),
        ("flow", f"{P}.Person", "<->", f"{A}.Contact", "removed", "last_name <-> LastName"),
        ("flow", f"{P}.Person", "<->", f"{A}.Contact", "added", "last_name <-> LastName with trim"),
        ("delete", f"{P}.Person", "->", f"{A}.Contact", "removed", "deletes pipedrive -> autopilot"),
        ("relation", f"{P}.Person", "->", f"{P}.Organization", "added", "organization"),
    }
    nodes = {n.id: n.change for n in graph.nodes}
    assert nodes == {f"{P}.Person": None, f"{A}.Contact": None, f"{P}.Organization": "added"}
    mermaid = render_mermaid(graph)
    assert "- phone.primary #lt;-#gt; Phone" in mermaid and "+ phone.primary -#gt; Phone" in mermaid
    assert "first_name" not in mermaid and "FirstName" not in render_dot(graph)


def test_reformatting_changes_nothing(tmp_path: Path) -> None:
    messy = OLD.replace("first_name    <-> FirstName", "first_name <->   FirstName   # a comment")
    graph = changes(*_plan(tmp_path, "old.syncmap", OLD), *_plan(tmp_path, "new.syncmap", messy))
    assert graph.edges == () and graph.nodes == ()
    assert "no change to what flows" in render_mermaid(graph) and "no change to what flows" in render_dot(graph)


def test_an_action_renamed_is_one_removed_and_one_added(tmp_path: Path) -> None:
    action = '\naction "Add Deal" on autopilot.Contact {\n  create pipedrive.Deal {\n    title = "{FirstName}"\n    person = this\n    expected_close_date = today + 30 days\n  }\n}\n'
    graph = changes(*_plan(tmp_path, "old.syncmap", OLD), *_plan(tmp_path, "new.syncmap", OLD + action))
    nodes = {n.id: n.change for n in graph.nodes}
    assert nodes["action:Add Deal"] == "added" and nodes[f"{P}.Deal"] == "added"
    assert {(e.kind, e.change) for e in graph.edges} == {("trigger", "added"), ("step", "added"), ("relation", "added")}


def test_a_hash_in_a_string_is_kept_and_a_comment_dropped(tmp_path: Path) -> None:
    action = '\naction "Add Deal" on autopilot.Contact {\n  create pipedrive.Deal {\n    title = "Deal # {FirstName}"  # numbered\n    person = this\n    expected_close_date = today + 30 days\n  }\n}\n'
    plan, texts = _plan(tmp_path, "m.syncmap", OLD.replace("first_name    <-> FirstName", "first_name <-> FirstName  # the given name") + action)
    lines = statements(graph_of(plan, texts))
    assert ("flow", f"{P}.Person", "<->", f"{A}.Contact", "first_name <-> FirstName") in lines
    assert ("step", "action:Add Deal", "->", f"{P}.Deal", 'title = "Deal # {FirstName}"') in lines


def test_without_the_mapping_text_each_statement_is_its_place(tmp_path: Path) -> None:
    plan, _ = _plan(tmp_path, "m.syncmap", OLD)
    flows = [line for e in graph_of(plan, {}).edges if e.kind == "flow" for line in e.lines]
    assert flows == ["m.syncmap:17", "m.syncmap:18", "m.syncmap:19", "m.syncmap:20"]
