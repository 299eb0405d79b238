"""A `Graph` drawn as Mermaid (renders in pull requests and Markdown) or DOT (for Graphviz).

Pure: text in, text out. Both draw the same picture: one box per system holding its objects,
actions between them, and one edge per kind of statement between two nodes, labelled with the
mapping's lines. Each kind has one line style (`STYLES`), so the legend in docs/graph.md holds
for both formats.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from syncmap.compiler.graph import ADDED, BOTH, FORWARD, NONE, REMOVED, Edge, Graph, Node

__all__ = ["RENDERERS", "STYLES", "render_dot", "render_mermaid"]


class Style(NamedTuple):
    mermaid: str  # the link's stroke: "-" solid, "." dotted, "=" thick
    dot: str  # DOT edge attributes


STYLES: dict[str, Style] = {
    "flow": Style("-", "style=solid, penwidth=1.5"),
    "pairing": Style("-", 'style=dashed, color="gray40", fontcolor="gray30"'),
    "scope": Style(".", 'style=dotted, color="darkorange3", fontcolor="darkorange4"'),
    "filter": Style(".", 'style=dotted, color="darkorange3", fontcolor="darkorange4"'),
    "delete": Style("=", 'style=bold, color="firebrick", fontcolor="firebrick"'),
    "relation": Style(".", 'style=dashed, color="gray50", fontcolor="gray40", arrowhead=vee'),
    "trigger": Style(".", 'style=dotted, color="steelblue"'),
    "step": Style("-", 'color="steelblue", fontcolor="steelblue4"'),
}

# What a change looks like: a sign before each line, and a colour.
_SIGN = {ADDED: "+ ", REMOVED: "- ", None: ""}
_CHANGE_COLOUR = {ADDED: "#1a7f37", REMOVED: "#cf222e"}


def _lines(edge: Edge) -> list[str]:
    return [_SIGN[edge.change] + line for line in edge.lines]


# ------------------------------------------------------------------ Mermaid

# Mermaid link syntax per stroke and arrow (a labelled link puts `|"…"|` after it).
_MERMAID_LINKS = {
    ("-", FORWARD): "-->",
    ("-", BOTH): "<-->",
    ("-", NONE): "---",
    (".", FORWARD): "-.->",
    (".", BOTH): "<-.->",
    (".", NONE): "-.-",
    ("=", FORWARD): "==>",
    ("=", BOTH): "<==>",
    ("=", NONE): "===",
}


def _mermaid_text(text: str) -> str:
    """Text safe inside a quoted Mermaid label: Mermaid's `#name;` entity codes for the
    characters its parser or the HTML label would take as syntax."""
    for raw, code in (("#", "#35;"), ('"', "#quot;"), ("<", "#lt;"), (">", "#gt;"), ("&", "#amp;")):
        text = text.replace(raw, code)
    return text


class _Ids:
    """Mermaid ids are plain words: each node id made one, unique, in order of appearance."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}

    def __call__(self, node_id: str) -> str:
        if node_id not in self._ids:
            base = re.sub(r"\W+", "_", node_id).strip("_") or "node"
            taken = set(self._ids.values())
            candidate, n = base, 2
            while candidate in taken:
                candidate, n = f"{base}_{n}", n + 1
            self._ids[node_id] = candidate
        return self._ids[node_id]


def _mermaid_node(node: Node, ids: _Ids) -> str:
    label = "<br/>".join(_mermaid_text(line) for line in node.label)
    shape = ('[/"', '"/]') if node.group is None else ('["', '"]')  # actions are parallelograms
    return f"{ids(node.id)}{shape[0]}{label}{shape[1]}"


def render_mermaid(graph: Graph) -> str:
    ids = _Ids()
    out = ["flowchart LR"] + ([f"  %% syncmap graph: {graph.title}"] if graph.title else [])
    for system, name in graph.groups:
        out.append(f'  subgraph {ids("system:" + system)} ["{_mermaid_text(name)}"]')
        out.extend(f"    {_mermaid_node(node, ids)}" for node in graph.nodes if node.group == system)
        out.append("  end")
    out.extend(f"  {_mermaid_node(node, ids)}" for node in graph.nodes if node.group is None)
    styles = []
    for n, edge in enumerate(graph.edges):
        link = _MERMAID_LINKS[(STYLES[edge.kind].mermaid, edge.arrow)]
        label = "<br/>".join(_mermaid_text(line) for line in _lines(edge))
        out.append(f'  {ids(edge.source)} {link}|"{label}"| {ids(edge.target)}')
        if edge.change:
            styles.append(f"  linkStyle {n} stroke:{_CHANGE_COLOUR[edge.change]},color:{_CHANGE_COLOUR[edge.change]}")
    for change, colour in _CHANGE_COLOUR.items():
        changed = [ids(node.id) for node in graph.nodes if node.change == change]
        if changed:
            styles.append(f"  classDef {change} stroke:{colour},stroke-width:2px,color:{colour}")
            styles.append(f"  class {','.join(changed)} {change}")
    if not graph.edges:
        out.append(f'  {ids("empty:")}["{_mermaid_text(graph.empty)}"]')
    return "\n".join(out + styles) + "\n"


# ------------------------------------------------------------------ DOT


def _dot_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _dot_label(lines: list[str]) -> str:
    """Left-aligned lines (`\\l` ends each one in DOT)."""
    escaped = [line.replace("\\", "\\\\").replace('"', '\\"') for line in lines]
    return '"' + "".join(line + "\\l" for line in escaped) + '"'


def _dot_node(node: Node) -> str:
    shape = "shape=box, style=rounded" if node.group else 'shape=parallelogram, color="steelblue"'
    colour = f', color="{_CHANGE_COLOUR[node.change]}", penwidth=2' if node.change else ""
    return f"{_dot_string(node.id)} [label={_dot_string(chr(10).join(node.label))}, {shape}{colour}];"


_DOT_DIR = {FORWARD: "forward", BOTH: "both", NONE: "none"}


def render_dot(graph: Graph) -> str:
    out = [
        f"digraph {_dot_string(graph.title or 'syncmap')} {{",
        "  graph [rankdir=LR, fontname=Helvetica, nodesep=0.4, ranksep=1.2];",
        "  node [fontname=Helvetica, fontsize=11];",
        "  edge [fontname=Helvetica, fontsize=9];",
    ]
    for system, name in graph.groups:
        out.append(f"  subgraph {_dot_string('cluster_' + system)} {{")
        out.append(f"    label={_dot_string(name)};")
        out.extend(f"    {_dot_node(node)}" for node in graph.nodes if node.group == system)
        out.append("  }")
    out.extend(f"  {_dot_node(node)}" for node in graph.nodes if node.group is None)
    for edge in graph.edges:
        attrs = [f"label={_dot_label(_lines(edge))}", f"dir={_DOT_DIR[edge.arrow]}", STYLES[edge.kind].dot]
        if edge.change:
            attrs.append(f'color="{_CHANGE_COLOUR[edge.change]}", fontcolor="{_CHANGE_COLOUR[edge.change]}"')
            attrs.append("style=dashed" if edge.change == REMOVED else "")
        out.append(f"  {_dot_string(edge.source)} -> {_dot_string(edge.target)} [{', '.join(a for a in attrs if a)}];")
    if not graph.edges:
        out.append(f"  {_dot_string('empty:')} [label={_dot_string(graph.empty)}, shape=plaintext];")
    out.append("}")
    return "\n".join(out) + "\n"


RENDERERS = {"mermaid": render_mermaid, "dot": render_dot}
