"""One sandbox process per profile for the whole session; each test resets and seeds it.

Every end-to-end test runs under both sandbox profiles: "default" (the likeliest behaviour of
the real APIs) and "strict" (each unverified behaviour at its hardest plausible alternative),
so the runtime depends on no choice the sandbox made where the real API's behaviour is unknown.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from harness import Sandbox

PROFILES = ("default", "strict")


@pytest.fixture(scope="session", params=PROFILES)
def sandbox_process(request: pytest.FixtureRequest) -> Iterator[Sandbox]:
    sbx = Sandbox(request.param)
    try:
        yield sbx
    finally:
        sbx.close()


@pytest.fixture
def sbx(sandbox_process: Sandbox, tmp_path: Path) -> Sandbox:
    sandbox_process.reset()
    sandbox_process.faults()
    sandbox_process.state = str(tmp_path / "state.db")  # type: ignore[attr-defined]
    return sandbox_process
