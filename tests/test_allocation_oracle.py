"""The database allocation path against the pure oracle, on SQLite and PostgreSQL.

``ipam.operations.allocate_prefixes`` picks each block with SQL over the free-space index (``ipam.freespace``);
``ipam.space.allocate`` is the pure model of the same choice (itself checked by brute force in test_space.py).
For random trees (a parent, non-overlapping children registered one at a time or in bulk) and random requests
(length, count, strategy) this proves that both pick exactly the same networks in the same order, that the index
left behind is exact, and that when the space runs out both agree, the database refuses with ``SpaceExhausted``
saying how many fit, and nothing changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.models import AuditEvent
from ipam import freespace
from ipam.errors import SpaceExhausted
from ipam.models import FreeBlock, Prefix
from ipam.operations import AllocationRequest, add_prefix, allocate_prefixes, bulk_add_leaves
from ipam.space import Net, Strategy, allocate, fits, format_net, free_blocks, parse_net

try:
    from core.policy import OPERATOR as SYSTEM  # the machine's operator may do everything
except ImportError:  # before core.policy existed, no actor meant the system
    SYSTEM: Any = None

# Allocations are carved under this aggregate; the decoy beside them has free blocks that every strategy would
# prefer (a /128 hole for best-fit, sparse keys 0 and 1), so a probe that strays outside its parent shows.
GRANDPARENT = parse_net("2001:db8::/32")
DECOY = parse_net("2001:db8:ff00::/40")
DECOY_CHILDREN = (parse_net("2001:db8:ff00::/128"), parse_net("2001:db8:ff40::/42"))
ALLOCATION_AREA = parse_net("2001:db8::/33")  # the half of GRANDPARENT the decoy is not in
TOP_LEVEL_V6_AREA = parse_net("3fff::/20")
TOP_LEVEL_V4_AREAS = tuple(parse_net(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24"))
CHILD_KINDS = ("assignment", "allocation", "reserved")


@dataclass(frozen=True)
class Child:
    net: Net
    kind: str
    bulk: bool  # registered by bulk_add_leaves (index rebuilt) rather than add_prefix (index split)

    def __repr__(self) -> str:
        return f"{format_net(self.net)} ({'bulk' if self.bulk else self.kind})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # how Hypothesis prints a failing example
        printer.text(repr(self))


@dataclass(frozen=True)
class Scenario:
    parent: Net
    parent_kind: str  # "allocation" under GRANDPARENT, or a top-level "aggregate"
    children: tuple[Child, ...]
    rebuild: bool  # call bulk_add_leaves even with no bulk children (the index becomes rows, not "untouched")
    length: int
    count: int
    strategy: Strategy

    def __repr__(self) -> str:
        return (
            f"Scenario(parent={format_net(self.parent)} {self.parent_kind}, children={list(self.children)}, "
            f"rebuild={self.rebuild}, request=/{self.length} x{self.count} {self.strategy.value})"
        )

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def _subnet(area: Net, length: int, index: int) -> Net:
    return Net(area.start + (index << (area.width - length)), length, area.width)


@st.composite
def scenarios(draw: st.DrawFn) -> Scenario:
    """A parent in disjoint space, random non-overlapping children and a request that often does not fit."""
    where = draw(st.sampled_from(["v6-allocation", "v6-aggregate", "v4-aggregate"]))
    if where == "v4-aggregate":
        area = draw(st.sampled_from(TOP_LEVEL_V4_AREAS))
        length = draw(st.integers(24, 29))
    else:
        area = ALLOCATION_AREA if where == "v6-allocation" else TOP_LEVEL_V6_AREA
        length = draw(st.integers(40, 48))
    parent = _subnet(area, length, draw(st.integers(0, (1 << (length - area.length)) - 1)))
    width = parent.width
    room = width - length

    spread = draw(st.sampled_from([1, 2, 4, 8, 16, 128]))  # how much deeper than the parent children go
    children: list[Child] = []
    for _ in range(draw(st.sampled_from([0, 1, 2, 3, 4, 6, 8, 10, 12, 16]))):  # few empty trees
        child_length = draw(st.integers(length + 1, min(width, length + spread)))
        child = _subnet(parent, child_length, draw(st.integers(0, (1 << (child_length - length)) - 1)))
        if not any(child.overlaps(c.net) for c in children):
            children.append(Child(child, draw(st.sampled_from(CHILD_KINDS)), draw(st.booleans())))

    depth = draw(st.one_of(st.integers(1, 4), st.integers(1, 16), st.integers(1, room)))
    return Scenario(
        parent=parent,
        parent_kind="allocation" if where == "v6-allocation" else "aggregate",
        children=tuple(children),
        rebuild=draw(st.booleans()),
        length=length + min(depth, room),
        count=draw(st.integers(1, 10)),
        strategy=draw(st.sampled_from(list(Strategy))),
    )


@pytest.fixture
def grandparent(db: Session) -> Prefix:
    """The /32 the IPv6 allocations lie in, with a decoy allocation beside them that has its own free blocks."""
    aggregate = add_prefix(db, GRANDPARENT, actor=SYSTEM, kind="aggregate", holder=None)
    add_prefix(db, DECOY, actor=SYSTEM, kind="allocation", holder=None)
    for net in DECOY_CHILDREN:
        add_prefix(db, net, actor=SYSTEM, kind="assignment", holder=None)
    db.flush()
    return aggregate


def _register(db: Session, scenario: Scenario) -> Prefix:
    parent = add_prefix(db, scenario.parent, actor=SYSTEM, kind=scenario.parent_kind, holder=None)
    for child in scenario.children:
        if not child.bulk:
            status = "reserved" if child.kind == "reserved" else "active"
            add_prefix(db, child.net, actor=SYSTEM, kind=child.kind, status=status, holder=None)
    leaves = [c.net for c in scenario.children if c.bulk]
    if leaves or scenario.rebuild:
        bulk_add_leaves(db, parent, leaves, actor=SYSTEM, kind="assignment", holder=None)
    return parent


def _how(scenario: Scenario) -> str:
    ways = {c.bulk for c in scenario.children}
    return "in bulk" if ways == {True} else "one by one" if ways == {False} else "both ways"


def _children_in_db(db: Session, parent: Prefix) -> list[Net]:
    return sorted(p.net for p in db.scalars(select(Prefix).where(Prefix.parent_id == parent.id)))


def _row_counts(db: Session) -> tuple[int, int, int]:
    return (
        db.scalar(select(func.count()).select_from(Prefix)) or 0,
        db.scalar(select(func.count()).select_from(FreeBlock)) or 0,
        db.scalar(select(func.count()).select_from(AuditEvent)) or 0,
    )


@given(scenario=scenarios())
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_the_database_allocates_exactly_what_the_oracle_allocates(
    db: Session, grandparent: Prefix, scenario: Scenario
) -> None:
    savepoint = db.begin_nested()  # each example starts from the grandparent and decoy alone
    try:
        parent = _register(db, scenario)
        children = sorted(c.net for c in scenario.children)
        free = free_blocks(scenario.parent, children)
        assert freespace.all_blocks(db, parent.id, parent.net) == free, "the index disagrees before allocating"

        expected, _left = allocate(scenario.parent, free, scenario.length, scenario.count, scenario.strategy)
        request = AllocationRequest(length=scenario.length, count=scenario.count, strategy=scenario.strategy)
        note(f"oracle takes {[format_net(n) for n in expected]}; {fits(free, scenario.length)} fit")
        event(f"{scenario.strategy.value}, {'exhausted' if len(expected) < scenario.count else 'fits'}")
        event("no children" if not children else "children registered " + _how(scenario))

        if len(expected) < scenario.count:
            before = (_children_in_db(db, parent), freespace.all_blocks(db, parent.id, parent.net), _row_counts(db))
            with pytest.raises(SpaceExhausted) as refused:
                allocate_prefixes(db, parent, request, holder=None, actor=SYSTEM)
            assert refused.value.fits == fits(free, scenario.length) == len(expected)
            after = (_children_in_db(db, parent), freespace.all_blocks(db, parent.id, parent.net), _row_counts(db))
            assert after == before
        else:
            created = allocate_prefixes(db, parent, request, holder=None, actor=SYSTEM)
            got = [format_net(p.net) for p in created]
            assert got == [format_net(n) for n in expected], f"{scenario!r}: the database took {got}"
            assert _children_in_db(db, parent) == sorted(children + expected)
            assert freespace.all_blocks(db, parent.id, parent.net) == free_blocks(scenario.parent, children + expected)
    finally:
        savepoint.rollback()
