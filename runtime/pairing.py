"""Pairing: which left record belongs with which right record, over the left side chunk by
chunk (a mixin of `syncmap.runtime.engine.PairRun`; it reads `self.pair`, `self.state`,
`self.engine`). Order: the stored link, the link field, then each match group; duplicates are
reported, never merged (R9)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from syncmap.compiler import passes
from syncmap.runtime.candidates import Candidate, DeadLetter
from syncmap.runtime.connectors.base import Record
from syncmap.runtime.pair_run_host import PairRunHost
from syncmap.runtime.state import Link
from syncmap.runtime.values import is_empty, normalize_key, ref_key


class Pairing(PairRunHost):
    # Pairing runs over the left side chunk by chunk; what must hold across chunks (which right
    # records are taken, which match keys a left record already has) lives on the PairRun.
    def begin_pairing(self, right: dict[str, Record]) -> None:
        self.taken_right: dict[str, str] = {}  # right id -> left id paired in this pass
        self.seen_left: set[str] = set()  # every left id read, or created, in this pass
        self.right_links = {r: links for r in right if (links := self.state.links_by_right(self.id, r))}
        self.groups = [group["keys"] for group in self.pair["match"]]
        # per match group: key -> the right records that have it, and key -> the left record
        # that owns it (the first one paired or seen; a later one with the key is a duplicate)
        self.index: list[dict[tuple[str, ...], list[Record]]] = [{} for _ in self.groups]
        self.owners: list[dict[tuple[str, ...], Record]] = [{} for _ in self.groups]
        for gi, keys in enumerate(self.groups):
            for record in right.values():
                key = self.match_key(record, keys, "right")
                if key is not None:
                    self.index[gi].setdefault(key, []).append(record)
        for links in self.right_links.values():
            for link in links:
                self.own(self.remembered_left(link))

    def own_linked(self) -> None:
        """Every linked left record owns its match keys, as last synced (one read of the pair's
        links): what an incremental pass that reads neither them nor their partners must know."""
        for link in self.state.iter_links(self.id):
            self.own(self.remembered_left(link))

    def own(self, record: Record) -> None:
        for gi, keys in enumerate(self.groups):
            if not any(k["kind"] == "relation" for k in keys):
                key = self.match_key(record, keys, "left")
                if key is not None:
                    self.owners[gi].setdefault(key, self.owner_entry(record))

    def owner_entry(self, record: Record) -> Record:
        """What the owners table keeps of a record: one-to-one pairs need only its id (to name
        the duplicate), and 100,000 whole records would be most of a large pass's memory;
        many-to-one pairs pair later records with it, so they keep it whole (organizations)."""
        return Record(record.id, {}) if self.one_to_one() else record

    def pair_chunk(self, left: dict[str, Record], right: dict[str, Record]) -> list[Candidate]:
        candidates: list[Candidate] = []
        taken_right = self.taken_right
        unpaired_left: list[Record] = []
        link_ref = self.pair.get("link")
        link_left_key = ref_key(link_ref["left"]) if link_ref and link_ref["left"]["kind"] == "custom" else None
        for record in sorted(left.values(), key=lambda r: id_order(r.id)):
            self.seen_left.add(record.id)
            link = self.state.link_by_left(self.id, record.id)
            right_id = link.right_id if link else None
            if right_id is None and link_left_key and not is_empty(record.values.get(link_left_key)):
                right_id = str(record.values[link_left_key])  # the link field written by an earlier run (R11)
            if right_id is not None and (right_id in right or link is not None):
                taker = taken_right.get(right_id, record.id)
                if link is None and taker != record.id and self.one_to_one():
                    # R9: the link field names a partner another record took in this pass (by its
                    # email in an earlier chunk, or its own link field): one pair, one report.
                    self.engine.duplicate(self, record, Record(taker, {}), (right_id,))
                    continue
                candidates.append(Candidate(record, right.get(right_id) or self.remembered(right_id, link), link))
                taken_right.setdefault(right_id, record.id)
                self.own(record)
                continue
            unpaired_left.append(record)
        # Match groups, in order: each pairs what the earlier ones left.
        for gi, keys in enumerate(self.groups):
            by_relation = any(k["kind"] == "relation" for k in keys)
            index, owners = self.index[gi], self.owners[gi]
            still: list[Record] = []
            for record in unpaired_left:
                key = self.match_key(record, keys, "left")
                if key is None:
                    still.append(record)
                    continue
                if not by_relation and key in owners and owners[key].id != record.id:
                    # R9: duplicates inside Pipedrive stay separate: the first pairs, this one is reported.
                    self.engine.duplicate(self, record, owners[key], key)
                    continue
                one_to_one = not by_relation and self.one_to_one()
                matching = index.get(key, [])
                partners = [r for r in matching if not one_to_one or r.id not in taken_right]
                if not one_to_one and partners and not by_relation:
                    for partner in partners:  # e.g. every contact of this company, one organization
                        taken_right.setdefault(partner.id, record.id)
                        candidates.append(Candidate(record, partner))
                    owners[key] = self.owner_entry(record)
                    continue
                if one_to_one and matching:
                    # The contact is paired with another Pipedrive record already (R9): by a stored
                    # link, or in this pass (by its link or link field, its email being another).
                    # Left unpaired, this record would create a contact that Autopilot's upsert by
                    # email merges into that one.
                    if partners:
                        holder = next((link.left_id for link in self.right_links.get(partners[0].id, ()) if link.left_id != record.id), None)
                    else:
                        holder = taken_right[matching[0].id]
                    if holder is not None:
                        self.engine.duplicate(self, record, Record(holder, {}), key)
                        continue
                if partners:
                    partner = partners[0]
                    taken_right.setdefault(partner.id, record.id)
                    candidates.append(Candidate(record, partner))
                    if not by_relation:
                        owners[key] = self.owner_entry(record)
                else:
                    if not by_relation:
                        owners[key] = self.owner_entry(record)
                    still.append(record)
            unpaired_left = still
        candidates.extend(Candidate(record, None) for record in unpaired_left)
        return candidates

    def pair_tail(self, right: dict[str, Record]) -> list[Candidate]:
        """After every chunk: right records paired with a left record this pass did not read
        (it has not changed since the cursor: its side is what was last synced), and the
        unpaired right records, which may create on the left."""
        candidates: list[Candidate] = []
        for record in right.values():
            if record.id in self.taken_right:
                continue
            for link in self.right_links.get(record.id, ()):
                if link.left_id not in self.seen_left:
                    candidates.append(Candidate(self.remembered_left(link), record, link))
                    self.taken_right[record.id] = link.left_id
        unpaired = [r for r in right.values() if r.id not in self.taken_right]
        candidates.extend(self.distinct_right(unpaired))
        return candidates

    def one_to_one(self) -> bool:
        """Whether a record pairs with at most one partner: persons and contacts (and any pair
        kept by a link field). Otherwise many right records may share one left record (the
        contacts of one company and its organization)."""
        return passes.one_to_one(self.pair)

    def distinct_right(self, unpaired: list[Record]) -> list[Candidate]:
        """Candidates for the right side's unpaired records, one per match key.

        One-to-one: a key that a left record has already, or that an older right record has,
        would make a second record on the left: reported instead (R9, duplicates stay separate).
        Many-to-one: a record whose key a left record has pairs with it; of several with a new
        key, the oldest creates the left record and the others pair with it on the next pass."""
        one_to_one = self.one_to_one()
        out: list[Candidate] = []
        fields = [gi for gi, keys in enumerate(self.groups) if all(k["kind"] == "field" for k in keys)]
        made: set[tuple[int, tuple[str, ...]]] = set()
        # Oldest first: of the contacts sharing an email, the oldest is the one Autopilot's
        # upsert by email reaches, so it is the one that can pair.
        for record in sorted(unpaired, key=_age):
            keys_of_record = [(gi, key) for gi in fields if (key := self.match_key(record, self.groups[gi], "right")) is not None]
            holder = next((self.owners[gi][key] for gi, key in keys_of_record if key in self.owners[gi]), None)
            if holder is not None and not one_to_one:
                out.append(Candidate(holder, record))
                continue
            if holder is not None or any(k in made for k in keys_of_record):
                if one_to_one:
                    what = f"{self.pair['left']['object'].lower()} {holder.id}" if holder is not None else "an older record of the same key"
                    self.engine.dead_letter(
                        self,
                        "right",
                        record.id,
                        DeadLetter(
                            "duplicate_match_key",
                            f"{self.pair['right']['object']} {record.id} has the match key of {what}, which is paired "
                            "with another record: it is not synced (merge the duplicates, R9)",
                            holder=holder.id if holder is not None else None,
                        ),
                    )
                continue
            made.update(keys_of_record)
            out.append(Candidate(None, record))
        return out

    def match_key(self, record: Record, keys: Sequence[Mapping[str, Any]], side: str) -> tuple[str, ...] | None:
        parts = []
        for key in keys:
            ref = key.get(side)
            if key["kind"] == "relation":
                if side == "left":
                    value = self.partner_of(key["left"], record.values.get(ref_key(key["left"])))
                else:
                    value = record.id if ref is None else record.values.get(ref_key(ref))
            elif isinstance(ref, Mapping) and "path" in ref:
                value = normalize_key(record.values.get(ref_key(ref)), key.get("normalize") or ())
                if key["kind"] == "field" and value is not None and (ref.get("type") in ("datetime", "date")):
                    value = _time_key(value)
            else:
                value = None
            if value is None:
                return None
            parts.append(str(value))
        return tuple(parts)

    def partner_of(self, relation: Mapping[str, Any], related_id: Any) -> str | None:
        """`match person`: the partner of the record's person, through the pair that pairs persons."""
        if related_id is None:
            return None
        target = relation["relation"]["target"]
        for other in self.engine.plan["pairs"]:
            if (
                other["id"] != self.id
                and other["left"] == {"system": relation["system"], "object": target}
                and other["right"]["system"] == self.pair["right"]["system"]
            ):
                link = self.state.link_by_left(other["id"], str(related_id))
                if link:
                    return link.right_id
        return None

    def remembered(self, right_id: str, link: Link | None) -> Record | None:
        if link is None:
            return None
        return Record(right_id, dict(link.right_values), None)

    def remembered_left(self, link: Link) -> Record:
        return Record(link.left_id, dict(link.left_values), None)


def id_order(record_id: str) -> tuple[int, int, str]:
    return (0, int(record_id), "") if record_id.isdigit() else (1, 0, record_id)


def _age(record: Record) -> tuple[float, str]:
    from syncmap.runtime.times import to_epoch

    return (to_epoch(record.raw.get("created_at")) or record.updated or 0.0, record.id)


def _time_key(value: Any) -> str | None:
    from syncmap.runtime.times import to_epoch

    moment = to_epoch(value)
    return None if moment is None else str(int(moment))
