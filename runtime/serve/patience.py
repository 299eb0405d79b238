"""How long `serve` waits before trying again, and whether a failure is the deliveries' fault.

A server is judged by how soon a change crosses once the APIs answer again, so its waits are
short and bounded: one request's retries never sleep more than `SERVE_RETRY.max_delay` unless
the API asks for longer (`Retry-After`, `x-ratelimit-reset`), and the worker's wait between two
tries of a batch the API refused is at most `BUSY_CAP`. Together with the Autopilot governor's
slowest pace (one request per 3.2 s) the first try after a limit clears starts within 10 s.

Three kinds of failure (`verdict`):
- the API is busy or down (429, 5xx, no answer, an unknown outcome, writes held back for
  that reason): the deliveries stay pending as they were; the API is the problem, not them;
- a limit with a known reset (Pipedrive's daily budget): the same, the wait runs to the reset;
- anything else (a definite refusal, a bug): the batch spends one of its attempts, and a
  delivery that has spent them all is given up (the next reconciliation covers its records).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from syncmap.runtime.api_errors import LimitReached, is_transient
from syncmap.runtime.retry import RetryPolicy

__all__ = ["BUSY_CAP", "FAULT_CAP", "LIMIT_CAP", "SERVE_RETRY", "STOP_RETRY", "HeldWrites", "Verdict", "verdict"]

# One request's retries in `serve`: as `run`'s, but no backoff step over 4 s (run's grows to 60).
SERVE_RETRY = RetryPolicy(max_delay=4.0)
# Removing the subscriptions on a stop: a few quick tries each (a 429 from an API without burst
# room is common when they all go at once), inside the stop's deadline; the next start re-uses
# what is left.
STOP_RETRY = RetryPolicy(max_attempts=4, base_delay=0.25, max_delay=1.0)
BUSY_CAP = 5.0  # seconds between two tries of a batch while the API is busy
LIMIT_CAP = 60.0  # a limit without a known reset is looked at again at least this often
FAULT_CAP = 60.0  # a batch that fails for another reason


class HeldWrites(Exception):
    """Writes of a batch that the API refused only for being busy (no dead letter was made):
    the batch's deliveries stay pending and the writes are sent again with them."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        super().__init__(f"{len(errors)} write(s) refused while the API is busy, kept pending: {errors[0]}{more}")


@dataclass(frozen=True)
class Verdict:
    wait: float  # seconds before the batch is tried again
    spends_attempt: bool  # the deliveries' fault: counts toward MAX_ATTEMPTS


def _doubled(previous: float, cap: float) -> float:
    return min(max(previous * 2, 1.0), cap)


def verdict(previous: float, error: BaseException, *, wall: Callable[[], float] = time.time) -> Verdict:
    """What a failed batch means, given the wait before the last try (0 after a success)."""
    if isinstance(error, HeldWrites) or is_transient(error):
        return Verdict(_doubled(previous, BUSY_CAP), False)
    if isinstance(error, LimitReached):
        if error.reset_at is None:
            return Verdict(_doubled(previous, LIMIT_CAP), False)
        # Woken at the reset itself (a little after), not up to a whole step later.
        return Verdict(min(max(error.reset_at - wall() + 0.5, 1.0), LIMIT_CAP), False)
    return Verdict(_doubled(previous, FAULT_CAP), True)
