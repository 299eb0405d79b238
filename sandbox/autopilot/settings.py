"""Every choice the Autopilot sandbox makes where the published facts are silent or unverified.

Each field is one such choice; `docs/sandbox.md` ("Autopilot") says why each default was
picked. Tests and benchmarks pass their own `AutopilotSettings` to `create_app`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

TIMESTAMP_FORMATS = ("iso", "rfc1123", "epoch_ms", "mixed")
DUPLICATE_LIST_POLICIES = ("conflict", "create")
UNSUBSCRIBED_KEY_POLICIES = ("when_set", "always")
EMPTY_STRING_POLICIES = ("keep", "clear")
JOURNEY_PAYLOAD_PLACES = ("key", "merge")


@dataclass(frozen=True)
class AutopilotSettings:
    # How `created_at` / `updated_at` are written in answers and hook payloads: ISO-8601 with
    # milliseconds (`2017-01-14T03:16:19.000Z`), RFC-1123 (`Tue, 12 May 2015 21:41:31 GMT`) or
    # unix milliseconds. All three were seen from the real API. "mixed" picks one of the three
    # per contact and field (deterministically), so one page carries all three.
    timestamp_format: str = "iso"
    # Whether a contact created through the API carries `updated_at` before anything changes it
    # (recorded answers show API-created contacts without one, and with one once changed).
    api_create_sets_updated_at: bool = False
    # When reads show `unsubscribed`: "when_set" (only once a write or an unsubscribe set it,
    # as no recorded contact carries the key) or "always" (true/false on every contact).
    unsubscribed_key: str = "when_set"
    # What `""` written to a standard field does: "keep" stores and reads back `""`, as recorded
    # answers show (`"MailingCity": ""`), "clear" removes the field like `null`.
    empty_strings: str = "keep"
    # Whether an engagement event (a mail received, opened, clicked, ...) moves `updated_at`
    # (recorded contacts have `updated_at` just after their last mail event) and whether it
    # fires `contact_updated` (no source shows it either way).
    engagement_bumps_updated_at: bool = True
    engagement_fires_contact_updated: bool = False
    # Whether `Email` matching (upsert, GET/DELETE by email) tells `Ann@x.com` from `ann@x.com`.
    email_case_sensitive: bool = False
    page_size: int = 100  # contacts per bookmark page
    bulk_limit: int = 100  # contacts per `POST /contacts`
    # `POST /list` with a name already in use: 409 (APD1) or a second list with the same name.
    duplicate_list_name: str = "conflict"
    # Whether writing `custom` under an unknown `type--Name` key creates the field (True) or is
    # refused with a 400 until the field exists (False; then create it with the control route).
    auto_create_custom_fields: bool = True
    # APD1's draft merge rule: an upsert on an existing contact keeps its FirstName/LastName.
    preserve_names_on_merge: bool = False
    # Whether `_autopilot_list` also adds an already existing contact to the list.
    autopilot_list_on_update: bool = True
    # Whether an upsert that changes no value still counts as an update (bumps `updated_at`
    # and fires `contact_updated`); True is the stricter test for echo suppression.
    noop_write_is_update: bool = True
    # REST-hook delivery: retries after the first attempt (APD1 says 5 in one place, 3 in
    # another), the incremental backoff step in simulated seconds (retry n waits n * step),
    # and the per-attempt timeout in real seconds.
    hook_max_retries: int = 5
    hook_backoff_seconds: float = 30.0
    hook_timeout_seconds: float = 10.0
    # A journey's Webhook step (help page "Autopilot: Action - Webhook"; its retries follow the
    # hook_* settings above, unverified: the page is silent): whether contacts reaching the step
    # together go in one request with several `records` (as the page's sample shows) or one
    # request each, and where the marketer's custom payload goes: under the key `payload`
    # ("key") or merged beside `records` and `journey` ("merge"). The page does not show it.
    journey_webhook_per_contact: bool = False
    journey_webhook_payload: str = "key"
    # The `message` of 404s from the list endpoints (a PHP client saw it empty).
    list_not_found_message: str = ""
    # Accept `Owner_Name` as an alias of `owner_name` on writes (no source shows it).
    owner_name_alias: bool = False
    # Send `Retry-After: 1` with rate-limit 429s (no rate-limit headers are documented).
    retry_after_header: bool = False
    # What `GET /account` reports as `instanceId`.
    instance_id: str = "sandbox-instance"
    # Requests the rate limiter lets through back to back: 0 = one second's worth (a burst of
    # 5 at 5 r/s); 1 = none, each request 1/rate seconds after the previous (a limiter
    # without burst, e.g. nginx's default). APD1 only says "5 requests/second".
    rate_limit_burst: int = 0

    def __post_init__(self) -> None:
        if self.timestamp_format not in TIMESTAMP_FORMATS:
            raise ValueError(f"timestamp_format must be one of {', '.join(TIMESTAMP_FORMATS)}")
        if self.unsubscribed_key not in UNSUBSCRIBED_KEY_POLICIES:
            raise ValueError(f"unsubscribed_key must be one of {', '.join(UNSUBSCRIBED_KEY_POLICIES)}")
        if self.empty_strings not in EMPTY_STRING_POLICIES:
            raise ValueError(f"empty_strings must be one of {', '.join(EMPTY_STRING_POLICIES)}")
        if self.duplicate_list_name not in DUPLICATE_LIST_POLICIES:
            raise ValueError(f"duplicate_list_name must be one of {', '.join(DUPLICATE_LIST_POLICIES)}")
        if self.journey_webhook_payload not in JOURNEY_PAYLOAD_PLACES:
            raise ValueError(f"journey_webhook_payload must be one of {', '.join(JOURNEY_PAYLOAD_PLACES)}")
        if self.page_size < 1 or self.bulk_limit < 1:
            raise ValueError("page_size and bulk_limit must be positive")
        if self.hook_max_retries < 0 or self.hook_backoff_seconds < 0 or self.hook_timeout_seconds <= 0:
            raise ValueError("hook retry settings must not be negative")
        if self.rate_limit_burst < 0:
            raise ValueError("rate_limit_burst must not be negative")


# The strict profile (syncmap.sandbox.profiles): for every unverified or silent choice above,
# the plausible reading that is hardest for a sync client. The default stays the likeliest.
STRICT: dict[str, Any] = {
    # All three recorded forms, even within one page: a client must parse each and never compare
    # them as strings (RFC 1123 alone has no milliseconds and is not ISO).
    "timestamp_format": "mixed",
    # Case-sensitive matching: `Ann@x.com` and `ann@x.com` become two contacts.
    "email_case_sensitive": True,
    # A second list with a used name: "find or create by name" must cope with two.
    "duplicate_list_name": "create",
    # APD1's draft merge rule: an upsert keeps existing names, so name updates do not stick.
    "preserve_names_on_merge": True,
    # APD1 also says 3 retries: fewer attempts, more lost hooks.
    "hook_max_retries": 3,
    # 5 r/s is the lowest documented rate (TAP's 20 r/s suggests more), and without burst.
    "rate_limit_burst": 1,
    # Not here because the default is already the hard reading: noop_write_is_update (True),
    # retry_after_header (False), owner_name_alias (False). Not here because public clients'
    # recorded call sequences rely on the default, which makes the other reading implausible:
    # auto_create_custom_fields (the Singer-like bulk write of new custom fields) and
    # autopilot_list_on_update (the PHP-like manager adds existing contacts to lists that way).
    # Also not here, the default being the hard reading already (recorded answers show it):
    # api_create_sets_updated_at (False), unsubscribed_key ("when_set"), empty_strings ("keep"),
    # engagement_bumps_updated_at (True).
    # hooks fire without any field changing: a receiver must not treat each as a change
    "engagement_fires_contact_updated": True,
}
