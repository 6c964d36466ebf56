"""Local sign-in and sign-out."""

from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import AuditEvent
from tests.conftest import TEST_PASSWORD, post_form


def test_login_page_is_in_chinese_by_default(client: FlaskClient) -> None:
    page = client.get("/login").get_data(as_text=True)
    assert "登录" in page and "用户名" in page


def test_good_login_reaches_the_dashboard(client: FlaskClient, create_user, db: Session) -> None:
    user = create_user(role="regulator")
    response = post_form(client, "/login", {"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert "管理局工作台" in client.get("/").get_data(as_text=True)
    login = db.scalar(
        select(AuditEvent).where(AuditEvent.action == "auth.login", AuditEvent.object_id == user.username)
    )
    assert login.actor_id == user.id


def test_wrong_password_shows_an_error_and_no_session(client: FlaskClient, create_user, db: Session) -> None:
    user = create_user(role="carrier")
    response = post_form(client, "/login", {"username": user.username, "password": "not the password"})
    assert response.status_code == 200
    assert "用户名或密码错误" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302
    failed = db.scalar(
        select(AuditEvent).where(AuditEvent.action == "auth.login_failed", AuditEvent.object_id == user.username)
    )
    assert failed is not None


def test_unknown_user_gets_the_same_message(client: FlaskClient) -> None:
    response = post_form(client, "/login", {"username": "nobody", "password": "whatever-long-enough"})
    assert "用户名或密码错误" in response.get_data(as_text=True)


def test_inactive_account_cannot_sign_in(client: FlaskClient, create_user, db: Session) -> None:
    user = create_user(role="enterprise")
    user.active = False
    db.flush()
    response = post_form(client, "/login", {"username": user.username, "password": TEST_PASSWORD})
    assert response.status_code == 200 and client.get("/").status_code == 302


def test_empty_password_is_refused_beside_the_field(client: FlaskClient, create_user) -> None:
    user = create_user(role="enterprise")
    response = post_form(client, "/login", {"username": user.username, "password": ""})
    assert 'data-field-error="password"' in response.get_data(as_text=True)


def test_login_follows_only_local_next_urls(client: FlaskClient, create_user) -> None:
    user = create_user(role="regulator")
    data = {"username": user.username, "password": TEST_PASSWORD}
    response = post_form(client, "/login?next=//evil.example/x", data, form_page="/login")
    assert response.headers["Location"] == "/"
    client.post("/logout", data={})  # without a token: refused, session untouched
    assert client.get("/").status_code == 200


def test_login_returns_to_the_page_asked_for(client: FlaskClient, create_user) -> None:
    user = create_user(role="regulator")
    redirect = client.get("/organizations")
    assert redirect.headers["Location"] == "/login?next=/organizations"
    response = post_form(
        client, "/login?next=/organizations", {"username": user.username, "password": TEST_PASSWORD}, form_page="/login"
    )
    assert response.headers["Location"] == "/organizations"


def test_logout_clears_the_session(client: FlaskClient, login_as, db: Session) -> None:
    login_as("enterprise")
    response = post_form(client, "/logout", {}, form_page="/")
    assert response.status_code == 302
    assert client.get("/").status_code == 302
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "auth.logout")) is not None


def test_session_cookie_flags(client: FlaskClient, create_user) -> None:
    user = create_user(role="enterprise")
    response = post_form(client, "/login", {"username": user.username, "password": TEST_PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
