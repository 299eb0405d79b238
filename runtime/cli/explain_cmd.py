"""`syncmap explain FILE [--records N] …` and `syncmap explain SM104`.

A mapping: what flows where, which product rules hold, and what an initial sync costs. A code:
its long explanation. Reads no env and no network (the compiler is pure).
"""

from __future__ import annotations

import os
import re
import sys

import click

from syncmap.compiler import codes
from syncmap.compiler.api import compile_plan
from syncmap.compiler.cost import CostError, estimate, load_limits, plan_names
from syncmap.compiler.explain import explain_plan, render_human, render_json
from syncmap.runtime.cli import exits
from syncmap.runtime.cli.options import readable, report_diagnostics

CODE = re.compile(r"^SM\d{3}$", re.IGNORECASE)


@click.command(
    epilog="Examples:\n\n  syncmap explain mappings/autopilot.syncmap\n\n"
    "  syncmap explain mappings/five-objects.syncmap --records 100000 --pipedrive-plan enterprise --seats 5\n\n"
    "  syncmap explain mappings/autopilot.syncmap --format json | jq .cost.binding\n\n"
    "  syncmap explain SM104\n\n" + exits.EXIT_HELP
)
@click.argument("target", metavar="FILE|CODE")
@click.option(
    "--records", type=click.IntRange(min=0), default=10_000, show_default=True, help="Records per paired object for the initial-sync estimate."
)
@click.option(
    "--pipedrive-plan",
    type=click.Choice(plan_names(), case_sensitive=False),
    default=None,
    help=f"Pipedrive plan (burst limit and token multiplier)  [default: the mapping's `plan`, else {load_limits()['pipedrive']['default_plan']}]",
)
@click.option(
    "--seats",
    type=click.IntRange(min=1),
    default=None,
    help="Pipedrive seats (the daily budget scales with them)  [default: the mapping's `seats`, else 1]",
)
@click.option(
    "--autopilot-rate",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    help="Autopilot requests per second (unverified)  [default: the mapping's `rate`, else 5]",
)
@click.option("--burst", type=click.IntRange(min=1), default=None, help="Override Pipedrive's requests per 2 s for the plan.")
@click.option("--daily-budget", type=click.IntRange(min=1), default=None, help="Override Pipedrive's daily token budget (e.g. with top-ups).")
@click.option(
    "--list-adds",
    type=click.Choice(list(load_limits()["autopilot"]["list_adds"]["choices"])),
    default=None,
    help="How contacts join an Autopilot list: one request each, or inside the bulk upsert (unverified).",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["human", "json"]),
    default="human",
    show_default=True,
    help="human: plain words; json: the same content as data.",
)
def explain(
    target: str,
    records: int,
    pipedrive_plan: str | None,
    seats: int | None,
    autopilot_rate: float | None,
    burst: int | None,
    daily_budget: int | None,
    list_adds: str | None,
    output_format: str,
) -> None:
    """Explain a mapping in plain words (flows, rules, initial-sync cost), or a diagnostic code."""
    if CODE.match(target) and not os.path.exists(target):
        text = codes.explain(target)
        if text is None:
            click.echo(f"error: unknown diagnostic code `{target.upper()}` (codes are listed in docs/errors.md)", err=True)
            sys.exit(exits.USAGE)
        click.echo(text, nl=False)
        sys.exit(exits.OK)
    if not os.path.isfile(target):
        raise click.BadParameter(f"`{target}` is neither a mapping file nor a diagnostic code like SM104", param_hint="FILE|CODE")
    result = readable(target, compile_plan)
    if result.plan is None:
        report_diagnostics(result, output_format)
        sys.exit(exits.PROBLEMS)
    try:
        est = estimate(
            result.plan,
            records,
            pipedrive_plan=pipedrive_plan,
            seats=seats,
            autopilot_rate=autopilot_rate,
            burst=burst,
            daily_budget=daily_budget,
            list_adds=list_adds,
        )
    except CostError as exc:
        raise click.UsageError(str(exc)) from None
    data = explain_plan(result.plan, est)
    sys.stdout.write(render_json(data) if output_format == "json" else render_human(data))
    sys.exit(exits.OK)
