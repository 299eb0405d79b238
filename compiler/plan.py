"""The plan as a file: its JSON Schema, validation, and deterministic JSON/YAML emission.

A file holds the written form (`plan_compact`: catalog facts once, one-line spans); memory
holds the expanded form the runtime reads. The schema (`plan.schema.json`, shipped in the
package) describes the written form and is checked when a plan is read from a file. A plan
the compiler has just lowered is not schema-checked again (the test suite checks that every
lowered plan validates): `assert_consistent` is all a compile pays for. A plan whose format
this syncmap does not know is refused with a clear message.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import TYPE_CHECKING, Any

from syncmap.compiler.gcpause import gc_paused
from syncmap.compiler.plan_compact import CompactError, compact, expand

if TYPE_CHECKING:
    import jsonschema

SUPPORTED = (2, 1)  # the newest plan format this syncmap reads
FLOW_WIDTH = 150  # the project's line length: most catalog entries and refs take one line
# JSON quotes every key and name: at 150 columns a field operation takes six lines, so removing
# one rule changed 19 lines of a JSON plan. At 200 an operation is one line, as in YAML.
JSON_FLOW_WIDTH = 200
SECTIONS = ("plan_version", "compiler", "source", "connections", "stages", "pairs", "actions", "warnings")


class PlanError(Exception):
    """A plan file that cannot be used: unreadable, invalid, or of an unknown version."""


@lru_cache(maxsize=1)
def plan_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(resources.files("syncmap.compiler").joinpath("plan.schema.json").read_text(encoding="utf-8"))
    return schema


@lru_cache(maxsize=1)
def _validator() -> jsonschema.Draft202012Validator:
    import jsonschema  # on demand: `syncmap check` never validates a plan

    schema = plan_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


@lru_cache(maxsize=1)
def _fast_validator() -> Any:
    """jsonschema-rs's validator when it is installed, else None.

    The Python validator takes seconds per megabyte of plan (7.5 s for the 16.6 MB plan of a
    10,000-line mapping); the Rust one decides the same schema a hundred times faster. It
    only answers valid or not: the messages of an invalid plan still come from jsonschema.
    """
    try:
        import jsonschema_rs
    except ImportError:
        return None
    return jsonschema_rs.validator_for(plan_schema())


def validate_document(doc: Any) -> None:
    """Raise PlanError naming every place a written plan breaks its schema."""
    _check_version(doc)
    fast = _fast_validator()
    errors = [] if fast is not None and fast.is_valid(doc) else sorted(_validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [f"  /{'/'.join(str(p) for p in e.absolute_path)}: {e.message}" for e in errors[:10]]
        raise PlanError("the plan does not match plan.schema.json:\n" + "\n".join(lines))


def validate_plan(plan: dict[str, Any]) -> None:
    """Raise PlanError when an in-memory plan, written out, would break its schema or itself."""
    assert_consistent(plan)
    validate_document(compact(plan))


def assert_consistent(plan: dict[str, Any]) -> None:
    """The cheap check of a plan: its version, its sections, and what no schema can say."""
    _check_version(plan)
    if tuple(plan) != SECTIONS:
        raise PlanError(f"a plan has the sections {', '.join(SECTIONS)}, in that order; this one has {', '.join(map(str, plan))}")
    problems = list(_reference_problems(plan))
    if problems:
        raise PlanError("the plan contradicts itself (edited by hand?); recompile it:\n" + "\n".join(f"  {p}" for p in problems[:10]))


def _reference_problems(plan: dict[str, Any]) -> Any:
    """What a schema cannot say: ids are unique, and the stages hold each pair exactly once."""
    ids = [pair["id"] for pair in plan["pairs"]]
    for i, pid in enumerate(ids):
        if pid in ids[:i]:
            yield f"/pairs/{i}: the pair id {pid!r} is used twice"
    staged = [(n, pid) for n, stage in enumerate(plan["stages"]) for pid in stage["pairs"]]
    for n, pid in staged:
        if pid not in ids:
            yield f"/stages/{n}: names the pair {pid!r}, which the plan does not have"
    for pid in dict.fromkeys(ids):
        count = sum(1 for _, s in staged if s == pid)
        if count != 1:
            yield f"/stages: the pair {pid!r} is in {count} stages, not exactly one"
    if [stage["stage"] for stage in plan["stages"]] != list(range(1, len(plan["stages"]) + 1)):
        yield "/stages: stage numbers must run 1, 2, 3, … in order"
    names = [action["name"] for action in plan["actions"]]
    for i, name in enumerate(names):
        if name in names[:i]:
            yield f"/actions/{i}: the action name {name!r} is used twice"


def _check_version(plan: Any) -> None:
    if not isinstance(plan, dict) or "plan_version" not in plan:
        raise PlanError("this is not a syncmap plan: it has no plan_version")
    raw = str(plan["plan_version"])
    try:
        major, minor = (int(part) for part in raw.split("."))
    except ValueError:
        raise PlanError(f"plan_version {raw!r} is not a version number like 1.0") from None
    if major != SUPPORTED[0]:
        raise PlanError(
            f"this plan has format {raw}, but this syncmap reads format {SUPPORTED[0]}.x: "
            "recompile the mapping with this syncmap (`syncmap compile`), or use the syncmap that wrote it"
        )
    if minor > SUPPORTED[1]:
        # A newer minor may carry fields this syncmap would not act on: refuse rather than
        # run a plan partly.
        raise PlanError(
            f"this plan has format {raw}, written by a newer syncmap; this one reads up to "
            f"{SUPPORTED[0]}.{SUPPORTED[1]}: upgrade syncmap, or recompile the mapping with this one"
        )


def header(plan: dict[str, Any]) -> str:
    return f"generated by syncmap {plan['compiler']['version']} from {plan['source']['root']}; do not edit: recompile with `syncmap compile`"


def dump_json(plan: dict[str, Any]) -> str:
    from syncmap.compiler import plan_json

    with gc_paused():  # like a compile: many small acyclic objects, see gcpause.py
        return plan_json.dump(compact(plan), JSON_FLOW_WIDTH)


def dump_yaml(plan: dict[str, Any]) -> str:
    from syncmap.compiler import plan_yaml

    with gc_paused():
        return f"# {header(plan)}\n{plan_yaml.dump(compact(plan), FLOW_WIDTH)}"


def dumps(plan: dict[str, Any], fmt: str) -> str:
    """A plan the compiler lowered (`compile_plan` checked it) as the text of a plan file."""
    return dump_yaml(plan) if fmt == "yaml" else dump_json(plan)


def format_for(path: str) -> str:
    return "yaml" if path.lower().endswith((".yaml", ".yml")) else "json"


def loads(text: str, fmt: str) -> dict[str, Any]:
    try:
        if fmt == "yaml":
            from ruamel.yaml import YAML

            data = YAML(typ="safe", pure=True).load(text)
        else:
            data = json.loads(text)
    except Exception as exc:  # the parsers raise many types; all mean "not a readable plan"
        raise PlanError(f"cannot read the plan: {exc}") from None
    validate_document(data)
    try:
        plan = expand(data)
    except CompactError as exc:
        raise PlanError(f"the plan contradicts itself (edited by hand?); recompile it:\n  {exc}") from None
    assert_consistent(plan)
    return plan


def load_plan(path: str) -> dict[str, Any]:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise PlanError(f"cannot read {path}: {exc.strerror}") from None
    return loads(text, format_for(path))
