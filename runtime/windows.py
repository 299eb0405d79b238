"""The client-side models of the APIs' limits, as plain arithmetic over times passed in.

No clock, no sleeping, no I/O: the governors own the clock and the waiting; these say how
long to wait and keep the counts. Times are real seconds on the governor's clock (windows
already divided by the time scale).
"""

from __future__ import annotations

import heapq
import math

__all__ = ["Pacer", "SlotWindow", "TokenBudget"]


class SlotWindow:
    """At most `limit` requests per `seconds`-long window, counted the way a server counts them.

    A request holds a slot from the moment it is sent until `seconds` after its answer came
    back. Whatever window the server opened for it (it arrived between the two) has ended by
    then, so however the server anchors its windows and whatever the latency, the server never
    counts more of our requests in one window than we hold slots. The answers' headers can only
    add to what we hold (phantom slots for requests made by others with the same token).
    """

    def __init__(self, limit: int, seconds: float) -> None:
        if limit < 1 or seconds <= 0:
            raise ValueError("a window needs a positive limit and length")
        self.limit = limit
        self.seconds = seconds
        self.in_flight = 0
        self._held: list[float] = []  # heap of the times held slots free up

    def used(self, now: float) -> int:
        while self._held and self._held[0] <= now:
            heapq.heappop(self._held)
        return self.in_flight + len(self._held)

    def wait(self, now: float) -> float:
        """Seconds until a slot is free (0: one is free now)."""
        if self.used(now) < self.limit:
            return 0.0
        if self.in_flight >= self.limit or not self._held:
            return self.seconds / 10  # every slot is in flight: look again soon after answers come
        overflow = self.used(now) - self.limit  # after a lowered limit, several must free up
        return max(0.0, heapq.nsmallest(overflow + 1, self._held)[-1] - now)

    def take(self) -> None:
        self.in_flight += 1

    def release(self, now: float) -> None:
        self.in_flight = max(0, self.in_flight - 1)
        heapq.heappush(self._held, now + self.seconds)

    def learn(self, now: float, limit: int | None, remaining: int | None, reset: float | None) -> None:
        """What an answer's headers say: the limit, and how many requests the server has left
        in its current window, which ends `reset` seconds from now."""
        if limit is not None and limit >= 1:
            self.limit = limit
        if remaining is None:
            return
        extra = (self.limit - max(0, remaining)) - self.used(now)
        if extra > 0:
            frees = now + (min(reset, self.seconds) if reset is not None and reset > 0 else self.seconds)
            for _ in range(extra):
                heapq.heappush(self._held, frees)


class Pacer:
    """Requests spaced evenly at `rate` per second, never in a burst. After a 429 the rate halves
    (down to 1/16 of the nominal rate); each success wins back 1/20 of the nominal rate.

    How strictly a step is kept depends on the server's burst room, which the pacer learns:
    - On a schedule (from the start): a task that wakes up late keeps the schedule, so event-loop
      lag does not pile up into a slower pace. The next request may then go less than a step
      after the late one, which a server with burst room (a bucket holding a second's worth)
      absorbs.
    - Spaced (after the first 429): a limiter without burst refuses any request that reaches it
      less than a step after the last one it let through, so each step is kept whole, counted
      from the moment the server may last have seen a request: one step (plus `margin` of a
      step) after it was sent, and after its answer came back less the quickest answer seen
      (`answered`). A request held up on its way (a busy server, a busy event loop here) then
      does not bring the next one too close behind it, and a 429 halving the pace is rare.
    """

    def __init__(self, rate: float, *, margin: float = 0.02) -> None:
        if not rate > 0 or math.isinf(rate):
            raise ValueError("the rate must be a positive number of requests per second")
        if not 0 <= margin < 1:
            raise ValueError("the margin is a fraction of a step, at least 0 and below 1")
        self.nominal = self.rate = rate
        self.margin = margin
        self.spaced = False
        self._next = -math.inf

    @property
    def step(self) -> float:
        return 1.0 / self.rate

    def wait(self, now: float) -> float:
        return max(0.0, self._next - now)

    def take(self, now: float) -> None:
        if self.spaced:
            self._next = max(now, self._next) + self.step * (1.0 + self.margin)
            return
        # A task that woke up to one step late keeps the schedule (the next turn is one step
        # after the one it was given, not after it woke); after a longer pause the schedule
        # starts afresh from now.
        self._next = (self._next if now - self._next < self.step else now) + self.step

    def answered(self, seen_by: float) -> None:
        """A request's answer shows the server saw it at `seen_by` at the latest (the answer's
        arrival less the quickest answer to that kind of request): once spaced, the next
        request waits a whole step from then."""
        if self.spaced:
            self._next = max(self._next, seen_by + self.step * (1.0 + self.margin))

    def slow_down(self, now: float) -> None:
        """After a 429: the server's room is spent, so the next request waits a whole (slower)
        step, and from now on every step is kept whole."""
        self.spaced = True
        self.rate = max(self.nominal / 16, self.rate / 2)
        self._next = max(self._next, now + self.step)

    def speed_up(self) -> None:
        self.rate = min(self.nominal, self.rate + self.nominal / 20)

    def hold(self, until: float) -> None:
        """No request before `until`: the server asked for that wait (`Retry-After`)."""
        self._next = max(self._next, until)


class TokenBudget:
    """A daily token budget: what is left (None while unknown), minus what requests in flight
    have reserved. A request may go when its cost fits in what is left after the reservations:
    a cost equal to the tokens left passes, one token more does not."""

    def __init__(self, remaining: int | None) -> None:
        self.remaining = remaining
        self.reserved = 0

    def can_pay(self, cost: int) -> bool:
        return self.remaining is None or cost <= self.remaining - self.reserved

    def reserve(self, cost: int) -> None:
        self.reserved += cost

    def settle(self, cost: int, charged: bool) -> None:
        self.reserved = max(0, self.reserved - cost)
        if charged and self.remaining is not None:
            self.remaining = max(0, self.remaining - cost)

    def learn(self, remaining: int) -> None:
        """The server's count wins over ours (other users and apps share the budget)."""
        self.remaining = max(0, remaining)
