"""Autopilot sandbox: `GET /contacts` and list rosters page in ascending `contact_id` order, as
recorded real answers do (docs/sandbox.md, "Autopilot"), so a contact created during a scan
can land before the bookmark and be missed by that scan."""

from __future__ import annotations

from autopilot_support import CONTROL, async_test, client

from syncmap.sandbox.autopilot import create_app
from syncmap.sandbox.autopilot.errors import ApiError
from syncmap.sandbox.autopilot.paging import SortedIds


async def _rest_of_scan(api, path: str, bookmark: str) -> list[str]:
    seen: list[str] = []
    while bookmark:
        page = (await api.get(f"{path}/{bookmark}")).json()
        seen += [c["contact_id"] for c in page["contacts"]]
        bookmark = page.get("bookmark")
    return seen


@async_test
async def test_contacts_page_in_contact_id_order_not_creation_order() -> None:
    async with client(create_app(rate_per_second=None)) as api:
        created = [(await api.post("/contact", json={"contact": {"Email": f"c{i}@x.test"}})).json()["contact_id"] for i in range(40)]
        listed = [c["contact_id"] for c in (await api.get("/contacts")).json()["contacts"]]
        assert listed == sorted(created) and listed != created


@async_test
async def test_a_contact_created_during_a_scan_can_land_before_the_bookmark() -> None:
    async with client(create_app(rate_per_second=None)) as api:
        await api.post(f"{CONTROL}/seed", json={"n": 250, "seed": 5})
        first = (await api.get("/contacts")).json()
        bookmark = first["bookmark"]
        new_ids = [(await api.post("/contact", json={"contact": {"Email": f"late{i}@x.test"}})).json()["contact_id"] for i in range(20)]
        rest = await _rest_of_scan(api, "/contacts", bookmark)
        assert rest == sorted(rest) and rest[0] > bookmark
        missed = [i for i in new_ids if i < bookmark]
        assert missed and not set(missed) & set(rest)  # the scan never sees them
        assert set(new_ids) - set(missed) <= set(rest)


@async_test
async def test_roster_of_a_list_pages_in_contact_id_order() -> None:
    async with client(create_app(rate_per_second=None)) as api:
        list_id = (await api.post("/list", json={"name": "L"})).json()["list_id"]
        batch = [{"Email": f"m{i}@x.test", "_autopilot_list": list_id} for i in range(60)]
        await api.post("/contacts", json={"contacts": batch})
        roster = (await api.get(f"/list/{list_id}/contacts")).json()["contacts"]
        ids = [c["contact_id"] for c in roster]
        assert len(ids) == 60 and ids == sorted(ids)


def test_sorted_ids_pages_across_buffered_adds_and_removals() -> None:
    ids = SortedIds()
    for item in ["d", "b", "f"]:
        ids.add(item)
    assert ids.page_after(None, 2) == (["b", "d"], True)
    for item in [f"e{i:03d}" for i in range(100)] + ["a"]:  # a large buffer: merged by one sort
        ids.add(item)
    assert ids.page_after("d", 2) == (["e000", "e001"], True)
    assert ids.remove("e000") and not ids.remove("e000") and "e000" not in ids
    assert ids.page_after("e000", 1) == (["e001"], True)  # a removed bookmark still works
    assert ids.page_after("e099", 5) == (["f"], False)
    assert ids.page_after(None, 1) == (["a"], True) and len(ids) == 103
    try:
        ids.page_after("zzz", 1)
    except ApiError as exc:
        assert exc.status == 400
    else:
        raise AssertionError("an id never added is not a bookmark")
