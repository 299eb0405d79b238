"""`read_ahead`: the next chunk is read while the consumer works on the current one, in order,
never more than one ahead; a failed read raises at its item; an early stop closes the source."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from syncmap.runtime.read_ahead import read_ahead


class Source:
    """Chunks that take `read` seconds each to read, with a log of what happened when."""

    def __init__(self, n: int, read: float = 0.05, fail_at: int | None = None) -> None:
        self.n, self.read, self.fail_at = n, read, fail_at
        self.log: list[str] = []
        self.closed = False

    async def chunks(self) -> AsyncIterator[int]:
        try:
            for i in range(self.n):
                self.log.append(f"read {i}")
                await asyncio.sleep(self.read)
                if i == self.fail_at:
                    raise ConnectionError(f"chunk {i}")
                self.log.append(f"got {i}")
                yield i
        finally:
            self.closed = True


def test_the_next_chunk_is_read_while_the_consumer_works_and_the_order_is_kept() -> None:
    source = Source(4)

    async def consume() -> tuple[list[int], float]:
        seen = []
        started = asyncio.get_running_loop().time()
        async for chunk in read_ahead(source.chunks()):
            source.log.append(f"work {chunk}")
            await asyncio.sleep(0.05)  # writing the chunk takes as long as reading one
            source.log.append(f"done {chunk}")
            seen.append(chunk)
        return seen, asyncio.get_running_loop().time() - started

    seen, seconds = asyncio.run(consume())
    assert seen == [0, 1, 2, 3]
    # chunk 1 is read while chunk 0 is worked on, and never more than one chunk ahead
    assert source.log[:5] == ["read 0", "got 0", "work 0", "read 1", "done 0"]
    assert source.log.index("read 2") > source.log.index("work 1")
    assert source.closed
    assert seconds < 0.05 * 4 * 2 * 0.8  # in turn it would take 0.4 s: the reads overlap the work


def test_a_failed_read_raises_where_its_chunk_is_asked_for() -> None:
    source = Source(4, read=0.01, fail_at=2)

    seen: list[int] = []

    async def collect() -> None:
        async for chunk in read_ahead(source.chunks()):
            seen.append(chunk)

    with pytest.raises(ConnectionError, match="chunk 2"):
        asyncio.run(collect())
    assert seen == [0, 1]  # the chunks before it were all handed over
    assert source.closed


@pytest.mark.parametrize(("pause", "last"), [(0.01, "read 2"), (0.1, "got 2")])
def test_a_consumer_that_stops_early_cancels_the_read_in_flight_and_closes_the_source(pause: float, last: str) -> None:
    """Stopped while chunk 2 is being read, the read is cancelled; stopped once it is in, the
    source is closed there. Either way nothing more is read."""
    source = Source(10, read=0.05)

    async def consume() -> None:
        chunks = read_ahead(source.chunks())
        async for chunk in chunks:
            if chunk == 1:
                await asyncio.sleep(pause)
                break
        await chunks.aclose()  # what `async for` leaves to the garbage collector, done now
        await asyncio.sleep(0.2)  # a read still running would log on

    asyncio.run(consume())
    assert source.closed
    assert source.log[-1] == last
