"""What an import changes, decided in one pass over three address-ordered streams: the carrier's blocks in
scope, the registry's prefixes below them, and the file's rows. Pure: no database, no Flask; ``importers.loading``
feeds it from the database and hands what it decides to ipam's change set. Every row is checked with the registry's
rule set (``ipam.rules``): nesting of kinds, and the pool policy of the prefix it lies in (a breach warns, or is an
error where the pool is strict).

The carrier's *book* below a block is every allocation, assignment and reserved block the carrier manages there:
it does not reach into an assignment (the holder plans its subnets there) nor into an allocation made to another
allocating organization (that allocator manages it). A row may create a prefix inside the carrier's own space, or
update the book record with its network; in a snapshot import, book records the file lacks are removed, and with
them everything below them. Memory holds the current path (at most 129 deep) and, when a new row covers
registered prefixes, those prefixes.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date

from importers.records import N_, Problem
from ipam import rules
from ipam.choices import PrefixKind
from ipam.rules import NO_POLICY, PoolPolicy
from ipam.space import Net, format_net

MANAGING_KINDS = (PrefixKind.AGGREGATE.value, PrefixKind.ALLOCATION.value)


@dataclass(frozen=True, slots=True)
class Attributes:
    """What a row says about its prefix, compared with the registry's record to tell changed from unchanged."""

    kind: str
    holder_id: int | None  # negative: a holder the import creates
    usage: str | None = None
    description: str | None = None
    assigned_on: date | None = None


@dataclass(frozen=True, slots=True)
class Row:
    line: int
    net: Net
    attributes: Attributes


@dataclass(frozen=True, slots=True)
class Holding:
    id: int
    net: Net
    kind: str
    policy: PoolPolicy = NO_POLICY


@dataclass(frozen=True, slots=True)
class Existing:
    id: int
    net: Net
    parent_id: int | None
    attributes: Attributes
    holder_name: str | None  # for messages
    foreign_allocator: bool  # held by an allocating organization other than the carrier
    in_file: bool  # a row of the file has the same network
    policy: PoolPolicy = NO_POLICY  # what it hands out to its children


@dataclass(frozen=True, slots=True)
class Create:
    row: Row
    parent: Net
    depth: int  # 0: the parent exists; n: the parent is created at depth n - 1


@dataclass(frozen=True, slots=True)
class Update:
    row: Row
    existing: Existing
    changes: dict[str, tuple[object, object]]
    parent: Net | None  # a new parent (None: unchanged)
    parent_depth: int = 0


@dataclass(frozen=True, slots=True)
class Unchanged:
    row: Row
    existing: Existing


@dataclass(frozen=True, slots=True)
class Move:
    existing: Existing
    parent: Net
    parent_depth: int


@dataclass(frozen=True, slots=True)
class Remove:
    existing: Existing
    record: bool  # a book record the file lacks (False: it goes with a removed record above it)


@dataclass(frozen=True, slots=True)
class Reject:
    row: Row
    problem: Problem


@dataclass(frozen=True, slots=True)
class Warn:
    """The row loads (its Create or Update follows), but against the pool policy of the prefix it lies in."""

    row: Row
    problem: Problem


Event = Create | Update | Unchanged | Move | Remove | Reject | Warn


@dataclass(slots=True)
class _Node:
    net: Net
    kind: str
    manages: bool  # the carrier's book continues below it
    removed: bool = False
    id: int | None = None  # registry id (None for a prefix being created)
    line: int | None = None  # file line (rows)
    new_depth: int = -1  # >= 0 for a prefix being created: its creation depth
    holder_name: str | None = None
    holding: bool = False
    existing: Existing | None = None  # the registry's prefix, waiting for the row with its network
    in_book: bool = False
    policy: PoolPolicy = NO_POLICY

    @property
    def placed(self) -> rules.Placed:
        return rules.Placed(self.net, self.kind, self.policy)


@dataclass
class Planner:
    mode_snapshot: bool
    carrier_name: str

    def plan(self, holdings: Iterable[Holding], existing: Iterable[Existing], rows: Iterable[Row]) -> Iterator[Event]:
        # Equal networks meet in this order: the carrier's block, the registry's prefix, then the file's row.
        lookahead = _Lookahead(iter(existing))
        pending_holdings = iter(sorted(holdings, key=lambda h: _key(h.net)))
        pending_rows = iter(rows)
        holding, row = next(pending_holdings, None), next(pending_rows, None)
        done = (1 << 200,)  # sorts after every key
        holding_key = (*_key(holding.net), 0) if holding is not None else done
        row_key = (*_key(row.net), 2) if row is not None else done
        stack: list[_Node] = []
        while True:
            registered = lookahead.peek()
            registered_key = (*_key(registered.net), 1) if registered is not None else done
            if row_key <= registered_key and row_key <= holding_key:
                if row is None:
                    return
                net = row.net
                while stack and not (stack[-1].net.family == net.family and stack[-1].net.contains(net)):
                    stack.pop()
                yield from self._row(stack, row, lookahead)
                row = next(pending_rows, None)
                row_key = (*_key(row.net), 2) if row is not None else done
            elif registered_key <= holding_key:
                assert registered is not None
                net = registered.net
                while stack and not (stack[-1].net.family == net.family and stack[-1].net.contains(net)):
                    stack.pop()
                next(lookahead)
                yield from self._existing(stack, registered)
            else:
                assert holding is not None
                net = holding.net
                while stack and not (stack[-1].net.family == net.family and stack[-1].net.contains(net)):
                    stack.pop()
                stack.append(_Node(net, holding.kind, manages=True, id=holding.id, holding=True, policy=holding.policy))
                holding = next(pending_holdings, None)
                holding_key = (*_key(holding.net), 0) if holding is not None else done

    # -- the registry's prefixes ------------------------------------------------------------------------------

    def _existing(self, stack: list[_Node], item: Existing) -> Iterator[Event]:
        container = _surviving(stack)
        direct = stack[-1] if stack else None
        in_book = direct is not None and direct.manages and item.attributes.kind != PrefixKind.SUBNET.value
        goes_with_parent = direct is not None and direct.removed
        removed = not item.in_file and (goes_with_parent or (self.mode_snapshot and in_book))
        if removed:
            yield Remove(item, record=in_book and not goes_with_parent)
        elif container is not None and container.id != item.parent_id and not item.in_file:
            # A created row now contains it (its rows with the same network move with their Update).
            yield Move(item, container.net, container.new_depth)
        # Whose records lie below does not change when this one goes: rows of the file below it still match.
        manages = in_book and item.attributes.kind in MANAGING_KINDS and not item.foreign_allocator
        stack.append(_Node(net=item.net, kind=item.attributes.kind, manages=manages, removed=removed, id=item.id,
                           holder_name=item.holder_name, existing=item, in_book=in_book,
                           policy=item.policy))  # fmt: skip

    # -- the file's rows --------------------------------------------------------------------------------------

    def _row(self, stack: list[_Node], row: Row, lookahead: _Lookahead) -> Iterator[Event]:
        top = stack[-1] if stack else None
        if top is not None and top.net == row.net:
            if top.holding and top.line is None:
                top.line = row.line
                yield Unchanged(row, _holding_as_existing(top))
                return
            if top.line is not None:
                yield self._reject(row, N_("the same prefix as line %(line)d"), other_line=top.line)
                return
            if top.existing is not None:
                yield from self._matched(stack, row)
                return
            yield self._reject(row, N_("%(prefix)s is already registered"), prefix=format_net(row.net))
            return
        container = _surviving(stack)
        problem = self._placement_problem(container, row)
        if problem is None:
            problem = self._cover_problem(row, lookahead)
        if problem is not None:
            yield problem
            return
        assert container is not None
        policy_event = self._policy_event(container, row)
        if policy_event is not None:
            yield policy_event
            if isinstance(policy_event, Reject):
                return
        depth = container.new_depth + 1 if container.new_depth >= 0 else 0
        yield Create(row, container.net, depth)
        # Below an assignment, its holder plans subnets: the carrier's book stops there, as in the registry.
        stack.append(_Node(net=row.net, kind=row.attributes.kind, manages=row.attributes.kind in MANAGING_KINDS,
                           line=row.line, new_depth=depth))  # fmt: skip

    def _matched(self, stack: list[_Node], row: Row) -> Iterator[Event]:
        node = stack[-1]
        existing = node.existing
        assert existing is not None
        node.existing = None
        if not node.in_book:
            holder = existing.holder_name or "—"
            yield self._reject(row, N_("%(prefix)s is registered to %(holder)s, outside your records"),
                               prefix=format_net(row.net), holder=holder)  # fmt: skip
            yield from self._orphaned(stack, node, existing)
            return
        container = _surviving(stack[:-1])
        problem = self._placement_problem(container, row)
        if problem is not None:
            yield problem
            yield from self._orphaned(stack, node, existing)
            return
        assert container is not None
        node.kind, node.line = row.attributes.kind, row.line
        # Below an allocation made to another allocator, that allocator keeps its own records.
        node.manages = row.attributes.kind in MANAGING_KINDS and not existing.foreign_allocator
        node.removed = False
        changes = _changes(existing.attributes, row.attributes)
        new_parent = container.net if container.id != existing.parent_id else None
        if new_parent is not None:
            policy_event = self._policy_event(container, row)
            if policy_event is not None:
                yield policy_event
                if isinstance(policy_event, Reject):
                    yield from self._orphaned(stack, node, existing)
                    return
        if changes or new_parent is not None:
            depth = container.new_depth if container.new_depth >= 0 else -1
            yield Update(row, existing, changes, new_parent, depth)
        else:
            yield Unchanged(row, existing)

    def _orphaned(self, stack: list[_Node], node: _Node, existing: Existing) -> Iterator[Event]:
        """A registered prefix kept only because a (rejected) row named it goes with its removed parent."""
        if len(stack) > 1 and stack[-2].removed and not node.removed:
            node.removed = True
            yield Remove(existing, record=False)

    def _placement_problem(self, container: _Node | None, row: Row) -> Reject | None:
        if container is None:
            return self._reject(row, N_("%(prefix)s lies outside every block %(carrier)s holds"),
                                prefix=format_net(row.net), carrier=self.carrier_name)  # fmt: skip
        if not container.manages and container.line is not None:
            return self._reject(row, N_("%(prefix)s overlaps line %(line)d (%(other)s)"), prefix=format_net(row.net),
                                other_line=container.line, other=format_net(container.net))  # fmt: skip
        if not container.manages:
            return self._reject(row, N_("%(prefix)s lies inside %(other)s, held by %(holder)s"),
                                prefix=format_net(row.net), other=format_net(container.net),
                                holder=container.holder_name or "—")  # fmt: skip
        if rules.nests_in(container.placed, row.attributes.kind) is not None:
            if container.line is not None:
                return self._reject(row, N_("%(prefix)s overlaps line %(line)d (%(other)s)"),
                                    prefix=format_net(row.net), other_line=container.line,
                                    other=format_net(container.net))  # fmt: skip
            return self._reject(row, N_("a %(kind)s cannot lie inside the %(other_kind)s %(other)s"),
                                kind=row.attributes.kind, other_kind=container.kind,
                                other=format_net(container.net))  # fmt: skip
        return None

    def _cover_problem(self, row: Row, lookahead: _Lookahead) -> Reject | None:
        """A new row may cover registered prefixes that stay (they move below it) if their kinds nest."""
        covered_until = -1
        for existing in lookahead.while_inside(row.net):
            if existing.net.start <= covered_until:
                continue  # below a prefix already looked at
            covered_until = existing.net.last
            stays = existing.in_file or not self.mode_snapshot
            covered = rules.Placed(existing.net, existing.attributes.kind)
            if stays and rules.may_cover(row.attributes.kind, covered) is not None:
                return self._reject(row, N_("%(prefix)s would cover the registered %(other)s (a %(other_kind)s)"),
                                    prefix=format_net(row.net), other=format_net(existing.net),
                                    other_kind=existing.attributes.kind)  # fmt: skip
        return None

    def _policy_event(self, container: _Node, row: Row) -> Warn | Reject | None:
        """A row against its pool's policy: refused where the pool is strict, else loaded with a warning (a
        carrier's historical book may predate today's policy; the preview lists every such row)."""
        breach = rules.within_policy(container.placed, row.net.length)
        if breach is None:
            return None
        strict = container.policy.strict
        problem = Problem(row.line, "prefix", format_net(row.net), breach.template, breach.params,
                          severity="error" if strict else "warning")  # fmt: skip
        return Reject(row, problem) if strict else Warn(row, problem)

    def _reject(self, row: Row, message: str, other_line: int | None = None, **params: object) -> Reject:
        if other_line is not None:
            params["line"] = other_line
        return Reject(row, Problem(row.line, "prefix", format_net(row.net), message, params))


def _surviving(stack: list[_Node]) -> _Node | None:
    for node in reversed(stack):
        if not node.removed:
            return node
    return None


def _holding_as_existing(node: _Node) -> Existing:
    assert node.id is not None
    return Existing(node.id, node.net, None, Attributes(node.kind, None), None, False, True)


def _changes(before: Attributes, after: Attributes) -> dict[str, tuple[object, object]]:
    return {
        name: (getattr(before, name), getattr(after, name))
        for name in ("kind", "holder_id", "usage", "description", "assigned_on")
        if getattr(before, name) != getattr(after, name)
    }


def _key(net: Net) -> tuple[int, int, int]:
    return net.family, net.start, net.length


class _Lookahead:
    """The registry's prefixes in address order, with a look at those ahead that lie inside a network."""

    def __init__(self, items: Iterator[Existing]) -> None:
        self._items = items
        self._buffer: deque[Existing] = deque()

    def __next__(self) -> Existing:
        if self._buffer:
            return self._buffer.popleft()
        return next(self._items)

    def peek(self) -> Existing | None:
        if not self._buffer:
            following = next(self._items, None)
            if following is None:
                return None
            self._buffer.append(following)
        return self._buffer[0]

    def while_inside(self, net: Net) -> Iterator[Existing]:
        for index in itertools.count():
            if index == len(self._buffer):
                following = next(self._items, None)
                if following is None:
                    return
                self._buffer.append(following)
            existing = self._buffer[index]
            if existing.net.family != net.family or existing.net.start > net.last:
                return
            if net.contains(existing.net) and existing.net != net:
                yield existing
