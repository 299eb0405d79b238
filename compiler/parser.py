"""Text -> AST. The Lark parser is built once; the transformer only builds nodes.

`parse` never raises for a user's mistake: syntax errors come back as diagnostics whose
messages speak the mapping's language (see `syntax_errors`), never Lark's.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

from lark import Lark, Token, Tree
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


def _on_comment(token: Token) -> Token:
    _collector.comments.append(ast.Comment(str(token), token.line, token.column, own_line=False))
    return token


def _on_newline(token: Token) -> Token:
    # A newline token may hold whole-line comments: "\n  # note\n\n  # more".
    line = token.line
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
        propagate_positions=True,
        maybe_placeholders=False,
        lexer_callbacks={"COMMENT": _on_comment, "_NL": _on_newline},
        # Grammar analysis is most of a cold `syncmap check`; Lark caches it in the temp dir.
        cache=True,
    )


def parse(text: str, file: str = "<input>") -> ParseResult:
    """Parse one mapping file. Returns the AST, or None with diagnostics."""
    _collector.comments = []
    try:
        tree = lark_parser().parse(text)
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
    mapping = _ToAst(file).build(tree)
    return ParseResult(
        ast.Mapping(file=mapping.file, items=mapping.items, comments=tuple(sorted(set(fixed), key=lambda c: (c.line, c.col))), span=mapping.span),
        (),
    )


# ---------------------------------------------------------------- tree -> AST


def _unquote(raw: str) -> str:
    body = raw[1:-1]
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


class _ToAst:
    """Bottom-up: each rule's method gets the rule's position and its built children.

    A plain walk rather than lark.Transformer: the transformer's per-call wrappers were half of
    parse time on large mappings, and errors here are our bugs, so nothing needs unwrapping.
    """

    def __init__(self, file: str) -> None:
        self.file = file

    def build(self, node: Tree | Token):
        if isinstance(node, Token):
            return node
        return getattr(self, node.data)(node.meta, [self.build(child) for child in node.children])

    def _span(self, meta) -> Span:
        if getattr(meta, "empty", True):
            return ast.NO_SPAN
        return Span(self.file, meta.line, meta.column, meta.end_line, meta.end_column)

    def _tok_span(self, tok: Token) -> Span:
        return Span(self.file, tok.line, tok.column, tok.end_line, tok.end_column)

    # -- file
    def start(self, meta, items):
        return ast.Mapping(self.file, tuple(items), span=self._span(meta))

    def version(self, meta, c):
        return ast.Version(int(c[0]), self._span(meta))

    def include(self, meta, c):
        return ast.Include(_unquote(c[0]), self._span(meta))

    def connect(self, meta, c):
        return ast.Connect(str(c[0]), tuple(c[1:]), self._span(meta))

    def setting(self, meta, c):
        return ast.Setting(str(c[0]), c[1], self._span(meta))

    # -- sync
    def sync(self, meta, c):
        return ast.Sync(c[0], str(c[1]), c[2], tuple(c[3:]), self._span(meta))

    def object_ref(self, meta, c):
        return ast.ObjectRef(str(c[0]), str(c[1]), self._span(meta))

    def match(self, meta, c):
        return ast.Match(tuple(c), self._span(meta))

    def match_key(self, meta, c):
        return ast.MatchKey(c[0], c[1] if len(c) > 1 else None, self._span(meta))

    def link(self, meta, c):
        return ast.Link(c[0], c[1], self._span(meta))

    def only(self, meta, c):
        return ast.Only(c[0], str(c[2]), self._span(meta))

    def deletes_flow(self, meta, c):
        return ast.Deletes(str(c[0]), str(c[1]), str(c[2]), self._span(meta))

    def deletes_word(self, meta, c):
        return ast.Deletes(str(c[0]), None, None, self._span(meta))

    def owner(self, meta, c):
        return ast.OwnerDefault(c[0], self._span(meta))

    def empty(self, meta, c):
        return ast.Empty(str(c[0]), self._span(meta))

    def conflict_policy(self, meta, c):
        return ast.ConflictPolicy(tuple(str(t) for t in c), self._span(meta))

    def conflict(self, meta, c):
        return ast.Conflict(c[0], self._span(meta))

    def where(self, meta, c):
        return ast.Where(c[0], self._span(meta))

    def assign(self, meta, c):
        is_default = isinstance(c[0], Token) and c[0].type == "DEFAULT"
        rest = c[1:] if is_default else c
        return ast.Assign(rest[0], rest[1], is_default, self._span(meta))

    def rule(self, meta, c):
        left, arrow, right, *options = c
        transforms: tuple = ()
        default = conflict = None
        for option in options:
            if isinstance(option, tuple):
                transforms = transforms + option
            elif isinstance(option, ast.ConflictPolicy):
                conflict = option
            else:
                default = option[1] if isinstance(option, list) else option
        return ast.FieldRule(left, str(arrow), right, transforms, default, conflict, self._span(meta), self._tok_span(arrow))

    def with_clause(self, meta, c):
        return tuple(c)

    def default_clause(self, meta, c):
        return ["default", c[1]]

    def named_transform(self, meta, c):
        return ast.NamedTransform(str(c[0]), tuple(c[1:]), self._span(meta))

    def map_transform(self, meta, c):
        return ast.MapTransform(tuple(c), self._span(meta))

    def map_pair(self, meta, c):
        return ast.MapPair(c[0], c[1], self._span(meta))

    # -- actions
    def action(self, meta, c):
        name_tok = c[0]
        return ast.Action(_unquote(name_tok), c[1], tuple(c[2:]), self._span(meta), self._tok_span(name_tok))

    def verb(self, meta, c):
        return str(c[0])

    def step(self, meta, c):
        verb, target, *rest = c
        where = None
        if rest and not isinstance(rest[0], ast.Assign):
            where, rest = rest[0], rest[1:]
        return ast.Step(verb, target, where, tuple(rest), self._span(meta))

    # -- conditions
    def or_(self, meta, c):
        return c[0] if len(c) == 1 else ast.BoolOp("or", tuple(c), self._span(meta))

    def and_(self, meta, c):
        return c[0] if len(c) == 1 else ast.BoolOp("and", tuple(c), self._span(meta))

    def not_(self, meta, c):
        return ast.Not(c[0], self._span(meta))

    def compare(self, meta, c):
        op = str(c[1])
        return ast.Compare(c[0], "==" if op == "=" else op, c[2], self._span(meta))

    def in_list(self, meta, c):
        return ast.InList(c[0], c[1], self._span(meta))

    def truthy(self, meta, c):
        return ast.Truthy(c[0], self._span(meta))

    # -- values
    def date_shift(self, meta, c):
        base, shift, unit = c
        text = str(shift).replace(" ", "").replace("\t", "")
        return ast.DateShift(base, text[0], int(text[1:]), str(unit), self._span(meta), self._tok_span(unit))

    def today(self, meta, c):
        return ast.Clock("today", self._span(meta))

    def now(self, meta, c):
        return ast.Clock("now", self._span(meta))

    def literal(self, meta, c):
        tok = c[0]
        raw = str(tok)
        if tok.type == "STRING":
            return ast.Literal(_unquote(raw), "string", raw, self._span(meta))
        if tok.type == "SIGNED_NUMBER":
            number = float(raw) if "." in raw else int(raw)
            return ast.Literal(number, "number", raw, self._span(meta))
        if tok.type in ("TRUE", "FALSE"):
            return ast.Literal(tok.type == "TRUE", "boolean", raw, self._span(meta))
        return ast.Literal(None, "null", raw, self._span(meta))

    def list_value(self, meta, c):
        return ast.ListValue(tuple(c), self._span(meta))

    def path(self, meta, c):
        if len(c) == 1 and isinstance(c[0], ast.This):
            return c[0]
        # `this.Email`: a path that starts at the record an action runs for.
        segments = tuple(ast.Segment("this", None, s.span) if isinstance(s, ast.This) else s for s in c)
        return ast.Path(segments, self._span(meta))

    def segment(self, meta, c):
        name = c[0]
        args = tuple(c[1:]) if len(c) > 1 else None
        # `custom()` (a call with no arguments) keeps args == () through the parenthesis check:
        if args is None and meta.end_column - meta.column > len(str(name)) and meta.end_line == meta.line:
            args = ()
        return ast.Segment(str(name), args, self._span(meta))

    def this(self, meta, c):
        return ast.This(self._span(meta))
