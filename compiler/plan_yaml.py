"""The plan as YAML, laid out for a reviewer, in a fraction of ruamel.yaml's time.

ruamel.yaml's pure-Python emitter spent over a minute on the 10 MB plan of a 10,000-line
mapping. The layout of a plan is simple, so this module writes it itself: block mappings and
sequences, `{}`/`[]` when empty, and every mapping or list whose flow form (`{a: 1, b: [x, y]}`)
fits on its line within the given width on that one line, so a reviewer reads one catalog entry
or small operation per line. A list of mappings stays one item per line, so that adding an item
adds lines instead of rewriting one.

Scalars: a word or name with nothing YAML treats specially is written plain; every other string
is double-quoted with JSON's escapes (which are YAML's too); the odd float is spelled by ruamel.
The tests load the output back with ruamel and PyYAML and compare.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable
from typing import Any

# Plain in YAML 1.1 and 1.2, in block and (without a comma) in flow context: a word of letters,
# digits, `_` and `.` starting with a letter, unless it is one of _WORDS; the plan's spans
# (`file:+1:2-+3:4`, the file name may also start with `_` or `.`) and digests; and names such as
# `pipedrive.Person.custom("Lead score")`, which have no character YAML treats specially inside
# a scalar, nor a space at either end.
_PLAIN = re.compile(
    r"[A-Za-z][A-Za-z0-9_.]{0,99}"
    r"|[A-Za-z_.][A-Za-z0-9_./-]{0,80}:[+-]?[0-9]{1,9}:[0-9]{1,9}-(?:\+?[0-9]{1,9}:)?[0-9]{1,9}"
    r"|sha256:[0-9a-f]{64}"
    r'|[A-Za-z][A-Za-z0-9_.()",<> -]{0,98}[A-Za-z0-9_.()"]'
)
_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n"}
_FLOW_INDICATORS = frozenset(",[]{}")
_LONGEST_KEY = 1000  # YAML limits a `key: value` key to 1024 characters
# What YAML lets a double-quoted scalar hold unescaped (printable, and not a line break in
# YAML 1.1 either); everything else is written as a \\uXXXX escape.
_UNPRINTABLE = re.compile("[^\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]")


def _plain(value: Any) -> str | None:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if type(value) is str and _PLAIN.fullmatch(value) and value.lower() not in _WORDS:
        return value
    return None


def _quoted(value: str) -> str:
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(value, ensure_ascii=False))


def _ruamel_spelling(value: Any) -> str:
    from ruamel.yaml import YAML

    out = io.StringIO()
    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    yaml.dump([value], out)
    return out.getvalue().removeprefix("- ").rstrip("\n")


def _flow_safe(spelled: str, value: Any) -> str:
    """`spelled` (a block-context spelling) as it may stand inside `{…}` or `[…]`."""
    if not isinstance(value, str) or spelled[:1] == '"' or not _FLOW_INDICATORS.intersection(spelled):
        return spelled
    return _quoted(value)


def dump(data: dict[str, Any], width: int) -> str:
    """`data` as YAML: block style, and flow style wherever it fits in `width` columns."""
    strings: dict[str, str] = {}
    others: dict[tuple[type, Any], str] = {}  # by type and value: True == 1, yet they are spelled differently

    def spell(v: Any) -> str:
        if type(v) is str:
            text = strings.get(v)
            if text is None:
                text = strings[v] = _plain(v) or _quoted(v)
            return text
        key = (type(v), v)
        text = others.get(key)
        if text is None:
            text = others[key] = _plain(v) or _ruamel_spelling(v)
        return text

    return Layout(spell, width).text(data)


class Layout:
    """Block mappings and sequences, `{}`/`[]` when empty, flow where it fits, scalars as
    `spell` writes them. plan_json lays out JSON with the same decisions."""

    def __init__(self, spell: Callable[[Any], str], flow_width: int) -> None:
        self.spell, self.flow_width = spell, flow_width
        self.out: list[str] = []
        self.flow_cache: dict[tuple[type, Any], str] = {}
        self.flow_strings: dict[str, str] = {}
        self.flow_nodes: dict[int, str | None] = {}  # id of a mapping or list -> its flow form

    def text(self, data: dict[str, Any]) -> str:
        self.mapping(data, 0, "")
        return "\n".join(self.out) + "\n"

    def inline(self, lead: str, v: Any) -> str | None:
        """`v` on the line that starts with `lead` (a scalar, `{}`, `[]` or what fits in flow
        style), or None when it needs lines of its own."""
        if type(v) is str:
            return self.spell(v)
        if isinstance(v, dict):
            if not v:
                return "{}"
        elif isinstance(v, list):
            if not v:
                return "[]"
            if any(isinstance(x, dict) for x in v):
                return None  # a list of mappings stays a list of lines, so one more item is one more line
        else:
            return self.spell(v)
        text = self.flow_text(v)
        return text if text is not None and len(lead) + len(text) <= self.flow_width else None

    def flow_scalar(self, v: Any) -> str:
        """A scalar as it may stand inside `{…}` or `[…]`."""
        if type(v) is str:  # most scalars, keyed by the string alone
            text = self.flow_strings.get(v)
            if text is None:
                text = self.flow_strings[v] = self.flow_safe(self.spell(v), v)
            return text
        key = (type(v), v)
        text = self.flow_cache.get(key)
        if text is None:
            text = self.flow_cache[key] = self.flow_safe(self.spell(v), v)
        return text

    def flow_safe(self, spelled: str, v: Any) -> str:
        return _flow_safe(spelled, v)

    def flow_text(self, v: dict[Any, Any] | list[Any]) -> str | None:
        """A mapping or list in flow style, or None when that is longer than flow_width;
        worked out once per node, as a mapping too long for one line is tried before each of
        its values."""
        if id(v) in self.flow_nodes:
            return self.flow_nodes[id(v)]
        width = self.flow_width
        is_dict = isinstance(v, dict)
        parts: list[str] = []
        used = 2
        # The hottest loop of writing a plan: a string (most values, every key) is looked up in
        # flow_strings here, without a call, once flow_scalar has spelled it.
        strings = self.flow_strings
        items: Iterable[tuple[Any, Any]] = v.items() if isinstance(v, dict) else enumerate(v)
        for k, x in items:
            text: str | None
            if type(x) is str:
                text = strings.get(x) or self.flow_scalar(x)
            else:
                text = self.flow_text(x) if isinstance(x, (dict, list)) else self.flow_scalar(x)
            if text is not None and is_dict:
                key = (strings.get(k) if type(k) is str else None) or self.flow_scalar(k)
                text = f"{key}: {text}" if len(key) <= _LONGEST_KEY else None
            if text is None:
                break
            used += len(text) + (2 if parts else 0)
            if used > width:
                break
            parts.append(text)
        else:
            inner = ", ".join(parts)
            found: str | None = "{" + inner + "}" if is_dict else "[" + inner + "]"
            self.flow_nodes[id(v)] = found
            return found
        self.flow_nodes[id(v)] = None
        return None

    def mapping(self, d: dict[Any, Any], indent: int, lead: str) -> None:
        for k, v in d.items():
            key = self.spell(k)
            if len(key) > _LONGEST_KEY:
                self.explicit(key, v, indent, lead)
                lead = " " * indent
                continue
            text = self.inline(f"{lead}{key}: ", v)
            if text is not None:
                self.out.append(f"{lead}{key}: {text}")
            elif isinstance(v, dict):
                self.out.append(f"{lead}{key}:")
                self.mapping(v, indent + 2, " " * (indent + 2))
            else:
                self.out.append(f"{lead}{key}:")
                self.sequence(v, indent, " " * indent)
            lead = " " * indent

    def explicit(self, key: str, v: Any, indent: int, lead: str) -> None:
        """`? KEY` / `: VALUE`: YAML allows no longer key in the `KEY: VALUE` form."""
        self.out.append(f"{lead}? {key}")
        colon = " " * indent + ": "
        text = self.inline(colon, v)
        if text is not None:
            self.out.append(colon + text)
        else:
            self.out.append(colon.rstrip())
            if isinstance(v, dict):
                self.mapping(v, indent + 2, " " * (indent + 2))
            else:
                self.sequence(v, indent + 2, " " * (indent + 2))

    def sequence(self, items: list[Any], indent: int, lead: str) -> None:
        for item in items:
            dash = lead + "- "
            text = self.inline(dash, item)
            if text is not None:
                self.out.append(dash + text)
            elif isinstance(item, dict):
                self.mapping(item, indent + 2, dash)
            else:
                self.sequence(item, indent + 2, dash)
            lead = " " * indent
