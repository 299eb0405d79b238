"""Engagement history: what Autopilot records when it mails a contact and the contact reacts.

Reads carry one map per kind, `mail_received`, `mail_opened`, ... each delivery id -> epoch
milliseconds (autopilot-api.md §1.3; TAP converts all seven). A delivery id names one batch
send, shared by every contact of that batch, in the recorded form
`batchdelivery_<UUID>_<send epoch ms>-<uuid>` (RUBY cassette `test_all_returns_a_contact_array`).
Writes never change it: an upsert "overwrites contact details, not activity history" (BLOG).
"""

from __future__ import annotations

import math
from typing import Any

from syncmap.sandbox.autopilot.errors import ApiError

# control-route kind -> the read key it fills
KINDS = {
    "send": "mail_received",
    "open": "mail_opened",
    "click": "mail_clicked",
    "bounce": "mail_bounced",
    "hardbounce": "mail_hardbounced",
    "complain": "mail_complained",
    "unsubscribe": "mail_unsubscribed",
}
# Kinds that are a delivery of their own (a new delivery id unless one is given); the others
# react to a mail the contact received (the latest one unless one is given).
DELIVERIES = ("send", "bounce", "hardbounce")


def delivery_id(batch_uuid: str, sent_at: float, suffix_uuid: str) -> str:
    return f"batchdelivery_{batch_uuid.upper()}_{int(sent_at * 1000)}-{suffix_uuid.lower()}"


def parse_event(kind: Any, at: Any, delivery: Any) -> tuple[str, float | None, str | None]:
    """Check a control-route engagement body: (kind, at or None, delivery id or None)."""
    if kind not in KINDS:
        raise ApiError(400, f"kind must be one of {', '.join(KINDS)}.")
    if at is not None and (isinstance(at, bool) or not isinstance(at, (int, float)) or not math.isfinite(at) or at < 0):
        raise ApiError(400, "at must be a number of seconds since the epoch (sandbox time).")
    if delivery is not None and (not isinstance(delivery, str) or not delivery):
        raise ApiError(400, "delivery_id must be a non-empty string.")
    return kind, None if at is None else float(at), delivery


def reaction_target(engagement: dict[str, dict[str, int]], kind: str, delivery: str | None) -> str:
    """The received delivery an open, click, complaint or unsubscribe is about."""
    received = engagement.get("mail_received", {})
    if delivery is None:
        if not received:
            raise ApiError(400, f"The contact has received no mail to {kind}.")
        return max(received, key=received.__getitem__)
    if delivery not in received:
        raise ApiError(400, f"The contact has not received delivery {delivery!r}.")
    return delivery
