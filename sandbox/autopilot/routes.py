"""The Autopilot REST API v1 under `/v1/…`, and the Autopilot-only control routes.

Handlers are thin: parse the body, call the store, hand hook events to the dispatcher, answer.
Errors are raised as `ApiError` and rendered by the app's exception handler.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from syncmap.sandbox.autopilot import journey_webhook
from syncmap.sandbox.autopilot.errors import ApiError
from syncmap.sandbox.autopilot.hooks import HookDispatcher
from syncmap.sandbox.autopilot.ratelimit import RateLimiter
from syncmap.sandbox.autopilot.settings import AutopilotSettings
from syncmap.sandbox.autopilot.store import AutopilotStore
from syncmap.sandbox.core import CONTROL_PREFIX, parse_json

NO_CONTENT = 204


async def json_object(request: Request) -> dict[str, Any]:
    raw = await request.body()
    try:
        data = parse_json(raw) if raw else {}
    except ValueError:  # also NaN/Infinity and nesting too deep: never a 500
        raise ApiError(400, "The body is not valid JSON.") from None
    if not isinstance(data, dict):
        raise ApiError(400, "The body must be a JSON object.")
    return data


def _bool(data: dict[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ApiError(400, f"{key} must be true or false.")
    return value


def api_routes(store: AutopilotStore, hooks: HookDispatcher, settings: AutopilotSettings) -> list[Route]:
    # ------------------------------------------------------------------ contacts
    async def upsert_contact(request: Request) -> Response:
        body = await json_object(request)
        if not isinstance(body.get("contact"), dict):
            raise ApiError(400, 'The body must be {"contact": {...}}.')
        contact, events = store.apply(store.prepare(body["contact"]))
        hooks.emit(events)
        return JSONResponse({"contact_id": contact.contact_id})

    async def upsert_contacts(request: Request) -> Response:
        body = await json_object(request)
        raw = body.get("contacts")
        if not isinstance(raw, list):
            raise ApiError(400, 'The body must be {"contacts": [...]}.')
        if len(raw) > settings.bulk_limit:
            raise ApiError(400, f"A maximum of {settings.bulk_limit} contacts can be sent at once, {len(raw)} were sent.")
        notify = _bool(body, "notify", True)
        writes = [store.prepare(item, notify_default=notify) for item in raw]  # all valid, or nothing changes
        contact_ids: list[str] = []
        email_contact_map: dict[str, str] = {}
        for write in writes:
            contact, events = store.apply(write)
            hooks.emit(events)
            contact_ids.append(contact.contact_id)
            sent_email = write.email or write.new_email
            if sent_email:
                email_contact_map[sent_email] = contact.contact_id
        # the recorded real answer carries this internal key too (RUBY cassette, 2017)
        return JSONResponse({"contact_ids": contact_ids, "email_contact_map": email_contact_map, "_removeResultKeys": ["proposedContacts"]})

    async def get_contact(request: Request) -> Response:
        return JSONResponse(store.render(store.get(request.path_params["id_or_email"])))

    async def delete_contact(request: Request) -> Response:
        store.delete(request.path_params["id_or_email"])
        return Response(status_code=NO_CONTENT)

    async def unsubscribe(request: Request) -> Response:
        hooks.emit(store.unsubscribe(request.path_params["id_or_email"]))
        return JSONResponse({})

    async def all_contacts(request: Request) -> Response:
        return JSONResponse(store.page(store.order, request.path_params.get("bookmark")))

    async def custom_fields(request: Request) -> Response:
        return JSONResponse(store.custom_field_definitions())

    # ------------------------------------------------------------------ lists
    async def lists(request: Request) -> Response:
        return JSONResponse({"lists": [{"list_id": lst.list_id, "title": lst.title} for lst in store.lists.values()]})

    async def create_list(request: Request) -> Response:
        body = await json_object(request)
        return JSONResponse({"list_id": store.create_list(body.get("name")).list_id})

    async def roster(request: Request) -> Response:
        lst = store.get_list(request.path_params["list_id"])
        return JSONResponse(store.page(lst.members, request.path_params.get("bookmark")))

    async def membership(request: Request) -> Response:
        lst = store.get_list(request.path_params["list_id"])
        contact = store.get(request.path_params["id_or_email"])
        if request.method == "GET":
            if contact.contact_id not in lst.members:
                raise ApiError(404, settings.list_not_found_message)
            return JSONResponse({})
        change = store.add_to_list if request.method == "POST" else store.remove_from_list
        events = change(lst, contact)
        hooks.emit(events)
        return JSONResponse({} if events else {"not_modified": True})

    # ------------------------------------------------------------------ journeys
    async def triggers(request: Request) -> Response:
        return JSONResponse(
            {"triggers": [{"trigger_id": t.trigger_id, "journey": t.journey, "trigger_type": t.trigger_type} for t in store.triggers.values()]}
        )

    async def enter_journey(request: Request) -> Response:
        p = request.path_params
        return JSONResponse(store.enter_journey(p["trigger_id"], p["id_or_email"]))

    # ------------------------------------------------------------------ REST hooks
    async def add_hook(request: Request) -> Response:
        body = await json_object(request)
        return JSONResponse({"hook_id": store.add_hook(body.get("event"), body.get("target_url")).hook_id})

    async def list_hooks(request: Request) -> Response:
        return JSONResponse({"hooks": [{"hook_id": h.hook_id, "event": h.event, "target_url": h.target_url} for h in store.hooks.values()]})

    async def delete_hook(request: Request) -> Response:
        store.delete_hook(request.path_params["hook_id"])
        return Response(status_code=NO_CONTENT)

    async def delete_hooks(request: Request) -> Response:
        store.hooks.clear()
        return Response(status_code=NO_CONTENT)

    async def account(request: Request) -> Response:
        return JSONResponse({"instanceId": settings.instance_id})

    v = "/v1"
    return [
        Route(f"{v}/contact", upsert_contact, methods=["POST"]),
        Route(f"{v}/contacts", upsert_contacts, methods=["POST"]),
        Route(f"{v}/contacts", all_contacts, methods=["GET"]),
        Route(f"{v}/contacts/custom_fields", custom_fields, methods=["GET"]),
        Route(f"{v}/contacts/{{bookmark}}", all_contacts, methods=["GET"]),
        Route(f"{v}/contact/{{id_or_email}}", get_contact, methods=["GET"]),
        Route(f"{v}/contact/{{id_or_email}}", delete_contact, methods=["DELETE"]),
        Route(f"{v}/contact/{{id_or_email}}/unsubscribe", unsubscribe, methods=["POST"]),
        Route(f"{v}/lists", lists, methods=["GET"]),
        Route(f"{v}/list", create_list, methods=["POST"]),
        Route(f"{v}/list/{{list_id}}/contacts", roster, methods=["GET"]),
        Route(f"{v}/list/{{list_id}}/contacts/{{bookmark}}", roster, methods=["GET"]),
        Route(f"{v}/list/{{list_id}}/contact/{{id_or_email}}", membership, methods=["GET", "POST", "DELETE"]),
        Route(f"{v}/triggers", triggers, methods=["GET"]),
        Route(f"{v}/trigger/{{trigger_id}}/contact/{{id_or_email}}", enter_journey, methods=["POST"]),
        Route(f"{v}/hook", add_hook, methods=["POST"]),
        Route(f"{v}/hooks", list_hooks, methods=["GET"]),
        Route(f"{v}/hook/{{hook_id}}", delete_hook, methods=["DELETE"]),
        Route(f"{v}/hooks", delete_hooks, methods=["DELETE"]),
        Route(f"{v}/account", account, methods=["GET"]),
    ]


def app_control_routes(store: AutopilotStore, hooks: HookDispatcher, limiter: RateLimiter, settings: AutopilotSettings) -> list[Route]:
    """Autopilot-only control routes: act as a marketer in the Autopilot app (or as Autopilot
    mailing a contact), read what the sandbox sent out, change the rate limit. Marketer edits
    fire hooks as real edits do."""

    async def edit_contact(request: Request) -> Response:
        body = await json_object(request)
        if not isinstance(body.get("contact"), dict):
            raise ApiError(400, 'The body must be {"contact": {...}} with an optional "contact_id".')
        write = store.prepare({**body["contact"], "notify": True})
        target = store.get(body["contact_id"]) if body.get("contact_id") else None
        contact, events = store.apply(write, via_api=False, target=target)
        hooks.emit(events)
        return JSONResponse(store.render(contact))

    async def edit_membership(request: Request) -> Response:
        lst = store.get_list(request.path_params["list_id"])
        contact = store.get(request.path_params["id_or_email"])
        events = (store.add_to_list if request.method == "POST" else store.remove_from_list)(lst, contact)
        hooks.emit(events)
        return JSONResponse({"changed": bool(events)})

    async def create_custom_field(request: Request) -> Response:
        body = await json_object(request)
        store.define_custom_field(body.get("name"), body.get("fieldType"))
        return JSONResponse(store.custom_field_definitions())

    async def create_trigger(request: Request) -> Response:
        body = await json_object(request)
        if not isinstance(body.get("journey"), str) or not body["journey"]:
            raise ApiError(400, "journey must be a non-empty string.")
        return JSONResponse({"trigger_id": store.add_trigger(body["journey"]).trigger_id})

    async def record_engagement(request: Request) -> Response:
        body = await json_object(request)
        if not isinstance(body.get("contact_id"), str):
            raise ApiError(400, "contact_id must be a contact id or email.")
        contact, delivery, events = store.record_engagement(body["contact_id"], body.get("kind"), body.get("at"), body.get("delivery_id"))
        hooks.emit(events)
        return JSONResponse({"delivery_id": delivery, "contact": store.render(contact)})

    async def journey_webhook_step(request: Request) -> Response:
        step = journey_webhook.parse_step(await json_object(request), settings)
        requests = journey_webhook.requests_for(step, store, settings)
        hooks.send(requests)
        journey = requests[0].about["journey"]
        return JSONResponse({"journey": journey, "delivery_ids": [r.delivery_id for r in requests]})

    async def deliveries(request: Request) -> Response:
        return JSONResponse({"deliveries": hooks.deliveries})

    async def journey_entries(request: Request) -> Response:
        return JSONResponse({"entries": store.journey_entries})

    async def rate_limit(request: Request) -> Response:
        if request.method == "PUT":
            body = await json_object(request)
            try:
                limiter.configure(body.get("per_second"))
            except (TypeError, ValueError) as exc:
                raise ApiError(400, str(exc)) from None
        return JSONResponse({"per_second": limiter.per_second})

    p = CONTROL_PREFIX
    return [
        Route(f"{p}/app/contact", edit_contact, methods=["POST"]),
        Route(f"{p}/app/list/{{list_id}}/contact/{{id_or_email}}", edit_membership, methods=["POST", "DELETE"]),
        Route(f"{p}/app/custom_field", create_custom_field, methods=["POST"]),
        Route(f"{p}/app/trigger", create_trigger, methods=["POST"]),
        Route(f"{p}/app/engagement", record_engagement, methods=["POST"]),
        Route(f"{p}/app/journey-webhook", journey_webhook_step, methods=["POST"]),
        Route(f"{p}/hook-deliveries", deliveries, methods=["GET"]),
        Route(f"{p}/journey-entries", journey_entries, methods=["GET"]),
        Route(f"{p}/rate-limit", rate_limit, methods=["GET", "PUT"]),
    ]
