"""Timestamps as the two APIs write them, read leniently into epoch seconds.

Pipedrive v2 sends `2024-01-01T00:00:00Z` or `…00.000Z` (both, per the v2 migration guide);
Autopilot sends ISO 8601 with milliseconds, RFC 1123 or epoch milliseconds (ref §1.3). Never
compare them as strings: parse, then compare numbers.
"""

from __future__ import annotations

import datetime as dt
from email.utils import parsedate_to_datetime
from typing import Any


def to_epoch(value: Any) -> float | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        # Epoch milliseconds (Autopilot) are 13 digits today; seconds are 10.
        return value / 1000.0 if value > 10**11 else float(value)
    text = str(value).strip()
    if text.isascii() and text.isdigit():  # "²" is a digit to str.isdigit, not to int()
        return to_epoch(int(text))
    try:
        moment = dt.datetime.fromisoformat(
            text.replace("Z", "+00:00").replace(" ", "T", 1) if "T" not in text and len(text) > 10 else text.replace("Z", "+00:00")
        )
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


def iso_seconds(epoch: float) -> str:
    """RFC 3339 in whole seconds, UTC: what Pipedrive's `updated_since` takes."""
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
