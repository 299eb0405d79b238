"""Timestamp formats: internal records keep epoch seconds of the sandbox clock to the
millisecond, as Pipedrive keeps sub-second precision its answers may not show.

v2 answers write a time as `…Z` (the v2 examples) or `….000Z` (the v2 migration guide allows
both; webhook samples show milliseconds): `v2_time` picks the form the `timestamp_format`
setting asks for. A client that compares bookmarks as strings, or parses one form only, meets
both here rather than in production.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import lru_cache

TIMESTAMP_FORMATS = ("seconds", "millis", "mixed")


def _split(ts: float) -> tuple[int, int]:
    """Whole seconds and milliseconds (rounded to the millisecond first: 0.9996 is 1.000)."""
    whole, millis = divmod(round(ts * 1000), 1000)
    return int(whole), int(millis)


def _fmt(ts: float, date_sep: str, end: str) -> str:
    # Zero-padded by hand: strftime's %Y gives "1" for year 1 on glibc.
    t = time.gmtime(_split(ts)[0])
    return f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}{date_sep}{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}{end}"


@lru_cache(maxsize=65_536)
def rfc3339(ts: float | None) -> str | None:
    """v2 timestamps in whole seconds, e.g. "2021-01-01T00:00:00Z" (the fraction is dropped)."""
    return None if ts is None else _fmt(ts, "T", "Z")


def v1_time(ts: float | None) -> str | None:
    """v1 timestamps, e.g. "2020-05-08 05:30:20" (UTC)."""
    return None if ts is None else _fmt(ts, " ", "")


@lru_cache(maxsize=65_536)
def iso_millis(ts: float | None) -> str | None:
    """Milliseconds always, e.g. "2019-10-25T08:25:27.120Z" (webhook meta and management)."""
    return None if ts is None else _fmt(ts, "T", f".{_split(ts)[1]:03d}Z")


def v2_time(ts: float | None, style: str, salt: int = 0) -> str | None:
    """A v2 answer's timestamp in the `timestamp_format` style; "mixed" picks the form by
    `salt` (record id and key), so one page, even one record, carries both forms."""
    if style == "millis" or (style == "mixed" and salt % 2):
        return iso_millis(ts)
    return rfc3339(ts)


def day(ts: int | None) -> str | None:
    return None if ts is None else _fmt(ts, "T", "Z")[:10]


# Epoch seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59.999Z: answers must stay RFC 3339.
_FIRST = int(datetime(1, 1, 1, tzinfo=UTC).timestamp())
_LAST = int(datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC).timestamp()) + 0.999


def parse_rfc3339(text: str) -> float:
    """Epoch seconds (to the millisecond) of an RFC 3339 timestamp; a missing offset means UTC."""
    if not isinstance(text, str) or len(text) < 10:
        raise ValueError(f"invalid timestamp {text!r}")
    parsed = datetime.fromisoformat(text.strip().replace(" ", "T", 1) if "T" not in text else text.strip())
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    seconds = round(parsed.timestamp(), 3)
    if not _FIRST <= seconds <= _LAST:  # e.g. 0001-01-01T00:00:00+05:00 is in year 0 in UTC
        raise ValueError(f"timestamp {text!r} is outside 0001-01-01..9999-12-31 UTC")
    return int(seconds) if seconds == int(seconds) else seconds


def parse_date(text: str) -> str:
    """Validate a "YYYY-MM-DD" date and return it unchanged."""
    if not isinstance(text, str) or len(text) != 10:
        raise ValueError(f"invalid date {text!r}")
    # a calendar date or a clock time alone has no zone to carry: naive on purpose
    datetime.strptime(text, "%Y-%m-%d")  # noqa: DTZ007
    return text


def parse_clock_time(text: str) -> str:
    """Validate "HH:MM" or "HH:MM:SS" and return "HH:MM:SS"."""
    if not isinstance(text, str):
        raise ValueError(f"invalid time {text!r}")
    for fmt in ("%H:%M:%S", "%H:%M"):
        try:
            return datetime.strptime(text, fmt).strftime("%H:%M:%S")  # noqa: DTZ007
        except ValueError:
            continue
    raise ValueError(f"invalid time {text!r}")
