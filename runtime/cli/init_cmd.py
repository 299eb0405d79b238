"""`syncmap init [--from-env | --sandbox] [-o FILE]`: a starter mapping from live accounts."""

from __future__ import annotations

import asyncio
import sys

import click


@click.command(
    epilog="Examples:\n\n  syncmap init -o mapping.syncmap          # the accounts in PIPEDRIVE_API_TOKEN and AUTOPILOT_API_KEY\n\n"
    "  syncmap init --sandbox                   # try it on local sandboxes, print the mapping\n\n"
    "Exit codes: 0 written, 2 usage or configuration error (missing variable, refused credentials, "
    "unreachable API, existing output file): nothing is written."
)
@click.option("--from-env", "source", flag_value="env", default=True, help="Read the accounts the environment names (the default).")
@click.option("--sandbox", "source", flag_value="sandbox", help="Read freshly seeded local sandboxes instead (no account needed).")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write the mapping to FILE (default: stdout).")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
def init(source: str, output: str | None, force: bool) -> None:
    """Write a starter mapping from the fields, lists and activity types of live accounts."""
    from syncmap.runtime.init import init as write_starter

    sys.exit(asyncio.run(write_starter(sandbox=source == "sandbox", output=output, force=force)))


__all__ = ["init"]
