"""Import batches, their problems, and the names carriers give their customers."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models import Organization, User
from core.db import Base, UTCDateTime, one_of, utcnow
from ipam.choices import KIND_LABELS


class Format(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"
    RPSL = "rpsl"
    RIR = "rir"

    @property
    def label(self) -> str:
        return str(FORMAT_NAMES[self])

    @property
    def tabular(self) -> bool:
        """A table whose header names its columns (CSV, Excel), not a format with fixed field names."""
        return self in (Format.CSV, Format.XLSX)


# Short names, as a batch's page and the command line name its format (the upload form has longer ones).
FORMAT_NAMES = {Format.CSV: "CSV", Format.XLSX: _l("Excel workbook"), Format.RPSL: "RPSL",
                Format.RIR: _l("RIR statistics")}  # fmt: skip


class Mode(StrEnum):
    DELTA = "delta"  # add and change only
    SNAPSHOT = "snapshot"  # the file is the complete book under the scope: what it lacks is released

    @property
    def label(self) -> str:
        return str(MODE_LABELS[self])


MODE_LABELS = {Mode.DELTA: _l("Delta (add and change)"), Mode.SNAPSHOT: _l("Snapshot (complete book)")}


class BatchStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PREVIEWED = "previewed"  # validated (dry run); nothing changed
    LOADED = "loaded"
    REJECTED = "rejected"  # errors in an all-or-nothing import: nothing changed
    FAILED = "failed"  # unreadable file or an unexpected failure: nothing changed

    @property
    def label(self) -> str:
        return str(STATUS_LABELS[self])

    @property
    def finished(self) -> bool:
        return self not in (BatchStatus.QUEUED, BatchStatus.RUNNING)


STATUS_LABELS = {
    BatchStatus.QUEUED: _l("Queued"),
    BatchStatus.RUNNING: _l("Running"),
    BatchStatus.PREVIEWED: _l("Validated, not loaded"),
    BatchStatus.LOADED: _l("Loaded"),
    BatchStatus.REJECTED: _l("Rejected (nothing changed)"),
    BatchStatus.FAILED: _l("Failed (nothing changed)"),
}


# What each column of a carrier's table holds, for pages that name a column without a file at hand (the column
# list of the upload page; a problem of a batch checked before the file's own headers were kept).
COLUMN_LABELS = {
    "prefix": _l("Prefix"), "start": _l("First address"), "end": _l("Last address"), "holder_name": _l("Holder"),
    "uscc": _l("Unified Social Credit Code"), "holder_id": _l("Customer number"), "kind": _l("Allocation type"),
    "usage": _l("Usage"), "registered": _l("Allocated on"), "division": _l("Division code"),
    "contact_name": _l("Contact"), "contact_phone": _l("Contact phone"), "contact_email": _l("Contact e-mail"),
    "remarks": _l("Remarks"),
}  # fmt: skip


COUNTS = (
    "rows", "created", "updated", "unchanged", "removed", "skipped", "errors", "warnings", "holders_created",
    "other_family",
)  # fmt: skip


class ImportBatch(Base):
    __tablename__ = "import_batch"
    __table_args__ = (
        CheckConstraint(one_of("format", Format), name="format"),
        CheckConstraint(one_of("mode", Mode), name="mode"),
        CheckConstraint(one_of("status", BatchStatus), name="status"),
        Index("ix_import_batch_carrier_id_sha256", "carrier_id", "sha256"),
        Index("ix_import_batch_next_batch_id", "next_batch_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    carrier_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="RESTRICT"))
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("user_account.id", ondelete="SET NULL"))
    file_name: Mapped[str] = mapped_column(String(255))
    stored_path: Mapped[str | None] = mapped_column(String(500))
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer, default=0)
    format: Mapped[str] = mapped_column(String(8))
    sheet: Mapped[str | None] = mapped_column(String(100))
    mode: Mapped[str] = mapped_column(String(8), default=Mode.DELTA.value)
    scope: Mapped[list[str] | None] = mapped_column(JSON)  # networks of the carrier's blocks the file covers
    family: Mapped[int | None] = mapped_column(Integer)  # 4 or 6: records of the other family are passed over
    allow_partial: Mapped[bool] = mapped_column(Boolean, default=False)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(12), default=BatchStatus.QUEUED.value)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    removed: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[int] = mapped_column(Integer, default=0)
    warnings: Mapped[int] = mapped_column(Integer, default=0)  # loaded, but against a pool's policy (listed)
    holders_created: Mapped[int] = mapped_column(Integer, default=0)
    other_family: Mapped[int] = mapped_column(Integer, default=0)
    progress: Mapped[int] = mapped_column(Integer, default=0)  # rows read so far, while running
    message: Mapped[str | None] = mapped_column(Text)  # why the whole file failed (a template, see ``records``)
    message_params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    details: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # samples of the changes, new holders
    same_content_as_id: Mapped[int | None] = mapped_column(Integer)
    # The batch that continued this one (loading a confirmed check, running a stopped one again).
    next_batch_id: Mapped[int | None] = mapped_column(Integer)
    worker: Mapped[str | None] = mapped_column(String(100))  # host:pid of the worker that ran it
    # Uploads are deleted when nothing needs them any more (the checksum and the report stay).
    file_deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    carrier: Mapped[Organization] = relationship(lazy="joined")
    actor: Mapped[User | None] = relationship(lazy="joined")
    # The two ends of a continuation: the batch this one continued (a load's check), and the one that continued it.
    earlier: Mapped[ImportBatch | None] = relationship(
        "ImportBatch", primaryjoin="ImportBatch.id == remote(foreign(ImportBatch.next_batch_id))", uselist=False,
        viewonly=True,
    )  # fmt: skip
    later: Mapped[ImportBatch | None] = relationship(
        "ImportBatch", primaryjoin="remote(ImportBatch.id) == foreign(ImportBatch.next_batch_id)", viewonly=True
    )

    @property
    def status_enum(self) -> BatchStatus:
        return BatchStatus(self.status)

    @property
    def mode_enum(self) -> Mode:
        return Mode(self.mode)

    @property
    def format_enum(self) -> Format:
        return Format(self.format)

    def column_name(self, column: str) -> str:
        """A problem's column as the reader knows it: the file's own header for it (a range's two headers for a
        block cut from the range), else what the column holds, in the reader's language; the fixed field names
        of RPSL and RIR files as they are."""
        headers = (self.details or {}).get("headers") or {}
        if column in headers:
            return str(headers[column])
        if column == "prefix" and "start" in headers and "end" in headers:
            return f"{headers['start']}–{headers['end']}"
        if self.format_enum.tabular or column == "prefix":
            return str(COLUMN_LABELS.get(column, column))
        return column

    @property
    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in COUNTS}

    def __repr__(self) -> str:
        return f"<ImportBatch {self.id} {self.file_name} {self.status}>"


class ImportProblem(Base):
    __tablename__ = "import_problem"
    __table_args__ = (Index("ix_import_problem_batch_id_line", "batch_id", "line"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("import_batch.id", ondelete="CASCADE"))
    line: Mapped[int] = mapped_column(Integer)
    sheet: Mapped[str | None] = mapped_column(String(100))
    column: Mapped[str] = mapped_column(String(32))
    value: Mapped[str] = mapped_column(String(500))
    message: Mapped[str] = mapped_column(String(300))
    params: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    severity: Mapped[str] = mapped_column(String(8), default="error")  # "warning": the row loads all the same

    def text(self) -> str:
        """The problem in the reader's language, the kinds of prefix it names as well."""
        from importers.records import render

        params = self.params
        if isinstance(params, dict) and any(isinstance(params.get(name), str) for name in KIND_PARAMS):
            params = {
                name: KIND_LABELS.get(value, value) if name in KIND_PARAMS and isinstance(value, str) else value
                for name, value in params.items()
            }
        return render(self.message, params)


# Parameters of the planner's messages that hold a kind of prefix ("assignment"), shown by its label.
KIND_PARAMS = ("kind", "other_kind")


class HolderReference(Base):
    """How a carrier names one of its customers in its own files: an external id or a name."""

    __tablename__ = "holder_reference"
    __table_args__ = (
        UniqueConstraint("carrier_id", "kind", "value", name="uq_holder_reference_key"),
        CheckConstraint("kind IN ('id', 'name')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    carrier_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    value: Mapped[str] = mapped_column(String(200))
    organization_id: Mapped[int] = mapped_column(ForeignKey("organization.id", ondelete="CASCADE"), index=True)
