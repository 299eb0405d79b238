from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CASES = REPO / "tests" / "cases"


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_specs() -> Path:
    """Pipedrive's published OpenAPI descriptions; every run has ../shared beside the checkout."""
    ref = SHARED / "ref" / "pipedrive"
    assert (ref / "v2.yaml").is_file(), f"{ref} is missing: the conformance tests need ../shared beside the checkout"
    return ref
