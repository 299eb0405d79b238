"""`syncmap run MAPPING|PLAN`: sync both systems as the plan says, once or every N seconds."""

from __future__ import annotations

import asyncio
import sys

import click

from syncmap.runtime.cli import exits
from syncmap.runtime.cli.options import data_format_option, full_scan_option, state_option

RUN_EXIT_HELP = (
    "Exit codes: 0 done, 1 finished with dead letters (see `syncmap status`), "
    "2 usage or configuration error, 3 stopped by an API limit (run again to resume), "
    "4 writes the APIs kept refusing (429, 5xx, no answer) left pending (run again; nothing is lost)."
)


@click.command(
    epilog="Examples:\n\n  syncmap run mappings/autopilot.syncmap --once\n\n"
    "  syncmap run plan.yaml --interval 300 --state /var/lib/syncmap/state.db\n\n"
    "  syncmap run mappings/autopilot.syncmap --dry-run   # print what would change\n\n" + RUN_EXIT_HELP
)
@click.argument("source", metavar="MAPPING|PLAN", type=click.Path(exists=True, dir_okay=False))
@click.option("--once", "once", is_flag=True, help="One pass, then exit (the default).")
@click.option("--interval", type=click.FloatRange(min=1), help="Keep syncing, one pass every SECONDS.")
@click.option("--dry-run", is_flag=True, help="Read both systems, write nothing, print each change a run would make.")
@state_option
@full_scan_option
@data_format_option
def run(source: str, once: bool, interval: float | None, dry_run: bool, state: str | None, full_scan_every: float, output_format: str) -> None:
    """Sync Pipedrive and Autopilot as the mapping (or compiled plan) says."""
    from syncmap.runtime.runner import run_passes

    if once and interval:
        raise click.UsageError("--once and --interval exclude each other")
    sys.exit(
        asyncio.run(run_passes(source, interval=interval, dry_run=dry_run, state=state, full_scan_every=full_scan_every, output_format=output_format))
    )


__all__ = ["exits", "run"]
