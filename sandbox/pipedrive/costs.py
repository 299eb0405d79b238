"""The operations of the published specs and their token costs (`x-token-cost`).

`token_costs.json` is a copy of `shared/ref/pipedrive/token-costs.json` (a test keeps them
equal), which lists every operation (method, path) of the three specs. A request costs what its
operation costs in the current v2 spec, else the current v1 spec, else the January 2026 v1
spec; paths we cannot place cost nothing. `operation()` also tells a documented route that the
sandbox does not model from a path no description has.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

COSTS_FILE = Path(__file__).with_name("token_costs.json")
SPEC_ORDER = ("v2", "v1", "v1-2026-01-14")


class CostTable:
    def __init__(self, entries: list[dict]) -> None:
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
        stripped = path.strip("/")
        result: tuple[int, str | None] = (0, None)
        for _, pattern, cost, template in self._buckets.get((method, stripped.count("/") + 1), ()):
            if pattern.match(stripped):
                result = (cost, template)
                break
        if len(self._cache) < 50_000:
            self._cache[key] = result
        return result

    def cost(self, method: str, path: str) -> int:
        return self._lookup(method, path)[0]

    def operation(self, method: str, path: str) -> str | None:
        """The documented path template (e.g. `/v1/notes/{id}`) of a request, or None."""
        return self._lookup(method, path)[1]

    def operations(self) -> list[tuple[str, str]]:
        """Every documented (method, path template), once, as `operation()` names it."""
        every = {(method, item[3]) for (method, _), bucket in self._buckets.items() for item in bucket}
        return sorted({(method, self.operation(method, template) or template) for method, template in every})


@lru_cache(maxsize=1)
def load_cost_table() -> CostTable:
    data = json.loads(COSTS_FILE.read_text())
    entries = [entry for spec in SPEC_ORDER for entry in data["specs"][spec]]
    return CostTable(entries)
