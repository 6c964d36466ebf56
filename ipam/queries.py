"""Reads of the prefix registry, shaped for the pages, the API and the CLI that show them."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session, aliased

from accounts.models import User
from accounts.permissions import Action as AccountAction
from accounts.queries import organization_id_by_code
from core import policy
from core.errors import ValidationFailed
from core.messages import message as _l
from ipam import freespace
from ipam.choices import ClaimAction
from ipam.models import Prefix, PrefixClaim, from_key, to_key
from ipam.permissions import Action
from ipam.space import Net, Utilization, parse_net, utilization

MAX_MAP_CELLS = 4096


def visible_prefixes(user: User | None) -> Select[tuple[Prefix]]:
    """Prefixes ``user`` may see: everything for regulators, else what its organization holds or handed out."""
    stmt = select(Prefix)
    if user is None or policy.can(user, AccountAction.OVERSEE_ALL):
        return stmt
    parent = aliased(Prefix)
    return stmt.outerjoin(parent, Prefix.parent_id == parent.id).where(
        or_(Prefix.holder_id == user.organization_id, parent.holder_id == user.organization_id)
    )


@dataclass(frozen=True)
class PrefixFilter:
    within: Net | None = None
    contains: Net | None = None
    holder: str | None = None
    kind: str | None = None
    family: int | None = None
    usage: str | None = None
    top_level: bool = False


def filtered(user: User | None, flt: PrefixFilter, session: Session) -> Select[tuple[Prefix]]:
    stmt = visible_prefixes(user)
    if flt.within is not None:
        stmt = stmt.where(
            Prefix.family == flt.within.family,
            Prefix.start >= to_key(flt.within.start),
            Prefix.start <= to_key(flt.within.last),
            Prefix.prefix_len >= flt.within.length,
        )
    if flt.contains is not None:
        stmt = stmt.where(
            Prefix.family == flt.contains.family,
            Prefix.start <= to_key(flt.contains.start),
            Prefix.last >= to_key(flt.contains.last),
        )
    if flt.holder:
        stmt = stmt.where(Prefix.holder_id == organization_id_by_code(flt.holder))
    if flt.kind:
        stmt = stmt.where(Prefix.kind == flt.kind)
    if flt.family:
        stmt = stmt.where(Prefix.family == flt.family)
    if flt.usage:
        stmt = stmt.where(Prefix.usage == flt.usage)
    if flt.top_level:
        stmt = stmt.where(Prefix.parent_id.is_(None))
    return stmt


def keyset_page(
    session: Session, stmt: Select[tuple[Prefix]], after: tuple[int, bytes, int] | None, limit: int
) -> tuple[list[Prefix], tuple[int, bytes, int] | None]:
    """Address-ordered page after the cursor ``(family, start, length)``; returns the next cursor too."""
    if after is not None:
        family, start, length = after
        stmt = stmt.where(
            or_(
                Prefix.family > family,
                (Prefix.family == family) & (Prefix.start > start),
                (Prefix.family == family) & (Prefix.start == start) & (Prefix.prefix_len > length),
            )
        )
    rows = list(session.scalars(stmt.order_by(Prefix.family, Prefix.start, Prefix.prefix_len).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], (last.family, last.start, last.prefix_len)


def encode_cursor(cursor: tuple[int, bytes, int] | None) -> str | None:
    if cursor is None:
        return None
    family, start, length = cursor
    return f"{family}-{start.hex()}-{length}"


def decode_cursor(text: str | None) -> tuple[int, bytes, int] | None:
    if not text:
        return None
    try:
        family, start, length = text.split("-")
        raw = bytes.fromhex(start)
        if len(raw) != 16 or family not in {"4", "6"}:
            return None
        return int(family), raw, int(length)
    except ValueError:
        return None


def ancestors(session: Session, prefix: Prefix) -> list[Prefix]:
    """From the top-level block down to the prefix's parent."""
    path: list[Prefix] = []
    current = prefix.parent
    while current is not None:
        path.append(current)
        current = current.parent
    return list(reversed(path))


def most_specific(session: Session, text_or_address: str) -> Prefix | None:
    """The smallest registered prefix containing an address or prefix, or None."""

    net = parse_net(text_or_address, strict=False)
    parent, existing = find_parent(session, net)
    return existing or parent


def most_specific_visible(session: Session, text_or_address: str, user: User) -> Prefix | None:
    """The smallest prefix containing the address that ``user`` may see (climbing past others' records)."""
    found = most_specific(session, text_or_address)
    while found is not None and not policy.can(user, Action.VIEW_PREFIX, found):
        found = found.parent
    return found


def child_counts(session: Session, prefixes: Sequence[Prefix]) -> dict[int, int]:
    """How many children each prefix has, in one query."""
    if not prefixes:
        return {}
    rows = session.execute(
        select(Prefix.parent_id, func.count())
        .where(Prefix.parent_id.in_([p.id for p in prefixes]))
        .group_by(Prefix.parent_id)
    ).all()
    return dict(rows)  # type: ignore[arg-type]


def utilizations(session: Session, prefixes: Sequence[Prefix], unit_length: int = 64) -> dict[int, Utilization]:
    """Utilization of many prefixes in one query (no per-row count)."""
    counts: dict[int, list[tuple[int, int]]] = defaultdict(list)
    if prefixes:
        rows = session.execute(
            select(Prefix.parent_id, Prefix.prefix_len, func.count())
            .where(Prefix.parent_id.in_([p.id for p in prefixes]))
            .group_by(Prefix.parent_id, Prefix.prefix_len)
        ).all()
        for parent_id, length, n in rows:
            counts[parent_id].append((length, n))
    return {p.id: utilization(p.net, counts[p.id], unit_length=unit_length) for p in prefixes}


@dataclass(frozen=True)
class MapCell:
    net: Net
    state: str  # used, partial, free, reserved
    prefix_id: int | None


def space_map(session: Session, prefix: Prefix, length: int) -> list[MapCell]:
    """The /length blocks of ``prefix`` and what occupies each: the grid a carrier reads at a glance."""
    net = prefix.net
    if not net.length <= length <= min(net.width, net.length + 12):
        raise ValueError("map length out of range")
    children = list(
        session.execute(
            select(Prefix.id, Prefix.start, Prefix.prefix_len, Prefix.kind)
            .where(Prefix.parent_id == prefix.id)
            .order_by(Prefix.start)
        )
    )
    step_bits = net.width - length
    cells: dict[int, MapCell] = {}
    for child_id, start, child_len, kind in children:
        child = Net(from_key(start), child_len, net.width)
        first = (child.start - net.start) >> step_bits
        if child_len <= length:
            state = "reserved" if kind == "reserved" else "used"
            for index in range(first, first + (1 << (length - child_len))):
                cells[index] = MapCell(Net(net.start + (index << step_bits), length, net.width), state, child_id)
        elif first not in cells:
            cells[first] = MapCell(Net(net.start + (first << step_bits), length, net.width), "partial", None)
    total = 1 << (length - net.length)
    return [
        cells.get(i) or MapCell(Net(net.start + (i << step_bits), length, net.width), "free", None)
        for i in range(total)
    ]


def visible_child_count(session: Session, prefix: Prefix, user: User | None) -> int:
    """How many children of ``prefix`` the user may see: all for those who see its layout, else none (the
    children are the holder's customers)."""
    if not policy.can(user, Action.VIEW_LAYOUT, prefix):
        return 0
    return session.scalar(select(func.count()).where(Prefix.parent_id == prefix.id)) or 0


def layout_counts(session: Session, prefixes: Sequence[Prefix], user: User | None) -> dict[int, int]:
    """Child counts of the prefixes whose layout ``user`` may see (the others' counts stay hidden)."""
    return child_counts(session, [p for p in prefixes if policy.can(user, Action.VIEW_LAYOUT, p)])


def visible_claims(user: User) -> Select[tuple[PrefixClaim]]:
    """Claims to top-level blocks: all for regulators (waiting ones first), else the user's organization's."""
    stmt = select(PrefixClaim).order_by((PrefixClaim.status == "pending").desc(), PrefixClaim.created_at.desc())
    if policy.can(user, AccountAction.OVERSEE_ALL):
        return stmt
    return stmt.where(PrefixClaim.claimant_id == user.organization_id)


def visible_claim(session: Session, claim_id: int, action: str, user: User) -> tuple[PrefixClaim, ClaimAction] | None:
    """The claim and the named step, or None when the claim does not exist, is another tenant's, or the step
    is no step of the claims' table (all three answer 404)."""
    claim = session.get(PrefixClaim, claim_id)
    if claim is None or not policy.can(user, Action.VIEW_CLAIMS, claim):
        return None
    try:
        return claim, ClaimAction(action)
    except ValueError:
        return None


# -- the tree, as the registry's operations walk it ------------------------------------------------------


def get_prefix(session: Session, net: Net) -> Prefix | None:
    return session.scalar(
        select(Prefix).where(
            Prefix.family == net.family, Prefix.start == to_key(net.start), Prefix.prefix_len == net.length
        )
    )


def _child_at_or_before(session: Session, parent_id: int | None, net: Net) -> Prefix | None:
    """The child of ``parent_id`` (top level when None) starting at or before ``net`` in address order."""
    where_parent = Prefix.parent_id.is_(None) if parent_id is None else Prefix.parent_id == parent_id
    return session.scalar(
        select(Prefix)
        .where(where_parent, Prefix.family == net.family, Prefix.start <= to_key(net.start))
        .order_by(Prefix.start.desc(), Prefix.prefix_len)
        .limit(1)
    )


def find_parent(session: Session, net: Net, below: Prefix | None = None) -> tuple[Prefix | None, Prefix | None]:
    """The smallest existing prefix strictly containing ``net`` (walking down from ``below``), and the
    existing prefix equal to ``net`` if there is one."""
    parent = below
    while True:
        candidate = _child_at_or_before(session, parent.id if parent else None, net)
        if candidate is None or not candidate.net.contains(net):
            return parent, None
        if candidate.prefix_len == net.length:
            return parent, candidate
        parent = candidate


def children_within(session: Session, parent_id: int | None, net: Net) -> list[Prefix]:
    where_parent = Prefix.parent_id.is_(None) if parent_id is None else Prefix.parent_id == parent_id
    return list(
        session.scalars(
            select(Prefix)
            .where(
                where_parent,
                Prefix.family == net.family,
                Prefix.start >= to_key(net.start),
                Prefix.start <= to_key(net.last),
            )
            .order_by(Prefix.start)
        )
    )


def find_available(session: Session, parent: Prefix, length: int | None = None, limit: int | None = None) -> list[Net]:
    """Without ``length``: the maximal free blocks in address order. With it: free /length candidates in
    first-fit order."""
    if length is None:
        if limit is None:
            return freespace.all_blocks(session, parent.id, parent.net)
        # The first blocks of any length, in address order, without sorting the whole index.
        return freespace.first_blocks(session, parent.id, parent.net, parent.width, limit)
    if not parent.prefix_len <= length <= parent.width:
        raise ValidationFailed.on(
            "length", _l("A /%(length)d does not fit inside %(parent)s.", length=length, parent=parent.network)
        )
    from ipam.space import candidates

    if limit is None:
        return list(candidates(freespace.all_blocks(session, parent.id, parent.net), length))
    return list(candidates(freespace.first_blocks(session, parent.id, parent.net, length, limit), length, limit))


def prefix_utilization(session: Session, prefix: Prefix, unit_length: int = 64) -> Utilization:
    counts = session.execute(
        select(Prefix.prefix_len, func.count()).where(Prefix.parent_id == prefix.id).group_by(Prefix.prefix_len)
    ).all()
    # IPv4 is counted in addresses (/32), IPv6 in /48, /56 or /64 units.
    return utilization(prefix.net, [(length, n) for length, n in counts], unit_length=min(unit_length, prefix.width))
