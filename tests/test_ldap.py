"""Directory sign-in against a real OpenLDAP server (Debian's slapd, started for the session)."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.ldap import LdapSettings, authenticate
from accounts.models import AuditEvent, User
from tests.conftest import post_form
from tests.ldap_server import ADMINS, PEOPLE, REGULATORS, Directory


@pytest.fixture
def ldap_app(app: Flask, directory: Directory, create_org) -> Flask:
    create_org(kind="regulator", code="tjca", name="天津市通信管理局")
    app.config.update(directory.settings())
    return app


def sign_in(client: FlaskClient, username: str, password: str):  # type: ignore[no-untyped-def]
    return post_form(client, "/login", {"username": username, "password": password})


def test_directory_login_creates_the_user_with_the_right_role(ldap_app, client: FlaskClient, db: Session) -> None:
    response = sign_in(client, "alice", "alice-directory-pw")
    assert response.status_code == 302
    user = db.scalar(select(User).where(User.username == "alice"))
    assert user.role == "regulator" and user.auth_source == "ldap" and user.password_hash is None
    assert user.display_name == "审核员 爱丽丝" and user.email == "alice@tjca.example"
    assert "管理局工作台" in client.get("/").get_data(as_text=True)


def test_admin_group_gives_regulator_admin(ldap_app, client: FlaskClient, db: Session) -> None:
    sign_in(client, "bob", "bob-directory-pw")
    assert db.scalar(select(User.role).where(User.username == "bob")) == "regulator-admin"


@pytest.mark.parametrize(("username", "password"), [("alice", "wrong"), ("nobody", "whatever-it-is")])
def test_wrong_password_and_unknown_user_look_the_same(ldap_app, client: FlaskClient, username, password) -> None:
    body = sign_in(client, username, password).get_data(as_text=True)
    assert "用户名或密码错误" in body
    assert client.get("/").status_code == 302


def test_empty_password_never_reaches_a_bind(directory: Directory) -> None:
    settings = LdapSettings.from_config(directory.settings())
    assert settings is not None
    from accounts.ldap import DirectoryRefused

    with pytest.raises(DirectoryRefused):
        authenticate(settings, "alice", "")


@pytest.mark.parametrize(
    "username", ["*", "admin)(|(uid=*", "*)(uid=*))(|(uid=*", "\\00", "alice\x00", "a" * 5000, "al*", "(uid=alice)"]
)
def test_injection_strings_get_nobody_in(ldap_app, client: FlaskClient, username: str, db: Session) -> None:
    for password in ("alice-directory-pw", "x"):
        response = sign_in(client, username, password)
        assert response.status_code in (200, 400)  # NUL bytes are refused at the door
    assert client.get("/").status_code == 302
    assert db.scalar(select(User).where(User.auth_source == "ldap")) is None


def test_non_ascii_username(ldap_app, client: FlaskClient, db: Session) -> None:
    assert sign_in(client, "张三", "zhangsan-directory-pw").status_code == 302
    assert db.scalar(select(User.role).where(User.username == "张三")) == "regulator"


def test_user_in_no_group_is_refused_with_a_clear_message(ldap_app, client: FlaskClient, db: Session) -> None:
    body = sign_in(client, "carol", "carol-directory-pw").get_data(as_text=True)
    assert "不在 v6beian 的用户组" in body or "v6beian" in body
    assert db.scalar(select(User).where(User.username == "carol")) is None


def test_group_removal_demotes_at_the_next_login(
    ldap_app, directory: Directory, client: FlaskClient, db: Session
) -> None:
    from ldap3 import MODIFY_ADD, MODIFY_DELETE

    sign_in(client, "bob", "bob-directory-pw")
    assert db.scalar(select(User.role).where(User.username == "bob")) == "regulator-admin"
    bob = f"uid=bob,{PEOPLE}"
    directory.modify(ADMINS, {"member": [(MODIFY_DELETE, [bob])]})
    directory.modify(REGULATORS, {"member": [(MODIFY_ADD, [bob])]})
    try:
        other = ldap_app.test_client()
        assert sign_in(other, "bob", "bob-directory-pw").status_code == 302
        db.expire_all()
        assert db.scalar(select(User.role).where(User.username == "bob")) == "regulator"
        directory.modify(REGULATORS, {"member": [(MODIFY_DELETE, [bob])]})
        third = ldap_app.test_client()
        assert sign_in(third, "bob", "bob-directory-pw").status_code == 200  # in no group now: refused
    finally:
        directory.modify(ADMINS, {"member": [(MODIFY_ADD, [bob])]})
    changes = db.scalars(select(AuditEvent.action).where(AuditEvent.object_id == "bob")).all()
    assert "user.update" in changes


def test_first_server_down_second_used(ldap_app, directory: Directory, client: FlaskClient) -> None:
    ldap_app.config["LDAP_URL"] = f"ldap://127.0.0.1:1 {directory.url}"
    assert sign_in(client, "alice", "alice-directory-pw").status_code == 302


def test_all_servers_down_says_the_directory_is_unavailable(ldap_app, client: FlaskClient) -> None:
    ldap_app.config["LDAP_URL"] = "ldap://127.0.0.1:1 ldap://127.0.0.1:2"
    body = sign_in(client, "alice", "alice-directory-pw").get_data(as_text=True)
    assert "目录服务暂时不可用" in body


def test_break_glass_local_admin_works_with_the_directory_down(ldap_app, client: FlaskClient, create_user, db) -> None:
    from accounts.models import Organization

    org = db.scalar(select(Organization).where(Organization.code == "tjca"))
    admin = create_user(role="regulator-admin", organization=org, username="break-glass")
    ldap_app.config["LDAP_URL"] = "ldap://127.0.0.1:1"
    from tests.conftest import TEST_PASSWORD

    assert sign_in(client, admin.username, TEST_PASSWORD).status_code == 302


def test_login_page_mentions_the_directory_only_when_configured(app: Flask, client: FlaskClient, directory) -> None:
    assert 'data-testid="directory-hint"' not in client.get("/login").get_data(as_text=True)
    app.config.update(directory.settings())
    assert 'data-testid="directory-hint"' in client.get("/login").get_data(as_text=True)


def test_no_password_is_logged(ldap_app, client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    sign_in(client, "alice", "alice-directory-pw")
    sign_in(ldap_app.test_client(), "alice", "a-wrong-password-xyz")
    assert "alice-directory-pw" not in caplog.text and "a-wrong-password-xyz" not in caplog.text


def test_fixture_config_points_at_a_real_server(directory: Directory) -> None:
    assert Path("/usr/sbin/slapd").exists() and directory.process.poll() is None


def test_directory_names_ignore_case_for_accounts_and_lockout(ldap_app, client: FlaskClient, db: Session) -> None:
    assert sign_in(client, "Alice", "alice-directory-pw").status_code == 302
    user = db.scalar(select(User).where(User.username == "alice"))
    assert user is not None and db.scalar(select(User).where(User.username == "Alice")) is None
    user.active = False
    db.flush()
    for spelling in ("alice", "ALICE", "aLiCe"):
        assert sign_in(ldap_app.test_client(), spelling, "alice-directory-pw").status_code == 200
    for spelling in ("ALIce", "alicE", "AlIcE"):
        sign_in(ldap_app.test_client(), spelling, "wrong")
    failures = db.scalars(select(AuditEvent.object_id).where(AuditEvent.action == "auth.login_failed")).all()
    assert set(failures) == {"alice"}


# -- settings ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "host", "port", "ssl", "base"),
    [
        ("ldap://dir.example:389/", "dir.example", 389, False, ""),
        ("ldap://dir.example", "dir.example", 389, False, ""),
        ("ldaps://[2001:db8::10]:1636/", "2001:db8::10", 1636, True, ""),
        ("ldaps://[::1]", "::1", 636, True, ""),
        (
            "ldap://dir.example/ou=people,dc=tjca?uid?sub?(objectClass=*)",
            "dir.example",
            389,
            False,
            "ou=people,dc=tjca",
        ),
        ("LDAP://Dir.Example:10389/dc=a%2Cb", "dir.example", 10389, False, "dc=a,b"),
    ],
)
def test_ldap_urls_are_read_by_rfc_4516(url: str, host: str, port: int, ssl: bool, base: str) -> None:
    from accounts.ldap import parse_ldap_url

    server = parse_ldap_url(url)
    assert (server.host, server.port, server.ssl, server.base) == (host, port, ssl, base)


@pytest.mark.parametrize("url", ["http://dir.example", "ldap://", "ldap://dir.example:99999/", "ldap://dir:port/"])
def test_a_bad_ldap_url_stops_the_app_with_one_line(database_url: str, tmp_path: Path, url: str) -> None:
    from app import create_app

    with pytest.raises(SystemExit) as stopped:
        create_app({"DATABASE_URL": database_url, "SECRET_KEY": "s" * 40, "LDAP_URL": url,
                    "IMPORT_DIR": str(tmp_path)})  # fmt: skip
    message = str(stopped.value)
    assert "\n" not in message and "LDAP_URL" in message and url in message


def test_a_trailing_slash_in_the_url_signs_in(ldap_app, directory: Directory, client: FlaskClient) -> None:
    ldap_app.config["LDAP_URL"] = directory.url + "/"
    assert sign_in(client, "alice", "alice-directory-pw").status_code == 302


def test_the_regulator_organization_code_ignores_case(ldap_app, client: FlaskClient) -> None:
    ldap_app.config["LDAP_ORG"] = "TJCA"
    assert sign_in(client, "alice", "alice-directory-pw").status_code == 302


def test_an_ldap_org_naming_nobody_is_a_clear_refusal_and_shows_on_healthz(ldap_app, client: FlaskClient) -> None:
    ldap_app.config["LDAP_ORG"] = "no-such-regulator"
    response = sign_in(client, "alice", "alice-directory-pw")
    assert response.status_code == 200 and "LDAP_ORG" in response.get_data(as_text=True)
    health = client.get("/healthz")
    assert health.status_code == 503 and "no-such-regulator" in health.get_json()["problems"][0]


def test_a_user_in_both_groups_gets_the_admin_role(
    ldap_app, directory: Directory, client: FlaskClient, db: Session
) -> None:
    from ldap3 import MODIFY_ADD, MODIFY_DELETE

    alice = f"uid=alice,{PEOPLE}"
    directory.modify(ADMINS, {"member": [(MODIFY_ADD, [alice])]})  # the memberof overlay follows
    try:
        assert sign_in(client, "alice", "alice-directory-pw").status_code == 302
        assert db.scalar(select(User.role).where(User.username == "alice")) == "regulator-admin"
    finally:
        directory.modify(ADMINS, {"member": [(MODIFY_DELETE, [alice])]})


@pytest.mark.parametrize(
    ("url", "reason"),
    [("http://dir.example", "ldap:// or ldaps://"), ("ldap://dir.example:99999/", "1 to 65535"),
     ("ldap://:389/", "no host"), ("ldap://user:pw@dir.example/", "do not belong")],
)  # fmt: skip
def test_a_bad_ldap_url_says_what_is_wrong(url: str, reason: str) -> None:
    from accounts.ldap import parse_ldap_url

    with pytest.raises(ValueError, match=reason):
        parse_ldap_url(url)


def test_usernames_longer_than_the_limit_never_reach_the_directory(directory: Directory) -> None:
    from accounts.ldap import MAX_USERNAME_LENGTH, DirectoryRefused, DirectoryUnavailable, lookup

    settings = LdapSettings.from_config(directory.settings(LDAP_URL="ldap://127.0.0.1:1"))
    with pytest.raises(DirectoryUnavailable):  # at the limit: the directory is asked (and is down)
        authenticate(settings, "a" * MAX_USERNAME_LENGTH, "pw")
    with pytest.raises(DirectoryRefused):
        authenticate(settings, "a" * (MAX_USERNAME_LENGTH + 1), "pw")
    assert lookup(settings, "a" * (MAX_USERNAME_LENGTH + 1)) is None


def test_lookup_reads_the_account_and_its_groups_without_a_password(directory: Directory) -> None:
    from accounts.ldap import lookup, role_for

    settings = LdapSettings.from_config(directory.settings())
    account = lookup(settings, "bob")
    assert account is not None and account.username == "bob" and role_for(settings, account) == "regulator-admin"
    assert lookup(settings, "nobody-here") is None and lookup(settings, "") is None


def test_a_directory_user_still_in_the_group_stays_signed_in_at_the_recheck(
    ldap_app, client: FlaskClient, db: Session
) -> None:
    from datetime import timedelta

    from accounts.models import UserSession

    assert sign_in(client, "alice", "alice-directory-pw").status_code == 302
    row = db.scalars(select(UserSession)).one()
    due = timedelta(minutes=16)
    row.directory_verified_at, row.directory_checked_at = (
        row.directory_verified_at - due,
        row.directory_checked_at - due,
    )
    db.commit()
    assert client.get("/").status_code == 200
    db.expire_all()
    assert db.scalars(select(UserSession)).one().directory_verified_at > row.created_at
