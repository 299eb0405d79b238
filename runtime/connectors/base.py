"""What the engine sees of a record, whichever system it comes from."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(slots=True)
class Record:
    id: str
    values: dict[str, Any]  # flat: ref_key -> value
    updated: float | None = None  # epoch seconds of the last change, when the API says
    deleted: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


class Connector(Protocol):
    """What the engine asks of a system. The engine, pairing, the diff and writing name no
    system: what is particular to one lives behind these methods and in its catalog (how a
    pass runs, from the catalog's facts: `syncmap.compiler.passes`)."""

    system: str

    # -- the account --------------------------------------------------------------------------
    async def check(self) -> None:
        """Check the credentials (ApiError on refusal)."""

    async def prepare(self, pairs: Sequence[Mapping[str, Any]], *, lists: Sequence[str], write: bool) -> None:
        """Load what the pairs need of the account (users, custom fields, types, lists); with
        `write`, create what a sync keeps there (link fields, scope and mirror lists)."""

    def me_id(self) -> Any:
        """The connecting user's id (`system.me`), or None."""

    def users_by_name(self) -> dict[str, Any]:
        """User name -> id, for `user("…")` values; empty where the system has no users."""

    def check_values(self, obj: str, changes: dict[str, Any]) -> None:
        """Values about to be written, against the account; DeadLetter names one that fails."""

    # -- lists a scope can name ---------------------------------------------------------------
    def list_id(self, title: str) -> str | None: ...

    def member_pages(self, title: str) -> AsyncIterator[list[dict[str, Any]]]:
        """The records on the list titled `title`, a page at a time (none without the list)."""
        ...

    # -- records ------------------------------------------------------------------------------
    def pages(self, obj: str, *, updated_since: float | None = None) -> AsyncIterator[list[dict[str, Any]]]:
        """Every record of `obj`, or those changed since a time (objects whose catalog names
        `api.changes_since`)."""
        ...

    async def get(self, obj: str, record_id: str) -> dict[str, Any] | None:
        """One record, None when it is gone."""

    async def ensure_related(self, raw: Mapping[str, Any]) -> None:
        """Load the records `raw` reads fields of through a relation, when new."""

    def records(self, obj: str, raw: Mapping[str, Any], keys: Iterable[str]) -> list[Record]:
        """The records of `obj` in one read item (a contact carries its activities)."""
        ...

    def flatten(self, obj: str, raw: Mapping[str, Any], keys: Iterable[str]) -> Record:
        """One read item as a flat record holding `keys`."""
        ...

    async def find_ids(self, obj: str, ref: Mapping[str, Any], value: str) -> list[str] | None:
        """Ids of the records whose field `ref` holds `value`; None when it cannot search it."""

    def carried_by(self, obj: str) -> str | None:
        """The object whose records carry `obj`'s records, when they are not read on their own."""
        ...

    async def delete(self, obj: str, record_id: str) -> None: ...


class ConnectorError(Exception):
    """A configuration problem found at start (missing variable, bad credentials, no route)."""
