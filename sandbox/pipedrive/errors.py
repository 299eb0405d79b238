"""Pipedrive's error bodies (pipedrive-api.md §7) and the exception that carries them.

Handlers raise `ApiError`; the app turns it into a JSON answer. Every body here is one the
published description or the official docs show; texts the docs do not give are settings or
listed as choices in docs/sandbox.md.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

ERROR_INFO = "Please check developers.pipedrive.com for more information about Pipedrive API."


class ApiError(Exception):
    def __init__(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        super().__init__(f"{status}: {body}")
        self.status = status
        self.body = body
        self.headers = headers or {}


def dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(body), status_code=status, headers=headers, media_type="application/json")


def envelope(message: str, info: str = ERROR_INFO, **extra: Any) -> dict[str, Any]:
    """The standard error envelope of §3."""
    return {"success": False, "error": message, "error_info": info, "data": None, "additional_data": None, **extra}


def bad_request(message: str) -> ApiError:
    return ApiError(400, envelope(message))


def forbidden(message: str = "You do not have permissions to do this.") -> ApiError:
    return ApiError(403, envelope(message, info="Please check developers.pipedrive.com"))


def not_found() -> ApiError:
    """v2 entity 404 (the body of the v2 spec's error responses)."""
    return ApiError(404, envelope("Entity was not found", info="Object was not found."))


def gone() -> ApiError:
    return ApiError(410, envelope("Entity was permanently deleted", info="Object was not found."))


def user_not_found() -> ApiError:
    return ApiError(404, {"success": False, "error": "User not found or not accessible."})


def unknown_route() -> ApiError:
    return ApiError(404, envelope("Unknown method ."))


NOT_MODELLED_INFO = (
    "Answered by the syncmap sandbox, not by Pipedrive: Pipedrive documents this, but the sandbox does not model it (see docs/sandbox.md)."
)


def not_modelled(what: str) -> ApiError:
    """501 for what the published descriptions document but the sandbox does not model.

    Not 404 "Unknown method .", which would tell a client's author the route does not exist,
    and not a status a real answer could have: the text and `x-sandbox-not-modelled` say whose.
    """
    return ApiError(
        501,
        envelope(f"The sandbox does not model {what}", info=NOT_MODELLED_INFO),
        {"x-sandbox-not-modelled": "true"},
    )


def method_not_allowed() -> ApiError:
    return ApiError(405, envelope("Method not allowed"))


def unauthorized_body() -> dict[str, Any]:
    """The gateway 401 of the v1 spec, plus the `error_info` third parties see live."""
    return {
        "success": False,
        "error": "unauthorized access",
        "errorCode": 401,
        "error_info": "Please check developers.pipedrive.com",
    }


def rate_limited_body(message: str) -> dict[str, Any]:
    return envelope(message)


def server_error_body(status: int) -> dict[str, Any]:
    text = {
        500: "An internal server error occurred",
        502: "Bad gateway",
        503: "Service is temporarily unavailable",
    }.get(status, "An internal server error occurred")
    return envelope(text)


def webhook_errors(status: int, errors: dict[str, list[str]]) -> ApiError:
    """Webhook management breaks the envelope: `{"status":"error","success":false,"errors":{...}}`."""
    return ApiError(status, {"status": "error", "success": False, "errors": errors})
