"""Journey actions: the plan's `actions` run for one Autopilot contact (`syncmap action`, and the
server's `POST /actions/{name}`). See docs/runtime.md, "Actions"."""

from syncmap.runtime.actions.deliveries import delivery_key, journey_deliveries
from syncmap.runtime.actions.runner import DEFAULT_KEY_WINDOW, ActionOutcome, ActionRunner, UnknownAction

__all__ = ["DEFAULT_KEY_WINDOW", "ActionOutcome", "ActionRunner", "UnknownAction", "delivery_key", "journey_deliveries"]
