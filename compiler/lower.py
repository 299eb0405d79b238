"""Lowering: the analysed model -> the sync plan, plain data the runtime executes.

Pure and deterministic: the same sources give the same plan, byte for byte once emitted. File
names inside the plan are relative to the root mapping's folder, so the working directory
does not change the output. Every operation keeps its source span as provenance.
"""

from __future__ import annotations

import hashlib
import os
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from syncmap.compiler import ast
from syncmap.compiler.diagnostics import Diagnostic, Span
from syncmap.compiler.resolve import FieldRef, Side, Val, builtin_of, literal_type
from syncmap.compiler.semantic import ActionModel, Model, PairModel, Write, owner_field
from syncmap.compiler.sources import SourceSet
from syncmap.compiler.structure import env_name, format_placeholders

PLAN_VERSION = "2.1"


def compiler_version() -> str:
    try:
        return version("syncmap")
    except PackageNotFoundError:  # running from a source tree without metadata
        return "0+unknown"


def plan_file_name(path: str, root: str) -> str:
    """How the plan names `path` (a file of the mapping rooted at `root`): relative to the root
    mapping's folder, with forward slashes, whatever the working directory."""
    return os.path.relpath(os.path.abspath(path), os.path.dirname(os.path.abspath(root))).replace(os.sep, "/")


class _Lowerer:
    def __init__(self, model: Model, sources: SourceSet) -> None:
        self.model = model
        self.sources = sources
        self._files: dict[str, str] = {}

    # ------------------------------------------------------------ leaves

    def file(self, name: str) -> str:
        found = self._files.get(name)
        if found is None:
            found = self._files[name] = plan_file_name(name, self.sources.root)
        return found

    def span(self, span: Span) -> dict[str, Any]:
        return {"file": self.file(span.file), "line": span.line, "col": span.col, "end_line": span.end_line, "end_col": span.end_col}

    def side(self, side: Side) -> dict[str, Any]:
        return {"system": side.system, "object": side.object}

    def ref(self, ref: FieldRef) -> dict[str, Any]:
        out: dict[str, Any] = {"system": ref.side.system, "object": ref.side.object, "path": list(ref.segments)}
        via: list[dict[str, Any]] = []
        for hop in ref.hops:
            via.append({"relation": hop.name, "target": hop.target, "key": hop.key, "key_on": hop.key_on, "cardinality": hop.cardinality})
        out["via"] = via
        if ref.custom_name is not None:  # a custom field
            style = ref.side.catalog.custom_field_style
            key = style.key_for(ref.custom_name, ref.custom_type) if ref.custom_type else None
            out["kind"] = "custom"
            out["custom"] = {"name": ref.custom_name, "type": ref.custom_type, "key": key, "container": style.write_container}
        elif ref.is_relation:
            out["kind"] = "relation"
            hop = ref.hops[-1]
            out["relation"] = {"name": hop.name, "target": hop.target, "key": hop.key, "key_on": hop.key_on}
        else:
            spec = ref.spec
            assert spec is not None
            out["kind"] = "field"
            out["field"] = {"name": spec.name, "api": spec.api_name, "access": spec.access}
            if spec.multi is not None:
                out["field"]["selector"] = ref.selector
            if spec.lookup is not None:
                out["field"]["lookup"] = {"path": spec.lookup.path, "key": spec.lookup.key, "by": spec.lookup.by}
            if spec.write_via is not None:
                write_via = spec.write_via
                out["field"]["write_via"] = {
                    "field": write_via.field,
                    "how": write_via.how,
                    "parts": list(write_via.parts),
                    "separator": write_via.separator,
                    "value": write_via.value,
                }
        out["type"] = ref.type
        return out

    def literal(self, lit: ast.Literal) -> Any:
        return lit.value

    def value(self, val: Val | None, node: ast.Value | None = None) -> dict[str, Any] | None:
        if val is None:
            return None
        node = node if node is not None else val.node
        if val.kind == "field":
            return {"kind": "field", "ref": self.ref(val.reads[0])}
        if val.kind in ("literal", "null"):
            assert isinstance(node, ast.Literal)
            return {"kind": "literal", "value": node.value, "type": val.type}
        if val.kind == "format":
            assert isinstance(node, ast.Literal)
            names = format_placeholders(str(node.value)) or []
            return {"kind": "format", "template": node.value, "fields": {n: self.ref(r) for n, r in zip(names, val.reads, strict=True)}}
        if val.kind == "date":
            assert isinstance(node, (ast.Clock, ast.DateShift))
            return clock(node)
        if val.kind == "this":
            return {"kind": "this"}
        if val.kind == "list":
            assert isinstance(node, ast.ListValue)
            return {"kind": "list", "items": [self.raw_value(i) for i in node.items]}
        if val.kind == "builtin":
            assert isinstance(node, ast.Path)
            return self.builtin(node)
        raise AssertionError(val.kind)

    def builtin(self, path: ast.Path) -> dict[str, Any]:
        kind = builtin_of(path, set(self.model.catalogs) | {path.segments[0].name})
        if kind in ("linked", "new"):
            return {"kind": kind}
        system = path.segments[0].name
        if kind == "me":
            return {"kind": "me", "system": system}
        arg = path.segments[1].args[0] if path.segments[1].args else None
        name = arg.value if isinstance(arg, ast.Literal) else None
        return {"kind": "member" if kind == "list" else kind, "system": system, "name": name}

    def raw_value(self, node: ast.Value) -> dict[str, Any]:
        """A value inside a condition: resolved fields come from the analyser's table."""
        if isinstance(node, ast.Path):
            ref = self.model.refs.get(id(node))
            if ref is not None:
                return {"kind": "field", "ref": self.ref(ref)}
            return self.builtin(node)
        if isinstance(node, ast.Literal):
            return {"kind": "literal", "value": node.value, "type": literal_type(node)}
        if isinstance(node, ast.This):
            return {"kind": "this"}
        if isinstance(node, (ast.Clock, ast.DateShift)):
            return clock(node)
        if isinstance(node, ast.ListValue):
            return {"kind": "list", "items": [self.raw_value(i) for i in node.items]}
        raise AssertionError(node)

    def condition(self, cond: ast.Condition) -> dict[str, Any]:
        if isinstance(cond, ast.BoolOp):
            return {"op": cond.op, "args": [self.condition(o) for o in cond.operands]}
        if isinstance(cond, ast.Not):
            return {"op": "not", "arg": self.condition(cond.operand)}
        if isinstance(cond, ast.Compare):
            ops = {"==": "eq", "!=": "ne", "<": "lt", "<=": "le", ">": "gt", ">=": "ge"}
            return {"op": ops[cond.op], "left": self.raw_value(cond.left), "right": self.raw_value(cond.right)}
        if isinstance(cond, ast.InList):
            return {"op": "in", "value": self.raw_value(cond.value), "options": [self.raw_value(i) for i in cond.options.items]}
        assert isinstance(cond, ast.Truthy)
        v = self.raw_value(cond.value)
        if v["kind"] in ("linked", "new"):
            return {"op": v["kind"]}
        if v["kind"] == "member":
            return {"op": "member", "system": v["system"], "list": v["name"]}
        return {"op": "truthy", "value": v}

    def transforms(self, transforms: tuple[ast.Transform, ...]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for t in transforms:
            if isinstance(t, ast.NamedTransform):
                out.append({"name": t.name})
            else:
                out.append(
                    {
                        "name": "map",
                        "pairs": [
                            [
                                self.raw_value(p.key)["value"] if isinstance(p.key, ast.Literal) else None,
                                self.raw_value(p.value)["value"] if isinstance(p.value, ast.Literal) else None,
                            ]
                            for p in t.pairs
                        ],
                    }
                )
        return out

    # ------------------------------------------------------------ pairs

    def write(self, w: Write) -> dict[str, Any]:
        conflict = None
        if w.conflict is not None:
            conflict = _conflict(w.conflict)
        return {
            "direction": w.direction,
            "source": self.value(w.source),
            "target": self.ref(w.target),
            "transforms": self.transforms(w.transforms),
            "default": self.value(w.default),
            "conflict": conflict,
            "on": "create" if w.create_only else "always",
            "implied": w.implied,
            "span": self.span(w.rule.span),
        }

    def implicit_filters(self, pair: PairModel) -> list[dict[str, Any]]:
        """Seed rules the runtime applies whether or not the mapping says so (R16, R19)."""
        out = []
        for side in (pair.left, pair.right):
            other_flows = pair.flows_into(pair.right if side is pair.left else pair.left)
            for rule in side.catalog.rules_of("sync_out_filter", object=side.object):
                if other_flows:
                    where = rule["where"]
                    out.append({"side": side.system, "field": where["field"], "equals": where["equals"], "rule": ",".join(rule.r), "seed": rule.seed})
            for rule in side.catalog.rules_of("pairing_requires", object=side.object):
                out.append({"side": side.system, "field": rule["field"], "present": True, "rule": ",".join(rule.r), "seed": rule.seed})
        return out

    def key(self, val: Val | None) -> dict[str, Any] | None:
        """One side of a match key; None on the side a shorthand relation key (`match person`) leaves out."""
        if val is None:
            return None
        return self.ref(val.reads[0]) if val.kind == "field" else self.value(val)

    def pair(self, pair: PairModel) -> dict[str, Any]:
        sync = pair.sync
        scopes: list[dict[str, Any]] = [
            {"toward": target.system, "condition": self.condition(st.scope), "span": self.span(st.span)} for st, target in pair.scopes
        ]
        only_words = {(s["toward"], s["condition"].get("op")) for s in scopes}
        creates, updates = {}, {}
        for key, side in (("left", pair.left), ("right", pair.right)):
            flows = pair.flows_into(side)
            creates[key] = str(side) in pair.creating
            updates[key] = flows and side.spec.permissions.update and (side.system, "new") not in only_words
        deletes = None
        if pair.deletes is not None and pair.deletes.arrow is not None:
            d = pair.deletes
            origin, target = (d.source, d.target) if d.arrow == "->" else (d.target, d.source)
            deletes = {"from": origin, "to": target, "span": self.span(d.span)}
        owner = None
        if pair.owner is not None:
            v = pair.owner.value
            owner_value = self.raw_value(v) if not isinstance(v, ast.Literal) else {"kind": "user_id", "value": v.value}
            # A bare user id belongs to the side that has owners, whichever side it stands on.
            owned = next((s.system for s in (pair.left, pair.right) if owner_field(s) is not None), pair.left.system)
            owner = {"system": owner_value.get("system", owned), "default": owner_value, "span": self.span(pair.owner.span)}
        # One entry per `match` line: its keys must all agree; the runtime tries lines in order.
        match: list[dict[str, Any]] = []
        for m in pair.matches:
            entry: dict[str, Any] = {
                "kind": m.kind,
                "left": self.key(m.left),
                "right": self.key(m.right),
                "span": self.span(m.node.span),
            }
            types = {m.left.type if m.left else None, m.right.type if m.right else None}
            entry["normalize"] = ["trim", "lowercase"] if "email" in types else []
            if len(match) <= m.group:
                match.append({"keys": [], "span": self.span(m.statement.span if m.statement else m.node.span)})
            match[m.group]["keys"].append(entry)
        return {
            "id": pair.id,
            "left": self.side(pair.left),
            "right": self.side(pair.right),
            "direction": pair.direction,
            "match": match,
            "link": {"left": self.ref(pair.link[0]), "right": self.ref(pair.link[1]), "span": self.span(pair.link_node.span)}
            if pair.link and pair.link_node
            else None,
            "scope": scopes,
            "filters": [{"condition": self.condition(c), "span": self.span(st.span)} for c, _, st in pair.filters],
            "implicit_filters": self.implicit_filters(pair),
            "creates": creates,
            "updates": updates,
            "deletes": deletes,
            "owner": owner,
            "empty": {"policy": pair.empty, "span": self.span(pair.empty_node.span) if pair.empty_node else None},
            "conflict": dict(_conflict(pair.conflict), span=self.span(pair.conflict_node.span) if pair.conflict_node else None),
            # The block's own rules, then the match keys written on the records a match creates.
            "fields": [self.write(w) for w in pair.writes + pair.implied],
            "required": [
                {"system": side.system, "object": side.object, "field": r.field, "seed": r.seed}
                for side in (pair.left, pair.right)
                for r in side.spec.required
            ],
            "span": self.span(sync.span),
        }

    # ------------------------------------------------------------ actions

    def action(self, act: ActionModel) -> dict[str, Any]:
        steps = []
        for s in act.steps:
            spec = s.target.catalog.action(s.catalog_action) if s.catalog_action else None
            steps.append(
                {
                    "verb": s.step.verb,
                    "target": self.side(s.target),
                    "where": self.condition(s.step.where) if s.step.where is not None else None,
                    "set": [
                        {
                            "target": self.ref(w.target),
                            "value": self.value(w.source),
                            "on": "create" if w.create_only else "always",
                            "span": self.span(w.rule.span),
                        }
                        for w in s.writes
                    ],
                    "creates_person_if_missing": s.creates_person_if_missing,
                    "catalog_action": s.catalog_action,
                    "idempotent": spec.idempotent if spec is not None and spec.idempotent is not None else s.step.verb != "create",
                    "span": self.span(s.step.span),
                }
            )
        return {
            "name": act.action.name,
            "on": self.side(act.on),
            "creates_person_if_missing": act.creates_person_if_missing,
            "steps": steps,
            "span": self.span(act.action.span),
        }

    # ------------------------------------------------------------ whole plan

    def connections(self) -> list[dict[str, Any]]:
        out = []
        for system in sorted(self.model.connects):
            c = self.model.connects[system]
            settings = {}
            for s in c.settings:
                name = env_name(s.value)
                settings[s.key] = {"env": name} if name is not None else {"value": s.value.value if isinstance(s.value, ast.Literal) else None}
            out.append({"system": system, "settings": settings, "span": self.span(c.span)})
        return out

    def stages(self) -> list[dict[str, Any]]:
        """Pairs grouped under the object that comes last in dependency order among their two.

        Objects no pair syncs but some path reads (Users, through `owner.name`) get a stage of
        their own with no pairs: the runtime reads them first.
        """
        rank = {name: i for i, name in enumerate(self.model.stages)}
        anchored: dict[str, list[tuple[bool, str]]] = {}
        in_pairs = set()
        for p in self.model.pairs:
            in_pairs |= {str(p.left), str(p.right)}
            side = max((p.left, p.right), key=lambda s: rank.get(str(s), -1))
            # Within a stage, the pairs that write its object run before those that read it out,
            # so a record one pair creates (an activity from Autopilot's history) flows out
            # through the others in the same run, not the next.
            anchored.setdefault(str(side), []).append((not p.flows_into(side), p.id))
        out: list[dict[str, Any]] = []
        for name in self.model.stages:
            if name in anchored or name not in in_pairs:
                ids = [pid for _, pid in sorted(anchored.get(name, []), key=lambda item: item[0])]
                out.append({"stage": len(out) + 1, "object": name, "pairs": ids})
        return out

    def plan(self, warnings: list[Diagnostic]) -> dict[str, Any]:
        files = []
        digest = hashlib.sha256()
        for name in sorted(self.sources.texts, key=self.file):
            text = self.sources.texts[name]
            rel = self.file(name)
            digest.update(rel.encode() + b"\0" + text.encode() + b"\0")
            files.append({"path": rel, "sha256": hashlib.sha256(text.encode()).hexdigest()})
        pairs = [self.pair(p) for p in self.model.pairs]
        return {
            "plan_version": PLAN_VERSION,
            "compiler": {"name": "syncmap", "version": compiler_version()},
            "source": {"root": self.file(self.sources.root), "digest": "sha256:" + digest.hexdigest(), "files": files},
            "connections": self.connections(),
            "stages": self.stages(),
            "pairs": pairs,
            "actions": [self.action(a) for a in self.model.actions],
            "warnings": [{"code": d.code, "message": d.message, "span": self.span(d.span)} for d in warnings],
        }


def clock(node: ast.Clock | ast.DateShift) -> dict[str, Any]:
    """`today`, `now + 2 hours`; units are plural in the plan whatever the mapping wrote."""
    if isinstance(node, ast.Clock):
        return {"kind": "clock", "base": node.name, "shift": None}
    unit = node.unit if node.unit.endswith("s") else node.unit + "s"
    return {"kind": "clock", "base": node.base.name, "shift": {"sign": node.sign, "amount": node.amount, "unit": unit}}


def _conflict(words: tuple[str, ...]) -> dict[str, Any]:
    if words == ("newest",):
        return {"policy": "newest"}
    return {"policy": "system", "winner": words[0]}


def lower(model: Model, sources: SourceSet, warnings: list[Diagnostic] | None = None) -> dict[str, Any]:
    """The plan for an error-free model (check first: lowering trusts the analyser)."""
    return _Lowerer(model, sources).plan(list(warnings or []))
