"""One diagnostic record, rendered four ways: human text with a caret, JSON, GitHub annotations,
and GitLab's code quality report.

Every stage (parse, structural checks, semantic checks) reports problems as `Diagnostic`s and
never raises for a user's mistake; the CLI picks a renderer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

ERROR = "error"
WARNING = "warning"
EXCERPT_WIDTH = 160  # characters of a source line shown around a caret


class Span(NamedTuple):
    """A region of a source file; lines and columns are 1-based, the end is exclusive.

    A NamedTuple rather than a dataclass: every AST node makes one, and tuple construction
    is several times cheaper than a frozen dataclass's.
    """

    file: str
    line: int
    col: int
    end_line: int
    end_col: int

    def as_json(self) -> dict[str, object]:
        return {"file": self.file, "line": self.line, "col": self.col, "end_line": self.end_line, "end_col": self.end_col}

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class Label:
    span: Span
    message: str


@dataclass(frozen=True)
class Diagnostic:
    code: str
    severity: str
    message: str
    span: Span
    labels: tuple[Label, ...] = field(default=())
    help: str | None = None

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def as_json(self) -> dict[str, object]:
        return {
            "code": self.code,
            "severity": self.severity,
            "message": self.message,
            "span": self.span.as_json(),
            "labels": [{"span": label.span.as_json(), "message": label.message} for label in self.labels],
            "help": self.help,
        }


def sort_key(d: Diagnostic) -> tuple[str, int, int, str, str]:
    return (d.span.file, d.span.line, d.span.col, d.code, d.message)


def has_errors(diagnostics: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diagnostics)


# ---------------------------------------------------------------- renderers


def _excerpt(span: Span, source: str | None, note: str) -> list[str]:
    """The source line under `span` with a caret run beneath it."""
    if source is None:
        return []
    lines = source.splitlines()
    if not 1 <= span.line <= len(lines):
        return []
    text = lines[span.line - 1].replace("\t", " ")
    width = (span.end_col - span.col) if span.end_line == span.line else len(text) - span.col + 1
    width = max(1, width)
    col = span.col
    if len(text) > EXCERPT_WIDTH:
        # A very long line (minified, generated, or not a mapping at all) is shown as a window
        # around the caret, so one diagnostic never prints megabytes.
        start = max(0, min(col - 1 - EXCERPT_WIDTH // 3, len(text) - EXCERPT_WIDTH))
        end = start + EXCERPT_WIDTH
        head, tail = ("…" if start > 0 else ""), ("…" if end < len(text) else "")
        text = head + text[start:end] + tail
        col = col - start + len(head)
        width = max(1, min(width, end - (span.col - 1)))
    gutter = " " * len(str(span.line))
    caret = " " * (col - 1) + "^" * width
    return [f"{gutter} |", f"{span.line} | {text}", f"{gutter} | {caret}" + (f" {note}" if note else "")]


def render_human(diagnostics: Iterable[Diagnostic], sources: Mapping[str, str]) -> str:
    out: list[str] = []
    for d in diagnostics:
        out.append(f"{d.severity}[{d.code}]: {d.message}")
        gutter = " " * len(str(d.span.line))
        out.append(f"{gutter}--> {d.span}")
        first, *rest = d.labels or (Label(d.span, ""),)
        out.extend(_excerpt(first.span, sources.get(first.span.file), first.message))
        for label in rest:
            out.append(f"{gutter}::: {label.span}")
            out.extend(_excerpt(label.span, sources.get(label.span.file), label.message))
        if d.help:
            out.append(f"{gutter} = help: {d.help}")
        out.append("")
    return "\n".join(out)


def render_json(diagnostics: Iterable[Diagnostic], sources: Mapping[str, str] | None = None) -> str:
    return json.dumps([d.as_json() for d in diagnostics], indent=2) + "\n"


def _github_escape(text: str, *, property_value: bool = False) -> str:
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    if property_value:
        text = text.replace(":", "%3A").replace(",", "%2C")
    return text


def _github_position(span: Span) -> list[str]:
    """GitHub's runner drops the columns of an annotation that spans several lines (with a
    warning in the log), and its end column is inclusive (it defaults to the start column), where
    a span's end is exclusive: columns only on one line, ending on the span's last character."""
    if span.end_line != span.line:
        return [f"line={span.line}", f"endLine={span.end_line}"]
    return [f"line={span.line}", f"col={span.col}", f"endLine={span.end_line}", f"endColumn={max(span.col, span.end_col - 1)}"]


def render_github(diagnostics: Iterable[Diagnostic], sources: Mapping[str, str] | None = None) -> str:
    lines = []
    for d in diagnostics:
        kind = "error" if d.is_error else "warning"
        props = ",".join([f"file={_github_escape(d.span.file, property_value=True)}", *_github_position(d.span), f"title={d.code}"])
        message = f"[{d.code}] {d.message}" + (f"\nhelp: {d.help}" if d.help else "")
        lines.append(f"::{kind} {props}::{_github_escape(message)}")
    return "\n".join(lines) + ("\n" if lines else "")


# GitLab's code quality severities run info, minor, major, critical, blocker: an error stops the
# mapping from compiling (major), a warning does not (minor).
_GITLAB_SEVERITY = {ERROR: "major", WARNING: "minor"}


def render_gitlab(diagnostics: Iterable[Diagnostic], sources: Mapping[str, str] | None = None) -> str:
    """GitLab's code quality report: a JSON list of issues for `artifacts: reports: codequality`.

    GitLab shows one issue per fingerprint and compares fingerprints between the merge request
    and its target branch, so a fingerprint must be unique within a report and should survive
    lines moving above the problem: it hashes the file, code and message (not the line), plus
    the count of earlier identical ones.
    """
    seen: dict[tuple[str, str, str], int] = {}
    issues = []
    for d in diagnostics:
        key = (d.span.file, d.code, d.message)
        seen[key] = seen.get(key, 0) + 1
        fingerprint = hashlib.sha256("\0".join([*key, str(seen[key])]).encode("utf-8")).hexdigest()
        issues.append(
            {
                "description": f"[{d.code}] {d.message}" + (f" (help: {d.help})" if d.help else ""),
                "check_name": d.code,
                "fingerprint": fingerprint,
                "severity": _GITLAB_SEVERITY.get(d.severity, "info"),
                "location": {"path": d.span.file, "lines": {"begin": d.span.line, "end": d.span.end_line}},
            }
        )
    return json.dumps(issues, indent=2) + "\n"


Renderer = Callable[..., str]
RENDERERS: dict[str, Renderer] = {"human": render_human, "json": render_json, "github": render_github, "gitlab": render_gitlab}
