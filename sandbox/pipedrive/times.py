"""Timestamp formats: internal records keep whole epoch seconds of the sandbox clock.

Whole seconds make `updated_since` comparisons exactly what a client sees in `update_time`.
"""

from __future__ import annotations

import time
from functools import lru_cache
from datetime import datetime, timezone


def _fmt(ts: int, date_sep: str, end: str) -> str:
    # Zero-padded by hand: strftime's %Y gives "1" for year 1 on glibc.
    t = time.gmtime(ts)
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}{date_sep}{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}{end}"


@lru_cache(maxsize=65_536)
def rfc3339(ts: int | None) -> str | None:
    """v2 timestamps, e.g. "2021-01-01T00:00:00Z"."""
    return None if ts is None else _fmt(ts, "T", "Z")


def v1_time(ts: int | None) -> str | None:
    """v1 timestamps, e.g. "2020-05-08 05:30:20" (UTC)."""
    return None if ts is None else _fmt(ts, " ", "")


def iso_millis(ts: int | None) -> str | None:
    """The webhook-management and webhook-meta style, e.g. "2019-10-25T08:25:27.000Z"."""
    return None if ts is None else _fmt(ts, "T", ".000Z")


def day(ts: int | None) -> str | None:
    return None if ts is None else _fmt(ts, "T", "Z")[:10]


# Whole seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: answers must stay RFC 3339.
_FIRST = int(datetime(1, 1, 1, tzinfo=timezone.utc).timestamp())
_LAST = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc).timestamp())


def parse_rfc3339(text: str) -> int:
    """Whole epoch seconds of an RFC 3339 timestamp; a missing offset means UTC."""
    if not isinstance(text, str) or len(text) < 10:
        raise ValueError(f"invalid timestamp {text!r}")
    parsed = datetime.fromisoformat(text.strip().replace(" ", "T", 1) if "T" not in text else text.strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    seconds = int(parsed.timestamp())
    if not _FIRST <= seconds <= _LAST:  # e.g. 0001-01-01T00:00:00+05:00 is in year 0 in UTC
        raise ValueError(f"timestamp {text!r} is outside 0001-01-01..9999-12-31 UTC")
    return seconds


def parse_date(text: str) -> str:
    """Validate a "YYYY-MM-DD" date and return it unchanged."""
    if not isinstance(text, str) or len(text) != 10:
        raise ValueError(f"invalid date {text!r}")
    datetime.strptime(text, "%Y-%m-%d")
    return text


def parse_clock_time(text: str) -> str:
    """Validate "HH:MM" or "HH:MM:SS" and return "HH:MM:SS"."""
    if not isinstance(text, str):
        raise ValueError(f"invalid time {text!r}")
    for fmt in ("%H:%M:%S", "%H:%M"):
        try:
            return datetime.strptime(text, fmt).strftime("%H:%M:%S")
        except ValueError:
            continue
    raise ValueError(f"invalid time {text!r}")
