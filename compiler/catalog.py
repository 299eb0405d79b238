"""System catalogs: what each system's API offers, as checked, typed data.

One JSON file per system lives in ``compiler/catalogs/`` (``pipedrive.json``,
``autopilot.json``, ...), validated against ``catalog.schema.json`` (the shipped ones by the
test suite, a caller's own at every load) and then cross-checked (every relation target, key, required field, action target and rule
reference must exist). The checker binds mapping names to these records.

Adding a system is a new ``<system>.json`` (plus a connector in the runtime):
``available_systems()`` discovers it, nothing here changes.

Pure: reads only the package's data files (or the directories a caller passes), never the
network, the environment or the clock.
"""

from __future__ import annotations

import difflib
import functools
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import jsonschema


__all__ = [
    "ACCESS",
    "TYPES",
    "ActionSpec",
    "Catalog",
    "CatalogError",
    "CustomFieldStyle",
    "DependencyCycleError",
    "DerivedSpec",
    "EnumValue",
    "FieldSpec",
    "Identity",
    "LookupSpec",
    "MultiSpec",
    "ObjectSpec",
    "PathError",
    "Permissions",
    "RelationSpec",
    "RequiredField",
    "ResolvedPath",
    "RuleSpec",
    "WriteVia",
    "available_systems",
    "clear_cache",
    "dependency_edges",
    "dependency_order",
    "load_catalog",
    "resolve_path",
    "suggest",
]

#: The type vocabulary shared with the language's ``custom("Name", type)``. The schema's
#: ``$defs/type`` enum is the same list (a test keeps them equal).
TYPES: tuple[str, ...] = (
    "string",
    "text",
    "integer",
    "number",
    "boolean",
    "date",
    "datetime",
    "enum",
    "id",
    "email",
    "phone",
    "user",
)

ACCESS: tuple[str, ...] = ("read_write", "read_only", "create_only")

SCHEMA_FILE = "catalog.schema.json"
_PACKAGE = "syncmap.compiler"
_DATA_DIR = "catalogs"

Operation = Literal["read", "create", "update", "delete"]
SearchPath = str | os.PathLike[str] | Traversable | Sequence["str | os.PathLike[str] | Traversable"] | None


# ---------------------------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------------------------


class CatalogError(Exception):
    """A catalog file is missing, unreadable, not valid against the schema, or inconsistent.

    ``file`` names the catalog, ``pointer`` the JSON pointer of the first problem and
    ``problems`` every ``(pointer, message)`` found.
    """

    def __init__(self, file: str, problems: Sequence[tuple[str, str]]):
        self.file = file
        self.problems: tuple[tuple[str, str], ...] = tuple(problems)
        self.pointer = self.problems[0][0] if self.problems else ""
        lines = [f"invalid catalog {file}:"]
        lines += [f"  at {ptr or '/'}: {msg}" for ptr, msg in self.problems]
        super().__init__("\n".join(lines))


class DependencyCycleError(CatalogError):
    """Object dependencies form a cycle; ``chain`` is e.g. ``["A", "B", "A"]``."""

    def __init__(self, file: str, chain: Sequence[str]):
        self.chain = tuple(chain)
        super().__init__(file, [("/objects", "objects depend on each other in a cycle: " + " -> ".join(self.chain))])


# ---------------------------------------------------------------------------------------------
# records
# ---------------------------------------------------------------------------------------------


def _frozen(value: Any) -> Any:
    """A read-only deep copy of JSON data (dicts become mapping proxies, lists tuples)."""
    if isinstance(value, dict):
        return MappingProxyType({k: _frozen(v) for k, v in value.items()})
    if isinstance(value, list):
        return tuple(_frozen(v) for v in value)
    return value


@dataclass(frozen=True)
class EnumValue:
    value: str | int
    label: str | None = None


@dataclass(frozen=True)
class MultiSpec:
    """A list-valued field; a mapping picks one item with a selector (``email.primary``)."""

    selectors: tuple[str, ...]
    default: str | None = None
    item_value: str | None = None
    item_label: str | None = None
    item_primary: str | None = None


@dataclass(frozen=True)
class LookupSpec:
    """The field holds an id that a mapping may give by human name, resolved at run time."""

    path: str
    key: str
    by: str


@dataclass(frozen=True)
class WriteVia:
    """A field not writable directly, reached by writing ``field`` (composed, or implied)."""

    field: str
    how: Literal["compose", "implied"]
    parts: tuple[str, ...] = ()
    separator: str | None = None
    value: Any = None
    note: str | None = None


@dataclass(frozen=True)
class FieldSpec:
    """A standard field. ``name`` is what mappings write, ``api_name`` what goes on the wire."""

    object: str
    name: str
    api_name: str
    type: str
    access: str
    nullable: bool = True
    api_type: str | None = None
    label: str | None = None
    values: tuple[EnumValue, ...] = ()
    multi: MultiSpec | None = None
    lookup: LookupSpec | None = None
    write_via: WriteVia | None = None
    aliases: tuple[str, ...] = ()
    unsplittable: bool = False
    source: str | None = None
    note: str | None = None
    unverified: str | None = None

    @property
    def read_only(self) -> bool:
        return self.access == "read_only"

    @property
    def writable(self) -> bool:
        """Directly writable on create or on update (``write_via`` aside)."""
        return self.access != "read_only"

    @property
    def writable_on_create(self) -> bool:
        return self.access in ("read_write", "create_only")

    @property
    def writable_on_update(self) -> bool:
        return self.access == "read_write"

    @property
    def settable(self) -> bool:
        """Writable directly or through ``write_via``: may be a mapping's target."""
        return self.writable or self.write_via is not None

    def value_names(self) -> tuple[str | int, ...]:
        return tuple(v.value for v in self.values)


@dataclass(frozen=True)
class RelationSpec:
    """A named hop from ``object`` to ``target`` usable in paths (``organization.name``)."""

    object: str
    name: str
    target: str
    cardinality: Literal["one", "many"]
    key_on: Literal["self", "target", "membership"]
    key: str | None = None
    references: str = "id"
    seed_table: bool = False
    note: str | None = None
    unverified: str | None = None

    @property
    def to_many(self) -> bool:
        return self.cardinality == "many"

    @property
    def is_dependency(self) -> bool:
        """True when ``object`` holds a key to one ``target``, which must exist first."""
        return self.cardinality == "one" and self.key_on == "self"


@dataclass(frozen=True)
class RequiredField:
    field: str
    seed: str
    note: str | None = None
    in_every_direction: bool = False  # not only where a sync creates the object (R23: Deal, Activity)


@dataclass(frozen=True)
class Permissions:
    """What a *sync* may do to the object (actions are separate: see ``ActionSpec``)."""

    read: bool
    create: bool
    update: bool
    delete: bool
    seed: str | None = None
    note: str | None = None

    def allows(self, operation: Operation) -> bool:
        return bool(getattr(self, operation))

    def describe(self) -> str:
        """The product's words for what a sync may do ("Read / Update / Create"), or the same
        words made from the flags where the catalog quotes none (Autopilot's objects)."""
        return self.seed or " / ".join(op.capitalize() for op in self.allowed()) or "nothing"

    def allowed(self) -> tuple[str, ...]:
        return tuple(op for op in ("read", "create", "update", "delete") if getattr(self, op))


@dataclass(frozen=True)
class Identity:
    key: str
    dedupe: tuple[str, ...] = ()
    occurred_at: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class DerivedSpec:
    """The object's records are derived by syncmap from another object's payload."""

    source_object: str
    keys: tuple[str, ...]
    shape: str
    note: str | None = None


@dataclass(frozen=True)
class ObjectSpec:
    system: str
    name: str
    display_name: str
    plural: str | None
    permissions: Permissions
    custom_fields: bool
    identity: Identity
    fields: tuple[FieldSpec, ...]
    relations: tuple[RelationSpec, ...] = ()
    required: tuple[RequiredField, ...] = ()
    api: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), compare=False, hash=False)
    seed_row: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    derived: DerivedSpec | None = None
    note: str | None = None
    unverified: str | None = None
    _by_name: Mapping[str, FieldSpec] = field(init=False, repr=False, compare=False, hash=False)
    _relations: Mapping[str, RelationSpec] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        by_name: dict[str, FieldSpec] = {}
        for f in self.fields:
            by_name[f.name] = f
        for f in self.fields:
            for alias in f.aliases:
                by_name.setdefault(alias, f)
        object.__setattr__(self, "_by_name", MappingProxyType(by_name))
        object.__setattr__(self, "_relations", MappingProxyType({r.name: r for r in self.relations}))

    @property
    def bedrock_object(self) -> str | None:
        """The seed table's "Bedrock Object Name" (provenance only)."""
        return self.seed_row["bedrock_object"] if self.seed_row else None

    def field(self, name: str) -> FieldSpec | None:
        """The field a mapping calls ``name`` (its mapping-facing name or an alias)."""
        return self._by_name.get(name)

    def field_by_api(self, api_name: str) -> FieldSpec | None:
        return next((f for f in self.fields if f.api_name == api_name), None)

    def relation(self, name: str) -> RelationSpec | None:
        return self._relations.get(name)

    def relation_names(self) -> list[str]:
        return [r.name for r in self.relations]

    def names(self) -> list[str]:
        """Every name valid as a path segment here: fields, aliases, relations."""
        return list(self._by_name) + self.relation_names()


@dataclass(frozen=True)
class ActionSpec:
    """An action the system offers to the other side's automations (journey steps)."""

    system: str
    name: str
    target: str
    operation: Literal["create", "update", "trigger", "add_member", "remove_member"]
    creates_person_if_missing: bool
    fields: tuple[str, ...] = ()
    subject: str | None = None
    idempotent: bool | None = None
    seed: str | None = None
    note: str | None = None
    unverified: str | None = None


@dataclass(frozen=True)
class RuleSpec:
    """A machine-checkable product rule (kinds and parameters: ``docs/catalogs.md``).

    Parameters other than the common keys are in ``params`` (read-only JSON data);
    ``rule["field"]`` and ``rule.get("field")`` read them.
    """

    system: str
    rule: str
    seed: str
    object: str | None = None
    r: tuple[str, ...] = ()
    severity: str | None = None
    note: str | None = None
    unverified: str | None = None
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), compare=False, hash=False)

    def __getitem__(self, key: str) -> Any:
        return self.params[key]

    def get(self, key: str, default: Any = None) -> Any:
        return self.params.get(key, default)


@dataclass(frozen=True)
class CustomFieldStyle:
    """How the system keys custom fields, and which vocabulary types they may have."""

    style: Literal["hash_key", "typed_name"]
    native_types: Mapping[str, str | None]
    write_container: str | None = None
    read_container: str | None = None
    key_pattern: str | None = None
    key_format: str | None = None
    space_replacement: str | None = None
    key_prefixes: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    resolution: str | None = None
    note: str | None = None

    @property
    def allowed_types(self) -> tuple[str, ...]:
        """Vocabulary types a mapping may declare in ``custom("Name", type)``, in TYPES order."""
        if self.key_prefixes:
            wanted = set(self.key_prefixes)
        else:
            wanted = {t for t in self.native_types.values() if t is not None}
        return tuple(t for t in TYPES if t in wanted)

    def vocabulary_type(self, native: str) -> str | None:
        return self.native_types.get(native)

    def key_for(self, name: str, type_: str) -> str | None:
        """The wire key of a typed_name custom field (``integer--Lead--Score``), else None.

        Hash keys are only known at run time, so hash_key systems give None; so does a type
        the system cannot hold.
        """
        if self.style != "typed_name" or self.key_format is None:
            return None
        prefix = self.key_prefixes.get(type_)
        if prefix is None:
            return None
        spaced = name.replace(" ", self.space_replacement) if self.space_replacement else name
        return self.key_format.format(prefix=prefix, name=spaced)


@dataclass(frozen=True)
class ConnectionSetting:
    """A setting of `connect SYSTEM { … }`: secrets may only come from the environment."""

    name: str
    secret: bool
    required: bool
    description: str
    default: Any = None


@dataclass(frozen=True)
class Catalog:
    system: str
    display_name: str
    catalog_version: int
    custom_field_style: CustomFieldStyle
    objects: tuple[ObjectSpec, ...]
    actions: tuple[ActionSpec, ...] = ()
    rules: tuple[RuleSpec, ...] = ()
    api: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), compare=False, hash=False)
    file: str = field(default="", compare=False)
    note: str | None = None
    connection: tuple[ConnectionSetting, ...] = ()
    _objects: Mapping[str, ObjectSpec] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_objects", MappingProxyType({o.name: o for o in self.objects}))

    def object(self, name: str) -> ObjectSpec | None:
        return self._objects.get(name)

    def setting(self, name: str) -> ConnectionSetting | None:
        return next((c for c in self.connection if c.name == name), None)

    def object_names(self) -> list[str]:
        return [o.name for o in self.objects]

    def action(self, name: str) -> ActionSpec | None:
        return next((a for a in self.actions if a.name == name), None)

    def actions_on(self, object_name: str) -> list[ActionSpec]:
        return [a for a in self.actions if a.target == object_name]

    def rules_of(self, rule: str | None = None, *, object: str | None = None) -> list[RuleSpec]:
        """Rules of one kind and/or about one object (global rules have ``object`` None)."""
        return [r for r in self.rules if (rule is None or r.rule == rule) and (object is None or r.object == object)]


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------


def _package_dir() -> Traversable:
    return resources.files(_PACKAGE).joinpath(_DATA_DIR)


def _dirs(search_path: SearchPath) -> tuple[Traversable, ...]:
    if search_path is None:
        return (_package_dir(),)
    # one directory (a path, or a Traversable such as a package's resources) or a sequence of them
    items = search_path if isinstance(search_path, Sequence) and not isinstance(search_path, str) else (search_path,)
    return tuple(Path(p) if isinstance(p, (str, os.PathLike)) else p for p in items)


def _dir_key(search_path: SearchPath) -> tuple[str, ...] | None:
    if search_path is None:
        return None
    return tuple(str(d) for d in _dirs(search_path))


def _catalog_files(dirs: Iterable[Traversable]) -> dict[str, Traversable]:
    """system name -> file; an earlier directory wins over a later one."""
    found: dict[str, Traversable] = {}
    for d in dirs:
        if not d.is_dir():
            continue
        for entry in sorted(d.iterdir(), key=lambda e: e.name):
            name = entry.name
            if not name.endswith(".json") or name.endswith(".schema.json") or not entry.is_file():
                continue
            found.setdefault(name[: -len(".json")], entry)
    return found


def available_systems(search_path: SearchPath = None) -> list[str]:
    """The systems with a catalog file, sorted (``["autopilot", "pipedrive"]``).

    ``search_path`` replaces the package's catalog directory: one directory or a sequence
    (earlier ones win when two hold the same system).
    """
    return sorted(_catalog_files(_dirs(search_path)))


@functools.lru_cache(maxsize=1)
def _schema_text() -> str:
    return _package_dir().joinpath(SCHEMA_FILE).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    import jsonschema  # imported on demand: the shipped catalogs never need it at run time

    schema = json.loads(_schema_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def schema_problems(data: Any) -> list[tuple[str, str]]:
    """Where `data` breaks the catalog schema: (JSON pointer, message), sorted."""
    errors = sorted(_validator().iter_errors(data), key=lambda e: (list(map(str, e.absolute_path)), e.message))
    return [(_pointer(e.absolute_path), _schema_message(e)) for e in errors]


def shipped_catalog_texts() -> dict[str, str]:
    """The catalogs shipped with syncmap, by system: what the test suite validates."""
    return {system: entry.read_text(encoding="utf-8") for system, entry in _catalog_files((_package_dir(),)).items()}


def _pointer(parts: Iterable[Any]) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def clear_cache() -> None:
    """Forget loaded catalogs (tests that rewrite a catalog file in place)."""
    _load_cached.cache_clear()


def load_catalog(system: str, search_path: SearchPath = None) -> Catalog:
    """Load, validate and cross-check ``<system>.json``; cached per system and search path.

    Raises ``CatalogError`` (file + JSON pointer of every problem) when the file is missing,
    is not JSON, breaks the schema, or refers to objects/fields that do not exist.
    """
    return _load_cached(system, _dir_key(search_path))


@functools.lru_cache(maxsize=64)
def _load_cached(system: str, dir_key: tuple[str, ...] | None) -> Catalog:
    dirs = _dirs(None if dir_key is None else [Path(d) for d in dir_key])
    files = _catalog_files(dirs)
    entry = files.get(system)
    if entry is None:
        where = ", ".join(str(d) for d in dirs)
        known = ", ".join(sorted(files)) or "none"
        raise CatalogError(f"{system}.json", [("", f"no catalog for system `{system}` in {where} (known: {known})")])
    label = str(entry)
    try:
        text = entry.read_text(encoding="utf-8")
        data = json.loads(text)
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(label, [("", f"cannot read: {exc}")]) from exc
    except json.JSONDecodeError as exc:
        raise CatalogError(label, [("", f"not JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")]) from exc

    # The shipped catalogs are validated by the test suite (tests/compiler/test_catalog.py), so
    # a run never imports jsonschema for them; a catalog a user supplies is validated every
    # time. No cache: a marker in a shared directory could be planted to skip the check.
    if dir_key is not None:
        problems = schema_problems(data)
        if problems:
            raise CatalogError(label, problems)
    if data["system"] != system:
        raise CatalogError(label, [("/system", f"`{data['system']}` does not match the file name `{system}.json`")])

    problems = list(_cross_check(data))
    if problems:
        raise CatalogError(label, problems)
    catalog = _build(data, label)
    dependency_order(catalog)  # a cycle is a broken catalog
    return catalog


def _schema_message(error: jsonschema.ValidationError) -> str:
    # Prefer the deepest cause of anyOf/oneOf failures: it names the real problem.
    if error.context:
        deepest = max(error.context, key=lambda e: len(e.absolute_path))
        if len(deepest.absolute_path) > len(error.absolute_path):
            return deepest.message
    return error.message


def _cross_check(data: Mapping[str, Any]) -> Iterable[tuple[str, str]]:
    """References between parts of a schema-valid catalog."""
    objects: Mapping[str, Any] = data["objects"]

    def has_field(obj: str, name: str) -> bool:
        return obj in objects and name in objects[obj]["fields"]

    for oname, obj in objects.items():
        base = ("objects", oname)
        fields = obj["fields"]
        relations = obj.get("relations", {})
        for clash in sorted(set(fields) & set(relations)):
            yield _pointer(base + ("relations", clash)), f"`{clash}` is both a field and a relation of {oname}"
        aliases: dict[str, str] = {}
        for fname, f in fields.items():
            for alias in f.get("aliases", ()):
                if alias in fields or alias in relations or alias in aliases:
                    yield _pointer(base + ("fields", fname, "aliases")), f"alias `{alias}` is already a name in {oname}"
                aliases[alias] = fname
            via = f.get("write_via")
            if via:
                for name in [via["field"], *via.get("parts", ())]:
                    if name not in fields:
                        yield _pointer(base + ("fields", fname, "write_via")), f"{oname} has no field `{name}`"
            multi = f.get("multi")
            if multi and multi.get("default") and multi["default"] not in multi["selectors"]:
                yield _pointer(base + ("fields", fname, "multi", "default")), f"`{multi['default']}` is not one of its selectors"
        ident = obj["identity"]
        for key, names in (
            ("key", [ident["key"]]),
            ("dedupe", ident.get("dedupe", [])),
            ("occurred_at", [ident["occurred_at"]] if "occurred_at" in ident else []),
        ):
            for name in names:
                if name not in fields:
                    yield _pointer(base + ("identity", key)), f"{oname} has no field `{name}`"
        for i, req in enumerate(obj.get("required", [])):
            if req["field"] not in fields:
                yield _pointer(base + ("required", i, "field")), f"{oname} has no field `{req['field']}`"
        for rname, rel in relations.items():
            rptr = base + ("relations", rname)
            target = rel["target"]
            if target not in objects:
                yield _pointer(rptr + ("target",)), f"no object `{target}` in this catalog"
                continue
            holder, other = (oname, target) if rel["key_on"] == "self" else (target, oname)
            if rel["key_on"] in ("self", "target"):
                if not has_field(holder, rel["key"]):
                    yield _pointer(rptr + ("key",)), f"{holder} has no field `{rel['key']}`"
                ref = rel.get("references", "id")
                if not has_field(other, ref):
                    yield _pointer(rptr + ("references",)), f"{other} has no field `{ref}`"
        derived = obj.get("derived")
        if derived and derived["from"] not in objects:
            yield _pointer(base + ("derived", "from")), f"no object `{derived['from']}` in this catalog"

    for i, action in enumerate(data.get("actions", [])):
        aptr = ("actions", i)
        target = action["target"]
        if target not in objects:
            yield _pointer(aptr + ("target",)), f"no object `{target}` in this catalog"
            continue
        for j, fname in enumerate(action.get("fields", [])):
            if fname not in objects[target]["fields"]:
                yield _pointer(aptr + ("fields", j)), f"{target} has no field `{fname}`"
        if action.get("subject") and action["subject"] not in objects:
            yield _pointer(aptr + ("subject",)), f"no object `{action['subject']}` in this catalog"

    names = [a["name"] for a in data.get("actions", [])]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        yield "/actions", f"action `{dup}` is declared twice"

    for i, rule in enumerate(data.get("rules", [])):
        rule_ptr = ("rules", i)
        oname = rule.get("object")
        if oname is None:
            continue
        if oname not in objects:
            yield _pointer(rule_ptr + ("object",)), f"no object `{oname}` in this catalog"
            continue
        obj = objects[oname]
        for key in ("field",):
            if key in rule and rule[key] not in obj["fields"]:
                yield _pointer(rule_ptr + (key,)), f"{oname} has no field `{rule[key]}`"
        if "where" in rule and rule["where"]["field"] not in obj["fields"]:
            yield _pointer(rule_ptr + ("where", "field")), f"{oname} has no field `{rule['where']['field']}`"
        for key in ("relation", "scope_relation"):
            if key in rule and rule[key] not in obj.get("relations", {}):
                yield _pointer(rule_ptr + (key,)), f"{oname} has no relation `{rule[key]}`"
        if "references" in rule:
            tobj, tfield = rule["references"].split(".", 1)
            if not has_field(tobj, tfield):
                yield _pointer(rule_ptr + ("references",)), f"no field `{rule['references']}` in this catalog"
        if "path" in rule:
            resolved = _resolve_raw(objects, oname, rule["path"])
            if resolved is not None:
                yield _pointer(rule_ptr + ("path",)), resolved


def _resolve_raw(objects: Mapping[str, Any], oname: str, path: Sequence[str]) -> str | None:
    """Check a rule's path over raw catalog data; the error text, or None when it resolves."""
    current = oname
    for i, seg in enumerate(path):
        obj = objects[current]
        if seg in obj.get("relations", {}) and i < len(path) - 1:
            current = obj["relations"][seg]["target"]
            if current not in objects:
                return f"no object `{current}` in this catalog"
            continue
        if seg in obj["fields"] and i == len(path) - 1:
            return None
        return f"`{'.'.join(path)}` does not resolve at `{seg}` in {current}"
    return f"`{'.'.join(path)}` ends at a relation, not a field"


_COMMON_RULE_KEYS = {"rule", "seed", "object", "r", "severity", "note", "unverified", "source"}


def _build(data: Mapping[str, Any], label: str) -> Catalog:
    system = data["system"]
    cf = data["custom_fields"]
    style = CustomFieldStyle(
        style=cf["style"],
        native_types=MappingProxyType(dict(cf["native_types"])),
        write_container=cf.get("write_container"),
        read_container=cf.get("read_container"),
        key_pattern=cf.get("key_pattern"),
        key_format=cf.get("key_format"),
        space_replacement=cf.get("space_replacement"),
        key_prefixes=MappingProxyType(dict(cf.get("key_prefixes", {}))),
        resolution=cf.get("resolution"),
        note=cf.get("note"),
    )
    objects = tuple(_build_object(system, name, raw) for name, raw in data["objects"].items())
    actions = tuple(
        ActionSpec(
            system=system,
            name=a["name"],
            target=a["target"],
            operation=a["operation"],
            creates_person_if_missing=a["creates_person_if_missing"],
            fields=tuple(a.get("fields", ())),
            subject=a.get("subject"),
            idempotent=a.get("idempotent"),
            seed=a.get("seed"),
            note=a.get("note"),
            unverified=a.get("unverified"),
        )
        for a in data.get("actions", [])
    )
    rules = tuple(
        RuleSpec(
            system=system,
            rule=r["rule"],
            seed=r["seed"],
            object=r.get("object"),
            r=tuple(r.get("r", ())),
            severity=r.get("severity"),
            note=r.get("note"),
            unverified=r.get("unverified"),
            params=_frozen({k: v for k, v in r.items() if k not in _COMMON_RULE_KEYS}),
        )
        for r in data.get("rules", [])
    )
    return Catalog(
        system=system,
        display_name=data["display_name"],
        catalog_version=data["catalog_version"],
        custom_field_style=style,
        objects=objects,
        actions=actions,
        rules=rules,
        connection=tuple(
            ConnectionSetting(name, c["secret"], c["required"], c["description"], c.get("default"))
            for name, c in data["connection"]["settings"].items()
        ),
        api=_frozen(dict(data.get("api", {}))),
        file=label,
        note=data.get("note"),
    )


def _build_object(system: str, name: str, raw: Mapping[str, Any]) -> ObjectSpec:
    fields = tuple(_build_field(name, fname, f) for fname, f in raw["fields"].items())
    relations = tuple(
        RelationSpec(
            object=name,
            name=rname,
            target=r["target"],
            cardinality=r["cardinality"],
            key_on=r["key_on"],
            key=r.get("key"),
            references=r.get("references", "id"),
            seed_table=r.get("seed_table", False),
            note=r.get("note"),
            unverified=r.get("unverified"),
        )
        for rname, r in raw.get("relations", {}).items()
    )
    p = raw["permissions"]
    ident = raw["identity"]
    derived = raw.get("derived")
    return ObjectSpec(
        system=system,
        name=name,
        display_name=raw["display_name"],
        plural=raw.get("plural"),
        permissions=Permissions(p["read"], p["create"], p["update"], p["delete"], p.get("seed"), p.get("note")),
        custom_fields=raw["custom_fields"],
        identity=Identity(ident["key"], tuple(ident.get("dedupe", ())), ident.get("occurred_at"), ident.get("note")),
        fields=fields,
        relations=relations,
        required=tuple(RequiredField(r["field"], r["seed"], r.get("note"), r.get("in_every_direction", False)) for r in raw.get("required", [])),
        api=_frozen(dict(raw.get("api", {}))),
        seed_row=_frozen(raw["seed_row"]) if "seed_row" in raw else None,
        derived=DerivedSpec(derived["from"], tuple(derived["keys"]), derived["shape"], derived.get("note")) if derived else None,
        note=raw.get("note"),
        unverified=raw.get("unverified"),
    )


def _build_field(obj: str, name: str, f: Mapping[str, Any]) -> FieldSpec:
    multi = f.get("multi")
    lookup = f.get("lookup")
    via = f.get("write_via")
    return FieldSpec(
        object=obj,
        name=name,
        api_name=f["api"],
        type=f["type"],
        access=f["access"],
        nullable=f.get("nullable", True),
        api_type=f.get("api_type"),
        label=f.get("label"),
        values=tuple(EnumValue(v["value"], v.get("label")) for v in f.get("values", ())),
        multi=MultiSpec(tuple(multi["selectors"]), multi.get("default"), multi.get("item_value"), multi.get("item_label"), multi.get("item_primary"))
        if multi
        else None,
        lookup=LookupSpec(lookup["path"], lookup["key"], lookup["by"]) if lookup else None,
        write_via=WriteVia(via["field"], via["how"], tuple(via.get("parts", ())), via.get("separator"), via.get("value"), via.get("note"))
        if via
        else None,
        aliases=tuple(f.get("aliases", ())),
        unsplittable=f.get("unsplittable", False),
        source=f.get("source"),
        note=f.get("note"),
        unverified=f.get("unverified"),
    )


# ---------------------------------------------------------------------------------------------
# paths, suggestions, dependency order
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class PathError:
    """Why a path does not resolve: the failing segment, its index and what exists there."""

    kind: Literal["unknown_object", "unknown_name", "not_a_relation", "unknown_selector", "not_multi", "too_long", "empty"]
    index: int
    segment: str
    object: str | None
    message: str
    candidates: tuple[str, ...] = ()
    suggestion: str | None = None


@dataclass(frozen=True)
class ResolvedPath:
    """The outcome of ``resolve_path``: either ``ok`` with hops and a final field, or ``error``.

    ``field`` is None when the path ends at a relation (``person`` in ``where person = this``).
    """

    system: str
    start: str
    segments: tuple[str, ...]
    hops: tuple[RelationSpec, ...] = ()
    field: FieldSpec | None = None
    selector: str | None = None
    error: PathError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def end_object(self) -> str:
        """The object owning the final field (or the relation's target)."""
        return self.hops[-1].target if self.hops else self.start

    @property
    def ends_at_relation(self) -> bool:
        return self.ok and self.field is None

    @property
    def cardinality(self) -> Literal["one", "many"]:
        """``many`` when any hop is to-many (R22: discouraged), else ``one``."""
        return "many" if any(h.to_many for h in self.hops) else "one"

    @property
    def to_many_hops(self) -> tuple[RelationSpec, ...]:
        return tuple(h for h in self.hops if h.to_many)

    @property
    def effective_selector(self) -> str | None:
        """The selector given, else the multi field's default (``primary``)."""
        if self.selector is not None:
            return self.selector
        return self.field.multi.default if self.field and self.field.multi else None


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The closest candidate to ``name`` ("did you mean"), case-insensitive, or None."""
    options = list(dict.fromkeys(candidates))
    lowered: dict[str, str] = {}
    for c in options:
        lowered.setdefault(c.lower(), c)
    key = name.lower()
    if key in lowered and lowered[key] != name:
        return lowered[key]
    close = difflib.get_close_matches(key, list(lowered), n=1, cutoff=0.6)
    if close and lowered[close[0]] != name:
        return lowered[close[0]]
    return None


def resolve_path(catalog: Catalog, object_name: str, segments: Sequence[str]) -> ResolvedPath:
    """Walk ``segments`` from ``object_name`` through relations to a field (and selector).

    ``["organization", "name"]``, ``["email", "primary"]``, ``["person", "owner", "name"]``.
    User errors come back as ``ResolvedPath.error``, never as exceptions.
    """
    segs = tuple(segments)
    sys = catalog.system

    def fail(kind: Any, index: int, obj: str | None, message: str, candidates: Sequence[str] = (), hops: Sequence[RelationSpec] = ()) -> ResolvedPath:
        seg = object_name if index < 0 else (segs[index] if index < len(segs) else "")
        err = PathError(kind, index, seg, obj, message, tuple(candidates), suggest(seg, candidates) if candidates else None)
        return ResolvedPath(sys, object_name, segs, tuple(hops), None, None, err)

    obj = catalog.object(object_name)
    if obj is None:
        return fail("unknown_object", -1, None, f"{catalog.display_name} has no object `{object_name}`", catalog.object_names())
    if not segs:
        return fail("empty", 0, obj.name, "empty path")

    hops: list[RelationSpec] = []
    i = 0
    while i < len(segs):
        seg = segs[i]
        last = i == len(segs) - 1
        rel = obj.relation(seg)
        fld = obj.field(seg)
        if rel is not None:
            hops.append(rel)
            target = catalog.object(rel.target)
            assert target is not None  # cross-checked at load
            if last:
                return ResolvedPath(sys, object_name, segs, tuple(hops))
            obj = target
            i += 1
            continue
        if fld is not None:
            if last:
                return ResolvedPath(sys, object_name, segs, tuple(hops), fld)
            nxt = segs[i + 1]
            if fld.multi is None:
                return fail(
                    "not_a_relation", i + 1, obj.name, f"`{seg}` is a field of {obj.display_name}, not a relation: it has no `{nxt}`", hops=hops
                )
            if nxt not in fld.multi.selectors:
                sel = fld.multi.selectors
                msg = f"`{seg}` of {obj.display_name} has no selector `{nxt}`" + (
                    f" (selectors: {', '.join(sel)})" if sel else " (it takes no selector)"
                )
                return fail("unknown_selector" if sel else "not_multi", i + 1, obj.name, msg, sel, hops)
            if i + 2 < len(segs):
                return fail("too_long", i + 2, obj.name, f"`{seg}.{nxt}` is a value: nothing can follow it", hops=hops)
            return ResolvedPath(sys, object_name, segs, tuple(hops), fld, nxt)
        return fail("unknown_name", i, obj.name, f"{obj.display_name} has no field or relation `{seg}`", obj.names(), hops)
    raise AssertionError("unreachable")


def dependency_edges(catalog: Catalog) -> dict[str, tuple[str, ...]]:
    """object -> the objects it holds a to-one key to (they must exist first)."""
    edges: dict[str, tuple[str, ...]] = {}
    for obj in catalog.objects:
        deps = [r.target for r in obj.relations if r.is_dependency and r.target != obj.name]
        edges[obj.name] = tuple(dict.fromkeys(deps))
    return edges


def dependency_order(catalog: Catalog, objects: Iterable[str] | None = None, extra_edges: Mapping[str, Iterable[str]] | None = None) -> list[str]:
    """Objects in an order where each comes after everything it depends on.

    Derived from the relations (``dependency_edges``) plus ``extra_edges``; restricted to
    ``objects`` when given (dependencies outside it are ignored). Ties keep catalog order.
    Raises ``DependencyCycleError`` whose ``chain`` reads like ``["A", "B", "A"]``.
    """
    edges = {k: list(v) for k, v in dependency_edges(catalog).items()}
    for k, vs in (extra_edges or {}).items():
        edges.setdefault(k, []).extend(vs)
    order_hint = catalog.object_names()
    nodes = list(objects) if objects is not None else order_hint
    node_set = set(nodes)
    nodes.sort(key=lambda n: order_hint.index(n) if n in order_hint else len(order_hint))
    deps = {n: [d for d in edges.get(n, []) if d in node_set] for n in nodes}

    result: list[str] = []
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    stack: list[str] = []

    def visit(n: str) -> None:
        if state.get(n) == 2:
            return
        if state.get(n) == 1:
            raise DependencyCycleError(catalog.file or catalog.system, stack[stack.index(n) :] + [n])
        state[n] = 1
        stack.append(n)
        for d in deps[n]:
            visit(d)
        stack.pop()
        state[n] = 2
        result.append(n)

    for n in nodes:
        visit(n)
    return result
