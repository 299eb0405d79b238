"""A faithful local stand-in for Pipedrive's API (v2 entities, the v1-only endpoints, auth,
rate limits, token budget, webhooks), as an ASGI app. See docs/sandbox.md, "Pipedrive".

    app = create_app(token="t", plan="advanced")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://pd") as c:
        await c.get("/api/v2/persons", headers={"x-api-token": "t"})
"""

from syncmap.sandbox.pipedrive.app import create_app
from syncmap.sandbox.pipedrive.settings import PLANS, PipedriveSettings

__all__ = ["PLANS", "PipedriveSettings", "create_app"]
