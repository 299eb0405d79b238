"""The compiler's front door: one function per stage, so callers can stop anywhere.

    load  -> SourceSet (texts, parsed mappings, syntax diagnostics)
    check -> diagnostics (structure now; catalog rules join in the semantic stage)
    fmt   -> canonical text
"""

from __future__ import annotations

from dataclasses import dataclass

from syncmap.compiler.diagnostics import Diagnostic, has_errors, sort_key
from syncmap.compiler.fmt import format_mapping
from syncmap.compiler.parser import parse
from syncmap.compiler.sources import Reader, SourceSet, load, read_file
from syncmap.compiler.semantic import analyse
from syncmap.compiler.structure import check_structure

__all__ = ["CheckResult", "check", "format_text", "load", "parse"]


@dataclass(frozen=True)
class CheckResult:
    sources: SourceSet
    diagnostics: tuple[Diagnostic, ...]

    @property
    def ok(self) -> bool:
        return not has_errors(self.diagnostics)


def check(root: str, reader: Reader = read_file) -> CheckResult:
    """Every diagnostic for `root` and the files it includes, sorted by position."""
    sources = load(root, reader)
    diagnostics = list(sources.diagnostics)
    if sources.mappings:
        diagnostics.extend(check_structure(sources.mappings))
        diagnostics.extend(analyse(sources.mappings)[1])
    return CheckResult(sources, tuple(sorted(set(diagnostics), key=sort_key)))


def format_text(text: str, file: str = "<input>") -> tuple[str | None, tuple[Diagnostic, ...]]:
    """The canonical layout of `text`, or None and the syntax errors that prevent it."""
    result = parse(text, file)
    if result.mapping is None:
        return None, result.diagnostics
    return format_mapping(result.mapping, text), ()
