"""Notifications of filings: the reviewer's decisions (approved, returned, rejected) and the deadline reminders
(due within REMINDER_WORKING_DAYS working days, overdue), in the app for every active user of the filer, and
by e-mail to those with an address when MAIL_SERVER is configured.

A notification stores a message template and its parameters, so each reader reads it in their own language; the
e-mail is written in the configured language (V6BEIAN_LANGUAGE). Reminders go out once: each carries a unique key
naming the kind, the filing, its due date and the recipient, and a second run inserts nothing (a due date moved
by a change is a new deadline and is reminded again). E-mails are queued when the transaction commits
(``filing.tasks``) and sent by the job queue, never inside a request's transaction.
"""

from __future__ import annotations

import logging
import smtplib
import ssl
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from flask import current_app, url_for
from flask_babel import force_locale, lazy_gettext
from flask_babel import gettext as _
from sqlalchemy import Select, exists, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from accounts.audit import record_events
from accounts.models import User
from core import policy
from core.db import chunks, utcnow
from core.messages import N_, render
from core.messages import message as _l
from filing.calendar import load_calendar
from filing.choices import FilingState, VersionOutcome
from filing.models import Filing, FilingVersion, Notification
from filing.permissions import Action
from filing.tasks import mail_after_commit

log = logging.getLogger("v6beian.filing")

APPROVED, RETURNED, REJECTED = "approved", "returned", "rejected"
DUE_SOON, OVERDUE = "due_soon", "overdue"
DECISIONS = (APPROVED, RETURNED, REJECTED)
REQUEST_SUBMITTED, REQUEST_APPROVED = "request_submitted", "request_approved"
REQUEST_RETURNED, REQUEST_REJECTED = "request_returned", "request_rejected"
REMINDER_WORKING_DAYS = 3
WITH_FILER_STATES = tuple(s.value for s in FilingState if s.with_filer)
INSERT_CHUNK = 500

KIND_LABELS = {
    APPROVED: lazy_gettext("Approved"), RETURNED: lazy_gettext("Returned"), REJECTED: lazy_gettext("Rejected"),
    DUE_SOON: lazy_gettext("Due soon"), OVERDUE: lazy_gettext("Overdue"),
    REQUEST_SUBMITTED: lazy_gettext("Prefix request received"), REQUEST_APPROVED: lazy_gettext("Prefix request approved"),
    REQUEST_RETURNED: lazy_gettext("Prefix request returned"), REQUEST_REJECTED: lazy_gettext("Prefix request rejected"),
}  # fmt: skip
# (kind, about a change of an approved filing) → the message; the reviewer's comment is shown beneath it.
DECISION_MESSAGES = {
    (APPROVED, False): N_("Your filing of %(block)s was approved; its filing number is %(number)s."),
    (APPROVED, True): N_("The change to filing %(number)s (%(block)s) was approved."),
    (RETURNED, False): N_("Your filing of %(block)s was returned for correction."),
    (RETURNED, True): N_("The change to filing %(number)s (%(block)s) was returned for correction."),
    (REJECTED, False): N_("Your filing of %(block)s was rejected."),
    (REJECTED, True): N_("The change to filing %(number)s (%(block)s) was rejected; the approved filing stands."),
}
DUE_SOON_MESSAGE = N_("Your filing of %(block)s is due on %(due_on)s (working days left: %(days)d).")
OVERDUE_MESSAGE = N_("Your filing of %(block)s was due on %(due_on)s and is overdue.")
# Prefix requests: the allocator's users are told of a request made to them, the requester's of the decision.
REQUEST_MESSAGES = {
    REQUEST_SUBMITTED: N_("%(requester)s requests %(asked)s (request #%(id)d)."),
    REQUEST_APPROVED: N_("Your request #%(id)d (%(asked)s) was approved: %(blocks)s."),
    REQUEST_RETURNED: N_("Your request #%(id)d (%(asked)s) was returned for correction."),
    REQUEST_REJECTED: N_("Your request #%(id)d (%(asked)s) was rejected."),
}
SUBJECTS = {
    APPROVED: N_("Filing approved: %(block)s"), RETURNED: N_("Filing returned for correction: %(block)s"),
    REJECTED: N_("Filing rejected: %(block)s"), DUE_SOON: N_("Filing due soon: %(block)s"),
    OVERDUE: N_("Filing overdue: %(block)s"),
    REQUEST_SUBMITTED: N_("Prefix request #%(id)d"), REQUEST_APPROVED: N_("Prefix request #%(id)d approved"),
    REQUEST_RETURNED: N_("Prefix request #%(id)d returned for correction"),
    REQUEST_REJECTED: N_("Prefix request #%(id)d rejected"),
}  # fmt: skip


# --- decisions and reminders -------------------------------------------------------------------------------------


def notify_decision(session: Session, filing: Filing, kind: str, *, comment: str | None) -> None:
    """Tell the filer's active users that the reviewer approved, returned or rejected ``filing`` (called by the
    review's operations after the step, in their transaction)."""
    if kind not in DECISIONS:
        raise ValueError(f"not a decision: {kind!r}")
    about_change = _about_change(session, filing, kind)
    params = {"block": filing.block, "number": filing.number, "comment": (comment or "").strip() or None}
    made = _tell_organization(session, filing.filer_id, kind, DECISION_MESSAGES[kind, about_change], params,
                              filing_id=filing.id)  # fmt: skip
    log.info("filing %s %s: %d users of organization %s notified", filing.id, kind, made, filing.filer_id)


def notify_request(session: Session, request: Any, kind: str, *, comment: str | None,
                   blocks: Sequence[str] = ()) -> None:  # fmt: skip
    """Tell the allocator's users of a request submitted to them, or the requester's users of the allocator's
    decision (called by ``ipam.prefix_requests`` after the step, in its transaction)."""
    organization_id = request.provider_id if kind == REQUEST_SUBMITTED else request.requester_id
    params = {"id": request.id, "asked": request.asked, "requester": request.requester.name,
              "blocks": ", ".join(blocks), "comment": (comment or "").strip() or None}  # fmt: skip
    made = _tell_organization(session, organization_id, kind, REQUEST_MESSAGES[kind], params, request_id=request.id)
    log.info("prefix request %s %s: %d users of organization %s notified", request.id, kind, made, organization_id)


def _tell_organization(session: Session, organization_id: int, kind: str, template: str, params: Mapping[str, Any],
                       *, filing_id: int | None = None, request_id: int | None = None) -> int:  # fmt: skip
    """One notification to every active user of the organization, mailed after the commit to those with an
    address; returns how many were made."""
    recipients = _recipients(session, [organization_id]).get(organization_id, [])
    rows = [
        {**_row(user_id, kind, filing_id, template, params, key=None), "request_id": request_id}
        for user_id, _email in recipients
    ]
    if not rows:
        return 0
    made = session.execute(insert(Notification).returning(Notification.id, Notification.recipient_id), rows).all()
    emails = dict(recipients)
    mail_after_commit(session, [notification_id for notification_id, user_id in made if emails.get(user_id)])
    return len(made)


def _about_change(session: Session, filing: Filing, kind: str) -> bool:
    """Whether the decision was on a change of an approved filing (an earlier version stands or stood)."""
    if kind == RETURNED:
        return filing.state_enum is FilingState.CHANGE_RETURNED
    if kind == REJECTED:
        return filing.state_enum is FilingState.APPROVED  # a refused change leaves the approved filing standing
    earlier = select(FilingVersion.id).where(
        FilingVersion.filing_id == filing.id,
        FilingVersion.version < filing.version,
        FilingVersion.outcome == VersionOutcome.APPROVED.value,
    )
    return bool(session.scalar(select(exists(earlier))))


def send_reminders(session: Session, *, today: date, actor: Any) -> int:
    """Remind the filers of filings still with them (draft, returned, change returned) that are due within
    REMINDER_WORKING_DAYS working days of ``today`` ("due_soon") or were due before it ("overdue"). Each goes out
    once per filing, kind, due date and user; returns how many notifications this run made."""
    policy.require(actor, Action.REMIND_FILERS)
    calendar = load_calendar(session)
    # The last day within reach: the day before the (N+1)-th working day, so that a due date on a day off that
    # follows the N-th working day counts as N working days away, as working_days_between counts it.
    reach = calendar.add_working_days(today, REMINDER_WORKING_DAYS + 1).on - timedelta(days=1)
    due = session.execute(
        select(Filing.id, Filing.filer_id, Filing.block, Filing.number, Filing.due_on)
        .where(Filing.state.in_(WITH_FILER_STATES), Filing.due_on.is_not(None), Filing.due_on <= reach)
        .order_by(Filing.id)
    ).all()
    if not due:
        return 0
    recipients = _recipients(session, {row.filer_id for row in due})
    rows: list[dict[str, Any]] = []
    for filing_id, filer_id, block, number, due_on in due:
        params: dict[str, Any] = {"block": block, "number": number, "due_on": due_on.isoformat()}
        if due_on < today:
            kind, template = OVERDUE, OVERDUE_MESSAGE
        else:
            kind, template = DUE_SOON, DUE_SOON_MESSAGE
            params["days"] = calendar.working_days_between(today, due_on)
        for user_id, _email in recipients.get(filer_id, []):
            key = f"{kind}:{filing_id}:{due_on.isoformat()}:{user_id}"
            rows.append(_row(user_id, kind, filing_id, template, params, key=key))
    made = _insert_new(session, rows)
    if not made:
        return 0
    emails = {user_id: email for users in recipients.values() for user_id, email in users}
    mail_after_commit(session, [n_id for n_id, _f, _k, user_id in made if emails.get(user_id)])
    filers = {row.id: row.filer_id for row in due}
    reminded = sorted({(filing_id, kind) for _n, filing_id, kind, _u in made})
    record_events(
        session, actor=actor, object_type="filing",
        summary=_l("Deadline reminders sent for %(n)d filings.", n=len({f for f, _k in reminded})),
        events=[("filing.remind", filing_id, filers[filing_id], {"reminder": [None, kind]})
                for filing_id, kind in reminded],
    )  # fmt: skip
    session.flush()
    log.info("deadline reminders for %s: %d notifications about %d filings", today, len(made), len(reminded))
    return len(made)


def _recipients(session: Session, organization_ids: Iterable[int]) -> dict[int, list[tuple[int, str | None]]]:
    """The active users of each organization, as (user id, e-mail address or None)."""
    found: dict[int, list[tuple[int, str | None]]] = {}
    for ids in chunks(sorted(set(organization_ids)), INSERT_CHUNK):
        rows = session.execute(
            select(User.organization_id, User.id, User.email)
            .where(User.organization_id.in_(ids), User.active.is_(True))
            .order_by(User.id)
        )
        for organization_id, user_id, email in rows:
            found.setdefault(organization_id, []).append((user_id, (email or "").strip() or None))
    return found


def _row(user_id: int, kind: str, filing_id: int | None, template: str, params: Mapping[str, Any], *, key: str | None
         ) -> dict[str, Any]:  # fmt: skip
    return {"recipient_id": user_id, "kind": kind, "filing_id": filing_id, "message": template,
            "params": dict(params), "key": key, "created_at": utcnow()}  # fmt: skip


def _insert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Notification)


def _insert_new(session: Session, rows: list[dict[str, Any]]) -> list[tuple[int, int, str, int]]:
    """Insert the rows whose key is not taken yet (by an earlier run, or one running now); returns what was
    inserted as (id, filing id, kind, recipient id)."""
    statement = (
        _insert(session)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(Notification.id, Notification.filing_id, Notification.kind, Notification.recipient_id)
    )
    made: list[tuple[int, int, str, int]] = []
    for chunk in chunks(rows, INSERT_CHUNK):
        made.extend(tuple(row) for row in session.execute(statement.values(chunk)))  # type: ignore[misc]
    return made


# --- reading them ------------------------------------------------------------------------------------------------


def notifications_for(user: Any) -> Select[tuple[Notification]]:
    """The user's notifications, newest first."""
    return (
        select(Notification)
        .where(Notification.recipient_id == user.id)
        .order_by(Notification.created_at.desc(), Notification.id.desc())
    )


def unread_count(session: Session, user: Any) -> int:
    statement = select(func.count()).where(Notification.recipient_id == user.id, Notification.read_at.is_(None))
    return session.scalar(statement) or 0


def text_of(notification: Notification) -> str:
    """The notification in the current language."""
    return render(notification.message, notification.params)


def kind_label(kind: str) -> str:
    label = KIND_LABELS.get(kind)
    return str(label) if label is not None else kind


def mark_all_read(session: Session, *, actor: Any) -> int:
    """Mark the actor's unread notifications read; returns how many."""
    marked = session.execute(
        update(Notification)
        .where(Notification.recipient_id == actor.id, Notification.read_at.is_(None))
        .values(read_at=utcnow())
    )
    count = int(marked.rowcount or 0)  # type: ignore[attr-defined]
    log.info("user %s marked %d notifications read", actor.username, count)
    return count


# --- e-mail ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MailSettings:
    server: str
    port: int
    use_tls: bool
    username: str | None
    password: str | None
    sender: str
    language: str
    timeout: int = 30


@dataclass(frozen=True)
class Letter:
    notification_id: int
    message: EmailMessage


def mail_settings(config: Mapping[str, Any]) -> MailSettings | None:
    """The mail server from the configuration (MAIL_SERVER, MAIL_PORT, MAIL_USE_TLS, MAIL_USERNAME,
    MAIL_PASSWORD, MAIL_FROM), or None when no server is configured: then nothing is mailed."""
    server = (config.get("MAIL_SERVER") or "").strip()
    if not server:
        return None
    tls = config.get("MAIL_USE_TLS")
    return MailSettings(
        server=server,
        port=int(config.get("MAIL_PORT") or 25),
        use_tls=tls if isinstance(tls, bool) else str(tls or "").strip().lower() in {"1", "true", "yes", "on"},
        username=config.get("MAIL_USERNAME") or None,
        password=config.get("MAIL_PASSWORD") or None,
        sender=config.get("MAIL_FROM") or "v6beian@localhost",
        language=config.get("V6BEIAN_LANGUAGE") or "zh_CN",
    )


def letters_for(session: Session, notification_ids: Sequence[int], settings: MailSettings) -> list[Letter]:
    """The e-mails of those notifications not mailed yet whose recipient is active and has an address, written
    in the configured language."""
    letters: list[Letter] = []
    with force_locale(settings.language):
        for ids in chunks(sorted(set(notification_ids)), INSERT_CHUNK):
            rows = session.execute(
                select(Notification, User.email)
                .join(User, User.id == Notification.recipient_id)
                .where(Notification.id.in_(ids), Notification.mailed_at.is_(None), User.active.is_(True))
                .order_by(Notification.id)
            )
            for notification, email in rows:
                if email and email.strip():
                    letters.append(Letter(notification.id, _compose(notification, email.strip(), settings)))
    return letters


def _compose(notification: Notification, address: str, settings: MailSettings) -> EmailMessage:
    params = notification.params or {}
    lines = [text_of(notification)]
    if notification.request_id is not None:
        if params.get("comment"):
            lines += ["", _("The allocator's comment: %(comment)s", comment=params["comment"])]
        link = _link("requests.request_detail", request_id=notification.request_id)
        lines += [
            "",
            _("See the request: %(link)s", link=link) if link else _("Sign in to v6beian to see the request."),
        ]
    else:
        if params.get("comment"):
            lines += ["", _("The reviewer's comment: %(comment)s", comment=params["comment"])]
        link = _link("filing.filing_detail", filing_id=notification.filing_id) if notification.filing_id else None
        lines += ["", _("See the filing: %(link)s", link=link) if link else _("Sign in to v6beian to see the filing.")]
    message = EmailMessage()
    message["Subject"] = render(SUBJECTS.get(notification.kind, "%(block)s"), params)
    message["From"] = settings.sender
    message["To"] = address
    message["Date"] = formatdate(localtime=True)
    message["Message-ID"] = make_msgid(domain=settings.sender.rpartition("@")[2] or None)
    message.set_content("\n".join(lines))
    return message


def _link(endpoint: str, **values: Any) -> str | None:
    """A page's address, when the deployment names its host (SERVER_NAME); else the mail names none."""
    if not current_app.config.get("SERVER_NAME"):
        return None
    try:
        return url_for(endpoint, **values, _external=True)
    except Exception:  # the pages are not registered (a command-line-only set-up)
        return None


def send_letters(settings: MailSettings, letters: Sequence[Letter]) -> list[int]:
    """Send the letters over one SMTP connection; returns the notifications mailed. A refused recipient is
    logged and skipped; a server that cannot be reached is logged and nothing is sent (they stay unmailed)."""
    sent: list[int] = []
    if not letters:
        return sent
    try:
        with smtplib.SMTP(settings.server, settings.port, timeout=settings.timeout) as connection:
            if settings.use_tls:
                connection.starttls(context=ssl.create_default_context())
            if settings.username:
                connection.login(settings.username, settings.password or "")
            for letter in letters:
                try:
                    connection.send_message(letter.message)
                except smtplib.SMTPException:
                    log.warning("notification %s: the mail server refused it", letter.notification_id, exc_info=True)
                    continue
                sent.append(letter.notification_id)
    except (OSError, smtplib.SMTPException):
        log.warning("mail server %s:%s: %d e-mails not sent", settings.server, settings.port,
                    len(letters) - len(sent), exc_info=True)  # fmt: skip
    return sent


def mark_mailed(session: Session, notification_ids: Sequence[int]) -> None:
    for ids in chunks(list(notification_ids), INSERT_CHUNK):
        session.execute(update(Notification).where(Notification.id.in_(ids)).values(mailed_at=utcnow()))
