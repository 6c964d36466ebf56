"""What the dashboards say about prefix requests: the allocators' turnaround for regulators (median time from the
first submission to the decision, what waits and since when), the request cards of allocators and enterprises,
and the e-mail a request's notification becomes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from accounts.models import Organization, User
from core.db import utcnow
from core.policy import OPERATOR
from filing.models import Notification
from filing.notifications import MailSettings, letters_for
from ipam import prefix_requests as requests
from ipam import request_queries
from ipam.models import PrefixRequest
from ipam.operations import add_prefix
from ipam.space import Strategy
from tests.test_dashboards import element, page_of

VALUES = {"site_count": 1, "prefix_len": 48, "purpose": "新厂区", "locations": ["120116"], "justification": "一个厂区"}


def ask(db: Session, engineer: User, carrier: Organization) -> PrefixRequest:
    request = requests.create_request(db, {**VALUES, "provider": carrier}, actor=engineer)
    requests.submit_request(db, request, actor=engineer)
    return request


def backdate(db: Session, request: PrefixRequest, *, submitted_hours_ago: float) -> None:
    db.execute(
        update(PrefixRequest)
        .where(PrefixRequest.id == request.id)
        .values(submitted_at=utcnow() - timedelta(hours=submitted_hours_ago))
    )
    db.expire(request)


def test_turnaround_is_the_median_from_submission_to_decision_with_what_waits(
    db: Session, create_org: Callable[..., Organization], create_user: Callable[..., User]
) -> None:
    carrier = create_org(kind="carrier", name="快通信")
    pool = add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=carrier)
    carrier_user, engineer = create_user("carrier", organization=carrier), create_user("enterprise")
    for hours in (2, 10, 30):
        request = ask(db, engineer, carrier)
        backdate(db, request, submitted_hours_ago=hours)
        requests.approve_request(db, request, pool=pool, strategy=Strategy.SPARSE, actor=carrier_user)
    waiting = ask(db, engineer, carrier)
    backdate(db, waiting, submitted_hours_ago=50)
    (row,) = request_queries.turnaround(db, now=utcnow())
    assert (row.provider.id, row.decided, row.waiting) == (carrier.id, 3, 1)
    assert row.median_hours is not None and abs(row.median_hours - 10) < 0.1
    assert row.oldest_waiting is not None and abs((utcnow() - row.oldest_waiting).total_seconds() / 3600 - 50) < 0.1


def test_the_regulator_dashboard_shows_each_allocators_turnaround(
    client: FlaskClient, db: Session, login_as: Callable[..., User], create_org: Callable[..., Organization],
    create_user: Callable[..., User],
) -> None:  # fmt: skip
    carrier = create_org(kind="carrier", name="慢通信")
    ask(db, create_user("enterprise"), carrier)
    db.commit()
    login_as("regulator")
    table = element(page_of(client, "/"), "request-turnaround")
    assert "慢通信" in table


def test_the_allocators_dashboard_counts_the_requests_waiting_for_its_decision(
    client: FlaskClient, db: Session, login_as: Callable[..., User], create_org: Callable[..., Organization],
    create_user: Callable[..., User],
) -> None:  # fmt: skip
    carrier = create_org(kind="carrier")
    carrier_user, engineer = create_user("carrier", organization=carrier), create_user("enterprise")
    ask(db, engineer, carrier)
    ask(db, engineer, carrier)
    db.commit()
    login_as(carrier_user)
    assert ">2<" in element(page_of(client, "/"), "count-requests-waiting")


def test_the_enterprises_dashboard_counts_its_requests_with_the_allocator_and_returned(
    client: FlaskClient, db: Session, login_as: Callable[..., User], create_org: Callable[..., Organization],
    create_user: Callable[..., User],
) -> None:  # fmt: skip
    carrier = create_org(kind="carrier")
    carrier_user, engineer = create_user("carrier", organization=carrier), create_user("enterprise")
    ask(db, engineer, carrier)
    requests.return_request(db, ask(db, engineer, carrier), actor=carrier_user, comment="请补充")
    db.commit()
    login_as(engineer)
    page = page_of(client, "/")
    assert ">1<" in element(page, "count-requests-ours")
    assert ">1<" in element(page, "count-requests-returned")
    assert 'data-testid="dashboard-new-request"' in page


def test_a_request_notification_mails_the_allocators_comment_and_a_link_to_the_request(
    app: Flask, db: Session, create_org: Callable[..., Organization], create_user: Callable[..., User]
) -> None:
    carrier = create_org(kind="carrier")
    pool = add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=carrier)
    carrier_user = create_user("carrier", organization=carrier)
    engineer = create_user("enterprise", email="engineer@factory.example.cn")
    request = ask(db, engineer, carrier)
    requests.approve_request(db, request, pool=pool, strategy=Strategy.SPARSE, actor=carrier_user, comment="按稀疏分配")
    notification = db.scalar(select(Notification).where(Notification.recipient_id == engineer.id))
    assert notification is not None and notification.request_id == request.id
    app.config["SERVER_NAME"] = "v6beian.example.cn"
    settings = MailSettings(server="localhost", port=25, use_tls=False, username=None, password=None,
                            sender="v6beian@example.cn", language="en")  # fmt: skip
    with app.test_request_context():
        (letter,) = letters_for(db, [notification.id], settings)
    body = letter.message.get_content()
    assert "was approved: 2001:db8::/48" in body and "按稀疏分配" in body
    assert f"/requests/{request.id}" in body
    assert letter.message["Subject"] == f"Prefix request #{request.id} approved"
