"""`syncmap sandbox`: run the Pipedrive and Autopilot sandboxes on loopback until interrupted."""

from __future__ import annotations

import asyncio
import signal
import sys

import click

from syncmap.runtime.cli.exits import EXIT_HELP, OK, PROBLEMS
from syncmap.sandbox.profiles import PROFILES

PLANS = ("essential", "advanced", "professional", "power", "enterprise")


@click.command(
    epilog=(
        "Examples:\n\n"
        "\b\n"
        "  syncmap sandbox --seed 200\n"
        "  syncmap sandbox --pipedrive-port 0 --autopilot-port 0 --plan essential --time-scale 10\n"
        "  syncmap sandbox --profile strict --seed 50\n\n"
        + EXIT_HELP
    )
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address both servers listen on (keep it loopback).")
@click.option("--pipedrive-port", type=click.IntRange(0, 65535), default=8701, show_default=True,
              help="Pipedrive sandbox port (0 picks a free one).")
@click.option("--autopilot-port", type=click.IntRange(0, 65535), default=8702, show_default=True,
              help="Autopilot sandbox port (0 picks a free one).")
@click.option("--pipedrive-token", default="sandbox-token", show_default=True, help="API token Pipedrive accepts.")
@click.option("--autopilot-key", default="sandbox-key", show_default=True, help="autopilotapikey Autopilot accepts.")
@click.option("--plan", type=click.Choice(PLANS), default="advanced", show_default=True,
              help="Pipedrive plan whose rate limits apply.")
@click.option("--time-scale", type=click.FloatRange(min=0, min_open=True), default=1.0, show_default=True,
              help="How many times faster than real time the sandbox clocks run.")
@click.option("--autopilot-rate", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="Autopilot requests per second before 429 (0 = no limit).")
@click.option("--profile", type=click.Choice(PROFILES), default="default", show_default=True,
              help="default: each API's likeliest behaviour; strict: every unverified choice at its hardest.")
@click.option("--seed", "seed_count", type=click.IntRange(min=0), default=0, metavar="N",
              help="Seed both sandboxes with N realistic records.")
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
    try:
        asyncio.run(
            _serve(
                host=host, pipedrive_port=pipedrive_port, autopilot_port=autopilot_port,
                pipedrive_token=pipedrive_token, autopilot_key=autopilot_key, plan=plan,
                time_scale=time_scale, autopilot_rate=autopilot_rate or None, seed=seed_count, profile=profile,
            )
        )  # fmt: skip
    except OSError as exc:
        click.echo(f"error: cannot listen on {host}: {exc.strerror or exc}", err=True)
        sys.exit(PROBLEMS)
    sys.exit(OK)


async def _serve(**options: object) -> None:
    from syncmap.sandbox.serve import serve_sandboxes

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with serve_sandboxes(**options) as running:  # type: ignore[arg-type]
        profile = options["profile"]
        click.echo(f"# Pipedrive sandbox: {running.pipedrive_base_url} (plan {options['plan']}, profile {profile})")
        click.echo(f"# Autopilot sandbox: {running.autopilot_base_url} (profile {profile})")
        click.echo(f"# control routes: {running.pipedrive_url}/__sandbox__/ and {running.autopilot_url}/__sandbox__/")
        click.echo(running.env_lines())
        sys.stdout.flush()
        click.echo("serving until interrupted (Ctrl+C)", err=True)
        await stop.wait()
    click.echo("stopped", err=True)
