"""The mapping's syntax tree: frozen dataclasses, each carrying the span it was parsed from.

Spans are excluded from equality (`compare=False`) so that two trees that differ only in
layout compare equal; `fmt` relies on that to prove it preserves meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from syncmap.compiler.diagnostics import Span

NO_SPAN = Span("<none>", 0, 0, 0, 0)


def _span() -> Span:
    return field(default=NO_SPAN, compare=False, repr=False)


# ---------------------------------------------------------------- values


@dataclass(frozen=True)
class Literal:
    """A constant: `kind` is string, number, boolean or null."""

    value: str | int | float | bool | None
    kind: str
    raw: str
    span: Span = _span()


@dataclass(frozen=True)
class Segment:
    """One step of a path: a name, or a call such as `custom("Lead Score", integer)`."""

    name: str
    args: tuple[Value, ...] | None = None  # None: not a call; () a call without arguments
    span: Span = _span()


@dataclass(frozen=True)
class Path:
    segments: tuple[Segment, ...]
    span: Span = _span()

    @property
    def dotted(self) -> str:
        return ".".join(s.name for s in self.segments)


@dataclass(frozen=True)
class This:
    """`this`: the record an action runs for."""

    span: Span = _span()


@dataclass(frozen=True)
class Clock:
    """`today` or `now`, evaluated at run time."""

    name: str
    span: Span = _span()


@dataclass(frozen=True)
class DateShift:
    """`today + 30 days`: a clock value moved by a whole number of units."""

    base: Clock
    sign: str
    amount: int
    unit: str
    span: Span = _span()
    unit_span: Span = _span()


@dataclass(frozen=True)
class ListValue:
    items: tuple[Value, ...]
    span: Span = _span()


Value = Literal | Path | This | Clock | DateShift | ListValue


# ---------------------------------------------------------------- conditions


@dataclass(frozen=True)
class Compare:
    left: Value
    op: str
    right: Value
    span: Span = _span()


@dataclass(frozen=True)
class InList:
    value: Value
    options: ListValue
    span: Span = _span()


@dataclass(frozen=True)
class Truthy:
    value: Value
    span: Span = _span()


@dataclass(frozen=True)
class Not:
    operand: Condition
    span: Span = _span()


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    operands: tuple[Condition, ...]
    span: Span = _span()


Condition = Compare | InList | Truthy | Not | BoolOp


# ---------------------------------------------------------------- transforms


@dataclass(frozen=True)
class NamedTransform:
    name: str
    args: tuple[Value, ...] = ()
    span: Span = _span()


@dataclass(frozen=True)
class MapPair:
    key: Value
    value: Value
    span: Span = _span()


@dataclass(frozen=True)
class MapTransform:
    pairs: tuple[MapPair, ...]
    span: Span = _span()


Transform = NamedTransform | MapTransform


# ---------------------------------------------------------------- sync statements


@dataclass(frozen=True)
class ObjectRef:
    system: str
    object: str
    span: Span = _span()

    def __str__(self) -> str:
        return f"{self.system}.{self.object}"


@dataclass(frozen=True)
class ConflictPolicy:
    """`conflict newest` or `conflict pipedrive wins`."""

    words: tuple[str, ...]
    span: Span = _span()


@dataclass(frozen=True)
class MatchKey:
    left: Value
    right: Value | None = None
    span: Span = _span()


@dataclass(frozen=True)
class Match:
    keys: tuple[MatchKey, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Link:
    left: Path
    right: Path
    span: Span = _span()


@dataclass(frozen=True)
class Only:
    scope: Condition
    toward: str
    span: Span = _span()


@dataclass(frozen=True)
class Deletes:
    """`deletes pipedrive -> autopilot` (source and target) or `deletes never`."""

    source: str
    arrow: str | None = None
    target: str | None = None
    span: Span = _span()


@dataclass(frozen=True)
class OwnerDefault:
    value: Value
    span: Span = _span()


@dataclass(frozen=True)
class Empty:
    policy: str
    span: Span = _span()


@dataclass(frozen=True)
class Conflict:
    policy: ConflictPolicy
    span: Span = _span()


@dataclass(frozen=True)
class Where:
    condition: Condition
    span: Span = _span()


@dataclass(frozen=True)
class Assign:
    """`field = value` (always) or `default field = value` (only when creating)."""

    target: Path
    value: Value
    is_default: bool = False
    span: Span = _span()


@dataclass(frozen=True)
class FieldRule:
    """`left ARROW right [with …] [default …] [conflict …]`; the arrow points at the target."""

    left: Value
    arrow: str
    right: Value
    transforms: tuple[Transform, ...] = ()
    default: Value | None = None
    conflict: ConflictPolicy | None = None
    span: Span = _span()
    arrow_span: Span = _span()


Statement = Match | Link | Only | Deletes | OwnerDefault | Empty | Conflict | Where | Assign | FieldRule


# ---------------------------------------------------------------- top-level items


@dataclass(frozen=True)
class Version:
    number: int
    span: Span = _span()


@dataclass(frozen=True)
class Include:
    path: str
    span: Span = _span()


@dataclass(frozen=True)
class Setting:
    key: str
    value: Value
    span: Span = _span()


@dataclass(frozen=True)
class Connect:
    system: str
    settings: tuple[Setting, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Sync:
    left: ObjectRef
    arrow: str
    right: ObjectRef
    statements: tuple[Statement, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Step:
    """One step of an action: `create|update|upsert system.Object [where …] { assignments }`."""

    verb: str
    target: ObjectRef
    where: Condition | None
    assigns: tuple[Assign, ...]
    span: Span = _span()


@dataclass(frozen=True)
class Action:
    name: str
    on: ObjectRef
    steps: tuple[Step, ...]
    span: Span = _span()
    name_span: Span = _span()


Item = Version | Include | Connect | Sync | Action


@dataclass(frozen=True)
class Comment:
    text: str  # including the leading '#'
    line: int
    col: int
    own_line: bool  # alone on its line (else it trails code)


_Node = TypeVar("_Node")


@dataclass(frozen=True)
class Mapping:
    file: str
    items: tuple[Item, ...]
    comments: tuple[Comment, ...] = field(default=(), compare=False)
    span: Span = _span()

    def of_type(self, kind: type[_Node]) -> list[_Node]:
        return [item for item in self.items if isinstance(item, kind)]
