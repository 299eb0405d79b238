"""`syncmap compile FILE -o plan.yaml|plan.json [--check]`: the checked, versioned sync plan."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from syncmap.compiler.api import compile_plan
from syncmap.compiler.plan import dumps, format_for
from syncmap.runtime.cli import exits
from syncmap.runtime.cli.options import format_option, readable, report_diagnostics


@click.command(
    epilog="Examples:\n\n  syncmap compile mappings/autopilot.syncmap -o plan.yaml\n\n"
    "  syncmap compile mappings/autopilot.syncmap -o plan.yaml --check   # in CI: is the committed plan current?\n\n" + exits.EXIT_HELP
)
@click.argument("mapping", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Plan file (.yaml/.yml or .json); stdout as JSON when omitted.")
@click.option("--check", "check_only", is_flag=True, help="Write nothing; exit 1 when the output file is missing or differs.")
@format_option
def compile(mapping: str, output: str | None, check_only: bool, output_format: str) -> None:
    """Compile a mapping into a sync plan (byte-identical for the same sources)."""
    if output is not None and not output.lower().endswith((".yaml", ".yml", ".json")):
        raise click.BadParameter(f"{output}: a plan file ends in .yaml, .yml or .json", param_hint="-o/--output")
    if check_only and output is None:
        raise click.UsageError("--check needs -o FILE: the plan file to compare with")
    result = readable(mapping, compile_plan)
    report_diagnostics(result, output_format)
    if result.plan is None:
        sys.exit(exits.PROBLEMS)
    text = dumps(result.plan, format_for(output) if output else "json")
    if output is None:
        sys.stdout.write(text)
        sys.exit(exits.OK)
    path = Path(output)
    if check_only:
        # A plan file that is not UTF-8 is stale, not a crash: undecodable bytes never match.
        current = path.read_text(encoding="utf-8", errors="surrogateescape") if path.exists() else None
        if current != text:
            click.echo(f"{output} is stale: recompile with `syncmap compile {mapping} -o {output}`", err=True)
            sys.exit(exits.PROBLEMS)
        click.echo(f"{output} is up to date", err=True)
        sys.exit(exits.OK)
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise click.FileError(output, exc.strerror) from None
    click.echo(f"wrote {output} ({len(result.plan['pairs'])} pairs, {len(result.plan['actions'])} actions)", err=True)
    sys.exit(exits.OK)


__all__ = ["compile"]
