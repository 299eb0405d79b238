"""A corpus of mappings that `syncmap check` accepts, made from the ones people read.

The bases are the shipped mappings, the bench mappings and the sync blocks of
docs/language.md. Variants are made from them by small text transforms over the mapping's own
lines, each one a thing a user may write: the other side order (every rule mirrored), each
direction, with and without link, list scope and deletes, each conflict policy, custom fields of
each type, and each object pair the catalog allows. A variant `check` rejects is a generator
bug: every corpus entry is checked in test_corpus.py, and transforms that would need one are
dropped here with the reason (see DROPPED).

The mapping is kept as data (`Block`: two object refs, an arrow, statement lines) so that the
mirror check (mirror.py) reads the same lines the runtime is given, not anything the engine
computed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

from harness import CONNECT

ROOT = Path(__file__).resolve().parents[2]
REVERSE = {"->": "<-", "<-": "->", "<->": "<->"}
HEADER = CONNECT
KEYWORDS = ("match", "link", "only", "deletes", "owner", "empty", "conflict", "where", "default")
_STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"')
_ARROW = re.compile(r"<->|->|<-")
_OPTION = re.compile(r"\s(with|default|conflict)\s")


def _masked(text: str) -> str:
    """`text` with every string literal blanked (same length), so arrows and keywords inside
    quotes are never taken for syntax."""
    return _STRING.sub(lambda m: '"' + " " * (len(m.group()) - 2) + '"', text)


def _strip_comment(line: str) -> str:
    masked = _masked(line)
    at = masked.find("#")
    return (line if at < 0 else line[:at]).rstrip()


# -- one statement ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """`left ARROW right options`: a field rule as written, sides in the block's order."""

    left: str
    arrow: str
    right: str
    options: str = ""

    @classmethod
    def parse(cls, line: str) -> Rule | None:
        masked = _masked(line)
        first = masked.split(None, 1)[0] if masked.strip() else ""
        if first in KEYWORDS:
            return None
        found = _ARROW.search(masked)
        if found is None:
            return None  # an assignment (`done = true`)
        left = line[: found.start()].strip()
        rest, rest_masked = line[found.end() :], masked[found.end() :]
        option = _OPTION.search(rest_masked)
        cut = option.start() if option else len(rest)
        return cls(left, found.group(), rest[:cut].strip(), rest[cut:].strip())

    def text(self) -> str:
        return f"{self.left} {self.arrow} {self.right}" + (f" {self.options}" if self.options else "")

    def mirrored(self) -> Rule:
        return Rule(self.right, REVERSE[self.arrow], self.left, self.options)


def keyword(line: str) -> str:
    """The statement's kind: a keyword, "rule" or "assign"."""
    first = _masked(line).split(None, 1)[0]
    if first in KEYWORDS:
        return first
    return "rule" if Rule.parse(line) else "assign"


def _swap_pairs(body: str) -> str:
    """`a = b, c = d` -> `b = a, d = c` (a match or link key list, sides in the block's order).
    A lone key is a relation of the left side (`match person`): mirrored, it names the contact's
    identity on the left (`match contact_id = person`), the form `check` asks for."""
    out = []
    for key in _split_top(body, ","):
        left, eq, right = key.partition("=")
        out.append(f"{right.strip()} = {left.strip()}" if eq else f"contact_id = {key.strip()}")
    return ", ".join(out)


def _split_top(text: str, sep: str) -> list[str]:
    masked, parts, start, depth = _masked(text), [], 0, 0
    for i, ch in enumerate(masked):
        depth += ch in "([{"
        depth -= ch in ")]}"
        if ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


# -- a sync block and a mapping -----------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    left: str  # "pipedrive.Person"
    arrow: str
    right: str
    lines: tuple[str, ...]

    def text(self) -> str:
        body = "".join(f"  {line}\n" for line in self.lines)
        return f"sync {self.left} {self.arrow} {self.right} {{\n{body}}}\n"

    @property
    def rules(self) -> list[Rule]:
        return [r for r in map(Rule.parse, self.lines) if r is not None]

    def system_of(self, side: str) -> str:
        return side.split(".", 1)[0]

    def flows(self) -> set[tuple[str, str]]:
        """(from system, to system) for each direction the block's arrow allows."""
        a, b = self.system_of(self.left), self.system_of(self.right)
        out = set()
        if self.arrow in ("->", "<->"):
            out.add((a, b))
        if self.arrow in ("<-", "<->"):
            out.add((b, a))
        return out

    def swapped(self) -> Block:
        lines = []
        for line in self.lines:
            kind = keyword(line)
            if kind == "rule":
                lines.append(Rule.parse(line).mirrored().text())  # type: ignore[union-attr]
            elif kind in ("match", "link"):
                lines.append(f"{kind} {_swap_pairs(line.split(None, 1)[1])}")
            else:
                lines.append(line)  # only/deletes/owner/conflict/where name systems or one side's fields
        return Block(self.right, REVERSE[self.arrow], self.left, tuple(lines))


@dataclass(frozen=True)
class Mapping:
    id: str
    blocks: tuple[Block, ...]
    actions: str = ""
    # Pipedrive custom fields the account must have before the run: (object, name, field_type).
    pd_fields: tuple[tuple[str, str, str], ...] = ()
    # Autopilot list members to seed: contacts of the "Pipedrive Contacts" list (R2 scope).
    list_members: int = 12

    def text(self) -> str:
        return HEADER + "".join("\n" + b.text() for b in self.blocks) + (f"\n{self.actions}" if self.actions else "")


def parse_mapping(text: str) -> tuple[list[Block], str]:
    """The sync blocks of a mapping (comments dropped) and its action blocks as text."""
    blocks: list[Block] = []
    actions: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = _strip_comment(lines[i])
        head = re.match(r"sync\s+(\S+)\s+(<->|->|<-)\s+(\S+)\s*\{$", line)
        if head:
            body = []
            i += 1
            while _strip_comment(lines[i]).strip() != "}":
                stmt = _strip_comment(lines[i]).strip()
                if stmt:
                    body.append(re.sub(r"\s+(<->|->|<-)\s+", r" \1 ", stmt, count=1) if keyword(stmt) == "rule" else stmt)
                i += 1
            blocks.append(Block(head.group(1), head.group(2), head.group(3), tuple(body)))
        elif line.startswith("action "):
            depth, start = 0, i
            while True:
                depth += _masked(lines[i]).count("{") - _masked(lines[i]).count("}")
                if depth == 0:
                    break
                i += 1
            actions.append("\n".join(_strip_comment(x) for x in lines[start : i + 1] if _strip_comment(x).strip()))
        i += 1
    return blocks, "\n\n".join(actions) + ("\n" if actions else "")


def doc_blocks() -> list[Block]:
    """Every sync block of the ```syncmap examples in docs/language.md, as written there."""
    text = (ROOT / "docs" / "language.md").read_text()
    out: list[Block] = []
    for example in re.findall(r"```syncmap\n(.*?)```", text, re.S):
        out += parse_mapping(example)[0]
    return out


# -- transforms ---------------------------------------------------------------------------------


def with_arrow(block: Block, arrow: str) -> Block:
    """The block flowing only as `arrow` says (sides unchanged): rules that flow nowhere any more
    go; `<->` rules take the block's arrow; scope, deletes and conflict lines that speak of a
    flow the block no longer has go too (`check` rejects them, rightly)."""
    narrowed = Block(block.left, arrow, block.right, ())
    flows = narrowed.flows()
    lines: list[str] = []
    for line in block.lines:
        kind = keyword(line)
        if kind == "rule":
            rule = Rule.parse(line)
            assert rule is not None
            if arrow == "<->":
                lines.append(line)
            elif rule.arrow in (arrow, "<->"):
                options = re.sub(r"\s*conflict\s+\w+(\s+wins)?", "", rule.options).strip()
                lines.append(replace(rule, arrow=arrow, options=options).text())
        elif kind == "only":
            target = line.rsplit(None, 1)[1]
            if any(dest == target for _, dest in flows):
                lines.append(line)
        elif kind == "deletes":
            m = re.match(r"deletes\s+(\w+)\s*->\s*(\w+)", line)
            if m is None or (m.group(1), m.group(2)) in flows:
                lines.append(line)
        elif kind == "conflict":
            if len(flows) == 2:
                lines.append(line)
        elif kind == "owner":
            if any(dest == "pipedrive" for _, dest in flows):
                lines.append(line)
        else:
            lines.append(line)
    return Block(block.left, arrow, block.right, tuple(lines))


def without(block: Block, kind: str, contains: str = "") -> Block:
    return replace(block, lines=tuple(x for x in block.lines if not (keyword(x) == kind and contains in x)))


def adding(block: Block, *lines: str) -> Block:
    """`lines` added: statements after the block's last statement, rules after its last rule."""
    head = [x for x in block.lines if keyword(x) not in ("rule", "assign")]
    body = [x for x in block.lines if keyword(x) in ("rule", "assign")]
    new_head = [x for x in lines if keyword(x) not in ("rule", "assign")]
    new_body = [x for x in lines if keyword(x) in ("rule", "assign")]
    return replace(block, lines=tuple(head + new_head + body + new_body))


def replacing(block: Block, kind: str, line: str) -> Block:
    return adding(without(block, kind), line)


# -- the corpus ---------------------------------------------------------------------------------

LIST = "Pipedrive Contacts"
SCOPE = f'only autopilot.list("{LIST}") -> pipedrive'
LINK = 'link pipedrive.custom("apId") = autopilot.contact_id'
# Custom fields of each Autopilot type, against Pipedrive fields of a fitting type. Pipedrive's
# API cannot create boolean or integer fields (its field_type list has neither), so the integer
# one lands in a double field made for it and the boolean one comes from Activity.done.
CUSTOM_RULES = {
    "string": ('custom("Referral source") <-> custom("Favourite Colour", string)', ()),
    "integer": ('custom("Visits") <-> custom("Lead Score", integer)', (("Person", "Visits", "double"),)),
    "float": ('custom("Lead score") <-> custom("Lifetime Value", float)', ()),
    "date": ('custom("Contract start") <-> custom("Signup Date", date)', ()),
}


def _base(path: str) -> tuple[list[Block], str]:
    return parse_mapping((ROOT / path).read_text())


def build() -> list[Mapping]:
    """The corpus, in a fixed order; ids are stable names a failing test reports."""
    out: list[Mapping] = []
    add = out.append

    def variants(name: str, block: Block, **kw: object) -> None:
        add(Mapping(name, (block,), **kw))  # type: ignore[arg-type]
        add(Mapping(f"{name}~swapped", (block.swapped(),), **kw))  # type: ignore[arg-type]

    # The shipped mappings and the bench mappings, as they are.
    for path in ("mappings/autopilot.syncmap", "mappings/five-objects.syncmap"):
        blocks, actions = _base(path)
        add(Mapping(Path(path).stem, tuple(blocks), actions))
    for path in ("bench/mappings/pipedrive-to-autopilot.syncmap", "bench/mappings/autopilot-to-pipedrive.syncmap"):
        add(Mapping("bench-" + Path(path).stem, tuple(_base(path)[0])))

    person = _base("mappings/autopilot.syncmap")[0][0]
    # The shipped Person <-> Contact pair: each side order x each direction, with and without link.
    for arrow, tag in (("<->", "both"), ("->", "pd-to-ap"), ("<-", "ap-to-pd")):
        variants(f"person-{tag}", with_arrow(person, arrow))
    variants("person-nolink", without(person, "link"))
    # Without list scope (only where nothing flows into Pipedrive: SM313), deletes, policies.
    variants("person-pd-to-ap-noscope-nolink", without(without(with_arrow(person, "->"), "only"), "link"))
    add(Mapping("person-noscope", (without(person, "only"),)))
    add(Mapping("person-deletes-word", (replacing(person, "deletes", "deletes never"),)))
    for policy in ("pipedrive wins", "autopilot wins"):
        add(Mapping(f"person-conflict-{policy.split()[0]}", (replacing(person, "conflict", f"conflict {policy}"),)))
    add(Mapping("person-ap-to-pd-nolink", (without(with_arrow(person, "<-"), "link"),)))
    # Custom fields of each type, both ways, on the shipped pair.
    for kind, (rule, fields) in CUSTOM_RULES.items():
        add(Mapping(f"person-custom-{kind}", (adding(person, rule),), pd_fields=fields))
    rule, fields = CUSTOM_RULES["date"]
    add(Mapping("person-custom-date~swapped", (adding(person, rule).swapped(),), pd_fields=fields))

    # Each object pair of five-objects.syncmap, alone but for the Person pair the relations need.
    five = _base("mappings/five-objects.syncmap")[0]
    for block, name in zip(five[1:], ("organization", "deal", "activity-out", "activity-in"), strict=True):
        add(Mapping(f"pair-{name}", (person, block)))
        add(Mapping(f"pair-{name}~swapped", (person, block.swapped())))
    # Boolean: Pipedrive's API makes no boolean custom field; Activity.done is one.
    activity = adding(five[3], 'done -> custom("Last Activity Done", boolean)')
    add(Mapping("activity-custom-boolean", (person, activity)))
    add(Mapping("activity-custom-boolean~swapped", (person.swapped(), activity.swapped())))
    # Every sync block of docs/language.md, made whole where the page shows a fragment (the
    # fragments that come out the same as an earlier one are left out).
    seen = {m.text() for m in out}
    for n, block in enumerate(doc_blocks(), 1):
        mapping = Mapping(f"doc-{n}", standalone(block, person))
        mapping = replace(mapping, pd_fields=missing_fields(mapping))
        if mapping.text() not in seen and mapping.id not in DOC_REPEATS:
            seen.add(mapping.text())
            add(mapping)
    return out


def missing_fields(mapping: Mapping) -> tuple[tuple[str, str, str], ...]:
    """Pipedrive custom fields a mapping names that a seeded account lacks: a number field for
    a number, text otherwise (the runtime makes only its link field; R11)."""
    from syncmap.sandbox.pipedrive.seed import SEEDED_CUSTOM_FIELDS

    seeded = {(kind.capitalize(), name) for kind, name, _, _ in SEEDED_CUSTOM_FIELDS}
    out = []
    for block in mapping.blocks:
        pd_first = block if block.left.startswith("pipedrive.") else block.swapped()
        obj = pd_first.left.split(".")[1]
        for rule in pd_first.rules:
            found = re.match(r'^custom\("([^"]+)"\)$', rule.left)
            if found and (obj, found.group(1)) not in seeded:
                number = re.search(r",\s*(integer|float)\)", rule.right)
                out.append((obj, found.group(1), "double" if number else "varchar"))
    return tuple(out)


def standalone(block: Block, person: Block) -> tuple[Block, ...]:
    """A block of docs/language.md as a mapping of its own. The page shows fragments: a Person
    pair that can create persons gets the names Pipedrive requires (SM307) and the list scope R2
    asks for (SM313); a pair reaching persons through a relation gets the shipped Person pair."""
    if block.right == "autopilot.Contact" and ("autopilot", "pipedrive") in block.flows() and not any(keyword(x) == "only" for x in block.lines):
        block = adding(block, SCOPE)
    if block.left != "pipedrive.Person" or block.right != "autopilot.Contact":
        return (person, block)
    if ("autopilot", "pipedrive") not in block.flows():
        return (block,)
    written = {r.left for r in block.rules}
    needed = [f"{f} {block.arrow} {a}" for f, a in (("first_name", "FirstName"), ("last_name", "LastName")) if f not in written]
    scope = [] if any(line.startswith("only autopilot.list(") for line in block.lines) else [SCOPE]
    return (adding(block, *scope, *needed),)


# Examples of docs/language.md whose only addition to their fragment is a line the shipped
# pair already runs with (kept out for the suite's time, not because they fail `check`).
DOC_REPEATS = {
    "doc-6": "organization.name -> Company and owner.name -> owner_name: as in person-*",
    "doc-22": "owner default pipedrive.me: as in person-*",
    "doc-23": "empty skip: as in person-*",
}

# Variants the generator makes that `check` rightly rejects, and why (kept out of the corpus).
DROPPED: dict[str, str] = {
    "person-noscope": "SM313: a pair that creates Pipedrive persons from contacts needs the list scope (R2); "
    "the unscoped variants are the Pipedrive-to-Autopilot ones",
}


def corpus() -> list[Mapping]:
    return [m for m in build() if m.id not in DROPPED]


def by_id() -> dict[str, Mapping]:
    return {m.id: m for m in corpus()}


def each_line(mapping: Mapping) -> Iterator[str]:
    for block in mapping.blocks:
        yield from block.lines


Transform = Callable[[Block], Block]
