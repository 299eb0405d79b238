"""What each Pipedrive request costs from the daily token budget (`x-token-cost`).

One table serves the compiler's estimate (`cost.py`), the runtime's governor and the
sandbox's gateway, so the three never disagree. `costs/token_costs.json` is a copy of
`shared/ref/pipedrive/token-costs.json` (a test keeps them equal): the `x-token-cost` of every
operation in Pipedrive's published OpenAPI files, which also lists every documented operation
(`operations()`). A request costs what its operation costs in
the current v2 spec, else the current v1 spec, else the January 2026 v1 spec; paths no spec
has cost nothing.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["COSTS_FILE", "SPEC_ORDER", "TokenCosts", "load_token_costs"]

COSTS_FILE = Path(__file__).with_name("costs") / "token_costs.json"
SPEC_ORDER = ("v2", "v1", "v1-2026-01-14")


class TokenCosts:
    def __init__(self, entries: list[dict[str, Any]]) -> None:
        # (method, segment count) -> [(literal segments, regex, cost, path)], first spec wins.
        self._buckets: dict[tuple[str, int], list[tuple[int, re.Pattern[str], int, str]]] = {}
        seen: set[tuple[str, str]] = set()
        for entry in entries:
            key = (entry["method"], entry["path"])
            if key in seen:
                continue
            seen.add(key)
            segments = entry["path"].strip("/").split("/")
            pattern = "/".join("[^/]+" if s.startswith("{") else re.escape(s) for s in segments)
            literal = sum(1 for s in segments if not s.startswith("{"))
            bucket = self._buckets.setdefault((entry["method"], len(segments)), [])
            bucket.append((literal, re.compile(pattern + r"\Z"), entry["token_cost"], entry["path"]))
        for bucket in self._buckets.values():
            bucket.sort(key=lambda item: -item[0])  # `/persons/search` before `/persons/{id}`
        self._cache: dict[tuple[str, str], tuple[int, str | None]] = {}

    def _lookup(self, method: str, path: str) -> tuple[int, str | None]:
        key = (method, path)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        stripped = path.split("?", 1)[0].strip("/")
        if stripped.startswith("api/v1/"):
            stripped = stripped[4:]  # both prefixes reach v1; the specs spell it /v1/
        result: tuple[int, str | None] = (0, None)
        for _, pattern, cost, template in self._buckets.get((method.upper(), stripped.count("/") + 1), ()):
            if pattern.match(stripped):
                result = (cost, template)
                break
        if len(self._cache) < 50_000:
            self._cache[key] = result
        return result

    def cost(self, method: str, path: str) -> int:
        """Tokens one `method path` request costs; `path` as sent, e.g. `/api/v2/persons/7`."""
        return self._lookup(method, path)[0]

    def operation(self, method: str, path: str) -> str | None:
        """The documented path template (e.g. `/v1/notes/{id}`) of a request, or None: tells a
        documented route the sandbox does not model from a path no description has."""
        return self._lookup(method, path)[1]

    def operations(self) -> list[tuple[str, str]]:
        """Every documented (method, path template), once, as `operation()` names it."""
        every = {(method, item[3]) for (method, _), bucket in self._buckets.items() for item in bucket}
        return sorted({(method, self.operation(method, template) or template) for method, template in every})


@lru_cache(maxsize=1)
def load_token_costs() -> TokenCosts:
    """The shipped table (cached)."""
    text = resources.files("syncmap.compiler").joinpath("costs", "token_costs.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return TokenCosts([entry for spec in SPEC_ORDER for entry in data["specs"][spec]])
