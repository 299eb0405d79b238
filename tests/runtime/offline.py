"""Plans and engines for tests of the runtime's decisions that call no API: a compiled plan,
and an engine over the real SQLite state store with a run started, and connectors with no HTTP
client (their capabilities decide how a pass runs; a request from one fails the test)."""

from __future__ import annotations

from pathlib import Path

from syncmap.compiler.api import compile_plan
from syncmap.runtime.connectors.autopilot import Autopilot
from syncmap.runtime.connectors.pipedrive import Pipedrive
from syncmap.runtime.engine import Engine
from syncmap.runtime.state import open_state

MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


def compiled(mapping: Path) -> dict:
    result = compile_plan(str(mapping))
    assert result.plan is not None, result.diagnostics
    return result.plan


def shipped_plan(name: str) -> dict:
    """The plan of a shipped mapping (`autopilot`, `five-objects`)."""
    return compiled(MAPPINGS / f"{name}.syncmap")


def offline_engine(plan: dict, state_file: Path) -> Engine:
    state = open_state(state_file)
    engine = Engine(plan, {"pipedrive": Pipedrive(None), "autopilot": Autopilot(None)}, state)
    engine.run_id = state.start_run(mode="test", plan_digest="d")
    return engine
