"""The compiler's front door: one function per stage, so callers can stop anywhere.

load          -> SourceSet (texts, parsed mappings, syntax diagnostics)
check         -> diagnostics (structure, then names and product rules against the catalogs)
compile_plan  -> the sync plan (plain data, in memory; plan.dumps writes it)
format_text   -> canonical text
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from syncmap.compiler.diagnostics import Diagnostic, has_errors, sort_key
from syncmap.compiler.fmt import format_mapping
from syncmap.compiler.gcpause import gc_paused
from syncmap.compiler.parser import parse
from syncmap.compiler.semantic import Model, analyse
from syncmap.compiler.sources import Reader, SourceSet, load, read_file
from syncmap.compiler.structure import check_structure

__all__ = ["CheckResult", "CompileResult", "check", "compile_plan", "format_text", "load", "parse"]


@dataclass(frozen=True)
class CheckResult:
    sources: SourceSet
    diagnostics: tuple[Diagnostic, ...]
    model: Model | None = None

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)


def check(root: str, reader: Reader = read_file) -> CheckResult:
    """Every diagnostic for `root` and the files it includes, sorted by position."""
    with gc_paused():
        return _check(root, reader)


def _check(root: str, reader: Reader) -> CheckResult:
    sources = load(root, reader)
    diagnostics = list(sources.diagnostics)
    model = None
    if sources.mappings:
        diagnostics.extend(check_structure(sources.mappings))
        model, semantic = analyse(sources.mappings)
        diagnostics.extend(semantic)
    return CheckResult(sources, tuple(sorted(set(diagnostics), key=sort_key)), model)


@dataclass(frozen=True)
class CompileResult:
    sources: SourceSet
    diagnostics: tuple[Diagnostic, ...]
    plan: dict[str, Any] | None  # None when there are errors

    @property
    def ok(self) -> bool:
        return self.plan is not None


def compile_plan(root: str, reader: Reader = read_file) -> CompileResult:
    """Check `root` and, when it has no errors, lower it to a validated plan."""
    from syncmap.compiler.lower import lower  # not needed by `check`, which must start fast
    from syncmap.compiler.plan import assert_consistent

    with gc_paused():
        checked = _check(root, reader)
        if not checked.ok or checked.model is None:
            return CompileResult(checked.sources, checked.diagnostics, None)
        plan = lower(checked.model, checked.sources, [d for d in checked.diagnostics if not d.is_error])
    assert_consistent(plan)  # the schema check is the test suite's: every lowered plan validates
    return CompileResult(checked.sources, checked.diagnostics, plan)


def format_text(text: str, file: str = "<input>") -> tuple[str | None, tuple[Diagnostic, ...]]:
    """The canonical layout of `text`, or None and the syntax errors that prevent it."""
    result = parse(text, file)
    if result.mapping is None:
        return None, result.diagnostics
    return format_mapping(result.mapping, text), ()
