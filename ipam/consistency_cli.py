"""``flask db check [--json]``: verify the registry's invariants (siblings never overlap, children lie inside their
parents, the free-space index is exactly what the children leave) and print every problem found.

The registry is read in one snapshot (a read transaction on SQLite, REPEATABLE READ on PostgreSQL), so the app
may go on writing meanwhile; it streams as tuples, parent by parent in address order (``ipam.consistency`` checks
each), never holding a whole table.

Exit status: 0 the registry is consistent; 1 problems found (listed on standard output) or the check failed.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator
from operator import itemgetter
from typing import Any

import click
from flask.cli import with_appcontext
from flask_babel import gettext as _
from sqlalchemy import Select, select
from sqlalchemy.orm import Session, aliased

from core.cli import OneLineCommand, emit, fail, json_option
from core.extensions import db
from ipam.consistency import Node, Problem, check_parent
from ipam.models import FreeBlock, Prefix, from_key
from ipam.space import WIDTH, Net

BATCH = 10_000  # rows fetched at a time (a server-side cursor on PostgreSQL)
COLUMNS = ["type", "parent", "prefix", "prefix_id", "other", "other_id"]

Row = tuple[Any, ...]


@click.command("check", cls=OneLineCommand)
@json_option
@with_appcontext
def check_command(as_json: bool) -> None:
    """Verify the registry: no overlapping siblings, every child inside its parent, an exact free-space index."""
    with _snapshot() as session:
        problems, prefixes = check_registry(session)
    if problems or as_json:
        emit([_document(p) for p in problems], COLUMNS, as_json=as_json)
    if problems:
        raise fail(_("Problems found in the registry: %(count)d.", count=len(problems)))
    if not as_json:
        click.echo(_("The registry is consistent (%(prefixes)d prefixes checked).", prefixes=prefixes))


def check_registry(session: Session) -> tuple[list[Problem], int]:
    """Every problem of the registry, and how many prefixes were read."""
    read = itertools.count()
    top_level = (_node(row, 0) for row in _tallied(_rows(session, _top_level()), read))
    problems = check_parent(None, top_level, ())
    for parent, nodes, blocks in _by_parent(_tallied(_rows(session, _children()), read), _rows(session, _blocks())):
        problems.extend(check_parent(parent, nodes, blocks))
    return problems, next(read)


def _tallied(rows: Iterable[Row], counter: Iterator[int]) -> Iterator[Row]:
    for row in rows:
        next(counter)
        yield row


@contextlib.contextmanager
def _snapshot() -> Iterator[Session]:
    """A session whose statements all see the same committed state."""
    with db.pinned_connection() as connection:
        # READ COMMITTED would let the children and the index be read at different moments of concurrent writes.
        if connection.dialect.name == "postgresql" and not connection.in_transaction():
            connection.execution_options(isolation_level="REPEATABLE READ")
        with db.session_scope(connection=connection, write=False) as session:
            yield session


def _rows(session: Session, statement: Select[Any]) -> Iterator[Row]:
    for partition in session.execute(statement.execution_options(yield_per=BATCH)).partitions():
        yield from partition


def _top_level() -> Select[Any]:
    p = Prefix.__table__.c
    return select(p.id, p.family, p.start, p.prefix_len).where(p.parent_id.is_(None)).order_by(p.start, p.prefix_len)


def _children() -> Select[Any]:
    """Each child with its parent's network, by parent then address."""
    child, parent = Prefix.__table__, aliased(Prefix.__table__)
    c, p = child.c, parent.c
    return (
        select(c.parent_id, p.family, p.start, p.prefix_len, c.id, c.family, c.start, c.prefix_len)
        .join(parent, p.id == c.parent_id)
        .order_by(c.parent_id, c.start, c.prefix_len)
    )


def _blocks() -> Select[Any]:
    """Each free block with its parent's network, by parent then address."""
    b, p = FreeBlock.__table__.c, Prefix.__table__.c
    return (
        select(b.parent_id, p.family, p.start, p.prefix_len, b.prefix_len, b.start)
        .join(Prefix.__table__, p.id == b.parent_id)
        .order_by(b.parent_id, b.start, b.prefix_len)
    )


def _node(row: Row, at: int) -> Node:
    """The prefix whose ``id, family, start, prefix_len`` begin at column ``at``."""
    return Node(row[at], Net(from_key(row[at + 2]), row[at + 3], WIDTH[row[at + 1]]))


def _by_parent(children: Iterable[Row], blocks: Iterable[Row]) -> Iterator[tuple[Node, Iterator[Node], Iterator[Net]]]:
    """Both streams merged by parent id: each parent with its children and its free blocks (either may be empty)."""
    child_groups, block_groups = _groups(children), _groups(blocks)
    kids, free = next(child_groups, None), next(block_groups, None)
    while kids is not None or free is not None:
        if free is None or (kids is not None and kids[0] < free[0]):
            assert kids is not None
            yield kids[1], (_node(row, 4) for row in kids[2]), iter(())
            kids = next(child_groups, None)
        elif kids is None or free[0] < kids[0]:
            yield free[1], iter(()), (_block(row, free[1].net.width) for row in free[2])
            free = next(block_groups, None)
        else:
            yield kids[1], (_node(row, 4) for row in kids[2]), (_block(row, kids[1].net.width) for row in free[2])
            kids, free = next(child_groups, None), next(block_groups, None)


def _groups(rows: Iterable[Row]) -> Iterator[tuple[int, Node, Iterator[Row]]]:
    """Rows grouped by their first column (the parent id), with the parent read from the first row of each."""
    for parent_id, group in itertools.groupby(rows, key=itemgetter(0)):
        first = next(group)
        yield parent_id, _node(first, 0), itertools.chain([first], group)  # noqa: B031 (used once, by the caller)


def _block(row: Row, width: int) -> Net:
    return Net(from_key(row[5]), row[4], width)


def _document(problem: Problem) -> dict[str, Any]:
    return {
        "type": problem.type.value,
        "parent_id": problem.parent.id if problem.parent else None,
        "parent": str(problem.parent.net) if problem.parent else None,
        "prefix": str(problem.net),
        "prefix_id": problem.prefix_id,
        "other": str(problem.other.net) if problem.other else None,
        "other_id": problem.other.id if problem.other else None,
    }
