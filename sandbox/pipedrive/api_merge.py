"""`PUT /v1/persons/{id}/merge {"merge_with_id": <survivor>}` (pipedrive-api.md §8).

The person in the path is merged into `merge_with_id`, which survives: its empty fields are
filled from the merged person, related deals and activities move over, and the merged person
is deleted. Webhooks: a `delete` of the merged person with `meta.merged_to_id` and a `change`
of the survivor with `meta.merged_from_id`.
"""

from __future__ import annotations

import copy
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncmap.sandbox.pipedrive import models
from syncmap.sandbox.pipedrive.errors import bad_request, not_found
from syncmap.sandbox.pipedrive.http import actor_of, json_body, ok, path_id, store_of
from syncmap.sandbox.pipedrive.store import Actor, Store

FILLABLE = ("org_id", "visible_to", "picture_id", "marketing_status", "postal_address", "notes", "birthday", "job_title")


def merge_persons(store: Store, merged_id: int, survivor_id: int, actor: Actor) -> dict[str, Any]:
    merged, survivor = store.live("person", merged_id), store.live("person", survivor_id)
    if merged is None or survivor is None:
        raise not_found()
    if merged_id == survivor_id:
        raise bad_request("A person cannot be merged with itself")
    changes: dict[str, Any] = {}
    for key in FILLABLE:
        if survivor.get(key) in (None, "", []) and merged.get(key) not in (None, "", []):
            changes[key] = copy.deepcopy(merged[key])
    if not survivor.get("name") and merged.get("name"):
        changes["name"] = merged["name"]
        changes["first_name"], changes["last_name"] = models.split_name(merged["name"], store.settings.name_split)
    if store.settings.merge_combines_contacts:
        for key in ("emails", "phones"):
            have = {item["value"].casefold() for item in survivor[key]}
            extra = [{**item, "primary": False} for item in merged[key] if item["value"].casefold() not in have]
            if extra:
                changes[key] = models.normalize_contacts([*survivor[key], *extra], store)
    filled = {k: v for k, v in (merged.get("custom_fields") or {}).items() if v is not None and survivor["custom_fields"].get(k) is None}
    if filled:
        changes["custom_fields"] = filled
    # Related data moves to the survivor (their update_time moves, no webhooks of their own).
    for kind in ("deal", "activity"):
        for record in list(store.all(kind)):
            if record.get("person_id") == merged_id:
                update: dict[str, Any] = {"person_id": survivor_id}
                if kind == "activity":
                    update["participants"] = [
                        {**p, "person_id": survivor_id if p["person_id"] == merged_id else p["person_id"]} for p in record["participants"]
                    ]
                store.change(kind, record["id"], update, actor, emit=False)
    store.delete("person", merged_id, actor, meta={"merged_to_id": survivor_id})
    return store.change("person", survivor_id, changes, actor, meta={"merged_from_id": merged_id})


async def merge(request: Request) -> Response:
    store = store_of(request)
    merged_id = path_id(request)
    body = await json_body(request)
    survivor_id = body.get("merge_with_id") if isinstance(body, dict) else None
    if isinstance(survivor_id, str) and survivor_id.isascii() and survivor_id.isdigit():
        survivor_id = int(survivor_id)
    if isinstance(survivor_id, bool) or not isinstance(survivor_id, int):
        raise bad_request('"merge_with_id" is required.')
    result = merge_persons(store, merged_id, survivor_id, actor_of(request))
    data = models.person_v1(result, store)
    if store.settings.merge_response_id == "merged":
        data["id"], data["merge_what_id"] = merged_id, survivor_id
    else:
        data["merge_what_id"] = merged_id
    return ok(data)


def routes() -> list[Route]:
    return [Route("/v1/persons/{id}/merge", merge, methods=["PUT"])]
