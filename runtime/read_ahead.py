"""Reading the next chunk while the current one is written.

A pass reads Pipedrive a chunk at a time, pairs it and writes it before reading on (memory holds
one chunk). Read and write in turn, the writes stop while a chunk is read and paired (about 2 s
per 5,000 persons), and the API the pass writes to sits idle then: on a 100,000-record initial
sync that was a third of the run. `read_ahead` keeps one chunk in reserve instead: while the
consumer works on a chunk, the next is read in a task of its own. Nothing is read further
ahead, so memory holds two chunks at most, and the consumer still sees the chunks one after
the other, in order.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import TypeVar, cast

__all__ = ["read_ahead"]

T = TypeVar("T")
_END = object()


async def _next(source: AsyncIterator[T]) -> T | object:
    try:
        return await anext(source)
    except StopAsyncIteration:  # a task cannot end with it: the end is a value here
        return _END


async def read_ahead(source: AsyncIterator[T]) -> AsyncIterator[T]:
    """What `source` yields, each item read while the consumer still holds the one before.
    A failed read raises where the consumer asks for that item; a consumer that stops early
    (an exception, a break) cancels the read in flight and closes `source` (an async generator)."""
    pending: asyncio.Task[T | object] = asyncio.ensure_future(_next(source))
    try:
        while True:
            item = await pending
            if item is _END:
                return
            pending = asyncio.ensure_future(_next(source))
            yield cast(T, item)  # anything but _END is a T
    finally:
        if pending.done():
            if not pending.cancelled():
                pending.exception()  # the consumer stopped first: what that read did no longer matters
            aclose = getattr(source, "aclose", None)  # an async generator: its `finally` runs now
            if aclose is not None:
                await aclose()
        else:
            # The read in flight ends with the cancellation, and `source` with it (its await raises).
            pending.cancel()
