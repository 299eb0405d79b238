"""Property tests: nothing a user types makes the front end raise, and fmt is a fixpoint that
keeps the AST for generated mappings too."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncmap.compiler.api import format_text
from syncmap.compiler.parser import parse
from syncmap.compiler.semantic import analyse
from syncmap.compiler.structure import check_structure

ROOT = Path(__file__).resolve().parents[2]
SEEDS = [p.read_text() for p in sorted((ROOT / "mappings").glob("*.syncmap"))] + [
    p.read_text() for p in sorted((ROOT / "tests" / "cases").rglob("*.syncmap"))
]
ALPHABET = st.sampled_from(list('abcXYZ_019 \t\n{}()[]<->=,."#!+@é\\') + ["sync ", "->", "<->", "{\n", "}\n", "match ", 'env("X")', "today", "owner"])

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _front_end(text: str) -> None:
    result = parse(text, "fuzz.syncmap")
    if result.mapping is None:
        assert len(result.diagnostics) == 1 and result.diagnostics[0].code.startswith("SM0")
        d = result.diagnostics[0]
        assert d.span.line >= 1 and d.span.col >= 1
    else:
        check_structure([result.mapping])
        analyse([result.mapping])
        formatted, diagnostics = format_text(text)
        assert diagnostics == () and formatted is not None


@SETTINGS
@given(st.lists(ALPHABET, max_size=60).map("".join))
def test_random_text_yields_diagnostics_never_exceptions(text: str) -> None:
    _front_end(text)


@SETTINGS
@given(st.sampled_from(SEEDS), st.data())
def test_mutated_mappings_yield_diagnostics_never_exceptions(seed: str, data) -> None:
    text = seed
    for _ in range(data.draw(st.integers(1, 4))):
        pos = data.draw(st.integers(0, len(text)))
        op = data.draw(st.sampled_from(["delete", "insert", "replace"]))
        piece = data.draw(ALPHABET)
        if op == "delete":
            text = text[:pos] + text[pos + data.draw(st.integers(1, 5)) :]
        elif op == "insert":
            text = text[:pos] + piece + text[pos:]
        else:
            text = text[:pos] + piece + text[pos + len(piece) :]
    _front_end(text)


NAMES = st.sampled_from(["first_name", "last_name", "Email", "FirstName", "owner", "organization", "name", "Company", "done"])
PATHS = st.lists(NAMES, min_size=1, max_size=3).map(".".join)
VALUES = st.one_of(PATHS, st.sampled_from(['"x"', "42", "true", "null", "today + 3 days", '"{FirstName} x"']))
ARROWS = st.sampled_from(["<->", "->", "<-"])
COMMENT = st.sampled_from(["", "  # note", "  # another"])


@st.composite
def mappings(draw) -> str:
    lines = ["syncmap 1", ""]
    for i in range(draw(st.integers(1, 3))):
        lines.append(f"sync pipedrive.Obj{i} {draw(ARROWS)} autopilot.Contact {{")
        for _ in range(draw(st.integers(0, 6))):
            kind = draw(st.integers(0, 5))
            if kind == 0:
                lines.append(f"  match {draw(PATHS)}")
            elif kind == 1:
                lines.append(f"  where {draw(PATHS)} in [{draw(VALUES)}, {draw(VALUES)}]")
            elif kind == 2:
                lines.append("  # " + draw(NAMES))
            elif kind == 3:
                lines.append("")
            else:
                lines.append(f"  {draw(PATHS)} {draw(ARROWS)} {draw(PATHS)}{draw(COMMENT)}")
        lines.append("}")
    return "\n".join(lines) + "\n"


@SETTINGS
@given(mappings())
def test_fmt_is_a_fixpoint_that_keeps_the_ast(text: str) -> None:
    before = parse(text, "gen")
    assert before.mapping is not None, before.diagnostics
    once, _ = format_text(text, "gen")
    assert format_text(once, "gen")[0] == once
    after = parse(once, "gen").mapping
    assert after == before.mapping
    assert [c.text for c in after.comments] == [c.text for c in before.mapping.comments]
