"""Roles, tenants and one policy: the route x role matrix, API tokens, lockout, account management, audit."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts import operations
from accounts.choices import Role
from accounts.models import ApiToken, AuditEvent, User
from core import policy
from core.db import utcnow
from core.policy import OPERATOR
from core.security import ANY_SIGNED_IN, access_rule, is_public_endpoint
from ipam.operations import AllocationRequest, add_prefix, allocate_prefixes
from tests.conftest import TEST_PASSWORD, post_form
from tests.support import csrf_token_in, sample_url

ROLES = [r.value for r in Role]


def test_every_route_declares_who_may_reach_it(app: Flask) -> None:
    undeclared = [
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        if not is_public_endpoint(app, rule.endpoint) and access_rule(app, rule.endpoint, method) is None
    ]
    assert undeclared == []


@pytest.mark.parametrize("role", ROLES)
def test_route_by_role_matrix(app: Flask, client: FlaskClient, login_as, role: str) -> None:
    user = login_as(role)
    token = csrf_token_in(client.get("/").get_data(as_text=True))
    checked = 0
    for rule in app.url_map.iter_rules():
        if is_public_endpoint(app, rule.endpoint) or rule.endpoint in {"accounts.logout"}:
            continue
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            declared = access_rule(app, rule.endpoint, method)
            if declared == ANY_SIGNED_IN:
                continue
            allowed = policy.can(user, declared)
            response = client.open(sample_url(rule), method=method, data={"csrf_token": token},
                                   headers={"X-CSRFToken": token})  # fmt: skip
            if allowed:
                assert response.status_code != 403 or response.is_json, (role, method, rule.rule)
            else:
                assert response.status_code == 403, (role, method, rule.rule, response.status_code)
            checked += 1
    assert checked > 0


# --- API tokens ------------------------------------------------------------------------------------------


def make_token(db: Session, user: User, *, read_only: bool = False, days: int = 30) -> tuple[ApiToken, str]:
    token, secret = operations.create_token(db, user, name="sync job", days=days, read_only=read_only, actor=user)
    db.flush()
    return token, secret


def bearer(secret: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {secret}"}


def test_bearer_token_acts_with_the_users_permissions(
    client: FlaskClient, create_user, create_org, db: Session
) -> None:
    carrier = create_org(kind="carrier", code="tok-tel")
    user = create_user(role="carrier", organization=carrier)
    aggregate = add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=carrier)
    _token, secret = make_token(db, user)
    assert client.get("/api/v1/me", headers=bearer(secret)).get_json()["username"] == user.username
    created = client.post(f"/api/v1/prefixes/{aggregate.id}/allocate", json={"length": 48, "holder": "tok-tel"},
                          headers=bearer(secret))  # fmt: skip
    assert created.status_code == 201  # no CSRF token needed: no cookie is involved
    assert "Set-Cookie" not in created.headers
    stored = db.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    assert stored.secret_hash != secret and secret not in (stored.prefix or "") and stored.last_used_at is not None
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "token.use")) is not None


def test_read_only_tokens_cannot_write(client: FlaskClient, create_user, create_org, db: Session) -> None:
    carrier = create_org(kind="carrier", code="ro-tel")
    aggregate = add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=carrier)
    _token, secret = make_token(db, create_user(role="carrier", organization=carrier), read_only=True)
    assert client.get(f"/api/v1/prefixes/{aggregate.id}", headers=bearer(secret)).status_code == 200
    refused = client.post(f"/api/v1/prefixes/{aggregate.id}/allocate", json={"length": 48, "holder": "ro-tel"},
                          headers=bearer(secret))  # fmt: skip
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "read_only_token"


@pytest.mark.parametrize("state", ["expired", "revoked", "garbage", "deactivated"])
def test_unusable_tokens_get_401_json(client: FlaskClient, create_user, db: Session, state: str) -> None:
    user = create_user(role="enterprise")
    token, secret = make_token(db, user)
    if state == "expired":
        token.expires_at = utcnow() - timedelta(seconds=1)
    elif state == "revoked":
        operations.revoke_token(db, token, actor=user)
    elif state == "garbage":
        secret = "v6b_" + "x" * 40
    else:
        user.active = False
    db.flush()
    response = client.get("/api/v1/me", headers=bearer(secret))
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"


def test_another_tenants_objects_are_invisible_to_a_token(
    client: FlaskClient, create_user, create_org, db: Session
) -> None:
    carrier = create_org(kind="carrier", code="tn-tel")
    mine, theirs = create_org(kind="enterprise", code="tn-mine"), create_org(kind="enterprise", code="tn-theirs")
    aggregate = add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=carrier)
    allocate_prefixes(db, aggregate, AllocationRequest(48), holder=mine, actor=OPERATOR)
    (other,) = allocate_prefixes(db, aggregate, AllocationRequest(48), holder=theirs, actor=OPERATOR)
    _token, secret = make_token(db, create_user(role="enterprise", organization=mine))
    for url in (f"/api/v1/prefixes/{other.id}", f"/api/v1/prefixes/{aggregate.id}", "/api/v1/organizations/tn-theirs"):
        assert client.get(url, headers=bearer(secret)).status_code == 404, url
    organizations = client.get("/api/v1/organizations", headers=bearer(secret)).get_json()["items"]
    assert [o["code"] for o in organizations] == ["tn-mine"]
    listed = client.get("/api/v1/prefixes", headers=bearer(secret)).get_json()["items"]
    assert [p["holder"] for p in listed] == ["tn-mine"]


def test_tokens_are_created_shown_once_and_revoked_on_the_account_page(client: FlaskClient, login_as, db) -> None:
    user = login_as("carrier")
    page = post_form(client, "/account", {"token-name": "nightly", "token-days": "30"}, form_page="/account")
    body = page.get_data(as_text=True)
    assert 'data-testid="new-token"' in body
    secret = body.split('data-testid="new-token">')[1].split("<")[0]
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 200
    assert secret not in client.get("/account").get_data(as_text=True)
    token = db.scalar(select(ApiToken).where(ApiToken.user_id == user.id))
    post_form(client, f"/account/tokens/{token.id}/revoke", {}, form_page="/account")
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 401


# --- passwords, lockout, account management ----------------------------------------------------------------


def client_at(app: Flask, address: str) -> FlaskClient:
    browser = app.test_client()
    browser.environ_base["REMOTE_ADDR"] = address
    return browser


def fail_sign_ins(client: FlaskClient, username: str, times: int) -> None:
    for _ in range(times):
        post_form(client, "/login", {"username": username, "password": "wrong password!"})


def test_repeated_failures_make_that_client_wait(app: Flask, client: FlaskClient, create_user) -> None:
    user = create_user(role="carrier")
    fail_sign_ins(client, f" {user.username.upper()} ", app.config["LOGIN_MAX_FAILURES"])
    held = post_form(client, "/login", {"username": user.username, "password": TEST_PASSWORD})
    assert held.status_code == 200 and 'data-testid="form-errors"' in held.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_others_failures_never_block_a_known_browser_or_another_address(
    app: Flask, client: FlaskClient, create_user
) -> None:
    user = create_user(role="carrier", username="victim2")
    assert post_form(client, "/login", {"username": user.username, "password": TEST_PASSWORD}).status_code == 302
    post_form(client, "/logout", {}, form_page="/")
    attacker = client_at(app, "127.0.0.1")  # the same address as the owner
    fail_sign_ins(attacker, "VICTIM2 ", 3 * app.config["LOGIN_MAX_FAILURES"])
    assert post_form(client, "/login", {"username": user.username, "password": TEST_PASSWORD}).status_code == 302
    elsewhere = client_at(app, "192.0.2.77")
    assert post_form(elsewhere, "/login", {"username": user.username, "password": TEST_PASSWORD}).status_code == 302


def test_delays_grow_with_each_failure_up_to_the_longest() -> None:
    from datetime import timedelta

    from accounts.operations import LoginPolicy

    rules = LoginPolicy(max_failures=5, lockout=timedelta(minutes=15), first_delay=timedelta(seconds=30))
    delays = [rules.delay_after(n) for n in range(1, 12)]
    assert delays[:4] == [None] * 4
    assert [d.total_seconds() for d in delays[4:]] == [30, 60, 120, 240, 480, 900, 900]


def test_administrators_see_and_clear_throttles(app: Flask, client: FlaskClient, create_user, login_as) -> None:
    user = create_user(role="carrier")
    stranger = client_at(app, "198.51.100.9")
    fail_sign_ins(stranger, user.username, app.config["LOGIN_MAX_FAILURES"])
    login_as("regulator-admin")
    page = client.get("/users/throttles").get_data(as_text=True)
    assert user.username in page and "address:198.51.100.9" in page
    cleared = post_form(client, "/users/throttles/clear", {"account": user.username, "client": "address:198.51.100.9"},
                        form_page="/users/throttles")  # fmt: skip
    assert cleared.status_code == 302
    assert 'data-testid="throttles"' not in client.get("/users/throttles").get_data(as_text=True)
    assert post_form(stranger, "/login", {"username": user.username, "password": TEST_PASSWORD}).status_code == 302


def test_sign_in_attempts_are_rate_limited_per_address(app: Flask, create_user) -> None:
    app.config["LOGIN_RATE_LIMIT"] = "3 per minute"
    client = app.test_client()
    token = csrf_token_in(client.get("/login").get_data(as_text=True))
    statuses = [client.post("/login", data={"username": f"u{i}", "password": "p", "csrf_token": token}).status_code
                for i in range(5)]  # fmt: skip
    assert statuses[:3] == [200, 200, 200] and statuses[3:] == [429, 429]


def test_password_change_keeps_this_session_and_ends_others(app: Flask, client: FlaskClient, login_as) -> None:
    user = login_as("enterprise")
    other = app.test_client()
    post_form(other, "/login", {"username": user.username, "password": TEST_PASSWORD})
    assert other.get("/").status_code == 200
    new = "another long passphrase"
    response = post_form(client, "/account", {"pw-current": TEST_PASSWORD, "pw-new": new, "pw-confirm": new},
                         form_page="/account")  # fmt: skip
    assert response.status_code == 302
    assert client.get("/").status_code == 200
    assert other.get("/").status_code == 302
    fresh = app.test_client()
    assert post_form(fresh, "/login", {"username": user.username, "password": new}).status_code == 302


def test_password_change_needs_the_current_password(client: FlaskClient, login_as) -> None:
    login_as("enterprise")
    body = post_form(client, "/account", {"pw-current": "not it at all", "pw-new": "another long passphrase",
                                          "pw-confirm": "another long passphrase"}, form_page="/account")  # fmt: skip
    assert 'data-field-error="pw-current"' in body.get_data(as_text=True)


def test_admin_resets_and_deactivates_accounts(client: FlaskClient, login_as, create_user, app: Flask) -> None:
    login_as("regulator-admin")
    target = create_user(role="carrier")
    new = "freshly reset passphrase"
    assert post_form(client, f"/users/{target.username}", {"new": new}).status_code == 302
    assert post_form(app.test_client(), "/login", {"username": target.username, "password": new}).status_code == 302
    post_form(client, f"/users/{target.username}/active", {"active": "0"}, form_page=f"/users/{target.username}")
    refused = post_form(app.test_client(), "/login", {"username": target.username, "password": new})
    assert refused.status_code == 200


def test_admin_creates_a_local_account(client: FlaskClient, login_as, create_org, db: Session) -> None:
    login_as("regulator-admin")
    org = create_org(kind="carrier", code="new-tel")
    response = post_form(client, "/users/new", {"username": "new-carrier", "organization": org.code, "role": "carrier",
                                                "password": "a long enough password"})  # fmt: skip
    assert response.status_code == 302
    assert db.scalar(select(User.role).where(User.username == "new-carrier")) == "carrier"
    weak = post_form(
        client, "/users/new", {"username": "weak", "organization": org.code, "role": "carrier", "password": "short"}
    )
    assert 'data-field-error="password"' in weak.get_data(as_text=True)


# --- audit -----------------------------------------------------------------------------------------------


def test_audit_page_filters_and_exports_csv_safely(client: FlaskClient, login_as, create_org) -> None:
    login_as("regulator-admin")
    create_org(kind="enterprise", code="audit-me", name='=HYPERLINK("http://evil")')
    page = client.get("/audit?object_id=audit-me").get_data(as_text=True)
    assert "organization.create" in page and "auth.login" not in page
    exported = client.get("/audit.csv?object_id=audit-me")
    assert exported.mimetype == "text/csv"
    rows = list(csv.reader(io.StringIO(exported.get_data(as_text=True).lstrip("\ufeff"))))
    assert rows[0][0] == "occurred_at" and len(rows) == 2
    assert all(not cell.startswith("=") for cell in rows[1])


def test_logins_and_failures_are_audited(client: FlaskClient, create_user, db: Session) -> None:
    user = create_user(role="carrier")
    post_form(client, "/login", {"username": user.username, "password": "wrong password!"})
    post_form(client, "/login", {"username": user.username, "password": TEST_PASSWORD})
    actions = db.scalars(select(AuditEvent.action).where(AuditEvent.object_id == user.username)).all()
    assert {"auth.login_failed", "auth.login"} <= set(actions)


def test_rate_limits_can_be_kept_in_redis_for_many_workers(tmp_path) -> None:  # type: ignore[no-untyped-def]

    from app import create_app
    from core import migrate
    from core.extensions import db as database
    from tests.support import fresh_database

    # Its own database: this app commits (failed sign-ins are recorded), which the shared test database must not see.
    with fresh_database("sqlite", tmp_path) as url:
        migrate.upgrade(url)
        _redis_rate_limit_check(create_app, database, url)


def _redis_rate_limit_check(create_app, database, url: str) -> None:  # type: ignore[no-untyped-def]
    import uuid

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "r" * 40, "LOG_LEVEL": "WARNING",
                      "RATELIMIT_STORAGE_URL": "redis://127.0.0.1:6379/0", "LOGIN_RATE_LIMIT": "2 per minute"})  # fmt: skip
    try:
        # A fresh client address per run: the counters live in Redis, beyond this test's lifetime.
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = (
            f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
        )
        token = csrf_token_in(client.get("/login").get_data(as_text=True))
        statuses = [client.post("/login", data={"username": "x", "password": "y", "csrf_token": token}).status_code
                    for _ in range(3)]  # fmt: skip
        assert statuses == [200, 200, 429]
    finally:
        assert database.engine is not None
        database.engine.dispose()


# --- findings of a security review -------------------------------------------------------------------------


def test_a_carrier_cannot_cover_other_organizations_prefixes(client: FlaskClient, create_user, create_org, db) -> None:
    from core.errors import DomainError

    mine, theirs = create_org(kind="carrier", code="cov-mine"), create_org(kind="carrier", code="cov-theirs")
    add_prefix(db, "2001:db8:c000::/34", actor=OPERATOR, kind="allocation", holder=theirs)
    actor = create_user(role="carrier", organization=mine)
    with pytest.raises(DomainError) as refused:
        add_prefix(db, "2001:db8:8000::/33", actor=actor, kind="aggregate", holder=mine)
    assert refused.value.status == 403 and "c000" not in str(refused.value.message)


def test_an_enterprise_records_only_itself_as_holder(create_user, create_org, db) -> None:
    from core.errors import PermissionDenied

    carrier, factory, other = (create_org(kind="carrier"), create_org(kind="enterprise"), create_org(kind="enterprise"))
    aggregate = add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=carrier)
    (site,) = allocate_prefixes(db, aggregate, AllocationRequest(48), holder=factory, actor=OPERATOR)
    actor = create_user(role="enterprise", organization=factory)
    with pytest.raises(PermissionDenied):
        allocate_prefixes(db, site, AllocationRequest(64, kind="subnet"), holder=other, actor=actor)
    assert allocate_prefixes(db, site, AllocationRequest(64, kind="subnet"), holder=factory, actor=actor)


def test_password_change_ends_older_tokens_and_admins_can_revoke_any(
    client: FlaskClient, create_user, login_as, db
) -> None:
    user = create_user(role="carrier")
    _token, secret = make_token(db, user)
    operations.reset_password(db, user, new="a brand new passphrase", actor=OPERATOR)
    db.flush()
    assert client.get("/api/v1/me", headers=bearer(secret)).status_code == 401
    other = create_user(role="carrier")
    token, secret2 = make_token(db, other)
    login_as("regulator-admin")
    post_form(client, f"/account/tokens/{token.id}/revoke", {}, form_page="/account")
    assert client.get("/api/v1/me", headers=bearer(secret2)).status_code == 401


@pytest.mark.parametrize("url", ["/prefixes/99999999999999999999", "/api/v1/prefixes/99999999999999999999",
                                 "/organizations?page=²", "/audit?since=0001-01-01&until=9999-12-31"])  # fmt: skip
def test_extreme_inputs_are_not_server_errors(client: FlaskClient, login_as, url: str) -> None:
    login_as("regulator-admin")
    assert client.get(url).status_code in (200, 404)


def test_behind_a_trusted_proxy_each_client_is_throttled_on_its_own(tmp_path) -> None:
    from accounts.models import LoginThrottle
    from accounts.operations import create_organization, create_user
    from app import create_app
    from core import migrate
    from core.extensions import db as database

    url = f"sqlite:///{tmp_path / 'proxied.db'}"
    migrate.upgrade(url)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "proxy-" + "k" * 40, "TRUSTED_PROXIES": 1,
                      "IMPORT_DIR": str(tmp_path / "imports"), "LOG_LEVEL": "WARNING"})  # fmt: skip
    try:
        with app.app_context(), database.session_scope() as session:
            org = create_organization(session, actor=OPERATOR, kind="carrier", code="proxied", name="代理后")
            create_user(
                session, actor=OPERATOR, username="behind", organization=org, role="carrier", password=TEST_PASSWORD
            )
        outsider, owner = app.test_client(), app.test_client()
        outsider.environ_base["HTTP_X_FORWARDED_FOR"] = "198.51.100.66"
        owner.environ_base["HTTP_X_FORWARDED_FOR"] = "203.0.113.7"
        fail_sign_ins(outsider, "behind", app.config["LOGIN_MAX_FAILURES"] + 2)
        assert post_form(owner, "/login", {"username": "behind", "password": TEST_PASSWORD}).status_code == 302
        with app.app_context(), database.session_scope() as session:
            clients = set(session.scalars(select(LoginThrottle.client)))
        assert clients == {"address:198.51.100.66"}
    finally:
        database.engine.dispose()
