"""One engine per application, one Session per request or CLI command.

Operations receive the Session as an argument and only ``flush()``; whoever opened the session (the request
cycle, a CLI command, a job) owns the single commit or rollback.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, DateTime, Engine, LargeBinary, MetaData, Table, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

if TYPE_CHECKING:
    from flask import Flask

# Constraint names are spelled out so that Alembic migrations are identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SQLITE_BUSY_TIMEOUT_SECONDS = 60
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite keeps no zone, PostgreSQL does)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


# Tables of one transaction's work (an import's staging, a change set): created on the connection, never migrated.
_temporary = MetaData()


def temporary_table(name: str, *columns: Any) -> Any:
    return Table(name, _temporary, *columns, prefixes=["TEMPORARY"])


def recreate_tables(connection: Connection, tables: Iterable[Any]) -> None:
    """Empty temporary ``tables`` on this connection (dropping any a failed run left)."""
    drop_tables(connection, tables)
    for table in tables:
        table.create(connection)


def drop_tables(connection: Connection, tables: Iterable[Any]) -> None:
    for table in reversed(list(tables)):
        table.drop(connection, checkfirst=True)


def one_of(column: str, values: type[Enum], *, nullable: bool = False) -> str:
    """A CHECK constraint's text: ``column`` holds one of an enum's values (or NULL)."""
    listed = f"{column} IN ({', '.join(repr(v.value) for v in values)})"
    return f"{column} IS NULL OR {listed}" if nullable else listed


def utcnow() -> datetime:
    return datetime.now(UTC)


def make_engine(url: str, *, busy_timeout: int = SQLITE_BUSY_TIMEOUT_SECONDS, **kwargs: Any) -> Engine:
    """Create an engine with the connection settings both databases need. ``busy_timeout``: how many seconds a
    SQLite writer waits for the write lock (longer than the longest write transaction: an import's apply)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database in (None, "", ":memory:"):
            raise ValueError("v6beian needs a file-backed SQLite database (WAL, several connections)")
        engine = create_engine(url, **kwargs)
        _configure_sqlite(engine, busy_timeout * 1000)
        return engine
    # PostgreSQL's JIT compiler is off: it sets in when the planner overestimates a query (an organization's tree
    # roots, a million-child space map) and then spends 0.1-0.3 s compiling what runs in less.
    return create_engine(url, pool_pre_ping=True, connect_args={"options": "-c jit=off"}, **kwargs)


def _configure_sqlite(engine: Engine, busy_timeout_ms: int) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from the sqlite3 module so that BEGIN is ours to issue.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # A write that must be serialized takes SQLite's write lock up front (see ``write_session``);
        # starting deferred and upgrading later is what produces "database is locked" under load.
        mode = connection.get_execution_options().get("sqlite_begin", "DEFERRED")
        connection.exec_driver_sql(f"BEGIN {mode}")


def begin_serialized_write(session: Session) -> None:
    """Start the session's transaction so that concurrent writers queue instead of failing.

    On SQLite this issues ``BEGIN IMMEDIATE``; on PostgreSQL callers lock the rows they depend on
    (``SELECT ... FOR UPDATE``), so nothing is needed here. Must be called before the session's first
    statement; inside an already open transaction it does nothing.
    """
    if session.in_transaction():
        return
    if session.get_bind().dialect.name == "sqlite":
        session.connection(execution_options={"sqlite_begin": "IMMEDIATE"})


class Database:
    """The application's engine and session factory, set up by ``init_app``."""

    def __init__(self) -> None:
        self.engine: Engine | None = None
        self.session_factory: sessionmaker[Session] = sessionmaker(expire_on_commit=False)

    def init_app(self, app: Flask) -> None:
        self.engine = make_engine(app.config["DATABASE_URL"], busy_timeout=app.config["SQLITE_BUSY_TIMEOUT_SECONDS"])
        self.session_factory.configure(bind=self.engine)
        app.extensions["v6beian.db"] = self
        app.after_request(self._finish_request)
        app.teardown_appcontext(self._close_request_session)

    @property
    def session(self) -> Session:
        """The current request's session, opened on first use."""
        from flask import g

        if "db_session" not in g:
            from flask import has_request_context, request

            g.db_session = self.session_factory()
            if has_request_context() and request.method not in SAFE_METHODS:
                begin_serialized_write(g.db_session)
        return g.db_session

    @staticmethod
    def _finish_request(response: Any) -> Any:
        """The request owns the commit: successful responses commit, anything else rolls back.

        Committing here, before the response leaves, means a failed commit becomes an error page instead of
        a success page for work that was lost.
        """
        from flask import g

        session: Session | None = g.get("db_session")
        if session is not None:
            if response.status_code < 400 and not g.get("db_rollback_only"):
                session.commit()
            else:
                session.rollback()
        return response

    @staticmethod
    def _close_request_session(_exc: BaseException | None) -> None:
        from flask import g

        session: Session | None = g.pop("db_session", None)
        if session is not None:
            session.close()

    @contextlib.contextmanager
    def pinned_connection(self) -> Iterator[Connection]:
        """One connection for a job's several transactions: its temporary tables (and PostgreSQL session locks)
        live as long as the connection, across commits."""
        bind = self.session_factory.kw.get("bind")
        if isinstance(bind, Connection):  # already pinned (the test suite binds every session to one)
            yield bind
            return
        assert self.engine is not None
        with self.engine.connect() as connection:
            yield connection

    @contextlib.contextmanager
    def session_scope(self, *, connection: Connection | None = None, write: bool = True) -> Iterator[Session]:
        """A unit of work outside a request (CLI command, job): commit on success, rollback on error.

        ``write=False`` reads without taking SQLite's write lock (the work may still write temporary tables);
        ``connection`` runs it on a pinned connection (``pinned_connection``)."""
        session = self.session_factory(bind=connection) if connection is not None else self.session_factory()
        try:
            if write:
                begin_serialized_write(session)
            elif session.get_bind().dialect.name == "sqlite" and not session.in_transaction():
                session.connection(execution_options={"sqlite_begin": "DEFERRED"})
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()


def database_backend(url: str) -> str:
    return make_url(url).get_backend_name()


def chunks(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """``items`` in lists of ``size``. Callers that read rows from an open cursor of the same connection feed
    ``bulk_insert`` a chunk at a time: PostgreSQL's COPY holds the connection while it runs."""
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def bulk_insert(session: Session, table: Any, columns: list[str], rows: Any, chunk: int = 50_000) -> int:
    """Insert many rows fast inside the session's transaction: COPY on PostgreSQL, ``executemany`` elsewhere.

    ``rows`` is an iterable of tuples in ``columns`` order; it is consumed in chunks, never held whole.
    """
    session.flush()
    connection = session.connection()
    count = 0
    if connection.dialect.name == "postgresql":
        raw = connection.connection.driver_connection
        names = ", ".join(f'"{c}"' for c in columns)
        with raw.cursor() as cursor, cursor.copy(f'COPY "{table.name}" ({names}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
                count += 1
        return count
    # Straight to the driver's executemany: the column types' bind processing is applied here once per value,
    # without building a statement per row.
    dialect = connection.dialect
    processors = [
        None if isinstance(table.c[name].type, LargeBinary) else table.c[name].type._cached_bind_processor(dialect)
        for name in columns
    ]
    names = ", ".join(f'"{column}"' for column in columns)  # quoted: a column may be named like a keyword
    sql = f'INSERT INTO "{table.name}" ({names}) VALUES ({", ".join("?" for _ in columns)})'  # noqa: S608 (names from the metadata)
    cursor = connection.connection.driver_connection.cursor()
    batch: list[tuple[Any, ...]] = []
    converted = [(i, p) for i, p in enumerate(processors) if p is not None]
    try:
        for row in rows:
            if converted:
                row = list(row)
                for i, processor in converted:
                    if row[i] is not None:
                        row[i] = processor(row[i])
            batch.append(row)
            if len(batch) >= chunk:
                cursor.executemany(sql, batch)
                count += len(batch)
                batch = []
        if batch:
            cursor.executemany(sql, batch)
            count += len(batch)
    finally:
        cursor.close()
    return count


def analyze_tables(session: Session, tables: list[str]) -> None:
    """Refresh the query planner's statistics (allowed inside a transaction on both databases)."""
    for name in tables:
        session.execute(text(f'ANALYZE "{name}"'))
