"""Semantic analysis: bind a checked mapping to the catalogs and enforce the product rules.

`analyse(mappings)` returns a `Model` (every sync pair and action with its names resolved,
ready for lowering) and every diagnostic, collected in one run. Each rule of the table in
DESIGN.md that applies at compile time is one function below, named after what it checks.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

from syncmap.compiler import ast
from syncmap.compiler import satisfiable as sat
from syncmap.compiler.catalog import (
    Catalog,
    DependencyCycleError,
    RequiredField,
    RuleSpec,
    SearchPath,
    available_systems,
    dependency_order,
    load_catalog,
    resolve_path,
    suggest,
)
from syncmap.compiler.codes import (
    ACTIVITY_IDENTITY,
    BAD_ACTION,
    BAD_ACTIVITY_TYPE,
    BAD_LINK,
    BAD_OWNER,
    BAD_POLICY_SYSTEM,
    DELETES_TOWARD_PIPEDRIVE,
    DEPENDENCY_CYCLE,
    EMPTY_WRITES,
    LITERAL_SECRET,
    MISSING_RELATION,
    MISSING_SCOPE,
    NO_PAIRING,
    NOT_CONNECTED,
    ONE_TO_MANY,
    READ_ONLY_FIELD,
    RELATION_NOT_PAIRED,
    REQUIRED_NOT_MAPPED,
    REQUIRED_NOT_SENT,
    RULE_AGAINST_SYNC,
    SPLIT_FULL_NAME,
    SYNC_PERMISSION,
    TYPE_MISMATCH,
    UNKNOWN_OBJECT,
    UNKNOWN_SETTING,
    UNKNOWN_SYSTEM,
    UNKNOWN_VALUE,
    UNSATISFIABLE_FILTER,
    WRITE_THROUGH_RELATION,
    WRITTEN_TWICE,
)
from syncmap.compiler.diagnostics import ERROR, WARNING, Diagnostic, Label, Span
from syncmap.compiler.fmt import condition as render_condition
from syncmap.compiler.fmt import value as render_value
from syncmap.compiler.resolve import FieldRef, Scope, Side, Val, builtin_of, builtin_problem, resolve_field, resolve_value
from syncmap.compiler.structure import SECRET_WORDS, env_call, env_name

ARROW_DIRECTION = {"<->": "both", "->": "left_to_right", "<-": "right_to_left"}
_ARROW_OF = {"left_to_right": "->", "right_to_left": "<-"}

# Which vocabulary types may be written into which without a transform (beyond equality).
_COMPATIBLE = {
    "string": {"text", "email", "phone", "enum"},
    "text": {"string", "email", "phone"},
    "email": {"string", "text"},
    "phone": {"string", "text"},
    "enum": {"string", "text"},
    "integer": {"number", "id", "user", "string", "text"},
    "number": {"string", "text"},
    "id": {"integer", "user", "string"},
    "user": {"integer", "id"},
    "date": {"datetime", "string"},
    "datetime": {"date", "string"},
    "boolean": set(),
}
_TEXT_TYPES = {"string", "text", "email", "phone", "enum"}


def compatible(source: str | None, target: str | None) -> bool:
    if source is None or target is None or source == target:
        return True
    return target in _COMPATIBLE.get(source, set())


def _is_identity(ref: FieldRef) -> bool:
    """Whether the field is its object's id."""
    return ref.spec is not None and ref.spec.name == ref.side.spec.identity.key


@dataclass
class Write:
    """One value flowing into one field: the unit of a plan's field operations."""

    target: FieldRef
    source: Val
    direction: str  # left_to_right | right_to_left | both-halves are split into two Writes
    rule: ast.FieldRule | ast.Assign | ast.MatchKey  # a match key: the implied write of its key
    transforms: tuple[ast.Transform, ...] = ()
    default: Val | None = None
    conflict: tuple[str, ...] | None = None
    create_only: bool = False
    implied: bool = False  # no rule says it: a match key written on the record the match creates


@dataclass
class MatchModel:
    left: Val | None  # None on the other side of a shorthand relation key (`match person`)
    right: Val | None
    kind: str  # field | relation
    node: ast.MatchKey
    group: int = 0  # keys of one `match` line must all agree; several lines are tried in order
    statement: ast.Match | None = None


@dataclass
class PairModel:
    sync: ast.Sync
    left: Side
    right: Side
    direction: str
    writes: list[Write] = field(default_factory=list)
    matches: list[MatchModel] = field(default_factory=list)
    link: tuple[FieldRef, FieldRef] | None = None
    link_node: ast.Link | None = None
    link_keeper: FieldRef | None = None  # the field the link writes: no rule, default or action may write it too
    empty_node: ast.Empty | None = None
    conflict_node: ast.Conflict | None = None
    scopes: list[tuple[ast.Only, Side]] = field(default_factory=list)  # (statement, side it filters)
    filters: list[tuple[ast.Condition, Side | None, ast.Where]] = field(default_factory=list)
    deletes: ast.Deletes | None = None
    owner: ast.OwnerDefault | None = None
    empty: str = "skip"
    conflict: tuple[str, ...] = ("newest",)
    relation_edges: list[tuple[str, str, str]] = field(default_factory=list)  # (system, object, depends on)
    creating: set[str] = field(default_factory=set)  # the sides ("system.Object") the pair may create records on
    implied: list[Write] = field(default_factory=list)  # match keys written on creation (`implied_key_writes`)
    mentioned: list[FieldRef] = field(default_factory=list)  # the fields a broken rule names: no follow-up error about them

    @property
    def id(self) -> str:
        return f"{self.left}{self.sync.arrow}{self.right}"

    @property
    def partner_side(self) -> Side | None:
        """The side whose record is found through the other's relation (`match person`): the
        related record's partner, owned by another pair, so this pair never creates it."""
        for m in self.matches:
            if m.kind == "relation" and m.right is None:
                return self.right
            if m.kind == "relation" and m.left is None:
                return self.left
        return None

    def side(self, system: str) -> Side | None:
        return self.left if self.left.system == system else self.right if self.right.system == system else None

    def flows_into(self, side: Side) -> bool:
        if side is self.left:
            return self.direction in ("both", "right_to_left")
        return self.direction in ("both", "left_to_right")


@dataclass
class StepModel:
    step: ast.Step
    target: Side
    writes: list[Write]
    creates_person_if_missing: bool
    catalog_action: str | None


@dataclass
class ActionModel:
    action: ast.Action
    on: Side
    steps: list[StepModel]

    @property
    def creates_person_if_missing(self) -> bool:
        return any(s.creates_person_if_missing for s in self.steps)


@dataclass
class Model:
    catalogs: dict[str, Catalog]
    connects: dict[str, ast.Connect]
    pairs: list[PairModel]
    actions: list[ActionModel]
    stages: list[str]
    refs: dict[int, FieldRef] = field(default_factory=dict)  # id(ast.Path) -> what it names


def _diag(
    code: str, message: str, span: Span, label: str = "", help: str | None = None, severity: str = ERROR, extra: tuple[Label, ...] = ()
) -> Diagnostic:
    return Diagnostic(code, severity, message, span, ((Label(span, label),) if label else ()) + extra, help)


class _Analyser:
    def __init__(self, mappings: list[ast.Mapping], search_path: SearchPath = None) -> None:
        self.mappings = mappings
        self.search_path = search_path
        self.out: list[Diagnostic] = []
        self.catalogs: dict[str, Catalog] = {}
        self.known = set(available_systems(search_path))
        self.refs: dict[int, FieldRef] = {}
        self.resolved: list[FieldRef] = []  # every path that resolved, once per use: rules over all paths read them

    # ------------------------------------------------------------ names

    def catalog(self, system: str, span: Span) -> Catalog | None:
        if system in self.catalogs:
            return self.catalogs[system]
        if system not in self.known:
            hint = suggest(system, sorted(self.known))
            self.out.append(
                _diag(
                    UNKNOWN_SYSTEM,
                    f"there is no system `{system}`",
                    span,
                    "unknown system",
                    f"did you mean `{hint}`?" if hint else f"systems: {', '.join(sorted(self.known))}",
                )
            )
            return None
        self.catalogs[system] = load_catalog(system, self.search_path)
        return self.catalogs[system]

    def side(self, ref: ast.ObjectRef) -> Side | None:
        cat = self.catalog(ref.system, ref.span)
        if cat is None:
            return None
        if cat.object(ref.object) is None:
            hint = suggest(ref.object, cat.object_names())
            self.out.append(
                _diag(
                    UNKNOWN_OBJECT,
                    f"{cat.display_name} has no object `{ref.object}`",
                    ref.span,
                    "unknown object",
                    f"did you mean `{ref.system}.{hint}`?" if hint else f"objects: {', '.join(cat.object_names())}",
                )
            )
            return None
        return Side(ref.system, ref.object, cat)

    @property
    def systems(self) -> set[str]:
        return self.known

    def value(self, v: ast.Value, scope: Scope) -> Val | None:
        val, diags = resolve_value(v, scope, systems=self.systems)
        self.out.extend(diags)
        if val is not None:
            self.resolved.extend(val.reads)
        if val is not None and isinstance(v, ast.Path) and val.reads:
            self.refs[id(v)] = val.reads[0]  # conditions are lowered from the AST: remember what each path named
        return val

    def field(self, path: ast.Path, scope: Scope) -> FieldRef | None:
        ref, diags = resolve_field(path, scope, systems=self.systems)
        self.out.extend(diags)
        if ref is not None:
            self.refs[id(path)] = ref
            self.resolved.append(ref)
        return ref

    def condition(self, cond: ast.Condition, scope: Scope) -> None:
        if isinstance(cond, ast.BoolOp):
            for o in cond.operands:
                self.condition(o, scope)
        elif isinstance(cond, ast.Not):
            self.condition(cond.operand, scope)
        elif isinstance(cond, ast.Truthy):
            self.value(cond.value, scope)
        elif isinstance(cond, ast.Compare):
            left = self.value(cond.left, scope)
            right = self.value(cond.right, scope)
            for a, b in ((left, cond.right), (right, cond.left)):
                if a is not None and a.kind == "field" and isinstance(b, ast.Literal):
                    self.check_value_allowed(a.reads[0], b)
        elif isinstance(cond, ast.InList):
            val = self.value(cond.value, scope)
            for item in cond.options.items:
                self.value(item, scope)
                if val is not None and val.kind == "field" and isinstance(item, ast.Literal):
                    self.check_value_allowed(val.reads[0], item)

    def check_value_allowed(self, ref: FieldRef, lit: ast.Literal) -> None:
        """A constant that reaches or is compared with a constrained field: an enum of either
        catalog (SM317), or a field an `allowed_values` rule limits, such as the activity type
        (SM308, R18)."""
        spec = ref.spec
        if spec is None:
            return
        for rule in ref.side.catalog.rules_of("allowed_values", object=ref.end_object):
            if rule.get("field") != spec.name:
                continue
            text = "" if lit.value is None else str(lit.value)
            names = [str(v["value"]) for v in rule["values"]]
            words = {w.lower() for v in rule["values"] for w in (str(v["value"]), str(v.get("label") or v["value"]))}
            if not ((text == "" and rule.get("allow_blank")) or text.lower() in words):
                self.out.append(
                    _diag(
                        BAD_ACTIVITY_TYPE,
                        f"activity type {lit.raw} is neither blank nor one of the available types",
                        lit.span,
                        "not an activity type",
                        "use one of: " + ", ".join(names) + ', or ""',
                    )
                )
            return
        if not spec.values or lit.kind == "null":
            return
        allowed = [str(v) for v in spec.value_names()]
        if str(lit.value) not in allowed:
            hint = suggest(str(lit.value), allowed)
            self.out.append(
                _diag(
                    UNKNOWN_VALUE,
                    f"`{ref.describe()}` is never {lit.raw}",
                    lit.span,
                    "not a possible value",
                    (f'did you mean "{hint}"? ' if hint else "") + f"values: {', '.join(allowed)}",
                )
            )

    # ------------------------------------------------------------ driver

    def run(self) -> Model:
        connects: dict[str, ast.Connect] = {}
        for mapping in self.mappings:
            for c in mapping.of_type(ast.Connect):
                connects.setdefault(c.system, c)
                cat = self.catalog(c.system, c.span)
                if cat is not None:
                    self.connection_settings(c, cat)
        pairs = [p for m in self.mappings for s in m.of_type(ast.Sync) if (p := self.pair(s, connects)) is not None]
        actions = [a for m in self.mappings for act in m.of_type(ast.Action) if (a := self.action(act, connects)) is not None]
        paired: set[frozenset[str]] = set()
        for pair in pairs:
            key = frozenset({str(pair.left), str(pair.right)})
            self.pair_rules(pair, pairs, whole=key not in paired)
            paired.add(key)
        self.link_owned(pairs, actions)
        self.related_pairing(pairs)
        self.one_to_many()
        stages = self.stages(pairs)
        return Model(self.catalogs, connects, pairs, actions, stages, self.refs)

    def connection_settings(self, connect: ast.Connect, cat: Catalog) -> None:
        given = {s.key for s in connect.settings}
        names = [c.name for c in cat.connection]
        for s in connect.settings:
            spec = cat.setting(s.key)
            if spec is None:
                hint = suggest(s.key, names)
                self.out.append(
                    _diag(
                        UNKNOWN_SETTING,
                        f"{cat.display_name} connections have no setting `{s.key}`",
                        s.span,
                        "unknown setting",
                        f"did you mean `{hint}`?" if hint else f"settings: {', '.join(names)}",
                    )
                )
            elif spec.secret and env_name(s.value) is None and env_call(s.value) is None and not (SECRET_WORDS & set(s.key.lower().split("_"))):
                self.out.append(
                    _diag(
                        LITERAL_SECRET,
                        f"`{s.key}` is a secret and must come from the environment",
                        s.value.span,
                        "written in the mapping",
                        f'use {s.key} = env("{connect.system.upper()}_{s.key.upper()}")',
                    )
                )
        for spec in cat.connection:
            if spec.required and spec.name not in given:
                self.out.append(
                    _diag(
                        UNKNOWN_SETTING,
                        f"the {cat.display_name} connection needs `{spec.name}` ({spec.description})",
                        connect.span,
                        "missing setting",
                        f'add {spec.name} = env("{connect.system.upper()}_{spec.name.upper()}")' if spec.secret else f"add {spec.name} = …",
                    )
                )

    def require_connected(self, ref: ast.ObjectRef, connects: dict[str, ast.Connect]) -> None:
        if ref.system in self.known and ref.system not in connects:
            self.out.append(
                _diag(
                    NOT_CONNECTED,
                    f"`{ref.system}` is used but never connected",
                    ref.span,
                    "no connect block",
                    f"add `connect {ref.system} {{ … }}` or include the file that has it",
                )
            )

    # ------------------------------------------------------------ sync pairs

    def pair(self, sync: ast.Sync, connects: dict[str, ast.Connect]) -> PairModel | None:
        left, right = self.side(sync.left), self.side(sync.right)
        for ref in (sync.left, sync.right):
            self.require_connected(ref, connects)
        if left is None or right is None or left.system == right.system:
            return None  # a sync within one system is SM118; its sides cannot be told apart
        pair = PairModel(sync, left, right, ARROW_DIRECTION[sync.arrow])
        # Each side of a rule belongs to its own object: a qualifier naming the other system is
        # an error (SM207), not a way to reach across.
        lscope, rscope = Scope((left,)), Scope((right,))
        source = {"left_to_right": lscope, "right_to_left": rscope, "both": Scope((left, right))}[pair.direction]
        scopes = _Scopes(lscope, rscope, source)
        for st in sync.statements:
            _STATEMENTS[type(st)](self, pair, st, scopes)
        return pair

    # Every statement kind has a handler `(pair, statement, scopes)`: `_STATEMENTS` below.

    def _match(self, pair: PairModel, st: ast.Match, scopes: _Scopes) -> None:
        group = len({m.group for m in pair.matches})
        before = len(pair.matches)
        for key in st.keys:
            self.match_key(pair, key, scopes.left, scopes.right)
        for m in pair.matches[before:]:
            m.group, m.statement = group, st

    def _where(self, pair: PairModel, st: ast.Where, scopes: _Scopes) -> None:
        self.condition(st.condition, scopes.source)
        pair.filters.append((st.condition, None, st))

    def _empty(self, pair: PairModel, st: ast.Empty, scopes: _Scopes) -> None:
        pair.empty, pair.empty_node = st.policy, st
        skipping = [s for s in (pair.left, pair.right) if s.catalog.rules_of("empty_values_skipped", object=s.object) and pair.flows_into(s)]
        if st.policy == "write" and skipping:
            self.out.append(
                _diag(
                    EMPTY_WRITES,
                    f"empty values would be written to {skipping[0].catalog.display_name}",
                    st.span,
                    "blanks fields",
                    "use `empty skip`",
                    WARNING,
                )
            )

    def _conflict(self, pair: PairModel, st: ast.Conflict, scopes: _Scopes) -> None:
        self.conflict_words(pair, st.policy)
        pair.conflict, pair.conflict_node = st.policy.words, st

    def conflict_words(self, pair: PairModel, policy: ast.ConflictPolicy) -> None:
        if len(policy.words) == 2 and policy.words[0] not in (pair.left.system, pair.right.system, "newest"):  # `newest wins`: SM113
            self.out.append(
                _diag(
                    BAD_POLICY_SYSTEM,
                    f"`{policy.words[0]}` is not part of this sync",
                    policy.span,
                    "not in the pair",
                    f"write `conflict {pair.left.system} wins` or `conflict {pair.right.system} wins`",
                )
            )

    def rule(self, pair: PairModel, rule: ast.FieldRule, scopes: _Scopes) -> None:
        lscope, rscope = scopes.left, scopes.right
        lval = self.value(rule.left, lscope)
        rval = self.value(rule.right, rscope)
        flows = [d for d in ("left_to_right", "right_to_left") if rule.arrow in ("<->", _ARROW_OF[d])]
        # A default stands in for an empty source value: each half of a two-way rule reads it on
        # its own source side (one error about a name is enough).
        defaults: dict[str, Val | None] = {}
        for d in flows:
            if rule.default is not None and None not in defaults.values():
                defaults[d] = self.value(rule.default, lscope if d == "left_to_right" else rscope)
        if rule.conflict is not None:
            self.conflict_words(pair, rule.conflict)
        if lval is None or rval is None:
            pair.mentioned.extend(ref for val in (lval, rval) if val is not None for ref in val.reads)
            return
        halves = [(rval, lval, d) if d == "left_to_right" else (lval, rval, d) for d in flows]
        if pair.direction != "both" and ARROW_DIRECTION[rule.arrow] != pair.direction:
            self.out.append(
                _diag(
                    RULE_AGAINST_SYNC,
                    f"this rule flows `{rule.arrow}` but the sync only flows `{pair.sync.arrow}`",
                    rule.arrow_span,
                    "against the sync's direction",
                    "make the sync two-way (`<->`), or point the rule the way the sync flows",
                )
            )
            halves = [h for h in halves if h[2] == pair.direction]
        for target_val, source_val, direction in halves:
            if target_val.kind != "field":
                continue
            target = target_val.reads[0]
            write = Write(
                target, source_val, direction, rule, rule.transforms, defaults.get(direction), rule.conflict.words if rule.conflict else None
            )
            self.check_write(pair, write, target_node=rule.right if direction == "left_to_right" else rule.left)
            pair.writes.append(write)

    def assign(self, pair: PairModel, st: ast.Assign, scopes: _Scopes) -> None:
        if not isinstance(st.target, ast.Path) or st.target.segments[0].name == "this":
            return  # SM111, from the structural checks
        # One-way pairs write their destination; two-way pairs need a qualified target.
        if pair.direction == "both":
            scope = Scope((pair.left, pair.right))
        else:
            dest = pair.right if pair.direction == "left_to_right" else pair.left
            scope = Scope((dest,))
        target = self.field(st.target, scope)
        source = self.value(st.value, Scope((pair.left if target is not None and target.side is pair.right else pair.right,)))
        if target is None or source is None:
            return
        direction = "left_to_right" if target.side is pair.right else "right_to_left"
        write = Write(target, source, direction, st, create_only=st.is_default)
        self.check_write(pair, write, target_node=st.target)
        pair.writes.append(write)

    def check_write(self, pair: PairModel | None, write: Write, target_node: ast.Value) -> None:
        target, source = write.target, write.source
        span = target_node.span
        if target.is_relation:
            if target.through_relation:
                self.out.append(_diag(WRITE_THROUGH_RELATION, f"`{target.describe()}` belongs to a related record", span, "not this object"))
            return
        if target.through_relation:
            self.out.append(
                _diag(
                    WRITE_THROUGH_RELATION,
                    f"`{target.describe()}` is a field of a related {target.end_object}, which this sync does not write",
                    span,
                    "related record",
                    "make this side read-only (`->`), or sync that object in its own block",
                )
            )
            return
        spec = target.spec
        perms = target.side.spec.permissions
        if spec is not None and not spec.settable and (perms.create or perms.update):
            self.out.append(
                _diag(
                    READ_ONLY_FIELD,
                    f"{target.side.catalog.display_name} {target.side.spec.display_name} `{target.describe()}` is read-only",
                    span,
                    "cannot be written",
                    "read it only: point the arrow away from it",
                )
            )
        self.check_types(write, span)
        reaching, read = _literals(write)
        for lit in reaching:
            self.check_value_allowed(target, lit)
        if source.kind == "field":
            for lit in read:
                self.check_value_allowed(source.reads[0], lit)

    def check_types(self, write: Write, span: Span) -> None:
        src, dst = write.source, write.target
        has_map = any(isinstance(t, ast.MapTransform) for t in write.transforms)
        for t in write.transforms:
            if isinstance(t, ast.NamedTransform) and src.type is not None and src.type not in _TEXT_TYPES:
                self.out.append(_diag(TYPE_MISMATCH, f"`{t.name}` works on text, but the value is {src.type}", t.span, "needs text"))
        if src.kind == "null" or has_map or src.kind == "list":
            return
        source_type = src.type
        if src.kind == "this" or dst.is_relation:
            return
        lookup = dst.spec.lookup if dst.spec is not None else None
        if lookup is not None and source_type in _TEXT_TYPES:
            return  # given by name (`stage = "Qualified"`), looked up by the runtime
        if not compatible(source_type, dst.type):
            if src.kind == "literal" and isinstance(src.node, ast.Literal) and dst.type in ("date", "datetime") and src.node.kind == "string":
                return
            self.out.append(
                _diag(
                    TYPE_MISMATCH,
                    f"{_article(source_type)} {source_type} value cannot be written into `{dst.describe()}`, which holds {dst.type}",
                    span,
                    f"{dst.type} field",
                    "add `with map { … }`, or map a field of the same type",
                )
            )

    def match_key(self, pair: PairModel, key: ast.MatchKey, lscope: Scope, rscope: Scope) -> None:
        if key.right is None and isinstance(key.left, ast.Path):
            self.shorthand_key(pair, key, key.left, lscope, rscope)
            return
        lval = self.value(key.left, lscope)
        rval = self.value(key.right, rscope) if key.right is not None else None
        if lval is None or (key.right is not None and rval is None):
            return
        relations = [(side, v.reads[0]) for side, v in ((pair.left, lval), (pair.right, rval)) if v is not None and _names_relation(v)]
        for side, ref in relations:
            pair.relation_edges.append((side.system, side.object, ref.end_object))
        # A key compares two values, whichever side each stands on: their types fit if either
        # could be written into the other (two relations compare their partners, not values).
        if rval is not None and len(relations) < 2 and not (compatible(lval.type, rval.type) or compatible(rval.type, lval.type)):
            self.out.append(_diag(TYPE_MISMATCH, f"cannot match {lval.type} with {rval.type}", key.span, "different types"))
        pair.matches.append(MatchModel(lval, rval, "relation" if relations else "field", key))

    def shorthand_key(self, pair: PairModel, key: ast.MatchKey, path: ast.Path, lscope: Scope, rscope: Scope) -> None:
        """`match person`: a relation of either side whose target is paired with the other side
        (the key then stands on the relation's side, and nothing on the other), or a field both
        sides have. Either order of the sides reads the same key."""
        lref, _ = resolve_field(path, lscope, systems=self.systems)
        rref, _ = resolve_field(path, rscope, systems=self.systems)
        if (lref is not None and lref.is_relation) or (rref is not None and rref.is_relation):
            ends = [(side, ref) for side, ref in ((pair.left, lref), (pair.right, rref)) if ref is not None and ref.is_relation]
            for side, ref in ends:
                self.resolved.append(ref)
                pair.relation_edges.append((side.system, side.object, ref.end_object))
            self.refs[id(path)] = ends[0][1]
            left, right = (Val("field", "id", (ref,), path) if ref is not None and ref.is_relation else None for ref in (lref, rref))
            pair.matches.append(MatchModel(left, right, "relation", key))
            return
        if lref is None or rref is None:
            lval = self.value(path, lscope) if lref is None else None
            if lval is not None or lref is not None:
                self.value(path, rscope)
            return
        pair.matches.append(MatchModel(Val("field", lref.type, (lref,), path), Val("field", rref.type, (rref,), path), "field", key))
        self.resolved.extend((lref, rref))

    def link(self, pair: PairModel, st: ast.Link, scopes: _Scopes) -> None:
        left = self.field(st.left, scopes.left)
        right = self.field(st.right, scopes.right)
        if left is None or right is None:
            return
        problem = self.link_problem(left, right)
        if problem is not None:
            node, message, label, help_ = problem
            span = st.span if node is None else (st.left if node is left else st.right).span
            self.out.append(_diag(BAD_LINK, message, span, label, help_))
            return
        keepers = [r for r in (left, right) if not _is_identity(r)]
        pair.link = (left, right)
        pair.link_node = st
        pair.link_keeper = keepers[0]

    @staticmethod
    def link_problem(left: FieldRef, right: FieldRef) -> tuple[FieldRef | None, str, str, str] | None:
        """R11: a link is one side's id kept in a custom field of the other, as a `link_field`
        rule of the id's catalog allows (Autopilot's contact id in a Pipedrive person's custom
        field, "apId"). That is the only link the runtime writes: it creates the custom field if
        missing and writes the partner's id into it once. So the id is the id of the pair's own
        object on one side, and the field keeping it lives on the pair's object on the other
        side, the object the rule names (`partner_object`): a deal's "apId" holding a contact id
        would be a person field read on the wrong record. None when the link is one; else the
        field to point at (None: the whole line), the message, the label and the help."""
        ids = [r for r in (left, right) if _is_identity(r)]
        keepers = [r for r in (left, right) if not _is_identity(r)]
        generic = (
            None,
            "`link` keeps one side's id in a custom field of the other, where its catalog says a link can be kept",
            "cannot keep the link",
            'write `link pipedrive.custom("apId") = autopilot.contact_id`',
        )
        if len(ids) != 1 or not keepers[0].is_custom:  # one id, so one keeper
            return generic
        (id_ref,), (keeper,) = ids, keepers
        id_field = id_ref.side.spec.identity.key
        rules = [
            rule
            for rule in id_ref.side.catalog.rules_of("link_field", object=id_ref.side.object)
            if rule.get("field") == id_field and rule.get("partner") == keeper.side.system
        ]
        if not rules:
            return generic
        objects = [str(rule["partner_object"]) for rule in rules if rule.get("partner_object")]
        held = objects[0] if len(objects) == len(rules) else keeper.side.object
        # the relation this object reaches the link's object by, to pair through it instead
        relation = next((r for r in keeper.side.spec.relations if r.target == held and r.cardinality == "one"), None)
        help_ = (
            f"keep the link in the sync of {keeper.side.system}.{held} with {id_ref.side}"
            + (f", and pair through it here: `match {relation.name}`" if relation is not None else "")
            if held != keeper.side.object
            else f'name the field on the {held} itself: `link {keeper.side.system}.custom("{keeper.custom_name}") = {id_ref.side.system}.{id_field}`'
        )
        for ref in (id_ref, keeper):
            if ref.hops:
                return (
                    ref,
                    f"`{ref.describe()}` is on a related {ref.end_object}: a link keeps the id of this sync's "
                    f"{id_ref.side.catalog.display_name} {id_ref.side.spec.display_name} in a field of its "
                    f"{keeper.side.catalog.display_name} {keeper.side.spec.display_name}",
                    "not an object of this sync",
                    help_,
                )
        if keeper.side.object not in objects and len(objects) == len(rules):
            other = keeper.side.spec.display_name
            return (
                keeper,
                f"{id_ref.side.catalog.display_name} {id_ref.side.spec.display_name} `{id_field}` is kept in a field of "
                f"{_article(held.lower())} {keeper.side.catalog.display_name} {held}, not of {_article(other.lower())} {other}: "
                f"{_article(other.lower())} {other} does not hold the id of its {id_ref.side.spec.display_name}",
                f"{_article(other.lower())} {other} field",
                help_,
            )
        return None

    def only(self, pair: PairModel, st: ast.Only, scopes: _Scopes) -> None:
        target = pair.side(st.toward)
        if target is None:
            self.out.append(_diag(BAD_POLICY_SYSTEM, f"`{st.toward}` is not part of this sync", st.span, "not in the pair"))
            return
        source = pair.right if target is pair.left else pair.left
        self.condition(st.scope, Scope((source,), (target,)))
        pair.scopes.append((st, target))

    def deletes(self, pair: PairModel, st: ast.Deletes, scopes: _Scopes) -> None:
        pair.deletes = st
        if st.arrow not in ("->", "<-") or st.target is None:
            return  # `deletes never`, or a two-way arrow (SM113)
        for name in (st.source, st.target):
            if pair.side(name) is None:
                self.out.append(_diag(BAD_POLICY_SYSTEM, f"`{name}` is not part of this sync", st.span, "not in the pair"))
                return
        if st.source == st.target:
            self.out.append(
                _diag(
                    BAD_POLICY_SYSTEM,
                    f"deletions flow from one system of the pair to the other, not from `{st.source}` to itself",
                    st.span,
                    "the same system twice",
                    f"name both systems of the pair (`deletes {pair.left.system} -> {pair.right.system}`), or write `deletes never`",
                )
            )
            return
        target = pair.side(st.target) if st.arrow == "->" else pair.side(st.source)
        origin = pair.side(st.source) if st.arrow == "->" else pair.side(st.target)
        assert target is not None and origin is not None
        if not pair.flows_into(target):
            self.out.append(
                _diag(
                    RULE_AGAINST_SYNC,
                    f"deletions would flow into {target.catalog.display_name}, but the sync only writes {origin.catalog.display_name}",
                    st.span,
                    "against the sync's direction",
                    f"write `deletes {target.system} -> {origin.system}` or `deletes never`",
                )
            )
            return
        if target.catalog.rules_of("deletes_only_from_here", object=target.object) or not target.spec.permissions.delete:
            self.out.append(
                _diag(
                    DELETES_TOWARD_PIPEDRIVE if target.catalog.rules_of("deletes_only_from_here", object=target.object) else SYNC_PERMISSION,
                    f"deletions may not flow from {origin.catalog.display_name} to {target.catalog.display_name} {target.spec.plural or target.object}",
                    st.span,
                    "not allowed",
                    f"write `deletes {target.system} -> {origin.system}` or `deletes never`",
                )
            )

    def owner(self, pair: PairModel, st: ast.OwnerDefault, scopes: _Scopes) -> None:
        pair.owner = st
        v = st.value
        ok = False
        if isinstance(v, ast.Path):
            builtin = builtin_of(v, self.systems)
            problem = builtin_problem(v, builtin, Scope((pair.left, pair.right))) if builtin is not None else None
            if problem is not None:
                self.out.append(problem)
                return
            if builtin in ("me", "user"):
                system = v.segments[0].name
                side = pair.side(system)
                ok = side is not None and owner_field(side) is not None
        elif isinstance(v, ast.Literal) and v.kind == "number" and isinstance(v.value, int) and v.value > 0:
            ok = any(owner_field(s) is not None for s in (pair.left, pair.right))
        if not ok:
            self.out.append(
                _diag(
                    BAD_OWNER,
                    '`owner default` needs `SYSTEM.me`, a user id or `SYSTEM.user("Name")` of a side that has owners',
                    st.span,
                    "cannot own records",
                    "write `owner default pipedrive.me`",
                )
            )

    # ------------------------------------------------------------ rules across a pair

    def pair_rules(self, pair: PairModel, pairs: list[PairModel], whole: bool) -> None:
        """Every rule about one pair. A second block of the same two objects (SM104) is only a
        fragment of the pair: what the pair as a whole needs (pairing, scope, permissions,
        required fields) is checked on the first block, not reported again for the fragment."""
        self.written_twice(pair.writes)
        pair.creating = {str(side) for side in (pair.left, pair.right) if self.creates_on(pair, side)}
        pair.implied = implied_key_writes(pair)
        if whole:
            self.pairing(pair)
            self.permissions(pair)
            self.inbound_scope(pair)
            self.required(pair)
            self.activity_relation(pair, pairs)
            self.time_identity(pair)
            self.contradictions(pair)
        self.unsplittable(pair.writes)

    def written_twice(self, writes: list[Write]) -> None:
        seen: dict[tuple[tuple[Hashable, ...], bool], Write] = {}
        for w in writes:
            key = (w.target.target_key, w.create_only)
            if key in seen and seen[key].rule == w.rule:
                continue  # an identical rule repeated: SM106 already says so
            if key in seen:
                first = seen[key]
                self.out.append(
                    _diag(
                        WRITTEN_TWICE,
                        f"`{w.target.describe()}` is written by two rules",
                        w.rule.span,
                        "written again here",
                        "keep one rule per field",
                        extra=(Label(first.rule.span, "first written here"),),
                    )
                )
            else:
                seen[key] = w

    def link_owned(self, pairs: list[PairModel], actions: list[ActionModel]) -> None:
        """R11: the field a `link` keeps the partner's id in is written by the link alone, so
        every other writer of it (a rule in either direction, a default, an action) is a second
        writer, whatever its direction or whether it only writes on creation."""
        owners = {p.link_keeper.target_key: p.link_node for p in pairs if p.link_keeper is not None and p.link_node is not None}
        writes = [w for p in pairs for w in p.writes] + [w for a in actions for s in a.steps for w in s.writes]
        for w in writes:
            link = owners.get(w.target.target_key)
            if link is not None:
                self.out.append(
                    _diag(
                        WRITTEN_TWICE,
                        f"`{w.target.describe()}` is kept by `link`, which is its only writer",
                        w.rule.span,
                        "written again here",
                        "remove this rule: the link writes the partner's id there",
                        extra=(Label(link.span, "written by the link here"),),
                    )
                )

    def related_pairing(self, pairs: list[PairModel]) -> None:
        """R9, R17: a key or rule through a relation translates a related record into its
        partner, which only a sync of the two related objects can provide."""
        paired = {frozenset({str(p.left), str(p.right)}) for p in pairs}
        for pair in pairs:
            for node, (ref, far) in _through_relations(pair):
                if frozenset({f"{ref.side.system}.{ref.end_object}", far}) in paired:
                    continue
                cat = ref.side.catalog
                near = f"{ref.side.system}.{ref.end_object}"
                end = cat.object(ref.end_object)
                assert end is not None  # a resolved path ends at an object of its catalog
                self.out.append(
                    _diag(
                        RELATION_NOT_PAIRED,
                        f"`{ref.describe()}` leads to {cat.display_name} {end.display_name} records, but no sync pairs {near} with {far}",
                        node.span,
                        "nothing pairs these",
                        f"add `sync {near} <-> {far} {{ … }}` to this mapping or a file it includes",
                    )
                )

    def contradictions(self, pair: PairModel) -> None:
        """R16, R19 and plain logic: for each way records flow, the `where` lines, the `only`
        lines toward that side and the catalogs' own filters must be able to hold together.
        Each statement is added in order; the first one that makes them contradictory is
        reported, with what it contradicts."""
        for target in (pair.left, pair.right):
            if not pair.flows_into(target):
                continue
            source = pair.right if target is pair.left else pair.left
            implicit = self.implicit_filters(pair, source)
            fixed = [f for f, _ in implicit]
            statements: list[tuple[ast.Condition, ast.Where | ast.Only, str]]
            statements = [(cond, st, f"where {render_condition(cond)}") for cond, _, st in pair.filters]
            statements += [(st.scope, st, f"only {render_condition(st.scope)} -> {st.toward}") for st, side in pair.scopes if side is target]
            kept: list[tuple[sat.Formula, ast.Where | ast.Only, str]] = []
            for cond, st, text in statements:
                f = sat.formula(cond, self.term)
                if sat.satisfiable(fixed + [g for g, _, _ in kept] + [f]):
                    kept.append((f, st, text))
                    continue
                self.out.append(self.contradiction(f, st, text, implicit, kept))

    def contradiction(
        self,
        f: sat.Formula,
        st: ast.Where | ast.Only,
        text: str,
        implicit: list[tuple[sat.Formula, RuleSpec]],
        kept: list[tuple[sat.Formula, ast.Where | ast.Only, str]],
    ) -> Diagnostic:
        if not sat.satisfiable([f]):
            return _diag(UNSATISFIABLE_FILTER, f"`{text}` can never be true", st.span, "never true", "remove it, or write the condition you meant")
        for g, rule in implicit:
            if not sat.satisfiable([g, f]):
                return _diag(
                    UNSATISFIABLE_FILTER,
                    f'`{text}` contradicts a filter the product always applies: "{rule.seed}" ({", ".join(rule.r)})',
                    st.span,
                    "never true with the product's filter",
                    "remove it: the product already filters these records",
                )
        fixed = [g for g, _ in implicit]
        for g, earlier, earlier_text in kept:
            if not sat.satisfiable(fixed + [g, f]):
                return _diag(
                    UNSATISFIABLE_FILTER,
                    f"`{text}` contradicts `{earlier_text}`",
                    st.span,
                    "never true with the other condition",
                    "keep the condition you meant",
                    extra=(Label(earlier.span, "contradicted condition"),),
                )
        return _diag(
            UNSATISFIABLE_FILTER,
            f"`{text}` contradicts the conditions before it",
            st.span,
            "never true with the others",
            "keep the conditions you meant",
        )

    def implicit_filters(self, pair: PairModel, source: Side) -> list[tuple[sat.Formula, RuleSpec]]:
        """The catalogs' filters on a flow out of `source`: (formula, rule)."""
        out: list[tuple[sat.Formula, RuleSpec]] = []
        for rule in source.catalog.rules_of("sync_out_filter", object=source.object):
            out.append((sat.equals(_var_of(_catalog_ref(source, rule["where"]["field"])), rule["where"]["equals"]), rule))
        for side in (pair.left, pair.right):
            for rule in side.catalog.rules_of("pairing_requires", object=side.object):
                out.append((sat.present(_var_of(_catalog_ref(side, rule["field"]))), rule))
        return out

    def term(self, value: ast.Value) -> sat.Term:
        """What a value in a condition is, for the satisfiability check."""
        if isinstance(value, ast.Literal):
            return sat.Const(value.value)
        if not isinstance(value, ast.Path):
            return None
        builtin = builtin_of(value, self.systems)
        if builtin == "linked":
            return sat.Flag("linked")
        if builtin == "new":
            return sat.Negated(sat.Flag("linked"))
        if builtin == "list":
            return sat.Flag(("list", render_value(value)))
        if builtin is not None:
            return None
        ref = self.refs.get(id(value))
        return _var_of(ref) if ref is not None else None

    def pairing(self, pair: PairModel) -> None:
        if not pair.matches and pair.link is None:
            self.out.append(
                _diag(
                    NO_PAIRING,
                    f"nothing says which {pair.left.object} is which {pair.right.object}",
                    pair.sync.span,
                    "no match or link",
                    "add `match …` (e.g. `match email.primary = Email`)",
                )
            )

    def scoped(self, pair: PairModel, side: Side, word: str) -> bool:
        for st, target in pair.scopes:
            if (
                target is side
                and isinstance(st.scope, ast.Truthy)
                and isinstance(st.scope.value, ast.Path)
                and builtin_of(st.scope.value, self.systems) == word
            ):
                return True
        return False

    def permissions(self, pair: PairModel) -> None:
        for side in (pair.left, pair.right):
            if not pair.flows_into(side):
                continue
            perms = side.spec.permissions
            name = f"{side.catalog.display_name} {side.spec.plural or side.object}"
            if not perms.create and not perms.update:
                self.out.append(
                    _diag(
                        SYNC_PERMISSION,
                        f"a sync may only read {name} ({perms.describe()})",
                        pair.sync.span,
                        "writes a read-only object",
                        "turn the sync around so it only reads them",
                    )
                )
                continue
            if not perms.create and not self.scoped(pair, side, "linked"):
                self.out.append(
                    _diag(
                        SYNC_PERMISSION,
                        f"this sync would create {name}, which a sync may not ({perms.describe()})",
                        pair.sync.span,
                        "would create",
                        f"add `only linked -> {side.system}` so it only updates paired records",
                    )
                )
            if not perms.update and not self.scoped(pair, side, "new"):
                self.out.append(
                    _diag(
                        SYNC_PERMISSION,
                        f"this sync would update {name}, which a sync may not ({perms.describe()})",
                        pair.sync.span,
                        "would update",
                        f"add `only new -> {side.system}` so it only creates records",
                    )
                )

    def inbound_scope(self, pair: PairModel) -> None:
        for side in (pair.left, pair.right):
            other = pair.right if side is pair.left else pair.left
            for rule in side.catalog.rules_of("inbound_scope_list", object=side.object):
                if rule.get("partner") != other.system or not pair.flows_into(other):
                    continue
                has_list = any(target is other and _mentions_list(st.scope, self.systems) for st, target in pair.scopes)
                if not has_list and not self.scoped(pair, other, "linked"):
                    self.out.append(
                        _diag(
                            MISSING_SCOPE,
                            f"every {side.catalog.display_name} contact would reach {other.catalog.display_name}",
                            pair.sync.span,
                            "no list scope",
                            f'add `only {side.system}.list("{rule.get("list")}") -> {other.system}`',
                        )
                    )

    def required(self, pair: PairModel) -> None:
        """R23: "Required fields must be mapped in Bedrock in order for records to sync as
        expected." A side the pair can create records on needs every required field written into
        it, in that direction (defaults and the implied write of a match key count: they are
        written on creation). A required field marked `in_every_direction` (a Deal's Expected
        Close, an Activity's Marked as Done Time) must be mapped by every pair of its object,
        whichever way it flows: a deal without it is never paired, an activity is synced out once
        done. Any other required field of a side that only flows out (persons synced out to
        Autopilot) is a warning: the records still sync, without a value the table asks for."""
        written: dict[str, set[str]] = {str(pair.left): set(), str(pair.right): set()}
        mapped: dict[str, set[str]] = {str(pair.left): set(), str(pair.right): set()}
        for w in pair.writes + pair.implied:
            if w.target.spec is not None and not w.target.through_relation:
                written[str(w.target.side)].add(w.target.spec.name)
        read = [ref for w in pair.writes for ref in (w.target, *w.source.reads)]
        read += [ref for m in pair.matches for val in (m.left, m.right) if val is not None for ref in val.reads]
        for ref in read + pair.mentioned:  # a rule that failed to resolve: its own error says enough
            if ref.spec is not None and not ref.hops:
                mapped[str(ref.side)].add(ref.spec.name)
        for ref in pair.mentioned:
            if ref.spec is not None and not ref.hops:
                written[str(ref.side)].add(ref.spec.name)
        for side in (pair.left, pair.right):
            other = pair.right if side is pair.left else pair.left
            for req in side.spec.required:
                if str(side) in pair.creating:
                    if req.field not in written[str(side)]:
                        self.out.append(self.required_on_create(pair, side, other, req))
                elif req.field not in mapped[str(side)] and (req.in_every_direction or pair.flows_into(other)):
                    self.out.append(self.required_mapped(pair, side, other, req))

    @staticmethod
    def required_on_create(pair: PairModel, side: Side, other: Side, req: RequiredField) -> Diagnostic:
        arrow = "<-" if side is pair.left else "->"
        return _diag(
            REQUIRED_NOT_MAPPED,
            f"{side.catalog.display_name} {side.spec.display_name} requires `{req.field}` ({req.seed}), but this sync "
            f"can create one from {_article(other.catalog.display_name.lower())} {other.catalog.display_name} "
            f"{other.spec.display_name} and nothing writes it {other.system} -> {side.system}",
            pair.sync.span,
            f"creates {side.spec.plural or side.object} without `{req.field}`",
            f"write `{req.field}` toward {side.system} ({arrow} or <->) in this block, or give it a `default`",
        )

    @staticmethod
    def required_mapped(pair: PairModel, side: Side, other: Side, req: RequiredField) -> Diagnostic:
        """A required field no rule or match key of the pair maps, on a side the pair does not
        create on: an error for a field needed in every direction, else a warning."""
        table = next((r.seed for r in side.catalog.rules_of("required_must_be_mapped")), "")
        plural = side.spec.plural or side.object
        # The rule in the block's own order of sides and arrow: `expected_close_date -> …`.
        example = f"`{req.field} {pair.sync.arrow} …`" if side is pair.left else f"`… {pair.sync.arrow} {req.field}`"
        if req.in_every_direction:
            return _diag(
                REQUIRED_NOT_MAPPED,
                f"{side.catalog.display_name} {side.spec.display_name} requires `{req.field}` ({req.seed}) whichever way "
                f'the sync flows, and no rule of this sync maps it; the sync table: "{table}"' + (f', "{req.note}"' if req.note else ""),
                pair.sync.span,
                f"{plural} without `{req.field}`",
                f"map `{req.field}` in this block, e.g. {example}",
            )
        return _diag(
            REQUIRED_NOT_SENT,
            f"{side.catalog.display_name} {side.spec.display_name} requires `{req.field}` ({req.seed}), but this sync "
            f'sends {plural} to {other.catalog.display_name} without it; the sync table: "{table}"',
            pair.sync.span,
            f"{plural} flow out without `{req.field}`",
            f"map `{req.field}` in this block, e.g. {example}",
            WARNING,
        )

    def creates_on(self, pair: PairModel, side: Side) -> bool:
        """Whether the pair may create records on `side`: it flows there, the object may be
        created, and neither `only linked` nor the related record's pairing rules it out."""
        return pair.flows_into(side) and side.spec.permissions.create and not self.scoped(pair, side, "linked") and side is not pair.partner_side

    def activity_relation(self, pair: PairModel, pairs: list[PairModel]) -> None:
        for side in (pair.left, pair.right):
            for rule in side.catalog.rules_of("requires_relation", object=side.object):
                relation = rule.get("relation")
                configured = any(
                    m.kind == "relation"
                    and any(
                        r.is_relation and r.side is side and r.hops[-1].name == relation for v in (m.left, m.right) if v is not None for r in v.reads
                    )
                    for m in pair.matches
                )
                configured = configured or any(
                    w.target.is_relation and w.target.side is side and w.target.hops[-1].name == relation for w in pair.writes
                )
                if not configured:
                    self.out.append(
                        _diag(
                            MISSING_RELATION,
                            f"{side.catalog.display_name} {side.spec.plural or side.object} must be synced with their `{relation}` relationship",
                            pair.sync.span,
                            "no contact relationship",
                            f"add `match {relation}` or a rule writing `{relation}`",
                        )
                    )

    def time_identity(self, pair: PairModel) -> None:
        """R15: two objects that both dedupe by a time (done time / "Occurred At") pair by it."""
        rules = {}
        for side in (pair.left, pair.right):
            found = [r for r in side.catalog.rules_of("dedupe_identity", object=side.object) if r.get("partner_label")]
            if not found:
                return
            rules[side.system] = found[0]
        want = (rules[pair.left.system]["field"], rules[pair.right.system]["field"])
        if not pair.matches and pair.link is None:
            return  # no pairing at all: SM312
        # Every `match` line is an alternative the runtime may pair by, so each needs the time.
        groups: dict[int, set[tuple[str | None, str | None]]] = {}
        lines: dict[int, ast.Match | None] = {}
        for m in pair.matches:
            keys = groups.setdefault(m.group, set())
            lines.setdefault(m.group, m.statement)
            if m.left is None or m.right is None or m.left.kind != "field" or m.right.kind != "field":
                continue
            left, right = m.left.reads[0], m.right.reads[0]
            keys.add((left.spec.name if left.spec else None, right.spec.name if right.spec else None))
        lacking = [g for g, keys in groups.items() if want not in keys]
        if groups and not lacking:
            return
        where = lines.get(lacking[0]) if lacking else None
        l_rel = rules[pair.left.system].get("scope_relation")
        r_rel = rules[pair.right.system].get("scope_relation")
        self.out.append(
            _diag(
                ACTIVITY_IDENTITY,
                f"{pair.left.catalog.display_name} and {pair.right.catalog.display_name} {pair.right.spec.plural or pair.right.object} must pair by `{want[0]}` = `{want[1]}`",
                where.span if where is not None else pair.sync.span,
                "pairs by something else",
                f"write `match {l_rel} = {r_rel}, {want[0]} = {want[1]}`" + (" on every `match` line" if len(groups) > 1 else ""),
            )
        )

    def one_to_many(self) -> None:
        """R22, wherever a path is used: every path resolved anywhere in the mapping (rules,
        format strings, match keys, conditions, defaults, actions) passed through `resolved`."""
        for ref in self.resolved:
            if ref.resolved is not None and ref.resolved.ok and ref.resolved.to_many_hops:
                hop = ref.resolved.to_many_hops[0]
                self.out.append(
                    _diag(
                        ONE_TO_MANY,
                        f"`{ref.describe()}` goes through `{hop.name}`, which has many {hop.target} records",
                        ref.span,
                        "one-to-many",
                        "map from the other object's side instead",
                        WARNING,
                    )
                )

    def unsplittable(self, writes: list[Write]) -> None:
        """R21 on every object: a field the catalog marks unsplittable (a user's full name,
        reached through any owner or creator relation; Autopilot's `owner_name`) goes whole to
        one field, never through a format string or a transform, nor into a name part."""
        by_source: dict[tuple[str, tuple[str, ...]], list[Write]] = {}
        for w in writes:
            for ref in w.source.reads:
                if ref.spec is not None and ref.spec.unsplittable:
                    by_source.setdefault((str(ref.side), ref.segments), []).append(w)
        for (_, segments), group in by_source.items():
            parts = [w for w in group if _looks_like_name_part(w.target)]
            if len(group) > 1 or parts or any(w.source.kind == "format" for w in group) or any(w.transforms for w in group):
                w = (parts or group[1:] or group)[0]
                self.out.append(
                    _diag(
                        SPLIT_FULL_NAME,
                        f"`{'.'.join(segments)}` is one full name and cannot be split",
                        w.rule.span,
                        "splits the owner's name",
                        "map it whole to one field such as `owner_name`",
                    )
                )

    # ------------------------------------------------------------ stages

    def stages(self, pairs: list[PairModel]) -> list[str]:
        order: list[str] = []
        for system, cat in sorted(self.catalogs.items()):
            used = {p.left.object for p in pairs if p.left.system == system} | {p.right.object for p in pairs if p.right.system == system}
            if not used:
                continue
            extra: dict[str, list[str]] = {}
            for p in pairs:
                for edge_system, src, dst in p.relation_edges:
                    if edge_system == system and dst != src:
                        extra.setdefault(src, []).append(dst)
            # Objects only reached through relations (`owner.name` reads Users) take part in the
            # order too: the runtime loads them before the pairs that read them.
            reached = set(used) | {d for ds in extra.values() for d in ds}
            reached |= {hop.target for ref in self.refs.values() if ref.side.system == system for hop in ref.hops}
            try:
                names = dependency_order(cat, sorted(reached, key=cat.object_names().index), extra)
            except DependencyCycleError as exc:
                culprit = next(
                    (p for p in pairs if any(sy == system and src in exc.chain and dst in exc.chain for sy, src, dst in p.relation_edges)), pairs[0]
                )
                self.out.append(
                    _diag(
                        DEPENDENCY_CYCLE,
                        f"{cat.display_name} objects depend on each other in a cycle: {' -> '.join(exc.chain)}",
                        culprit.sync.span,
                        "closes the cycle",
                        "match one of these objects without going through the other",
                    )
                )
                names = sorted(reached, key=cat.object_names().index)
            order.extend(f"{system}.{n}" for n in names)
        return order

    # ------------------------------------------------------------ actions

    def action(self, act: ast.Action, connects: dict[str, ast.Connect]) -> ActionModel | None:
        on = self.side(act.on)
        self.require_connected(act.on, connects)
        if on is None:
            return None
        steps = []
        for step in act.steps:
            target = self.side(step.target)
            self.require_connected(step.target, connects)
            if target is None:
                continue
            if step.where is not None:
                self.condition(step.where, Scope((target,), (on,), this=on))
            writes = []
            for a in step.assigns:
                if not isinstance(a.target, ast.Path) or a.target.segments[0].name == "this":
                    continue  # SM111, from the structural checks
                ref = self.field(a.target, Scope((target,)))
                val = self.value(a.value, Scope((on,), this=on))
                if ref is None or val is None:
                    continue
                w = Write(ref, val, "action", a, create_only=a.is_default)
                self.check_write(None, w, a.target)
                writes.append(w)
            self.written_twice(writes)
            self.unsplittable(writes)
            spec = self.step_action(act, step, target, writes)
            creates = step.verb in ("create", "upsert")
            steps.append(StepModel(step, target, writes, creates, spec))
        return ActionModel(act, on, steps)

    def step_action(self, act: ast.Action, step: ast.Step, target: Side, writes: list[Write]) -> str | None:
        """Check a step against the catalog actions; the FAQ's names pin verb, object and fields."""
        cat = target.catalog
        op = {"create": "create", "update": "update", "upsert": "update"}[step.verb]
        named = cat.action(act.name)
        if named is not None:
            wants_create = step.verb in ("create", "upsert")
            problems = []
            if named.target != target.object:
                problems.append(f'"{act.name}" works on {named.target}, not {target.object}')
            elif named.operation != op:
                verb = "upsert" if named.operation == "update" and named.creates_person_if_missing else named.operation
                problems.append(f'"{act.name}" is a{"n" if named.operation[0] in "aeiou" else ""} {named.operation} action: use `{verb}`')
            elif wants_create != named.creates_person_if_missing:
                problems.append(
                    f'"{act.name}" {"creates" if named.creates_person_if_missing else "never creates"} the person if missing, so use `{"upsert" if named.creates_person_if_missing and op == "update" else "create" if named.creates_person_if_missing else "update"}`'
                )
            for p in problems:
                self.out.append(_diag(BAD_ACTION, p, step.span, "contradicts the catalog's action", "see the action in docs/catalogs.md"))
            if named.fields:
                allowed = sorted(named.fields)
                for w in writes:  # each on its own line: the step itself is fine
                    if w.target.spec is not None and w.target.spec.name not in allowed:
                        self.out.append(
                            _diag(
                                BAD_ACTION,
                                f'"{act.name}" may only write {", ".join(allowed)}',
                                w.rule.span,
                                "not a field this action writes",
                                "see the action in docs/catalogs.md",
                            )
                        )
            return named.name
        offered = [a for a in cat.actions_on(target.object) if a.operation == op]
        if not offered:
            ops = sorted({f"{a.operation} {a.target}" for a in cat.actions})
            self.out.append(
                _diag(
                    BAD_ACTION,
                    f"{cat.display_name} offers no action that can {op} {target.spec.plural or target.object}",
                    step.span,
                    "not offered",
                    f"{cat.display_name} actions: {', '.join(ops)}",
                )
            )
        return None


@dataclass(frozen=True)
class _Scopes:
    """Where names resolve in a sync block: each side's own object, and the flow's source."""

    left: Scope
    right: Scope
    source: Scope


# the handler's statement argument is the key's type: a mapping of types mypy cannot spell
_STATEMENTS: dict[type[ast.Statement], Callable[[_Analyser, PairModel, Any, _Scopes], None]] = {
    ast.FieldRule: _Analyser.rule,
    ast.Assign: _Analyser.assign,
    ast.Match: _Analyser._match,
    ast.Link: _Analyser.link,
    ast.Only: _Analyser.only,
    ast.Where: _Analyser._where,
    ast.Deletes: _Analyser.deletes,
    ast.OwnerDefault: _Analyser.owner,
    ast.Empty: _Analyser._empty,
    ast.Conflict: _Analyser._conflict,
}


def owner_field(side: Side) -> str | None:
    """The field that holds a record's owner: the catalog's default_owner rule, else a user field."""
    for rule in side.catalog.rules_of("default_owner", object=side.object):
        owner: str = rule["field"]
        return owner
    return next((f.name for f in side.spec.fields if f.type == "user" and f.settable), None)


def _article(word: str | None) -> str:
    return "an" if (word or "x")[0] in "aeiou" else "a"


def _mentions_list(cond: ast.Condition, systems: set[str]) -> bool:
    if isinstance(cond, ast.Truthy):
        return isinstance(cond.value, ast.Path) and builtin_of(cond.value, systems) == "list"
    if isinstance(cond, ast.BoolOp):
        return any(_mentions_list(o, systems) for o in cond.operands) if cond.op == "and" else all(_mentions_list(o, systems) for o in cond.operands)
    return False


def _var_of(ref: FieldRef) -> sat.Var:
    name = ref.custom_name or (ref.spec.name if ref.spec is not None else ref.describe())
    values = tuple(ref.spec.value_names()) if ref.spec is not None and ref.spec.values else ()
    return sat.Var((str(ref.side), tuple(h.name for h in ref.hops), name, ref.selector), ref.type, values)


def _catalog_ref(side: Side, field_name: str) -> FieldRef:
    return FieldRef(side, (field_name,), resolve_path(side.catalog, side.object, [field_name]))


def _literals(write: Write) -> tuple[list[ast.Literal], list[ast.Literal]]:
    """The constants a write can put into its target (a constant source, the outputs of a value
    map, the default) and the constants a value map expects to read from its source. A map on
    the way back of a two-way rule is read backwards (SM116 made sure it can be)."""
    maps = [t for t in write.transforms if isinstance(t, ast.MapTransform)]
    backwards = isinstance(write.rule, ast.FieldRule) and write.rule.arrow == "<->" and write.direction == "right_to_left"
    reaching: list[ast.Value | None] = []
    read: list[ast.Value] = []
    for m in maps:
        for p in m.pairs:
            key, out = (p.value, p.key) if backwards else (p.key, p.value)
            reaching.append(out)
            read.append(key)
    if isinstance(write.source.node, ast.Literal) and not maps:
        reaching.append(write.source.node)
    if write.default is not None:
        reaching.append(write.default.node)
    # A name instead of a constant in a map is SM116 already.
    return [v for v in reaching if isinstance(v, ast.Literal)], [v for v in read if isinstance(v, ast.Literal)]


def _names_relation(val: Val) -> bool:
    return val.kind == "field" and val.reads[0].is_relation


def _through_relations(pair: PairModel) -> Iterator[tuple[ast.MatchKey | ast.FieldRule | ast.Assign, tuple[FieldRef, str]]]:
    """Every place `pair` finds a partner through a relation, as (node, (relation, far object)):
    the relation's records must be paired with the far object's. `match person` (the far
    object is the other side itself), `match person = contact`, and rules copying one relation
    into another (`person <- contact`)."""
    for m in pair.matches:
        if m.kind != "relation":
            continue
        ends = [v.reads[0] for v in (m.left, m.right) if v is not None and _names_relation(v)]
        if m.left is None or m.right is None:
            (ref,) = ends
            yield m.node, (ref, str(pair.right if ref.side is pair.left else pair.left))
        elif len(ends) == 2:
            ref, far = ends
            yield m.node, (ref, f"{far.side.system}.{far.end_object}")
    for w in pair.writes:
        if w.target.is_relation and w.source.kind == "field" and w.source.reads[0].is_relation:
            far = w.source.reads[0]
            yield w.rule, (w.target, f"{far.side.system}.{far.end_object}")


def implied_key_writes(pair: PairModel) -> list[Write]:
    """A record created because of a match carries the key it matched by: for every match key
    that is a plain field on both sides, a write on creation only into each side the pair
    creates on, unless a rule or default of the block already writes that field there (or the
    link keeps its partner's id in it). Without it, a contact created for a person matched by
    email would have no email, and the next run could not pair them again."""
    taken = {_written_field(w.target) for w in pair.writes}
    if pair.link_keeper is not None:
        taken.add(_written_field(pair.link_keeper))
    out: list[Write] = []
    for m in pair.matches:
        if m.kind != "field" or m.left is None or m.right is None or m.left.kind != "field" or m.right.kind != "field":
            continue
        for target_val, source_val, direction in ((m.right, m.left, "left_to_right"), (m.left, m.right, "right_to_left")):
            target = target_val.reads[0]
            if str(target.side) not in pair.creating or target.hops or _written_field(target) in taken:
                continue
            if target.spec is not None and not (target.spec.writable_on_create or target.spec.write_via is not None):
                continue  # an id or a read-only field: the system sets it
            taken.add(_written_field(target))
            out.append(Write(target, source_val, direction, m.node, create_only=True, implied=True))
    return out


def _written_field(ref: FieldRef) -> tuple[Hashable, ...]:
    """The field a write fills, whatever item of a list field it picks (`email.primary` and
    `email.work` fill the same `email`)."""
    return ref.target_key[:2] if ref.spec is not None else ref.target_key


_NAME_PART_WORDS = {"first", "last", "given", "family", "middle", "surname"}


def _looks_like_name_part(ref: FieldRef) -> bool:
    """A field for one part of a name (`first_name`, `FirstName`, "Owner Last Name"), told by
    its words, so that "Last Activity Owner" is not taken for one."""
    raw = ref.custom_name or (ref.spec.name if ref.spec else "")
    words = {w.lower() for w in re.findall(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])", raw)}
    return "surname" in words or ("name" in words and bool(words & _NAME_PART_WORDS))


def analyse(mappings: list[ast.Mapping], search_path: SearchPath = None) -> tuple[Model, list[Diagnostic]]:
    analyser = _Analyser(mappings, search_path)
    model = analyser.run()
    return model, analyser.out
