"""ipam's bulk writer: a change set (create / update / move / remove prefixes) applied in set statements.

ipam is the only writer of ``prefix`` and ``free_block``. Work too large for one operation per prefix (an
import of a million records today; the subnet planner and filings later) collects its changes here and hands
them over: ``ChangeSet.apply`` writes them inside the caller's transaction, keeps the free-space index exact,
and writes an audit row for every change of a record that existed before. The changes arrive checked by the
registry's rules (``ipam.rules``: the planner that decides them applies the same rule set row by row); what the
change set guards is the writing itself: parents locked, creations in depth order, removals deepest first, the
overlap constraint checked before the transaction goes on.

Memory stays flat: the changes wait in temporary tables of the transaction (written in chunks), not in Python.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from datetime import date
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.orm import Session

from accounts.audit import record_events_from
from core import db as core_db
from core.db import analyze_tables, bulk_insert, chunks, recreate_tables, temporary_table, utcnow
from core.messages import Message
from ipam import freespace
from ipam.choices import PrefixKind, PrefixStatus
from ipam.models import Prefix, from_key, to_key
from ipam.space import Net, format_net, sparse_key

CHUNK = 20_000
ANALYZE_AFTER = 10_000

creations = temporary_table(
    "change_create",
    Column("family", SmallInteger), Column("start", LargeBinary(16)), Column("last", LargeBinary(16)),
    Column("prefix_len", SmallInteger), Column("network", String(43)), Column("kind", String(16)),
    Column("holder_id", Integer), Column("usage", String(24)), Column("description", Text),
    Column("assigned_on", Date), Column("parent_start", LargeBinary(16)), Column("parent_len", SmallInteger),
    Column("depth", SmallInteger), Column("spread", LargeBinary(16)),
)  # fmt: skip
updates = temporary_table(
    "change_update",
    Column("prefix_id", Integer), Column("kind", String(16)), Column("holder_id", Integer),
    Column("usage", String(24)), Column("description", Text), Column("assigned_on", Date),
    Column("parent_start", LargeBinary(16)), Column("parent_len", SmallInteger), Column("moved", Boolean),
)  # fmt: skip
removals = temporary_table("change_remove", Column("prefix_id", Integer), Column("prefix_len", SmallInteger))
# Changes to records that existed before are audited one by one, like any other change of a prefix.
audits = temporary_table(
    "change_audit", Column("action", String(40)), Column("object_id", String(64)), Column("organization_id", Integer),
    Column("changes", Text),
)  # fmt: skip
# Holders the caller creates only when the changes are applied stand in as negative ids until then.
placeholders = temporary_table(
    "change_holder", Column("placeholder", Integer, primary_key=True), Column("organization_id", Integer)
)
TABLES = (creations, updates, removals, audits, placeholders)

ParentKey = tuple[int, int, int]  # (family, start, length) of a parent that may not exist yet


class ChangeSet:
    """Changes to the registry below ``roots`` (the blocks they lie in), collected, then applied at once.

    Holder ids may be negative placeholders, resolved by ``resolve_holders`` before ``apply``.
    """

    def __init__(self, session: Session, roots: Iterable[Net]) -> None:
        self.session = session
        self.roots = list(roots)
        self.created = self.moved = self.removed = 0
        self._touched: set[ParentKey] = set()  # parents whose children change
        self._touched_ids: set[int] = set()
        self._removed_ids: set[int] = set()
        self._buffers: dict[Table, list[tuple[Any, ...]]] = {
            table: [] for table in (creations, updates, removals, audits)
        }
        self._root = self.roots[0] if self.roots else None
        self._connection = session.connection()
        recreate_tables(self._connection, TABLES)

    def continue_in(self, session: Session) -> ChangeSet:
        """Go on in ``session``: the changes wait in the connection's temporary tables, so they may be collected in
        one transaction (a check that takes no write lock) and applied in the next one on the same connection."""
        if session.connection() is not self._connection:
            raise ValueError("a change set is applied on the connection that holds its temporary tables")
        self.session = session
        return self

    # -- collecting -------------------------------------------------------------------------------------------

    def create(self, net: Net, parent: Net, depth: int, *, kind: str, holder_id: int | None, usage: str | None,
               description: str | None, assigned_on: date | None) -> None:  # fmt: skip
        """A new prefix below ``parent`` (which exists, or is created at ``depth - 1`` by this change set)."""
        root = self._root_of(net)
        self._add(creations, (net.family, to_key(net.start), to_key(net.last), net.length, format_net(net), kind,
                              holder_id, usage, description, assigned_on, to_key(parent.start), parent.length, depth,
                              to_key(sparse_key(root, net.start))))  # fmt: skip
        self._touched.add(_key(parent))
        self.created += 1

    def update(self, prefix_id: int, net: Net, *, kind: str, holder_id: int | None, usage: str | None,
               description: str | None, assigned_on: date | None, old_parent_id: int | None,
               new_parent: Net | None = None, audit: dict[str, list[Any]] | None = None,
               audit_organization_id: int | None = None) -> None:  # fmt: skip
        """A changed record (``audit``: its diff), moving below ``new_parent`` when given."""
        self._add(updates, (prefix_id, kind, holder_id, usage, description, assigned_on,
                            to_key(new_parent.start) if new_parent else None, new_parent.length if new_parent else None,
                            new_parent is not None))  # fmt: skip
        if new_parent is not None:
            self._moving(new_parent, old_parent_id)
        if audit is not None:
            self._add(audits, ("prefix.update", format_net(net), audit_organization_id,
                               json.dumps(audit, ensure_ascii=False)))  # fmt: skip

    def move(self, prefix_id: int, net: Net, new_parent: Net, old_parent_id: int | None, *, kind: str,
             holder_id: int | None, usage: str | None, description: str | None,
             assigned_on: date | None) -> None:  # fmt: skip
        """An unchanged record that a new prefix now contains."""
        self.update(prefix_id, net, kind=kind, holder_id=holder_id, usage=usage, description=description,
                    assigned_on=assigned_on, old_parent_id=old_parent_id, new_parent=new_parent)  # fmt: skip

    def remove(self, prefix_id: int, net: Net, parent_id: int | None, *, audited: bool,
               holder_id: int | None = None) -> None:  # fmt: skip
        """A record released (``audited``: on its own account; else it goes with a removed prefix above it)."""
        self._add(removals, (prefix_id, net.length))
        self._removed_ids.add(prefix_id)
        if parent_id is not None:
            self._touched_ids.add(parent_id)
        self.removed += 1
        if audited:
            self._add(audits, ("prefix.release", format_net(net), holder_id,
                               json.dumps({"network": [format_net(net), None]})))  # fmt: skip

    def placeholders_used(self) -> set[int]:
        """The placeholder holder ids the collected changes name."""
        self.flush()
        used: set[int] = set()
        for table in (creations, updates):
            used.update(self.session.scalars(select(table.c.holder_id).where(table.c.holder_id < 0).distinct()))
        return used

    def resolve_holders(self, pairs: Iterable[tuple[int, int | None]]) -> None:
        """The organizations the placeholder holder ids stand for: ``(placeholder, organization_id)``."""
        self.flush()
        bulk_insert(self.session, placeholders, ["placeholder", "organization_id"], pairs)

    def flush(self) -> None:
        for table, rows in self._buffers.items():
            if rows:
                bulk_insert(self.session, table, [c.name for c in table.c], rows)
                rows.clear()

    def _add(self, table: Table, row: tuple[Any, ...]) -> None:
        rows = self._buffers[table]
        rows.append(row)
        if len(rows) >= CHUNK:
            self.flush()

    def _moving(self, new_parent: Net, old_parent_id: int | None) -> None:
        self.moved += 1
        self._touched.add(_key(new_parent))
        if old_parent_id is not None:
            self._touched_ids.add(old_parent_id)

    def _root_of(self, net: Net) -> Net:
        if self._root is not None and self._root.family == net.family and self._root.contains(net):
            return self._root
        for root in self.roots:
            if root.family == net.family and root.contains(net):
                self._root = root
                return root
        return net

    # -- applying ---------------------------------------------------------------------------------------------

    def apply(self, *, actor: Any, source: str, batch_id: int | None, summary: Message | str,
              phase: Callable[[str], None] = lambda name: None) -> None:  # fmt: skip
        """Write every change, keep the free-space index exact, and audit changes of existing records. ``phase``
        hears "loading" and "indexing" as the work gets there (for progress bars)."""
        self.flush()
        self._touched_ids -= self._removed_ids  # parents that are themselves removed need no new index
        phase("loading")
        self._lock_parents()
        self._write(actor, source, batch_id)
        phase("indexing")
        self._rebuild_free_space()
        self._audit(actor, summary)

    def _lock_parents(self) -> None:
        """Every prefix whose children change waits for nobody else's allocation while its index is rebuilt."""
        session = self.session
        if session.get_bind().dialect.name != "postgresql":
            return
        keys = [
            and_(Prefix.family == f, Prefix.start == to_key(s), Prefix.prefix_len == n) for f, s, n in self._touched
        ]
        ids = set(self._touched_ids)
        for chunk in chunks(keys, 500):
            ids.update(session.scalars(select(Prefix.id).where(or_(*chunk))))
        for chunk in chunks(sorted(ids), 1000):
            session.execute(select(Prefix.id).where(Prefix.id.in_(chunk)).order_by(Prefix.id).with_for_update())

    def _write(self, actor: Any, source: str, batch_id: int | None) -> None:
        session = self.session
        postgres = session.connection().dialect.name == "postgresql"
        reshaping = self.removed + self.moved > 0
        if postgres and reshaping:
            # New prefixes may briefly sit beside ones this change set removes or moves: checked once all moved.
            # (Only then: a deferred check costs a second index search per row.)
            session.execute(text("SET CONSTRAINTS ex_prefix_siblings_overlap DEFERRED"))
        now, actor_id = utcnow(), actor.id if actor is not None else None
        self._insert_creations(postgres, now, actor_id, source, batch_id)
        self._update_records(now, actor_id, batch_id)
        # Removed records, deepest first (a parent goes after its children).
        lengths = session.scalars(select(removals.c.prefix_len).distinct().order_by(removals.c.prefix_len.desc()))
        for length in list(lengths):
            doomed = select(removals.c.prefix_id).where(removals.c.prefix_len == length)
            session.execute(delete(Prefix).where(Prefix.id.in_(doomed)).execution_options(synchronize_session=False))
        if postgres and reshaping:
            # Checked now, inside the transaction, rather than at commit: a concurrent change shows as this
            # change set failing.
            session.execute(text("SET CONSTRAINTS ex_prefix_siblings_overlap IMMEDIATE"))
        session.expire_all()

    def _holder_of(self, holder_column: Any) -> Any:
        placeholder = select(placeholders.c.organization_id).where(placeholders.c.placeholder == holder_column)
        return func.coalesce(placeholder.scalar_subquery(), holder_column)

    def _insert_creations(self, postgres: bool, now: Any, actor_id: int | None, source: str,
                          batch_id: int | None) -> None:  # fmt: skip
        session, new = self.session, creations.c
        parent = Prefix.__table__.alias("parent")
        network = func.cast(new.network, Prefix.__table__.c.network.type) if postgres else new.network
        status = case((new.kind == PrefixKind.RESERVED.value, PrefixStatus.RESERVED.value),
                      else_=PrefixStatus.ACTIVE.value)  # fmt: skip
        stamp = Prefix.__table__.c.created_at.type
        target = ["family", "start", "last", "prefix_len", "network", "kind", "status", "holder_id", "parent_id",
                  "usage", "description", "assigned_on", "source", "import_batch_id", "nibble_aligned", "pool_strict",
                  "created_at", "created_by_id", "updated_at", "updated_by_id"]  # fmt: skip
        depths = session.scalars(select(new.depth).distinct().order_by(new.depth))
        for depth in list(depths):
            rows = (
                select(
                    new.family, new.start, new.last, new.prefix_len, network, new.kind, status,
                    self._holder_of(new.holder_id), parent.c.id, new.usage, new.description, new.assigned_on,
                    bindparam("source", source), bindparam("batch", batch_id, type_=Integer),
                    bindparam("nibble", False), bindparam("strict", False), bindparam("now1", now, type_=stamp),
                    bindparam("actor1", actor_id, type_=Integer), bindparam("now2", now, type_=stamp),
                    bindparam("actor2", actor_id, type_=Integer),
                )
                .join(parent, and_(parent.c.family == new.family, parent.c.start == new.parent_start,
                                   parent.c.prefix_len == new.parent_len))
                .where(new.depth == depth)
                # A GiST index (PostgreSQL's exclusion constraint) splits its pages badly when fed sorted networks.
                .order_by(new.spread if postgres else new.start)
            )  # fmt: skip
            session.execute(insert(Prefix.__table__).from_select(target, rows))

    def _update_records(self, now: Any, actor_id: int | None, batch_id: int | None) -> None:
        session = self.session
        if not session.scalar(select(func.count()).select_from(updates)):
            return
        change = updates.alias("c")
        parent = Prefix.__table__.alias("parent")

        def value_of(column: str) -> Any:
            return select(change.c[column]).where(change.c.prefix_id == Prefix.id).correlate(Prefix).scalar_subquery()

        new_parent = (
            select(parent.c.id)
            .join(change, and_(parent.c.family == Prefix.family, parent.c.start == change.c.parent_start,
                               parent.c.prefix_len == change.c.parent_len))
            .where(change.c.prefix_id == Prefix.id)
            .scalar_subquery()
        )  # fmt: skip
        holder = (
            select(func.coalesce(placeholders.c.organization_id, change.c.holder_id))
            .select_from(change.outerjoin(placeholders, placeholders.c.placeholder == change.c.holder_id))
            .where(change.c.prefix_id == Prefix.id)
            .correlate(Prefix)
            .scalar_subquery()
        )
        changed = Prefix.id.in_(select(updates.c.prefix_id))
        session.execute(
            update(Prefix).where(changed).values(
                kind=value_of("kind"), holder_id=holder, usage=value_of("usage"), description=value_of("description"),
                assigned_on=value_of("assigned_on"), updated_at=now, updated_by_id=actor_id, import_batch_id=batch_id,
            ).execution_options(synchronize_session=False)
        )  # fmt: skip
        moved = Prefix.id.in_(select(updates.c.prefix_id).where(updates.c.moved.is_(True)))
        session.execute(
            update(Prefix).where(moved).values(parent_id=new_parent).execution_options(synchronize_session=False)
        )
        status_of_kind = case((Prefix.kind == PrefixKind.RESERVED.value, PrefixStatus.RESERVED.value),
                              else_=PrefixStatus.ACTIVE.value)  # fmt: skip
        session.execute(update(Prefix).where(changed).values(status=status_of_kind)
                        .execution_options(synchronize_session=False))  # fmt: skip

    def _rebuild_free_space(self) -> None:
        """Every prefix whose children changed gets its free-space index rebuilt from its children, streamed."""
        session = self.session
        parents: dict[int, Prefix] = {}
        for family, start, length in self._touched:
            found = session.scalar(
                select(Prefix).where(
                    Prefix.family == family, Prefix.start == to_key(start), Prefix.prefix_len == length
                )
            )
            if found is not None:
                parents[found.id] = found
        for pid in self._touched_ids - parents.keys():
            found = session.get(Prefix, pid)
            if found is not None:
                parents[pid] = found
        for parent in parents.values():
            width = parent.width
            children = session.execute(
                select(Prefix.start, Prefix.prefix_len).where(Prefix.parent_id == parent.id).order_by(Prefix.start),
                execution_options={"yield_per": CHUNK},
            )
            freespace.rebuild(session, parent.id, parent.net, (Net(from_key(s), n, width) for s, n in children))
        if self.created + self.removed >= ANALYZE_AFTER:
            analyze_tables(session, [Prefix.__table__.name, freespace.fb.name])

    def _audit(self, actor: Any, summary: str) -> None:
        organization = case((audits.c.organization_id > 0, audits.c.organization_id), else_=None)
        rows = select(organization, audits.c.action, audits.c.object_id, audits.c.changes)
        record_events_from(self.session, actor=actor, object_type="prefix", summary=summary, source=rows)


def drop_tables(connection: Any) -> None:
    core_db.drop_tables(connection, TABLES)


def _key(net: Net) -> ParentKey:
    return net.family, net.start, net.length
