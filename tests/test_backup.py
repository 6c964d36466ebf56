"""``flask db backup FILE``: a backup taken while allocations go on restores to a consistent registry."""

from __future__ import annotations

import contextlib
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from app import create_app
from core import migrate
from core.extensions import db
from core.policy import OPERATOR
from ipam.errors import SpaceExhausted
from ipam.models import Prefix
from ipam.operations import AllocationRequest, add_prefix, allocate_prefixes
from ipam.queries import get_prefix
from ipam.space import parse_net
from tests.support import BACKENDS, fresh_database

PARENT = "2001:db8:6600::/40"


def make_app(url: str) -> Flask:
    return create_app({"DATABASE_URL": url, "SECRET_KEY": "backup-" + "k" * 40, "LOG_LEVEL": "WARNING"})


class Allocator(threading.Thread):
    """Allocates /56s from the parent, one committed transaction each, until stopped."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.app, self.done, self.stop = make_app(url), 0, threading.Event()
        self.started_enough = threading.Event()
        self.errors: list[BaseException] = []

    def run(self) -> None:
        with self.app.app_context():
            try:
                while not self.stop.is_set():
                    with db.session_scope() as session:
                        parent = get_prefix(session, parse_net(PARENT))
                        assert parent is not None
                        allocate_prefixes(session, parent, AllocationRequest(56), holder=None, actor=OPERATOR)
                    self.done += 1
                    if self.done >= 20:
                        self.started_enough.set()
            except SpaceExhausted:
                self.started_enough.set()
            except BaseException as exc:  # handed to the test, which fails on it
                self.errors.append(exc)
                self.started_enough.set()


@pytest.fixture(params=BACKENDS)
def live_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated database of its own (the writer thread commits) with one parent to allocate from."""
    (tmp_path / "live").mkdir()
    with fresh_database(request.param, tmp_path / "live") as url:
        migrate.upgrade(url)
        app = make_app(url)
        with app.app_context():
            with db.session_scope() as session:
                add_prefix(session, PARENT, actor=OPERATOR, kind="aggregate", holder=None)
            db.engine.dispose()
        yield url


@contextlib.contextmanager
def restored(backup: Path, url: str, tmp_path: Path) -> Iterator[str]:
    """The backup as a database again, as the README tells an operator to restore it."""
    if url.startswith("sqlite"):
        yield f"sqlite:///{backup}"  # the copy is itself the database file
        return
    with fresh_database("postgresql", tmp_path) as copy:
        libpq = copy.replace("postgresql+psycopg://", "postgresql://")
        subprocess.run(
            ["pg_restore", "--clean", "--if-exists", "--no-owner", "-d", libpq, str(backup)],
            check=True,
            capture_output=True,
        )
        yield copy


def test_a_backup_taken_during_allocations_restores_and_passes_db_check(live_database: str, tmp_path: Path) -> None:
    writer = Allocator(live_database)
    writer.start()
    assert writer.started_enough.wait(30)
    app = make_app(live_database)
    backup = tmp_path / "v6beian.backup"
    try:
        result = app.test_cli_runner().invoke(args=["db", "backup", str(backup), "--json"])
        allocated_before_backup_returned = writer.done
    finally:
        writer.stop.set()
        writer.join(30)
        with app.app_context():
            db.engine.dispose()
        with writer.app.app_context():
            db.engine.dispose()
    assert writer.errors == []
    assert result.exit_code == 0, result.output

    with restored(backup, live_database, tmp_path) as url:
        app = make_app(url)
        checked = app.test_cli_runner().invoke(args=["db", "check"])
        with app.app_context(), db.session_scope(write=False) as session:
            children = session.scalar(select(func.count()).select_from(Prefix).where(Prefix.parent_id.is_not(None)))
        with app.app_context():
            db.engine.dispose()
        assert checked.exit_code == 0, checked.output
        assert 20 <= (children or 0) <= allocated_before_backup_returned


def test_a_backup_is_not_written_over_the_sqlite_database(tmp_path: Path) -> None:
    database = tmp_path / "live.db"
    url = f"sqlite:///{database}"
    migrate.upgrade(url)
    result = make_app(url).test_cli_runner().invoke(args=["db", "backup", str(database)])
    assert result.exit_code == 1
    assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1


def test_a_postgresql_backup_without_pg_dump_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    app = make_app("postgresql+psycopg://postgres@127.0.0.1:5432/nowhere")
    result = app.test_cli_runner().invoke(args=["db", "backup", str(tmp_path / "out.dump")])
    assert result.exit_code == 1
    assert "pg_dump" in result.output and "postgresql-client" in result.output
    assert not (tmp_path / "out.dump").exists()
