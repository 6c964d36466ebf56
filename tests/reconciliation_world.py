"""A reconciliation world of any size with known discrepancies, for the planted-discrepancy tests and
``bench/reconciliation.py``.

``build_world(session, size)`` writes straight into a migrated database, with bulk statements (a million records
and filings load in a minute or two, not hours of operations), the rows the registry and the filings would hold:
prefixes with their keys, network (``cidr`` on PostgreSQL), parents and the parents' free-space index; approved
filings with their keys, size class, block text, number, deadline, user and filer (not their version history, which
reconciliation never reads). Two carriers hold a /20 each (the first also an IPv4 /12), each aggregate filed as
their holding, and ``size`` slots are laid out in them, each slot one /48 position (or a /56 in a /48 of /56s, or
an IPv4 /28):

* a matched slot: the carrier assigned the block to an enterprise, and filed it for that enterprise (now and then
  with the user written without the platform's link, so that it matches by USCC; now and then with a change
  under review; now and then beside a filing of the block for someone else that does not stand: a draft, one
  under review or returned, a rejected or a cancelled one, which reconciliation must ignore);
* one slot in a hundred for each discrepancy type, each making exactly one finding of its type:
  ``unfiled`` (assigned, no filing), ``filed-not-assigned`` (filed, the /48 free in the registry),
  ``holder-mismatch`` (filed for another enterprise), ``size-mismatch`` (assigned /56 and filed /48, assigned /48
  and filed /56, or assigned /48 and filed a range of three /56s), ``overlapping-filings`` (the carrier allocated a
  /48 to a lower allocator, which assigned a /56 of it; the carrier filed both, so the two filings of different
  users overlap while each matches its record) and ``outside-aggregate`` (a block assigned by one carrier and
  filed, for the same enterprise, by the other).

Records and filings both number ``size`` (the overlapping slot has two of each, the unfiled and filed-not-assigned
slots one side each); ``Planted`` says exactly what a run of everything must find. Ids are drawn in a shuffled
order of the slots, so that they say nothing about addresses (as in a registry built over years).
"""

from __future__ import annotations

import random
from array import array
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from accounts.models import Organization
from accounts.validators import uscc_check_character
from core.db import bulk_insert
from filing.blocks import Block
from filing.calendar import DEFAULT_NUMBER_PREFIX, deadline_rules
from filing.choices import FilingState, FilingType
from filing.models import Filing
from filing.reconcile import FindingType
from ipam import freespace
from ipam.choices import PrefixKind, PrefixStatus, Source
from ipam.models import Prefix, to_key
from ipam.space import Net, format_net, gaps, parse_net, sparse_key

# (code, name, IPv6 aggregate, share of the IPv6 slots); the first carrier also holds the IPv4 aggregate.
CARRIERS = (("recon-carrier-a", "核对示例电信天津分公司", "240e:c000::/20", 0.6),
            ("recon-carrier-b", "核对示例联通天津分公司", "2408:8000::/20", 0.4))  # fmt: skip
IPV4_AGGREGATE = "60.0.0.0/12"
PLANTED_EVERY = 100  # one slot in a hundred for each discrepancy type
ENTERPRISES = 20_000  # at most; fewer for small worlds
ALLOCATORS = 20
SHARE_V4, SHARE_56 = 1 / 50, 1 / 5  # of the matched slots: IPv4 /28s, and /56s (packed in /48s of /56s)
PER_CONTAINER = 16  # /56s in a /48 of /56s
GAP_CHANCE = 0.02  # before a slot, the carrier skipped a few /48s
DISTRICTS = ("120101", "120102", "120103", "120104", "120105", "120106", "120110", "120111", "120112", "120113",
             "120114", "120115", "120116", "120117", "120118", "120119")  # fmt: skip
TRADES = ("制造", "科技", "物流", "化工", "电子", "机械", "食品", "材料")
NOISE_STATES = (FilingState.DRAFT, FilingState.SUBMITTED, FilingState.RETURNED, FilingState.REJECTED,
                FilingState.CANCELLED)  # fmt: skip

# Slot kinds.
M48, M56, M4, UNFILED, NOT_ASSIGNED, HOLDER, SIZE, OVERLAP, OUTSIDE = range(9)
PLANTED_KINDS = {UNFILED: FindingType.UNFILED, NOT_ASSIGNED: FindingType.FILED_NOT_ASSIGNED,
                 HOLDER: FindingType.HOLDER_MISMATCH, SIZE: FindingType.SIZE_MISMATCH,
                 OVERLAP: FindingType.OVERLAPPING_FILINGS, OUTSIDE: FindingType.OUTSIDE_AGGREGATE}  # fmt: skip
PER_SLOT = 3  # ids reserved per slot on each side (the overlapping slot has two records; a filing may have noise)

PREFIX_COLUMNS = ["id", "family", "start", "last", "prefix_len", "network", "kind", "status", "holder_id",
                  "parent_id", "usage", "source", "assigned_on", "nibble_aligned", "pool_strict", "created_at",
                  "updated_at"]  # fmt: skip
ORGANIZATION_COLUMNS = ["id", "kind", "code", "name", "uscc", "division_code", "nature", "industry", "contact_name",
                        "contact_phone", "verified", "above_designated_size", "created_at", "updated_at"]  # fmt: skip
FILING_COLUMNS = ["id", "number", "state", "version", "approved_version", "filing_type", "filer_id", "family",
                  "start", "last", "span_bits", "block", "prefix_id", "source_name", "user_organization_id",
                  "user_name", "user_uscc", "user_nature", "user_industry", "user_division", "usage", "allocated_on",
                  "contact_name", "contact_phone", "due_on", "due_provisional", "review_due_provisional",
                  "submitted_at", "approved_at", "created_at", "updated_at"]  # fmt: skip


@dataclass(frozen=True)
class Planted:
    """What a run over everything must find."""

    counts: dict[str, int]  # every finding type, matched included
    findings: Counter[tuple[str, str]]  # (type, block) of each discrepancy, the block as the finding stores it
    records: int
    filings: int
    carriers: dict[str, int]  # code → organization id


@dataclass(frozen=True)
class _Party:
    id: int
    name: str
    uscc: str
    division: str
    industry: str


@dataclass
class _Layout:
    """The slots, compactly: a kind, a carrier (index into CARRIERS), a unit (IPv6: the /56's index in the
    carrier's aggregate; IPv4: the /28's index in the IPv4 aggregate) and an enterprise (index) each."""

    kinds: bytearray
    carriers: bytearray
    units: array[int]
    holders: array[int]
    rank: array[int]  # the slot's place in id order


def layout(size: int, enterprises: int, seed: int) -> _Layout:
    rng = random.Random(seed)
    planted = size // PLANTED_EVERY
    matched = size - 6 * planted
    v4 = round(matched * SHARE_V4)
    m56 = round((matched - v4) * SHARE_56)
    kinds = bytearray([M48]) * (matched - v4 - m56) + bytearray([M56]) * m56 + bytearray([M4]) * v4
    for kind in PLANTED_KINDS:
        kinds += bytearray([kind]) * planted
    rng.shuffle(kinds)
    carriers, units, holders = bytearray(size), array("q", [0]) * size, array("l", [0]) * size
    cursor = [rng.randrange(1 << 12) for _ in CARRIERS]  # the next free /48 of each aggregate
    container: list[tuple[int, int] | None] = [None for _ in CARRIERS]  # the open /48 of /56s and its /56s used
    v4_cursor = 0
    shares = [share for _, _, _, share in CARRIERS]
    for slot, kind in enumerate(kinds):
        holders[slot] = rng.randrange(enterprises)
        if kind == M4:
            v4_cursor += rng.randint(1, 4) if rng.random() < GAP_CHANCE else 0
            units[slot] = v4_cursor
            v4_cursor += 1
            continue
        carrier = rng.choices(range(len(CARRIERS)), shares)[0]
        carriers[slot] = carrier
        if rng.random() < GAP_CHANCE:
            cursor[carrier] += rng.randint(1, 64)
        if kind == M56:
            opened = container[carrier]
            if opened is None or opened[1] == PER_CONTAINER:
                opened = (cursor[carrier], 0)
                cursor[carrier] += 1
            units[slot] = (opened[0] << 8) + opened[1]
            container[carrier] = (opened[0], opened[1] + 1)
        else:
            units[slot] = cursor[carrier] << 8
            cursor[carrier] += 1
    assert max(cursor) < 1 << 28 and v4_cursor < 1 << 16, "the aggregates are full"
    order = list(range(size))
    rng.shuffle(order)
    rank = array("l", [0]) * size
    for place, slot in enumerate(order):
        rank[slot] = place
    return _Layout(kinds, carriers, units, holders, rank)


def uscc(division: str, marker: str, serial: int) -> str:
    """A code that passes GB 32100 checks; the marker in the organization code says it is made up."""
    first17 = f"91{division}{marker}{serial:05d}"
    return first17 + uscc_check_character(first17)


def next_id(session: Session, model: Any) -> int:
    return (session.scalar(select(func.max(model.id))) or 0) + 1


def _advance_sequence(session: Session, table: str) -> None:
    """Rows written with their ids leave PostgreSQL's sequence behind; later inserts must not collide."""
    if session.get_bind().dialect.name == "postgresql":
        statement = f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"  # noqa: S608 (a table of the metadata)
        session.execute(text(statement))


class _World:
    """The rows of one world, produced slot by slot (never held whole)."""

    def __init__(self, session: Session, size: int, seed: int, today: date) -> None:
        self.session, self.size, self.today = session, size, today
        self.now = datetime.now(UTC)
        self.rules = deadline_rules(session)
        planted = size // PLANTED_EVERY
        self.organizations(min(ENTERPRISES, max(10, size // 10)), max(1, min(ALLOCATORS, planted)))
        self.layout = layout(size, len(self.enterprises), seed)
        self.prefix_base = next_id(session, Prefix)
        self.filing_base = next_id(session, Filing)
        self.v6 = [parse_net(aggregate) for _, _, aggregate, _ in CARRIERS]
        self.v4 = parse_net(IPV4_AGGREGATE)
        self.found: Counter[tuple[str, str]] = Counter()

    # -- organizations --

    def organizations(self, enterprises: int, allocators: int) -> None:
        first = next_id(self.session, Organization)
        rows: list[tuple[Any, ...]] = []

        def add(kind: str, code: str, name: str, code_uscc: str, division: str, industry: str) -> _Party:
            party = _Party(first + len(rows), name, code_uscc, division, industry)
            rows.append((party.id, kind, code, name, code_uscc, division, "enterprise", industry, "王工",
                         "022-5550100", True, False, self.now, self.now))  # fmt: skip
            return party

        self.carriers = [add("carrier", code, name, uscc("120101", "RCNC", n), "120101", "I")
                         for n, (code, name, _, _) in enumerate(CARRIERS)]  # fmt: skip
        self.allocators = [add("allocator", f"recon-alloc-{n:02d}", f"核对示例园区网络{n:02d}有限公司",
                               uscc("120116", "RCNA", n), "120116", "I") for n in range(allocators)]  # fmt: skip
        self.enterprises = []
        for n in range(enterprises):
            division = DISTRICTS[n % len(DISTRICTS)]
            self.enterprises.append(add("enterprise", f"recon-ent-{n:05d}", f"津沽核对{TRADES[n % len(TRADES)]}{n:05d}有限公司",
                                        uscc(division, "RCNL", n), division, "C"))  # fmt: skip
        bulk_insert(self.session, Organization.__table__, ORGANIZATION_COLUMNS, rows)
        _advance_sequence(self.session, Organization.__tablename__)

    # -- the slots --

    def net(self, slot: int, length: int, offset: int = 0) -> Net:
        """The slot's block of ``length`` (IPv6: /48 or /56; IPv4: /28), ``offset`` /56s into its /48."""
        unit = self.layout.units[slot]
        if self.layout.kinds[slot] == M4:
            return Net(self.v4.start + (unit << 4), 28, 32)
        aggregate = self.v6[self.layout.carriers[slot]]
        return Net(aggregate.start + ((unit + offset) << 72), length, 128)

    def allocated_on(self, slot: int) -> date:
        return self.today - timedelta(days=slot * 7919 % 720)

    def other_enterprise(self, slot: int) -> _Party:
        holder = self.layout.holders[slot]
        return self.enterprises[(holder + 1 + slot % (len(self.enterprises) - 1)) % len(self.enterprises)]

    def slot_records(self, slot: int) -> list[tuple[int, Net, str, _Party, int]]:
        """(id, block, kind, holder, parent id) of the slot's registry records."""
        kind = self.layout.kinds[slot]
        base = self.prefix_base + len(self.v6) + 1 + PER_SLOT * self.layout.rank[slot]
        holder = self.enterprises[self.layout.holders[slot]]
        aggregate_id = self.aggregate_id(slot)
        assignment = PrefixKind.ASSIGNMENT.value
        if kind == NOT_ASSIGNED:
            return []
        if kind == OVERLAP:
            allocator = self.allocators[slot % len(self.allocators)]
            return [(base, self.net(slot, 48), PrefixKind.ALLOCATION.value, allocator, aggregate_id),
                    (base + 1, self.net(slot, 56), assignment, holder, base)]  # fmt: skip
        length = 56 if kind == M56 or (kind == SIZE and slot % 3 == 0) else 48
        return [(base, self.net(slot, length), assignment, holder, aggregate_id)]

    def aggregate_id(self, slot: int) -> int:
        if self.layout.kinds[slot] == M4:
            return self.prefix_base + len(self.v6)
        return self.prefix_base + self.layout.carriers[slot]

    def slot_filings(self, slot: int) -> list[tuple[int, Block, str, str, int, _Party, int | None, bool]]:
        """(id, block, type, state, filer id, user, registry prefix id, user linked) of the slot's filings."""
        kind, carrier = self.layout.kinds[slot], self.layout.carriers[slot]
        base = self.filing_base + len(self.v6) + 1 + PER_SLOT * self.layout.rank[slot]
        records = self.slot_records(slot)
        holder = self.enterprises[self.layout.holders[slot]]
        filer = self.carriers[carrier].id
        approved, assignment = FilingState.APPROVED.value, FilingType.ASSIGNMENT.value
        net48 = self.net(slot, 48)
        if kind == UNFILED:
            return []
        if kind == NOT_ASSIGNED:
            return [(base, Block.of(net48), assignment, approved, filer, holder, self.aggregate_id(slot), True)]
        if kind == OVERLAP:
            (allocation_id, _, _, allocator, _), (assignment_id, net56, _, _, _) = records
            return [(base, Block.of(net48), FilingType.ALLOCATION.value, approved, filer, allocator, allocation_id, True),
                    (base + 1, Block.of(net56), assignment, approved, filer, holder, assignment_id, True)]  # fmt: skip
        ((record_id, record_net, _, _, _),) = records
        if kind == HOLDER:
            return [(base, Block.of(record_net), assignment, approved, filer, self.other_enterprise(slot), record_id,
                     True)]  # fmt: skip
        if kind == SIZE:
            variant = slot % 3
            if variant == 0:  # assigned a /56, filed its /48
                return [(base, Block.of(net48), assignment, approved, filer, holder, self.aggregate_id(slot), True)]
            first = record_net.start
            block = Block(6, first, first + (1 << 72) - 1) if variant == 1 else Block(6, first, first + (3 << 72) - 1)
            return [(base, block, assignment, approved, filer, holder, record_id, True)]
        if kind == OUTSIDE:  # filed by the other carrier
            other = self.carriers[(carrier + 1) % len(self.carriers)].id
            return [(base, Block.of(record_net), assignment, approved, other, holder, record_id, True)]
        state = FilingState.CHANGE_SUBMITTED.value if slot % 50 == 11 else approved
        filings = [(base, Block.of(record_net), assignment, state, filer, holder, record_id, slot % 10 != 3)]
        if slot % 50 == 7:  # beside it, a filing of the block for someone else that does not stand
            noise = NOISE_STATES[slot // 50 % len(NOISE_STATES)].value
            filings.append((base + 1, Block.of(record_net), assignment, noise, filer, self.other_enterprise(slot),
                            record_id, True))  # fmt: skip
        return filings

    def expect(self, slot: int) -> None:
        kind = self.layout.kinds[slot]
        if kind not in PLANTED_KINDS:
            return
        if kind in (NOT_ASSIGNED, OVERLAP, OUTSIDE):
            block = self.slot_filings(slot)[0][1]
        else:
            block = Block.of(self.slot_records(slot)[0][1])
        self.found[PLANTED_KINDS[kind].value, str(block)] += 1

    # -- the rows --

    def order(self) -> Iterator[int]:
        """The slots in id order."""
        by_rank = array("l", [0]) * self.size
        for slot, place in enumerate(self.layout.rank):
            by_rank[place] = slot
        return iter(by_rank)

    def prefix_rows(self) -> Iterator[tuple[Any, ...]]:
        aggregates = [(self.carriers[n], net) for n, net in enumerate(self.v6)] + [(self.carriers[0], self.v4)]
        for offset, (carrier, net) in enumerate(aggregates):
            yield self.prefix_row(self.prefix_base + offset, net, PrefixKind.AGGREGATE.value, carrier, None, None)
        for slot in self.order():
            for id_, net, kind, holder, parent_id in self.slot_records(slot):
                yield self.prefix_row(id_, net, kind, holder, parent_id, self.allocated_on(slot))

    def prefix_row(self, id_: int, net: Net, kind: str, holder: _Party, parent_id: int | None,
                   assigned_on: date | None) -> tuple[Any, ...]:  # fmt: skip
        usage = "industrial-network" if kind == PrefixKind.ASSIGNMENT.value else None
        return (id_, net.family, to_key(net.start), to_key(net.last), net.length, format_net(net), kind,
                PrefixStatus.ACTIVE.value, holder.id, parent_id, usage, Source.IMPORT.value, assigned_on, False,
                False, self.now, self.now)  # fmt: skip

    def filing_rows(self) -> Iterator[tuple[Any, ...]]:
        holdings = [(self.carriers[n], net) for n, net in enumerate(self.v6)] + [(self.carriers[0], self.v4)]
        for offset, (carrier, net) in enumerate(holdings):
            yield self.filing_row(self.filing_base + offset, Block.of(net), FilingType.HOLDING.value,
                                  FilingState.APPROVED.value, carrier.id, carrier, self.prefix_base + offset, True,
                                  self.today - timedelta(days=1000))  # fmt: skip
        for slot in self.order():
            self.expect(slot)
            for filing in self.slot_filings(slot):
                yield self.filing_row(*filing, self.allocated_on(slot))

    def filing_row(self, id_: int, block: Block, filing_type: str, state: str, filer_id: int, user: _Party,
                   prefix_id: int | None, linked: bool, allocated_on: date) -> tuple[Any, ...]:  # fmt: skip
        due = self.rules.filing_due(allocated_on)
        submitted = datetime.combine(allocated_on + timedelta(days=3), time(9), UTC)
        was_approved = state in (FilingState.APPROVED.value, FilingState.CHANGE_SUBMITTED.value,
                                 FilingState.CHANGE_RETURNED.value, FilingState.CANCELLED.value)  # fmt: skip
        changed = state in (FilingState.CHANGE_SUBMITTED.value, FilingState.CHANGE_RETURNED.value)
        holding = filing_type == FilingType.HOLDING.value
        return (
            id_, f"{DEFAULT_NUMBER_PREFIX}{submitted.year}{id_:08d}" if was_approved else None, state,
            2 if changed else 1, 1 if was_approved else None, filing_type, filer_id, block.family,
            to_key(block.first), to_key(block.last), block.span_bits, str(block), prefix_id,
            "示例互联网地址注册中心" if holding else None, user.id if linked else None, user.name, user.uscc,
            "enterprise", user.industry, user.division, "industrial-network", allocated_on, "张工", "022-5550100",
            due.on, due.provisional, False, None if state == FilingState.DRAFT.value else submitted,
            submitted + timedelta(days=2) if was_approved else None, self.now, self.now,
        )  # fmt: skip

    def free_space(self) -> None:
        """The free-space index of the aggregates and of the allocations that hold an assignment."""
        children: list[array[int]] = [array("q") for _ in range(len(self.v6) + 1)]  # unit << 1 | is a /56
        allocations = array("l")
        for slot, kind in enumerate(self.layout.kinds):
            if kind == NOT_ASSIGNED:
                continue
            if kind == OVERLAP:
                allocations.append(slot)
            aggregate = len(self.v6) if kind == M4 else self.layout.carriers[slot]
            small = kind == M56 or (kind == SIZE and slot % 3 == 0)
            children[aggregate].append(self.layout.units[slot] << 1 | small)
        for offset, aggregate in enumerate([*self.v6, self.v4]):
            width = aggregate.width
            if aggregate.family == 4:
                nets = (Net(aggregate.start + ((code >> 1) << 4), 28, width) for code in sorted(children[offset]))
            else:
                nets = (Net(aggregate.start + ((code >> 1) << 72), 56 if code & 1 else 48, width)
                        for code in sorted(children[offset]))  # fmt: skip
            freespace.rebuild(self.session, self.prefix_base + offset, aggregate, nets)
        rows = (
            (allocation_id, block.length, to_key(block.start), to_key(sparse_key(allocation, block.start)))
            for slot in allocations
            for (allocation_id, allocation, _, _, _), (_, assignment, _, _, _) in [self.slot_records(slot)]
            for block in gaps(allocation, [assignment])
        )
        bulk_insert(self.session, freespace.fb, ["parent_id", "prefix_len", "start", "sparse_key"], rows)


def build_world(session: Session, size: int, *, seed: int = 1, today: date | None = None) -> Planted:
    """Write a world of ``size`` records and ``size`` standing filings (one in a hundred of each discrepancy type)
    in the session's transaction; the caller commits."""
    assert size >= PLANTED_EVERY, "a world smaller than a hundred slots plants nothing"
    world = _World(session, size, seed, today or date.today())
    bulk_insert(session, Prefix.__table__, PREFIX_COLUMNS, world.prefix_rows())
    _advance_sequence(session, Prefix.__tablename__)
    world.free_space()
    bulk_insert(session, Filing.__table__, FILING_COLUMNS, world.filing_rows())
    _advance_sequence(session, Filing.__tablename__)
    planted = size // PLANTED_EVERY
    counts = {kind.value: planted for kind in PLANTED_KINDS.values()}
    counts[FindingType.MATCHED.value] = size - 3 * planted  # every matched slot, and the overlapping and outside pairs
    assert sum(world.found.values()) == 6 * planted
    return Planted(
        counts, world.found, size, size, {code: world.carriers[n].id for n, (code, *_) in enumerate(CARRIERS)}
    )
