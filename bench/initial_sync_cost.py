"""Initial-sync cost of each shipped mapping at 1k, 10k and 100k records, for every Pipedrive plan.

    .venv/bin/python bench/initial_sync_cost.py [--seats N] [--autopilot-rate R] [--list-adds per-contact|in-upsert]

Prints Pipedrive requests and tokens, Autopilot requests, the least time the rate limits allow
and the limit that binds (worst case: every record needs a write on the other side; see
`syncmap explain FILE` for every assumption). Pure arithmetic over the compiled plans: a
few seconds at most.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from syncmap.compiler.api import compile_plan
from syncmap.compiler.cost import estimate, format_duration, plan_names

ROOT = Path(__file__).resolve().parents[1]
RECORDS = (1_000, 10_000, 100_000)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seats", type=int, default=1)
    parser.add_argument("--autopilot-rate", type=float, default=None)
    parser.add_argument("--list-adds", choices=["per-contact", "in-upsert"], default=None)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    for mapping in sorted((ROOT / "mappings").glob("*.syncmap")):
        result = compile_plan(str(mapping))
        if result.plan is None:
            print(f"{mapping.name}: does not compile", file=sys.stderr)
            return 1
        print(f"\n{mapping.name} ({len(result.plan['pairs'])} pairs), {args.seats} seat(s)")
        print(
            f"  {'records':>8} {'plan':<12} {'PD requests':>12} {'PD tokens':>11} {'AP requests':>12} {'budget days':>11}  {'least time':>12}  binding limit"
        )
        for n in RECORDS:
            for plan in plan_names():
                est = estimate(result.plan, n, pipedrive_plan=plan, seats=args.seats, autopilot_rate=args.autopilot_rate, list_adds=args.list_adds)
                binding = est.binding.limit if est.binding else "-"
                print(
                    f"  {n:>8,} {plan:<12} {est.requests('pipedrive'):>12,} {est.tokens('pipedrive'):>11,} {est.requests('autopilot'):>12,} "
                    f"{est.budget_days:>11}  {format_duration(est.min_seconds):>12}  {binding}"
                )
    print(f"\n{time.perf_counter() - started:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
