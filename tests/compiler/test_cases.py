"""Data-driven: every file in tests/cases/invalid has its expected diagnostics beside it
(`CODE line:col [file]` per line); every file in tests/cases/valid and every shipped mapping
checks clean."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from syncmap.compiler.api import check
from syncmap.compiler.codes import REGISTRY
from syncmap.mappings import shipped

CASES = Path(__file__).resolve().parents[1] / "cases"
INVALID = sorted((CASES / "invalid").glob("*.syncmap"))
VALID = sorted((CASES / "valid").glob("*.syncmap"))
MAPPINGS = Path(__file__).resolve().parents[2] / "mappings"


def _expected(case: Path) -> list[tuple[str, int, int, str]]:
    rows = []
    for line in case.with_suffix(".expected").read_text().splitlines():
        if not line.strip():
            continue
        code, pos, *file = line.split()
        row, col = pos.split(":")
        rows.append((code, int(row), int(col), str(case.parent / file[0]) if file else str(case)))
    return rows


def _actual(case: Path) -> list[tuple[str, int, int, str]]:
    result = check(str(case))
    return [(d.code, d.span.line, d.span.col, os.path.abspath(d.span.file)) for d in result.diagnostics]


@pytest.mark.parametrize("case", INVALID, ids=lambda p: p.stem)
def test_invalid_case_reports_exactly_the_expected_diagnostics(case: Path) -> None:
    expected = [(c, r, k, os.path.abspath(f)) for c, r, k, f in _expected(case)]
    assert _actual(case) == expected


@pytest.mark.parametrize("case", VALID + sorted(MAPPINGS.glob("*.syncmap")), ids=lambda p: p.stem)
def test_valid_case_checks_clean(case: Path) -> None:
    result = check(str(case))
    assert [(d.code, d.message) for d in result.diagnostics] == []


def test_every_code_has_an_invalid_case() -> None:
    covered = {p.stem.split("-")[0] for p in INVALID}
    assert set(REGISTRY) - covered == set()


def test_case_file_names_match_the_first_expected_code() -> None:
    for case in INVALID:
        assert _expected(case)[0][0] == case.stem.split("-")[0], case.name


def test_shipped_mappings_are_packaged() -> None:
    assert set(shipped()) >= {"autopilot.syncmap", "five-objects.syncmap"}
