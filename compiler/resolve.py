"""Binding names in a mapping to the system catalogs.

A `Scope` says which object(s) unqualified paths in a position refer to; `resolve_value`
turns an AST value into a `Val` (its kind, vocabulary type and the field references it reads)
or reports why it cannot. Pure: catalogs are data, nothing here touches the outside world.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Literal

from syncmap.compiler import ast
from syncmap.compiler.catalog import TYPES, Catalog, FieldSpec, ObjectSpec, RelationSpec, ResolvedPath, resolve_path, suggest
from syncmap.compiler.codes import (
    AMBIGUOUS_NAME,
    BAD_CUSTOM_FIELD,
    BAD_PATH,
    BAD_REFERENCE,
    UNKNOWN_FIELD,
    UNKNOWN_PLACEHOLDER,
    WRONG_SIDE,
)
from syncmap.compiler.diagnostics import ERROR, Diagnostic, Label, Span
from syncmap.compiler.fmt import segment as render_segment
from syncmap.compiler.structure import format_placeholders

# Words usable as a condition on their own, meaning something about the pairing itself.
PAIRING_WORDS = {"linked", "new"}


@dataclass(frozen=True)
class Side:
    """One object of a pair (or the object an action reads from / writes to)."""

    system: str
    object: str
    catalog: Catalog

    @property
    def spec(self) -> ObjectSpec:
        spec = self.catalog.object(self.object)
        assert spec is not None
        return spec

    def __str__(self) -> str:
        return f"{self.system}.{self.object}"


@dataclass(frozen=True)
class FieldRef:
    """A resolved path: a standard field, a custom field, or a relation, on one side."""

    side: Side
    segments: tuple[str, ...]  # as written, without the system qualifier
    resolved: ResolvedPath | None  # None for a custom field directly on the object
    custom_name: str | None = None
    custom_type: str | None = None
    span: Span = field(default=ast.NO_SPAN, compare=False)

    @property
    def is_custom(self) -> bool:
        return self.custom_name is not None

    @property
    def is_relation(self) -> bool:
        return not self.is_custom and self.resolved is not None and self.resolved.ends_at_relation

    @property
    def hops(self) -> tuple[RelationSpec, ...]:
        return self.resolved.hops if self.resolved is not None else ()

    @property
    def through_relation(self) -> bool:
        if self.is_relation:
            return len(self.hops) > 1
        return bool(self.hops)

    @property
    def spec(self) -> FieldSpec | None:
        return None if self.is_custom or self.resolved is None else self.resolved.field

    @property
    def selector(self) -> str | None:
        return self.resolved.effective_selector if self.resolved is not None and not self.is_custom else None

    @property
    def type(self) -> str | None:
        if self.is_custom:
            return self.custom_type
        if self.is_relation:
            return "id"
        return self.spec.type if self.spec else None

    @property
    def end_object(self) -> str:
        return self.resolved.end_object if self.resolved is not None else self.side.object

    @cached_property
    def target_key(self) -> tuple[Hashable, ...]:
        """Identity of the written field: two writes with the same key collide."""
        side = (self.side.system, self.side.object)
        if self.is_custom:
            return (side, "custom", self.custom_name)
        if self.is_relation:
            return (side, "relation", self.hops[-1].name)
        spec = self.spec
        return (side, spec.name if spec else self.segments, self.selector)

    def describe(self) -> str:
        return ".".join(self.segments)


@dataclass(frozen=True)
class Val:
    """A resolved value: what it is, its vocabulary type (None = any), the fields it reads."""

    kind: Literal["field", "literal", "format", "date", "this", "list", "builtin", "null"]
    type: str | None
    reads: tuple[FieldRef, ...] = ()
    node: ast.Value | None = None  # what was written
    builtin: str | None = None  # `me`, `user`, `list`, `linked`, `new`


@dataclass
class Scope:
    """Where unqualified paths resolve: `primary` first; `others` only when qualified."""

    primary: tuple[Side, ...]
    others: tuple[Side, ...] = ()
    this: Side | None = None  # in actions: the record the action runs for (`this.Email`)

    def by_system(self, system: str) -> list[Side]:
        return [s for s in self.primary + self.others if s.system == system]


def _err(code: str, message: str, span: Span, label: str, help: str | None = None) -> Diagnostic:
    return Diagnostic(code, ERROR, message, span, (Label(span, label),), help)


def _custom_args(seg: ast.Segment) -> tuple[str | None, str | None, str | None]:
    """(name, type, problem) of a `custom(...)` segment."""
    args = seg.args or ()
    if not args or not isinstance(args[0], ast.Literal) or args[0].kind != "string" or not str(args[0].value).strip():
        return None, None, "`custom` takes the field's name in quotes first"
    type_ = None
    if len(args) > 1:
        t = args[1]
        if isinstance(t, ast.Path) and len(t.segments) == 1 and t.segments[0].args is None:
            type_ = t.segments[0].name
        elif isinstance(t, ast.Literal) and t.kind == "string":
            type_ = str(t.value)
        else:
            return None, None, "the second argument of `custom` is a type such as integer or date"
    if len(args) > 2:
        return None, None, "`custom` takes a name and a type"
    return str(args[0].value), type_, None


def _vocabulary(side: Side, type_: str) -> str | None:
    style = side.catalog.custom_field_style
    if type_ in TYPES:
        return type_
    return style.vocabulary_type(type_)


def resolve_custom(
    side: Side, seg: ast.Segment, span: Span, resolved: ResolvedPath | None, segments: tuple[str, ...]
) -> tuple[FieldRef | None, list[Diagnostic]]:
    name, type_, problem = _custom_args(seg)
    if problem:
        return None, [_err(BAD_CUSTOM_FIELD, problem, seg.span, "malformed", 'write custom("Field Name", type)')]
    end = side.catalog.object(resolved.end_object if resolved else side.object)
    if end is not None and not end.custom_fields:
        return None, [_err(BAD_CUSTOM_FIELD, f"{end.display_name} has no custom fields", seg.span, "no custom fields")]
    style = side.catalog.custom_field_style
    vocab = None
    if type_ is not None:
        vocab = _vocabulary(side, type_)
        if vocab is None or vocab not in style.allowed_types:
            allowed = ", ".join(style.allowed_types)
            return None, [
                _err(
                    BAD_CUSTOM_FIELD,
                    f"{side.catalog.display_name} custom fields cannot have type `{type_}`",
                    seg.span,
                    "unsupported type",
                    f"use one of: {allowed}",
                )
            ]
    elif style.style == "typed_name":
        return None, [
            _err(
                BAD_CUSTOM_FIELD,
                f"{side.catalog.display_name} keys custom fields by type: say which",
                seg.span,
                "needs a type",
                f'write custom("{name}", {style.allowed_types[0]}) with one of: {", ".join(style.allowed_types)}',
            )
        ]
    return FieldRef(side, segments, resolved, name, vocab, span), []


def resolve_path_in(side: Side, path: ast.Path, skip: int = 0) -> tuple[FieldRef | None, list[Diagnostic]]:
    """Resolve `path.segments[skip:]` on `side` (skip=1 drops a system qualifier)."""
    segs = path.segments[skip:]
    names = tuple(render_segment(s) for s in segs)
    if not segs:
        return None, [_err(UNKNOWN_FIELD, f"`{path.dotted}` names a system, not a field", path.span, "which field?")]
    last = segs[-1]
    if last.args is not None and last.name == "custom":
        resolved = None
        if len(segs) > 1:
            resolved = resolve_path(side.catalog, side.object, [s.name for s in segs[:-1]])
            if resolved.ok and not resolved.ends_at_relation:
                return None, [
                    _err(BAD_PATH, f"`{resolved.segments[-1]}` is a field, not a relation: it has no custom fields", segs[-1].span, "not a relation")
                ]
            if not resolved.ok:
                return None, [_path_error(side, path, skip, resolved)]
        return resolve_custom(side, last, path.span, resolved, names)
    for seg in segs:
        if seg.args is not None:
            return None, [
                _err(
                    UNKNOWN_FIELD,
                    f"`{seg.name}(…)` is not something a path can hold here",
                    seg.span,
                    "unknown call",
                    'paths hold field names, relations and custom("Name")',
                )
            ]
    resolved = resolve_path(side.catalog, side.object, [s.name for s in segs])
    if not resolved.ok:
        return None, [_path_error(side, path, skip, resolved)]
    return FieldRef(side, names, resolved, span=path.span), []


def _path_error(side: Side, path: ast.Path, skip: int, resolved: ResolvedPath) -> Diagnostic:
    err = resolved.error
    assert err is not None
    index = max(err.index, 0) + skip
    seg_span = path.segments[index].span if index < len(path.segments) else path.span
    code = UNKNOWN_FIELD if err.kind in ("unknown_name", "unknown_object", "empty") else BAD_PATH
    if err.kind == "unknown_name":
        obj = side.catalog.object(err.object or side.object)
        message = f"{side.catalog.display_name} {obj.display_name if obj else err.object} has no field `{err.segment}`"
    else:
        message = err.message[0].lower() + err.message[1:]
    help = f"did you mean `{err.suggestion}`?" if err.suggestion else ('use custom("Name") for a custom field' if code == UNKNOWN_FIELD else None)
    return _err(code, message, seg_span, "unknown field" if code == UNKNOWN_FIELD else "no such path", help)


def resolve_field(path: ast.Path, scope: Scope, *, systems: set[str]) -> tuple[FieldRef | None, list[Diagnostic]]:
    """Resolve a path in a scope, honouring a system qualifier (`pipedrive.custom("apId")`)."""
    first = path.segments[0].name
    if first == "this" and path.segments[0].args is None:
        if scope.this is None:
            return None, [
                _err(
                    UNKNOWN_FIELD,
                    "`this` is the record an action runs for; it means nothing here",
                    path.segments[0].span,
                    "not in an action",
                    "name the field directly",
                )
            ]
        return resolve_path_in(scope.this, path, skip=1)
    if first in systems and path.segments[0].args is None and len(path.segments) > 1:
        sides = scope.by_system(first)
        if not sides:
            allowed = sorted({s.system for s in scope.primary})
            return None, [
                _err(
                    WRONG_SIDE,
                    f"`{first}` is not the system on this side",
                    path.segments[0].span,
                    "wrong side",
                    f"this side belongs to {' or '.join(allowed)}",
                )
            ]
        return resolve_path_in(sides[0], path, skip=1)
    if len(scope.primary) == 1:
        return resolve_path_in(scope.primary[0], path)
    # Two candidate sides (a where clause in a two-way sync): the name must exist on one only.
    found = []
    for side in scope.primary:
        ref, _ = resolve_path_in(side, path)
        if ref is not None:
            found.append(ref)
    if len(found) == 1:
        return found[0], []
    where = " and ".join(str(s) for s in scope.primary)
    if found:
        return None, [
            _err(
                AMBIGUOUS_NAME,
                f"`{path.dotted}` could be a field of {where}",
                path.span,
                "which side?",
                f"qualify it, e.g. `{scope.primary[0].system}.{path.dotted}`",
            )
        ]
    hint = suggest(path.segments[0].name, [n for side in scope.primary for n in side.spec.names()])
    help = f"did you mean `{hint}`?" if hint else f"qualify it, e.g. `{scope.primary[0].system}.{path.dotted}`"
    return None, [
        _err(AMBIGUOUS_NAME, f"`{path.dotted}` is a field of neither {' nor '.join(str(s) for s in scope.primary)}", path.span, "which side?", help)
    ]


def literal_type(lit: ast.Literal) -> str | None:
    return {"string": "string", "number": "integer" if isinstance(lit.value, int) else "number", "boolean": "boolean", "null": None}[lit.kind]


def resolve_value(value: ast.Value, scope: Scope, *, systems: set[str]) -> tuple[Val | None, list[Diagnostic]]:
    if isinstance(value, ast.Literal):
        if value.kind == "string" and format_placeholders(str(value.value)):
            reads, diags = [], []
            for name in format_placeholders(str(value.value)) or ():
                fake = ast.Path(tuple(ast.Segment(part, None, value.span) for part in name.split(".")), value.span)
                ref, _ = resolve_field(fake, scope, systems=systems)  # an unknown name gets the hint below
                if ref is None:
                    side = scope.primary[0]
                    hint = suggest(name, side.spec.names())
                    diags.append(
                        _err(
                            UNKNOWN_PLACEHOLDER,
                            f"`{{{name}}}` is not a field of {side}",
                            value.span,
                            "unknown placeholder",
                            f"did you mean `{{{hint}}}`?" if hint else None,
                        )
                    )
                else:
                    reads.append(ref)
            return (Val("format", "string", tuple(reads), value) if not diags else None), diags
        return Val("null" if value.kind == "null" else "literal", literal_type(value), (), value), []
    if isinstance(value, (ast.Clock, ast.DateShift)):
        base = value if isinstance(value, ast.Clock) else value.base
        return Val("date", "date" if base.name == "today" else "datetime", (), value), []
    if isinstance(value, ast.This):
        return Val("this", "id", (), value), []
    if isinstance(value, ast.ListValue):
        return Val("list", None, (), value), []
    assert isinstance(value, ast.Path)
    builtin = builtin_of(value, systems)
    if builtin is not None:
        problem = builtin_problem(value, builtin, scope)
        if problem is not None:
            return None, [problem]
        return Val("builtin", "user" if builtin in ("me", "user") else "boolean", (), value, builtin), []
    ref, diags = resolve_field(value, scope, systems=systems)
    if ref is None:
        return None, diags
    return Val("field", ref.type, (ref,), value), []


_BUILTIN_NOUNS = {"list": ("list", "List Name"), "user": ("user", "Full Name")}  # noun, example


def builtin_problem(path: ast.Path, builtin: str, scope: Scope) -> Diagnostic | None:
    """Why `SYSTEM.list(…)` / `SYSTEM.user(…)` cannot be looked up at run time, if it cannot:
    one quoted name, and for a list an object of `scope` its system keeps on lists."""
    if builtin not in _BUILTIN_NOUNS:
        return None
    system, seg = path.segments[0].name, path.segments[1]
    noun, example = _BUILTIN_NOUNS[builtin]
    args = seg.args or ()
    if len(args) != 1 or not (isinstance(args[0], ast.Literal) and args[0].kind == "string" and str(args[0].value).strip()):
        return _err(
            BAD_REFERENCE,
            f"`{builtin}(…)` takes one {noun} name in quotes",
            seg.span,
            "needs one quoted name",
            f'write `{system}.{builtin}("{example}")`',
        )
    sides = scope.by_system(system)
    if builtin == "list" and sides and not any(r.key_on == "membership" for s in sides for r in s.spec.relations):
        names = " or ".join(f"{s.catalog.display_name} {s.spec.plural or s.object}" for s in sides)
        return _err(
            BAD_REFERENCE,
            f"{names} are not kept on lists",
            path.span,
            "no lists here",
            "scope by a field instead (`only FIELD = VALUE -> SYSTEM`), or by a list of the other system",
        )
    return None


def builtin_of(path: ast.Path, systems: set[str]) -> str | None:
    """`pipedrive.me`, `pipedrive.user("Name")`, `autopilot.list("Name")`, `linked`, `new`."""
    segs = path.segments
    if len(segs) == 1 and segs[0].args is None and segs[0].name in PAIRING_WORDS:
        return segs[0].name
    if len(segs) == 2 and segs[0].name in systems and segs[0].args is None:
        second = segs[1]
        if second.name == "me" and second.args is None:
            return "me"
        if second.name in ("user", "list") and second.args is not None:
            return second.name
    return None
