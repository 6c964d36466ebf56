"""Fixtures in the flaskr style: app, client, runner, db, factories and sign-in helpers.

Every fixture that touches the database is parametrized over SQLite and PostgreSQL. The schema is built once
per backend by running the Alembic migrations; each test runs inside a transaction that is rolled back.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from argon2 import PasswordHasher
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from accounts import operations, passwords
from accounts.models import Organization, User
from app import create_app
from core import migrate
from core.extensions import db as database
from core.extensions import limiter
from core.policy import OPERATOR
from tests.browser_support import browser, live_server, page, prepared_demos  # noqa: F401 (the browser tests' shared world)
from tests.filing_support import world  # noqa: F401 (a fixture the filing tests share)
from tests.ldap_server import Directory, start_directory
from tests.support import BACKENDS, csrf_token_in, fresh_database

# The tests (and the processes they start) use the documentation prefixes, as the demo does.
os.environ.setdefault("ALLOW_DOCUMENTATION_PREFIXES", "true")
# The API fuzzer (tests/fuzz) runs with `make fuzz` only.
collect_ignore = [] if os.environ.get("V6BEIAN_FUZZ") else ["fuzz"]

TEST_PASSWORD = "correct horse battery staple"
TEST_SECRET = "test-secret-" + "x" * 40


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing() -> None:
    # Production parameters cost ~50 ms a hash; the tests hash hundreds of passwords.
    passwords._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


@pytest.fixture(scope="session")
def directory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Directory]:
    """A real OpenLDAP server for the session; when slapd cannot start, the tests that need it fail."""
    server = start_directory(tmp_path_factory.mktemp("slapd"))
    yield server
    server.stop()


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_database(request.param, tmp_path_factory.mktemp(request.param)) as url:
        migrate.upgrade(url)
        yield url


@pytest.fixture
def backend(database_url: str) -> str:
    return "sqlite" if database_url.startswith("sqlite") else "postgresql"


def _test_app(database_url: str, import_dir: Path) -> Flask:
    return create_app(
        {
            "TESTING": True,
            "DATABASE_URL": database_url,
            "SECRET_KEY": TEST_SECRET,
            "V6BEIAN_LANGUAGE": "zh_CN",
            "IMPORT_DIR": str(import_dir),
            "IMPORT_JOBS_IMMEDIATE": True,
        }
    )


@dataclass(frozen=True)
class BuiltApp:
    """An application as it was built, and the shared extensions' state its building left."""

    app: Flask
    config: dict[str, Any]
    engine: Engine
    limiter_state: dict[str, Any]


@pytest.fixture(scope="session")
def built_app(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[BuiltApp]:
    """One application per database for the session. Building one (its routes, its API reference) takes about
    0.1 s, and two thousand tests need one; ``app`` hands it to each test as it was built."""
    app = _test_app(database_url, tmp_path_factory.mktemp("imports"))
    assert database.engine is not None
    built = BuiltApp(app, dict(app.config), database.engine, dict(limiter.__dict__))
    yield built
    built.engine.dispose()


@pytest.fixture
def app(request: pytest.FixtureRequest, built_app: BuiltApp, database_url: str, tmp_path: Path) -> Iterator[Flask]:
    """The application on a transaction that is rolled back after the test. It is the session's, restored to
    how it was built (settings, the engine, rate-limit state); a test marked ``own_app`` (one that adds routes)
    gets an application of its own."""
    import_dir = tmp_path / "imports"
    if request.node.get_closest_marker("own_app"):
        app = _test_app(database_url, import_dir)
    else:
        app = built_app.app
        app.config.clear()
        app.config.update(built_app.config, IMPORT_DIR=str(import_dir))
        import_dir.mkdir()
        # Another test may have built an application of its own, which re-pointed the shared extensions.
        database.engine = built_app.engine
        limiter.__dict__.update(built_app.limiter_state)
        limiter.reset()
    app.instance_path = str(tmp_path / "instance")
    engine = database.engine
    assert engine is not None
    connection = engine.connect()
    outer = connection.begin()
    # Commits inside the test (requests, CLI commands) release savepoints; the test's work is rolled back.
    database.session_factory.configure(bind=connection, join_transaction_mode="create_savepoint")
    try:
        yield app
    finally:
        outer.rollback()
        connection.close()
        if app is not built_app.app:
            engine.dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def db(app: Flask) -> Iterator[Session]:
    """A session on the test's transaction, for arranging data and checking results.

    No application context stays pushed: each request of the test client must get its own (and its own ``g``).
    """
    session = database.session_factory()
    try:
        yield session
    finally:
        session.close()


@pytest.fixture
def create_org(db: Session) -> Callable[..., Organization]:
    counter = iter(range(1, 10_000))

    def create(kind: str = "enterprise", code: str | None = None, **values: Any) -> Organization:
        n = next(counter)
        org = operations.create_organization(
            db,
            actor=OPERATOR,
            kind=kind,
            code=code or f"{kind[:3]}-{n}",
            name=values.pop("name", f"测试单位{n}"),
            **values,
        )
        db.flush()
        return org

    return create


@pytest.fixture
def create_user(db: Session, create_org: Callable[..., Organization]) -> Callable[..., User]:
    org_kind_for_role = {
        "regulator": "regulator",
        "regulator-admin": "regulator",
        "carrier": "carrier",
        "allocator": "allocator",
        "enterprise": "enterprise",
    }
    counter = iter(range(1, 10_000))

    def create(role: str = "enterprise", organization: Organization | None = None, **values: Any) -> User:
        n = next(counter)
        user = operations.create_user(
            db,
            actor=OPERATOR,
            username=values.pop("username", f"{role}-user-{n}"),
            organization=organization or create_org(kind=org_kind_for_role[role]),
            role=role,
            password=values.pop("password", TEST_PASSWORD),
            **values,
        )
        db.flush()
        return user

    return create


def post_form(client: FlaskClient, url: str, data: dict[str, Any], *, form_page: str | None = None, **kwargs: Any):
    """Submit a form as a browser does: read the CSRF token from the page, then post."""
    form = client.get(form_page or url)
    token = csrf_token_in(form.get_data(as_text=True))
    return client.post(url, data={**data, "csrf_token": token}, **kwargs)


@pytest.fixture
def login_as(client: FlaskClient, create_user: Callable[..., User]) -> Callable[..., User]:
    def login(role_or_user: str | User = "enterprise", password: str = TEST_PASSWORD) -> User:
        user = role_or_user if isinstance(role_or_user, User) else create_user(role=role_or_user)
        response = post_form(client, "/login", {"username": user.username, "password": password})
        assert response.status_code == 302, response.get_data(as_text=True)
        return user

    return login
