"""A starter mapping written from what two accounts hold (`syncmap init`). Pure: the account is
read elsewhere (`syncmap.runtime.init`); this turns it into canonical mapping text.

The starter syncs Pipedrive persons with Autopilot contacts the way Autopilot's own integration
does (`mappings/autopilot.syncmap`): the fields every created record needs are mapped, and
everything else the accounts offer (standard fields, custom fields on either side, an activity
sync using the account's activity types) is written out but commented: uncommenting a line
gives a mapping that still passes `syncmap check`, which the tests prove for all of them at once.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from syncmap.compiler.api import check, format_text
from syncmap.compiler.catalog import load_catalog
from syncmap.compiler.fmt import quote

# Environment variables the `connect` blocks name: the ones `syncmap sandbox` prints and
# `syncmap init --from-env` reads, so the starter runs where init ran.
ENV = {
    "pipedrive": {"token": "PIPEDRIVE_API_TOKEN", "base_url": "PIPEDRIVE_BASE_URL"},
    "autopilot": {"key": "AUTOPILOT_API_KEY", "base_url": "AUTOPILOT_BASE_URL"},
}
# The list Autopilot's integration syncs into Pipedrive; the runtime creates it when missing.
SYNC_LIST = "Pipedrive Contacts"
# The Pipedrive person field that keeps each pair's contact id (created by the first run): the
# link, never a field to sync.
LINK_FIELD = "apId"

# Pipedrive person field -> Autopilot contact field, for the standard fields both systems have:
# (Pipedrive path, arrow, Autopilot field, the personFields key that must exist). The arrows are
# those of mappings/autopilot.syncmap: names, email and phone both ways; organization and owner
# names are Pipedrive's to give.
REQUIRED_RULES = (("first_name", "<->", "FirstName"), ("last_name", "<->", "LastName"), ("email.primary", "<->", "Email"))
OPTIONAL_RULES = (
    ("phone.primary", "<->", "Phone", "phone"),
    ("job_title", "<->", "Title", "job_title"),
    ("organization.name", "->", "Company", "org_id"),
    ("owner.name", "->", "owner_name", "owner_id"),
)
# Built-in person fields every sync handles itself (ids, times, the name it composes).
HANDLED = {"id", "name", "first_name", "last_name", "email", "add_time", "update_time", "visible_to"}
# Pipedrive's text-like custom fields go to Autopilot string fields.
TEXT_LIKE = {"text": "string", "enum": "string", "phone": "string"}
# Autopilot's engagement becomes Pipedrive activities of this type when the account has it.
PREFERRED_ACTIVITY_TYPE = "email"

COMMENT_WIDTH = 96  # of a comment's text; fmt keeps comments as written

# An optional line is written active with this trailing comment, laid out by `fmt` with the
# rest, then commented out: so commented code is aligned exactly as it will be once enabled.
_MARK = "# syncmap-init:optional"


@dataclass(frozen=True)
class Account:
    """What init read: Pipedrive's person field definitions (built-in and custom, as
    /v1/personFields gives them), Autopilot's custom fields (`{name, fieldType}`), its list
    titles, and Pipedrive's activity types (`{key_string, name}`)."""

    person_fields: tuple[Mapping[str, Any], ...]
    contact_fields: tuple[Mapping[str, Any], ...]
    lists: tuple[str, ...]
    activity_types: tuple[Mapping[str, Any], ...]
    source: str  # where it was read, for the header: "the sandboxes", "the accounts in PIPEDRIVE_API_TOKEN ..."


class ScaffoldError(Exception):
    """The starter did not pass `check`: a bug in init, never written to disk."""


@dataclass(frozen=True)
class _Line:
    text: str
    optional: bool = False


def _comment(text: str) -> list[_Line]:
    """`# text`, wrapped: an account's lists and field names can make it any length."""
    return [_Line(f"# {line}") for line in textwrap.wrap(text, COMMENT_WIDTH, break_long_words=False, break_on_hyphens=False)]


def _names(items: Iterable[str]) -> str:
    return ", ".join(items)


# ---------------------------------------------------------------- custom fields


def _is_custom(definition: Mapping[str, Any]) -> bool:
    pattern = load_catalog("pipedrive").custom_field_style.key_pattern or r"^[0-9a-f]{40}$"
    return re.match(pattern, str(definition.get("key", ""))) is not None


def _pipedrive_custom(account: Account) -> list[Mapping[str, Any]]:
    return [f for f in account.person_fields if _is_custom(f) and str(f.get("name", "")).strip() not in ("", LINK_FIELD)]


def _autopilot_type(pipedrive_field_type: str) -> str | None:
    """The Autopilot custom field type a Pipedrive custom field's values fit, None if none does."""
    vocabulary = load_catalog("pipedrive").custom_field_style.vocabulary_type(pipedrive_field_type)
    if vocabulary is None:
        return None
    return TEXT_LIKE.get(vocabulary) or load_catalog("autopilot").custom_field_style.key_prefixes.get(vocabulary)


def _custom_rules(account: Account, pipedrive_custom: Sequence[Mapping[str, Any]]) -> tuple[list[_Line], list[_Line], list[_Line], list[str]]:
    """Optional rules for custom fields (on both sides, only in Pipedrive, only in Autopilot; a
    name pairs case-insensitively, once) and the Pipedrive fields no Autopilot type can hold."""
    autopilot_types = set(load_catalog("autopilot").custom_field_style.native_types)
    contact_fields: dict[str, tuple[str, str]] = {}
    for f in account.contact_fields:
        name, kind = str(f.get("name", "")).strip(), str(f.get("fieldType", ""))
        if name and kind in autopilot_types:
            contact_fields.setdefault(name.casefold(), (name, kind))
    pipedrive_names = {str(f["name"]).strip().casefold() for f in pipedrive_custom}
    both, pipedrive_only, unsyncable = [], [], []
    paired: set[str] = set()
    for f in pipedrive_custom:
        name = str(f["name"]).strip()
        twin = contact_fields.get(name.casefold())
        if twin is not None and name.casefold() not in paired:
            paired.add(name.casefold())
            both.append(_Line(f"custom({quote(name)}) <-> custom({quote(twin[0])}, {twin[1]})", optional=True))
            continue
        autopilot_kind = _autopilot_type(str(f.get("field_type", "")))
        if autopilot_kind is None:
            unsyncable.append(f"{name} ({f.get('field_type')})")
        elif twin is None:
            pipedrive_only.append(_Line(f"custom({quote(name)}) -> custom({quote(name)}, {autopilot_kind})", optional=True))
    autopilot_only = [
        _Line(f"custom({quote(name)}) <- custom({quote(name)}, {kind})", optional=True)
        for folded, (name, kind) in contact_fields.items()
        if folded not in pipedrive_names
    ]
    return both, pipedrive_only, autopilot_only, unsyncable


# ---------------------------------------------------------------- the mapping


def _header(account: Account) -> list[_Line]:
    return [
        *_comment(f"A starter mapping written by `syncmap init` from {account.source}."),
        *_comment(
            "Pipedrive persons and Autopilot contacts sync as Autopilot's own integration does; the fields every new record "
            "needs are mapped, and the rest of what both accounts offer is written out below, commented: remove the `# ` "
            "before a line to sync it, then run `syncmap check`."
        ),
        _Line("syncmap 1"),
        _Line(""),
    ]


def _connect(system: str) -> list[_Line]:
    return [
        _Line(f"connect {system} {{"),
        *(_Line(f'{setting} = env("{variable}")') for setting, variable in ENV[system].items()),
        _Line("}"),
        _Line(""),
    ]


def _person_sync(account: Account) -> list[_Line]:
    present = {str(f.get("key")) for f in account.person_fields}
    other_lists = [title for title in account.lists if title != SYNC_LIST]
    lines = [
        _Line("sync pipedrive.Person <-> autopilot.Contact {"),
        *_comment("Pairs are kept in a Pipedrive person field the first run creates."),
        _Line(f"link pipedrive.custom({quote(LINK_FIELD)}) = autopilot.contact_id"),
        _Line("match email.primary = Email"),
        *_comment(f'Only contacts on this Autopilot list reach Pipedrive (the first run creates "{SYNC_LIST}").'),
    ]
    if other_lists:
        lines.extend(_comment(f"Lists in this account: {_names(quote(t) for t in other_lists)}."))
    lines += [
        _Line(f"only autopilot.list({quote(SYNC_LIST)}) -> pipedrive"),
        *_comment("Deleting a person in Pipedrive deletes the contact in Autopilot:"),
        _Line("deletes pipedrive -> autopilot", optional=True),
        _Line("owner default pipedrive.me"),
        _Line("empty skip"),
        _Line("conflict newest"),
        _Line(""),
        *_comment("Required: Pipedrive needs both names to create a person; Autopilot keys contacts by email."),
        *(_Line(f"{left} {arrow} {right}") for left, arrow, right in REQUIRED_RULES),
    ]
    standard = [_Line(f"{left} {arrow} {right}", optional=True) for left, arrow, right, key in OPTIONAL_RULES if key in present]
    if standard:
        lines += [_Line(""), *_comment("Standard fields both systems have:"), *standard]
    pipedrive_custom = _pipedrive_custom(account)
    both, pipedrive_only, autopilot_only, unsyncable = _custom_rules(account, pipedrive_custom)
    sections = (
        ("Custom fields on both sides (paired by name):", both),
        ("Pipedrive custom fields Autopilot lacks (create each in Autopilot first):", pipedrive_only),
        ("Autopilot custom fields Pipedrive lacks (create each as a person field in Pipedrive first):", autopilot_only),
    )
    for title, rules in sections:
        if rules:
            lines += [_Line(""), *_comment(title), *rules]
    unmapped = [
        f"{f.get('name')} ({f.get('key')})"
        for f in account.person_fields
        if str(f.get("key")) not in HANDLED | {rule[3] for rule in OPTIONAL_RULES} and not _is_custom(f)
    ]
    notes = [
        *([f"Pipedrive person fields with no Autopilot counterpart: {_names(unmapped)}."] if unmapped else []),
        *([f"Pipedrive custom fields whose type Autopilot cannot hold: {_names(unsyncable)}."] if unsyncable else []),
    ]
    if notes:
        lines += [_Line(""), *(line for note in notes for line in _comment(note))]
    return [*lines, _Line("}"), _Line("")]


def _activity_sync(account: Account) -> list[_Line]:
    kinds = [(str(t.get("key_string", "")), str(t.get("name", ""))) for t in account.activity_types if t.get("key_string")]
    if not kinds:
        return _comment("This Pipedrive account has no activity types: Autopilot's engagement cannot become activities.")
    default = next((key for key, _ in kinds if key == PREFERRED_ACTIVITY_TYPE), kinds[0][0])
    body = [
        "sync pipedrive.Activity <- autopilot.Activity {",
        "match person = contact, marked_as_done_time = occurred_at",
        "only new -> pipedrive",
        f"default type = {quote(default)}",
        "",
        "person <- contact",
        "marked_as_done_time <- occurred_at",
        'subject <- "Autopilot: {kind}"',
        "done = true",
        "}",
    ]
    return [
        *_comment("Autopilot's email engagement (sends, opens, clicks) as done Pipedrive activities."),
        *_comment(f"Activity types in this account: {_names(f'{key} ({name})' for key, name in kinds)}."),
        *(_Line(text, optional=bool(text)) for text in body),
    ]


def _lines(account: Account) -> list[_Line]:
    return [*_header(account), *_connect("pipedrive"), *_connect("autopilot"), *_person_sync(account), *_activity_sync(account)]


def _text(lines: Sequence[_Line]) -> str:
    return "".join((f"{line.text}  {_MARK}" if line.optional else line.text) + "\n" for line in lines)


def _comment_out(formatted: str, enable: bool) -> str:
    """Comment out the marked lines (or just drop the marks). A commented block keeps its inner
    indentation after the `#`: `fmt` puts an own-line comment at its enclosing block's depth."""
    out = []
    block_indent: int | None = None  # the indentation of the commented-out block we are inside
    for line in formatted.splitlines():
        if line.endswith(_MARK):
            code = line[: -len(_MARK)].rstrip()
            indent = len(code) - len(code.lstrip())
            at = indent if block_indent is None else block_indent
            if block_indent is None and code.endswith("{"):
                block_indent = indent
            elif block_indent == indent and code.strip() == "}":
                block_indent = None
            line = code if enable else f"{code[:at]}# {code[at:]}"
        elif not line and block_indent is not None and not enable:
            line = " " * block_indent + "#"
        out.append(line + "\n")
    return "".join(out)


def _canonical(text: str, path: str) -> str:
    formatted, diagnostics = format_text(text, path)
    if formatted is None:
        raise ScaffoldError(f"the starter mapping does not parse: {[d.message for d in diagnostics]}")
    return formatted


def scaffold(account: Account, *, enable_optional: bool = False, path: str = "starter.syncmap") -> str:
    """The starter mapping's text: canonical (`fmt --check` passes) and checked (no errors).
    `enable_optional` leaves the optional lines uncommented (the tests check that mapping too)."""
    text = _canonical(_comment_out(_canonical(_text(_lines(account)), path), enable_optional), path)
    result = check(path, reader=lambda _: text)
    if not result.ok:
        raise ScaffoldError(f"the starter mapping fails check: {[d.message for d in result.diagnostics if d.is_error]}")
    return text
