"""What to write for one pair of records: a pure function of the plan's field operations, the
two records as they are now, and the values last synced (the snapshot).

The rules (docs/runtime.md, "The diff"):
- a target is written only when its mapped value differs from what it holds AND the value's
  source changed since the last sync (or the records were never synced): a run with nothing
  changed writes nothing, and a value a system rewrites its own way (a name split differently,
  a phone re-formatted) does not bounce back and forth;
- an empty source value is never written under `empty skip` (R10);
- when both sides of a two-way field changed since the last sync it is a conflict: the field's
  policy, else the pair's, picks the winner, and the losing value is reported;
- `on: create` operations (`default field = value`) apply only to a record being created.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from syncmap.runtime.values import Context, apply_transforms, evaluate, is_empty, ref_key, refs_in, same
from syncmap.runtime.wire import UNKNOWN, FieldType, WireError, convert, plan_type, same_as


@dataclass(frozen=True)
class Op:
    """A plan field operation, digested once per run."""

    writes: str  # "left" or "right": the side whose record is written
    target_key: str
    target: Mapping[str, Any]
    source: Mapping[str, Any]
    source_keys: tuple[str, ...]
    transforms: tuple[Mapping[str, Any], ...]
    backwards: bool  # the right-to-left half of a two-way rule reads its value map backwards
    two_way: bool
    default: Mapping[str, Any] | None
    conflict: Mapping[str, Any] | None
    on_create_only: bool
    span: Mapping[str, Any]
    target_type: FieldType = UNKNOWN  # values are written and compared in its form

    @property
    def reads(self) -> str:
        return "left" if self.writes == "right" else "right"


def digest_ops(fields: Sequence[Mapping[str, Any]], typed: Callable[[Mapping[str, Any]], FieldType] = plan_type) -> list[Op]:
    """The plan's field operations; `typed` gives a target's type (`wire.field_types`: from the
    live definitions where the plan cannot know it)."""
    spans: dict[tuple[tuple[str, Any], ...], set[str]] = {}  # a rule's source span -> its directions
    for operation in fields:
        key = tuple(sorted(operation["span"].items()))
        spans.setdefault(key, set()).add(operation["direction"])
    ops = []
    for operation in fields:
        two_way = len(spans[tuple(sorted(operation["span"].items()))]) == 2
        writes = "right" if operation["direction"] == "left_to_right" else "left"
        ops.append(
            Op(
                writes=writes,
                target_key=ref_key(operation["target"]),
                target=operation["target"],
                source=operation["source"],
                source_keys=tuple(dict.fromkeys(ref_key(r) for r in refs_in(operation["source"]))),
                transforms=tuple(operation.get("transforms") or ()),
                backwards=two_way and writes == "left",
                two_way=two_way,
                default=operation.get("default"),
                conflict=operation.get("conflict"),
                on_create_only=operation.get("on") == "create",
                span=operation["span"],
                target_type=typed(operation["target"]),
            )
        )
    return ops


def keys_of(ops: Iterable[Op], side: str) -> list[str]:
    """Every flat key a side's record must carry for these operations (read or written)."""
    keys: dict[str, None] = {}
    for op in ops:
        if op.reads == side:
            keys.update(dict.fromkeys(op.source_keys))
        else:
            keys[op.target_key] = None
    return list(keys)


@dataclass(frozen=True)
class Conflict:
    field: str  # the winning write's target key
    winner: str  # side whose value won
    kept: Any
    lost: Any
    policy: str
    span: Mapping[str, Any]


@dataclass(frozen=True)
class Misfit:
    """A value that cannot be written into its target field's type: reported, never sent."""

    side: str  # the side that would have been written
    field: str
    message: str


@dataclass
class Diff:
    changes: dict[str, dict[str, Any]] = field(default_factory=lambda: {"left": {}, "right": {}})
    conflicts: list[Conflict] = field(default_factory=list)
    misfits: list[Misfit] = field(default_factory=list)
    ops: dict[str, list[Op]] = field(default_factory=lambda: {"left": [], "right": []})

    def any(self) -> bool:
        return bool(self.changes["left"] or self.changes["right"])


def mapped_value(op: Op, source: Mapping[str, Any], ctx: Context) -> Any:
    value = apply_transforms(evaluate(op.source, source, ctx), op.transforms, backwards=op.backwards)
    if is_empty(value) and op.default is not None:
        value = evaluate(op.default, source, ctx)
    return value


def _changed(record: Mapping[str, Any], snapshot: Mapping[str, Any] | None, keys: Iterable[str]) -> bool:
    if snapshot is None:
        return True
    return any(not same(record.get(key), snapshot.get(key)) for key in keys)


def _winner(policy: Mapping[str, Any], systems: Mapping[str, str], newest: str | None) -> str | None:
    if policy.get("policy") == "system":
        return next((side for side, system in systems.items() if system == policy.get("winner")), None)
    return newest


def diff(
    ops: Sequence[Op],
    records: Mapping[str, Mapping[str, Any] | None],
    snapshots: Mapping[str, Mapping[str, Any] | None],
    ctx: Context,
    *,
    writable: Mapping[str, bool],
    systems: Mapping[str, str],
    pair_conflict: Mapping[str, Any],
    empty_policy: str = "skip",
    newest: str | None = None,
) -> Diff:
    """The writes that bring two paired records (or one record and a partner to create) in line.

    `records[side]` is None for a side that does not exist yet (it would be created);
    `writable[side]` says whether this pass may write that side at all (direction, creates,
    updates and scope already decided by the caller); `newest` is the side changed last.
    """
    result = Diff()
    for op in ops:
        if not writable.get(op.writes):
            continue
        source, target = records[op.reads], records[op.writes]
        if source is None:
            continue
        creating = target is None
        if op.on_create_only and not creating:
            continue
        value = mapped_value(op, source, ctx)
        if is_empty(value) and empty_policy == "skip":
            continue
        try:
            value = convert(value, op.target_type)
        except WireError as error:
            result.misfits.append(Misfit(op.writes, op.target_key, misfit_message(op, systems, error)))
            continue
        current = None if target is None else target.get(op.target_key)
        if not creating and same_as(value, current, op.target_type):
            continue
        if creating:
            result.changes[op.writes][op.target_key] = value
            result.ops[op.writes].append(op)
            continue
        if not op.source_keys:
            # A constant or clock value is asserted once, when the records are first synced.
            if snapshots[op.writes] is None:
                result.changes[op.writes][op.target_key] = value
                result.ops[op.writes].append(op)
            continue
        if not _changed(source, snapshots[op.reads], op.source_keys):
            continue
        target_snapshot = snapshots[op.writes]
        target_changed = not is_empty(current) if target_snapshot is None else not same(current, target_snapshot.get(op.target_key))
        if target_changed and op.two_way:
            policy = op.conflict or pair_conflict or {"policy": "newest"}
            winner = _winner(policy, systems, newest)
            if winner != op.reads:
                continue  # the other half of the rule writes the other way
            result.conflicts.append(Conflict(op.target_key, op.reads, value, current, policy.get("policy", "newest"), op.span))
        result.changes[op.writes][op.target_key] = value
        result.ops[op.writes].append(op)
    return result


def misfit_message(op: Op, systems: Mapping[str, str], error: WireError) -> str:
    target = op.target
    label = (target.get("custom") or {}).get("name") if target.get("kind") == "custom" else ".".join(target.get("path") or ())
    kind = op.target_type.native or op.target_type.kind
    return f"{error}, and the {systems.get(op.writes, op.writes).capitalize()} field {label!r} is {'an' if str(kind)[:1] in 'aeiou' else 'a'} {kind} field"


def snapshot_after(record: Mapping[str, Any] | None, changes: Mapping[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    """The values a side holds once this sync's writes are applied: the next run's baseline."""
    merged = dict(record or {})
    merged.update(changes)
    return {key: merged.get(key) for key in keys}
