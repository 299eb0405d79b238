"""Whether conditions can hold together: a small satisfiability check over the condition
language (`where`, `only`, and the filters a catalog applies on its own).

Conditions become formulas over tests on one field each (`done`, `status = "won"`,
`expected_close_date != null`, `Status in [...]`) and over flags the check does not look
inside (list membership, `linked`, a field compared with another field or with a date).
The formulas are expanded into alternatives (disjunctive normal form); an alternative holds
when every flag keeps one polarity and every field has some value passing all its tests. The
values tried per field are few: null, each constant the tests mention and its neighbours,
one value equal to none of them, and for enums and booleans exactly their values. A test that
cannot be decided on a value (an ordering on text, a comparison with `today`) is taken to pass
both ways, so the check only ever reports a contradiction that is certain.

Pure: callers say what each value in a condition is through `term`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, TypeGuard

from syncmap.compiler import ast

# Alternatives beyond this are not expanded: the conditions are then taken to be satisfiable.
MAX_ALTERNATIVES = 512

_OTHER = object()  # a non-null value equal to no constant the tests mention


@dataclass(frozen=True)
class Var:
    """A field, as the tests see it: `values` lists an enum's or a boolean's possible values."""

    key: Hashable
    type: str | None = None
    values: tuple[object, ...] = ()


@dataclass(frozen=True)
class Const:
    value: object


@dataclass(frozen=True)
class Flag:
    """A test the check does not look inside: only `x` against `not x` can contradict."""

    key: Hashable


@dataclass(frozen=True)
class Negated:
    """The opposite of a flag (`new` is `not linked`)."""

    flag: Flag


Term = Var | Const | Flag | Negated | None  # None: something that is neither (a date, `this`)


@dataclass(frozen=True)
class Test:
    var: Var
    holds: Callable[[object], bool | None]  # None: depends on what is not modelled
    constants: tuple[object, ...] = ()


Atom = Test | Flag | Negated | bool  # a bool: a test already decided
# A formula: ("and", [formulas]) | ("or", [formulas]) | ("lit", Atom, positive). Spelt as any
# tuple: mypy cannot narrow a union of tuples on their first item.
Formula = tuple[Any, ...]
# One literal of an alternative: negations are folded into `positive`, so never a Negated.
Lit = tuple[Test | Flag | bool, bool]


def formula(cond: ast.Condition, term: Callable[[ast.Value], Term]) -> Formula:
    """The formula of one condition, in negation normal form."""
    return _build(cond, term, True)


def equals(var: Var, value: object) -> Formula:
    return ("lit", _compare(var, "==", value), True)


def present(var: Var) -> Formula:
    return ("lit", _compare(var, "!=", None), True)


def satisfiable(formulas: list[Formula]) -> bool:
    alternatives = _dnf(("and", formulas))
    if alternatives is None:
        return True
    return any(_consistent(lits) for lits in alternatives)


# ------------------------------------------------------------------ building


def _build(cond: ast.Condition, term: Callable[[ast.Value], Term], positive: bool) -> Formula:
    if isinstance(cond, ast.Not):
        return _build(cond.operand, term, not positive)
    if isinstance(cond, ast.BoolOp):
        op = cond.op if positive else {"and": "or", "or": "and"}[cond.op]
        return (op, [_build(o, term, positive) for o in cond.operands])
    return ("lit", _atom(cond, term), positive)


def _atom(cond: ast.Condition, term: Callable[[ast.Value], Term]) -> Atom:
    if isinstance(cond, ast.Truthy):
        t = term(cond.value)
        if isinstance(t, Var):
            return Test(t, _truthy)
        if isinstance(t, Const):
            return _truthy(t.value) is True
        return t if isinstance(t, (Flag, Negated)) else Flag(("unknown", id(cond)))
    if isinstance(cond, ast.InList):
        t = term(cond.value)
        items = [term(i) for i in cond.options.items]
        if not isinstance(t, Var):
            return Flag(("unknown", id(cond)))
        consts = tuple(i.value for i in items if isinstance(i, Const))
        closed = all(isinstance(i, Const) for i in items)
        return Test(t, lambda v: True if any(_same(v, c) for c in consts) else (False if closed else None), consts)
    assert isinstance(cond, ast.Compare)
    left, right, op = term(cond.left), term(cond.right), cond.op
    if isinstance(right, Var) and not isinstance(left, Var):
        left, right, op = right, left, _FLIPPED[op]
    if not isinstance(left, Var):
        return Flag(("unknown", id(cond)))
    if isinstance(right, Const):
        return _compare(left, op, right.value)
    if isinstance(right, Var):
        # Two fields: only `a = b` against `a != b` is decided.
        pair = tuple(sorted((repr(left.key), repr(right.key))))
        if op == "!=":
            return Negated(Flag(("same", pair)))
        return Flag(("same", pair)) if op == "==" else Flag(("cmp", pair, op, id(cond)))
    # A date, `today`, `this`: any comparison but `!=` needs a value.
    return Test(left, lambda v: None if v is not None or op == "!=" else False)


_FLIPPED = {"==": "==", "!=": "!=", "<": ">", ">": "<", "<=": ">=", ">=": "<="}


def _compare(var: Var, op: str, value: object) -> Test:
    def holds(v: object) -> bool | None:
        if op == "==":
            return _same(v, value)
        if op == "!=":
            if value is None:
                return v is not None
            return None if v is None else not _same(v, value)  # null against a value: unsettled
        if v is None or value is None:
            return False
        if v is _OTHER or not (_number(v) and _number(value)):
            return None
        return {"<": v < value, "<=": v <= value, ">": v > value, ">=": v >= value}[op]

    return Test(var, holds, (value,))


def _number(v: object) -> TypeGuard[int | float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _same(a: object, b: object) -> bool:
    if a is _OTHER or b is _OTHER:
        return False
    if _number(a) and _number(b):
        return a == b
    return type(a) is type(b) and a == b


def _truthy(v: object) -> bool:
    if v is _OTHER:
        return True
    return v is not None and v is not False and v != "" and v != 0


# ------------------------------------------------------------------ deciding


def _dnf(f: Formula) -> list[list[Lit]] | None:
    """Alternatives, each a list of (atom, positive); None when there would be too many."""
    kind = f[0]
    if kind == "lit":
        atom, positive = f[1], f[2]
        if isinstance(atom, Negated):
            atom, positive = atom.flag, not positive
        return [[(atom, positive)]]
    parts = []
    for g in f[1]:
        alternatives = _dnf(g)
        if alternatives is None:
            return None
        parts.append(alternatives)
    if kind == "or":
        out = [alt for p in parts for alt in p]
        return out if len(out) <= MAX_ALTERNATIVES else None
    product: list[list[Lit]] = [[]]
    for p in parts:
        product = [a + b for a in product for b in p]
        if len(product) > MAX_ALTERNATIVES:
            return None
    return product


def _consistent(lits: list[Lit]) -> bool:
    flags: dict[Hashable, bool] = {}
    tests: dict[Hashable, list[tuple[Test, bool]]] = {}
    for atom, positive in lits:
        if isinstance(atom, bool):
            if atom != positive:
                return False
        elif isinstance(atom, Flag):
            if flags.setdefault(atom.key, positive) != positive:
                return False
        else:
            tests.setdefault(atom.var.key, []).append((atom, positive))
    for group in tests.values():
        var = group[0][0].var
        if not any(all(t.holds(v) in (positive, None) for t, positive in group) for v in _candidates(var, group)):
            return False
    return True


def _candidates(var: Var, group: list[tuple[Test, bool]]) -> list[object]:
    mentioned = [c for t, _ in group for c in t.constants]
    if var.values:
        # A constant outside the enum is SM317's to report, not a contradiction here.
        return [None, *var.values, *mentioned]
    if var.type == "boolean":
        return [None, True, False]
    # Numbers are covered by the constants and their neighbours (every interval between them);
    # any other type also gets one value equal to no constant, on which orderings are unknown.
    values: list[object] = [None, 0, 1] if var.type in ("integer", "number") else [None, _OTHER]
    for c in mentioned:
        values.append(c)
        if _number(c):
            values += [c - 1, c - 0.5, c + 0.5, c + 1]
    return values
