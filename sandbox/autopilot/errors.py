"""Autopilot's error answers: `{"error": "<HTTP reason>", "message": "<text>"}`.

The store raises `ApiError`; the routes turn it into this body. Messages quoted from APD1
are kept word for word; the others are the sandbox's own (see docs/sandbox.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus

from starlette.responses import JSONResponse

MISSING_KEY = "No autopilotapikey header provided."
INVALID_KEY = "Provided autopilotapikey not valid."
CONTACT_NOT_FOUND = "Contact could not be found."


def rate_limited_message(per_second: float) -> str:
    return f"You have exceeded your request rate of {per_second:g} r/s."


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error_body(status: int, message: str) -> dict[str, str]:
    return {"error": HTTPStatus(status).phrase, "message": message}


def error_response(status: int, message: str, headers: Mapping[str, str] | None = None) -> JSONResponse:
    return JSONResponse(error_body(status, message), status_code=status, headers=headers)
