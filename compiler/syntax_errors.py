"""Lark's parse errors, said in the mapping's words.

Lark reports terminal names ("Expected one of: ARROW, EQUAL"); users should read "expected an
arrow (`<->`, `->` or `<-`) between `first_name` and `FirstName`". Each recognisable
situation has its own code: an unknown character, an unterminated string, an unclosed block,
a missing arrow, and the general unexpected token.
"""

from __future__ import annotations

from typing import cast

from lark import Lark
from lark.exceptions import UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken

from syncmap.compiler.codes import (
    SYNTAX_MISSING_ARROW,
    SYNTAX_UNCLOSED_BLOCK,
    SYNTAX_UNEXPECTED,
    SYNTAX_UNEXPECTED_CHARACTER,
    SYNTAX_UNEXPECTED_END,
    SYNTAX_UNTERMINATED_STRING,
)
from syncmap.compiler.diagnostics import ERROR, Diagnostic, Label, Span

# Terminals whose names say nothing to a user. Keyword and punctuation terminals are named
# from their literal text instead (see `_describe_terminal`).
_TERMINAL_WORDS = {
    "ARROW": "an arrow (`<->`, `->` or `<-`)",
    "NAME": "a name",
    "STRING": "a quoted string",
    "INT": "a whole number",
    "SIGNED_NUMBER": "a number",
    "COMPARE": "a comparison (`=`, `!=`, `<`, `>`)",
    "SHIFT": "`+` or `-` and a number",
    "_NL": "a new line",
    "$END": "the end of the file",
}

# Every terminal that can begin a value; when all of them are expected we say "a field name
# or a value" instead of listing them.
_VALUE_STARTS = {"NAME", "STRING", "SIGNED_NUMBER", "TRUE", "FALSE", "NULL", "TODAY", "NOW", "THIS", "LSQB"}

_BLOCK_WORDS = {"sync", "action", "connect", "include", "syncmap"}


def _describe_terminal(name: str, parser: Lark) -> str:
    if name in _TERMINAL_WORDS:
        return _TERMINAL_WORDS[name]
    try:
        pattern = parser.get_terminal(name).pattern
    except KeyError:
        return name.lower()
    if pattern.type == "str":
        return f"`{pattern.value}`"
    return name.lower()


def _describe_expected(expected: set[str], parser: Lark) -> str:
    names = set(expected)
    words: list[str] = []
    if _VALUE_STARTS & names and len(_VALUE_STARTS & names) >= 4:
        words.append("a field name or a value")
        names -= _VALUE_STARTS
    # Keywords allowed as field names clutter the list once "a name" is there.
    if "NAME" in expected:
        names = {n for n in names if not (_describe_terminal(n, parser).strip("`").isalpha() and n not in _TERMINAL_WORDS)}
    words.extend(sorted({_describe_terminal(n, parser) for n in names}))
    if not words:
        return "something else"
    if len(words) == 1:
        return words[0]
    return ", ".join(words[:-1]) + " or " + words[-1]


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    col = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, col


def _last_line_span(text: str, file: str) -> Span:
    """End-of-file errors point at the last line that has something on it (Lark says -1)."""
    lines = text.splitlines() or [""]
    index = len(lines) - 1
    while index > 0 and not lines[index].strip():
        index -= 1
    content = lines[index]
    start = len(content) - len(content.lstrip()) + 1
    return Span(file, index + 1, start, index + 1, max(start + 1, len(content) + 1))


def _open_braces(text: str) -> list[int]:
    """Offsets of `{` still open at the end of `text`, ignoring strings and comments."""
    stack: list[int] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "#":
            nl = text.find("\n", i)
            i = n if nl < 0 else nl
            continue
        if ch == '"':
            i += 1
            while i < n and text[i] not in '"\n':
                i += 2 if text[i] == "\\" else 1
        elif ch == "{":
            stack.append(i)
        elif ch == "}" and stack:
            stack.pop()
        i += 1
    return stack


def _code_part(line: str) -> str:
    """`line` without its comment: a `#` outside double quotes starts one."""
    quoted = escaped = False
    for i, ch in enumerate(line):
        if escaped:
            escaped = False
        elif ch == "\\" and quoted:
            escaped = True
        elif ch == '"':
            quoted = not quoted
        elif ch == "#" and not quoted:
            return line[:i]
    return line


def _previous_word(text: str, pos: int | None) -> str:
    """The last word of code before `pos`, never one from a comment."""
    lines = text[:pos].split("\n")
    before = ""
    for i in range(len(lines) - 1, -1, -1):
        before = _code_part(lines[i]).rstrip()
        if before:
            break
    for arrow in ("<->", "->", "<-"):
        if before.endswith(arrow):
            return arrow
    tail = before.split()[-1:] or [""]
    return tail[0][-30:]


def describe_syntax_error(exc: UnexpectedInput, text: str, file: str, parser: Lark) -> Diagnostic:
    # lark declares `pos_in_stream` as None; its lexer and parser set it to the offset of the
    # failure (None only for a token that carries no position)
    pos = cast("int | None", exc.pos_in_stream)
    if isinstance(exc, UnexpectedCharacters):
        assert pos is not None  # the lexer always knows where it stopped
        line, col = exc.line, exc.column
        char = text[pos] if 0 <= pos < len(text) else ""
        span = Span(file, line, col, line, col + 1)
        if char == '"':
            rest = text[pos:].split("\n", 1)[0]
            return Diagnostic(
                SYNTAX_UNTERMINATED_STRING,
                ERROR,
                "this string is never closed",
                Span(file, line, col, line, col + len(rest)),
                (Label(Span(file, line, col, line, col + len(rest)), 'needs a closing `"` on this line'),),
                help='strings end on the line they start on; add the closing `"`',
            )
        shown = repr(char)[1:-1] if char.isprintable() and char.strip() else f"U+{ord(char):04X}" if char else "?"
        return Diagnostic(
            SYNTAX_UNEXPECTED_CHARACTER,
            ERROR,
            f"unexpected character `{shown}`",
            span,
            (Label(span, "not part of the mapping language"),),
            help="names use letters, digits and `_`; text goes in double quotes; comments start with `#`",
        )

    token = getattr(exc, "token", None)
    at_end = isinstance(exc, UnexpectedEOF) or (token is not None and token.type == "$END")
    # `accepts` is exact; `expected` is the LALR table row, which can list tokens that would only
    # fail one reduction later.
    expected = set(getattr(exc, "accepts", None) or getattr(exc, "expected", None) or ())
    open_braces = _open_braces(text if at_end else text[: pos if pos is not None else len(text)])

    if at_end:
        span = _last_line_span(text, file)
        if open_braces:
            return _unclosed(text, file, open_braces[-1], span, "before the end of the file")
        return Diagnostic(
            SYNTAX_UNEXPECTED_END,
            ERROR,
            f"the file ends too early: expected {_describe_expected(expected, parser)}",
            span,
            (Label(span, "the file ends after this line"),),
            help="finish the statement on this line",
        )

    assert isinstance(exc, UnexpectedToken)
    assert token is not None
    line, col = token.line, token.column
    shown = str(token).strip() or _describe_terminal(token.type, parser)
    if token.type == "_NL":
        shown = "the end of the line"
        span = Span(file, line, col, line, col + 1)
    else:
        span = Span(file, line, col, token.end_line or line, token.end_column or col + len(shown))

    # Inside a block `action` lexes as a plain name, so recognise the words themselves: a line
    # that starts a new top-level block while a brace is open means the brace was never closed.
    line_start = text.rfind("\n", 0, pos) + 1
    first_word = (text[line_start:].split(None, 1) or [""])[0]
    still_open = _open_braces(text[:line_start])
    if still_open and first_word in _BLOCK_WORDS:
        indent = len(text[line_start:]) - len(text[line_start:].lstrip(" \t"))
        first_span = Span(file, line, indent + 1, line, indent + 1 + len(first_word))
        return _unclosed(text, file, still_open[-1], first_span, f"before `{first_word}`")

    if "ARROW" in expected and "EQUAL" in expected and token.type not in ("ARROW", "EQUAL"):
        left = _previous_word(text, pos)
        right = "the end of the line" if token.type == "_NL" else f"`{shown}`"
        return Diagnostic(
            SYNTAX_MISSING_ARROW,
            ERROR,
            f"expected an arrow between `{left}` and {right}",
            span,
            (Label(span, "an arrow goes before this"),),
            help="write `<->` to sync both ways, `->` or `<-` for one way, or `=` to set a value",
        )

    after = _previous_word(text, pos)
    context = f" after `{after}`" if after else ""
    return Diagnostic(
        SYNTAX_UNEXPECTED,
        ERROR,
        f"expected {_describe_expected(expected, parser)}{context}, found {'`' + shown + '`' if token.type != '_NL' else shown}",
        span,
        (Label(span, "unexpected here"),),
        help=None,
    )


def _unclosed(text: str, file: str, brace_pos: int, span: Span, where: str) -> Diagnostic:
    bline, bcol = _line_col(text, brace_pos)
    opener = Span(file, bline, bcol, bline, bcol + 1)
    return Diagnostic(
        SYNTAX_UNCLOSED_BLOCK,
        ERROR,
        f"the block opened on line {bline} is not closed {where}",
        span,
        (Label(span, "expected `}` here"), Label(opener, "block opened here")),
        help="add the closing `}`",
    )
