"""Pipedrive's plans: each plan's burst limit and daily token-budget multiplier.

One table, `costs/pipedrive_plans.json`, serves `syncmap explain`'s estimate (`cost.py`, which
reads it as part of its limits), the runtime's governor and the sandbox's gateway, so the three
never disagree on what a plan allows. Like `token_costs.py` it is published data with no logic of
syncmap's own, which is why the sandbox may import it (docs/architecture.md, "The dependency
rule"). Both vocabularies are rows of the table (Essential … Enterprise, Lite … Ultimate);
`same_as` names a plan's counterpart in the other one, once. Facts the reference does not verify
carry `unverified: true`, and `explain` says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

__all__ = ["burst_limits", "daily_budget", "load_plans", "plan", "plan_names"]


@lru_cache(maxsize=1)
def load_plans() -> Mapping[str, Any]:
    """The shipped table (cached; treat it as read-only)."""
    text = resources.files("syncmap.compiler").joinpath("costs", "pipedrive_plans.json").read_text(encoding="utf-8")
    table: Mapping[str, Any] = json.loads(text)
    return table


def plan_names() -> list[str]:
    """Every plan, the older names first, as the table lists them."""
    return list(load_plans()["plans"])


def plan(name: str) -> Mapping[str, Any]:
    """One plan's row (`burst`, `burst_oauth`, `multiplier`, each a fact with its source)."""
    plans = load_plans()["plans"]
    if name not in plans:
        raise ValueError(f"unknown Pipedrive plan {name!r}; known plans: {', '.join(plans)}")
    row: Mapping[str, Any] = plans[name]
    return row


def burst_limits(name: str) -> tuple[int, int]:
    """Requests per 2-second window: (api_token, OAuth access token)."""
    row = plan(name)
    return int(row["burst"]["value"]), int(row["burst_oauth"]["value"])


def daily_budget(name: str, seats: int = 1, base: int | None = None) -> int:
    """Tokens a day: the base (30,000 unless given) x the plan's multiplier x seats."""
    tokens = int(base if base is not None else load_plans()["daily_budget_base"]["value"])
    return tokens * int(plan(name)["multiplier"]["value"]) * seats
