"""Per-operation token costs (`x-token-cost`): the compiler's table, shared with the runtime.

The table and its lookup live in `syncmap.compiler.token_costs` so the sandbox charges exactly
what the runtime's governor and `syncmap explain` expect; these names stay for the sandbox code.
The same table lists every documented operation (`CostTable.operations()`, `.operation()`), which
tells a documented route the sandbox does not model from a path no description has (coverage.py).
"""

from __future__ import annotations

from syncmap.compiler.token_costs import COSTS_FILE, SPEC_ORDER
from syncmap.compiler.token_costs import TokenCosts as CostTable
from syncmap.compiler.token_costs import load_token_costs as load_cost_table

__all__ = ["COSTS_FILE", "SPEC_ORDER", "CostTable", "load_cost_table"]
