"""`syncmap check FILE…`: every diagnostic, in the format CI wants. Reads no env, no network."""

from __future__ import annotations

import sys

import click

from syncmap.compiler.api import check as check_mapping
from syncmap.compiler.diagnostics import RENDERERS, Diagnostic
from syncmap.runtime.cli import exits
from syncmap.runtime.cli.options import files_argument, format_option, readable


@click.command(epilog="Examples:\n\n  syncmap check mappings/*.syncmap\n\n  syncmap check --format github mapping.syncmap\n\n" + exits.EXIT_HELP)
@files_argument
@format_option
@click.option("--strict", is_flag=True, help="Treat warnings as problems (exit 1).")
def check(files: tuple[str, ...], output_format: str, strict: bool) -> None:
    """Check mappings for syntax errors and broken rules."""
    diagnostics: list[Diagnostic] = []
    texts: dict[str, str] = {}
    for path in files:
        result = readable(path, check_mapping)
        texts.update(result.sources.texts)
        diagnostics.extend(d for d in result.diagnostics if d not in diagnostics)
    rendered = RENDERERS[output_format](diagnostics, texts)
    errors = sum(d.is_error for d in diagnostics)
    warnings = len(diagnostics) - errors
    if output_format == "human":
        sys.stderr.write(rendered)
        summary = (
            f"checked {len(files)} file{'s' * (len(files) != 1)}: {errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"
        )
        click.echo(summary, err=True)
    else:
        sys.stdout.write(rendered)
    failed = errors > 0 or (strict and warnings > 0)
    sys.exit(exits.PROBLEMS if failed else exits.OK)
