"""The syncmap grammar: `syncmap.lark` is the one source of truth for the language's syntax."""

from importlib import resources

GRAMMAR_FILE = "syncmap.lark"


def grammar_text() -> str:
    """The grammar as shipped inside the package."""
    return resources.files(__name__).joinpath(GRAMMAR_FILE).read_text(encoding="utf-8")
