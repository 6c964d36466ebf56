"""``flask db backup FILE``: a consistent copy of the database while the app goes on writing.

- SQLite: the online backup API copies the database in one step from a read snapshot (WAL lets writers go on
  meanwhile; a backup in several steps would restart after every write of another connection and might never end).
  The copy is switched to a rollback journal, so that it is one self-contained file.
- PostgreSQL: ``pg_dump --format=custom`` (a snapshot too) of the configured database.

The backup is written beside FILE and renamed over it when complete: a failed run never leaves half a backup.

Restore: SQLite, stop the app and copy the file back over the database (removing its ``-wal`` and ``-shm`` files);
PostgreSQL, ``pg_restore --clean --if-exists --no-owner -d <database URL> FILE``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlalchemy.engine import URL, make_url

from core.cli import OneLineCommand, emit_one, json_option
from core.db import SQLITE_BUSY_TIMEOUT_SECONDS
from core.errors import DomainError
from core.messages import message as _l


class BackupFailed(DomainError):
    code = "backup_failed"


@dataclass(frozen=True)
class Backup:
    file: Path
    backend: str
    bytes: int


def back_up(database_url: str, target: Path) -> Backup:
    """Write a backup of the database at ``database_url`` to ``target`` (replaced if it exists)."""
    url = make_url(database_url)
    backend = url.get_backend_name()
    with _written_atomically(target) as partial:
        if backend == "sqlite":
            _back_up_sqlite(_sqlite_path(url, target), partial)
        elif backend == "postgresql":
            _back_up_postgresql(url, partial)
        else:
            raise BackupFailed(_l("Backups of %(backend)s databases are not supported.", backend=backend))
    return Backup(target, backend, target.stat().st_size)


def _sqlite_path(url: URL, target: Path) -> Path:
    source = Path(url.database or "")
    if not source.is_file():
        raise BackupFailed(_l("The SQLite database %(path)s does not exist.", path=str(source)))
    if target.resolve() == source.resolve():
        raise BackupFailed(_l("The backup cannot be written over the database itself."))
    return source


def _back_up_sqlite(source: Path, partial: Path) -> None:
    live = sqlite3.connect(source, timeout=SQLITE_BUSY_TIMEOUT_SECONDS)
    copy = sqlite3.connect(partial)
    try:
        live.backup(copy, pages=-1)
        copy.execute("PRAGMA journal_mode=DELETE")
    finally:
        copy.close()
        live.close()


def _back_up_postgresql(url: URL, partial: Path) -> None:
    pg_dump = shutil.which("pg_dump")
    if pg_dump is None:
        raise BackupFailed(
            _l("pg_dump is not on the PATH: install the PostgreSQL client programs (Debian: postgresql-client).")
        )
    # libpq's URL without SQLAlchemy's driver name; the password goes in the environment, not on the command line.
    conninfo = url.set(drivername="postgresql", password=None).render_as_string(hide_password=False)
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    done = subprocess.run(  # noqa: S603 (a fixed program; the URL is one argument, never parsed by a shell)
        [pg_dump, "--format=custom", "--file", str(partial), "--dbname", conninfo],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        reason = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
        raise BackupFailed(_l("pg_dump failed: %(reason)s", reason=reason))


@contextlib.contextmanager
def _written_atomically(target: Path) -> Iterator[Path]:
    """A file beside ``target`` to write, renamed over ``target`` on success and removed on failure."""
    if not target.parent.is_dir():
        raise BackupFailed(_l("The folder %(path)s does not exist.", path=str(target.parent)))
    handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(handle)
    partial = Path(name)
    try:
        yield partial
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)


@click.command("backup", cls=OneLineCommand)
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@json_option
@with_appcontext
def backup_command(file: Path, as_json: bool) -> None:
    """Back up the database into FILE while the app may be writing (SQLite's backup API; pg_dump on PostgreSQL)."""
    done = back_up(current_app.config["DATABASE_URL"], file)
    emit_one({"file": str(done.file), "backend": done.backend, "bytes": done.bytes}, as_json=as_json)
