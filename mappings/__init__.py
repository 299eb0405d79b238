"""Mappings shipped with syncmap, readable through `importlib.resources`."""

from importlib import resources


def shipped() -> dict[str, str]:
    """File name -> text of every shipped mapping."""
    root = resources.files(__name__)
    return {
        entry.name: entry.read_text(encoding="utf-8") for entry in sorted(root.iterdir(), key=lambda e: e.name) if entry.name.endswith(".syncmap")
    }
