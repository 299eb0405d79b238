"""`syncmap serve MAPPING|PLAN`: keep both systems in sync as changes happen (webhooks), with a
reconciliation pass every N seconds, and run journey actions."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import TYPE_CHECKING, Any

import click

from syncmap.runtime.cli.options import full_scan_option, state_option

if TYPE_CHECKING:  # imported when the command runs: `syncmap --help` stays fast
    from syncmap.runtime.serve.server import ServeOptions
    from syncmap.runtime.state import StateStore

SERVE_EXIT_HELP = "Exit codes: 0 stopped cleanly (SIGTERM or Ctrl+C), 1 the worker failed, 2 usage or configuration error."


@click.command(
    epilog="Examples:\n\n  syncmap serve mappings/autopilot.syncmap --public-url https://sync.example.com\n\n"
    "  syncmap serve plan.yaml --port 8080 --state /var/lib/syncmap/state.db --reconcile-every 600\n\n"
    "  syncmap serve plan.yaml --show-credentials   # print the webhook credentials and exit\n\n" + SERVE_EXIT_HELP
)
@click.argument("source", metavar="MAPPING|PLAN", type=click.Path(exists=True, dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (put TLS in front; see docs/serve.md).")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on (0: any free port).")
@click.option("--public-url", help="The URL Pipedrive and Autopilot reach this server at (default: http://HOST:PORT).")
@state_option
@click.option(
    "--reconcile-every",
    type=click.FloatRange(min=0),
    default=300.0,
    show_default=True,
    help="Seconds between reconciliation passes (the first runs at start); 0: none, webhooks only.",
)
@full_scan_option
@click.option(
    "--pass-delay",
    type=click.FloatRange(min=0),
    default=10.0,
    show_default=True,
    help="Seconds a delivery for a pair without a per-record path (deals, activities, organizations) waits for its pair's pass.",
)
@click.option("--keep-subscriptions", is_flag=True, help="Leave the webhook subscriptions in place on stop (a restart re-uses them).")
@click.option("--body-limit", type=click.IntRange(min=1024), default=1_000_000, show_default=True, help="Largest request body accepted, in bytes.")
@click.option(
    "--body-timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True, help="Seconds a request body may take to arrive (then 408)."
)
@click.option("--show-credentials", is_flag=True, help="Print the credentials deliveries must carry (made on first use), and exit.")
def serve(
    source: str,
    host: str,
    port: int,
    public_url: str | None,
    state: str | None,
    reconcile_every: float,
    full_scan_every: float,
    pass_delay: float,
    keep_subscriptions: bool,
    body_limit: int,
    body_timeout: float,
    show_credentials: bool,
) -> None:
    """Keep Pipedrive and Autopilot in sync as changes happen (webhooks), and run journey actions."""
    from syncmap.runtime.runner import SetupFailed, fail, load_for_run, open_store
    from syncmap.runtime.serve.server import ServeOptions

    try:
        plan, connections, scale = load_for_run(source)
        store = open_store(state)
    except SetupFailed as failed:
        sys.exit(failed.code)
    try:
        if show_credentials:
            from syncmap.runtime.serve.subscriptions import credentials

            creds, _ = credentials(store)
            click.echo(json.dumps(creds.as_dict(), indent=2))
            sys.exit(0)
        options = ServeOptions(
            host=host,
            port=port,
            public_url=public_url,
            state=state,
            reconcile_every=reconcile_every,
            full_scan_every=full_scan_every,
            pass_delay=pass_delay,
            keep_subscriptions=keep_subscriptions,
            body_limit=body_limit,
            body_timeout=body_timeout,
        )
        sys.exit(asyncio.run(_serve(plan, connections, store, options, scale)) or 0)
    except OSError as error:
        sys.exit(fail(f"cannot listen on {host}:{port}: {error}"))
    finally:
        store.close()


async def _serve(plan: dict[str, Any], connections: dict[str, Any], store: StateStore, options: ServeOptions, scale: float) -> int:
    from syncmap.runtime.connectors.base import ConnectorError
    from syncmap.runtime.http import ApiError, UnknownOutcome
    from syncmap.runtime.runner import connection_hint, fail
    from syncmap.runtime.serve.server import serve as run_server

    try:
        return await run_server(plan, connections, store, options, scale=scale)
    except ConnectorError as error:
        return fail(str(error))
    except (ApiError, UnknownOutcome) as error:
        return fail(f"{error}\n  ({connection_hint(plan, error)})")
