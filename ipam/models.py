"""Prefixes and the free-space index.

Addresses are stored as 16-byte big-endian binaries (IPv4 too), so that they sort and index the same on
SQLite and PostgreSQL. PostgreSQL additionally keeps the network as ``cidr`` for the exclusion constraint
(siblings never overlap) created in the migration.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator, TypeEngine

from accounts.models import Organization, User
from core.db import Base, UTCDateTime, one_of, utcnow
from ipam.choices import ClaimStatus, PrefixKind, PrefixStatus, Source, Usage
from ipam.rules import PoolPolicy
from ipam.space import Net, Strategy, format_net

ADDRESS_BYTES = 16


def to_key(value: int) -> bytes:
    return value.to_bytes(ADDRESS_BYTES, "big")


def from_key(value: bytes) -> int:
    return int.from_bytes(value, "big")


class CidrType(TypeDecorator[str]):
    """``cidr`` on PostgreSQL (for the GiST exclusion constraint), text elsewhere."""

    impl = String(43)
    cache_ok = True

    def load_dialect_impl(self, dialect: Any) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(postgresql.CIDR())
        return dialect.type_descriptor(String(43))

    def process_result_value(self, value: Any, dialect: Any) -> str | None:
        return None if value is None else str(value)


class Prefix(Base):
    __tablename__ = "prefix"
    __table_args__ = (
        UniqueConstraint("family", "start", "prefix_len", name="uq_prefix_network"),
        CheckConstraint("family IN (4, 6)", name="family"),
        CheckConstraint(one_of("kind", PrefixKind), name="kind"),
        CheckConstraint(one_of("status", PrefixStatus), name="status"),
        CheckConstraint(one_of("usage", Usage, nullable=True), name="usage"),
        CheckConstraint(one_of("source", Source), name="source"),
        CheckConstraint(one_of("default_strategy", Strategy, nullable=True), name="default_strategy"),
        Index("ix_prefix_parent_id_start", "parent_id", "start"),
        Index("ix_prefix_parent_id_prefix_len", "parent_id", "prefix_len"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    family: Mapped[int] = mapped_column(SmallInteger)
    start: Mapped[bytes] = mapped_column(LargeBinary(ADDRESS_BYTES))
    last: Mapped[bytes] = mapped_column(LargeBinary(ADDRESS_BYTES))
    prefix_len: Mapped[int] = mapped_column(SmallInteger)
    network: Mapped[str] = mapped_column(CidrType())
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=PrefixStatus.ACTIVE.value)
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id", ondelete="RESTRICT"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("prefix.id", ondelete="RESTRICT"))
    usage: Mapped[str | None] = mapped_column(String(24))
    description: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str] = mapped_column(String(16), default=Source.MANUAL.value)
    import_batch_id: Mapped[int | None] = mapped_column(Integer, index=True)  # provenance: the import that wrote it
    assigned_on: Mapped[date | None] = mapped_column(Date)  # 分配使用时间, as the allocator recorded it
    # Pool policy for children: allowed lengths, default length and strategy, nibble alignment.
    child_min_len: Mapped[int | None] = mapped_column(SmallInteger)
    child_max_len: Mapped[int | None] = mapped_column(SmallInteger)
    child_default_len: Mapped[int | None] = mapped_column(SmallInteger)
    default_strategy: Mapped[str | None] = mapped_column(String(16))
    nibble_aligned: Mapped[bool] = mapped_column(Boolean, default=False)
    # Imports keep the policy too (a breach is an error); otherwise a historical book's breach only warns.
    pool_strict: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))

    holder: Mapped[Organization | None] = relationship(lazy="joined")
    parent: Mapped[Prefix | None] = relationship(remote_side="Prefix.id", lazy="select")
    created_by: Mapped[User | None] = relationship(foreign_keys=[created_by_id], lazy="select")

    AUDITED = (
        "network", "kind", "status", "holder_id", "parent_id", "usage", "description", "source", "assigned_on",
        "child_min_len", "child_max_len", "child_default_len", "default_strategy", "nibble_aligned", "pool_strict",
    )  # fmt: skip

    @property
    def width(self) -> int:
        return 32 if self.family == 4 else 128

    @property
    def net(self) -> Net:
        return Net(from_key(self.start), self.prefix_len, self.width)

    @property
    def pool_policy(self) -> PoolPolicy:
        return PoolPolicy(self.child_min_len, self.child_max_len, bool(self.nibble_aligned), bool(self.pool_strict))

    @property
    def default_strategy_enum(self) -> Strategy:
        """How children are allocated when the request does not say: the pool's choice, else first fit."""
        return Strategy(self.default_strategy or Strategy.FIRST_FIT.value)

    @property
    def kind_enum(self) -> PrefixKind:
        return PrefixKind(self.kind)

    def __repr__(self) -> str:
        return f"<Prefix {self.network} {self.kind}>"

    @staticmethod
    def columns_for(net: Net) -> dict[str, Any]:
        return {
            "family": net.family,
            "start": to_key(net.start),
            "last": to_key(net.last),
            "prefix_len": net.length,
            "network": format_net(net),
        }


class FreeBlock(Base):
    """One maximal aligned free CIDR block of a prefix, kept exact in the same transaction as every change.

    The primary key serves first-fit and best-fit (by length, then address); ``sparse_key`` (the block's
    bit-reversed offset in its parent) serves RFC 3531 sparse allocation. Finding space never reads children.
    """

    __tablename__ = "free_block"
    __table_args__ = (
        Index("ix_free_block_parent_id_prefix_len_sparse_key", "parent_id", "prefix_len", "sparse_key"),
        {"sqlite_with_rowid": False},
    )

    parent_id: Mapped[int] = mapped_column(ForeignKey("prefix.id", ondelete="CASCADE"), primary_key=True)
    prefix_len: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    start: Mapped[bytes] = mapped_column(LargeBinary(ADDRESS_BYTES), primary_key=True)
    sparse_key: Mapped[bytes] = mapped_column(LargeBinary(ADDRESS_BYTES))


class PrefixClaim(Base):
    """A carrier's or allocator's claim to a top-level block, waiting for a regulator administrator.

    The claim is not in the registry: nothing is checked against what others hold when it is filed (a claim
    never tells the claimant whose space it overlaps). Confirming it registers the block, with every rule of
    ``ipam.operations.add_prefix`` applied, as the administrator's act.
    """

    __tablename__ = "prefix_claim"
    __table_args__ = (
        CheckConstraint(one_of("status", ClaimStatus), name="status"),
        Index("ix_prefix_claim_status_created_at", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    network: Mapped[str] = mapped_column(String(43))
    kind: Mapped[str] = mapped_column(String(16))
    claimant_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(Text)  # where the block comes from (the registry's allocation, its date)
    status: Mapped[str] = mapped_column(String(12), default=ClaimStatus.PENDING.value)
    requested_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(Text)
    prefix_id: Mapped[int | None] = mapped_column(ForeignKey("prefix.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    claimant: Mapped[Organization] = relationship(lazy="joined")

    AUDITED = ("network", "kind", "claimant_id", "reason", "status", "decision_note", "prefix_id")

    @property
    def status_enum(self) -> ClaimStatus:
        return ClaimStatus(self.status)
