"""The subnet planner: a tree of named nodes laid out in a parent prefix. Pure: no Flask, no database.

A node is a leaf with a prefix ``length``, or an inner node whose size follows from its children: the *span* they
take when laid out in order (each child at the next position aligned to its own size, so at least their summed
sizes), times the node's headroom, rounded up to a power of two, then to a nibble when the plan asks. An inner
node may give its ``length`` instead; its children must then fit in it. Sizes are kept as *host bits*: a node of
``bits`` holds ``2**bits`` addresses and is a ``/(width - bits)``. The plan's parent is given, not sized: headroom
applies to the nodes. IPv4 parents are planned the same way (a width of 32).

Layout is first fit in order: the children of a node (or the plan's parent) are placed one after the other, each
at the lowest position aligned to its size, at or after the previous sibling's end, that overlaps nothing placed
or kept out. Kept out are the plan's reserved blocks and the registry's existing children of the parent; a node
never overlaps them, not even by containing one. The same input always gives the same plan.

Re-planning with the previous plan keeps every node whose path it lists in place: at its previous prefix when its
size is unchanged, grown around it (the enclosing block of the new size) or shrunk at its start when the size
changed. When that place no longer lies inside the node's parent or overlaps another node or kept-out space, the
planner refuses (``PlanWouldMove``) rather than move a node already placed; leaving out the previous plan
(``repack``) lays everything out afresh. New nodes fill the space left, by the same rule. A registered block equal
to a previous top-level node's prefix is that node (the plan was applied), not space kept out.

Sizes and needs are computed per line of the plan, not per copy, so ``count: 1000`` costs one computation; only
the output is as long as the plan.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from itertools import chain
from typing import Any

from core.messages import N_, Message
from core.messages import message as _l
from ipam.space import Net, format_net

MAX_PLAN_NODES = 1_000_000
_FREE = ""  # no holder: a path is never empty


@dataclass(frozen=True, slots=True)
class NodeSpec:
    """One line of a plan: ``names`` are its copies in order (``binhai-1`` … ``binhai-3``, or names given one by
    one). A leaf gives ``length``; an inner node has ``children`` and is sized from them unless it gives ``length``
    too. ``headroom`` None takes the plan's."""

    names: tuple[str, ...]
    length: int | None = None
    headroom: Fraction | None = None
    children: tuple[NodeSpec, ...] = ()


@dataclass(frozen=True, slots=True)
class PlanSpec:
    """A whole plan: its parent, its top-level nodes, and the defaults and reserved blocks of every level."""

    parent: Net
    nodes: tuple[NodeSpec, ...]
    nibble: bool = False
    headroom: Fraction = Fraction(1)
    reserved: tuple[Net, ...] = ()


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one node lands. ``kept``: re-planning left it at its previous place (or grew it there)."""

    path: str
    net: Net
    kept: bool = False


@dataclass(frozen=True, slots=True)
class Plan:
    """Every node of the plan with its prefix, depth first, siblings in the plan's order."""

    parent: Net
    placements: tuple[Placement, ...]

    def as_json(self) -> dict[str, Any]:
        return {
            "parent": format_net(self.parent),
            "nodes": [{"path": p.path, "prefix": format_net(p.net)} for p in self.placements],
        }

    def prefixes(self) -> dict[str, Net]:
        """Path → prefix: the ``previous`` of the next re-plan."""
        return {p.path: p.net for p in self.placements}


class PlanError(Exception):
    """A plan that cannot be laid out. ``path`` names the node concerned; ``message`` renders in the reader's
    language."""

    def __init__(self, message: Message, path: str) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def __str__(self) -> str:
        return str(self.message)


class PlanDoesNotFit(PlanError):
    """``path`` is the first node that finds no room in ``level`` (a node's path; "" for the plan's parent), which
    would have to be a /``needed_length`` (None: more than the whole address space) and is a /``held_length``."""

    def __init__(self, message: Message, path: str, level: str, needed_length: int | None, held_length: int) -> None:
        super().__init__(message, path)
        self.level = level
        self.needed_length = needed_length
        self.held_length = held_length


class PlanWouldMove(PlanError):
    """Re-planning would have to move ``path`` from ``previous`` (as a /``length``)."""

    def __init__(self, message: Message, path: str, previous: Net, length: int) -> None:
        super().__init__(message, path)
        self.previous = previous
        self.length = length


class PlanTooLarge(PlanError):
    """More than ``MAX_PLAN_NODES`` nodes, every copy counted: refused before any work."""


def node_count(nodes: Iterable[NodeSpec]) -> int:
    """How many nodes the plan lays out, every copy counted."""
    return sum(len(node.names) * (1 + node_count(node.children)) for node in nodes)


def plan(spec: PlanSpec, *, existing: Iterable[Net] = (), previous: Mapping[str, Net] | None = None) -> Plan:
    """Lay out ``spec`` in its parent, around its reserved blocks and the registry's ``existing`` children of the
    parent; with ``previous`` (path → prefix of an earlier plan), keeping those nodes in place."""
    count = node_count(spec.nodes)
    if count > MAX_PLAN_NODES:
        raise PlanTooLarge(
            _l("The plan has %(count)s nodes; a plan may have at most %(limit)s.", count=count, limit=MAX_PLAN_NODES),
            "",
        )
    width = spec.parent.width
    sizer = _Sizer(width, spec.nibble, spec.headroom)
    children = tuple(sizer.size(node, _join("", node.names[0])) for node in spec.nodes)
    layout = _Layout(width, previous or {})
    owned = {layout.previous[path] for path in _paths_of("", children) if path in layout.previous}
    kept_out = [*spec.reserved, *(net for net in existing if net not in owned)]
    layout.place(spec.parent, "", children, kept_out)
    return Plan(spec.parent, tuple(layout.out))


# -- sizes -----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Sized:
    spec: NodeSpec
    bits: int
    children: tuple[_Sized, ...]


def _ceil_log2(value: int) -> int:
    return (value - 1).bit_length() if value > 1 else 0


def _align_up(value: int, bits: int) -> int:
    return ((value + (1 << bits) - 1) >> bits) << bits


def _span(children: Iterable[_Sized]) -> int:
    """Addresses the children take laid out in order from an aligned start, nothing in the way."""
    cursor = 0
    for child in children:
        cursor = _align_up(cursor, child.bits) + (len(child.spec.names) << child.bits)
    return cursor


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


def _paths_of(path: str, children: Iterable[_Sized]) -> Iterable[str]:
    for child in children:
        for name in child.spec.names:
            yield _join(path, name)


class _Sizer:
    def __init__(self, width: int, nibble: bool, headroom: Fraction) -> None:
        self.width = width
        self.nibble = nibble
        self.headroom = headroom

    def round(self, bits: int) -> int:
        return -(-bits // 4) * 4 if self.nibble else bits

    def size(self, node: NodeSpec, path: str) -> _Sized:
        """``path``: the first copy's, to name the node in a message."""
        children = tuple(self.size(child, _join(path, child.names[0])) for child in node.children)
        if node.length is not None and not 0 <= node.length <= self.width:
            raise ValueError(f"{path}: /{node.length} is not a length of a {self.width}-bit prefix")
        span = _span(children)
        if node.length is not None:
            bits = self.round(self.width - node.length)
            if span > 1 << bits:
                raise self._too_small(path, self.round(_ceil_log2(span)), bits)
            return _Sized(node, bits, children)
        headroom = self.headroom if node.headroom is None else node.headroom
        need = -(-span * headroom.numerator // headroom.denominator)
        return _Sized(node, self.round(_ceil_log2(need)), children)

    def _too_small(self, path: str, needed_bits: int, bits: int) -> PlanDoesNotFit:
        held = self.width - bits
        if needed_bits > self.width:
            message = _l(
                "%(node)s does not fit in its own length: its nodes need more than the whole address space.", node=path
            )
            return PlanDoesNotFit(message, path, path, None, held)
        needed = self.width - needed_bits
        message = _l(
            "%(node)s does not fit in its own length: its nodes need a /%(needed)d, "
            "and the /%(held)d it gives holds 1/%(part)d of that.",
            node=path,
            needed=needed,
            held=held,
            part=1 << (needed_bits - bits),
        )
        return PlanDoesNotFit(message, path, path, needed, held)


# -- layout ----------------------------------------------------------------------------------------------------------


class _Occupied:
    """Disjoint half-open address ranges ``[start, end)`` in order, each with its holder: a node's path, or None for
    reserved and registered space."""

    __slots__ = ("ends", "owners", "starts")

    def __init__(self, kept_out: Iterable[Net], within: Net) -> None:
        low, high = within.start, within.start + within.size
        ranges = sorted((max(n.start, low), min(n.start + n.size, high)) for n in kept_out if within.overlaps(n))
        self.starts: list[int] = []
        self.ends: list[int] = []
        for start, end in ranges:
            if self.ends and start <= self.ends[-1]:
                self.ends[-1] = max(self.ends[-1], end)
            else:
                self.starts.append(start)
                self.ends.append(end)
        self.owners: list[str | None] = [None] * len(self.starts)

    def add(self, start: int, end: int, owner: str) -> None:
        at = bisect_left(self.starts, start)
        self.starts.insert(at, start)
        self.ends.insert(at, end)
        self.owners.insert(at, owner)

    def holders_within(self, net: Net) -> Iterator[str | None]:
        """The holders of the ranges ``net`` overlaps, in address order."""
        at = bisect_right(self.ends, net.start)
        while at < len(self.starts) and self.starts[at] < net.start + net.size:
            yield self.owners[at]
            at += 1

    def first_fit(self, low: int, high: int | None, bits: int) -> int | None:
        """The lowest free start aligned to ``2**bits`` at or after ``low`` whose block ends by ``high``."""
        size = 1 << bits
        start = _align_up(low, bits)
        at = bisect_right(self.ends, start)
        while high is None or start + size <= high:
            if at == len(self.starts) or self.starts[at] >= start + size:
                return start
            start = _align_up(self.ends[at], bits)
            while at < len(self.starts) and self.ends[at] <= start:
                at += 1
        return None


@dataclass(slots=True)
class _Copy:
    node: _Sized
    path: str
    start: int | None = None
    kept: bool = False


class _Layout:
    def __init__(self, width: int, previous: Mapping[str, Net]) -> None:
        self.width = width
        self.previous = previous
        self.out: list[Placement] = []

    def place(self, container: Net, path: str, children: tuple[_Sized, ...], kept_out: list[Net]) -> None:
        """Place ``children`` in ``container`` (the node at ``path``, or the parent), keeping previous places, and
        everything below them."""
        copies = [_Copy(child, _join(path, name)) for child in children for name in child.spec.names]
        occupied = _Occupied(kept_out, container)
        if self.previous:
            self._keep(container, path, copies, occupied)
        end = container.start + container.size
        cursor = container.start
        for copy in copies:
            if copy.start is None:
                copy.start = occupied.first_fit(cursor, end, copy.node.bits)
                if copy.start is None:
                    raise self._does_not_fit(container, path, copies, copy, kept_out)
                occupied.add(copy.start, copy.start + (1 << copy.node.bits), copy.path)
            cursor = copy.start + (1 << copy.node.bits)
        for copy in copies:
            net = Net(copy.start, self.width - copy.node.bits, self.width)
            self.out.append(Placement(copy.path, net, copy.kept))
            if not copy.node.children:
                continue
            if copy.kept:
                self.place(net, copy.path, copy.node.children, [])
            else:
                self._fresh(copy.node, copy.start, copy.path)

    def _fresh(self, node: _Sized, start: int, path: str) -> None:
        """A new node's subtree: nothing in its way, its size holds its children in order (the sizing saw to it)."""
        width, out = self.width, self.out
        cursor = start
        for child in node.children:
            bits = child.bits
            size = 1 << bits
            cursor = _align_up(cursor, bits)
            for name in child.spec.names:
                child_path = f"{path}/{name}"
                out.append(Placement(child_path, Net(cursor, width - bits, width)))
                if child.children:
                    self._fresh(child, cursor, child_path)
                cursor += size

    def _keep(self, container: Net, path: str, copies: list[_Copy], occupied: _Occupied) -> None:
        """Settle the copies the previous plan placed. Those keeping their size (or shrinking) stay; a copy that grew
        takes the block of its new size around its place only if it meets nothing kept out, nothing staying, and no
        other grown copy's previous place: the copy that grows is the one that would have to move."""
        staying: list[tuple[_Copy, Net, Net]] = []
        growing: list[tuple[_Copy, Net, Net]] = []
        for copy in copies:
            previous = self.previous.get(copy.path)
            if previous is None or 1 << copy.node.bits > container.size:
                continue  # a node larger than its container is reported as not fitting
            bits = copy.node.bits
            here = Net(previous.start >> bits << bits, self.width - bits, self.width)
            (growing if here.length < previous.length else staying).append((copy, previous, here))
        grown_from = _Occupied((), container)
        for copy, previous, _here in growing:
            if container.contains(previous):
                grown_from.add(previous.start, previous.start + previous.size, copy.path)
        for copy, previous, here in [*staying, *growing]:
            if previous.width != self.width or not container.contains(here):
                message = _l(
                    "%(node)s would have to move from %(previous)s: as a /%(length)d it no longer lies inside "
                    "%(parent)s. Repack the plan to move it.",
                    node=copy.path,
                    previous=format_net(previous),
                    length=here.length,
                    parent=path or format_net(container),
                )
                raise PlanWouldMove(message, copy.path, previous, here.length)
            others = (holder for holder in grown_from.holders_within(here) if holder != copy.path)
            clash = next(chain(occupied.holders_within(here), others), _FREE)
            if clash is None:
                message = _l(
                    "%(node)s would have to move from %(previous)s: as a /%(length)d it would overlap reserved "
                    "or registered space. Repack the plan to move it.",
                    node=copy.path,
                    previous=format_net(previous),
                    length=here.length,
                )
                raise PlanWouldMove(message, copy.path, previous, here.length)
            if clash is not _FREE:
                message = _l(
                    "%(node)s would have to move from %(previous)s: as a /%(length)d it would overlap "
                    "%(other)s. Repack the plan to move it.",
                    node=copy.path,
                    previous=format_net(previous),
                    length=here.length,
                    other=clash,
                )
                raise PlanWouldMove(message, copy.path, previous, here.length)
            occupied.add(here.start, here.start + here.size, copy.path)
            copy.start, copy.kept = here.start, True

    def _does_not_fit(
        self, container: Net, path: str, copies: list[_Copy], failing: _Copy, kept_out: list[Net]
    ) -> PlanDoesNotFit:
        """How large ``container`` would have to be: the same layout with no end to the space."""
        occupied = _Occupied(kept_out, container)
        for copy in copies:
            if copy.kept and copy.start is not None:
                occupied.add(copy.start, copy.start + (1 << copy.node.bits), copy.path)
        cursor = end = container.start
        for copy in copies:
            start = copy.start if copy.kept and copy.start is not None else None
            if start is None:
                start = occupied.first_fit(cursor, None, copy.node.bits)
                assert start is not None  # an unbounded space always has room
                occupied.add(start, start + (1 << copy.node.bits), copy.path)
            cursor = start + (1 << copy.node.bits)
            end = max(end, cursor)
        needed_bits = _ceil_log2(end - container.start)
        node, where = failing.path, path or format_net(container)
        node_length = self.width - failing.node.bits
        if needed_bits > self.width or node_length < 0:
            message = _l(
                "%(node)s does not fit in %(parent)s: the plan needs more than the whole address space.",
                node=node,
                parent=where,
            )
            return PlanDoesNotFit(message, node, path, None, container.length)
        needed = self.width - needed_bits
        part = 1 << (container.length - needed)
        if path:  # a node kept in place: only the nodes it keeps stand in the way
            template = N_(
                "%(node)s (a /%(length)d) does not fit in %(parent)s beside the nodes kept in place: %(parent)s would "
                "have to be a /%(needed)d, and it is a /%(held)d (1/%(part)d of that). Repack the plan to lay it out "
                "afresh."
            )
        elif any(copy.kept for copy in copies):
            template = N_(
                "%(node)s (a /%(length)d) does not fit in %(parent)s beside the nodes kept in place: the plan would "
                "need a /%(needed)d, and the /%(held)d holds 1/%(part)d of that. Repack the plan to lay it out "
                "afresh."
            )
        else:
            template = N_(
                "%(node)s (a /%(length)d) does not fit in %(parent)s: the plan needs a /%(needed)d, and the "
                "/%(held)d holds 1/%(part)d of that."
            )
        params = {"node": node, "length": node_length, "parent": where, "needed": needed, "held": container.length,
                  "part": part}  # fmt: skip
        message = Message(template, params)
        return PlanDoesNotFit(message, node, path, needed, container.length)
