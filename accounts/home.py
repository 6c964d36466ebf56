"""What the home page answers first, read through the packages' own queries: for a member organization the blocks
and prefixes it holds (utilization, free space, filing), the holders its imports named that wait for verification
and its recent imports; for regulators the organizations by kind and every carrier's recent imports. Each read is a
fixed number of statements, however much an organization holds."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from sqlalchemy import and_, case, func, literal, or_, select
from sqlalchemy.orm import Session, aliased

from accounts import queries
from accounts.models import Organization, User
from filing import queries as filing_queries
from filing.choices import FilingState
from filing.models import Filing
from importers.models import ImportBatch
from importers.queries import visible_batches
from ipam import queries as ipam_queries
from ipam.models import Prefix
from ipam.space import Utilization

HOLDINGS_SHOWN = 20
IMPORTS_SHOWN = 5
HOLDERS_SHOWN = 20


@dataclass(frozen=True)
class Holding:
    """A block or prefix an organization holds (the top of what it holds: its parent is someone else's)."""

    prefix: Prefix
    usage: Utilization
    inside: int  # prefixes directly inside it
    filing_state: FilingState | None  # its holder's filing of exactly this block, when there is one
    unfiled: bool  # its holder must file it and has not
    unfiled_inside: int  # prefixes handed on from it (to others, or reserved) that are not filed yet

    @property
    def free_unit(self) -> int:
        """The size free space is counted in: /48 in blocks larger than a site, /64 in sites, addresses in IPv4."""
        if self.prefix.family == 4:
            return 32
        return 48 if self.prefix.prefix_len < 48 else 64 if self.prefix.prefix_len < 64 else 128

    @property
    def free(self) -> Fraction:
        """Free space in ``free_unit`` blocks (not a whole number when longer prefixes use part of one)."""
        return Fraction(self.usage.free, 1 << (self.prefix.width - self.free_unit))

    @property
    def free_text(self) -> str:
        from flask_babel import format_decimal

        free = self.free
        return format_decimal(int(free) if free.denominator == 1 else round(float(free), 2))


@dataclass(frozen=True)
class Holdings:
    items: list[Holding]
    total: int


def holdings(session: Session, org: Organization, limit: int = HOLDINGS_SHOWN) -> Holdings:
    """The first ``limit`` of the prefixes at the top of what ``org`` holds, in address order (IPv6 first)."""
    parent = aliased(Prefix)
    tops = (
        select(Prefix)
        .outerjoin(parent, Prefix.parent_id == parent.id)
        .where(Prefix.holder_id == org.id, or_(parent.holder_id.is_(None), parent.holder_id != org.id))
    )
    total = session.scalar(select(func.count()).select_from(tops.subquery())) or 0
    items = list(session.scalars(tops.order_by(Prefix.family.desc(), Prefix.start, Prefix.prefix_len).limit(limit)))
    if not items:
        return Holdings([], total)
    ids = [p.id for p in items]
    usage = ipam_queries.utilizations(session, items)
    inside = ipam_queries.child_counts(session, items)
    unfiled = filing_queries.unfiled_prefixes(org.id).subquery()
    unfiled_blocks = set(session.scalars(select(unfiled.c.id).where(unfiled.c.id.in_(ids))))
    unfiled_inside = dict(
        session.execute(
            select(unfiled.c.parent_id, func.count()).where(unfiled.c.parent_id.in_(ids)).group_by(unfiled.c.parent_id)
        ).all()
    )
    states = _filing_states(session, org, ids)
    return Holdings(
        [
            Holding(
                p,
                usage[p.id],
                inside.get(p.id, 0),
                states.get(p.id),
                p.id in unfiled_blocks,
                unfiled_inside.get(p.id, 0),
            )
            for p in items
        ],
        total,
    )


def _filing_states(session: Session, org: Organization, ids: list[int]) -> dict[int, FilingState]:
    """The state of ``org``'s newest filing of exactly each prefix (filings rejected, cancelled or deleted no longer
    claim their block and are passed over)."""
    span = case((Prefix.family == 6, literal(128)), else_=literal(32)) - Prefix.prefix_len
    rows = session.execute(
        select(Prefix.id, Filing.state)
        .join(
            Filing,
            and_(
                Filing.family == Prefix.family,
                Filing.span_bits == span,
                Filing.start == Prefix.start,
                Filing.last == Prefix.last,
            ),
        )
        .where(Prefix.id.in_(ids), Filing.filer_id == org.id, Filing.state.in_(filing_queries.CLAIMING_STATES))
        .order_by(Filing.id)
    )
    return {prefix_id: FilingState(state) for prefix_id, state in rows}


@dataclass(frozen=True)
class NamedHolders:
    """Holders an organization's imports named that nobody has verified yet: the first few, and how many."""

    items: list[Organization]
    total: int


def unverified_holders(session: Session, carrier: Organization, limit: int = HOLDERS_SHOWN) -> NamedHolders:
    named = queries.unverified_holders_named_by(carrier)
    total = session.scalar(select(func.count()).select_from(named.subquery())) or 0
    return NamedHolders(list(session.scalars(named.limit(limit))) if total else [], total)


def recent_imports(session: Session, user: User, limit: int = IMPORTS_SHOWN) -> list[ImportBatch]:
    return list(session.scalars(visible_batches(user).limit(limit)))
