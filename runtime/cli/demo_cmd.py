"""`syncmap demo`: a narrated two-way sync on local sandboxes; no account needed."""

from __future__ import annotations

import asyncio
import sys

import click


@click.command()
def demo() -> None:
    """Sync two local sandboxes (Pipedrive and Autopilot) with mappings/autopilot.syncmap and say what happened and why."""
    from syncmap.runtime.demo import demo as run_demo

    sys.exit(asyncio.run(run_demo(click.echo)))
