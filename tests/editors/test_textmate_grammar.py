"""The TextMate grammar (editors/vscode/syntaxes/syncmap.tmLanguage.json) run by a TextMate
tokenizer from PyPI (textmate-grammar-python, a port of VS Code's engine on Oniguruma) over the
shipped mappings and every tests/cases file.

The oracle is syncmap's own parser: every keyword, string, arrow and `system.Object` it finds
must carry the matching scope, every comment it collects must be a comment, and a keyword used
as a field name (`owner.name`) must not look like a keyword. Files that do not parse are still
tokenized, and every character must come back exactly once."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import pytest
from lark import Lark, Token, Tree

from syncmap.compiler.parser import parse
from syncmap.grammar import grammar_text

REPO = Path(__file__).resolve().parents[2]
GRAMMAR = REPO / "editors" / "vscode" / "syntaxes" / "syncmap.tmLanguage.json"
FILES = sorted([*(REPO / "mappings").glob("*.syncmap"), *(REPO / "tests" / "cases").rglob("*.syncmap")])

ARROW = "keyword.operator.arrow.syncmap"
STRING = "string.quoted.double.syncmap"
COMMENT = "comment.line.number-sign.syncmap"
SYSTEM = "entity.name.namespace.system.syncmap"
OBJECT = "entity.name.type.object.syncmap"
WORDS = {"true": "constant.language.", "false": "constant.language.", "null": "constant.language.", "today": "variable.language."}
WORDS |= {"now": "variable.language.", "this": "variable.language.", "and": "keyword.operator.logical.", "or": "keyword.operator.logical."}
WORDS |= {"not": "keyword.operator.logical.", "in": "keyword.operator.logical."}
LOOKS_SPECIAL = ("keyword.", "constant.language.", "variable.language.")

Scopes = tuple[str, ...]


@pytest.fixture(scope="session")
def tokenizer(tmp_path_factory: pytest.TempPathFactory) -> Any:
    # Importing the library makes a `.textmate_cache` folder in the working directory: not in
    # the checkout.
    with contextlib.chdir(tmp_path_factory.mktemp("textmate")):
        from textmate_grammar.parsers.base import LanguageParser
    logging.getLogger("textmate_grammar").setLevel(logging.ERROR)  # it logs every pattern it tries
    return LanguageParser(json.loads(GRAMMAR.read_text(encoding="utf-8")))


@lru_cache(maxsize=1)
def syntax_tree_parser() -> Lark:
    # The project's grammar without the AST builder, keeping every token (`and`, `or` included).
    return Lark(grammar_text(), parser="lalr", maybe_placeholders=False, keep_all_tokens=True)


def scopes_of(tokenizer: Any, text: str) -> list[list[Scopes]]:
    """The scope stack of every character, line by line (lines without their newline)."""
    lines = text.split("\n")
    out: list[list[Scopes]] = [[] for _ in lines]
    if not text:
        return out  # the tokenizer indexes past the end of an empty document
    for (line, column), piece, scopes in tokenizer.parse_string(text).flatten():
        assert column == len(out[line]), f"line {line + 1}: a token starts at column {column + 1}, after {len(out[line])} characters"
        out[line].extend([tuple(scopes)] * len(piece))
    return out


def is_keyword(token: Token) -> bool:
    return token.value.isalpha() and token.type == token.value.upper()


def expectations(tree: Tree) -> Iterator[tuple[Token, str]]:
    """(token, what it must look like) for the tokens the parser can vouch for."""
    path_names: set[int] = set()
    for sub in tree.iter_subtrees():
        if sub.data == "object_ref":
            system, obj = (c for c in sub.children if isinstance(c, Token) and c.type == "NAME")
            yield system, SYSTEM
            yield obj, OBJECT
        elif sub.data == "segment" and isinstance(sub.children[0], Token):
            path_names.add(id(sub.children[0]))
            yield sub.children[0], "plain"
    for token in tree.scan_values(lambda v: isinstance(v, Token)):
        if token.type == "STRING":
            yield token, STRING
        elif token.type == "ARROW":
            yield token, ARROW
        elif is_keyword(token) and id(token) not in path_names:
            yield token, WORDS.get(token.value, "keyword.")


# Keywords no shipped mapping or test case uses yet, in a mapping that parses.
EXTRA = """syncmap 1
sync pipedrive.Deal -> autopilot.Contact {
  match person
  where (status = "open" and value > 10) or not title in ["x", "y"]
  default expected_close_date = now
  title -> custom("Open Deal", string)
}
"""


def parsed(path: Path) -> bool:
    return parse(path.read_text(encoding="utf-8"), str(path)).mapping is not None


def texts() -> list[tuple[str, str]]:
    """(name, text) of every mapping that parses, and EXTRA."""
    return [(str(p.relative_to(REPO)), p.read_text(encoding="utf-8").removeprefix("\ufeff")) for p in FILES if parsed(p)] + [("EXTRA", EXTRA)]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_every_character_is_tokenized_once(tokenizer: Any, path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert [len(line) for line in scopes_of(tokenizer, text)] == [len(line) for line in text.split("\n")]


@pytest.mark.parametrize(("name", "text"), texts(), ids=[name for name, _ in texts()])
def test_scopes_agree_with_the_parser(tokenizer: Any, name: str, text: str) -> None:
    scopes = scopes_of(tokenizer, text)
    problems = []
    for token, want in expectations(syntax_tree_parser().parse(text)):
        for col in range(token.column - 1, token.end_column - 1):
            stack = scopes[token.line - 1][col]
            inner = stack[-1]
            ok = (
                not any(s.startswith(LOOKS_SPECIAL) for s in stack)
                if want == "plain"
                else (want in stack if want in (STRING,) else inner == want if want in (ARROW, SYSTEM, OBJECT) else inner.startswith(want))
            )
            if not ok:
                problems.append(f"{token.line}:{col + 1} {token.value!r} should be {want}, is {inner}")
                break
    mapping = parse(text, name).mapping
    assert mapping is not None
    for comment in mapping.comments:
        line = scopes[comment.line - 1]
        if not all(COMMENT in line[col] for col in range(comment.col - 1, comment.col - 1 + len(comment.text))):
            problems.append(f"{comment.line}:{comment.col} {comment.text!r} should be a comment")
    assert problems == []


def test_the_corpus_exercises_every_keyword_of_the_language() -> None:
    """So the test above has met each keyword at least once (a keyword no file uses would go unchecked)."""
    used = {t.value for _, text in texts() for t, _ in expectations(syntax_tree_parser().parse(text)) if is_keyword(t)}
    keywords = {t.pattern.value for t in syntax_tree_parser().terminals if t.pattern.type == "str" and t.pattern.value.isalpha()}
    assert keywords - used == set()


def test_a_sync_header_line_token_by_token(tokenizer: Any) -> None:
    text = 'sync pipedrive.Person <-> autopilot.Contact {  # the pair\n  owner.name -> owner_name\n  title = "{FirstName} x\\"y"\n}\n'
    tokens = [(piece, scopes[-1]) for _, piece, scopes in tokenizer.parse_string(text).flatten() if piece.strip()]
    assert tokens[:8] == [
        ("sync", "keyword.other.sync.syncmap"),
        ("pipedrive", SYSTEM),
        (".", "punctuation.accessor.syncmap"),
        ("Person", OBJECT),
        ("<->", ARROW),
        ("autopilot", SYSTEM),
        (".", "punctuation.accessor.syncmap"),
        ("Contact", OBJECT),
    ]
    assert ("#", "punctuation.definition.comment.syncmap") in tokens and (" the pair", COMMENT) in tokens
    assert ("FirstName", "variable.other.field.syncmap") in tokens
    assert ('\\"', "constant.character.escape.syncmap") in tokens
    assert not any(piece.strip() == "owner" and scope.startswith("keyword.") for piece, scope in tokens)
