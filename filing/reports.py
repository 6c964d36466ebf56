"""The national report: make one (what was approved or cancelled since the last), read its rows, list them.

Each report is kept with its window (``since``, ``through``], who made it and its entries (filing, version,
operation), so the next one continues from it and any earlier one can be downloaded again as it was. The rules
of what a window holds and how a row is written are in ``filing.report`` (pure); this module finds the window's
changes in the database and stores the result.

Making reports is serialized (a transaction-scoped lock on PostgreSQL; SQLite serializes writers), so two made at
the same moment cannot both start from the same last report.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, String, and_, cast, exists, false, func, select, text
from sqlalchemy.orm import Session

from accounts.audit import record_event
from accounts.models import AuditEvent, Organization
from core import policy
from core.db import bulk_insert, utcnow
from core.errors import ValidationFailed
from core.messages import message as _l
from core.web import CHINA_TIME
from filing import report as national
from filing.choices import FilingState, ReportOperation, VersionOutcome
from filing.models import Filing, FilingReport, FilingReportEntry, FilingVersion
from filing.permissions import Action
from filing.queries import choice_names

OBJECT_TYPE = "filing_report"
REPORT_LOCK = 6_100_001  # pg_advisory_xact_lock key of report making
READ_BATCH = 2000


def last_report(session: Session) -> FilingReport | None:
    return session.scalar(select(FilingReport).order_by(FilingReport.through.desc(), FilingReport.id.desc()).limit(1))


def make_report(session: Session, *, since: datetime | None, actor: Any) -> FilingReport:
    """Make and keep the report of the changes after ``since`` (default: where the last report ended; the first
    report holds everything) up to now. A ``since`` before the last report's end sends that stretch again, judged
    against the reports that ended before it."""
    policy.require(actor, Action.REPORT_FILINGS)
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": REPORT_LOCK})
    session.flush()  # what this transaction did before is stamped before the window closes
    through = utcnow()
    if since is None:
        last = last_report(session)
        since = last.through if last is not None else None
    elif since >= through:
        raise ValidationFailed.on("since", _l("A report cannot start in the future."))
    report = FilingReport(created_by=actor.username, since=since, through=through, counts={})
    session.add(report)
    session.flush()
    entries = national.plan_entries(_approved(session, since, through), _cancelled(session, since, through))
    bulk_insert(
        session, FilingReportEntry.__table__, ["report_id", "filing_id", "version", "operation"],
        ((report.id, e.filing_id, e.version, e.operation.value) for e in entries),
    )  # fmt: skip
    counts = {op.value: 0 for op in ReportOperation}
    for entry in entries:
        counts[entry.operation.value] += 1
    report.counts = counts
    session.flush()
    record_event(
        session, actor=actor, action="filing_report.create", object_type=OBJECT_TYPE, object_id=report.id,
        organization_id=None, after={"since": _iso(since), "through": _iso(through), "counts": counts},
        summary=_l("National report of %(n)d changes (%(adds)d added, %(changes)d changed, %(deletes)d deleted).",
                   n=len(entries), adds=counts[ReportOperation.ADD.value],
                   changes=counts[ReportOperation.CHANGE.value], deletes=counts[ReportOperation.DELETE.value]),
    )  # fmt: skip
    return report


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _reported(filing_id: Any, since: datetime | None) -> Any:
    """A report that ended before the window begins holds the filing: the national system has it. (Reports
    ending later are the window itself sent again: what they held is judged afresh.)"""
    if since is None:
        return false()
    return (
        exists()
        .where(FilingReportEntry.filing_id == filing_id, FilingReport.id == FilingReportEntry.report_id)
        .where(FilingReport.through <= since)
    )


def _in_window(column: Any, since: datetime | None, through: datetime) -> Any:
    return and_(column > since, column <= through) if since is not None else column <= through


def _approved(session: Session, since: datetime | None, through: datetime) -> Iterator[national.Change]:
    """Each filing's latest version approved in the window, and whether the national system has the filing."""
    latest = (
        select(FilingVersion.filing_id, func.max(FilingVersion.version).label("version"))
        .where(FilingVersion.outcome == VersionOutcome.APPROVED.value,
               _in_window(FilingVersion.decided_at, since, through))
        .group_by(FilingVersion.filing_id)
        .subquery()
    )  # fmt: skip
    stmt = select(latest.c.filing_id, latest.c.version, _reported(latest.c.filing_id, since))
    for filing_id, version, reported in session.execute(stmt.execution_options(yield_per=READ_BATCH)):
        yield national.Change(filing_id, version, bool(reported))


def _cancelled(session: Session, since: datetime | None, through: datetime) -> Iterator[national.Change]:
    """Filings cancelled in the window (when the trail records the cancellation, else when the row last changed),
    with the version that stood."""
    cancelled_at = (
        select(func.max(AuditEvent.occurred_at))
        .where(AuditEvent.object_type == "filing", AuditEvent.action == "filing.cancel",
               AuditEvent.object_id == cast(Filing.id, String))
        .scalar_subquery()
    )  # fmt: skip
    stmt = select(Filing.id, Filing.approved_version, _reported(Filing.id, since)).where(
        Filing.state == FilingState.CANCELLED.value,
        Filing.approved_version.is_not(None),
        _in_window(func.coalesce(cancelled_at, Filing.updated_at), since, through),
    )
    for filing_id, version, reported in session.execute(stmt):
        yield national.Change(filing_id, version, bool(reported))


# -- reading a report --------------------------------------------------------------------------------------------


def report_rows(session: Session, report: FilingReport) -> Iterator[dict[str, national.Cell]]:
    """The report's rows in the upload format (``filing.report.COLUMNS``), read in batches, in entry order."""
    names = choice_names(session, chinese=True)
    stmt = (
        select(FilingReportEntry.operation, Filing.number, FilingReportEntry.version, FilingVersion.values)
        .join(Filing, Filing.id == FilingReportEntry.filing_id)
        .join(FilingVersion, and_(FilingVersion.filing_id == FilingReportEntry.filing_id,
                                  FilingVersion.version == FilingReportEntry.version))
        .where(FilingReportEntry.report_id == report.id)
        .order_by(FilingReportEntry.id)
    )  # fmt: skip
    for operation, number, version, values in session.execute(stmt.execution_options(yield_per=READ_BATCH)):
        yield national.national_row(operation, number, version, values, names)


def report_summary(report: FilingReport) -> dict[str, Any]:
    return {"id": report.id, "created_at": _iso(report.created_at), "created_by": report.created_by,
            "since": _iso(report.since), "through": _iso(report.through), "counts": report.counts}  # fmt: skip


def report_json(session: Session, report: FilingReport) -> Iterator[str]:
    """The report as one JSON document, written a row at a time: ``{"report": its summary, "columns": {code:
    Chinese name}, "rows": [{code: value}, …]}``."""
    summary = json.dumps(report_summary(report), ensure_ascii=False)
    columns = json.dumps(dict(national.COLUMNS), ensure_ascii=False)
    yield f'{{"report": {summary}, "columns": {columns}, "rows": ['
    for index, row in enumerate(report_rows(session, report)):
        yield ("," if index else "") + "\n" + json.dumps(row, ensure_ascii=False)
    yield "\n]}\n"


def start_of_day(day: date) -> datetime:
    """The moment a day begins in China (a ``since`` given as a date)."""
    return datetime(day.year, day.month, day.day, tzinfo=CHINA_TIME)


def report_filename(report: FilingReport, extension: str) -> str:
    return f"national-report-{report.id}.{extension}"


# -- lists -------------------------------------------------------------------------------------------------------


def reports_newest_first() -> Select[tuple[FilingReport]]:
    return select(FilingReport).order_by(FilingReport.id.desc())


def get_report(session: Session, report_id: int) -> FilingReport | None:
    return session.get(FilingReport, report_id)


def report_entries(report: FilingReport) -> Select[Any]:
    """A report's entries with the filing each names (number, block, filer), for its page."""
    return (
        select(FilingReportEntry.operation, FilingReportEntry.version, Filing.id.label("filing_id"), Filing.number,
               Filing.block, Organization.name.label("filer_name"))
        .join(Filing, Filing.id == FilingReportEntry.filing_id)
        .join(Organization, Organization.id == Filing.filer_id)
        .where(FilingReportEntry.report_id == report.id)
        .order_by(FilingReportEntry.id)
    )  # fmt: skip
