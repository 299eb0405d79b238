"""The parser builds the AST with spans, keeps comments, and never raises for user mistakes."""

from __future__ import annotations

from syncmap.compiler import ast
from syncmap.compiler.codes import SYNTAX_MISSING_ARROW, SYNTAX_UNEXPECTED, SYNTAX_UNEXPECTED_END
from syncmap.compiler.parser import parse

TEXT = """syncmap 1
sync pipedrive.Person <-> autopilot.Contact {
  match email.primary = Email   # dedupe
  owner.name -> owner_name
  custom("Lead score") <-> custom("Lead Score", integer) with trim default 0 conflict pipedrive wins
  expected_close_date <- today + 30 days
}
"""


def test_sync_block_becomes_typed_nodes_with_spans() -> None:
    result = parse(TEXT, "m.syncmap")
    assert result.diagnostics == ()
    version, sync = result.mapping.items
    assert version == ast.Version(1)
    assert isinstance(sync, ast.Sync)
    assert (str(sync.left), sync.arrow, str(sync.right)) == ("pipedrive.Person", "<->", "autopilot.Contact")
    assert (sync.span.line, sync.span.col, sync.span.end_line) == (2, 1, 7)
    match, owner_rule, custom_rule, date_rule = sync.statements
    assert match.keys[0].left.dotted == "email.primary" and match.keys[0].right.dotted == "Email"
    # `owner` is a keyword for `owner default`, and still a field name in a path.
    assert owner_rule.left.dotted == "owner.name" and owner_rule.arrow == "->"
    assert (owner_rule.span.line, owner_rule.span.col) == (4, 3)
    assert custom_rule.left.segments[0] == ast.Segment("custom", (ast.Literal("Lead score", "string", '"Lead score"'),))
    assert custom_rule.right.segments[0].args[1] == ast.Path((ast.Segment("integer"),))
    assert custom_rule.transforms == (ast.NamedTransform("trim"),)
    assert custom_rule.default == ast.Literal(0, "number", "0")
    assert custom_rule.conflict.words == ("pipedrive", "wins")
    assert date_rule.right == ast.DateShift(ast.Clock("today"), "+", 30, "days")
    assert (custom_rule.arrow_span.line, custom_rule.arrow_span.col) == (5, 24)


def test_comments_are_collected_with_their_position() -> None:
    result = parse("# top\nsyncmap 1 # trailing\n\n  # indented\n", "c")
    assert [(c.text, c.line, c.col, c.own_line) for c in result.mapping.comments] == [
        ("# top", 1, 1, True),
        ("# trailing", 2, 11, False),
        ("# indented", 4, 3, True),
    ]


def test_action_steps_with_where_and_verbs() -> None:
    result = parse(
        'action "X" on autopilot.Contact {\n  update pipedrive.Deal where person = this { stage = "N" }\n  upsert pipedrive.Person {\n  }\n}\n'
    )
    action = result.mapping.items[0]
    update, upsert = action.steps
    assert update.verb == "update" and update.where == ast.Compare(ast.Path((ast.Segment("person"),)), "==", ast.This())
    assert upsert.verb == "upsert" and upsert.assigns == ()


def test_keywords_are_not_prefix_matched() -> None:
    result = parse("sync a.B -> c.D {\n  owner_name -> defaults\n  matched -> linked\n}\n")
    rules = result.mapping.items[0].statements
    assert [r.left.dotted for r in rules] == ["owner_name", "matched"]


def test_syntax_errors_speak_the_language_not_lark() -> None:
    for text in ["sync a.B <-> c.D {\n  x y\n}\n", "sync a.B <-> c.D {\n  x <->\n}\n", "sync a.B <->", "connect x {\n a = \n}\n"]:
        (diag,) = parse(text, "f").diagnostics
        assert diag.code in {SYNTAX_MISSING_ARROW, SYNTAX_UNEXPECTED, SYNTAX_UNEXPECTED_END}
        for lark_word in ("Token", "ARROW", "_NL", "$END", "LBRACE", "Expected one of"):
            assert lark_word not in diag.message


def test_missing_field_after_arrow_says_so() -> None:
    (diag,) = parse("sync a.B <-> c.D {\n  first_name <->\n}\n", "f").diagnostics
    assert diag.message == "expected a field name or a value after `<->`, found the end of the line"
    assert (diag.span.line, diag.span.col) == (2, 17)


def test_end_of_file_errors_point_at_the_last_line() -> None:
    (diag,) = parse("sync a.B <-> c.D {\n  x -> y\n\n\n", "f").diagnostics
    # the last line with text, `x -> y`, not the blank lines after it
    assert (diag.code, diag.span.line, diag.span.col, diag.span.end_line, diag.span.end_col) == ("SM003", 2, 3, 2, 9)
