"""What each Pipedrive request costs from the daily token budget (`x-token-cost`).

One table serves the compiler's estimate (`cost.py`), the runtime's governor and the
sandbox's gateway, so the three never disagree. `costs/token_costs.json` is a copy of
`shared/ref/pipedrive/token-costs.json` (a test keeps them equal): the `x-token-cost` of every
operation in Pipedrive's published OpenAPI files. A request costs what its operation costs in
the current v2 spec, else the current v1 spec, else the January 2026 v1 spec; paths no spec
has cost nothing.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources
from pathlib import Path

__all__ = ["COSTS_FILE", "SPEC_ORDER", "TokenCosts", "load_token_costs"]

COSTS_FILE = Path(__file__).with_name("costs") / "token_costs.json"
SPEC_ORDER = ("v2", "v1", "v1-2026-01-14")


class TokenCosts:
    def __init__(self, entries: list[dict]) -> None:
        # (method, segment count) -> [(literal segments, regex, cost)], first spec wins.
        self._buckets: dict[tuple[str, int], list[tuple[int, re.Pattern[str], int]]] = {}
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
            bucket.append((literal, re.compile(pattern + r"\Z"), entry["token_cost"]))
        for bucket in self._buckets.values():
            bucket.sort(key=lambda item: -item[0])  # `/persons/search` before `/persons/{id}`
        self._cache: dict[tuple[str, str], int] = {}

    def cost(self, method: str, path: str) -> int:
        """Tokens one `method path` request costs; `path` as sent, e.g. `/api/v2/persons/7`."""
        key = (method, path)
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        stripped = path.split("?", 1)[0].strip("/")
        if stripped.startswith("api/v1/"):
            stripped = stripped[4:]  # both prefixes reach v1; the specs spell it /v1/
        result = 0
        for _, pattern, cost in self._buckets.get((method.upper(), stripped.count("/") + 1), ()):
            if pattern.match(stripped):
                result = cost
                break
        if len(self._cache) < 50_000:
            self._cache[key] = result
        return result


@lru_cache(maxsize=1)
def load_token_costs() -> TokenCosts:
    """The shipped table (cached)."""
    text = resources.files("syncmap.compiler").joinpath("costs", "token_costs.json").read_text(encoding="utf-8")
    data = json.loads(text)
    return TokenCosts([entry for spec in SPEC_ORDER for entry in data["specs"][spec]])
