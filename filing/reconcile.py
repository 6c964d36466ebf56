"""Reconciliation: do the registry's records and the filings agree? One sort-merge sweep over both sides in address
order, emitting typed findings. Pure: no Flask, no database (``filing.reconciliation`` streams both sides from the
database, feeds this and stores what it finds); checked against a brute-force oracle in the tests.

The two sides, within one scope:
- **records**: the registry's assignments and allocations handed on (by the *carrier*, the holder of the parent) to
  a *holder*;
- **filings**: the standing (approved) filings of blocks handed on (type allocation or assignment), by a *filer*
  for a *user* organization.
Organizations are compared as the filing rules compare them: by USCC when both sides have one, else by name as
people write it (``filing.rules.normalized_name``).

Every record and every filing overlaps some set of the other side's items, its *partners*. What each pair or lone
item is:
- a record and a filing of exactly the same range: ``matched`` (same holder) or ``holder-mismatch``;
- a record and a filing of the same holder whose ranges overlap but differ: ``size-mismatch``, with the addresses
  filed beyond the record (``extra``) and the record's addresses not filed (``missing``) as prefixes;
- a record with no filing of the same range or the same holder among its partners: ``unfiled``;
- a filing with no record of the same range or the same holder: ``filed-not-assigned`` (the space is free, or the
  records there are someone else's: ``others``);
- two overlapping filings for different users, neither handing on to the other (the user of one is the filer of
  the other: a carrier's allocation to a lower allocator, and that allocator's assignment inside it):
  ``overlapping-filings``;
- a record or a filing outside every block (aggregate or allocation) its carrier or filer holds:
  ``outside-aggregate``.

Memory holds the items whose range the sweep is still inside (a record's ancestors, the filings around the
current address), never a side whole. Ranges are compared as integers (128-bit for IPv6), never as text.
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum

from filing.rules import normalized_name
from ipam.space import Net, range_to_blocks

WIDTH = {4: 32, 6: 128}


class FindingType(StrEnum):
    MATCHED = "matched"
    UNFILED = "unfiled"
    FILED_NOT_ASSIGNED = "filed-not-assigned"
    HOLDER_MISMATCH = "holder-mismatch"
    SIZE_MISMATCH = "size-mismatch"
    OVERLAPPING_FILINGS = "overlapping-filings"
    OUTSIDE_AGGREGATE = "outside-aggregate"


@dataclass(frozen=True, slots=True)
class Party:
    """An organization as a side names it: its platform id (when linked), USCC and name; its division code is
    carried along for the findings' filters and never compared."""

    organization_id: int | None
    uscc: str | None
    name: str | None
    district: str | None = None

    def same_as(self, other: Party) -> bool:
        if self.organization_id is not None and self.organization_id == other.organization_id:
            return True
        if self.uscc and other.uscc:
            return self.uscc == other.uscc
        mine, theirs = normalized_name(self.name), normalized_name(other.name)
        return bool(mine) and mine == theirs

    @property
    def key(self) -> str:
        return self.uscc or normalized_name(self.name)


@dataclass(frozen=True, slots=True)
class Record:
    """A registry record handed on: ``carrier_id`` handed ``first``–``last`` to ``holder``."""

    id: int
    family: int
    first: int
    last: int
    holder: Party
    carrier_id: int | None
    allocated_on: date | None = None


@dataclass(frozen=True, slots=True)
class FiledBlock:
    """A standing filing: ``filer`` filed that it handed ``first``–``last`` to ``user``."""

    id: int
    family: int
    first: int
    last: int
    user: Party
    filer: Party


@dataclass(frozen=True, slots=True)
class Aggregate:
    """A block a carrier holds (an aggregate, or an allocation it received)."""

    carrier_id: int
    family: int
    first: int
    last: int


@dataclass(frozen=True, slots=True)
class Finding:
    type: FindingType
    record: Record | None = None
    filing: FiledBlock | None = None
    other: FiledBlock | None = None  # the second filing of overlapping-filings
    extra: tuple[Net, ...] = ()  # size-mismatch: filed beyond the record
    missing: tuple[Net, ...] = ()  # size-mismatch: the record's addresses not filed
    others: tuple[int, ...] = ()  # filed-not-assigned: the records of other holders there

    @property
    def family(self) -> int:
        side = self.record or self.filing
        assert side is not None
        return side.family

    @property
    def first(self) -> int:
        return min(side.first for side in (self.record, self.filing, self.other) if side is not None)

    @property
    def last(self) -> int:
        return max(side.last for side in (self.record, self.filing, self.other) if side is not None)


def fingerprint(finding: Finding) -> str:
    """What the finding is about, as a key that stays the same from run to run while nothing about it changes (an
    acknowledgement sticks to it): its type, both sides' ranges and organizations."""
    parts: list[str] = [finding.type.value]
    if finding.record is not None:
        r = finding.record
        parts += ["r", str(r.id), str(r.family), f"{r.first:x}", f"{r.last:x}", r.holder.key, str(r.carrier_id)]
    for side in (finding.filing, finding.other):
        if side is not None:
            parts += ["f", str(side.id), str(side.family), f"{side.first:x}", f"{side.last:x}", side.user.key,
                      side.filer.key]  # fmt: skip
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


def _order(item: Record | FiledBlock) -> tuple[int, int, int]:
    return (item.family, item.first, -item.last)


def _difference(family: int, first: int, last: int, minus_first: int, minus_last: int) -> tuple[Net, ...]:
    """The prefixes of ``first``–``last`` outside ``minus_first``–``minus_last``."""
    width = WIDTH[family]
    parts: list[Net] = []
    if first < minus_first:
        parts += range_to_blocks(first, min(last, minus_first - 1), width)
    if last > minus_last:
        parts += range_to_blocks(max(first, minus_last + 1), last, width)
    return tuple(parts)


def size_difference(record: Record, filing: FiledBlock) -> tuple[tuple[Net, ...], tuple[Net, ...]]:
    """(filed beyond the record, the record's addresses not filed)."""
    extra = _difference(filing.family, filing.first, filing.last, record.first, record.last)
    missing = _difference(record.family, record.first, record.last, filing.first, filing.last)
    return extra, missing


def hands_on(one: FiledBlock, other: FiledBlock) -> bool:
    """One filing's user is the other's filer: a chain of allocations, not a conflict."""
    return one.user.same_as(other.filer) or other.user.same_as(one.filer)


class _Aggregates:
    def __init__(self, aggregates: Iterable[Aggregate]) -> None:
        spans: dict[tuple[int, int], list[tuple[int, int]]] = {}
        for block in aggregates:
            spans.setdefault((block.carrier_id, block.family), []).append((block.first, block.last))
        self.starts: dict[tuple[int, int], list[int]] = {}
        self.ends: dict[tuple[int, int], list[int]] = {}
        for key, blocks in spans.items():
            merged: list[list[int]] = []
            for first, last in sorted(blocks):
                if merged and first <= merged[-1][1] + 1:
                    merged[-1][1] = max(merged[-1][1], last)
                else:
                    merged.append([first, last])
            self.starts[key] = [first for first, _ in merged]
            self.ends[key] = [last for _, last in merged]

    def hold(self, carrier_id: int | None, family: int, first: int, last: int) -> bool:
        if carrier_id is None:
            return False
        starts = self.starts.get((carrier_id, family))
        if not starts:
            return False
        at = bisect_right(starts, first) - 1
        return at >= 0 and self.ends[(carrier_id, family)][at] >= last


@dataclass(slots=True)
class _OpenRecord:
    record: Record
    identical: list[FiledBlock] = field(default_factory=list)
    same_holder: list[FiledBlock] = field(default_factory=list)


@dataclass(slots=True)
class _OpenFiling:
    filing: FiledBlock
    covered: bool = False
    others: list[int] = field(default_factory=list)


def sweep(
    records: Iterable[Record],
    filings: Iterable[FiledBlock],
    aggregates: Iterable[Aggregate],
) -> Iterator[Finding]:
    """Every finding of the two sides, each side given in address order (family, first address, largest first)."""
    held = _Aggregates(aggregates)
    merged = heapq.merge(
        ((_order(r), 0, r) for r in records), ((_order(f), 1, f) for f in filings), key=lambda entry: entry[:2]
    )
    open_records: list[_OpenRecord] = []  # a stack: records nest (siblings never overlap)
    open_filings: list[tuple[int, int, _OpenFiling]] = []  # a heap by last address
    active_filings: dict[int, _OpenFiling] = {}
    sequence = itertools.count()
    family = None
    for _key, side, item in merged:
        if item.family != family:
            yield from _close_all(open_records, open_filings, active_filings)
            family = item.family
        while open_records and open_records[-1].record.last < item.first:
            yield from _close_record(open_records.pop())
        while open_filings and open_filings[0][0] < item.first:
            _, _, closing = heapq.heappop(open_filings)
            del active_filings[closing.filing.id]
            yield from _close_filing(closing)
        if side == 0:
            record = item
            assert isinstance(record, Record)
            if not held.hold(record.carrier_id, record.family, record.first, record.last):
                yield Finding(FindingType.OUTSIDE_AGGREGATE, record=record)
            opened = _OpenRecord(record)
            for partner in active_filings.values():
                _pair(opened, partner)
            open_records.append(opened)
        else:
            filing = item
            assert isinstance(filing, FiledBlock)
            if not held.hold(filing.filer.organization_id, filing.family, filing.first, filing.last):
                yield Finding(FindingType.OUTSIDE_AGGREGATE, filing=filing)
            opened_filing = _OpenFiling(filing)
            for other in active_filings.values():
                if not other.filing.user.same_as(filing.user) and not hands_on(other.filing, filing):
                    yield Finding(FindingType.OVERLAPPING_FILINGS, filing=other.filing, other=filing)
            for open_record in open_records:
                _pair(open_record, opened_filing)
            active_filings[filing.id] = opened_filing
            heapq.heappush(open_filings, (filing.last, next(sequence), opened_filing))
    yield from _close_all(open_records, open_filings, active_filings)


def _pair(opened: _OpenRecord, partner: _OpenFiling) -> None:
    record, filing = opened.record, partner.filing
    if record.first == filing.first and record.last == filing.last:
        opened.identical.append(filing)
        partner.covered = True
    elif record.holder.same_as(filing.user):
        opened.same_holder.append(filing)
        partner.covered = True
    else:
        partner.others.append(record.id)


def _close_record(opened: _OpenRecord) -> Iterator[Finding]:
    record = opened.record
    for filing in opened.identical:
        same = record.holder.same_as(filing.user)
        yield Finding(FindingType.MATCHED if same else FindingType.HOLDER_MISMATCH, record=record, filing=filing)
    for filing in opened.same_holder:
        extra, missing = size_difference(record, filing)
        yield Finding(FindingType.SIZE_MISMATCH, record=record, filing=filing, extra=extra, missing=missing)
    if not opened.identical and not opened.same_holder:
        yield Finding(FindingType.UNFILED, record=record)


def _close_filing(opened: _OpenFiling) -> Iterator[Finding]:
    if not opened.covered:
        yield Finding(FindingType.FILED_NOT_ASSIGNED, filing=opened.filing, others=tuple(opened.others))


def _close_all(open_records: list[_OpenRecord], open_filings: list[tuple[int, int, _OpenFiling]],
               active_filings: dict[int, _OpenFiling]) -> Iterator[Finding]:  # fmt: skip
    while open_records:
        yield from _close_record(open_records.pop())
    while open_filings:
        _, _, closing = heapq.heappop(open_filings)
        yield from _close_filing(closing)
    active_filings.clear()
