import os
import sys
from pathlib import Path

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CASES = REPO / "tests" / "cases"

# Tests write only under pytest's temporary directories: no bytecode caches in the source
# folders, from this process or from the subprocesses the tests start (they inherit the
# environment), and Hypothesis's storage moves to the session's temporary directory.
sys.dont_write_bytecode = True
os.environ["PYTHONDONTWRITEBYTECODE"] = "1"

# What the checkout may gain while the suite runs: only what installing it creates.
_NOT_THE_CHECKOUT = {".git", ".venv"}


def _checkout_files() -> set[str]:
    found = set()
    for here, dirs, files in os.walk(REPO):
        rel = Path(here).relative_to(REPO)
        if rel == Path("."):
            dirs[:] = [d for d in dirs if d not in _NOT_THE_CHECKOUT and not d.endswith(".egg-info")]
        found.update(str(rel / name) for name in dirs + files)
    return found


def pytest_sessionstart(session: pytest.Session) -> None:
    session.config.stash[_BEFORE] = _checkout_files()
    # Hypothesis writes its storage while test modules are collected, before any fixture can
    # run; the session's temporary directory already exists here.
    set_hypothesis_home_dir(session.config._tmp_path_factory.mktemp("hypothesis"))


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.skipped:  # skip, skipif, importorskip and xfail all end here
        _SKIPPED.append(report.nodeid)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """The run fails when a test was skipped (a missing dependency or ../shared is a broken
    set-up, not a reason to pass) or when it wrote into the checkout."""
    problems = []
    if _SKIPPED:
        problems.append("skipped (tests fail instead of skipping): " + ", ".join(_SKIPPED))
    before = session.config.stash.get(_BEFORE, None)
    added = sorted(_checkout_files() - before) if before is not None else []
    if added:
        problems.append("the test run wrote into the checkout (tests must write only under tmp_path): " + ", ".join(added))
    for problem in problems:
        session.config.get_terminal_writer().line(problem, red=True)
    if problems and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


_BEFORE = pytest.StashKey[set[str]]()
_SKIPPED: list[str] = []


@pytest.fixture
def repo() -> Path:
    return REPO


@pytest.fixture(scope="session")
def shared_specs() -> Path:
    """Pipedrive's published OpenAPI descriptions; every run has ../shared beside the checkout."""
    ref = SHARED / "ref" / "pipedrive"
    assert (ref / "v2.yaml").is_file(), f"{ref} is missing: the conformance tests need ../shared beside the checkout"
    return ref
