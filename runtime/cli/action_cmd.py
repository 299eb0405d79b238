"""`syncmap action MAPPING|PLAN NAME --contact EMAIL|ID`: run one journey action for one contact."""

from __future__ import annotations

import asyncio
import sys

import click

from syncmap.runtime.cli.options import state_option

ACTION_EXIT_HELP = (
    "Exit codes: 0 done (or a duplicate of a done key), 1 dead letter (see `syncmap status`), "
    "2 usage or configuration error, 3 stopped by an API limit."
)


@click.command(
    epilog="Examples:\n\n"
    '  syncmap action mappings/autopilot.syncmap "Add Deal" --contact ada@example.com\n\n'
    '  syncmap action plan.yaml "Update Deal Stage" --contact person_0A1B --key journey-42-step-3\n\n'
    '  syncmap action mappings/autopilot.syncmap "Schedule Activity" --contact ada@example.com --dry-run\n\n' + ACTION_EXIT_HELP
)
@click.argument("source", metavar="MAPPING|PLAN", type=click.Path(exists=True, dir_okay=False))
@click.argument("name")
@click.option("--contact", required=True, help="The Autopilot contact: its email or contact id (read through the API).")
@click.option("--dry-run", is_flag=True, help="Read both systems, write nothing, print the writes the action would make.")
@click.option("--key", help="Idempotency key: a second call with the same key (within a day) writes nothing.")
@state_option
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="text: a readable outcome; json: one JSON document on stdout.",
)
def action(source: str, name: str, contact: str, dry_run: bool, key: str | None, state: str | None, output_format: str) -> None:
    """Run one journey action of the mapping for one Autopilot contact."""
    from syncmap.runtime.actions.command import run_action

    sys.exit(asyncio.run(run_action(source, name, contact, dry_run=dry_run, key=key, state=state, output_format=output_format)))
