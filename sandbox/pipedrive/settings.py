"""Every knob of the Pipedrive sandbox, including each choice made where the published
description is silent or a fact is marked UNVERIFIED (listed in `docs/sandbox.md`).

Defaults follow the documented behaviour; tests flip a setting to exercise the other reading.
"""

from __future__ import annotations

from dataclasses import dataclass

# Burst limit per token and 2-second window: (api_token, OAuth access token). Old plan names are
# the official table (pipedrive-api.md §5 B); the new names are third-party summaries (UNVERIFIED).
BURST_LIMITS: dict[str, tuple[int, int]] = {
    "essential": (20, 80),
    "advanced": (40, 160),
    "professional": (80, 320),
    "power": (100, 400),
    "enterprise": (120, 480),
    "lite": (20, 80),
    "growth": (40, 160),
    "premium": (100, 400),
    "ultimate": (120, 480),
}

# Daily token budget multiplier per plan (30,000 x multiplier x seats). Lite 1, Growth 2, Premium 5,
# Ultimate 7 are near-verified; the old names map Essential->Lite, Advanced->Growth,
# Professional->Premium, Enterprise->Ultimate, and the retired Power plan to Premium (a choice).
BUDGET_MULTIPLIERS: dict[str, int] = {
    "essential": 1,
    "advanced": 2,
    "professional": 5,
    "power": 5,
    "enterprise": 7,
    "lite": 1,
    "growth": 2,
    "premium": 5,
    "ultimate": 7,
}

PLANS = tuple(BURST_LIMITS)


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
    budget_base_tokens: int = 30_000
    daily_budget: int | None = None  # overrides base x multiplier x seats when set
    daily_budget_headers: bool = True  # x-daily-ratelimit-token-limit/-remaining (UNVERIFIED)
    daily_post_put_limit: int = 10_000  # x-daily-requests-left (2019 fair-use limit)
    enforce_post_put_limit: bool = False  # the token budget superseded it; header only by default
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
    default_currency: str = "USD"
    default_activity_type: str = "call"
    # Stages are not modelled; search answers name a deal's stage from this list (ids 1..5). The
    # v2 examples show 1 "Lead In" and 3 "Demo Scheduled", the rest is Pipedrive's default pipeline.
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

    def stage_name(self, stage_id: int | None) -> str | None:
        if stage_id is None or not 1 <= stage_id <= len(self.stage_names):
            return None
        return self.stage_names[stage_id - 1]

    def daily_budget_for(self, plan: str) -> int:
        if self.daily_budget is not None:
            return self.daily_budget
        return self.budget_base_tokens * BUDGET_MULTIPLIERS[plan] * self.seats
