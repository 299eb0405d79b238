"""One canonical layout for mappings, keeping every comment; idempotent.

Layout: two-space indents, one statement per line, blocks separated by one blank line, the
author's single blank lines inside blocks kept, and the arrows of adjacent field rules lined
up so a block reads as a two-column table.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Protocol

from syncmap.compiler import ast
from syncmap.compiler.diagnostics import Span

INDENT = "  "


# ---------------------------------------------------------------- values and conditions


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\t", "\\t") + '"'


def value(v: ast.Value) -> str:
    if isinstance(v, ast.Literal):
        return v.raw
    if isinstance(v, ast.Path):
        return ".".join(segment(s) for s in v.segments)
    if isinstance(v, ast.This):
        return "this"
    if isinstance(v, ast.Clock):
        return v.name
    if isinstance(v, ast.DateShift):
        return f"{v.base.name} {v.sign} {v.amount} {v.unit}"
    if isinstance(v, ast.ListValue):
        return "[" + ", ".join(value(i) for i in v.items) + "]"
    raise TypeError(f"not a value: {v!r}")


def segment(s: ast.Segment) -> str:
    if s.args is None:
        return s.name
    return f"{s.name}(" + ", ".join(value(a) for a in s.args) + ")"


def condition(c: ast.Condition, parent: str | None = None) -> str:
    if isinstance(c, ast.BoolOp):
        text = f" {c.op} ".join(condition(o, c.op) for o in c.operands)
        return f"({text})" if parent is not None else text
    if isinstance(c, ast.Not):
        return "not " + condition(c.operand, "not")
    if isinstance(c, ast.Compare):
        return f"{value(c.left)} {'=' if c.op == '==' else c.op} {value(c.right)}"
    if isinstance(c, ast.InList):
        return f"{value(c.value)} in {value(c.options)}"
    if isinstance(c, ast.Truthy):
        return value(c.value)
    raise TypeError(f"not a condition: {c!r}")


def transform(t: ast.Transform) -> str:
    if isinstance(t, ast.NamedTransform):
        return t.name + (("(" + ", ".join(value(a) for a in t.args) + ")") if t.args else "")
    return "map { " + ", ".join(f"{value(p.key)} = {value(p.value)}" for p in t.pairs) + " }"


def rule_tail(rule: ast.FieldRule) -> str:
    parts = [rule.arrow, value(rule.right)]
    if rule.transforms:
        parts.append("with " + ", ".join(transform(t) for t in rule.transforms))
    if rule.default is not None:
        parts.append("default " + value(rule.default))
    if rule.conflict is not None:
        parts.append("conflict " + " ".join(rule.conflict.words))
    return " ".join(parts)


def statement(st: ast.Statement) -> str:
    if isinstance(st, ast.Match):
        return "match " + ", ".join(value(k.left) + (f" = {value(k.right)}" if k.right is not None else "") for k in st.keys)
    if isinstance(st, ast.Link):
        return f"link {value(st.left)} = {value(st.right)}"
    if isinstance(st, ast.Only):
        return f"only {condition(st.scope)} -> {st.toward}"
    if isinstance(st, ast.Deletes):
        return f"deletes {st.source}" + (f" {st.arrow} {st.target}" if st.arrow else "")
    if isinstance(st, ast.OwnerDefault):
        return f"owner default {value(st.value)}"
    if isinstance(st, ast.Empty):
        return f"empty {st.policy}"
    if isinstance(st, ast.Conflict):
        return "conflict " + " ".join(st.policy.words)
    if isinstance(st, ast.Where):
        return f"where {condition(st.condition)}"
    if isinstance(st, ast.Assign):
        return ("default " if st.is_default else "") + f"{value(st.target)} = {value(st.value)}"
    if isinstance(st, ast.FieldRule):
        return f"{value(st.left)} {rule_tail(st)}"
    raise TypeError(f"not a statement: {st!r}")


# ---------------------------------------------------------------- layout with comments


@dataclass
class _Writer:
    comments: list[ast.Comment]
    blank_lines: set[int]
    lines: list[str] = field(default_factory=list)
    last_source_line: int = 0
    _used: set[int] = field(default_factory=set)

    def _blank_between(self, start: int, end: int) -> bool:
        return any(start < n < end for n in self.blank_lines)

    def _separate(self, at: int, keep_blanks: bool) -> None:
        if keep_blanks and self.lines and self.lines[-1] != "" and self._blank_between(self.last_source_line, at):
            self.lines.append("")

    def leading(self, before: int, depth: int, keep_blanks: bool = True) -> None:
        """Own-line comments that stand before source line `before`."""
        for i, c in enumerate(self.comments):
            if i in self._used or not c.own_line or c.line >= before:
                continue
            self._separate(c.line, keep_blanks)
            self.lines.append(INDENT * depth + c.text.rstrip())
            self._used.add(i)
            self.last_source_line = c.line

    def trailing(self, first: int, last: int) -> str:
        found = []
        for i, c in enumerate(self.comments):
            if i not in self._used and not c.own_line and first <= c.line <= last:
                found.append(c.text.rstrip())
                self._used.add(i)
        return ("  " + " ".join(found)) if found else ""

    def line(self, text: str, depth: int, span: Span, keep_blanks: bool = True, covers: tuple[int, int] | None = None) -> None:
        first, last = covers or (span.line, span.end_line)
        # A statement written over several lines (a value map) becomes one: the own-line
        # comments inside it go before it, where the next run finds them again.
        self.leading(span.line if covers else last, depth, keep_blanks)
        self._separate(span.line, keep_blanks)
        self.lines.append(INDENT * depth + text + self.trailing(first, last))
        self.last_source_line = last

    def rest(self) -> None:
        self.leading(10**9, 0)


def _block(w: _Writer, header: str, span: Span, header_end: int, body: Callable[[], None], depth: int) -> None:
    w.line(header + " {", depth, span, covers=(span.line, header_end))
    body()
    w.leading(span.end_line, depth + 1)
    w.line("}", depth, Span(span.file, span.end_line, 1, span.end_line, 1), keep_blanks=False)


class _Spanned(Protocol):
    @property
    def span(self) -> Span: ...


def _header_end(node_span: Span, inner: Sequence[_Spanned]) -> int:
    """The source line holding a block's `{`: just before its first statement, or its end."""
    firsts = [n.span.line for n in inner if n.span.line > 0]
    return min(firsts) - 1 if firsts and min(firsts) > node_span.line else node_span.line


def _statements(w: _Writer, statements: Sequence[ast.Statement], depth: int) -> None:
    # Runs of adjacent field rules (no blank line or comment between) share an arrow column.
    runs: list[list[ast.Statement]] = []
    for st in statements:
        adjacent = (
            runs
            and isinstance(st, ast.FieldRule)
            and isinstance(runs[-1][-1], ast.FieldRule)
            and not w._blank_between(runs[-1][-1].span.end_line, st.span.line)
            and not any(c.own_line and runs[-1][-1].span.end_line < c.line < st.span.line for c in w.comments)
        )
        if adjacent:
            runs[-1].append(st)
        else:
            runs.append([st])
    first_in_block = True
    for run in runs:
        rules = [r for r in run if isinstance(r, ast.FieldRule)]  # the whole run, or none of it
        width = max((len(value(r.left)) for r in rules), default=0)
        # Right-align arrows so the targets form a column even when `->` meets `<->`.
        arrow_width = max((len(r.arrow) for r in rules), default=0)
        for st in run:
            if isinstance(st, ast.FieldRule):
                text = value(st.left).ljust(width) + " " + " " * (arrow_width - len(st.arrow)) + rule_tail(st)
            else:
                text = statement(st)
            w.line(text, depth, st.span, keep_blanks=not first_in_block)
            first_in_block = False


def _item(w: _Writer, item: ast.Item) -> None:
    if isinstance(item, ast.Version):
        w.line(f"syncmap {item.number}", 0, item.span)
    elif isinstance(item, ast.Include):
        w.line(f"include {quote(item.path)}", 0, item.span)
    elif isinstance(item, ast.Connect):

        def body() -> None:
            for i, s in enumerate(item.settings):
                w.line(f"{s.key} = {value(s.value)}", 1, s.span, keep_blanks=i > 0)

        _block(w, f"connect {item.system}", item.span, _header_end(item.span, list(item.settings)), body, 0)
    elif isinstance(item, ast.Sync):
        _block(
            w,
            f"sync {item.left} {item.arrow} {item.right}",
            item.span,
            _header_end(item.span, list(item.statements)),
            lambda: _statements(w, item.statements, 1),
            0,
        )
    elif isinstance(item, ast.Action):

        def steps() -> None:
            for step in item.steps:
                header = f"{step.verb} {step.target}" + (f" where {condition(step.where)}" if step.where is not None else "")
                _block(w, header, step.span, _header_end(step.span, list(step.assigns)), partial(_statements, w, step.assigns, 2), 1)

        _block(w, f"action {quote(item.name)} on {item.on}", item.span, _header_end(item.span, list(item.steps)), steps, 0)
    else:
        raise TypeError(f"not an item: {item!r}")


def format_mapping(mapping: ast.Mapping, source: str) -> str:
    """The canonical text of a parsed mapping; `source` supplies its blank lines."""
    blank = {i + 1 for i, text in enumerate(source.splitlines()) if not text.strip()}
    w = _Writer(list(mapping.comments), blank)
    previous: ast.Item | None = None
    for item in mapping.items:
        is_block = isinstance(item, (ast.Connect, ast.Sync, ast.Action))
        # Blocks, and groups of different kinds, always stand apart (comments before an item
        # stay with it, after the separating blank line).
        apart = previous is not None and (is_block or isinstance(previous, (ast.Connect, ast.Sync, ast.Action)) or type(previous) is not type(item))
        if apart and w.lines and w.lines[-1] != "":
            w.lines.append("")
        _item(w, item)
        previous = item
    w.rest()
    while w.lines and w.lines[-1] == "":
        w.lines.pop()
    return "\n".join(w.lines) + "\n" if w.lines else ""
