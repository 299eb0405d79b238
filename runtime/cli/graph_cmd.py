"""`syncmap graph MAPPING` and `syncmap graph --changes OLD NEW`: the mapping as a picture.

The picture is drawn by the compiler's pure `graph` and `graph_render` modules; this command
only reads the mappings, reports their errors, and writes the text.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from syncmap.compiler.api import CompileResult, compile_plan
from syncmap.compiler.graph import Graph, changes, graph_of, plan_texts
from syncmap.compiler.graph_render import RENDERERS
from syncmap.runtime.cli import exits
from syncmap.runtime.cli.options import readable, report_diagnostics


def _compiled(path: str) -> CompileResult:
    """The plan of `path`, or its errors on stderr and exit 1."""
    result = readable(path, compile_plan)
    if result.plan is None:
        report_diagnostics(result, "human")
        sys.exit(exits.PROBLEMS)
    return result


def _texts(result: CompileResult) -> dict[str, str]:
    return plan_texts(result.sources.root, result.sources.texts)


@click.command(
    epilog="Examples:\n\n  syncmap graph mappings/autopilot.syncmap -o autopilot.mmd\n\n"
    "  syncmap graph mappings/five-objects.syncmap --format dot | dot -Tsvg > five-objects.svg\n\n"
    "  git show main:mappings/autopilot.syncmap > old.syncmap\n\n"
    "  syncmap graph --changes old.syncmap mappings/autopilot.syncmap\n\n" + exits.EXIT_HELP
)
@click.argument("mappings", metavar="MAPPING | --changes OLD NEW", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--changes", "compare", is_flag=True, help="Draw only what going from OLD to NEW adds (green, +) and removes (red, -).")
@click.option(
    "--format", "output_format", type=click.Choice(sorted(RENDERERS)), default="mermaid", show_default=True, help="mermaid or dot (Graphviz)."
)
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the picture to FILE instead of stdout.")
def graph(mappings: tuple[str, ...], compare: bool, output_format: str, output: str | None) -> None:
    """Draw a mapping (objects, flows, scopes, deletes, actions) as Mermaid or DOT.

    Systems are boxes holding their objects; arrows point the way data flows, labelled with
    the mapping's lines: field flows (solid), pairing rules (dashed, no head), scopes and
    filters (dotted), deletes (thick), relations read through (dashed), actions (parallelograms).
    """
    wanted = 2 if compare else 1
    if len(mappings) != wanted:
        usage = "--changes needs two mappings: OLD NEW" if compare else "give one mapping (or --changes OLD NEW)"
        raise click.UsageError(f"{usage}; got {len(mappings)}")
    if compare:
        old, new = (_compiled(path) for path in mappings)
        assert old.plan is not None and new.plan is not None
        title = f"{os.path.basename(mappings[0])} -> {os.path.basename(mappings[1])}"
        picture: Graph = changes(old.plan, _texts(old), new.plan, _texts(new), title)
    else:
        result = _compiled(mappings[0])
        assert result.plan is not None
        picture = graph_of(result.plan, _texts(result), os.path.basename(mappings[0]))
    text = RENDERERS[output_format](picture)
    if output is None:
        sys.stdout.write(text)
        sys.exit(exits.OK)
    try:
        Path(output).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.FileError(output, exc.strerror) from None
    click.echo(f"wrote {output} ({len(picture.nodes)} nodes, {len(picture.edges)} edges)", err=True)
    sys.exit(exits.OK)
