"""Every knob of the Pipedrive sandbox, including each choice made where the published
description is silent or a fact is marked UNVERIFIED (listed in `docs/sandbox.md`).

Defaults follow the documented behaviour; tests flip a setting to exercise the other reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from syncmap.compiler.pipedrive_plans import burst_limits, daily_budget, load_plans, plan, plan_names
from syncmap.sandbox.pipedrive.times import TIMESTAMP_FORMATS

# The plans: burst limit per token and 2-second window (api_token, OAuth access token) and the
# daily budget multiplier (30,000 x multiplier x seats), from the one table syncmap's estimate and
# governor read too (compiler/costs/pipedrive_plans.json: published data, the dependency rule's
# exception). Old plan names are the official table (pipedrive-api.md §5 B); the new names'
# bursts and every multiplier are marked unverified there.
BURST_LIMITS: dict[str, tuple[int, int]] = {name: burst_limits(name) for name in plan_names()}
BUDGET_MULTIPLIERS: dict[str, int] = {name: int(plan(name)["multiplier"]["value"]) for name in plan_names()}

PLANS = tuple(BURST_LIMITS)
NAME_SPLITS = ("first_word", "last_word")
WEBHOOK_CUSTOM_FIELD_STYLES = ("typed", "plain")
RELATED_IDS = ("owner_id", "org_id", "person_id", "deal_id")
DELETED_GET = ("object", "404", "410")
WEBHOOK_META_STYLES = ("doc", "captured")
RECENTS_USER_DATA = ("array", "object")


@dataclass
class PipedriveSettings:
    # -- account -------------------------------------------------------------------------------
    company_id: int = 7405217
    company_name: str = "Sandbox Trading Ltd"
    seats: int = 1
    oauth_token: str | None = None  # accepted as `Authorization: Bearer <token>` when set
    accept_query_token: bool = True  # `?api_token=`; UNVERIFIED for v2, so it can be switched off

    # -- rate limits (§5) ----------------------------------------------------------------------
    window_seconds: float = 2.0
    search_limit: int = 10  # per token and window, every plan
    # Search requests count only in the search window, and their x-ratelimit-* headers describe it.
    search_counts_in_general_window: bool = False
    budget_base_tokens: int = int(load_plans()["daily_budget_base"]["value"])
    daily_budget: int | None = None  # overrides base x multiplier x seats when set
    daily_budget_headers: bool = True  # x-daily-ratelimit-token-limit/-remaining (UNVERIFIED)
    daily_post_put_limit: int = 10_000  # x-daily-requests-left (2019 fair-use limit)
    enforce_post_put_limit: bool = False  # the token budget superseded it; header only by default
    # The 2019 notice names POST/PUT only (v1 had no PATCH); whether v2's PATCH counts is unknown.
    daily_requests_count_patch: bool = False
    rate_limit_error: str = "Request over limit"  # 429 body text (UNVERIFIED)
    budget_error: str = "Daily API token budget exceeded"  # 429 body text (UNVERIFIED)

    # -- entities (§4, §8) ---------------------------------------------------------------------
    default_limit: int = 100
    max_limit: int = 500
    search_max_limit: int = 500
    retention_days: int = 30  # soft-deleted records are purged after this many days
    deleted_get: str = "object"  # GET of a soft-deleted id: "object" (is_deleted true), "404" or "410"
    person_name_required: bool = True  # v2 spec marks nothing required; v1 requires `name`
    accept_first_last_name: bool = False  # v2 bodies carry `name` only
    reject_unknown_fields: bool = True  # unknown body keys give a 400 `"x" is not allowed`
    contact_sync: bool = False  # postal_address, notes, im, birthday, job_title need contact sync
    default_contact_label: str = "work"
    first_contact_primary: bool = True  # the first email/phone becomes primary if none is
    noop_update_emits_change: bool = False  # a PATCH that changes nothing: no update_time bump, no webhook
    # first_name/last_name from `name`: "first_word" (first word, then the rest) or "last_word"
    # (everything but the last word, then the last word); Pipedrive documents neither.
    name_split: str = "first_word"
    # v2 answers write times as "…Z" ("seconds", the v2 examples), "….000Z" ("millis") or both
    # ("mixed"); the migration guide allows both forms. Webhook payloads always carry milliseconds.
    timestamp_format: str = "seconds"
    # Related ids a write must point at an existing record: owner_id must be a user of the
    # account (product docs); whether org_id/person_id/deal_id are checked is unverified.
    checked_related_ids: tuple[str, ...] = ("owner_id",)
    # Search is an index fed after the write: a change is searchable this many sandbox seconds
    # later (until then, search sees the record as it was, and a new record not at all).
    search_index_delay_seconds: float = 2.0
    default_currency: str = "USD"
    default_activity_type: str = "call"
    # The seeded default pipeline's stages, ids 1..n (`api_pipelines.py`). The v2 examples show
    # 1 "Lead In" and 3 "Demo Scheduled", the rest is Pipedrive's default pipeline.
    stage_names: tuple[str, ...] = ("Lead In", "Contact Made", "Demo Scheduled", "Proposal Made", "Negotiations Started")

    # -- merge (§8) ----------------------------------------------------------------------------
    merge_response_id: str = "survivor"  # data.id of the merge answer: "survivor" or "merged"
    merge_combines_contacts: bool = True  # emails/phones of the merged person are appended

    # -- webhooks (§6) -------------------------------------------------------------------------
    webhook_retry_delays: tuple[float, ...] = (3.0, 30.0, 150.0)
    webhook_timeout_seconds: float = 10.0
    webhook_min_real_timeout: float = 0.25  # never time out faster than this in real seconds
    webhook_ban_threshold: int = 10
    webhook_ban_minutes: float = 30.0
    webhook_auto_delete_days: float = 3.0
    max_webhooks_per_user: int = 40
    webhook_meta_style: str = "doc"  # "doc": string ids + ISO timestamp; "captured": ints + epoch
    # Custom fields in webhook `data`/`previous`: "typed" objects ({"type": "enum", "id": 12}),
    # as public v2 consumers read them, or "plain" REST values (the REST v2 shape).
    webhook_custom_fields: str = "typed"
    # `data` "contains only crucial information": with this on, the keys in
    # webhook_payload.OPTIONAL_KEYS are left out of `data` and `previous`.
    webhook_data_minimal: bool = False

    # -- /v1/recents ---------------------------------------------------------------------------
    # Whether recents reports deletions is UNVERIFIED: by default a record deleted since the
    # timestamp comes back in its deleted state (active_flag/deleted); False leaves it out.
    recents_include_deleted: bool = True
    # The description says "changes occurred after the given timestamp"; whether a change at
    # exactly that second is included is UNVERIFIED. True (>=) never loses a change made in the
    # bookmark's second; False (>) follows the word "after".
    recents_since_inclusive: bool = True
    # `data` of a user item: "array" as public clients read it (Airbyte data.*.data.*, singer's
    # "list of dicts"), or "object" as the v1 description's schema says.
    recents_user_data: str = "array"

    # -- v1 formats ----------------------------------------------------------------------------
    # v1 field and activity-type definitions declare `format: date-time` but the examples show
    # "YYYY-MM-DD HH:MM:SS"; "rfc3339" follows the schema, "legacy" follows the examples.
    v1_definition_timestamps: str = "rfc3339"

    def __post_init__(self) -> None:
        for name, allowed in (
            ("timestamp_format", TIMESTAMP_FORMATS),
            ("name_split", NAME_SPLITS),
            ("webhook_custom_fields", WEBHOOK_CUSTOM_FIELD_STYLES),
            ("deleted_get", DELETED_GET),
            ("webhook_meta_style", WEBHOOK_META_STYLES),
            ("recents_user_data", RECENTS_USER_DATA),
        ):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {', '.join(allowed)}, not {getattr(self, name)!r}")
        unknown = set(self.checked_related_ids) - set(RELATED_IDS)
        if unknown:
            raise ValueError(f"checked_related_ids may only name {', '.join(RELATED_IDS)}, not {sorted(unknown)}")
        if self.search_index_delay_seconds < 0:
            raise ValueError("search_index_delay_seconds must not be negative")

    def stage_name(self, stage_id: int | None) -> str | None:
        if stage_id is None or not 1 <= stage_id <= len(self.stage_names):
            return None
        return self.stage_names[stage_id - 1]

    def daily_budget_for(self, plan: str) -> int:
        if self.daily_budget is not None:
            return self.daily_budget
        return daily_budget(plan, self.seats, self.budget_base_tokens)


# The strict profile (syncmap.sandbox.profiles): for every choice above that is unverified or
# silent, the plausible reading that is hardest for a sync client. The default stays the likeliest.
STRICT: dict[str, Any] = {
    # One guide says v2 refuses ?api_token=: a client must send the x-api-token header.
    "accept_query_token": False,
    # Search requests also spend the general burst window.
    "search_counts_in_general_window": True,
    # The budget headers "can be missing": a client must not need them to pace itself.
    "daily_budget_headers": False,
    # The 10,000 POST/PUT a day may still be enforced, and PATCH may count toward it.
    "enforce_post_put_limit": True,
    "daily_requests_count_patch": True,
    # A deleted id answers 404 like one that never existed: deletions must come from webhooks
    # or reconciliation, not from reading the record back.
    "deleted_get": "404",
    # The first email/phone is not made primary: a client must cope with no primary item.
    "first_contact_primary": False,
    # A PATCH that changes nothing still bumps update_time and sends a change webhook: echo
    # suppression cannot rely on Pipedrive staying quiet.
    "noop_update_emits_change": True,
    # "Ada van der Berg" -> first "Ada van der", last "Berg": clients must not re-derive names.
    "name_split": "last_word",
    # Both time forms in one answer: string comparison or one-format parsing breaks.
    "timestamp_format": "mixed",
    # Every related id must exist: writes must follow the order organizations, persons, deals.
    "checked_related_ids": RELATED_IDS,
    # Search lags writes by half a minute: "search, then create" makes duplicates.
    "search_index_delay_seconds": 30.0,
    # The merge answer's `id` may be the merged person: clients must read merge_what_id.
    "merge_response_id": "merged",
    # Webhook meta as the captured example (int ids, epoch seconds), data minimal.
    "webhook_meta_style": "captured",
    "webhook_data_minimal": True,
    # Recents leaves deleted records out: deletions must come from webhooks or reconciliation.
    "recents_include_deleted": False,
    # A change in the bookmark's own second is not reported again: clients must overlap their
    # since_timestamp (or dedupe) instead of trusting ">=".
    "recents_since_inclusive": False,
    # Not here: v1_definition_timestamps "legacy" (it breaks the published schema, and every
    # answer must still conform under strict).
}
