"""Sessions live on the server: logout, password changes, deactivation and administrators end them for good;
idle and absolute limits; directory users' groups are read again while they are signed in."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from accounts import sessions
from accounts.models import ApiToken, User, UserSession
from core.policy import OPERATOR
from tests.conftest import TEST_PASSWORD, post_form
from tests.support import csrf_token_in


def copied_client(app: Flask, client: FlaskClient) -> FlaskClient:
    """Another browser holding a copy of ``client``'s cookies (a stolen or replayed session)."""
    thief = app.test_client()
    for cookie in client._cookies.values():
        thief.set_cookie(cookie.key, cookie.value, domain=cookie.domain, path=cookie.path)
    return thief


def test_a_copied_cookie_stops_working_at_logout(app: Flask, client: FlaskClient, login_as) -> None:
    login_as("carrier")
    thief = copied_client(app, client)
    assert thief.get("/api/v1/me").status_code == 200
    post_form(client, "/logout", {}, form_page="/")
    assert thief.get("/api/v1/me").status_code == 401
    token = csrf_token_in(thief.get("/login").get_data(as_text=True))
    created = thief.post("/account", data={"csrf_token": token, "token-name": "x", "token-days": "5"})
    assert created.status_code == 302 and "/login" in created.headers["Location"]


def test_sessions_end_after_the_idle_time_and_the_lifetime(app: Flask, client: FlaskClient, login_as, db) -> None:
    user = login_as("carrier")
    idle = timedelta(minutes=app.config["SESSION_IDLE_MINUTES"])
    shift_session(db, user.id, last_seen_at=-idle - timedelta(seconds=1))
    assert client.get("/api/v1/me").status_code == 401
    login_as(user)
    assert client.get("/api/v1/me").status_code == 200
    shift_session(db, user.id, expires_at=-timedelta(hours=app.config["SESSION_LIFETIME_HOURS"]))
    assert client.get("/api/v1/me").status_code == 401


def shift_session(db, user_id: int, **shifts: timedelta) -> None:
    for row in db.scalars(select(UserSession).where(UserSession.user_id == user_id)):
        for name, shift in shifts.items():
            setattr(row, name, getattr(row, name) + shift)
    db.commit()


def test_deactivation_ends_sessions_and_tokens_and_reactivation_revives_neither(
    app: Flask, client: FlaskClient, login_as, create_user, db
) -> None:
    from accounts.operations import create_token, set_user_active

    target = create_user(role="carrier")
    _, secret = create_token(db, target, name="script", days=30, read_only=False, actor=target)
    db.commit()
    login_as(target)
    set_user_active(db, target, active=False, actor=OPERATOR)
    set_user_active(db, target, active=True, actor=OPERATOR)
    db.commit()
    assert client.get("/api/v1/me").status_code == 401
    assert app.test_client().get("/api/v1/me", headers={"Authorization": f"Bearer {secret}"}).status_code == 401
    assert db.scalar(select(ApiToken.revoked_at).where(ApiToken.user_id == target.id)) is not None


def test_an_administrator_ends_a_users_sessions(app: Flask, client: FlaskClient, login_as, create_user) -> None:
    target = create_user(role="enterprise")
    theirs = app.test_client()
    assert post_form(theirs, "/login", {"username": target.username, "password": TEST_PASSWORD}).status_code == 302
    login_as("regulator-admin")
    assert 'data-testid="sessions"' in client.get(f"/users/{target.username}").get_data(as_text=True)
    response = post_form(client, f"/users/{target.username}/sessions/end", {}, form_page=f"/users/{target.username}")
    assert response.status_code == 302
    assert theirs.get("/").status_code == 302


def test_sessions_can_live_in_redis(app: Flask, client: FlaskClient, login_as) -> None:
    import redis

    url = "redis://127.0.0.1:6379/14"
    redis.Redis.from_url(url).flushdb()
    sessions.configure(sessions.RedisStore(url))
    try:
        user = login_as("carrier")
        thief = copied_client(app, client)
        assert len(sessions.store().of_user(None, user.id)) == 1  # type: ignore[arg-type]
        assert thief.get("/api/v1/me").status_code == 200
        post_form(client, "/logout", {}, form_page="/")
        assert thief.get("/api/v1/me").status_code == 401
        assert sessions.store().of_user(None, user.id) == []  # type: ignore[arg-type]
    finally:
        sessions.configure(sessions.DatabaseStore())


@pytest.fixture
def ldap_app(app: Flask, directory, create_org) -> Flask:
    create_org(kind="regulator", code="tjca", name="天津市通信管理局")
    app.config.update(directory.settings(LDAP_RECHECK_MINUTES=15))
    return app


def test_a_directory_user_removed_from_the_group_is_out_within_the_recheck_interval(
    ldap_app: Flask, directory, client: FlaskClient, db
) -> None:
    from ldap3 import MODIFY_ADD, MODIFY_DELETE

    from tests.ldap_server import PEOPLE, REGULATORS

    assert post_form(client, "/login", {"username": "alice", "password": "alice-directory-pw"}).status_code == 302
    alice = f"uid=alice,{PEOPLE}"
    directory.modify(REGULATORS, {"member": [(MODIFY_DELETE, [alice])]})
    try:
        assert client.get("/").status_code == 200  # checked at sign-in: not due yet
        user_id = db.scalar(select(User.id).where(User.username == "alice"))
        due = -timedelta(minutes=16)
        shift_session(db, user_id, directory_verified_at=due, directory_checked_at=due)
        assert client.get("/").status_code == 302
    finally:
        directory.modify(REGULATORS, {"member": [(MODIFY_ADD, [alice])]})
