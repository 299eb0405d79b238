"""Values across systems: each value in the target field's form, and compared in that form.

A value has three forms (docs/runtime.md, "Values across systems"):
- the **wire** form one API sends and takes (Autopilot's date `2016-11-22T00:00:00.000Z`,
  Pipedrive's `2016-11-22`, an enum's option id `12`);
- the **canonical** form of a field type, which connectors put in flat records and the diff
  compares and writes (a date `2016-11-22`, a datetime `2016-11-22T10:00:00Z`, an enum's label);
- the **comparison key**, which makes values that mean the same equal (`Ann@x.com` and
  `ann@x.com`, `+1 555 0100` and `+15550100`, 5 and 5.0).

`convert` brings any value into a type's canonical form (or raises `WireError`: then the value
cannot be written there, and the record gets a field-level dead letter before any request);
`to_wire` and `from_wire` cross between canonical and wire forms; `same_as` compares in the
target's type. Everything here is pure; the field types come from the plan and from the
custom field definitions the connectors load.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from syncmap.runtime.times import to_epoch
from syncmap.runtime.values import is_empty, normalize_for_compare

TRUE_WORDS = frozenset({"true", "yes", "y", "on", "1"})
FALSE_WORDS = frozenset({"false", "no", "n", "off", "0"})
NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
NOT_DIALLED = re.compile(r"[^\d+]")  # what a phone number's comparison ignores
CLOCK = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
# Kinds whose canonical form this module knows; any other kind (an id, a user, a relation, a
# type the vocabulary has no scalar for) travels as it is and the API judges it.
CONVERTED = frozenset({"string", "text", "integer", "number", "boolean", "date", "datetime", "email", "phone", "time"})


class WireError(ValueError):
    """A value that cannot be written into a field of this type (a word into an integer field)."""


@dataclass(frozen=True)
class FieldType:
    """What a written field holds: its vocabulary kind (None: unknown, values pass as they are),
    the system's own type name, and for option fields their `(id, label)` options."""

    kind: str | None
    native: str | None = None
    options: tuple[tuple[Any, str], ...] = ()

    def label_of(self, option_id: Any) -> Any:
        for key, label in self.options:
            if str(key) == str(option_id):
                return label
        return option_id

    def option(self, label: Any) -> tuple[Any, str] | None:
        wanted = str(label).strip().casefold()
        for key, name in self.options:
            if name.strip().casefold() == wanted:
                return key, name
        return None


UNKNOWN = FieldType(None)


# -- field types from the plan and from the systems' definitions ----------------------------------
@cache
def _native_kinds(system: str) -> Mapping[str, str | None]:
    from syncmap.compiler.catalog import load_catalog

    style = load_catalog(system).custom_field_style
    return style.native_types if style is not None else {}


def native_type(system: str, native: str | None, options: Iterable[Mapping[str, Any]] | None = None) -> FieldType:
    """A custom field's type from the system's own type name (Pipedrive's `field_type`,
    Autopilot's key prefix), by the catalog's `native_types`; `set` and `time` are kinds of their own."""
    if native in ("set", "time"):
        kind: str | None = native
    else:
        kind = _native_kinds(system).get(native or "")
    return FieldType(kind, native, tuple((o["id"], str(o["label"])) for o in options or () if "id" in o and "label" in o))


def field_types(connectors: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], FieldType]:
    """The type of a field ref: from its system's connector when it knows the live definitions
    (Pipedrive's custom fields are typed only in the account), else from the plan."""

    def of(ref: Mapping[str, Any]) -> FieldType:
        known = getattr(connectors.get(ref.get("system", "")), "field_type", None)
        return known(ref) if callable(known) else plan_type(ref)

    return of


def plan_type(ref: Mapping[str, Any]) -> FieldType:
    """A field's type as the plan knows it: the catalog type of a standard field, the declared
    type of a custom field (Autopilot's key carries its native prefix)."""
    if ref.get("kind") == "custom":
        custom = ref.get("custom") or {}
        key = custom.get("key") or ""
        native = key.partition("--")[0] if "--" in key else None
        return FieldType(custom.get("type") or ref.get("type"), native)
    if ref.get("kind") not in (None, "field"):
        return UNKNOWN  # relations are translated to partner ids elsewhere
    return FieldType(ref.get("type"))


# -- canonical forms ------------------------------------------------------------------------------
def convert(value: Any, ftype: FieldType) -> Any:
    """`value` in `ftype`'s canonical form. Empty values and unknown kinds stay as they are."""
    if is_empty(value) or ftype.kind is None:
        return value
    kind = ftype.kind
    if kind in ("enum", "set") and ftype.options:
        return _options(value, ftype)
    if kind not in CONVERTED:
        return value
    return _CONVERTERS[kind](value)


def _describe(value: Any) -> str:
    return repr(value) if not isinstance(value, str) or len(value) <= 60 else repr(value[:57] + "...")


def _words(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [item.get("label", item.get("id")) if isinstance(item, Mapping) else item for item in value]
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return [value]


def _options(value: Any, ftype: FieldType) -> Any:
    """An enum's label (a set's labels), as the field spells them, found by label in any case;
    a boolean picks the option labelled yes/no (true/false, on/off)."""
    items = _words(value) if ftype.kind == "set" else [value]
    labels = []
    for item in items:
        if isinstance(item, Mapping):
            item = item.get("label", item.get("id"))
        if isinstance(item, bool):
            words = TRUE_WORDS if item else FALSE_WORDS
            found = next(((k, n) for k, n in ftype.options if n.strip().casefold() in words), None)
        else:
            found = ftype.option(item)  # by label only: a score of 12 is not option id 12
        if found is None:
            choices = ", ".join(repr(name) for _, name in ftype.options)
            raise WireError(f"{_describe(item)} is not one of the field's options ({choices})")
        labels.append(found[1])
    return labels if ftype.kind == "set" else labels[0]


def _number(value: Any) -> float:
    if isinstance(value, bool):
        raise WireError(f"{value!r} is a boolean, not a number")
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any double
            number = math.inf
    elif isinstance(value, str) and NUMBER.fullmatch(value.strip()):
        number = float(value.strip())
    else:
        raise WireError(f"{_describe(value)} is not a number")
    if not math.isfinite(number):
        raise WireError(f"{_describe(value)} is not a finite number")
    return number


def _to_number(value: Any) -> int | float:
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) < 2**53:
        return value
    number = _number(value)
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


def _to_integer(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    number = _number(value)
    if not number.is_integer():
        raise WireError(f"{_describe(value)} is not a whole number")
    return int(number)


def _to_boolean(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    word = str(value).strip().casefold()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise WireError(f"{_describe(value)} is not true or false")


def _moment(value: Any) -> dt.datetime:
    """Any recorded form of a moment: ISO 8601 (with or without offset, `Z`, milliseconds),
    a bare date, Pipedrive v1's `YYYY-MM-DD HH:MM:SS`, RFC 1123, epoch milliseconds."""
    if isinstance(value, bool):
        raise WireError(f"{value!r} is not a date")
    if isinstance(value, (dt.date, dt.datetime)):
        value = value.isoformat()
    digits = str(value).strip().lstrip("-")
    if isinstance(value, (int, float)) or (digits.isascii() and digits.isdigit()):
        # Only Autopilot's epoch milliseconds (13 digits today): a score or a count is no date.
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not number.is_integer() or abs(number) < 10**11:
            raise WireError(f"{_describe(value)} is a number, not a date (epoch milliseconds have 12 digits or more)")
    try:
        epoch = to_epoch(value) if isinstance(value, (int, float, str)) else None
    except (OverflowError, ValueError):
        epoch = None
    if epoch is None:
        raise WireError(f"{_describe(value)} is not a date or time")
    try:
        return dt.datetime.fromtimestamp(epoch, dt.UTC)
    except (OverflowError, OSError, ValueError):
        raise WireError(f"{_describe(value)} is outside the years a date can have") from None


def _to_date(value: Any) -> str:
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
        try:
            return dt.date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            raise WireError(f"{_describe(value)} is not a calendar date") from None
    # A moment is the day it falls on in UTC: Autopilot keeps dates as UTC midnights.
    return _moment(value).date().isoformat()


def _to_datetime(value: Any) -> str:
    # Whole seconds: Pipedrive keeps no fraction, so a finer value would never compare equal.
    return _moment(value).replace(microsecond=0, tzinfo=None).isoformat() + "Z"  # four-digit years, unlike strftime


def _to_string(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    if isinstance(value, (list, tuple)):
        return ", ".join(_to_string(item) for item in _words(value))
    if isinstance(value, Mapping):
        if "label" in value or "value" in value:
            return _to_string(value.get("label", value.get("value")))
        raise WireError(f"{_describe(value)} is not text")
    return str(value)


def _to_contact(value: Any) -> str:
    """An email or a phone as both APIs keep it: the text, trimmed. Neither API checks a
    phone's form, and Autopilot's own refusal of an address is the record's letter (it is
    how Autopilot finds the contact), so nothing more is asked here."""
    return _to_string(value).strip()


def _to_time(value: Any) -> str:
    if isinstance(value, Mapping):
        value = value.get("value")
    match = CLOCK.fullmatch(str(value).strip())
    if match is None or int(match.group(1)) > 23 or int(match.group(2)) > 59 or int(match.group(3) or 0) > 59:
        raise WireError(f"{_describe(value)} is not a time of day (HH:MM or HH:MM:SS)")
    return f"{int(match.group(1)):02d}:{match.group(2)}:{match.group(3) or '00'}"


_CONVERTERS = {
    "string": _to_string,
    "text": _to_string,
    "integer": _to_integer,
    "number": _to_number,
    "boolean": _to_boolean,
    "date": _to_date,
    "datetime": _to_datetime,
    "email": _to_contact,
    "phone": _to_contact,
    "time": _to_time,
}


# -- wire forms -----------------------------------------------------------------------------------
def to_wire(value: Any, ftype: FieldType, system: str) -> Any:
    """What `system` takes for a field of `ftype` (WireError when the value cannot be written)."""
    if is_empty(value):
        return None
    canonical = convert(value, ftype)
    native = ftype.native
    if system == "autopilot":
        if native == "date" or (native is None and ftype.kind == "date"):
            return canonical + "T00:00:00.000Z"  # how Autopilot stores and answers dates
        if native == "float":
            return float(canonical)
        return canonical
    if ftype.kind == "enum" and ftype.options:
        found = ftype.option(canonical)
        return found[0] if found else canonical
    if ftype.kind == "set" and ftype.options:
        return [found[0] for label in canonical if (found := ftype.option(label)) is not None]
    if native == "monetary":
        return {"value": canonical, "currency": None}
    if native == "address":
        return {"value": canonical}
    if native == "time":
        return {"value": canonical, "timezone_name": None}
    if native == "double":
        return float(canonical)
    if native in ("user", "org", "people") and str(canonical).strip().isdigit():
        return int(canonical)  # ids of the account's users and records
    return canonical


def from_wire(value: Any, ftype: FieldType, system: str) -> Any:
    """A value as `system` answers it, in the canonical form of `ftype`. Never raises: a value
    that is not what the type says (a field whose type changed) is kept as it was read."""
    if isinstance(value, Mapping) and "type" in value and system == "pipedrive":
        # Pipedrive's webhook v2 typed values: {"type": "enum", "id": 12}, {"type": "double", "value": 5}
        value = value.get("value", value.get("id", value.get("values")))
    if isinstance(value, Mapping) and ftype.native not in ("time",):
        # include_option_labels ({id, label}), monetary and address ({value, ...})
        value = value.get("label", value.get("value", value.get("id")))
    if ftype.kind in ("enum", "set") and ftype.options:
        items = value if isinstance(value, list) else [value]
        items = [ftype.label_of(item.get("label", item.get("id")) if isinstance(item, Mapping) else item) for item in items]
        value = items if ftype.kind == "set" else items[0]
    try:
        return convert(value, ftype)
    except WireError:
        return value


# -- comparison -----------------------------------------------------------------------------------
def comparable(value: Any, ftype: FieldType) -> Any:
    """The key two values of one field compare by: canonical form, then what each kind ignores
    (case of an email or an option label, spacing and punctuation of a phone, 5 == 5.0)."""
    try:
        canonical = convert(value, ftype)
    except WireError:
        canonical = value
    if is_empty(canonical):
        return None
    kind = ftype.kind
    if kind == "email" or (kind in ("enum", "set") and ftype.options):
        if isinstance(canonical, list):
            return tuple(sorted(str(item).strip().casefold() for item in canonical))
        return str(canonical).strip().casefold()
    if kind == "phone" and isinstance(canonical, str):
        return NOT_DIALLED.sub("", canonical)
    if kind in ("date", "datetime", "time", "boolean") and not isinstance(canonical, (list, Mapping)):
        return (kind, canonical)  # canonical forms compare as they are
    if kind in ("integer", "number") and isinstance(canonical, (int, float)) and not isinstance(canonical, bool):
        return float(canonical)
    # Text keeps the untyped comparison (trimmed; an address in any case; "5" and 5; a date
    # at midnight and that day), as do kinds with no canonical form.
    return normalize_for_compare(canonical)


def same_as(a: Any, b: Any, ftype: FieldType) -> bool:
    """Whether two values hold the same in a field of `ftype` (so writing one over the other
    would change nothing)."""
    if type(a) is type(b) and a == b:
        return True  # the usual case, a value unchanged: conversions are deterministic
    return bool(comparable(a, ftype) == comparable(b, ftype))
