"""The plan as YAML, byte for byte what ruamel.yaml's safe dumper writes, in a fraction of the time.

ruamel.yaml's pure-Python emitter spent over a minute on the 10 MB plan of a 10,000-line
mapping. The layout of a plan is simple (block mappings and sequences, `[]`/`{}` when empty),
so this module lays out the structure itself and leaves every scalar's spelling (plain or
quoted, escapes) to ruamel: all distinct scalars are dumped in one batch, and each comes back
as one line. Whatever it does not mirror exactly (a scalar that would not fit on one line, a
string long enough that ruamel could wrap it, a top level that is not a mapping) makes
`dump` return None, and the caller uses ruamel for the whole plan.
"""

from __future__ import annotations

import io
import re
from typing import Any

# ruamel wraps a scalar once its line passes the emitter width (4096); beyond this length a
# string could reach it at some indentation, so such a plan goes to ruamel whole.
_LONGEST = 3000
_BREAKS = frozenset("\r\x85\u2028\u2029")
# Spelled without asking ruamel: a word of letters, digits, `_` and `.` starting with a letter
# is plain in YAML 1.2 unless it is one of these words (which ruamel is left to spell).
_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9_.]{0,99}")
_WORDS = {"true", "false", "null", "yes", "no", "on", "off", "y", "n"}


def _obvious(value: Any) -> str | None:
    if value is None:
        return "null"
    if value is True or value is False:
        return "true" if value else "false"
    if type(value) is int:
        return str(value)
    if type(value) is str and _PLAIN.fullmatch(value) and value.lower() not in _WORDS:
        return value
    return None


def ruamel_yaml() -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ="safe", pure=True)
    yaml.default_flow_style = False
    # ruamel leaves this attribute unannotated, so mypy takes its default (None) for its type
    yaml.sort_base_mapping_type_on_output = False  # type: ignore[assignment]
    yaml.width = 4096
    return yaml


def _ruamel_dump(data: Any) -> str:
    out = io.StringIO()
    ruamel_yaml().dump(data, out)
    return out.getvalue()


# Every distinct scalar, as (type, value) -> None: a set that keeps the order found.
_Scalars = dict[tuple[type[Any], Any], None]


def _scalars(data: Any, values: _Scalars, keys: _Scalars) -> bool:
    """Collect every distinct scalar (by type and value) and mapping key; False when one is
    too long to be spelled on one line for sure, or when a mapping or list is reached twice
    (ruamel would write an anchor and an alias)."""
    stack = [data]
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if isinstance(node, (dict, list)):
            if id(node) in seen:
                return False
            seen.add(id(node))
        if isinstance(node, dict):
            for k, v in node.items():
                keys[(type(k), k)] = None
                stack.append(v)
        elif isinstance(node, list):
            stack.extend(node)
        else:
            if isinstance(node, str) and len(node) > _LONGEST:
                return False
            values[(type(node), node)] = None
    return True


def _spellings(items: list[Any], as_keys: bool) -> list[str] | None:
    """ruamel's one-line spelling of each item, as a value (`- X`) or as a key (`K: 0`)."""
    if not items:
        return []
    if as_keys:
        lines = _ruamel_dump(dict.fromkeys(items, 0)).split("\n")
        cut = [line[:-3] if line.endswith(": 0") else None for line in lines[:-1]]
    else:
        lines = _ruamel_dump(list(items)).split("\n")
        cut = [line[2:] if line.startswith("- ") else None for line in lines[:-1]]
    spelt = [c for c in cut if c is not None and not _BREAKS.intersection(c)]
    if lines[-1] != "" or len(cut) != len(items) or len(spelt) != len(cut):
        return None  # some item took more than one line (YAML breaks lines at these too)
    return spelt


def dump(data: Any) -> str | None:
    """`data` as ruamel's safe dumper writes it (block style, width 4096), or None."""
    if not isinstance(data, dict) or not data:
        return None
    values: _Scalars = {}
    keys: _Scalars = {}
    if not _scalars(data, values, keys):
        return None
    spell = {key: text for key in values if (text := _obvious(key[1])) is not None}
    spell_key = {key: text for key in keys if (text := _obvious(key[1])) is not None}
    rest = [key for key in values if key not in spell]
    rest_keys = [key for key in keys if key not in spell_key]
    value_text = _spellings([v for _, v in rest], as_keys=False)
    key_text = _spellings([k for _, k in rest_keys], as_keys=True)
    if value_text is None or key_text is None:
        return None
    spell.update(zip(rest, value_text, strict=True))
    spell_key.update(zip(rest_keys, key_text, strict=True))
    out: list[str] = []

    def scalar(v: Any) -> str | None:
        if isinstance(v, dict):
            return "{}" if not v else None
        if isinstance(v, list):
            return "[]" if not v else None
        return spell[(type(v), v)]

    def mapping(d: dict[Any, Any], indent: int, lead: str) -> None:
        for k, v in d.items():
            key = spell_key[(type(k), k)]
            text = scalar(v)
            if text is not None:
                out.append(f"{lead}{key}: {text}")
            elif isinstance(v, dict):
                out.append(f"{lead}{key}:")
                mapping(v, indent + 2, " " * (indent + 2))
            else:
                out.append(f"{lead}{key}:")
                sequence(v, indent, " " * indent)
            lead = " " * indent

    def sequence(items: list[Any], indent: int, lead: str) -> None:
        for item in items:
            dash = lead + "- "
            text = scalar(item)
            if text is not None:
                out.append(dash + text)
            elif isinstance(item, dict):
                mapping(item, indent + 2, dash)
            else:
                sequence(item, indent + 2, dash)
            lead = " " * indent

    mapping(data, 0, "")
    return "\n".join(out) + "\n"
