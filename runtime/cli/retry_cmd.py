"""`syncmap retry [--id N…]`: replay dead letters once the data or the mapping is fixed."""

from __future__ import annotations

import asyncio
import sys

import click

from syncmap.runtime.cli.options import data_format_option, state_option
from syncmap.runtime.cli.run_cmd import RUN_EXIT_HELP


@click.command(epilog="Examples:\n\n  syncmap retry            # every open dead letter\n\n  syncmap retry --id 3 --id 7\n\n" + RUN_EXIT_HELP)
@state_option
@click.option("--id", "ids", type=click.IntRange(min=1), multiple=True, help="A dead letter's id (see `syncmap status`); repeatable.")
@data_format_option
def retry(state: str | None, ids: tuple[int, ...], output_format: str) -> None:
    """Replay dead letters through the plan of the last run: records that sync now are resolved."""
    from syncmap.runtime.runner import retry_letters

    sys.exit(asyncio.run(retry_letters(state, ids, output_format)))
