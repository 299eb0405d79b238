from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CASES = REPO / "tests" / "cases"


@pytest.fixture
def repo() -> Path:
    return REPO
