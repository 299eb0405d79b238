"""The runtime's state store: links, cursors, the outbox, dead letters, the run log, the inbox.

`open_state(path)` opens the embedded SQLite store; the engine codes against the
`StateStore` protocol in `base.py`, so a server database can replace SQLite later.
"""

from __future__ import annotations

import os
import time

from syncmap.runtime.state.base import (
    DeadLetter,
    InboxItem,
    Intent,
    Link,
    Run,
    Side,
    StateError,
    StateStore,
    StateVersionError,
)
from syncmap.runtime.state.paths import default_state_path
from syncmap.runtime.state.sqlite import Clock, open_sqlite

__all__ = [
    "DeadLetter",
    "InboxItem",
    "Intent",
    "Link",
    "Run",
    "Side",
    "StateError",
    "StateStore",
    "StateVersionError",
    "default_state_path",
    "open_state",
]


def open_state(path: str | os.PathLike[str] | None = None, *, clock: Clock = time.time) -> StateStore:
    """The state store at `path` (None: `default_state_path()`), created with private
    permissions and migrated to this syncmap's schema when needed."""
    return open_sqlite(default_state_path() if path is None else path, clock=clock)
