"""The mutation-testing set-up stays in step with the code: every module pyproject.toml names
for mutmut exists and bench/mutation.py knows which existing tests exercise it."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _bench():
    spec = importlib.util.spec_from_file_location("bench_mutation", ROOT / "bench" / "mutation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_mutated_module_exists_and_has_existing_tests() -> None:
    bench = _bench()
    modules = bench.modules()
    assert modules == [
        "compiler/semantic.py",
        "compiler/lower.py",
        "compiler/cost.py",
        "sandbox/pipedrive/ratelimit.py",
        "sandbox/pipedrive/pagination.py",
        "runtime/diff.py",
        "runtime/values.py",
        "runtime/serve/events.py",
        "runtime/serve/worker.py",
        "runtime/governor.py",
        "runtime/pairing.py",
    ]
    assert set(bench.TESTS) == set(modules)
    for module in modules:
        assert (ROOT / module).is_file(), module
        for test in bench.TESTS[module]:
            assert (ROOT / test).is_file(), test
