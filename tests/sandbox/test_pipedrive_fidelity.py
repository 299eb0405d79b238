"""Pipedrive sandbox, fidelity round two (issue 7): typed custom fields and minimal `data` in
webhooks, timestamps to the millisecond in both v2 forms, option labels, related ids that
must exist, a search index that lags writes, and the budget headers on burst 429s."""

from __future__ import annotations

import re
from typing import Any

import pytest
from pipedrive_support import Receiver, async_test, client, conform, requires_specs

from syncmap.sandbox.pipedrive import PipedriveSettings, create_app
from syncmap.sandbox.pipedrive.webhook_payload import OPTIONAL_KEYS

SECONDS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
MILLIS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
HOOK = {"subscription_url": "https://receiver.example/pd", "event_action": "*", "event_object": "*", "name": "t"}


async def make_fields(c: Any) -> dict[str, str]:
    """One person custom field of each type public webhook consumers show: type -> key."""
    keys = {}
    for field_type in ("enum", "set", "monetary", "text", "double"):
        body: dict[str, Any] = {"field_name": f"F {field_type}", "field_type": field_type}
        if field_type in ("enum", "set"):
            body["options"] = [{"label": "Gold"}, {"label": "Silver"}]
        made = await c.post("/api/v2/personFields", json=body)
        assert made.status_code == 200, made.text
        keys[field_type] = made.json()["data"]["field_code"]
    return keys


async def option_ids(c: Any, key: str) -> list[int]:
    field = (await c.get(f"/api/v2/personFields/{key}")).json()["data"]
    return [o["id"] for o in field["options"]]


def at_fraction(app: Any, fraction: float = 0.25) -> None:
    """Move the sandbox clock to `fraction` past a whole second (give or take a few ms of run time)."""
    clock = app.state.sandbox.clock
    clock.advance(1 + fraction - clock.now() % 1)


# -- 1. webhook data --------------------------------------------------------------------------
@async_test
async def test_webhook_custom_fields_are_typed_objects_in_data_and_previous() -> None:
    receiver = Receiver()
    app = create_app(webhook_sender=receiver.send)
    async with client(app) as c:
        keys = await make_fields(c)
        gold, silver = await option_ids(c, keys["enum"])
        s_gold, s_silver = await option_ids(c, keys["set"])
        await c.post("/v1/webhooks", json=HOOK)
        values = {
            keys["enum"]: gold,
            keys["set"]: [s_gold, s_silver],
            keys["monetary"]: {"value": 10, "currency": "EUR"},
            keys["text"]: "x",
            keys["double"]: 1.5,
        }
        made = (await c.post("/api/v2/persons", json={"name": "Ada", "custom_fields": values})).json()["data"]
        assert made["custom_fields"][keys["enum"]] == gold  # the REST answer keeps plain values
        await c.patch(f"/api/v2/persons/{made['id']}", json={"custom_fields": {keys["enum"]: silver, keys["text"]: None}})
        await app.state.webhooks.drain()
    create, change = receiver.bodies()
    assert create["data"]["custom_fields"] == {
        keys["enum"]: {"type": "enum", "id": gold},
        keys["set"]: {"type": "set", "values": [{"id": s_gold}, {"id": s_silver}]},
        keys["monetary"]: {"type": "monetary", "value": 10, "currency": "EUR"},
        keys["text"]: {"type": "text", "value": "x"},
        keys["double"]: {"type": "double", "value": 1.5},
    }
    assert change["data"]["custom_fields"][keys["enum"]] == {"type": "enum", "id": silver}
    assert change["data"]["custom_fields"][keys["text"]] is None
    assert change["previous"]["custom_fields"] == {
        keys["enum"]: {"type": "enum", "id": gold},
        keys["text"]: {"type": "text", "value": "x"},
    }


@async_test
async def test_plain_webhook_custom_fields_and_minimal_data_are_settings() -> None:
    receiver = Receiver()
    settings = PipedriveSettings(webhook_custom_fields="plain", webhook_data_minimal=True)
    app = create_app(webhook_sender=receiver.send, settings=settings)
    async with client(app) as c:
        keys = await make_fields(c)
        await c.post("/v1/webhooks", json=HOOK)
        made = (await c.post("/api/v2/persons", json={"name": "Ada King", "custom_fields": {keys["text"]: "x"}})).json()
        await c.patch(
            f"/api/v2/persons/{made['data']['id']}",
            json={"name": "Ada Byron", "label_ids": [1], "custom_fields": {keys["text"]: None}},
        )
        await app.state.webhooks.drain()
    assert {"first_name", "label_ids", "visible_to"} <= set(made["data"])  # the REST answer is whole
    assert made["data"]["custom_fields"][keys["double"]] is None
    create, change = receiver.bodies()
    assert create["data"]["custom_fields"] == {keys["text"]: "x"}  # fields without a value are left out
    assert change["data"]["custom_fields"] == {} and change["previous"]["custom_fields"] == {keys["text"]: "x"}
    for body in (create["data"], change["data"], change["previous"]):
        assert not OPTIONAL_KEYS["person"] & set(body), body
    assert create["data"]["name"] == "Ada King" and create["data"]["emails"] == []
    assert change["previous"]["name"] == "Ada King"  # a changed crucial key is still reported


# -- 2. timestamps ----------------------------------------------------------------------------
@async_test
async def test_times_keep_milliseconds_and_answer_in_the_configured_form() -> None:
    receiver = Receiver()
    apps = {style: create_app(settings=PipedriveSettings(timestamp_format=style)) for style in ("seconds", "millis")}
    apps["millis"].state.webhooks.sender = receiver.send
    stamps = {}
    for style, app in apps.items():
        at_fraction(app)
        async with client(app) as c:
            if style == "millis":
                await c.post("/v1/webhooks", json=HOOK)
            made = (await c.post("/api/v2/persons", json={"name": "Ada"})).json()["data"]
            stamps[style] = made["add_time"]
            # Sub-second precision is kept: a bookmark a little later excludes the record.
            later = made["add_time"][:19] + ".900Z"
            listed = await c.get("/api/v2/persons", params={"updated_since": later})
            assert listed.json()["data"] == []
            listed = await c.get("/api/v2/persons", params={"updated_since": made["add_time"][:19] + "Z"})
            assert [p["id"] for p in listed.json()["data"]] == [made["id"]]
        await app.state.webhooks.drain()
    assert SECONDS.match(stamps["seconds"]) and MILLIS.match(stamps["millis"])
    assert 240 <= int(stamps["millis"][20:23]) < 400  # the real fraction, not ".000"
    (hook,) = receiver.bodies()
    assert MILLIS.match(hook["meta"]["timestamp"]) and hook["meta"]["timestamp"][20:23] != "000"
    assert MILLIS.match(hook["data"]["add_time"]) and MILLIS.match(hook["data"]["update_time"])


@async_test
async def test_mixed_timestamps_carry_both_forms_in_one_page() -> None:
    app = create_app(settings=PipedriveSettings(timestamp_format="mixed"))
    async with client(app) as c:
        for name in ("Ada", "Bob", "Cy"):
            await c.post("/api/v2/persons", json={"name": name})
        page = (await c.get("/api/v2/persons")).json()["data"]
    forms = {bool(MILLIS.match(p[key])) for p in page for key in ("add_time", "update_time")}
    assert forms == {True, False}
    assert all(SECONDS.match(p[k]) or MILLIS.match(p[k]) for p in page for k in ("add_time", "update_time"))


def test_unknown_timestamp_format_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="timestamp_format must be one of seconds, millis, mixed"):
        PipedriveSettings(timestamp_format="iso")


# -- 3. option labels -------------------------------------------------------------------------
@requires_specs
@async_test
async def test_include_option_labels_gives_id_label_objects() -> None:
    app = create_app()
    async with client(app) as c:
        keys = await make_fields(c)
        _, silver = await option_ids(c, keys["enum"])
        s_gold, _ = await option_ids(c, keys["set"])
        made = await c.post("/api/v2/persons", json={"name": "Ada", "custom_fields": {keys["enum"]: silver, keys["set"]: [s_gold]}})
        pid = made.json()["data"]["id"]
        labelled = await c.get(f"/api/v2/persons/{pid}", params={"include_option_labels": "true"})
        custom = conform(labelled)["data"]["custom_fields"]
        assert custom[keys["enum"]] == {"id": silver, "label": "Silver"}
        assert custom[keys["set"]] == [{"id": s_gold, "label": "Gold"}]
        assert custom[keys["text"]] is None
        listed = (await c.get("/api/v2/persons", params={"include_option_labels": "1"})).json()["data"]
        assert listed[0]["custom_fields"][keys["enum"]] == {"id": silver, "label": "Silver"}
        plain = (await c.get(f"/api/v2/persons/{pid}", params={"include_option_labels": "false"})).json()["data"]
        assert plain["custom_fields"][keys["enum"]] == silver
        refused = await c.get("/api/v2/persons", params={"include_labels": "true"})
        assert refused.status_code == 400 and "include_labels" in refused.json()["error"]


# -- 6. related ids ---------------------------------------------------------------------------
@async_test
async def test_owner_id_must_be_a_user_of_the_account() -> None:
    app = create_app()
    async with client(app) as c:
        for path, body in (("persons", {"name": "Ada"}), ("deals", {"title": "T"}), ("activities", {"subject": "S"})):
            refused = await c.post(f"/api/v2/{path}", json={**body, "owner_id": 4040})
            assert refused.status_code == 400 and refused.json()["error"] == '"owner_id" must be the id of an existing user'
            assert (await c.post(f"/api/v2/{path}", json={**body, "owner_id": 2})).json()["data"]["owner_id"] == 2
        assert (await c.patch("/api/v2/persons/1", json={"owner_id": 4040})).status_code == 400
        # org_id and person_id are not checked by default (unverified) ...
        assert (await c.post("/api/v2/persons", json={"name": "B", "org_id": 999})).status_code == 200


@async_test
async def test_checked_related_ids_can_cover_org_and_person() -> None:
    app = create_app(settings=PipedriveSettings(checked_related_ids=("owner_id", "org_id", "person_id", "deal_id")))
    async with client(app) as c:
        refused = await c.post("/api/v2/persons", json={"name": "B", "org_id": 999})
        assert refused.status_code == 400 and refused.json()["error"] == '"org_id" must be the id of an existing organization'
        org = (await c.post("/api/v2/organizations", json={"name": "O"})).json()["data"]
        person = (await c.post("/api/v2/persons", json={"name": "B", "org_id": org["id"]})).json()["data"]
        assert (await c.post("/api/v2/deals", json={"title": "T", "person_id": 77})).status_code == 400
        await c.delete(f"/api/v2/persons/{person['id']}")
        gone = await c.post("/api/v2/deals", json={"title": "T", "person_id": person["id"]})
        assert gone.json()["error"] == '"person_id" must be the id of an existing person'
    with pytest.raises(ValueError, match="checked_related_ids"):
        PipedriveSettings(checked_related_ids=("stage_id",))


# -- 7. search lags writes --------------------------------------------------------------------
async def found(c: Any, term: str, path: str = "/api/v2/persons/search") -> list[int]:
    answer = (await c.get(path, params={"term": term, "fields": "name"})).json()
    return [item["item"]["id"] for item in answer["data"]["items"]]


@async_test
async def test_a_new_or_renamed_person_is_searchable_only_after_the_index_delay() -> None:
    app = create_app(settings=PipedriveSettings(search_index_delay_seconds=5))
    clock = app.state.sandbox.clock
    async with client(app) as c:
        pid = (await c.post("/api/v2/persons", json={"name": "Zelda Quux"})).json()["data"]["id"]
        assert await found(c, "Zelda") == [] and await found(c, "Zelda", "/v1/persons/search") == []
        clock.advance(5)
        assert await found(c, "Zelda") == [pid]
        await c.patch(f"/api/v2/persons/{pid}", json={"name": "Yara Quux"})
        clock.advance(3)
        await c.patch(f"/api/v2/persons/{pid}", json={"name": "Wren Quux"})
        clock.advance(3)  # 6 s after the first rename, 3 s after the second: the index still has Zelda
        assert await found(c, "Zelda") == [pid] and await found(c, "Wren") == []
        clock.advance(2)
        assert await found(c, "Zelda") == [] and await found(c, "Wren") == [pid]


@async_test
async def test_without_an_index_delay_search_sees_writes_at_once() -> None:
    app = create_app(settings=PipedriveSettings(search_index_delay_seconds=0))
    async with client(app) as c:
        pid = (await c.post("/api/v2/persons", json={"name": "Zelda Quux"})).json()["data"]["id"]
        assert await found(c, "Zelda") == [pid]


# -- 9. limit headers -------------------------------------------------------------------------
@async_test
async def test_burst_429_carries_the_daily_budget_headers() -> None:
    app = create_app(plan="essential")
    async with client(app) as c:
        answers = [await c.get("/v1/users/me") for _ in range(21)]
    refused = answers[-1]
    assert refused.status_code == 429 and refused.headers["x-ratelimit-remaining"] == "0"
    assert refused.headers["x-daily-ratelimit-token-limit"] == "30000"
    assert refused.headers["x-daily-ratelimit-token-remaining"] == answers[-2].headers["x-daily-ratelimit-token-remaining"]
    async with client(app) as c:
        await c.put("/__sandbox__/faults", json={"p429": 1})
        injected = await c.get("/v1/users/me")
    assert injected.status_code == 429 and injected.headers["x-daily-ratelimit-token-limit"] == "30000"


@async_test
async def test_patch_counts_toward_daily_requests_left_only_when_set() -> None:
    for counts, expected in ((False, "10000"), (True, "9999")):
        app = create_app(settings=PipedriveSettings(daily_requests_count_patch=counts))
        async with client(app) as c:
            await c.patch("/api/v2/persons/1", json={"name": "x"})  # a 404: PATCH is counted anyway
            assert (await c.get("/v1/users/me")).headers["x-daily-requests-left"] == expected
