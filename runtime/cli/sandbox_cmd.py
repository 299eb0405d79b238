"""`syncmap sandbox`: run the Pipedrive and Autopilot sandboxes on loopback until interrupted."""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import signal
import sys
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING

import click

from syncmap.compiler.cost import plan_names
from syncmap.runtime.cli.exits import EXIT_HELP, OK, PROBLEMS
from syncmap.sandbox.profiles import PROFILES

if TYPE_CHECKING:
    from syncmap.sandbox.serve import RunningSandboxes

# The credentials every sandbox accepts unless told otherwise: printed in the docs, so known to all.
DEFAULT_TOKEN, DEFAULT_KEY = "sandbox-token", "sandbox-key"


def is_loopback(host: str) -> bool:
    """Whether only this machine can reach `host` (a name other than localhost may resolve anywhere)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, pipedrive_token: str, autopilot_key: str) -> str | None:
    """The warning for a sandbox reachable from other machines with a credential anyone knows."""
    known = [
        f"{option} {value}"
        for option, value, default in (
            ("--pipedrive-token", pipedrive_token, DEFAULT_TOKEN),
            ("--autopilot-key", autopilot_key, DEFAULT_KEY),
        )
        if value == default
    ]
    if is_loopback(host) or not known:
        return None
    return (
        f"warning: listening on {host}, beyond loopback, with the known default {' and '.join(known)}: "
        "anyone who can reach this machine can use the sandboxes; give your own with "
        "--pipedrive-token and --autopilot-key, or keep --host 127.0.0.1"
    )


@click.command(
    epilog=(
        "Examples:\n\n"
        "\b\n"
        "  syncmap sandbox --seed 200\n"
        "  syncmap sandbox --pipedrive-port 0 --autopilot-port 0 --plan essential --time-scale 10\n"
        "  syncmap sandbox --profile strict --seed 50\n\n" + EXIT_HELP
    )
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address both servers listen on (keep it loopback).")
@click.option("--pipedrive-port", type=click.IntRange(0, 65535), default=8701, show_default=True, help="Pipedrive sandbox port (0 picks a free one).")
@click.option("--autopilot-port", type=click.IntRange(0, 65535), default=8702, show_default=True, help="Autopilot sandbox port (0 picks a free one).")
@click.option("--pipedrive-token", default=DEFAULT_TOKEN, show_default=True, help="API token Pipedrive accepts.")
@click.option("--autopilot-key", default=DEFAULT_KEY, show_default=True, help="autopilotapikey Autopilot accepts.")
# The plans of the cost table (compiler/costs/limits.json), the one list `explain` offers too.
@click.option("--plan", type=click.Choice(plan_names()), default="advanced", show_default=True, help="Pipedrive plan whose rate limits apply.")
@click.option(
    "--time-scale",
    type=click.FloatRange(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="How many times faster than real time the sandbox clocks run.",
)
@click.option(
    "--autopilot-rate", type=click.FloatRange(min=0), default=5.0, show_default=True, help="Autopilot requests per second before 429 (0 = no limit)."
)
@click.option(
    "--profile",
    type=click.Choice(PROFILES),
    default="default",
    show_default=True,
    help="default: each API's likeliest behaviour; strict: every unverified choice at its hardest.",
)
@click.option("--seed", "seed_count", type=click.IntRange(min=0), default=0, metavar="N", help="Seed both sandboxes with N realistic records.")
def sandbox(
    host: str,
    pipedrive_port: int,
    autopilot_port: int,
    pipedrive_token: str,
    autopilot_key: str,
    plan: str,
    time_scale: float,
    autopilot_rate: float,
    profile: str,
    seed_count: int,
) -> None:
    """Run local Pipedrive and Autopilot sandboxes in the foreground until Ctrl+C.

    Prints the base URLs and the environment lines a mapping's connections read. Each server
    also answers control routes under /__sandbox__/ (reset, seed, faults, requests, clock).
    """
    warning = exposure_warning(host, pipedrive_token, autopilot_key)
    if warning:
        click.echo(warning, err=True)
    from syncmap.sandbox.serve import serve_sandboxes  # here, not at the top: `syncmap --help` stays fast

    sandboxes = functools.partial(
        serve_sandboxes,
        host=host, pipedrive_port=pipedrive_port, autopilot_port=autopilot_port,
        pipedrive_token=pipedrive_token, autopilot_key=autopilot_key, plan=plan,
        time_scale=time_scale, autopilot_rate=autopilot_rate or None, seed=seed_count, profile=profile,
    )  # fmt: skip
    try:
        asyncio.run(_serve(sandboxes, plan=plan, profile=profile))
    except OSError as exc:
        click.echo(f"error: cannot listen on {host}: {exc.strerror or exc}", err=True)
        sys.exit(PROBLEMS)
    sys.exit(OK)


async def _serve(sandboxes: Callable[[], AbstractAsyncContextManager[RunningSandboxes]], *, plan: str, profile: str) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with sandboxes() as running:
        click.echo(f"# Pipedrive sandbox: {running.pipedrive_base_url} (plan {plan}, profile {profile})")
        click.echo(f"# Autopilot sandbox: {running.autopilot_base_url} (profile {profile})")
        click.echo(f"# control routes: {running.pipedrive_url}/__sandbox__/ and {running.autopilot_url}/__sandbox__/")
        click.echo(running.env_lines())
        sys.stdout.flush()
        click.echo("serving until interrupted (Ctrl+C)", err=True)
        await stop.wait()
    click.echo("stopped", err=True)
