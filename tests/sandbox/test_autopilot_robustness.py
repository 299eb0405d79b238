"""Autopilot sandbox: malformed input gets the documented `{"error", "message"}` 400, never a
500, and nothing a write accepts can make a later answer or hook payload invalid JSON."""

from __future__ import annotations

import json

import pytest
from autopilot_support import async_test, client

from syncmap.sandbox.autopilot import create_app

BAD_JSON = {"error": "Bad Request", "message": "The body is not valid JSON."}


@async_test
async def test_bodies_that_are_not_strict_json_are_a_400() -> None:
    async with client(create_app(rate_per_second=None)) as api:
        for raw in (
            b"[" * 50_000 + b"]" * 50_000,  # a RecursionError in the parser
            b'{"contact": {"Email": "n@x.test", "custom": {"float--Score": NaN}}}',
            b'{"contact": {"Email": "n@x.test", "Phone": Infinity}}',
            b'{"contact": {"Email": "n@x.test", "custom": {"float--Score": 1e999}}}',
            b"\xff",
        ):
            answer = await api.post("/contact", content=raw, headers={"content-type": "application/json"})
            assert (answer.status_code, answer.json()) == (400, BAD_JSON)
        assert (await api.get("/contact/n@x.test")).status_code == 404


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("float--Score", "nan"),
        ("float--Score", "inf"),
        ("float--Score", "1e999"),
        ("date--Seen", "0001-01-01T00:00:00+05:00"),  # year 0 once in UTC
        ("date--Seen", "9999-12-31T23:59:59-05:00"),  # year 10000
        ("integer--Count", "9" * 5000),  # past int()'s digit limit
    ],
)
@async_test
async def test_custom_values_no_answer_could_carry_are_a_400(key: str, value: str) -> None:
    async with client(create_app(rate_per_second=None)) as api:
        answer = await api.post("/contact", json={"contact": {"Email": "v@x.test", "custom": {key: value}}})
        assert answer.status_code == 400 and answer.json()["error"] == "Bad Request"
        assert "is not a valid" in answer.json()["message"]
        assert (await api.get("/contact/v@x.test")).status_code == 404


@async_test
async def test_custom_must_be_an_object_even_when_empty() -> None:
    async with client(create_app(rate_per_second=None)) as api:
        for custom in ([], "", 0):
            answer = await api.post("/contact", json={"contact": {"Email": "c@x.test", "custom": custom}})
            assert answer.json() == {"error": "Bad Request", "message": "custom must be an object of type--Field--Name keys."}
        ok = await api.post("/contact", json={"contact": {"Email": "c@x.test", "custom": {"float--Score": "2.5"}}})
        assert ok.status_code == 200
        read = await api.get("/contact/c@x.test")
        json.loads(read.content, parse_constant=lambda token: pytest.fail(token))
        assert read.json()["custom_fields"] == [{"kind": "Score", "value": 2.5, "fieldType": "float", "deleted": False}]
