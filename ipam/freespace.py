"""The free-space index in the database: maximal aligned free blocks per prefix, changed in the same
transaction as the prefixes they describe.

Every lookup probes the primary key (parent, length, start) or the sparse index once per candidate length and
lets the database pick the winner, so its cost depends on the address width, never on the number of children.

A prefix without children needs no rows: its whole space is free. Leaves (most prefixes: every assignment a
carrier imports) therefore cost nothing here; the index of a prefix is written when it gets its first child.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Select, TextClause, and_, bindparam, delete, insert, or_, select, text, union_all
from sqlalchemy.orm import Session

from ipam.models import FreeBlock, from_key, to_key
from ipam.space import Net, Strategy, free_blocks, sparse_key

fb = FreeBlock.__table__


def rows(parent_id: int, parent: Net, blocks: Iterable[Net]) -> list[dict[str, object]]:
    return [
        {
            "parent_id": parent_id,
            "prefix_len": b.length,
            "start": to_key(b.start),
            "sparse_key": to_key(sparse_key(parent, b.start)),
        }
        for b in blocks
    ]


def add_blocks(session: Session, parent_id: int, parent: Net, blocks: Sequence[Net]) -> None:
    if blocks:
        session.execute(insert(fb), rows(parent_id, parent, blocks))


def _net(row: object, width: int) -> Net:
    return Net(from_key(row.start), row.prefix_len, width)  # type: ignore[attr-defined]


@functools.lru_cache(maxsize=1024)
def _probe_statement(lengths: int, strategy: Strategy | None) -> Select[Any]:
    """One statement probing each candidate length for its best block, the database picking the winner.

    Built once per (number of lengths, strategy) with bound parameters: constructing a union of up to 129
    subqueries costs more than running it. ``strategy=None`` lists blocks in address order (``:limit`` each).
    """
    order = fb.c.sparse_key if strategy is Strategy.SPARSE else fb.c.start
    per_length = bindparam("limit") if strategy is None else 1
    probes = [
        select(fb.c.prefix_len, fb.c.start, fb.c.sparse_key)
        .where(fb.c.parent_id == bindparam("parent_id"), fb.c.prefix_len == bindparam(f"len{i}"))
        .order_by(order)
        .limit(per_length)
        .subquery()
        .select()
        for i in range(lengths)
    ]
    combined = union_all(*probes).subquery() if lengths > 1 else probes[0].subquery()
    if strategy is Strategy.BEST_FIT:
        outer = [combined.c.prefix_len.desc(), combined.c.start]
    elif strategy is Strategy.SPARSE:
        outer = [combined.c.sparse_key]
    else:
        outer = [combined.c.start]
    return select(combined).order_by(*outer).limit(bindparam("limit") if strategy is None else 1)


@functools.lru_cache(maxsize=8)
def _lateral_probe(strategy: Strategy | None) -> TextClause:
    """PostgreSQL: the same probe as one LATERAL subquery over the candidate lengths. A union of up to 129
    branches takes PostgreSQL longer to plan (about 2 ms) than to run; this plans in microseconds."""
    inner = "sparse_key" if strategy is Strategy.SPARSE else "start"
    outer = {Strategy.BEST_FIT: "b.prefix_len DESC, b.start", Strategy.SPARSE: "b.sparse_key"}.get(strategy, "b.start")  # type: ignore[arg-type]
    per_length = ":limit" if strategy is None else "1"
    # Only constant column names are formatted into the statement; values are bound.
    return text(
        "SELECT b.prefix_len, b.start, b.sparse_key "  # noqa: S608
        "FROM generate_series(CAST(:low AS integer), CAST(:high AS integer)) AS l(len) "
        "CROSS JOIN LATERAL (SELECT prefix_len, start, sparse_key FROM free_block "
        f"WHERE parent_id = :parent_id AND prefix_len = l.len ORDER BY {inner} LIMIT {per_length}) AS b "
        f"ORDER BY {outer} LIMIT :limit"
    )


def _probe(session: Session, parent_id: int, first: int, last: int, strategy: Strategy | None, limit: int = 1):  # type: ignore[no-untyped-def]
    if session.get_bind().dialect.name == "postgresql":
        params = {"parent_id": parent_id, "low": first, "high": last, "limit": limit}
        return session.execute(_lateral_probe(strategy), params)
    lengths = range(first, last + 1)
    params = {"parent_id": parent_id, "limit": limit, **{f"len{i}": bits for i, bits in enumerate(lengths)}}
    return session.execute(_probe_statement(len(lengths), strategy), params)


def is_untouched(session: Session, parent_id: int) -> bool:
    """True when the prefix has neither index rows nor children: all of it is free."""
    from ipam.models import Prefix

    has_blocks = select(fb.c.parent_id).where(fb.c.parent_id == parent_id).limit(1)
    has_children = select(Prefix.id).where(Prefix.parent_id == parent_id).limit(1)
    return session.execute(has_blocks).first() is None and session.execute(has_children).first() is None


def best_block(session: Session, parent_id: int, parent: Net, length: int, strategy: Strategy) -> Net | None:
    """The free block a strategy takes its next /length from, or None when nothing can hold a /length."""
    row = _probe(session, parent_id, parent.length, length, strategy).first()
    if row is None:
        return parent if length >= parent.length and is_untouched(session, parent_id) else None
    return _net(row, parent.width)


def first_blocks(session: Session, parent_id: int, parent: Net, length: int, limit: int) -> list[Net]:
    """The first ``limit`` free blocks that can hold a /length, in address order."""
    found = [_net(row, parent.width) for row in _probe(session, parent_id, parent.length, length, None, limit)]
    if not found and limit > 0 and length >= parent.length and is_untouched(session, parent_id):
        return [parent]
    return found


def all_blocks(session: Session, parent_id: int, parent: Net) -> list[Net]:
    """Every free block of the prefix in address order (reads the whole index of that prefix)."""
    stmt = select(fb.c.prefix_len, fb.c.start).where(fb.c.parent_id == parent_id).order_by(fb.c.start)
    found = [_net(row, parent.width) for row in session.execute(stmt)]
    return found if found or not is_untouched(session, parent_id) else [parent]


def containing_block(session: Session, parent_id: int, parent: Net, net: Net) -> Net | None:
    """The free block that contains all of ``net``, if ``net`` is free."""
    keys = [
        and_(fb.c.prefix_len == bits, fb.c.start == to_key(net.start >> (net.width - bits) << (net.width - bits)))
        for bits in range(parent.length, net.length + 1)
    ]
    row = session.execute(
        select(fb.c.prefix_len, fb.c.start).where(fb.c.parent_id == parent_id, or_(*keys)).limit(1)
    ).first()
    if row is None:
        return parent if parent.contains(net) and is_untouched(session, parent_id) else None
    return _net(row, parent.width)


def take(session: Session, parent_id: int, parent: Net, net: Net) -> bool:
    """Mark ``net`` used in its parent: split the free block holding it. False if it is not all free."""
    block = containing_block(session, parent_id, parent, net)
    if block is None:
        return False
    _delete_block(session, parent_id, block)
    add_blocks(session, parent_id, parent, free_blocks(block, [net]))
    return True


def take_from(session: Session, parent_id: int, parent: Net, block: Net, net: Net) -> None:
    """Like ``take`` when the caller already knows the free block that holds ``net``."""
    _delete_block(session, parent_id, block)
    add_blocks(session, parent_id, parent, free_blocks(block, [net]))


def give_back(session: Session, parent_id: int, parent: Net, net: Net) -> None:
    """Return the wholly free ``net`` to its parent, merging it with free buddies into larger blocks."""
    block = net
    while block.length > parent.length:
        size = 1 << (block.width - block.length)
        buddy = Net(block.start ^ size, block.length, block.width)
        if not _delete_block(session, parent_id, buddy):
            break
        block = Net(min(block.start, buddy.start), block.length - 1, block.width)
    add_blocks(session, parent_id, parent, [block])


def move_blocks(session: Session, from_id: int, to_id: int, to_parent: Net, region: Net) -> None:
    """Hand the free blocks of ``from_id`` inside ``region`` to ``to_id`` (re-keyed for the new parent)."""
    inside = and_(
        fb.c.parent_id == from_id,
        fb.c.prefix_len >= region.length,
        fb.c.start >= to_key(region.start),
        fb.c.start <= to_key(region.last),
    )
    moved = [_net(row, region.width) for row in session.execute(select(fb.c.prefix_len, fb.c.start).where(inside))]
    session.execute(delete(fb).where(inside))
    add_blocks(session, to_id, to_parent, moved)


def _delete_block(session: Session, parent_id: int, block: Net) -> bool:
    """Delete one free block; False when there was no such block."""
    result = session.execute(
        delete(fb).where(
            fb.c.parent_id == parent_id, fb.c.prefix_len == block.length, fb.c.start == to_key(block.start)
        )
    )
    return bool(result.rowcount)


def count_fitting(session: Session, parent_id: int, parent: Net, length: int) -> int:
    """How many /length prefixes the free space holds (reads every free block: for error messages only)."""
    from sqlalchemy import func

    counts = session.execute(
        select(fb.c.prefix_len, func.count())
        .where(fb.c.parent_id == parent_id, fb.c.prefix_len <= length)
        .group_by(fb.c.prefix_len)
    ).all()
    if not counts and is_untouched(session, parent_id):
        return 1 << (length - parent.length)
    return sum(n << (length - bits) for bits, n in counts)


def rebuild(session: Session, parent_id: int, parent: Net, children: Iterable[Net]) -> int:
    """Replace the index of ``parent`` by the free space around ``children`` (streamed in address order).

    Used after bulk changes; returns the number of free blocks written. Written in chunks, so that ``children``
    may be read from an open cursor of the same connection (PostgreSQL's COPY holds the connection)."""
    from core.db import bulk_insert, chunks
    from ipam.space import gaps

    session.execute(delete(fb).where(fb.c.parent_id == parent_id))
    columns = ["parent_id", "prefix_len", "start", "sparse_key"]
    blocks = (
        (parent_id, b.length, to_key(b.start), to_key(sparse_key(parent, b.start))) for b in gaps(parent, children)
    )
    return sum(bulk_insert(session, fb, columns, chunk) for chunk in chunks(blocks, 50_000))
