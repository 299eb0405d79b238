"""fmt on messy input: every shipped mapping and valid case, re-laid out the way people and
editors really write (tabs, odd indentation, spaces around arrows, comments and blank lines
between rules, whitespace-only lines, trailing whitespace, CRLF), formats to a fixpoint with
the same AST and the same comments. The other fmt tests start from canonical text, where a
formatter that is not idempotent on its own output can still pass."""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncmap.compiler.api import format_text
from syncmap.compiler.parser import parse

ROOT = Path(__file__).resolve().parents[2]
SOURCES = sorted((ROOT / "mappings").glob("*.syncmap")) + sorted((ROOT / "tests" / "cases" / "valid").rglob("*.syncmap"))
TEXTS = {p.name: p.read_text(encoding="utf-8") for p in SOURCES}

INDENTS = st.sampled_from(["", " ", "  ", "   ", "\t", "\t\t", " \t", "        "])
TRAILING = st.sampled_from(["", " ", "\t", "   "])
BETWEEN = st.sampled_from(["", "", "", "\n", "# a note between rules\n", "\t# tabbed note\n", "   \n", "\n\n"])
ARROW_SPACING = st.sampled_from(["{}", " {} ", "  {}\t", "\t{} ", "{}  "])
ENDINGS = st.sampled_from(["\n", "\r\n"])
ARROW = re.compile(r"\s*(<->|->|<-|!=|=)\s*")


@st.composite
def messy(draw) -> tuple[str, str]:
    name = draw(st.sampled_from(sorted(TEXTS)))
    ending = draw(ENDINGS)
    out = []
    for line in TEXTS[name].splitlines():
        out.append(draw(BETWEEN).replace("\n", ending))
        body = line.strip()
        # Re-space arrows and `=` only where no string or comment could be touched.
        if body and '"' not in body and "#" not in body:
            spacing = draw(ARROW_SPACING)
            body = ARROW.sub(lambda m, spacing=spacing: spacing.format(m.group(1)), body)
        out.append(draw(INDENTS) + body + draw(TRAILING) + ending)
    return name, "".join(out)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(messy())
def test_fmt_of_messy_layouts_is_a_fixpoint_that_keeps_the_ast_and_comments(case: tuple[str, str]) -> None:
    name, text = case
    before = parse(text, name)
    assert before.mapping is not None, before.diagnostics
    once, diagnostics = format_text(text, name)
    assert diagnostics == () and once is not None
    assert "\r" not in once and "\t" not in once.replace("\\t", "")
    assert format_text(once, name)[0] == once
    after = parse(once, name).mapping
    assert after == before.mapping
    assert [c.text.rstrip() for c in after.comments] == [c.text.rstrip() for c in before.mapping.comments]


def test_a_messy_mapping_formats_to_its_canonical_text() -> None:
    """One hand-made example: the canonical file is exactly what fmt makes of its messy copy."""
    canonical = TEXTS["include-connections.syncmap"]
    messy_copy = (
        "syncmap\t1\r\n"
        "\r\n"
        '   include "_includes/connections.syncmap"   \r\n'
        "\r\n"
        "sync pipedrive.Person->autopilot.Contact {\r\n"
        "\tmatch email.primary=Email\r\n"
        "  \r\n"
        "      first_name   ->\tFirstName\r\n"
        "\t\tlast_name->LastName\r\n"
        "}\r\n"
    )
    assert format_text(messy_copy, "include-connections.syncmap")[0] == canonical
