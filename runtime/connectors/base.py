"""What the engine sees of a record, whichever system it comes from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Record:
    id: str
    values: dict[str, Any]  # flat: ref_key -> value
    updated: float | None = None  # epoch seconds of the last change, when the API says
    deleted: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


class ConnectorError(Exception):
    """A configuration problem found at start (missing variable, bad credentials, no route)."""
