"""Prefixes and the free-space index.

Addresses are stored as 16-byte big-endian binaries (IPv4 too), so that they sort and index the same on
SQLite and PostgreSQL. PostgreSQL additionally keeps the network as ``cidr`` for the exclusion constraint
(siblings never overlap) created in the migration.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
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
from ipam.choices import ClaimStatus, PrefixKind, PrefixStatus, RequestState, Source, Usage
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
        # A holder's prefixes in address order: its list page is one range of this index.
        Index("ix_prefix_holder_id_family_start_prefix_len", "holder_id", "family", "start", "prefix_len"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    family: Mapped[int] = mapped_column(SmallInteger)
    start: Mapped[bytes] = mapped_column(LargeBinary(ADDRESS_BYTES))
    last: Mapped[bytes] = mapped_column(LargeBinary(ADDRESS_BYTES))
    prefix_len: Mapped[int] = mapped_column(SmallInteger)
    network: Mapped[str] = mapped_column(CidrType())
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), default=PrefixStatus.ACTIVE.value)
    holder_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id", ondelete="RESTRICT"))
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


class PrefixRequest(Base):
    """An enterprise's request to an allocator (its carrier, or a lower-level allocator) for IPv6 space: so many
    sites of a size, what for, where, and why, optionally with a subnet plan showing the need. Its states are one
    table (``ipam.prefix_requests.REQUESTS``); approving allocates the blocks in the same transaction."""

    __tablename__ = "prefix_request"
    __table_args__ = (
        CheckConstraint(one_of("state", RequestState), name="state"),
        CheckConstraint(one_of("usage", Usage, nullable=True), name="usage"),
        CheckConstraint(one_of("strategy", Strategy, nullable=True), name="strategy"),
        CheckConstraint("site_count >= 1", name="site_count"),
        Index("ix_prefix_request_provider_id_state", "provider_id", "state"),
        Index("ix_prefix_request_requester_id_state", "requester_id", "state"),
        Index("ix_prefix_request_state_submitted_at", "state", "submitted_at"),
        Index("ix_prefix_request_state_decided_at", "state", "decided_at"),
        Index("ix_prefix_request_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    provider_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="RESTRICT"))
    state: Mapped[str] = mapped_column(String(16), default=RequestState.DRAFT.value)
    site_count: Mapped[int] = mapped_column(SmallInteger)
    prefix_len: Mapped[int] = mapped_column(SmallInteger)  # the size asked for per site
    purpose: Mapped[str] = mapped_column(Text)
    usage: Mapped[str | None] = mapped_column(String(24))
    locations: Mapped[list[str]] = mapped_column(JSON, default=list)  # division codes (GB/T 2260) of the sites
    justification: Mapped[str] = mapped_column(Text)
    plan_text: Mapped[str | None] = mapped_column(Text)  # a subnet plan (YAML or JSON) showing the need
    # The allocator's decision: the pool and strategy it allocated with, its comment or reason.
    pool_id: Mapped[int | None] = mapped_column(ForeignKey("prefix.id", ondelete="SET NULL"), index=True)
    strategy: Mapped[str | None] = mapped_column(String(16))
    decision_note: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the first submission (turnaround)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))

    requester: Mapped[Organization] = relationship(foreign_keys=[requester_id], lazy="joined")
    provider: Mapped[Organization] = relationship(foreign_keys=[provider_id], lazy="joined")
    pool: Mapped[Prefix | None] = relationship(lazy="select")
    blocks: Mapped[list[PrefixRequestBlock]] = relationship(
        lazy="selectin", order_by="PrefixRequestBlock.id", cascade="all, delete-orphan"
    )

    AUDITED = (
        "provider_id", "site_count", "prefix_len", "purpose", "usage", "locations", "justification", "plan_text",
    )  # fmt: skip

    @property
    def state_enum(self) -> RequestState:
        return RequestState(self.state)

    @property
    def asked(self) -> str:
        """What is asked, as people say it: "2 × /48"."""
        return f"{self.site_count} × /{self.prefix_len}"


class PrefixRequestBlock(Base):
    """A block allocated for a request. The network is kept as text too: the request's record stands after the
    block is released."""

    __tablename__ = "prefix_request_block"

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("prefix_request.id", ondelete="CASCADE"), index=True)
    prefix_id: Mapped[int | None] = mapped_column(ForeignKey("prefix.id", ondelete="SET NULL"), index=True)
    network: Mapped[str] = mapped_column(String(43))

    prefix: Mapped[Prefix | None] = relationship(lazy="select")


class SubnetPlan(Base):
    """A saved subnet plan of one parent block: its text (YAML or JSON, ``ipam.plan_format``), the placements of
    its last preview, and what was applied (the previous plan a re-plan keeps in place)."""

    __tablename__ = "subnet_plan"
    __table_args__ = (Index("ix_subnet_plan_organization_id_updated_at", "organization_id", "updated_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("prefix.id", ondelete="SET NULL"), index=True)
    parent_network: Mapped[str] = mapped_column(String(43))
    name: Mapped[str] = mapped_column(String(120))
    text: Mapped[str] = mapped_column(Text)
    placements: Mapped[list[list[str]] | None] = mapped_column(JSON)  # [[path, prefix], …] of the last preview
    applied: Mapped[list[list[str]] | None] = mapped_column(JSON)  # [[path, prefix], …] as last applied
    applied_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    applied_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    request_id: Mapped[int | None] = mapped_column(ForeignKey("prefix_request.id", ondelete="SET NULL"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    organization: Mapped[Organization] = relationship(lazy="joined")
    parent: Mapped[Prefix | None] = relationship(lazy="select")

    AUDITED = ("name", "parent_network", "text")
