"""The filing package's jobs on the import job queue (``importers.tasks``, a Huey queue; ``flask import worker``
runs it): the e-mails of notifications, queued once the transaction that made them commits; the daily run at
FILING_REMINDER_HOUR o'clock China time that sends the deadline reminders and sweeps the attachment folder;
reconciliation runs, queued once the transaction that started them commits, and the nightly run of the whole city
at RECONCILIATION_HOUR o'clock (none when the setting is empty).

Nothing here runs inside a request's transaction: a mail server that is slow or down delays or loses e-mails,
never a filer's or a reviewer's step.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any

from flask import Flask, current_app, has_app_context
from huey import Huey
from sqlalchemy import event
from sqlalchemy.orm import Session, SessionTransaction

from core.config import ConfigurationError
from core.context import Origin, origin
from core.extensions import db
from core.web import CHINA_TIME

log = logging.getLogger("v6beian.filing")

DEFAULT_REMINDER_HOUR = 8


def init_app(app: Flask) -> None:
    """Declare the jobs on the import queue (``importers.init_app`` makes it; call this after it)."""
    queue: Huey = app.extensions["import_queue"]
    hour = reminder_hour(app.config)

    @queue.task(context=False)
    def mail_filing_notifications(notification_ids: list[int]) -> None:
        with app.app_context():
            mail_notifications(notification_ids)

    @queue.periodic_task(daily_at(hour, utc=queue.utc))
    def daily_filing_run() -> None:
        with app.app_context():
            run_daily(today=china_today())

    @queue.task(context=False)
    def run_reconciliation_job(run_id: int) -> None:
        with app.app_context():
            run_reconciliation(run_id, today=china_today())

    night = reconciliation_hour(app.config)
    if night is not None:

        @queue.periodic_task(daily_at(night, utc=queue.utc))
        def nightly_reconciliation() -> None:
            with app.app_context():
                run_id = start_nightly_reconciliation()
                run_reconciliation(run_id, today=china_today())

    app.extensions["filing_mail_task"] = mail_filing_notifications
    app.extensions["reconciliation_task"] = run_reconciliation_job


def reminder_hour(config: Any) -> int:
    raw = config.get("FILING_REMINDER_HOUR", DEFAULT_REMINDER_HOUR)
    try:
        hour = int(raw)
    except (TypeError, ValueError):
        hour = -1
    if not 0 <= hour <= 23:
        raise ConfigurationError(f"FILING_REMINDER_HOUR must be an hour from 0 to 23 (China time), got {raw!r}")
    return hour


def reconciliation_hour(config: Any) -> int | None:
    raw = config.get("RECONCILIATION_HOUR")
    if raw is None or str(raw).strip() == "":
        return None
    try:
        hour = int(raw)
    except (TypeError, ValueError):
        hour = -1
    if not 0 <= hour <= 23:
        raise ConfigurationError(f"RECONCILIATION_HOUR must be an hour from 0 to 23 (China time) or empty, got {raw!r}")
    return hour


def daily_at(hour: int, *, utc: bool) -> Callable[[datetime], bool]:
    """A Huey schedule: true in the minute ``hour``:00 China time. Huey hands the consumer's clock over naive, in
    UTC when the queue keeps UTC (its default), else in the machine's local time."""

    def due(moment: datetime) -> bool:
        aware = moment.replace(tzinfo=UTC) if utc else moment.astimezone()
        local = aware.astimezone(CHINA_TIME)
        return local.hour == hour and local.minute == 0

    return due


def china_today() -> date:
    return datetime.now(CHINA_TIME).date()


# --- the jobs ------------------------------------------------------------------------------------------------------


def run_daily(*, today: date) -> dict[str, int]:
    """Send the day's deadline reminders (as the FILING_REMINDER system actor) and sweep the attachment folder."""
    from filing.attachments import sweep_attachment_files
    from filing.notifications import send_reminders
    from filing.permissions import FILING_REMINDER

    with origin(Origin(channel="job")):
        with db.session_scope() as session:
            reminded = send_reminders(session, today=today, actor=FILING_REMINDER)
        with db.session_scope(write=False) as session:
            swept = sweep_attachment_files(session)
    log.info("daily filing run for %s: %d reminders, %d stray attachment files deleted", today, reminded, swept)
    return {"reminders": reminded, "swept": swept}


def start_nightly_reconciliation() -> int:
    """Queue the nightly run of the whole city, as the reconciliation job; returns its id."""
    from filing.choices import RunScope
    from filing.permissions import RECONCILER
    from filing.reconciliation import start_run

    with origin(Origin(channel="job")), db.session_scope() as session:
        return start_run(session, scope=RunScope.ALL, actor=RECONCILER).id


def run_reconciliation(run_id: int, *, today: date) -> str:
    """Run a queued reconciliation in one transaction; if it fails, mark it failed in another. Returns its state."""
    from filing.models import ReconciliationRun
    from filing.permissions import RECONCILER
    from filing.reconciliation import execute_run, fail_run

    with origin(Origin(channel="job")):
        try:
            with db.session_scope() as session:
                run = session.get(ReconciliationRun, run_id)
                if run is None or run.state != "queued":
                    return run.state if run is not None else "missing"
                execute_run(session, run, actor=RECONCILER, today=today)
                log.info("reconciliation %s done: %s", run_id, run.counts)
                return run.state
        except Exception as exc:
            log.exception("reconciliation %s failed", run_id)
            with db.session_scope() as session:
                run = session.get(ReconciliationRun, run_id)
                if run is not None and run.state in ("queued", "running"):
                    fail_run(session, run, actor=RECONCILER, error=f"{type(exc).__name__}: {exc}")
            return "failed"


def run_after_commit(session: Session, run_id: int) -> None:
    """Queue the reconciliation for when the transaction that started it commits (the job queue runs it; with
    IMPORT_JOBS_IMMEDIATE, at once, as tests and single-process set-ups want)."""
    task = current_app.extensions.get("reconciliation_task") if has_app_context() else None
    if task is None:
        log.warning("no job queue for reconciliations (filing.tasks.init_app not called); run %s waits", run_id)
        return
    after_outcome(session, on_commit=lambda: task(run_id))


def mail_notifications(notification_ids: Sequence[int]) -> int:
    """E-mail the notifications not mailed yet to their recipients' addresses. The letters are read in one
    transaction and marked mailed in another: no database lock is held while the mail server is talked to."""
    from filing.notifications import letters_for, mail_settings, mark_mailed, send_letters

    settings = mail_settings(current_app.config)
    if settings is None or not notification_ids:
        return 0
    with origin(Origin(channel="job")):
        with db.session_scope(write=False) as session:
            letters = letters_for(session, notification_ids, settings)
        sent = send_letters(settings, letters)
        if sent:
            with db.session_scope() as session:
                mark_mailed(session, sent)
    return len(sent)


# --- after the transaction -----------------------------------------------------------------------------------------


def after_outcome(
    session: Session, *, on_commit: Callable[[], None] | None = None, on_rollback: Callable[[], None] | None = None
) -> None:
    """Run ``on_commit`` once the session's transaction commits, or ``on_rollback`` once it is rolled back,
    whichever happens first (a savepoint rolled back inside it changes nothing). The callbacks must not fail the
    caller: what they raise is logged. (The listeners stay on the session, spent: SQLAlchemy cannot remove a
    listener while its event runs.)"""
    settled = False

    def committed(_session: Session) -> None:
        nonlocal settled
        if not settled:
            settled = True
            if on_commit is not None:
                _logged(on_commit)

    def rolled_back(_session: Session, transaction: SessionTransaction) -> None:
        nonlocal settled
        if not settled and not transaction.nested:
            settled = True
            if on_rollback is not None:
                _logged(on_rollback)

    event.listen(session, "after_commit", committed)
    event.listen(session, "after_soft_rollback", rolled_back)


def _logged(action: Callable[[], None]) -> None:
    try:
        action()
    except Exception:
        log.exception("work after the transaction failed")


def mail_after_commit(session: Session, notification_ids: Sequence[int]) -> None:
    """Queue the e-mails of these notifications for when the transaction commits (none if no mail server is
    configured, and none if it rolls back)."""
    if not notification_ids or not has_app_context():
        return
    from filing.notifications import mail_settings

    if mail_settings(current_app.config) is None:
        return
    task = current_app.extensions.get("filing_mail_task")
    if task is None:
        log.warning("no job queue for filing e-mails (filing.tasks.init_app not called); %d not sent",
                    len(notification_ids))  # fmt: skip
        return
    ids = list(notification_ids)
    after_outcome(session, on_commit=lambda: task(ids))
