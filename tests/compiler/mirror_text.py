"""The mirror image of a mapping's text: every sync written with its sides the other way round.

`sync A -> B { x -> y  match a = b  link p = q }` becomes `sync B <- A { y <- x  match b = a
link q = p }`, and a two-way `x <-> y with t1, map { "a" = "b" }` becomes `y <-> x with
map { "b" = "a" }, t1` (what the rule does right to left): the same mapping, so it must
compile to the same diagnostics and, pair by pair, to the mirror of the same plan. Everything
else (`where`, `only`, `deletes`, assignments, a rule's default and conflict, comments) stays
as written. The tree is mirrored, not the text, and printed by `fmt`: each node keeps its
span, so comments and blank lines stay where they were.
"""

from __future__ import annotations

from dataclasses import replace

from syncmap.compiler import ast
from syncmap.compiler.fmt import format_mapping
from syncmap.compiler.parser import parse

FLIP = {"->": "<-", "<-": "->", "<->": "<->"}


def _inverse(t: ast.Transform) -> ast.Transform:
    return replace(t, pairs=tuple(replace(p, key=p.value, value=p.key) for p in t.pairs)) if isinstance(t, ast.MapTransform) else t


def _statement(st: ast.Statement) -> ast.Statement:
    if isinstance(st, ast.FieldRule) and st.arrow == "<->":
        # A two-way rule's transforms run left to right as written and right to left backwards
        # (last first, value maps read from value to key): the mirror writes them the other way.
        return replace(st, left=st.right, right=st.left, transforms=tuple(_inverse(t) for t in reversed(st.transforms)))
    if isinstance(st, ast.FieldRule):
        return replace(st, left=st.right, right=st.left, arrow=FLIP[st.arrow])
    if isinstance(st, ast.Match):  # the shorthand `match person` has one side only: it stays
        return replace(st, keys=tuple(k if k.right is None else replace(k, left=k.right, right=k.left) for k in st.keys))
    if isinstance(st, ast.Link):
        return replace(st, left=st.right, right=st.left)
    return st


def _item(item: ast.Item) -> ast.Item:
    if not isinstance(item, ast.Sync):
        return item
    return replace(item, left=item.right, right=item.left, arrow=FLIP[item.arrow], statements=tuple(_statement(s) for s in item.statements))


def mirror_text(text: str, file: str = "<input>") -> str:
    """The mirrored mapping in `fmt`'s layout; a text that does not parse has no mirror."""
    mapping = parse(text, file).mapping
    if mapping is None:
        raise ValueError(f"{file} does not parse, so it has no mirror image")
    return format_mapping(replace(mapping, items=tuple(_item(i) for i in mapping.items)), text)
