"""How a request to an API can end other than with an answer the caller wanted.

Three outcomes the engine treats differently: a definite refusal (`ApiError`: fix the data or
the mapping, nothing was applied), an unknown outcome (`UnknownOutcome`: a write may have been
applied, so look before writing again), and a limit that stops the run until it resets
(`LimitReached`: stop cleanly, resume later). Each `str()` is one readable line.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

__all__ = ["ApiError", "LimitReached", "UnknownOutcome", "describe_body", "is_transient", "transient_status"]


def describe_body(body: Any, limit: int = 200) -> str:
    """The error text of an answer body, on one line: the JSON `error`/`message`, else the text."""
    if isinstance(body, dict):
        parts = [str(body[key]) for key in ("error", "message") if body.get(key) not in (None, "")]
        text = ": ".join(dict.fromkeys(parts)) if parts else str(body)
    elif body is None:
        text = "no body"
    else:
        text = str(body)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ApiError(Exception):
    """A definite refusal: a 4xx (not 429) after the request was processed, or a request given
    up after its retries (then `status` is the last status met, 0 when no answer ever came)."""

    def __init__(self, system: str, method: str, path: str, status: int, body: Any, note: str = "", headers: Mapping[str, str] | None = None) -> None:
        self.system, self.method, self.path, self.status, self.body = system, method, path, status, body
        self.headers = dict(headers or {})  # of the last answer: a 429's reset tells when to try again
        answered = f"answered HTTP {status}: {describe_body(body)}" if status else f"gave no answer: {describe_body(body)}"
        super().__init__(f"{system} {method} {path} {answered}" + (f" ({note})" if note else ""))


class UnknownOutcome(Exception):
    """A request that may or may not have been applied (timeout or dropped connection after it
    was sent, or a 5xx to a non-idempotent request): look before sending it again."""

    def __init__(self, system: str, method: str, path: str, cause: str) -> None:
        self.system, self.method, self.path, self.cause = system, method, path, cause
        super().__init__(f"{system} {method} {path}: outcome unknown ({cause}); look before sending it again")


def _when(reset_at: float) -> str:
    moment = datetime.fromtimestamp(reset_at, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")
    left = max(0.0, reset_at - time.time())
    hours, minutes = int(left // 3600), int(left % 3600 // 60)
    return f"{moment} (in {hours} h {minutes} min)" if hours else f"{moment} (in {minutes} min)"


class LimitReached(Exception):
    """A limit that cannot be paid before it resets (e.g. Pipedrive's daily token budget): the
    run stops cleanly and resumes after `reset_at` (epoch seconds; None when not known)."""

    def __init__(self, system: str, limit: str, reset_at: float | None, detail: str = "") -> None:
        self.system, self.limit, self.reset_at, self.detail = system, limit, reset_at, detail
        resets = f"it resets at {_when(reset_at)}" if reset_at is not None else "its reset time is unknown"
        super().__init__(f"{limit} reached" + (f" ({detail})" if detail else "") + f"; {resets}")


def transient_status(status: int | None) -> bool:
    """A status that says the API was busy or broken, not that the request was wrong: 429, 408
    (it timed out waiting), a 5xx, or 0 (no answer came). Sent again later it may well pass."""
    return status is not None and (status in (0, 408, 429) or status >= 500)


def is_transient(error: BaseException) -> bool:
    """Whether the request failed because of the API's state rather than its content: a refusal
    with a transient status after the retries ran out, or a request whose outcome is unknown
    (timeout, dropped connection). A definite 4xx refusal and a daily limit are not."""
    if isinstance(error, UnknownOutcome):
        return True
    return isinstance(error, ApiError) and transient_status(error.status)
