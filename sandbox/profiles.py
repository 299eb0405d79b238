"""One switch for how hard the sandboxes are on a client: the "default" profile is each
API's likeliest behaviour; "strict" turns every unverified or silent choice in
docs/sandbox.md to the plausible reading that is hardest for a sync client (each settings
module's `STRICT` says which and why).

    create_app(profile="strict")            # either sandbox; explicit settings= still win
    serve_sandboxes(profile="strict")       # both; `syncmap sandbox --profile strict`
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from syncmap.sandbox.autopilot.settings import AutopilotSettings
    from syncmap.sandbox.pipedrive.settings import PipedriveSettings

PROFILES = ("default", "strict")


def overrides(profile: str, strict: dict[str, Any]) -> dict[str, Any]:
    """The settings fields a profile changes (ValueError for an unknown profile)."""
    if profile not in PROFILES:
        raise ValueError(f"unknown sandbox profile {profile!r}; expected one of {', '.join(PROFILES)}")
    return dict(strict) if profile == "strict" else {}


# The settings modules are imported when called: each sandbox package imports this module
# from its create_app, so importing them at the top would be circular.
def pipedrive_settings(profile: str = "default") -> PipedriveSettings:
    from syncmap.sandbox.pipedrive.settings import STRICT, PipedriveSettings

    return PipedriveSettings(**overrides(profile, STRICT))


def autopilot_settings(profile: str = "default") -> AutopilotSettings:
    from syncmap.sandbox.autopilot.settings import STRICT, AutopilotSettings

    return AutopilotSettings(**overrides(profile, STRICT))
