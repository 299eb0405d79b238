"""What diagnostics print of a source: never a comment's words, never a megabyte line."""

from __future__ import annotations

from syncmap.compiler.diagnostics import ERROR, EXCERPT_WIDTH, Diagnostic, Span, render_human
from syncmap.compiler.parser import parse


def test_after_word_of_a_syntax_error_skips_comments() -> None:
    text = 'sync a.B -> c.D {\n  x -> Y # token=hunter2 secret\n  # another comment with "quotes"\n  -> Z\n}\n'
    (diag,) = parse(text, "m.syncmap").diagnostics
    assert "after `Y`" in diag.message
    assert "hunter2" not in diag.message and "secret" not in diag.message and "quotes" not in diag.message


def test_a_hash_inside_a_string_is_not_a_comment() -> None:
    text = 'sync a.B -> c.D {\n  x -> "a # b"\n  -> Z\n}\n'
    (diag,) = parse(text, "m.syncmap").diagnostics
    assert 'after `b"`' in diag.message


def test_a_very_long_line_is_shown_as_a_window_around_the_caret() -> None:
    line = "a" * 500_000 + "@" + "b" * 500_000
    col = 500_001
    diag = Diagnostic("SM001", ERROR, "unexpected character", Span("m.syncmap", 1, col, 1, col + 1))
    out = render_human([diag], {"m.syncmap": line})
    shown, caret = out.splitlines()[3], out.splitlines()[4]
    assert len(out) < 4 * EXCERPT_WIDTH
    # The caret still points at the character the diagnostic is about.
    assert shown[caret.index("^")] == "@"


def test_a_long_line_near_its_start_keeps_its_beginning() -> None:
    line = "@" + "b" * 10_000
    diag = Diagnostic("SM001", ERROR, "unexpected character", Span("m.syncmap", 1, 1, 1, 2))
    shown, caret = render_human([diag], {"m.syncmap": line}).splitlines()[3:5]
    assert shown.startswith("1 | @") and shown.endswith("…")
    assert shown[caret.index("^")] == "@"


def test_an_include_outside_the_folder_is_never_read_nor_printed(tmp_path) -> None:
    from syncmap.compiler.api import check
    from syncmap.compiler.diagnostics import RENDERERS

    secret = tmp_path / "secret.env"
    secret.write_text("TOKEN=hunter2-leaked\n")
    project = tmp_path / "project"
    project.mkdir()
    (project / "link.syncmap").symlink_to(secret)
    root = project / "m.syncmap"
    root.write_text(f'include "{secret}"\ninclude "../secret.env"\ninclude "link.syncmap"\n')
    read: list[str] = []

    def reader(path: str) -> str:
        read.append(path)
        return open(path, encoding="utf-8").read()

    result = check(str(root), reader)
    assert [d.code for d in result.diagnostics] == ["SM120", "SM120", "SM120"]
    assert read == [str(root)]
    for render in RENDERERS.values():
        assert "hunter2" not in render(result.diagnostics, result.sources.texts)


def test_a_non_utf8_include_gets_a_plain_reason(tmp_path) -> None:
    from syncmap.compiler.api import check

    (tmp_path / "bad.syncmap").write_bytes(b"# caf\xe9\n")
    root = tmp_path / "m.syncmap"
    root.write_text('include "bad.syncmap"\n')
    (diag,) = [d for d in check(str(root)).diagnostics if d.code == "SM101"]
    assert [label.message for label in diag.labels] == ["not UTF-8 text"]
