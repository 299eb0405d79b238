"""Checks that need no catalog: duplicates, settings, secrets, transforms, arrows, words.

Pure: takes parsed mappings (a root and its includes, checked as one unit) and returns
diagnostics. Names of systems, objects and fields are the catalog checks' business.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TypeVar

from syncmap.compiler import ast
from syncmap.compiler.codes import (
    BAD_ENV,
    BAD_FORMAT_STRING,
    BAD_VALUE_MAP,
    DUPLICATE_ACTION,
    DUPLICATE_CONNECT,
    DUPLICATE_RULE,
    DUPLICATE_SYNC,
    EMPTY_BLOCK,
    EMPTY_MAPPING,
    LITERAL_SECRET,
    MATCH_KEY_NOT_FIELD,
    REPEATED_SETTING,
    SAME_SYSTEM_SYNC,
    TARGET_NOT_FIELD,
    TWO_WAY_NEEDS_FIELDS,
    UNKNOWN_TRANSFORM,
    UNKNOWN_WORD,
    UNSUPPORTED_VERSION,
)
from syncmap.compiler.diagnostics import ERROR, WARNING, Diagnostic, Label, Span

LANGUAGE_VERSIONS = {1}
TRANSFORMS = {"lowercase", "uppercase", "trim"}
EMPTY_POLICIES = {"skip", "write"}
DELETE_WORDS = {"never"}
DATE_UNITS = {"days", "weeks", "months", "years", "day", "week", "month", "year"}
TIME_UNITS = DATE_UNITS | {"hours", "minutes", "hour", "minute"}
# Without a catalog, a setting is taken for a secret when one of its words says so
# (`api_token`, `key`), not when the letters merely occur (`monkey`).
SECRET_WORDS = {"token", "key", "secret", "password", "apikey"}
ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")

# Statements a sync block may hold at most once.
_ONCE = {ast.Deletes: "deletes", ast.OwnerDefault: "owner default", ast.Empty: "empty", ast.Conflict: "conflict", ast.Link: "link"}


def _diag(code: str, severity: str, message: str, span: Span, label: str = "", help: str | None = None, extra: tuple[Label, ...] = ()) -> Diagnostic:
    return Diagnostic(code, severity, message, span, (Label(span, label),) + extra if label else extra, help)


def _duplicate(code: str, what: str, first: Span, again: Span, help: str) -> Diagnostic:
    return _diag(code, ERROR, what, again, "repeated here", help, (Label(first, "first given here"),))


def _empty_root(root: ast.Mapping) -> list[Diagnostic]:
    if any(isinstance(item, (ast.Include, ast.Connect, ast.Sync, ast.Action)) for item in root.items):
        return []
    start = Span(root.file, 1, 1, 1, 1)
    return [
        _diag(
            EMPTY_MAPPING,
            WARNING,
            "this mapping declares nothing: no include, connect, sync or action",
            start,
            "empty mapping",
            "restore its contents (a bad merge can truncate a file), or delete it",
        )
    ]


_K = TypeVar("_K")
_V = TypeVar("_V")


def _seen(first_of: dict[_K, _V], key: _K, item: _V) -> _V | None:
    """The item first registered under `key`, or None after registering `item` as the first."""
    if key in first_of:
        return first_of[key]
    first_of[key] = item
    return None


def check_structure(mappings: list[ast.Mapping]) -> list[Diagnostic]:
    """`mappings[0]` is the root; the others are its includes."""
    out: list[Diagnostic] = _empty_root(mappings[0]) if mappings else []
    connects: dict[str, ast.Connect] = {}
    syncs: dict[frozenset[str], ast.Sync] = {}
    actions: dict[str, ast.Action] = {}
    for mapping in mappings:
        versions = mapping.of_type(ast.Version)
        for v in versions[1:]:
            out.append(_duplicate(REPEATED_SETTING, "the language version is given twice", versions[0].span, v.span, "keep one `syncmap 1` line"))
        for v in versions:
            if v.number not in LANGUAGE_VERSIONS:
                out.append(
                    _diag(
                        UNSUPPORTED_VERSION,
                        ERROR,
                        f"syncmap {v.number} is not a language version this syncmap knows",
                        v.span,
                        "unsupported",
                        "write `syncmap 1`",
                    )
                )
        for item in mapping.items:
            if isinstance(item, ast.Connect):
                if first := _seen(connects, item.system, item):
                    out.append(
                        _duplicate(
                            DUPLICATE_CONNECT, f"`{item.system}` is connected twice", first.span, item.span, "keep one connect block per system"
                        )
                    )
                out.extend(_check_connect(item))
            elif isinstance(item, ast.Sync):
                if first_sync := _seen(syncs, frozenset({str(item.left), str(item.right)}), item):
                    out.append(
                        _duplicate(
                            DUPLICATE_SYNC,
                            f"`{item.left}` and `{item.right}` are paired twice",
                            first_sync.span,
                            item.span,
                            "merge the two sync blocks",
                        )
                    )
                out.extend(_check_sync(item))
            elif isinstance(item, ast.Action):
                if first_action := _seen(actions, item.name, item):
                    out.append(
                        _duplicate(
                            DUPLICATE_ACTION,
                            f'two actions are named "{item.name}"',
                            first_action.name_span,
                            item.name_span,
                            "action names must be unique",
                        )
                    )
                out.extend(_check_action(item))
    return out


# ---------------------------------------------------------------- connect


def env_call(value: ast.Value) -> ast.Segment | None:
    """The `env(...)` segment if `value` is one (well-formed or not)."""
    if isinstance(value, ast.Path) and len(value.segments) == 1 and value.segments[0].name == "env":
        return value.segments[0]
    return None


def env_name(value: ast.Value) -> str | None:
    """The variable named by a well-formed `env("NAME")`, else None."""
    seg = env_call(value)
    if seg is None or seg.args is None or len(seg.args) != 1:
        return None
    arg = seg.args[0]
    if isinstance(arg, ast.Literal) and arg.kind == "string" and ENV_NAME.match(str(arg.value)):
        return str(arg.value)
    return None


def _check_connect(connect: ast.Connect) -> Iterator[Diagnostic]:
    seen: dict[str, ast.Setting] = {}
    for setting in connect.settings:
        if setting.key in seen:
            yield _duplicate(
                REPEATED_SETTING, f"`{setting.key}` is set twice for `{connect.system}`", seen[setting.key].span, setting.span, "keep one"
            )
        seen[setting.key] = setting
        call = env_call(setting.value)
        looks_like_env = isinstance(setting.value, ast.Path) and setting.value.segments[0].name.lower() == "env"
        if (call is not None or looks_like_env) and env_name(setting.value) is None:
            yield _diag(
                BAD_ENV,
                ERROR,
                '`env` takes one quoted variable name in capitals, e.g. env("PIPEDRIVE_API_TOKEN")',
                setting.value.span,
                "malformed",
                'write env("NAME") with the name in double quotes',
            )
        elif call is None and SECRET_WORDS & set(setting.key.lower().split("_")):
            yield _diag(
                LITERAL_SECRET,
                ERROR,
                f"`{setting.key}` looks like a secret and must come from the environment",
                setting.value.span,
                "written in the mapping",
                f'use {setting.key} = env("{connect.system.upper()}_{setting.key.upper()}") and set that variable',
            )


# ---------------------------------------------------------------- sync


def is_field(value: ast.Value) -> bool:
    return isinstance(value, ast.Path)


def format_placeholders(text: str) -> list[str] | None:
    """Field names inside `{…}`, or None when the braces are malformed."""
    names = []
    for m in PLACEHOLDER.finditer(text):
        token = m.group(0)
        if token in ("{{", "}}"):
            continue
        if m.group(1) is None or not m.group(1).strip():
            return None
        names.append(m.group(1).strip())
    return names


def _check_value(value: ast.Value | None) -> Iterator[Diagnostic]:
    if isinstance(value, ast.Literal) and value.kind == "string" and ("{" in str(value.value) or "}" in str(value.value)):
        if format_placeholders(str(value.value)) is None:
            yield _diag(
                BAD_FORMAT_STRING,
                ERROR,
                "this format string has an unbalanced `{` or `}` or an empty placeholder",
                value.span,
                "malformed",
                "write `{Field}` placeholders; `{{` and `}}` for literal braces",
            )
    elif isinstance(value, ast.DateShift):
        units = DATE_UNITS if value.base.name == "today" else TIME_UNITS
        if value.unit not in units:
            yield _diag(
                UNKNOWN_WORD,
                ERROR,
                f"`{value.unit}` is not a unit for `{value.base.name}`",
                value.unit_span,
                "unknown unit",
                f"use one of: {', '.join(sorted(units))}",
            )
    elif isinstance(value, ast.ListValue):
        for item in value.items:
            yield from _check_value(item)


def _check_conflict(policy: ast.ConflictPolicy) -> Iterator[Diagnostic]:
    words = policy.words
    if words == ("newest",) or (len(words) == 2 and words[1] == "wins" and words[0] != "newest"):
        return
    fix = "write `conflict newest` (without `wins`)" if words[0] == "newest" else "write `conflict newest` or `conflict SYSTEM wins`"
    yield _diag(UNKNOWN_WORD, ERROR, f"`conflict {' '.join(words)}` is not a conflict policy", policy.span, "unknown policy", fix)


def _check_transforms(rule: ast.FieldRule) -> Iterator[Diagnostic]:
    for t in rule.transforms:
        if isinstance(t, ast.NamedTransform):
            if t.name not in TRANSFORMS:
                yield _diag(
                    UNKNOWN_TRANSFORM,
                    ERROR,
                    f"there is no transform `{t.name}`",
                    t.span,
                    "unknown transform",
                    f"transforms: {', '.join(sorted(TRANSFORMS))}, map {{ … }}",
                )
            elif t.args:
                yield _diag(UNKNOWN_TRANSFORM, ERROR, f"`{t.name}` takes no arguments", t.span, "no arguments", f"write `with {t.name}`")
            continue
        keys: dict[object, ast.MapPair] = {}
        values: dict[object, ast.MapPair] = {}
        for pair in t.pairs:
            for side in (pair.key, pair.value):
                if not isinstance(side, ast.Literal):
                    yield _diag(
                        BAD_VALUE_MAP, ERROR, "a value map maps constants to constants", side.span, "not a constant", 'quote it: `"won" = "Customer"`'
                    )
            k = getattr(pair.key, "value", repr(pair.key))
            if k in keys:
                yield _duplicate(
                    BAD_VALUE_MAP, f"the value map lists `{getattr(pair.key, 'raw', k)}` twice", keys[k].span, pair.span, "remove one of them"
                )
            keys[k] = pair
            v = getattr(pair.value, "value", repr(pair.value))
            if rule.arrow == "<->" and v in values:
                yield _duplicate(
                    BAD_VALUE_MAP,
                    "two values map to the same result, so the way back is ambiguous",
                    values[v].span,
                    pair.span,
                    "make the rule one-way, or map each value to a different result",
                )
            values[v] = pair


def _check_rule(rule: ast.FieldRule) -> Iterator[Diagnostic]:
    if rule.arrow == "<->":
        for side in (rule.left, rule.right):
            if not is_field(side):
                yield _diag(
                    TWO_WAY_NEEDS_FIELDS,
                    ERROR,
                    "`<->` needs a field on both sides",
                    side.span,
                    "not a field",
                    "use `->` or `<-` to say which side is written",
                )
    else:
        target = rule.right if rule.arrow == "->" else rule.left
        if not is_field(target):
            yield _diag(
                TARGET_NOT_FIELD,
                ERROR,
                f"`{rule.arrow}` points at something that is not a field",
                target.span,
                "cannot be written",
                "turn the arrow around, or use `field = value` to set a constant",
            )
    yield from _check_value(rule.left)
    yield from _check_value(rule.right)
    yield from _check_value(rule.default)
    yield from _check_transforms(rule)
    if rule.conflict is not None:
        yield from _check_conflict(rule.conflict)


def _check_sync(sync: ast.Sync) -> Iterator[Diagnostic]:
    if sync.left.system == sync.right.system:
        yield _diag(
            SAME_SYSTEM_SYNC,
            ERROR,
            f"both sides of this sync are in `{sync.left.system}`",
            sync.right.span,
            "same system as the left side",
            "a sync pairs an object with an object of another system",
        )
    once: dict[type, ast.Statement] = {}
    rules: dict[object, ast.FieldRule] = {}
    has_work = False
    for st in sync.statements:
        kind = type(st)
        if kind in _ONCE:
            if kind in once:
                yield _duplicate(REPEATED_SETTING, f"`{_ONCE[kind]}` is given twice in this block", once[kind].span, st.span, "keep one")
            once[kind] = st
        if isinstance(st, ast.FieldRule):
            has_work = True
            key = (st.left, st.arrow, st.right)
            if key in rules:
                yield _duplicate(DUPLICATE_RULE, "this field rule is given twice", rules[key].span, st.span, "delete one of them")
            rules[key] = st
            yield from _check_rule(st)
        elif isinstance(st, ast.Assign):
            has_work = True
            yield from _check_assign(st)
        elif isinstance(st, ast.Match):
            yield from _check_match(st)
        elif isinstance(st, ast.Empty) and st.policy not in EMPTY_POLICIES:
            yield _diag(
                UNKNOWN_WORD,
                ERROR,
                f"`empty {st.policy}` is not a policy",
                st.span,
                "unknown",
                "write `empty skip` (never write empty values) or `empty write`",
            )
        elif isinstance(st, ast.Conflict):
            yield from _check_conflict(st.policy)
        elif isinstance(st, ast.Deletes) and st.arrow is None and st.source not in DELETE_WORDS:
            yield _diag(
                UNKNOWN_WORD,
                ERROR,
                f"`deletes {st.source}` needs a direction",
                st.span,
                "unknown",
                "write `deletes SYSTEM -> SYSTEM` or `deletes never`",
            )
        elif isinstance(st, ast.Deletes) and st.arrow == "<->":
            yield _diag(
                UNKNOWN_WORD,
                ERROR,
                "deletions flow one way only",
                st.span,
                "two-way",
                f"write `deletes {st.source} -> {st.target}` or `deletes {st.target} -> {st.source}`",
            )
    if not has_work:
        yield _diag(
            EMPTY_BLOCK,
            WARNING,
            f"the sync of `{sync.left}` and `{sync.right}` has no field rules",
            sync.span,
            "nothing to sync",
            "add field rules, or delete the block",
        )


def _check_match(match: ast.Match) -> Iterator[Diagnostic]:
    for key in match.keys:
        for side in (key.left, key.right):
            if side is not None and not is_field(side):
                yield _diag(
                    MATCH_KEY_NOT_FIELD,
                    ERROR,
                    "a match key compares a field of each record, and this is not a field",
                    side.span,
                    "not a field",
                    "name a field on each side, e.g. `match name = Company`; use `where` or `only` to sync only some records",
                )


def _check_assign(assign: ast.Assign) -> Iterator[Diagnostic]:
    if not isinstance(assign.target, ast.Path) or assign.target.segments[0].name == "this":
        yield _diag(
            TARGET_NOT_FIELD,
            ERROR,
            "`=` sets a field of the record being written; `this` is the record the action runs for",
            assign.target.span,
            "not a field",
            "name the field to set, e.g. `first_name = this.FirstName`",
        )
    yield from _check_value(assign.value)


# ---------------------------------------------------------------- actions


def _check_action(action: ast.Action) -> Iterator[Diagnostic]:
    if not action.steps:
        yield _diag(EMPTY_BLOCK, WARNING, f'the action "{action.name}" does nothing', action.span, "no steps", "add a create, update or upsert step")
    for step in action.steps:
        if not step.assigns and step.verb != "update":
            yield _diag(
                EMPTY_BLOCK,
                WARNING,
                f"this step would {step.verb} a {step.target.object} with nothing set",
                step.span,
                "empty step",
                "set at least the fields the record needs",
            )
        elif not step.assigns:
            yield _diag(
                EMPTY_BLOCK, WARNING, "this update step changes nothing", step.span, "empty step", "set the fields to update, or delete the step"
            )
        for assign in step.assigns:
            yield from _check_assign(assign)
