"""The plan's written form (format 2): catalog facts stated once, spans on one line.

In memory a plan is what `lower.py` builds and the runtime reads: every field reference carries
its catalog facts, every span is a dict. Written that way a plan took 13 to 19 lines per mapping
line, because each use of a field repeated its facts. So the file states them once:

* `catalog`: per `system.Object`, the facts of each field (`api`, `access`, `lookup`,
  `write_via`) and relation (`target`, `key`, `key_on`, `cardinality`) some reference uses;
* `refs`: each distinct reference once, by name (`pipedrive.Person.email.primary`): which
  catalog entries it goes through, and its own facts (selector, custom field, type);
* every place that held a reference holds its name; every span is one string whose line
  counts from the previous span's (`SpanWriter`), so an inserted mapping line changes one
  span, not all below it; a field operation or action assignment leaves out the keys that
  have their default value.

`compact` and `expand` are pure and inverse: `expand(compact(plan)) == plan` for every plan
the compiler lowers (tests/compiler/test_plan_compact.py). `expand` trusts a document that
has passed the schema, except for names it cannot find and spans it cannot place, which
raise `CompactError`.
"""

from __future__ import annotations

import re
from typing import Any

# Keys of a field operation and of an action assignment, in the order lowering writes them,
# with the value each takes when the file leaves it out.
_FIELD_OP = ("direction", "source", "target", "transforms", "default", "conflict", "on", "implied", "span")
_FIELD_OP_DEFAULTS: dict[str, Any] = {"transforms": [], "default": None, "conflict": None, "on": "always", "implied": False}
_ASSIGNMENT = ("target", "value", "on", "span")
_ASSIGNMENT_DEFAULTS: dict[str, Any] = {"on": "always"}
_HOP_FACTS = ("target", "key", "key_on", "cardinality")
# file:line:col-[end_line:]end_col, read from the right so a file name may hold a colon; see SpanWriter.
_SPAN = re.compile(r"(.*):([+-]?\d+):(\d+)-(?:(\+?\d+):)?(\d+)", re.DOTALL)
# Keys under which a written plan holds a reference's name (a value of another type there is
# not a reference: a side, a value, a condition).
_REF_SLOTS = ("ref", "target", "left", "right")
_CONTAINERS = (dict, list)


class CompactError(ValueError):
    """A written plan that names a reference or catalog entry it does not define."""


# ------------------------------------------------------------------ spans


class SpanWriter:
    """Spans in the order a document holds them, each line relative to the one before.

    An absolute line would move with every line added or removed above it, so one inserted
    mapping line changed every later span in the plan. Here a span's start line is a signed
    delta (`+2`, `-14`, `+0`) from the start line of the previous span of the same file, and
    its end is on the same line (`-20`: just the end column) or a count of lines below its start
    (`-+25:2`); the first span of each file is absolute. An insertion then changes the delta of
    the spans whose predecessor lies on the other side of it, and nothing else.
    """

    def __init__(self) -> None:
        self._last: dict[str, int] = {}  # file -> start line of its previous span

    def text(self, span: dict[str, Any]) -> str:
        file, line = span["file"], span["line"]
        before = self._last.get(file)
        self._last[file] = line
        start = str(line) if before is None else f"{line - before:+d}"
        lines = span["end_line"] - line
        end = str(span["end_col"]) if lines == 0 else f"+{lines}:{span['end_col']}"
        return f"{file}:{start}:{span['col']}-{end}"


class SpanReader:
    """Reads what SpanWriter wrote, in the same order; an unsigned start or end line is absolute."""

    def __init__(self) -> None:
        self._last: dict[str, int] = {}

    def span(self, text: str) -> dict[str, Any]:
        found = _SPAN.fullmatch(text)
        if found is None:
            raise CompactError(f"{text!r} is not a span like file:line:col-end_col or file:+delta:col-+lines:end_col")
        file, start, col, end_line, end_col = found.groups()
        if start[0] in "+-":
            before = self._last.get(file)
            if before is None:
                raise CompactError(f"the span {text!r} counts from an earlier span of {file}, but it is the first")
            line = before + int(start)
        else:
            line = int(start)
        self._last[file] = line
        if end_line is None:
            last = line
        else:
            last = line + int(end_line) if end_line[0] == "+" else int(end_line)
        return {"file": file, "line": line, "col": int(col), "end_line": last, "end_col": int(end_col)}


# ------------------------------------------------------------------ compact


class _Tables:
    """The catalog facts and references one plan uses, each stated once."""

    def __init__(self) -> None:
        self.catalog: dict[str, dict[str, Any]] = {}
        self.refs: dict[str, dict[str, Any]] = {}
        self._named: dict[str, list[tuple[str, dict[str, Any]]]] = {}  # name base -> (name, ref) seen

    def state(self, system: str, obj: str, name: str, facts: dict[str, Any]) -> None:
        entries = self.catalog.setdefault(f"{system}.{obj}", {})
        known = entries.setdefault(name, facts)
        # One catalog gives one set of facts per field; two would mean the lowering mixed catalogs.
        assert known == facts, f"two sets of facts for {system}.{obj}.{name}: {known} and {facts}"

    def name(self, ref: dict[str, Any]) -> str:
        base = f"{ref['system']}.{ref['object']}.{'.'.join(ref['path'])}"
        for name, known in self._named.get(base, ()):
            if known == ref:  # most refs are used again and again: skip building their entry
                return name
        name = self._name(ref, base)
        self._named.setdefault(base, []).append((name, ref))
        return name

    def _name(self, ref: dict[str, Any], base: str) -> str:
        system, path = ref["system"], ref["path"]
        entry: dict[str, Any] = {}
        owner = ref["object"]
        for hop in ref["via"]:
            self.state(system, owner, hop["relation"], {k: hop[k] for k in _HOP_FACTS})
            owner = hop["target"]
        if ref["via"]:
            entry["via"] = [hop["relation"] for hop in ref["via"]]
        if ref["kind"] == "field":
            facts = {k: v for k, v in ref["field"].items() if k not in ("name", "selector")}
            self.state(system, owner, ref["field"]["name"], facts)
            entry["field"] = ref["field"]["name"]
            if "selector" in ref["field"]:
                entry["selector"] = ref["field"]["selector"]
        elif ref["kind"] == "relation":
            last = ref["via"][-1]
            assert ref["relation"] == _relation(last), f"relation {ref['relation']} is not its last hop {last}"
            entry["relation"] = ref["relation"]["name"]
        else:
            entry["custom"] = ref["custom"]
        entry["type"] = ref["type"]
        name, n = base, 1
        while self.refs.get(name, entry) != entry:  # the same path read two ways: rare, numbered
            n += 1
            name = f"{base}#{n}"
        if name.split(".", 2)[2].split(".") != path:  # a segment with a dot, or a numbered name
            entry = {"path": path, **entry}
        self.refs[name] = entry
        return name


def _relation(hop: dict[str, Any]) -> dict[str, Any]:
    return {"name": hop["relation"], "target": hop["target"], "key": hop["key"], "key_on": hop["key_on"]}


def _is_ref(node: dict[str, Any]) -> bool:
    return "via" in node and "path" in node and "kind" in node


def _compact_node(node: Any, tables: _Tables, spans: SpanWriter) -> Any:
    # Called for every container of the plan (140,000 for a 10,000-line mapping): scalars are
    # copied in place rather than passed through a call, and lowering builds plain dicts and
    # lists only, so `type(…) is` decides.
    if type(node) is list:
        return [_compact_node(item, tables, spans) if type(item) in _CONTAINERS else item for item in node]
    if type(node) is not dict:
        return node
    if _is_ref(node):
        return tables.name(node)
    out = {}
    for key, value in node.items():
        kind = type(value)
        if kind is dict:
            out[key] = spans.text(value) if key == "span" else _compact_node(value, tables, spans)
        elif kind is list:
            out[key] = _compact_node(value, tables, spans)
        else:
            out[key] = value
    return out


def _drop_defaults(node: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k not in defaults or v != defaults[k]}


def compact(plan: dict[str, Any]) -> dict[str, Any]:
    """The plan as written: see the module's docstring."""
    tables, spans = _Tables(), SpanWriter()
    # Spans are written in document order (each counts from the one before): sections in the
    # order of the file, keys in the order of each node.
    connections = [dict(c, span=spans.text(c["span"])) for c in plan["connections"]]
    pairs = []
    for pair in plan["pairs"]:
        written = _compact_node(pair, tables, spans)
        written["fields"] = [_drop_defaults(op, _FIELD_OP_DEFAULTS) for op in written["fields"]]
        pairs.append(written)
    actions = []
    for action in plan["actions"]:
        written = _compact_node(action, tables, spans)
        for step in written["steps"]:
            step["set"] = [_drop_defaults(item, _ASSIGNMENT_DEFAULTS) for item in step["set"]]
        actions.append(written)
    warnings = [dict(w, span=spans.text(w["span"])) for w in plan["warnings"]]
    return {
        "plan_version": plan["plan_version"],
        "compiler": plan["compiler"],
        "source": plan["source"],
        "catalog": {k: dict(sorted(v.items())) for k, v in sorted(tables.catalog.items())},
        "refs": dict(sorted(tables.refs.items())),
        "connections": connections,
        # Stages run 1, 2, 3, … (assert_consistent): the number is the position, so a stage that
        # comes or goes changes one line, not the numbers of every stage after it.
        "stages": [{k: v for k, v in stage.items() if k != "stage"} for stage in plan["stages"]],
        "pairs": pairs,
        "actions": actions,
        "warnings": warnings,
    }


# ------------------------------------------------------------------ expand


def _copy(node: Any) -> Any:
    """A fresh copy of plain data, so no two places of an expanded plan share a dict or list."""
    if isinstance(node, dict):
        return {k: _copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_copy(v) for v in node]
    return node


class _Expander:
    def __init__(self, doc: dict[str, Any]) -> None:
        self.catalog = doc["catalog"]
        self.refs = doc["refs"]
        self.done: dict[str, dict[str, Any]] = {}
        self.spans = SpanReader()

    def facts(self, system: str, obj: str, name: str, ref: str, kind: str) -> dict[str, Any]:
        """The catalog entry of a field (`kind` "field") or relation ("relation")."""
        found: dict[str, Any] | None = self.catalog.get(f"{system}.{obj}", {}).get(name)
        if found is None:
            raise CompactError(f"the ref {ref!r} uses {system}.{obj}.{name}, which the plan's catalog does not have")
        if ("target" in found) != (kind == "relation"):
            raise CompactError(f"the ref {ref!r} uses {system}.{obj}.{name} as a {kind}, but the plan's catalog says it is not one")
        return found

    def ref(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] | None = self.done.get(name)
        if found is None:
            found = self.done[name] = self._ref(name)
        fresh: dict[str, Any] = _copy(found)
        return fresh

    def _ref(self, name: str) -> dict[str, Any]:
        entry = self.refs.get(name)
        parts = name.split(".", 2)
        if entry is None or len(parts) < 3:
            raise CompactError(f"names the ref {name!r}, which the plan's refs table does not have")
        system, obj, rest = parts
        path = entry.get("path", rest.split("."))
        via, owner = [], obj
        for relation in entry.get("via", []):
            hop = {"relation": relation, **self.facts(system, owner, relation, name, "relation")}
            via.append(hop)
            owner = hop["target"]
        out: dict[str, Any] = {"system": system, "object": obj, "path": list(path), "via": via}
        if "field" in entry:
            field = {"name": entry["field"]}
            for key, value in self.facts(system, owner, entry["field"], name, "field").items():
                field[key] = value
                if key == "access" and "selector" in entry:
                    field["selector"] = entry["selector"]
            out["kind"], out["field"] = "field", field
        elif "relation" in entry:
            if not via:
                raise CompactError(f"the ref {name!r} is a relation but goes through none (no via)")
            out["kind"], out["relation"] = "relation", _relation(via[-1])
        else:
            out["kind"], out["custom"] = "custom", entry["custom"]
        out["type"] = entry["type"]
        return out

    def node(self, node: Any) -> Any:
        if isinstance(node, list):
            return [self.node(item) for item in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key == "span" and isinstance(value, str):
                out[key] = self.spans.span(value)
            elif key in _REF_SLOTS and isinstance(value, str):
                out[key] = self.ref(value)
            elif key == "fields" and node.get("kind") == "format":
                out[key] = {k: self.ref(v) for k, v in value.items()}
            else:
                out[key] = self.node(value)
        return out


def _with_defaults(node: dict[str, Any], order: tuple[str, ...], defaults: dict[str, Any]) -> dict[str, Any]:
    return {k: node[k] if k in node else _copy(defaults[k]) for k in order}


def expand(doc: dict[str, Any]) -> dict[str, Any]:
    """The in-memory plan a written (schema-valid) document stands for."""
    ex = _Expander(doc)
    connections = [dict(_copy(c), span=ex.spans.span(c["span"])) for c in doc["connections"]]  # spans: in file order
    pairs = []
    for pair in doc["pairs"]:
        full = ex.node(pair)
        full["fields"] = [_with_defaults(op, _FIELD_OP, _FIELD_OP_DEFAULTS) for op in full["fields"]]
        pairs.append(full)
    actions = []
    for action in doc["actions"]:
        full = ex.node(action)
        for step in full["steps"]:
            step["set"] = [_with_defaults(item, _ASSIGNMENT, _ASSIGNMENT_DEFAULTS) for item in step["set"]]
        actions.append(full)
    return {
        "plan_version": doc["plan_version"],
        "compiler": _copy(doc["compiler"]),
        "source": _copy(doc["source"]),
        "connections": connections,
        "stages": [
            {"stage": stage.get("stage", n), **{k: _copy(v) for k, v in stage.items() if k != "stage"}}
            for n, stage in enumerate(doc["stages"], start=1)
        ],
        "pairs": pairs,
        "actions": actions,
        "warnings": [dict(_copy(w), span=ex.spans.span(w["span"])) for w in doc["warnings"]],
    }
