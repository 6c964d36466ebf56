"""Organization pages: regulator admins manage, regulators read, others see only their own."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.models import AuditEvent, Organization
from core.policy import OPERATOR
from tests.conftest import post_form

GOOD = {
    "kind": "enterprise",
    "code": "jg-test",
    "name": "测试智能制造有限公司",
    "uscc": "91120000103100784F",
    "division_code": "120116",
}


def count(db: Session, model: type) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def test_admin_creates_an_organization_with_an_audit_event(client: FlaskClient, login_as, db: Session) -> None:
    login_as("regulator-admin")
    response = post_form(client, "/organizations/new", GOOD)
    assert response.status_code == 302 and response.headers["Location"] == "/organizations/jg-test"
    org = db.scalar(select(Organization).where(Organization.code == "jg-test"))
    assert org is not None and org.uscc == GOOD["uscc"]
    event = db.scalar(
        select(AuditEvent).where(AuditEvent.action == "organization.create", AuditEvent.object_id == "jg-test")
    )
    assert event.object_id == "jg-test" and event.changes["uscc"] == [None, GOOD["uscc"]]
    assert event.request_id and event.channel == "web"
    page = client.get("/organizations/jg-test").get_data(as_text=True)
    assert "测试智能制造有限公司" in page and "organization.create" in page


def test_bad_uscc_is_shown_beside_the_field_and_nothing_is_saved(client: FlaskClient, login_as, db: Session) -> None:
    login_as("regulator-admin")
    orgs, events = count(db, Organization), count(db, AuditEvent)
    response = post_form(client, "/organizations/new", {**GOOD, "uscc": "91120000103100784A"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'data-field-error="uscc"' in body and "校验位错误" in body
    assert count(db, Organization) == orgs and count(db, AuditEvent) == events


def test_duplicate_code_and_uscc_are_refused(client: FlaskClient, login_as, create_org) -> None:
    create_org(code="jg-test", uscc=GOOD["uscc"])
    login_as("regulator-admin")
    body = post_form(client, "/organizations/new", GOOD).get_data(as_text=True)
    assert 'data-field-error="code"' in body and 'data-field-error="uscc"' in body


def test_unknown_division_is_refused(client: FlaskClient, login_as) -> None:
    login_as("regulator-admin")
    body = post_form(client, "/organizations/new", {**GOOD, "division_code": "129999"}).get_data(as_text=True)
    assert 'data-field-error="division_code"' in body


def test_admin_edits_an_organization(client: FlaskClient, login_as, create_org, db: Session) -> None:
    org = create_org(code="edit-me", name="旧名称")
    login_as("regulator-admin")
    response = post_form(
        client, f"/organizations/{org.code}/edit", {"kind": "enterprise", "code": "edit-me", "name": "新名称"}
    )
    assert response.status_code == 302
    db.expire_all()
    assert db.get(Organization, org.id).name == "新名称"
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "organization.update"))
    assert event.changes == {"name": ["旧名称", "新名称"]}


def test_regulator_reads_but_cannot_create(client: FlaskClient, login_as, create_org) -> None:
    org = create_org()
    login_as("regulator")
    assert client.get("/organizations").status_code == 200
    assert client.get(f"/organizations/{org.code}").status_code == 200
    assert client.get("/organizations/new").status_code == 403
    assert client.get(f"/organizations/{org.code}/edit").status_code == 403


def test_member_sees_only_its_own_organization(client: FlaskClient, login_as, create_org) -> None:
    other = create_org(kind="enterprise")
    user = login_as("enterprise")
    assert client.get(f"/organizations/{user.organization.code}").status_code == 200
    assert client.get(f"/organizations/{other.code}").status_code == 404  # the same answer as for a missing code
    assert client.get("/organizations/no-such-code").status_code == 404
    assert client.get(f"/organizations/{user.organization.code.upper()}").status_code == 200
    assert client.get("/organizations").status_code == 403


def test_an_organization_kind_must_fit_its_members_roles(create_org, create_user, db) -> None:
    from accounts.operations import update_organization
    from core.errors import ValidationFailed

    carrier = create_org(kind="carrier", code="kind-change")
    create_user(role="carrier", organization=carrier, username="stays-carrier")
    with pytest.raises(ValidationFailed) as refused:
        update_organization(db, carrier, actor=OPERATOR, kind="enterprise")
    assert "stays-carrier" in str(refused.value.fields["kind"][0])


def test_list_filters_by_text_and_kind_and_paginates(client: FlaskClient, login_as, create_org, app) -> None:
    for n in range(3):
        create_org(kind="carrier", code=f"carrier-x{n}", name=f"运营商{n}")
    login_as("regulator")
    app.config["PAGE_SIZE"] = 2
    page = client.get("/organizations?kind=carrier&q=carrier-x").get_data(as_text=True)
    assert "carrier-x0" in page and "carrier-x1" in page and "carrier-x2" not in page
    assert "第 1 / 2 页" in page
    page2 = client.get("/organizations?kind=carrier&q=carrier-x&page=2").get_data(as_text=True)
    assert "carrier-x2" in page2


def test_dashboard_shows_real_counts(client: FlaskClient, login_as, db: Session) -> None:
    login_as("regulator")
    page = client.get("/").get_data(as_text=True)
    assert f'data-testid="count-organizations">{count(db, Organization)}<' in page


def test_member_dashboard_shows_its_organization(client: FlaskClient, login_as) -> None:
    user = login_as("carrier")
    page = client.get("/").get_data(as_text=True)
    assert user.organization.name in page and user.username in page
