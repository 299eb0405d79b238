"""The satisfiability check behind SM325, on conditions parsed from the language itself."""

from __future__ import annotations

import pytest

from syncmap.compiler import ast
from syncmap.compiler import satisfiable as sat
from syncmap.compiler.api import parse

VARS = {
    "done": sat.Var("done", "boolean"),
    "status": sat.Var("status", "enum", ("open", "won", "lost")),
    "count": sat.Var("count", "integer"),
    "title": sat.Var("title", "string"),
    "other": sat.Var("other", "string"),
}


def _condition(text: str) -> ast.Condition:
    result = parse(f"sync a.B -> c.D {{\n  where {text}\n}}\n", "t.syncmap")
    assert result.mapping is not None, result.diagnostics
    sync = result.mapping.items[0]
    return sync.statements[0].condition


def _term(value: ast.Value) -> sat.Term:
    if isinstance(value, ast.Literal):
        return sat.Const(value.value)
    if isinstance(value, ast.Path):
        name = value.dotted
        if name == "linked":
            return sat.Flag("linked")
        if name == "new":
            return sat.Negated(sat.Flag("linked"))
        return VARS.get(name)
    return None


def _sat(*conditions: str) -> bool:
    return sat.satisfiable([sat.formula(_condition(c), _term) for c in conditions])


@pytest.mark.parametrize(
    "conditions",
    [
        ("done and not done",),
        ("done", "done = false"),
        ("not done", "done = true"),
        ("done != true", "done = true"),
        ('status = "won"', 'status in ["open", "lost"]'),
        ('status != "open" and status != "won" and status != "lost"', "status != null"),
        ("count > 10", "count < 5"),
        ("count >= 10 and count <= 10", "count != 10"),
        ("title = null", "title != null"),
        ('title = "a"', 'title = "b"'),
        ("linked", "new"),
        ("other = title", "other != title"),
        ("(done or count > 3) and not done", "count < 2"),
    ],
)
def test_contradictions_are_found(conditions: tuple[str, ...]) -> None:
    assert not _sat(*conditions)


@pytest.mark.parametrize(
    "conditions",
    [
        ("done",),
        ("not done", "title != null"),
        ("done != false", "done = true"),
        ('status != "won"', "status != null"),
        ("count > 10", "count < 11"),
        ("count != 10", "count >= 10"),
        ('title != "a"', 'title != "b"', "title != null"),
        ('title > "m"', 'title < "c"'),  # orderings on text are not decided: never a false alarm
        ("new", "done"),
        ("other = title", "other != null"),
        ("done or not done",),
    ],
)
def test_conditions_that_can_hold_are_kept(conditions: tuple[str, ...]) -> None:
    assert _sat(*conditions)


def test_too_many_alternatives_are_taken_to_hold() -> None:
    wide = " and ".join(f'(count = {i} or title = "{i}")' for i in range(12))
    assert _sat(wide, "count = 99 and title = null")
