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


class Format(StrEnum):
    CSV = "csv"
    XLSX = "xlsx"
    RPSL = "rpsl"
    RIR = "rir"


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

    @property
    def status_enum(self) -> BatchStatus:
        return BatchStatus(self.status)

    @property
    def mode_enum(self) -> Mode:
        return Mode(self.mode)

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
        from importers.records import render

        return render(self.message, self.params)


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
