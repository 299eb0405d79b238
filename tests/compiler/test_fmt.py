"""fmt: one canonical layout, comments kept, idempotent, meaning preserved."""

from __future__ import annotations

from pathlib import Path

import pytest

from syncmap.compiler.api import format_text
from syncmap.compiler.parser import parse

ROOT = Path(__file__).resolve().parents[2]
ALL_MAPPINGS = sorted((ROOT / "mappings").glob("*.syncmap")) + sorted((ROOT / "tests" / "cases").rglob("*.syncmap"))
PARSEABLE = [p for p in ALL_MAPPINGS if parse(p.read_text(), str(p)).mapping is not None]

MESSY = """# header comment
syncmap   1
connect pipedrive {   token = env("PIPEDRIVE_API_TOKEN")   base_url = env("PIPEDRIVE_BASE_URL") }
sync pipedrive.Person<->autopilot.Contact{
    match email.primary=Email
        first_name<->FirstName   # names
    organization.name->Company


  # owners
  owner.name ->owner_name
}
"""

CANONICAL = """# header comment
syncmap 1

connect pipedrive {
  token = env("PIPEDRIVE_API_TOKEN")
  base_url = env("PIPEDRIVE_BASE_URL")
}

sync pipedrive.Person <-> autopilot.Contact {
  match email.primary = Email
  first_name        <-> FirstName  # names
  organization.name  -> Company

  # owners
  owner.name -> owner_name
}
"""


def test_messy_input_gets_the_canonical_layout() -> None:
    formatted, diagnostics = format_text(MESSY)
    assert diagnostics == ()
    assert formatted == CANONICAL


@pytest.mark.parametrize("path", PARSEABLE, ids=lambda p: p.name)
def test_fmt_is_idempotent_and_preserves_meaning_and_comments(path: Path) -> None:
    text = path.read_text()
    once, _ = format_text(text, str(path))
    twice, _ = format_text(once, str(path))
    assert twice == once
    before, after = parse(text, str(path)).mapping, parse(once, str(path)).mapping
    assert after == before  # spans and comments are excluded from equality
    assert sorted(c.text for c in after.comments) == sorted(c.text for c in before.comments)


def test_shipped_mappings_are_already_formatted() -> None:
    for path in (ROOT / "mappings").glob("*.syncmap"):
        assert format_text(path.read_text(), str(path))[0] == path.read_text(), path.name


def test_fmt_refuses_a_broken_file_with_diagnostics() -> None:
    formatted, diagnostics = format_text("sync a.B <-> {", "broken")
    assert formatted is None and diagnostics[0].code.startswith("SM0")


def test_comments_inside_a_multi_line_value_map_move_before_its_rule_and_stay_there() -> None:
    source = """sync pipedrive.Deal -> autopilot.Contact {
  status -> custom("Deal Status", string) with map {
    # open deals
    "open" = "Open"
    "won" = "Customer"  # paying
  }
  title -> custom("Open Deal", string)
}
"""
    once, _ = format_text(source)
    assert (
        once
        == """sync pipedrive.Deal -> autopilot.Contact {
  # open deals
  status -> custom("Deal Status", string) with map { "open" = "Open", "won" = "Customer" }  # paying
  title  -> custom("Open Deal", string)
}
"""
    )
    assert format_text(once)[0] == once
