"""What the mixins of a pair's pass (`Pairing`, `Writing`) rely on from the class they are
mixed into, `syncmap.runtime.engine.PairRun`, and what the engine asks of a pass.

Each mixin subclasses this protocol, so the type checker reads its attributes and checks
`PairRun` against it: a mixin that uses something the pass does not declare here fails the
check, and so does a `PairRun` whose method no longer fits what a mixin calls."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from syncmap.runtime.candidates import Candidate
from syncmap.runtime.connectors.base import Record
from syncmap.runtime.diff import Op
from syncmap.runtime.state import StateStore

if TYPE_CHECKING:  # engine.py imports the mixins, which import this module
    from syncmap.runtime.engine import Engine, Side
    from syncmap.runtime.pending import Pending


class PairRunHost(Protocol):
    engine: Engine
    pair: Mapping[str, Any]  # the plan's pair
    id: str  # the pair's id
    run_id: int
    state: StateStore
    ops: list[Op]
    sides: dict[str, Side]
    lettered: set[tuple[str, str]]  # (side, record id) given a dead letter this pass
    waiting: int  # records whose related record is not synced yet (R17)
    created_left: list[Candidate]  # Pipedrive records this pass created, for the values they bring back
    pending: Pending  # writes the APIs refused for a while, sent again by a later round

    def main_direction(self) -> str: ...

    def remember(self, candidate: Candidate, fresh: str | None = None) -> None: ...

    def shared_email(self, right: Record, reached: str) -> None: ...
