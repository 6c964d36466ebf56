"""Filings, their versions and attachments; the working-day calendar; the national reports; notifications.

A filing's row holds the values being worked on (the draft, or the change under review) and its place in the
workflow; every submission is kept as a ``FilingVersion`` that never changes afterwards, so the history shows
each version as it was filed and the reviewer's decision on it. Blocks are stored exactly as the national
format writes them (first and last address, 16-byte big-endian keys as the registry keeps them), whether they
are a prefix or not.
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
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import Organization, User
from core.db import Base, UTCDateTime, one_of, utcnow
from filing.choices import (
    CaseState,
    ChoiceList,
    FilingState,
    FilingType,
    ReportOperation,
    RunScope,
    RunState,
    VersionOutcome,
)
from filing.reconcile import FindingType
from ipam.models import ADDRESS_BYTES, from_key

# The fields a filer fills in, as a version records them (the block is recorded as ``block``).
FILED_FIELDS = (
    "filing_type", "block", "source_name", "user_name", "user_uscc", "user_nature", "user_industry",
    "user_division", "user_address", "usage", "allocated_on", "gateway_ip", "gateway_address", "contact_name",
    "contact_phone", "contact_email", "remarks",
)  # fmt: skip


class Filing(Base):
    __tablename__ = "filing"
    __table_args__ = (
        CheckConstraint(one_of("state", FilingState), name="state"),
        CheckConstraint(one_of("filing_type", FilingType), name="filing_type"),
        CheckConstraint("family IN (4, 6)", name="family"),
        CheckConstraint("start <= last", name="ordered"),
        Index("ix_filing_state_due_on", "state", "due_on"),
        Index("ix_filing_filer_id_state", "filer_id", "state"),
        Index("ix_filing_family_span_start", "family", "span_bits", "start"),
        Index("ix_filing_user_uscc", "user_uscc"),
        Index("ix_filing_user_division", "user_division"),
        Index("ix_filing_prefix_id", "prefix_id"),
        Index("ix_filing_state_review_due_on", "state", "review_due_on"),
        Index("ix_filing_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str | None] = mapped_column(String(32), unique=True)  # given on the first approval
    state: Mapped[str] = mapped_column(String(20), default=FilingState.DRAFT.value)
    version: Mapped[int] = mapped_column(Integer, default=1)  # the version being written or reviewed
    approved_version: Mapped[int | None] = mapped_column(Integer)  # the version that stands
    filing_type: Mapped[str] = mapped_column(String(16))
    filer_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="RESTRICT"))
    # The block: first and last address as the registry keys them, its text, and the size class that lets
    # "which filings cover this address" be a few index range scans (span_bits = bits of last - start).
    family: Mapped[int] = mapped_column(SmallInteger)
    start: Mapped[bytes] = mapped_column(LargeBinary(ADDRESS_BYTES))
    last: Mapped[bytes] = mapped_column(LargeBinary(ADDRESS_BYTES))
    span_bits: Mapped[int] = mapped_column(SmallInteger)
    block: Mapped[str] = mapped_column(String(90))
    # The registry prefix the block is (or the smallest one holding it), when there is one.
    prefix_id: Mapped[int | None] = mapped_column(ForeignKey("prefix.id", ondelete="SET NULL"))
    source_name: Mapped[str | None] = mapped_column(String(200))  # 来源单位
    source_filing_id: Mapped[int | None] = mapped_column(ForeignKey("filing.id", ondelete="SET NULL"), index=True)
    # The user organization (使用单位), as filed; linked to the platform's organization when it is one.
    user_organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organization.id", ondelete="SET NULL"), index=True
    )
    user_name: Mapped[str | None] = mapped_column(String(200))
    user_uscc: Mapped[str | None] = mapped_column(String(18))
    user_nature: Mapped[str | None] = mapped_column(String(32))
    user_industry: Mapped[str | None] = mapped_column(String(32))
    user_division: Mapped[str | None] = mapped_column(String(6))
    user_address: Mapped[str | None] = mapped_column(String(300))
    usage: Mapped[str | None] = mapped_column(String(32))
    allocated_on: Mapped[date | None] = mapped_column(Date)  # 分配使用时间: the deadline counts from it
    gateway_ip: Mapped[str | None] = mapped_column(String(45))
    gateway_address: Mapped[str | None] = mapped_column(String(300))
    contact_name: Mapped[str | None] = mapped_column(String(100))
    contact_phone: Mapped[str | None] = mapped_column(String(40))
    contact_email: Mapped[str | None] = mapped_column(String(254))
    remarks: Mapped[str | None] = mapped_column(Text)
    # Deadlines in working days: the filing's (from the allocation or change date) and the review's.
    due_on: Mapped[date | None] = mapped_column(Date)
    due_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    review_due_on: Mapped[date | None] = mapped_column(Date)
    review_due_provisional: Mapped[bool] = mapped_column(Boolean, default=False)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The reviewer's last word: comments overall and per field (returned), or the reason (rejected).
    review_comment: Mapped[str | None] = mapped_column(Text)
    field_comments: Mapped[dict[str, str] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    filer: Mapped[Organization] = relationship(foreign_keys=[filer_id], lazy="joined")
    user_organization: Mapped[Organization | None] = relationship(foreign_keys=[user_organization_id])
    source_filing: Mapped[Filing | None] = relationship(remote_side="Filing.id", foreign_keys=[source_filing_id])

    AUDITED = FILED_FIELDS

    @property
    def state_enum(self) -> FilingState:
        return FilingState(self.state)

    @property
    def type_enum(self) -> FilingType:
        return FilingType(self.filing_type)

    @property
    def first(self) -> int:
        return from_key(self.start)

    @property
    def final(self) -> int:
        return from_key(self.last)

    def filed_values(self) -> dict[str, Any]:
        """The fields as a version records them (dates as ISO text)."""
        values = {name: getattr(self, name) for name in FILED_FIELDS}
        if values["allocated_on"] is not None:
            values["allocated_on"] = values["allocated_on"].isoformat()
        return values

    def __repr__(self) -> str:
        return f"<Filing {self.id} {self.block} {self.state}>"


class FilingVersion(Base):
    """One submission of a filing, as filed, with the review's outcome. Never edited after it is decided."""

    __tablename__ = "filing_version"
    __table_args__ = (
        UniqueConstraint("filing_id", "version", name="uq_filing_version_filing_id_version"),
        CheckConstraint(one_of("outcome", VersionOutcome), name="outcome"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    filing_id: Mapped[int] = mapped_column(ForeignKey("filing.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    submitted_by: Mapped[str] = mapped_column(String(64))  # the account name, kept as written
    outcome: Mapped[str] = mapped_column(String(16), default=VersionOutcome.PENDING.value)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    decided_by: Mapped[str | None] = mapped_column(String(64))
    comment: Mapped[str | None] = mapped_column(Text)
    field_comments: Mapped[dict[str, str] | None] = mapped_column(JSON)

    @property
    def outcome_enum(self) -> VersionOutcome:
        return VersionOutcome(self.outcome)


class FilingAttachment(Base):
    """A supporting document (PDF or image), stored under the instance folder by a random name."""

    __tablename__ = "filing_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    filing_id: Mapped[int] = mapped_column(ForeignKey("filing.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(200))  # as uploaded, shown and offered on download
    content_type: Mapped[str] = mapped_column(String(64))  # from the content, never from the name
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    stored_name: Mapped[str] = mapped_column(String(64), unique=True)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    uploaded_by: Mapped[str] = mapped_column(String(64))


class Holiday(Base):
    """A day the official calendar treats unlike its weekday: a holiday on a weekday, or a make-up working day
    (调休) on a weekend. Regulator administrators keep it for the years ``chinese-calendar`` does not know; an
    entry here wins over the package."""

    __tablename__ = "holiday"

    day: Mapped[date] = mapped_column(Date, primary_key=True)
    working: Mapped[bool] = mapped_column(Boolean)  # True: a make-up working day; False: a day off
    name: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(64))


class FilingSetting(Base):
    """Policy settings regulator administrators change in the app (deadline days, the number's prefix)."""

    __tablename__ = "filing_setting"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    updated_by: Mapped[str | None] = mapped_column(String(64))


class FilingSequence(Base):
    """The last filing number given in a year (numbers are ``<prefix><year><sequence>``)."""

    __tablename__ = "filing_sequence"

    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    last: Mapped[int] = mapped_column(Integer, default=0)


class ChoiceValue(Base):
    """One value of a filing field's list (单位性质, 行业分类, IP使用方式), shipped as data and editable."""

    __tablename__ = "choice_value"
    __table_args__ = (
        UniqueConstraint("list", "code", name="uq_choice_value_list_code"),
        CheckConstraint(one_of("list", ChoiceList), name="list"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    list: Mapped[str] = mapped_column(String(16))
    code: Mapped[str] = mapped_column(String(32))
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    position: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class FilingReport(Base):
    """One national report: what it held (its entries), who made it and up to when it reaches."""

    __tablename__ = "filing_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(64))
    since: Mapped[datetime | None] = mapped_column(UTCDateTime)  # changes after this moment …
    through: Mapped[datetime] = mapped_column(UTCDateTime)  # … up to this one
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)


class FilingReportEntry(Base):
    __tablename__ = "filing_report_entry"
    __table_args__ = (CheckConstraint(one_of("operation", ReportOperation), name="operation"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("filing_report.id", ondelete="CASCADE"), index=True)
    filing_id: Mapped[int] = mapped_column(ForeignKey("filing.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    operation: Mapped[str] = mapped_column(String(4))


class Notification(Base):
    """A message to one user about a filing or a prefix request, shown in the app (and mailed when a mail server
    is configured). ``key`` makes a reminder go out once: the deadline reminders name the filing, the kind and the
    due date."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_recipient_id_read_at", "recipient_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    recipient_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    filing_id: Mapped[int | None] = mapped_column(ForeignKey("filing.id", ondelete="CASCADE"), index=True)
    request_id: Mapped[int | None] = mapped_column(ForeignKey("prefix_request.id", ondelete="CASCADE"), index=True)
    message: Mapped[str] = mapped_column(Text)  # a message template, rendered in the reader's language
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    key: Mapped[str | None] = mapped_column(String(120), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    mailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    recipient: Mapped[User] = relationship()


class ReconciliationRun(Base):
    """One comparison of the registry's records with the standing filings, over a scope (one carrier, one block,
    or everything): who started it and when, how far it got, and its counts by finding type and by carrier. Its
    states are one table (``filing.reconciliation.RUNS``): queued, running, done or failed."""

    __tablename__ = "reconciliation_run"
    __table_args__ = (
        CheckConstraint(one_of("state", RunState), name="state"),
        CheckConstraint(one_of("scope", RunScope), name="scope"),
        Index("ix_reconciliation_run_created_at", "created_at"),
        Index("ix_reconciliation_run_carrier_id_created_at", "carrier_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(16))
    carrier_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    block_id: Mapped[int | None] = mapped_column(ForeignKey("prefix.id", ondelete="SET NULL"))
    block: Mapped[str | None] = mapped_column(String(43))  # the block's network, kept after it is released
    state: Mapped[str] = mapped_column(String(12), default=RunState.QUEUED.value)
    started_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    started_by_name: Mapped[str] = mapped_column(String(120))  # a user's name, or the schedule's
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    records: Mapped[int] = mapped_column(Integer, default=0)  # records and filings compared so far
    filings: Mapped[int] = mapped_column(Integer, default=0)
    counts: Mapped[dict[str, int]] = mapped_column(JSON, default=dict)  # finding type → how many
    carrier_counts: Mapped[dict[str, dict[str, int]]] = mapped_column(JSON, default=dict)  # carrier id → counts
    error: Mapped[str | None] = mapped_column(Text)

    carrier: Mapped[Organization | None] = relationship(lazy="joined")

    @property
    def state_enum(self) -> RunState:
        return RunState(self.state)


class ReconciliationFinding(Base):
    """A discrepancy a run found (matched pairs are counted, not stored): its type, its block, the registry record
    and the filing(s) involved, and what the page shows of each side. ``fingerprint`` names what it is about, so
    that an acknowledgement (``FindingCase``) carries over to later runs while nothing about it changes."""

    __tablename__ = "reconciliation_finding"
    __table_args__ = (
        CheckConstraint(one_of("type", FindingType), name="type"),
        Index("ix_reconciliation_finding_run_id_type", "run_id", "type"),
        Index("ix_reconciliation_finding_run_id_carrier_id", "run_id", "carrier_id"),
        Index("ix_reconciliation_finding_run_id_fingerprint", "run_id", "fingerprint"),
        Index("ix_reconciliation_finding_fingerprint", "fingerprint"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_run.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(24))
    fingerprint: Mapped[str] = mapped_column(String(32))
    family: Mapped[int] = mapped_column(SmallInteger)
    start: Mapped[bytes] = mapped_column(LargeBinary(ADDRESS_BYTES))
    last: Mapped[bytes] = mapped_column(LargeBinary(ADDRESS_BYTES))
    block: Mapped[str] = mapped_column(String(90))  # the record's block, else the filing's, as people write it
    carrier_id: Mapped[int | None] = mapped_column(Integer)  # who handed the record on, or who filed
    holder_id: Mapped[int | None] = mapped_column(Integer)  # the record's holder, else the filing's user
    district: Mapped[str | None] = mapped_column(String(6))  # the holder's (or the filing's user's) division
    prefix_id: Mapped[int | None] = mapped_column(Integer)  # the registry record (no foreign key: runs outlive it)
    filing_id: Mapped[int | None] = mapped_column(Integer)
    other_filing_id: Mapped[int | None] = mapped_column(Integer)
    allocated_on: Mapped[date | None] = mapped_column(Date)
    working_days: Mapped[int | None] = mapped_column(Integer)  # unfiled: working days since the allocation
    late: Mapped[bool] = mapped_column(Boolean, default=False)  # unfiled past the filing deadline
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    @property
    def type_enum(self) -> FindingType:
        return FindingType(self.type)


class FindingCase(Base):
    """What reviewers did about a finding, by its fingerprint: acknowledged, or assigned to someone, with a
    comment. Its states are one table (``filing.reconciliation.CASES``); a later run's finding with the same
    fingerprint shows the same case."""

    __tablename__ = "finding_case"
    __table_args__ = (CheckConstraint(one_of("state", CaseState), name="state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(32), unique=True)
    carrier_id: Mapped[int | None] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
    state: Mapped[str] = mapped_column(String(16), default=CaseState.OPEN.value)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    comment: Mapped[str | None] = mapped_column(Text)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    assignee: Mapped[User | None] = relationship(foreign_keys=[assignee_id], lazy="joined")

    @property
    def state_enum(self) -> CaseState:
        return CaseState(self.state)
