"""One connector per system: the only code that knows an API's paths and shapes.

A connector turns the API's records into flat records (`syncmap.runtime.values.ref_key` keys)
for the engine, and flat changes back into request bodies. Requests go through an
`syncmap.runtime.http.ApiClient`, which owns rate limits and retries. Both implement
`syncmap.runtime.connectors.base.Connector`, the engine's whole view of a system.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from syncmap.runtime.connectors.autopilot import Autopilot
    from syncmap.runtime.connectors.base import Connector
    from syncmap.runtime.connectors.pipedrive import Pipedrive

    def _conform(pipedrive: Pipedrive, autopilot: Autopilot) -> tuple[Connector, Connector]:
        return pipedrive, autopilot  # the type checker holds both to the protocol
