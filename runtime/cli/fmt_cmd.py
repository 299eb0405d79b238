"""`syncmap fmt FILE… [--check]`: rewrite mappings in the canonical layout."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from syncmap.compiler.api import format_text
from syncmap.compiler.diagnostics import render_human
from syncmap.runtime.cli import exits
from syncmap.runtime.cli.options import files_argument, readable


@click.command(epilog="Examples:\n\n  syncmap fmt mappings/*.syncmap\n\n  syncmap fmt --check mapping.syncmap   # in CI\n\n" + exits.EXIT_HELP)
@files_argument
@click.option("--check", "check_only", is_flag=True, help="Change nothing; exit 1 and name the files that would change.")
def fmt(files: tuple[str, ...], check_only: bool) -> None:
    """Format mappings in the one canonical layout (comments are kept)."""
    problems = False
    for path in files:
        text = readable(path, lambda p: Path(p).read_text(encoding="utf-8"))
        formatted, diagnostics = format_text(text, path)
        if formatted is None:
            sys.stderr.write(render_human(diagnostics, {path: text}))
            problems = True
            continue
        if formatted == text:
            continue
        if check_only:
            click.echo(f"would reformat {path}")
            problems = True
        else:
            Path(path).write_text(formatted, encoding="utf-8")
            click.echo(f"reformatted {path}", err=True)
    sys.exit(exits.PROBLEMS if problems else exits.OK)
