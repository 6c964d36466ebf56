"""Reads of the prefix registry, shaped for the pages, the API and the CLI that show them."""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    LargeBinary,
    Select,
    TextClause,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    or_,
    select,
    text,
    union_all,
)
from sqlalchemy.orm import Session, aliased

from accounts.models import AuditEvent, Organization, User
from accounts.permissions import Action as AccountAction
from accounts.queries import object_history, organization_id_by_code
from core import policy
from core.errors import ValidationFailed
from core.messages import message as _l
from ipam import freespace
from ipam.choices import ClaimAction
from ipam.models import ADDRESS_BYTES, FreeBlock, Prefix, PrefixClaim, from_key, to_key
from ipam.permissions import Action
from ipam.space import Net, Utilization, addresses_per_cell, parse_net, utilization

MAX_MAP_STEP = 12  # a map's cells are at most 12 bits longer than its block: 4,096 of them
HOLDINGS_NAMED = 1_000  # an organization's holdings named in its visibility filter (more: a subquery)


def visible_prefixes(user: User | None, session: Session | None = None) -> Select[tuple[Prefix]]:
    """Prefixes ``user`` may see: everything for regulators, else what its organization holds or handed out.

    With ``session`` the organization's holdings that have children are read first and named in the statement
    (when it holds at most ``HOLDINGS_NAMED``); without it (or with more) the statement asks for them itself.
    """
    stmt = select(Prefix)
    if user is None or policy.can(user, AccountAction.OVERSEE_ALL):
        return stmt
    # "Handed out" is a parent among the organization's holdings (one set, hashed once), not a join to each
    # row's parent: the join made PostgreSQL guess from the holdings' count how many rows a holder sees, and a
    # carrier holding one block with a million customers had them all read and sorted for a page of 50.
    held = aliased(Prefix)
    holdings: Any = select(held.id).where(held.holder_id == user.organization_id)
    if session is not None:
        # Asked for in a subquery, or even named, each holding is credited with the average parent's children
        # (PostgreSQL sees ten distinct parents in a sample of a million prefixes, most of them leaves): an
        # enterprise holding 500 leaves then looked like 25,000 rows, and its page walked the address index for
        # them (0.3 s at a million, 1.5 s under load) rather than fetching its 500 and sorting them. Naming only
        # the holdings that have children leaves the estimate to the holder's own statistics.
        ids = list(session.scalars(holdings.limit(HOLDINGS_NAMED + 1)))
        if len(ids) <= HOLDINGS_NAMED:
            child = aliased(Prefix)
            with_children = select(held.id).where(held.id.in_(ids), exists().where(child.parent_id == held.id))
            holdings = list(session.scalars(with_children)) if ids else []
            if not holdings:  # nothing handed out: the holder's own range of its index
                return stmt.where(Prefix.holder_id == user.organization_id)
    return stmt.where(or_(Prefix.holder_id == user.organization_id, Prefix.parent_id.in_(holdings)))


@dataclass(frozen=True)
class PrefixFilter:
    within: Net | None = None
    contains: Net | None = None
    holder: str | None = None
    kind: str | None = None
    family: int | None = None
    usage: str | None = None


def filtered(user: User | None, flt: PrefixFilter, session: Session) -> Select[tuple[Prefix]]:
    stmt = visible_prefixes(user, session)
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
    return stmt


# -- the tree as a user sees it -----------------------------------------------------------------------------
#
# A user who does not oversee everything sees what its organization holds and what it handed out (the children
# of what it holds: ``visible_prefixes``, the rule ``VIEW_PREFIX``). A visible prefix hangs below its nearest
# visible ancestor; without one it is a root. A prefix has a visible ancestor exactly when one of its ancestors is
# held by the user's organization (an ancestor is visible when it or its own parent is held), which is what the
# statements below test, by address containment.


def _held_ancestor(organization_id: int | None, below: Any = None) -> Any:
    """A prefix held by the organization that strictly contains the row (and lies strictly inside ``below``, a
    prefix or an alias of the table)."""
    ancestor = aliased(Prefix)
    conditions = [
        ancestor.holder_id == organization_id,
        ancestor.family == Prefix.family,
        ancestor.start <= Prefix.start,
        ancestor.last >= Prefix.last,
        ancestor.prefix_len < Prefix.prefix_len,
    ]
    if below is not None:
        conditions.append(ancestor.prefix_len > below.prefix_len)
    return exists().where(*conditions)


def _oversees(user: User | None) -> bool:
    return user is None or policy.can(user, AccountAction.OVERSEE_ALL)


def tree_roots(user: User | None) -> Select[tuple[Prefix]]:
    """The prefixes ``user`` sees that have no visible ancestor: the top level of its tree."""
    if _oversees(user):
        return select(Prefix).where(Prefix.parent_id.is_(None))
    assert user is not None
    # A root is held by the organization (else its parent, which handed it out, is visible) with no held
    # ancestor. Each held prefix climbs its parent chain until it meets one held by the organization or passes
    # the top: one primary-key step per level, so the cost grows with the holdings and the tree's depth, where
    # testing containment against every other held prefix grew with the square of the holdings.
    return select(Prefix).where(Prefix.id.in_(_unheld_above(user.organization_id)))


def _unheld_above(organization_id: int) -> Select[tuple[int]]:
    """Ids of the prefixes held by the organization none of whose ancestors it holds.

    Each climbs one ancestor a step: ``above`` is the next ancestor's id, 0 past the top (a root), -1 at one the
    organization holds. The step is a scalar lookup by primary key, not a join: a join let PostgreSQL read the
    whole table into a hash on a guess of how many steps there are."""
    held, ancestor = aliased(Prefix), aliased(Prefix)
    climb = (
        select(held.id.label("id"), func.coalesce(held.parent_id, 0).label("above"))
        .where(held.holder_id == organization_id)
        .cte("climb", recursive=True)
    )
    step = (
        select(case((ancestor.holder_id == organization_id, -1), else_=func.coalesce(ancestor.parent_id, 0)))
        .where(ancestor.id == climb.c.above)
        .scalar_subquery()
    )
    climb = climb.union_all(select(climb.c.id, step).where(climb.c.above > 0))
    return select(climb.c.id).where(climb.c.above == 0)


def tree_children(user: User | None, prefix: Prefix) -> Select[tuple[Prefix]]:
    """The prefixes ``user`` sees whose nearest visible ancestor is ``prefix``: one level of its tree."""
    if _oversees(user) or policy.can(user, Action.VIEW_LAYOUT, prefix):
        # Everything below a block one holds is visible: its children are the next level.
        return select(Prefix).where(Prefix.parent_id == prefix.id)
    assert user is not None
    # A block one handed out: its layout is its holder's; only what one holds oneself inside it shows.
    return select(Prefix).where(
        Prefix.holder_id == user.organization_id,
        *_inside(prefix),
        ~_held_ancestor(user.organization_id, below=prefix),
    )


def _inside(prefix: Any, rows: Any = Prefix) -> list[Any]:
    """``rows`` strictly inside ``prefix`` (a prefix or an alias of the table), by address: the registry's tree
    follows containment, so these are exactly its descendants."""
    return [
        rows.family == prefix.family,
        rows.start >= prefix.start,
        rows.start <= prefix.last,
        rows.prefix_len > prefix.prefix_len,
    ]


def tree_child_counts(session: Session, prefixes: Sequence[Prefix], user: User | None) -> dict[int, int]:
    """How many prefixes each of ``prefixes`` shows one level below it in ``user``'s tree, in two queries."""
    counts = layout_counts(session, prefixes, user)
    if _oversees(user):
        return counts
    assert user is not None
    handed_out = [p.id for p in prefixes if not policy.can(user, Action.VIEW_LAYOUT, p)]
    if handed_out:
        block, organization_id = aliased(Prefix), user.organization_id
        rows = session.execute(
            select(block.id, func.count(Prefix.id))
            .join(Prefix, and_(*_inside(block, Prefix)))
            .where(
                block.id.in_(handed_out),
                Prefix.holder_id == organization_id,
                ~_held_ancestor(organization_id, below=block),
            )
            .group_by(block.id)
        ).all()
        counts.update({block_id: n for block_id, n in rows})
    return counts


def keyset_page(
    session: Session,
    stmt: Select[tuple[Prefix]],
    after: tuple[int, bytes, int] | None,
    limit: int,
    *,
    family: int | None = None,
) -> tuple[list[Prefix], tuple[int, bytes, int] | None]:
    """Address-ordered page after the cursor ``(family, start, length)``; returns the next cursor too.

    ``family`` says every row of ``stmt`` is of that family (what lies inside one prefix): the page is then a
    range of addresses from the cursor on, which the (parent, start) index reads directly, where the cursor
    across families (an OR no index serves) walked every row before it."""
    order = (
        [Prefix.start, Prefix.prefix_len] if family is not None else [Prefix.family, Prefix.start, Prefix.prefix_len]
    )
    if after is not None:
        after_family, start, length = after
        if family is None:
            stmt = stmt.where(
                or_(
                    Prefix.family > after_family,
                    (Prefix.family == after_family) & (Prefix.start > start),
                    (Prefix.family == after_family) & (Prefix.start == start) & (Prefix.prefix_len > length),
                )
            )
        elif after_family == family:
            stmt = stmt.where(Prefix.start >= start, or_(Prefix.start > start, Prefix.prefix_len > length))
        elif after_family > family:
            return [], None
    rows = list(session.scalars(stmt.order_by(*order).limit(limit + 1)))
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
    prefix_id: int | None  # the child filling or covering the cell, when one does
    used: float  # the share of the cell's addresses that children hold, 0 to 1

    @property
    def percent(self) -> int:
        """The used share in whole percent, rounded down (a cell shows 100 only when it is full)."""
        return int(self.used * 100)

    @property
    def shade(self) -> int:
        """1 to 4: which quarter of a partly used cell is used (a sliver still shows as used at all)."""
        return min(4, 1 + int(self.used * 4))


# The lengths of a prefix's free blocks, found by skipping through the free-space key (one probe per length
# present) instead of reading the blocks: a million children leave some seven million free blocks.
_FREE_LENGTHS = """lengths(n) AS (
    SELECT min(prefix_len) FROM free_block WHERE parent_id = :parent_id
    UNION ALL
    SELECT (SELECT min(f.prefix_len) FROM free_block f WHERE f.parent_id = :parent_id AND f.prefix_len > n)
    FROM lengths WHERE n IS NOT NULL
)"""


# What a map counts in each cell: how many free blocks of each length start there, one counted range of the
# free-space key per present length and cell (SQLite walks each range in key order, where grouping by a computed
# cell sorts every block).
_COUNTED_PER_CELL = (
    _FREE_LENGTHS  # noqa: S608 (constant text)
    + """,
    counted(i, n, blocks) AS (
        SELECT cells.i, lengths.n, (
            SELECT count(*) FROM free_block f
            WHERE f.parent_id = :parent_id AND f.prefix_len = lengths.n
                AND f.start >= cells.lo AND f.start <= cells.hi
        )
        FROM cells, lengths WHERE lengths.n IS NOT NULL
    )
    SELECT i, n, blocks FROM counted WHERE blocks > 0"""
)

# The child holding all of each cell that has one: the child starting last at or before the cell (one probe of
# the (parent, start) index), kept when it reaches the cell's end.
_FILLING_CHILD = """probed(i, hi, child_id) AS (
        SELECT i, hi, (
            SELECT c.id FROM prefix c WHERE c.parent_id = :parent_id AND c.start <= cells.lo
            ORDER BY c.start DESC LIMIT 1
        )
        FROM cells
    )
    SELECT probed.i, p.id, p.kind FROM probed JOIN prefix p ON p.id = probed.child_id WHERE p.last >= probed.hi"""


@functools.lru_cache(maxsize=64)
def _per_cell(query: str, cells: int) -> TextClause:
    """``query`` (SQL after a WITH, reading ``cells(i, lo, hi)``: each cell's number, first and last key) over
    that many cells. Built once per shape: binding thousands of keys takes longer to build than to run."""
    values = ", ".join(f"({i}, :lo{i}, :hi{i})" for i in range(cells))
    key = LargeBinary()
    return text(f"WITH RECURSIVE cells(i, lo, hi) AS (VALUES {values}), {query}").bindparams(
        *(bindparam(f"{end}{i}", type_=key) for i in range(cells) for end in ("lo", "hi"))
    )


def _per_cell_rows(session: Session, query: str, parent_id: int, cells: Sequence[Net]) -> Any:
    keys = {f"lo{i}": to_key(cell.start) for i, cell in enumerate(cells)}
    keys.update({f"hi{i}": to_key(cell.last) for i, cell in enumerate(cells)})
    return session.execute(_per_cell(query, len(cells)), {"parent_id": parent_id, **keys})


def cell_block_counts(
    session: Session,
    parent_id: int,
    net: Net,
    length: int,
    *,
    within: Net | None = None,
    grouped: bool | None = None,
) -> list[tuple[int, int, int]]:
    """(cell start, block length, count) of the free blocks of a parent (``net``) in the /length cells of
    ``within`` (a block of it; all of it by default), for ``addresses_per_cell``. No free block may hold all of
    ``within`` (that one would start before its first cell).

    Grouped by their leading key bytes (a hash aggregate, PostgreSQL's default) or counted per cell and length
    in key ranges (SQLite's: 0.8-1.0 s against 5.5-8.9 s grouped at a million children): bench/pages.py.
    ``grouped`` overrides the choice (for the benchmark). Zoomed into a block, both read only the blocks inside
    it: a range of the free-space key per length."""
    if grouped is None:
        grouped = session.get_bind().dialect.name == "postgresql"
    region = within or net
    if not grouped:
        cells = list(region.subnets(length))
        return [
            (cells[i].start, n, count) for i, n, count in _per_cell_rows(session, _COUNTED_PER_CELL, parent_id, cells)
        ]
    return _grouped_by_cell(session, FreeBlock.__table__, parent_id, net, region, length)


def cell_child_counts(
    session: Session, parent_id: int, net: Net, length: int, *, within: Net | None = None
) -> list[tuple[int, int, int]]:
    """(cell start, child length, count) of a parent's (``net``) children in the /length cells of ``within`` (a
    block of it; all of it by default), for ``addresses_per_cell``: the used addresses, where the free-space
    index gives the free ones. No child may hold more than all of ``within`` (it would start before its first
    cell)."""
    return _grouped_by_cell(session, Prefix.__table__, parent_id, net, within or net, length)


def _grouped_by_cell(
    session: Session, table: Any, parent_id: int, net: Net, region: Net, length: int
) -> list[tuple[int, int, int]]:
    """(cell start, length, count) of the rows of ``table`` (free blocks or children: ``parent_id``, ``start``,
    ``prefix_len``) of a parent (``net``) in the /length cells of ``region``, grouped by cell and length."""
    # The cell a block lies in is in the leading bytes of its start key (IPv4 keys lead with 12 zero bytes).
    key_bytes = (8 * ADDRESS_BYTES - region.width + length + 7) // 8
    cell_key = func.substr(table.c.start, 1, key_bytes)
    stmt = select(cell_key, table.c.prefix_len, func.count()).where(table.c.parent_id == parent_id)
    if region != net:
        stmt = stmt.where(
            table.c.prefix_len.in_(range(region.length, region.width + 1)),
            table.c.start >= to_key(region.start),
            table.c.start <= to_key(region.last),
        )
    rows = session.execute(stmt.group_by(cell_key, table.c.prefix_len))
    shift = 8 * (ADDRESS_BYTES - key_bytes)
    return [(from_key(key) << shift, n, count) for key, n, count in rows]


def _children_filling(session: Session, parent_id: int, cells: Sequence[Net]) -> dict[int, tuple[int, str]]:
    """The child holding all of each of ``cells`` that has one, as (id, kind) by the cell's start. Only cells
    without a free address can have one, so the map asks for those alone."""
    if not cells:
        return {}
    rows = _per_cell_rows(session, _FILLING_CHILD, parent_id, cells)
    return {cells[i].start: (child_id, kind) for i, child_id, kind in rows}


def _free_per_cell(session: Session, prefix: Prefix, region: Net, length: int) -> list[int]:
    """Free addresses in each /length cell of ``region`` (all of ``prefix`` or a block inside it).

    Counted from whichever of the prefix's two lists the database reads faster (bench/pages.py, a million random
    /48 children, which leave about 14 million maximal free blocks): PostgreSQL groups the children by their cell
    (0.37-0.38 s, against 2.4-2.5 s grouping the free blocks); SQLite counts ranges of the free-space key per cell
    (1.2-1.4 s, against 1.2-1.5 s grouping the children, 2.9-3.1 s counting them per cell and 8.8-11 s grouping
    the free blocks: it sorts whatever it groups, and reads each child's length from the table)."""
    net = prefix.net
    size = 1 << (region.width - length)
    cells = 1 << (length - region.length)
    if freespace.containing_block(session, prefix.id, net, region) is not None:  # all of it free
        return [size] * cells
    if session.get_bind().dialect.name != "postgresql":
        return addresses_per_cell(region, length, cell_block_counts(session, prefix.id, net, length, within=region))
    if region != net and _children_filling(session, prefix.id, [region]):  # one child holds all of it
        return [0] * cells
    used = addresses_per_cell(region, length, cell_child_counts(session, prefix.id, net, length, within=region))
    return [size - used_here for used_here in used]


def space_map(session: Session, prefix: Prefix, length: int, within: Net | None = None) -> list[MapCell]:
    """The /length blocks of ``within`` (a block inside ``prefix``; all of it by default) and how much of each
    is used: the grid a carrier reads at a glance, and zooms into a cell of.

    Summarized by the database, counted per cell and length: no child is read but one per cell it fills wholly
    (to link it, and to tell reserved cells), found by a probe per fully used cell."""
    net = prefix.net
    region = within or net
    if not (net.contains(region) and region.length <= length <= min(region.width, region.length + MAX_MAP_STEP)):
        raise ValueError("map block or length out of range")
    size = 1 << (region.width - length)
    free = _free_per_cell(session, prefix, region, length)
    cells = list(region.subnets(length))
    filled = _children_filling(
        session, prefix.id, [cell for cell, free_here in zip(cells, free, strict=True) if not free_here]
    )
    result = []
    for cell, free_here in zip(cells, free, strict=True):
        child_id, kind = filled.get(cell.start, (None, None))
        if child_id is not None:
            state = "reserved" if kind == "reserved" else "used"
        else:
            state = "free" if free_here == size else "used" if not free_here else "partial"
        result.append(MapCell(cell, state, child_id, 1 - free_here / size))
    return result


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


# -- what a release takes with it ---------------------------------------------------------------------------


def descendants(prefix: Prefix) -> Select[tuple[Prefix]]:
    """Every prefix below ``prefix``, whoever holds it: what releasing it with its children takes along."""
    return select(Prefix).where(*_inside(prefix))


def descendant_count(session: Session, prefix: Prefix) -> int:
    return session.scalar(select(func.count()).select_from(Prefix).where(*_inside(prefix))) or 0


def has_children(session: Session, prefix: Prefix) -> bool:
    return session.execute(select(Prefix.id).where(Prefix.parent_id == prefix.id).limit(1)).first() is not None


# -- free blocks, a page at a time ---------------------------------------------------------------------------

# Free blocks are counted up to this many: a million children leave some seven million, and counting them
# all took 0.4-0.8 s of every page (bench/pages.py). Past it, a page says "more than" and where it lies is unsaid.
FREE_COUNT_LIMIT = 100_000


@dataclass(frozen=True)
class FreeBlockPage:
    """One page of a prefix's maximal free blocks in address order, and where it lies among all of them."""

    blocks: list[Net]
    total: int | None  # how many free blocks there are; None: more than FREE_COUNT_LIMIT
    offset: int | None  # how many come before the first one shown; None: more than FREE_COUNT_LIMIT
    next_cursor: str | None
    count_limit: int  # FREE_COUNT_LIMIT when the page was read


def decode_free_cursor(text: str | None) -> bytes | None:
    """The start address (16 bytes, as hex) after which a page of free blocks begins."""
    try:
        raw = bytes.fromhex(text or "")
    except ValueError:
        return None
    return raw if len(raw) == 16 else None


def _free_lengths(session: Session, parent_id: int) -> list[int]:
    """The lengths the prefix's free blocks have, shortest first."""
    statement = text(f"WITH RECURSIVE {_FREE_LENGTHS} SELECT n FROM lengths WHERE n IS NOT NULL")  # noqa: S608
    return list(session.scalars(statement, {"parent_id": parent_id}))


def _counted(stmt: Select[Any]) -> Any:
    """How many rows ``stmt`` has, up to FREE_COUNT_LIMIT + 1 (a scalar subquery reading no more)."""
    return select(func.count()).select_from(stmt.limit(FREE_COUNT_LIMIT + 1).subquery()).scalar_subquery()


def free_block_page(session: Session, prefix: Prefix, cursor: str | None, limit: int) -> FreeBlockPage:
    """Free blocks after ``cursor`` (see ``decode_free_cursor``), with the count of all and of those before it.

    Three reads whatever the page: the lengths present (a probe each), the counts (each stopping at
    FREE_COUNT_LIMIT), then the next blocks of each length, merged by the database (each branch walks the
    primary key: parent, length, start)."""
    fb = freespace.fb
    after = decode_free_cursor(cursor)
    lengths = _free_lengths(session, prefix.id)
    if not lengths:
        # No index rows: a prefix that never had children is free as a whole, else it is full.
        whole = [prefix.net] if freespace.is_untouched(session, prefix.id) else []
        shown = whole if after is None else []
        return FreeBlockPage(shown, len(whole), len(whole) - len(shown), None, FREE_COUNT_LIMIT)
    blocks_of = select(fb.c.start).where(fb.c.parent_id == prefix.id)
    # Those before the cursor are a range of the key per length: counted without reading the ones after it.
    before = (
        _counted(blocks_of.where(fb.c.prefix_len.in_(lengths), fb.c.start <= after))
        if after is not None
        else literal(0)
    )
    total, offset = session.execute(select(_counted(blocks_of), before)).one()
    probes = [
        select(fb.c.prefix_len, fb.c.start)
        .where(
            fb.c.parent_id == prefix.id,
            fb.c.prefix_len == length,
            *([fb.c.start > after] if after is not None else []),
        )
        .order_by(fb.c.start)
        .limit(limit + 1)
        .subquery()
        .select()
        for length in lengths
    ]
    merged = (union_all(*probes) if len(probes) > 1 else probes[0]).subquery()
    rows = session.execute(select(merged).order_by(merged.c.start).limit(limit + 1)).all()
    blocks = [Net(from_key(start), length, prefix.width) for length, start in rows[:limit]]
    more = len(rows) > limit
    return FreeBlockPage(
        blocks=blocks,
        total=total if total <= FREE_COUNT_LIMIT else None,
        offset=offset if offset <= FREE_COUNT_LIMIT else None,
        next_cursor=to_key(blocks[-1].start).hex() if more else None,
        count_limit=FREE_COUNT_LIMIT,
    )


# -- naming a holder -----------------------------------------------------------------------------------------


def holder_choices(session: Session, user: User, text: str, limit: int = 20) -> list[Organization]:
    """Organizations ``user`` may name as a prefix's holder whose code, name or USCC contains ``text``: the
    user's own first, then an exact code, then by name."""
    text = text.strip()
    if not text:
        return []
    matching = or_(
        Organization.code.icontains(text, autoescape=True),
        Organization.name.icontains(text, autoescape=True),
        Organization.name_en.icontains(text, autoescape=True),
        Organization.uscc.icontains(text, autoescape=True),
    )
    found = session.scalars(
        select(Organization)
        .where(matching)
        .order_by(
            (Organization.id == user.organization_id).desc(),
            (func.lower(Organization.code) == text.lower()).desc(),
            Organization.name,
            Organization.code,
        )
        .limit(limit * 4)
    )
    # The policy decides who may be named (an enterprise names itself only); the search only narrows by text.
    return [org for org in found if policy.can(user, Action.NAME_HOLDER, org)][:limit]


# -- where a record comes from ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Provenance:
    """The import that last wrote a prefix, and the names the importing carrier gives its holder."""

    batch: Any  # importers.models.ImportBatch
    customer_ids: list[str]


def provenance(session: Session, prefix: Prefix) -> Provenance | None:
    # The registry does not depend on the importers; it only reads what an import left (the batch, the
    # carrier's ids for its customers), so the import is looked up here, not imported at module level.
    from importers.models import HolderReference, ImportBatch

    if prefix.import_batch_id is None:
        return None
    batch = session.get(ImportBatch, prefix.import_batch_id)
    if batch is None:
        return None
    customer_ids = (
        list(
            session.scalars(
                select(HolderReference.value)
                .where(
                    HolderReference.carrier_id == batch.carrier_id,
                    HolderReference.organization_id == prefix.holder_id,
                    HolderReference.kind == "id",
                )
                .order_by(HolderReference.value)
            )
        )
        if prefix.holder_id is not None
        else []
    )
    return Provenance(batch, customer_ids)


def prefix_history(session: Session, prefix: Prefix, limit: int = 50) -> list[AuditEvent]:
    """A prefix's own events since it was registered, and the load of the import that last wrote it: a change
    set audits changes of existing records one by one, but records it creates only through its import's event."""
    events = object_history(session, "prefix", prefix.network, since=prefix.created_at, limit=limit)
    if prefix.import_batch_id is not None:
        events += session.scalars(
            select(AuditEvent).where(
                AuditEvent.object_type == "import_batch",
                AuditEvent.object_id == str(prefix.import_batch_id),
                AuditEvent.action == "import.load",
            )
        )
    return sorted(events, key=lambda e: (e.occurred_at, e.id), reverse=True)[:limit]


# -- exports ----------------------------------------------------------------------------------------------------


EXPORT_BATCH = 2000


def export_rows(session: Session, stmt: Select[tuple[Prefix]]) -> Iterator[tuple[Prefix, Any]]:
    """The prefixes of ``stmt`` in address order (their holders joined), each with the import that last wrote it
    (``id``, ``file_name``, ``carrier_id``, ``created_at``; None when no import did), read in batches."""
    from importers.models import ImportBatch

    rows = (
        stmt.add_columns(ImportBatch.id, ImportBatch.file_name, ImportBatch.carrier_id, ImportBatch.created_at)
        .outerjoin(ImportBatch, ImportBatch.id == Prefix.import_batch_id)
        .order_by(Prefix.family, Prefix.start, Prefix.prefix_len)
    )
    for prefix, batch_id, file_name, carrier_id, created_at in session.execute(
        rows.execution_options(yield_per=EXPORT_BATCH)
    ):
        yield prefix, (ImportedFrom(batch_id, file_name, carrier_id, created_at) if batch_id is not None else None)


@dataclass(frozen=True)
class ImportedFrom:
    """What an export says of the import that wrote a record (and what the policy asks: whose import it was)."""

    id: int
    file_name: str
    carrier_id: int
    created_at: Any
