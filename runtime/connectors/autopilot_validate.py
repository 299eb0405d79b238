"""What Autopilot would refuse in a contact, found before the contact is sent.

`POST /contacts` is all or nothing (docs/sandbox.md): one contact Autopilot refuses makes the
whole batch of up to 100 a 400, and finding that contact by halving the batch
(`Writing.upsert_isolating`) costs about 2·log2(100) more requests. What a client can know in
advance is checked here, so such a contact never joins a batch:

- `Email` and `_NewEmail` look like an address: `x@y`, one `@`, no white space;
- a standard field holds text or a number (`unsubscribed`: true or false), not a list or an
  object, and a number is finite: JSON has no NaN or Infinity, and one in a body makes the whole body invalid;
- a custom field's value fits its type (autopilot-api.md §1.4): a whole number for `integer`, a
  finite number for `float`, true/false for `boolean`, an ISO date or date-time for `date`.

Sizes: Autopilot publishes none for a contact's fields (the 255 and 4,000 characters in
autopilot-api.md §1.9 are Ortto's, its successor's), so none is assumed here; the batch size
(100) is the writer's.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

__all__ = ["custom_problem", "email_problem", "standard_problem"]

_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")


def email_problem(value: Any) -> str | None:
    """Why Autopilot would refuse this as a contact's `Email` or `_NewEmail` (None: it would not)."""
    if isinstance(value, str) and _EMAIL.fullmatch(value):
        return None
    return f"{value!r} is not an email address Autopilot accepts (one @, no spaces)"


def standard_problem(field: str, value: Any) -> str | None:
    """Why the standard contact field `field` cannot hold `value` (None: it can, or it clears).
    Every standard field holds text but `unsubscribed`, which is true or false (§1.3, §1.5)."""
    if field == "unsubscribed":
        return None if value is None or isinstance(value, bool) else f"{value!r} is not true or false, for Autopilot's unsubscribed"
    if value is None or isinstance(value, str):
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return None if math.isfinite(value) else f"{value!r} is not a number JSON can carry, for the Autopilot field {field!r}"
    return f"{value!r} is not text or a number, and the Autopilot field {field!r} holds text"


def custom_problem(kind: str, label: str, value: Any) -> str | None:
    """Why a custom field of type `kind` named `label` cannot hold `value` beyond what
    `fit_custom` refuses (None: it can, or the value clears the field)."""
    if value is None or value == "":
        return None
    if kind in ("integer", "float") and not isinstance(value, bool):
        try:
            number = float(value)
        except (TypeError, ValueError):
            return None  # not a number at all: fit_custom says so
        if not math.isfinite(number):
            return f"{value!r} is not a number JSON can carry, for the Autopilot field {label!r}"
    if kind == "date" and not _iso_date(value):
        return f"{value!r} is not an ISO date (YYYY-MM-DD, or a date and time), and the Autopilot field {label!r} is a date field"
    return None


def _iso_date(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        parsed = datetime.fromisoformat(value.strip())
        (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)  # years 1..9999 once in UTC
    except (ValueError, OverflowError):
        return False
    return True
