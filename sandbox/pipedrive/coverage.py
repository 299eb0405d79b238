"""Which documented operations the sandbox serves, derived from the published descriptions
(the operation list in `compiler/costs/token_costs.json`) and the app's own routes, never from a hand list.

Requests for the others are answered 501 "The sandbox does not model …" (see app.py);
`docs/sandbox.md` lists the result of `unmodelled_groups()` and a test keeps the two equal.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.routing import Match

from syncmap.sandbox.pipedrive.costs import load_cost_table

_PARAM = re.compile(r"\{[^}]+\}")


def _served(app: Any, method: str, template: str) -> bool:
    scope = {"type": "http", "method": method, "path": _PARAM.sub("1", template), "root_path": ""}
    return any(route.matches(scope)[0] == Match.FULL for route in app.router.routes)


def unmodelled_operations(app: Any) -> list[tuple[str, str]]:
    """Every documented (method, path template) that no route of `app` serves."""
    return [(method, template) for method, template in load_cost_table().operations() if not _served(app, method, template)]


def unmodelled_groups(app: Any) -> dict[str, dict[str, int]]:
    """Not-modelled operations counted per API prefix and first path segment, e.g.
    `{"/api/v2": {"products": 19, ...}, "/v1": {"notes": 10, ...}}`."""
    groups: dict[str, dict[str, int]] = {}
    for _, template in unmodelled_operations(app):
        prefix = "/api/v2" if template.startswith("/api/v2/") else "/v1"
        resource = template[len(prefix) + 1 :].split("/")[0]
        counts = groups.setdefault(prefix, {})
        counts[resource] = counts.get(resource, 0) + 1
    return {prefix: dict(sorted(counts.items())) for prefix, counts in sorted(groups.items())}
