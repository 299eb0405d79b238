"""Text -> AST. The Lark parser is built once and builds the AST itself while it reduces
(an inline transformer: no intermediate parse tree); the transformer only builds nodes.

`parse` never raises for a user's mistake: syntax errors come back as diagnostics whose
messages speak the mapping's language (see `syntax_errors`), never Lark's.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, cast

from lark import Lark, Token, Transformer
from lark.exceptions import UnexpectedInput

from syncmap.compiler import ast
from syncmap.compiler.diagnostics import Diagnostic, Span
from syncmap.compiler.syntax_errors import describe_syntax_error
from syncmap.grammar import grammar_text


@dataclass(frozen=True)
class ParseResult:
    mapping: ast.Mapping | None
    diagnostics: tuple[Diagnostic, ...]


# Comments are dropped by the grammar; lexer callbacks collect them for fmt. The callbacks are
# bound once to the shared parser, so the collector is per thread.
_collector = threading.local()


Position = tuple[int, int]  # (line, column), both from 1


def _start(token: Token) -> Position:
    # lark types a token's position as optional; every token its lexer makes carries one
    assert token.line is not None and token.column is not None
    return token.line, token.column


def _end(token: Token) -> Position:
    assert token.end_line is not None and token.end_column is not None
    return token.end_line, token.end_column


def _on_comment(token: Token) -> Token:
    _collector.comments.append(ast.Comment(str(token), *_start(token), own_line=False))
    return token


def _on_newline(token: Token) -> Token:
    # A newline token may hold whole-line comments: "\n  # note\n\n  # more".
    line, _ = _start(token)
    for piece in str(token).split("\n")[1:]:
        line += 1
        stripped = piece.lstrip(" \t\r")
        if stripped.startswith("#"):
            col = len(piece) - len(stripped) + 1
            _collector.comments.append(ast.Comment(stripped.rstrip("\r"), line, col, own_line=True))
    return token


@lru_cache(maxsize=1)
def lark_parser() -> Lark:
    return Lark(
        grammar_text(),
        parser="lalr",
        transformer=_ToAst(),
        maybe_placeholders=False,
        lexer_callbacks={"COMMENT": _on_comment, "_NL": _on_newline},
        # Grammar analysis is most of a cold `syncmap check`; Lark caches it in the temp dir.
        cache=True,
    )


def parse(text: str, file: str = "<input>") -> ParseResult:
    """Parse one mapping file. Returns the AST, or None with diagnostics."""
    _collector.comments = []
    _collector.file = file
    # Editors on Windows may save UTF-8 with a byte-order mark: it is not part of the text.
    text = text.removeprefix("\ufeff")
    try:
        # the inline transformer turns the whole tree into what `_ToAst.start` returns
        mapping = cast(ast.Mapping, lark_parser().parse(text))
    except UnexpectedInput as exc:
        return ParseResult(None, (describe_syntax_error(exc, text, file, lark_parser()),))
    comments = _collector.comments
    _collector.comments = []
    # A comment at the very start (before any newline) is seen by the COMMENT callback; one
    # trailing code is too. Decide own-line-ness from the text, not from which callback saw it.
    lines = text.splitlines()
    fixed = []
    for c in comments:
        own = c.own_line or (1 <= c.line <= len(lines) and not lines[c.line - 1][: c.col - 1].strip())
        fixed.append(ast.Comment(c.text, c.line, c.col, own))
    return ParseResult(
        ast.Mapping(file=mapping.file, items=mapping.items, comments=tuple(sorted(set(fixed), key=lambda c: (c.line, c.col))), span=mapping.span),
        (),
    )


# ---------------------------------------------------------------- tokens -> AST


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    if "\\" not in body:
        return body
    out, i = [], 0
    escapes = {"n": "\n", "t": "\t", '"': '"', "\\": "\\"}
    while i < len(body):
        ch = body[i]
        if ch == "\\" and i + 1 < len(body):
            out.append(escapes.get(body[i + 1], body[i + 1]))
            i += 2
        else:
            out.append(ch)
            i += 1
    return "".join(out)


# Keywords and punctuation that `!` rules keep only so spans reach them.
_NOISE = {
    "_NL",
    "_LBRACE",
    "_RBRACE",
    "LPAR",
    "RPAR",
    "LSQB",
    "RSQB",
    "COMMA",
    "DOT",
    "EQUAL",
    "SYNCMAP",
    "INCLUDE",
    "CONNECT",
    "SYNC",
    "MATCH",
    "LINK",
    "ONLY",
    "DELETES",
    "OWNER",
    "DEFAULT",
    "EMPTY",
    "CONFLICT",
    "WHERE",
    "WITH",
    "ACTION",
    "ON",
    "NOT",
}


def _first(x: object) -> Position | None:
    if isinstance(x, Token):
        return _start(x)
    if isinstance(x, (tuple, list)):
        return _first(x[0]) if x else None
    span = getattr(x, "span", None)
    return (span.line, span.col) if span is not None and span.line else None


def _last(x: object) -> Position | None:
    if isinstance(x, Token):
        return _end(x)
    if isinstance(x, (tuple, list)):
        return _last(x[-1]) if x else None
    span = getattr(x, "span", None)
    return (span.end_line, span.end_col) if span is not None and span.line else None


def _kept(children: list[Any]) -> list[Any]:
    return [c for c in children if not (isinstance(c, Token) and c.type in _NOISE)]


class _ToAst(Transformer[Token, Any]):
    """Bottom-up, during parsing: each method gets a rule's children and returns its node."""

    def __init__(self) -> None:
        super().__init__(visit_tokens=False)

    @property
    def file(self) -> str:
        return getattr(_collector, "file", "<input>")

    def _span(self, children: list[Any]) -> Span:
        if not children:
            return ast.NO_SPAN
        # Fast path: a node's first and last children almost always carry positions.
        a, b = children[0], children[-1]
        if type(a) is Token and type(b) is Token:
            return Span(self.file, *_start(a), *_end(b))
        start = _first(a) or next((p for p in map(_first, children) if p), None)
        end = _last(b) or next((p for p in map(_last, reversed(children)) if p), None)
        if start is None or end is None:
            return ast.NO_SPAN
        return Span(self.file, start[0], start[1], end[0], end[1])

    def _tok_span(self, tok: Token) -> Span:
        return Span(self.file, *_start(tok), *_end(tok))

    # -- file
    def start(self, c: list[Any]) -> ast.Mapping:
        return ast.Mapping(self.file, tuple(c), span=self._span(c))

    def version(self, c: list[Any]) -> ast.Version:
        return ast.Version(int(_kept(c)[0]), self._span(c))

    def include(self, c: list[Any]) -> ast.Include:
        return ast.Include(_unquote(_kept(c)[0]), self._span(c))

    def connect(self, c: list[Any]) -> ast.Connect:
        k = _kept(c)
        return ast.Connect(str(k[0]), tuple(k[1:]), self._span(c))

    def setting(self, c: list[Any]) -> ast.Setting:
        return ast.Setting(str(c[0]), c[1], self._span(c))

    # -- sync
    def sync(self, c: list[Any]) -> ast.Sync:
        k = _kept(c)
        return ast.Sync(k[0], str(k[1]), k[2], tuple(k[3:]), self._span(c))

    def object_ref(self, c: list[Any]) -> ast.ObjectRef:
        return ast.ObjectRef(str(c[0]), str(c[1]), self._span(c))

    def match(self, c: list[Any]) -> ast.Match:
        return ast.Match(tuple(_kept(c)), self._span(c))

    def match_key(self, c: list[Any]) -> ast.MatchKey:
        return ast.MatchKey(c[0], c[1] if len(c) > 1 else None, self._span(c))

    def link(self, c: list[Any]) -> ast.Link:
        k = _kept(c)
        return ast.Link(k[0], k[1], self._span(c))

    def only(self, c: list[Any]) -> ast.Only:
        k = _kept(c)
        return ast.Only(k[0], str(k[2]), self._span(c))

    def deletes_flow(self, c: list[Any]) -> ast.Deletes:
        k = _kept(c)
        return ast.Deletes(str(k[0]), str(k[1]), str(k[2]), self._span(c))

    def deletes_word(self, c: list[Any]) -> ast.Deletes:
        return ast.Deletes(str(_kept(c)[0]), None, None, self._span(c))

    def owner(self, c: list[Any]) -> ast.OwnerDefault:
        return ast.OwnerDefault(_kept(c)[0], self._span(c))

    def empty(self, c: list[Any]) -> ast.Empty:
        return ast.Empty(str(_kept(c)[0]), self._span(c))

    def conflict_policy(self, c: list[Any]) -> ast.ConflictPolicy:
        return ast.ConflictPolicy(tuple(str(t) for t in _kept(c)), self._span(c))

    def conflict(self, c: list[Any]) -> ast.Conflict:
        return ast.Conflict(c[0], self._span(c))

    def where(self, c: list[Any]) -> ast.Where:
        return ast.Where(_kept(c)[0], self._span(c))

    def assign(self, c: list[Any]) -> ast.Assign:
        is_default = isinstance(c[0], Token) and c[0].type == "DEFAULT"
        rest = c[1:] if is_default else c
        return ast.Assign(rest[0], rest[1], is_default, self._span(c))

    def rule(self, c: list[Any]) -> ast.FieldRule:
        left, arrow, right, *options = c
        transforms: tuple[ast.Transform, ...] = ()
        default = conflict = None
        for option in options:
            if isinstance(option, tuple):
                transforms = option
            elif isinstance(option, ast.ConflictPolicy):
                conflict = option
            else:
                default = option[1]
        return ast.FieldRule(left, str(arrow), right, transforms, default, conflict, self._span(c), self._tok_span(arrow))

    def with_clause(self, c: list[Any]) -> tuple[Any, ...]:
        return tuple(_kept(c))

    def default_clause(self, c: list[Any]) -> list[Any]:
        return ["default", c[1]]

    def named_transform(self, c: list[Any]) -> ast.NamedTransform:
        k = _kept(c)
        return ast.NamedTransform(str(k[0]), tuple(k[1:]), self._span(c))

    def map_transform(self, c: list[Any]) -> ast.MapTransform:
        return ast.MapTransform(tuple(x for x in c if isinstance(x, ast.MapPair)), self._span(c))

    def map_pair(self, c: list[Any]) -> ast.MapPair:
        return ast.MapPair(c[0], c[1], self._span(c))

    # -- actions
    def action(self, c: list[Any]) -> ast.Action:
        k = _kept(c)
        name_tok = k[0]
        return ast.Action(_unquote(name_tok), k[1], tuple(k[2:]), self._span(c), self._tok_span(name_tok))

    def verb(self, c: list[Any]) -> Token:
        verb: Token = c[0]
        return verb  # the token itself, so the step's span starts at it

    def step(self, c: list[Any]) -> ast.Step:
        verb, target, *rest = _kept(c)
        where = None
        if rest and not isinstance(rest[0], ast.Assign):
            where, rest = rest[0], rest[1:]
        return ast.Step(str(verb), target, where, tuple(rest), self._span(c))

    # -- conditions
    def or_(self, c: list[Any]) -> ast.Condition:
        k: list[ast.Condition] = [x for x in c if not isinstance(x, Token)]
        return k[0] if len(k) == 1 else ast.BoolOp("or", tuple(k), self._span(c))

    def and_(self, c: list[Any]) -> ast.Condition:
        k: list[ast.Condition] = [x for x in c if not isinstance(x, Token)]
        return k[0] if len(k) == 1 else ast.BoolOp("and", tuple(k), self._span(c))

    def not_(self, c: list[Any]) -> ast.Not:
        return ast.Not(_kept(c)[0], self._span(c))

    def compare(self, c: list[Any]) -> ast.Compare:
        op = str(c[1])
        return ast.Compare(c[0], "==" if op == "=" else op, c[2], self._span(c))

    def in_list(self, c: list[Any]) -> ast.InList:
        return ast.InList(c[0], c[-1], self._span(c))

    def truthy(self, c: list[Any]) -> ast.Truthy:
        return ast.Truthy(c[0], self._span(c))

    # -- values
    def date_shift(self, c: list[Any]) -> ast.DateShift:
        base, shift, unit = c
        text = str(shift).replace(" ", "").replace("\t", "")
        return ast.DateShift(base, text[0], int(text[1:]), str(unit), self._span(c), self._tok_span(unit))

    def today(self, c: list[Any]) -> ast.Clock:
        return ast.Clock("today", self._span(c))

    def now(self, c: list[Any]) -> ast.Clock:
        return ast.Clock("now", self._span(c))

    def literal(self, c: list[Any]) -> ast.Literal:
        tok = c[0]
        raw = str(tok)
        span = self._span(c)
        if tok.type == "STRING":
            return ast.Literal(_unquote(raw), "string", raw, span)
        if tok.type == "SIGNED_NUMBER":
            number = float(raw) if "." in raw else int(raw)
            return ast.Literal(number, "number", raw, span)
        if tok.type in ("TRUE", "FALSE"):
            return ast.Literal(tok.type == "TRUE", "boolean", raw, span)
        return ast.Literal(None, "null", raw, span)

    def list_value(self, c: list[Any]) -> ast.ListValue:
        return ast.ListValue(tuple(_kept(c)), self._span(c))

    def path(self, c: list[Any]) -> ast.This | ast.Path:
        first: object = c[0]
        if len(c) == 1 and isinstance(first, ast.This):
            return first
        # `this.Email`: a path that starts at the record an action runs for.
        segments = tuple(ast.Segment("this", None, s.span) if isinstance(s, ast.This) else s for s in c if not isinstance(s, Token))
        return ast.Path(segments, self._span(c))

    def segment(self, c: list[Any]) -> ast.Segment:
        name = c[0]
        called = len(c) > 1  # `name(…)`, with or without arguments
        args = tuple(x for x in c[1:] if not isinstance(x, Token)) if called else None
        return ast.Segment(str(name), args, self._span(c))

    def this(self, c: list[Any]) -> ast.This:
        return ast.This(self._span(c))
