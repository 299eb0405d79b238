"""The profile switch: "default" is each API's likeliest behaviour, "strict" every unverified
or silent choice at its hardest, for both sandboxes through one argument."""

from __future__ import annotations

import asyncio
from dataclasses import fields

import httpx
import pytest
from pipedrive_support import Receiver, async_test, client

from syncmap.sandbox.autopilot import AutopilotSettings
from syncmap.sandbox.autopilot import create_app as create_autopilot
from syncmap.sandbox.autopilot import settings as autopilot_module
from syncmap.sandbox.pipedrive import PipedriveSettings
from syncmap.sandbox.pipedrive import create_app as create_pipedrive
from syncmap.sandbox.pipedrive import settings as pipedrive_module
from syncmap.sandbox.profiles import PROFILES, autopilot_settings, pipedrive_settings
from syncmap.sandbox.serve import serve_sandboxes

HOOK = {"subscription_url": "https://receiver.example/pd", "event_action": "*", "event_object": "*", "name": "t"}


@pytest.mark.parametrize(("module", "cls"), [(pipedrive_module, PipedriveSettings), (autopilot_module, AutopilotSettings)])
def test_every_strict_entry_is_a_setting_that_changes_its_default(module, cls) -> None:
    defaults = cls()
    names = {f.name for f in fields(cls)}
    assert module.STRICT and set(module.STRICT) <= names
    for name, value in module.STRICT.items():
        assert getattr(defaults, name) != value, name


def test_profiles_build_the_settings() -> None:
    assert PROFILES == ("default", "strict")
    assert pipedrive_settings("default") == PipedriveSettings() and autopilot_settings() == AutopilotSettings()
    strict = pipedrive_settings("strict")
    assert all(getattr(strict, k) == v for k, v in pipedrive_module.STRICT.items())
    assert autopilot_settings("strict").rate_limit_burst == 1
    for build in (pipedrive_settings, autopilot_settings, create_pipedrive, create_autopilot):
        with pytest.raises(ValueError, match="unknown sandbox profile 'harsh'"):
            build(profile="harsh") if build in (create_pipedrive, create_autopilot) else build("harsh")


def test_explicit_settings_win_over_the_profile() -> None:
    mine = PipedriveSettings(seats=3)
    assert create_pipedrive(profile="strict", settings=mine).state.settings is mine
    assert create_autopilot(profile="strict", settings=AutopilotSettings()).state.settings == AutopilotSettings()


async def noop_patch_hooks(profile: str) -> list[dict]:
    receiver = Receiver()
    app = create_pipedrive(profile=profile, webhook_sender=receiver.send)
    async with client(app) as c:
        pid = (await c.post("/api/v2/persons", json={"name": "Ada Mary Lovelace"})).json()["data"]["id"]
        await c.post("/v1/webhooks", json=HOOK)
        same = await c.patch(f"/api/v2/persons/{pid}", json={"name": "Ada Mary Lovelace"})
        assert same.status_code == 200
        await app.state.webhooks.drain()
    return receiver.bodies()


@async_test
async def test_a_noop_patch_emits_a_change_webhook_only_under_strict() -> None:
    assert await noop_patch_hooks("default") == []
    (hook,) = await noop_patch_hooks("strict")
    assert hook["meta"]["action"] == "change" and isinstance(hook["meta"]["entity_id"], int)  # captured meta
    assert hook["data"]["name"] == "Ada Mary Lovelace" and "first_name" not in hook["data"]  # minimal data


@async_test
async def test_strict_pipedrive_splits_names_differently_and_refuses_query_tokens() -> None:
    for profile, first, last, query_status in (("default", "Ada", "Mary Lovelace", 200), ("strict", "Ada Mary", "Lovelace", 401)):
        app = create_pipedrive(profile=profile)
        async with client(app) as c:
            made = (await c.post("/api/v2/persons", json={"name": "Ada Mary Lovelace"})).json()["data"]
            assert (made["first_name"], made["last_name"]) == (first, last)
        async with client(app, token=None) as c:
            assert (await c.get("/v1/users/me", params={"api_token": "sandbox-token"})).status_code == query_status


@async_test
async def test_strict_autopilot_allows_no_burst() -> None:
    for profile, passed in (("default", 5), ("strict", 1)):
        app = create_autopilot(profile=profile)
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://ap/v1", headers={"autopilotapikey": "sandbox-key"}) as c:
            statuses = [(await c.get("/account")).status_code for _ in range(6)]
        assert statuses == [200] * passed + [429] * (6 - passed), profile


def test_serve_sandboxes_passes_the_profile_to_both_apps() -> None:
    async def scenario() -> None:
        async with serve_sandboxes(profile="strict") as running:
            assert running.pipedrive_app.state.settings == pipedrive_settings("strict")
            assert running.autopilot_app.state.settings == autopilot_settings("strict")
        with pytest.raises(ValueError, match="unknown sandbox profile"):
            async with serve_sandboxes(profile="lenient"):
                pass

    asyncio.run(scenario())
