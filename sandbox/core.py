"""Pieces both sandbox servers share: a scalable clock, fault injection, a request log and
strict JSON parsing of request bodies.

Each API app owns one `SandboxState`; the control routes under `/__sandbox__/` (see
`control.py`) read and change it. Nothing here knows either API's shapes.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import random
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any

CONTROL_PREFIX = "/__sandbox__"


def _not_json(token: str) -> Any:
    raise ValueError(f"{token} is not JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999: strict JSON has no Infinity to answer with
        raise ValueError(f"{text} is out of range")
    return value


def parse_json(raw: bytes) -> Any:
    """A request body as strict JSON (RFC 8259): no NaN/Infinity, no number that overflows to
    one (answers echoing it would not be JSON). ValueError for anything else, nesting too
    deep for the parser and bytes that are not UTF-8 included.
    """
    try:
        return json.loads(raw, parse_constant=_not_json, parse_float=_finite)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


class Clock:
    """Simulated wall-clock time that runs `scale` times faster than real time.

    A benchmark at scale 10 sees Pipedrive's 2-second burst window pass in 0.2 real seconds.
    `advance` jumps forward without waiting, for tests.
    """

    def __init__(self, scale: float = 1.0, start: float | None = None) -> None:
        if scale <= 0:
            raise ValueError("time scale must be positive")
        self._lock = threading.Lock()
        self._scale = scale
        self._real_origin = time.monotonic()
        self._sim_origin = time.time() if start is None else start

    @property
    def scale(self) -> float:
        return self._scale

    def now(self) -> float:
        with self._lock:
            return self._sim_origin + (time.monotonic() - self._real_origin) * self._scale

    def set_scale(self, scale: float) -> None:
        if scale <= 0:
            raise ValueError("time scale must be positive")
        with self._lock:
            now = self._sim_origin + (time.monotonic() - self._real_origin) * self._scale
            self._real_origin, self._sim_origin, self._scale = time.monotonic(), now, scale

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._sim_origin += seconds

    def real_seconds(self, simulated: float) -> float:
        """How long a simulated duration takes in real time."""
        return simulated / self._scale

    async def sleep(self, simulated: float) -> None:
        """Wait `simulated` seconds of sandbox time: scaled, and cut short by `advance` (polled,
        so a test that jumps the clock releases pending webhook retries at once)."""
        due = self.now() + simulated
        while (left := due - self.now()) > 0:
            await asyncio.sleep(min(self.real_seconds(left), 0.05))


PROBABILITIES = ("p429", "p500", "p502", "p503", "p_drop", "p_lost_answer", "p_lost_webhook", "p_duplicate_webhook")
COUNTERS = ("lose_next_webhooks", "duplicate_next_webhooks")


@dataclass
class FaultSettings:
    """Probabilities (0..1) per request, added latency, and lost or duplicated webhook deliveries.

    The two counters act deterministically: the next N deliveries (of either sandbox's outgoing
    webhooks, in the order they are scheduled) are lost, or sent twice, whatever the
    probabilities say.
    """

    p429: float = 0.0
    p500: float = 0.0
    p502: float = 0.0
    p503: float = 0.0
    p_drop: float = 0.0  # close the connection without an answer
    # Process the request, then close the connection before the answer: what a client timing out
    # meets, the one fault after which a create may have been applied without the client knowing.
    p_lost_answer: float = 0.0
    latency_ms: float = 0.0  # added to every answer (real milliseconds)
    p_lost_webhook: float = 0.0
    p_duplicate_webhook: float = 0.0  # a delivered webhook is sent once more, as a retry
    lose_next_webhooks: int = 0
    duplicate_next_webhooks: int = 0
    seed: int | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FaultSettings:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        settings = cls(**data)
        for name in PROBABILITIES:
            value = getattr(settings, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a probability between 0 and 1")
        for name in COUNTERS:
            value = getattr(settings, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be a whole number, 0 or more")
        return settings


class Faults:
    """Decides, per request, whether to inject a fault; deterministic for a given seed."""

    def __init__(self, settings: FaultSettings | None = None) -> None:
        self.configure(settings or FaultSettings())

    def configure(self, settings: FaultSettings) -> None:
        self.settings = settings
        self._rng = random.Random(settings.seed)

    def update(self, data: dict[str, Any]) -> None:
        """Change only the given settings (the counters left so far count as set); the random
        sequence restarts only when `seed` is among them."""
        merged = FaultSettings.from_json({**asdict(self.settings), **data})
        rng = self._rng
        self.configure(merged)
        if "seed" not in data:
            self._rng = rng

    def pick(self) -> str | None:
        """One of "429", "500", "502", "503", "drop", "lost_answer", or None for a normal answer."""
        s = self.settings
        roll = self._rng.random()
        kinds = (("429", s.p429), ("500", s.p500), ("502", s.p502), ("503", s.p503), ("drop", s.p_drop), ("lost_answer", s.p_lost_answer))
        for name, p in kinds:
            if roll < p:
                return name
            roll -= p
        return None

    def lose_webhook(self) -> bool:
        """Whether the delivery being scheduled is lost (a counted loss first, then the odds)."""
        return self._take("lose_next_webhooks") or self._roll(self.settings.p_lost_webhook)

    def duplicate_webhook(self) -> bool:
        """Whether the delivery being scheduled is sent twice (counted first, then the odds)."""
        return self._take("duplicate_next_webhooks") or self._roll(self.settings.p_duplicate_webhook)

    def _take(self, counter: str) -> bool:
        left = getattr(self.settings, counter)
        if left <= 0:
            return False
        setattr(self.settings, counter, left - 1)
        return True

    def _roll(self, p: float) -> bool:
        # no draw when off, so adding a fault kind leaves existing seeded sequences alone
        return p > 0 and self._rng.random() < p

    def as_json(self) -> dict[str, Any]:
        """The settings, with each counter at what is left of it."""
        return asdict(self.settings)


def basic_auth(user: str | None, password: str | None) -> str:
    """An `Authorization` header value for HTTP basic auth (both sandboxes' webhooks use it)."""
    return "Basic " + base64.b64encode(f"{user or ''}:{password or ''}".encode()).decode()


@dataclass
class RequestLog:
    """Every request a sandbox answered, in order, for tests and benchmarks to count.

    `at` is the wall time (epoch seconds, `time.time()`, not the sandbox clock) the answer was
    done, so a benchmark can line up two sandboxes' logs and their delivery logs.
    """

    entries: list[dict[str, Any]] = field(default_factory=list)

    def record(self, method: str, path: str, status: int, tokens: int = 0, **extra: Any) -> None:
        entry = {"seq": len(self.entries) + 1, "method": method, "path": path, "status": status, "tokens": tokens, "at": time.time()}
        self.entries.append({**entry, **extra})

    def clear(self) -> None:
        self.entries.clear()


@dataclass
class SandboxState:
    """What the control routes of one sandbox server operate on."""

    clock: Clock = field(default_factory=Clock)
    faults: Faults = field(default_factory=Faults)
    log: RequestLog = field(default_factory=RequestLog)
