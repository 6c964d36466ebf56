"""Notifications: the reviewer's decisions reach the filer's users (and nobody else), the deadline reminders go out
once each, e-mail goes through the configured mail server after the commit, and each user reads their own."""

from __future__ import annotations

import email
import email.policy
import json
import socketserver
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_babel import force_locale
from sqlalchemy import select

from accounts.models import AuditEvent, User
from accounts.operations import set_user_active
from core.config import ConfigurationError
from core.errors import PermissionDenied
from core.policy import OPERATOR
from filing import operations
from filing.calendar import load_calendar
from filing.models import Filing, Notification
from filing.notifications import send_reminders, text_of
from filing.permissions import FILING_REMINDER
from filing.tasks import daily_at, reminder_hour, run_daily
from tests.conftest import TEST_PASSWORD
from tests.filing_support import FilingWorld
from tests.support import csrf_token_in

# --- a mail server that keeps what it is sent ---------------------------------------------------------------------


@dataclass
class Mailbox:
    port: int
    messages: list[email.message.EmailMessage] = field(default_factory=list)
    recipients: list[list[str]] = field(default_factory=list)


class _SMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: greeting, EHLO, MAIL, RCPT, DATA, QUIT."""

    mailbox: Mailbox

    def reply(self, line: str) -> None:
        self.wfile.write(f"{line}\r\n".encode())

    def handle(self) -> None:
        self.reply("220 fake.example ESMTP")
        recipients: list[str] = []
        while line := self.rfile.readline():
            verb = line[:4].decode("ascii", "replace").upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 fake.example")
            elif verb == "RCPT":
                recipients.append(line.decode().split(":", 1)[1].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with .")
                data = bytearray()
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                self.mailbox.messages.append(email.message_from_bytes(bytes(data), policy=email.policy.default))
                self.mailbox.recipients.append(recipients)
                recipients = []
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:  # MAIL, RSET, NOOP
                self.reply("250 OK")


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    handler = type("Handler", (_SMTPHandler,), {})
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    handler.mailbox = Mailbox(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler.mailbox
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def context(app: Flask) -> Iterator[Flask]:
    with app.app_context():
        yield app


def notifications(world: FilingWorld, **where: Any) -> list[Notification]:
    statement = select(Notification).filter_by(**where).order_by(Notification.id)
    return list(world.db.scalars(statement))


def sign_in(client: FlaskClient, user: User) -> str:
    token = csrf_token_in(client.get("/login").get_data(as_text=True))
    answer = client.post("/login", data={"username": user.username, "password": TEST_PASSWORD, "csrf_token": token})
    assert answer.status_code == 302
    return csrf_token_in(client.get("/filings/notifications").get_data(as_text=True))  # the signed-in session's


# --- decisions -------------------------------------------------------------------------------------------------------


def test_a_decision_notifies_the_active_users_of_the_filer_only(world: FilingWorld, create_user: Any) -> None:
    colleague = create_user(role="carrier", organization=world.carrier)
    departed = create_user(role="carrier", organization=world.carrier)
    set_user_active(world.db, departed, active=False, actor=OPERATOR)
    holding = world.carrier_holding()
    told = notifications(world)
    assert sorted(n.recipient_id for n in told) == sorted([world.carrier_user.id, colleague.id])
    assert {(n.kind, n.filing_id, n.key) for n in told} == {("approved", holding.id, None)}
    with force_locale("en"):
        assert text_of(told[0]) == f"Your filing of 2001:db8::/32 was approved; its filing number is {holding.number}."


def test_a_returned_filing_tells_the_reviewers_comment(world: FilingWorld) -> None:
    draft = world.submitted(world.carrier, "holding", "2001:db8::/32")
    operations.return_filing(world.db, draft, actor=world.regulator, comment="附上 APNIC 的分配证明")
    (told,) = notifications(world)
    assert told.kind == "returned" and told.params["comment"] == "附上 APNIC 的分配证明"
    with force_locale("en"):
        assert text_of(told) == "Your filing of 2001:db8::/32 was returned for correction."


def test_a_refused_change_says_the_approved_filing_stands(world: FilingWorld) -> None:
    holding = world.carrier_holding()
    operations.change_filing(world.db, holding, {"remarks": "moved"}, actor=world.carrier_user)
    operations.reject_filing(world.db, holding, actor=world.regulator, reason="no evidence")
    refused = notifications(world, kind="rejected")
    assert [n.params["comment"] for n in refused] == ["no evidence"]
    with force_locale("en"):
        assert "the approved filing stands" in text_of(refused[0]) and holding.number in text_of(refused[0])


# --- reminders -------------------------------------------------------------------------------------------------------


def day_before_due(world: FilingWorld, filing: Filing, working_days: int) -> Any:
    """A day from which ``filing`` is due in exactly ``working_days`` working days."""
    calendar = load_calendar(world.db)
    day = filing.due_on
    while calendar.working_days_between(day, filing.due_on) < working_days:
        day -= timedelta(days=1)
    return day


def test_reminders_go_out_once(world: FilingWorld) -> None:
    draft = world.draft(world.carrier, "holding", "2001:db8::/32")
    soon = day_before_due(world, draft, 3)
    assert send_reminders(world.db, today=soon, actor=FILING_REMINDER) == 1
    assert send_reminders(world.db, today=soon, actor=FILING_REMINDER) == 0
    assert send_reminders(world.db, today=draft.due_on, actor=FILING_REMINDER) == 0  # still the same deadline
    late = draft.due_on + timedelta(days=1)
    assert send_reminders(world.db, today=late, actor=FILING_REMINDER) == 1
    assert send_reminders(world.db, today=late + timedelta(days=30), actor=FILING_REMINDER) == 0
    sent = notifications(world)
    assert [(n.kind, n.recipient_id) for n in sent] == [("due_soon", world.carrier_user.id),
                                                        ("overdue", world.carrier_user.id)]  # fmt: skip
    with force_locale("en"):
        assert text_of(sent[0]) == (f"Your filing of 2001:db8::/32 is due on {draft.due_on.isoformat()} "
                                    "(working days left: 3).")  # fmt: skip
    trail = world.db.scalars(select(AuditEvent).where(AuditEvent.action == "filing.remind")).all()
    assert [(e.object_id, e.actor_name) for e in trail] == [(str(draft.id), "system:filing-reminder")] * 2


def test_a_deadline_four_working_days_away_is_not_reminded_yet(world: FilingWorld) -> None:
    draft = world.draft(world.carrier, "holding", "2001:db8::/32")
    assert send_reminders(world.db, today=day_before_due(world, draft, 4), actor=FILING_REMINDER) == 0
    assert notifications(world) == []


def test_filings_no_longer_with_the_filer_are_not_reminded(world: FilingWorld) -> None:
    submitted = world.submitted(world.carrier, "holding", "2001:db8::/32")
    assert send_reminders(world.db, today=submitted.due_on + timedelta(days=1), actor=FILING_REMINDER) == 0


def test_a_returned_filing_is_reminded_to_every_user_of_its_filer(world: FilingWorld, create_user: Any) -> None:
    colleague = create_user(role="carrier", organization=world.carrier)
    returned = world.submitted(world.carrier, "holding", "2001:db8::/32")
    operations.return_filing(world.db, returned, actor=world.regulator, comment="fix the source")
    late = returned.due_on + timedelta(days=1)
    assert send_reminders(world.db, today=late, actor=FILING_REMINDER) == 2
    overdue = notifications(world, kind="overdue")
    assert sorted(n.recipient_id for n in overdue) == sorted([world.carrier_user.id, colleague.id])


def test_only_the_reminder_job_and_the_operator_send_reminders(world: FilingWorld) -> None:
    for person in (world.regulator, world.admin, world.carrier_user):
        with pytest.raises(PermissionDenied):
            send_reminders(world.db, today=datetime.now().date(), actor=person)
    assert send_reminders(world.db, today=datetime.now().date(), actor=OPERATOR) == 0


def test_filing_remind_prints_how_many_were_sent(world: FilingWorld, runner: FlaskCliRunner) -> None:
    draft = world.draft(world.carrier, "holding", "2001:db8::/32")
    world.db.commit()
    late = (draft.due_on + timedelta(days=1)).isoformat()
    first = runner.invoke(args=["filing", "remind", "--date", late, "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output) == {"date": late, "sent": 1}
    again = runner.invoke(args=["filing", "remind", "--date", late])
    assert again.exit_code == 0 and late in again.output and " 0 " in again.output  # once each: none the second time
    assert runner.invoke(args=["filing", "remind", "--date", "2026-02-30"]).exit_code == 2


def test_the_daily_run_is_due_at_the_configured_hour_china_time(app: Flask) -> None:
    at_eight = daily_at(8, utc=True)
    assert at_eight(datetime(2026, 3, 2, 0, 0))  # 08:00 in Beijing
    assert not at_eight(datetime(2026, 3, 2, 0, 1)) and not at_eight(datetime(2026, 3, 2, 8, 0))
    queue = app.extensions["import_queue"]
    due = [task.name for task in queue.read_periodic(datetime(2026, 3, 2, 0, 0))]
    assert any(name.endswith("daily_filing_run") for name in due)
    assert not any(t.name.endswith("daily_filing_run") for t in queue.read_periodic(datetime(2026, 3, 2, 1, 0)))


def test_the_daily_run_reminds_as_the_reminder_job(world: FilingWorld, context: Flask) -> None:
    draft = world.draft(world.carrier, "holding", "2001:db8::/32")
    world.db.commit()
    assert run_daily(today=draft.due_on + timedelta(days=1)) == {"reminders": 1, "swept": 0}
    (event,) = world.db.scalars(select(AuditEvent).where(AuditEvent.action == "filing.remind"))
    assert event.actor_name == "system:filing-reminder" and event.channel == "job"


@pytest.mark.parametrize("hour", [-1, 24, "eight"])
def test_a_reminder_hour_that_is_not_an_hour_stops_the_start(hour: Any) -> None:
    with pytest.raises(ConfigurationError):
        reminder_hour({"FILING_REMINDER_HOUR": hour})


# --- e-mail -----------------------------------------------------------------------------------------------------------


def test_decisions_are_mailed_after_the_commit_when_a_mail_server_is_configured(
    world: FilingWorld, context: Flask, mailbox: Mailbox, create_user: Any
) -> None:
    context.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=mailbox.port, MAIL_FROM="beian@tjca.example")
    world.carrier_user.email = "filer@carrier.example"
    create_user(role="carrier", organization=world.carrier)  # no address: told in the app only
    draft = world.submitted(world.carrier, "holding", "2001:db8::/32")
    operations.return_filing(world.db, draft, actor=world.regulator, comment="附上分配证明")
    assert mailbox.messages == []  # nothing leaves before the step is committed
    world.db.commit()
    (letter,) = mailbox.messages
    assert mailbox.recipients == [["filer@carrier.example"]]
    assert letter["From"] == "beian@tjca.example" and "2001:db8::/32" in letter["Subject"]
    body = letter.get_content()
    assert "2001:db8::/32" in body and "附上分配证明" in body
    mailed = {n.recipient_id: n.mailed_at for n in notifications(world)}
    assert mailed[world.carrier_user.id] is not None and len([m for m in mailed.values() if m is None]) == 1


def test_nothing_is_mailed_without_a_mail_server(world: FilingWorld, context: Flask, mailbox: Mailbox) -> None:
    world.carrier_user.email = "filer@carrier.example"
    world.carrier_holding()
    world.db.commit()
    assert mailbox.messages == [] and [n.mailed_at for n in notifications(world)] == [None]


def test_a_decision_rolled_back_mails_nothing(world: FilingWorld, context: Flask, mailbox: Mailbox) -> None:
    context.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=mailbox.port)
    world.carrier_user.email = "filer@carrier.example"
    draft = world.submitted(world.carrier, "holding", "2001:db8::/32")
    world.db.commit()
    operations.approve_filing(world.db, world.db.get(Filing, draft.id), actor=world.regulator)
    world.db.rollback()
    world.db.commit()
    assert mailbox.messages == []


def test_an_unreachable_mail_server_does_not_undo_the_decision(world: FilingWorld, context: Flask) -> None:
    with socketserver.TCPServer(("127.0.0.1", 0), socketserver.BaseRequestHandler) as closed:
        port = closed.server_address[1]  # a port nothing listens on once the server is closed
    context.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=port)
    world.carrier_user.email = "filer@carrier.example"
    holding = world.carrier_holding()
    world.db.commit()
    assert world.db.get(Filing, holding.id).state == "approved"
    assert [n.mailed_at for n in notifications(world)] == [None]


def test_reminders_are_mailed_once(world: FilingWorld, context: Flask, mailbox: Mailbox) -> None:
    context.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=mailbox.port)
    world.carrier_user.email = "filer@carrier.example"
    draft = world.draft(world.carrier, "holding", "2001:db8::/32")
    late = draft.due_on + timedelta(days=1)
    send_reminders(world.db, today=late, actor=FILING_REMINDER)
    world.db.commit()
    send_reminders(world.db, today=late, actor=FILING_REMINDER)
    world.db.commit()
    assert len(mailbox.messages) == 1 and "2001:db8::/32" in mailbox.messages[0]["Subject"]


# --- the pages --------------------------------------------------------------------------------------------------------


def test_the_notifications_page_shows_the_unread_and_marks_them_all_read(
    world: FilingWorld, client: FlaskClient
) -> None:
    holding = world.carrier_holding()
    world.db.commit()
    token = sign_in(client, world.carrier_user)
    page = client.get("/filings/notifications").get_data(as_text=True)
    assert 'data-unread="true"' in page and "2001:db8::/32" in page and f'href="/filings/{holding.id}"' in page
    assert 'data-testid="mark-all-read"' in page
    answer = client.post("/filings/notifications/read", data={"csrf_token": token})
    assert answer.status_code == 302
    page = client.get("/filings/notifications").get_data(as_text=True)
    assert 'data-unread="false"' in page and 'data-unread="true"' not in page
    assert 'data-testid="mark-all-read"' not in page


def test_each_user_reads_only_their_own_notifications(world: FilingWorld, client: FlaskClient) -> None:
    world.carrier_holding()
    world.db.commit()
    token = sign_in(client, world.other_carrier_user)
    page = client.get("/filings/notifications").get_data(as_text=True)
    assert 'data-testid="no-notifications"' in page and "2001:db8::/32" not in page
    assert client.post("/filings/notifications/read", data={"csrf_token": token}).status_code == 302
    assert [n.read_at for n in notifications(world)] == [None]


def test_the_newest_notification_comes_first(world: FilingWorld, client: FlaskClient) -> None:
    draft = world.submitted(world.carrier, "holding", "2001:db8::/32")
    operations.return_filing(world.db, draft, actor=world.regulator, comment="first")
    operations.submit_filing(world.db, draft, actor=world.carrier_user)
    operations.approve_filing(world.db, draft, actor=world.regulator)
    world.db.commit()
    sign_in(client, world.carrier_user)
    page = client.get("/filings/notifications").get_data(as_text=True)
    assert page.index('data-kind="approved"') < page.index('data-kind="returned"')


def test_the_navigation_badge_counts_the_unread(world: FilingWorld, client: FlaskClient) -> None:
    world.carrier_holding()
    world.db.commit()
    token = sign_in(client, world.carrier_user)
    page = client.get("/").get_data(as_text=True)
    assert 'data-testid="unread-count">1<' in page and 'href="/filings/notifications"' in page
    assert client.post("/filings/notifications/read", data={"csrf_token": token}).status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert 'data-testid="notification-badge"' in page and 'data-testid="unread-count"' not in page
