"""The SVG pictures in docs/graphs/ were drawn by Graphviz from the committed DOT files
(`dot -Tsvg docs/graphs/NAME.dot -o docs/graphs/NAME.svg`, docs/graph.md). Graphviz need not be
installed to run the suite, so this checks what the picture holds against its DOT: the same
nodes and as many edges. A DOT file regenerated without redrawing its SVG fails here."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pydot
import pytest

GRAPHS = Path(__file__).resolve().parents[2] / "docs" / "graphs"
SVG = "{http://www.w3.org/2000/svg}"


def dot_parts(graph: pydot.Dot) -> tuple[set[str], int]:
    nodes = {n.get_name().strip('"') for n in graph.get_nodes()} - {"node", "edge", "graph"}
    edges = len(graph.get_edges())
    for sub in graph.get_subgraphs():
        sub_nodes, sub_edges = dot_parts(sub)
        nodes |= sub_nodes
        edges += sub_edges
    return nodes, edges


@pytest.mark.parametrize("name", ["autopilot", "five-objects"])
def test_each_svg_draws_its_dot(name: str) -> None:
    (graph,) = pydot.graph_from_dot_file(str(GRAPHS / f"{name}.dot"))
    nodes, edges = dot_parts(graph)
    root = ET.parse(GRAPHS / f"{name}.svg").getroot()
    groups = list(root.iter(f"{SVG}g"))
    drawn = {g.find(f"{SVG}title").text for g in groups if g.get("class") == "node"}
    assert drawn == nodes
    assert sum(1 for g in groups if g.get("class") == "edge") == edges
    assert "pipedrive.Person" in drawn and "autopilot.Contact" in drawn
