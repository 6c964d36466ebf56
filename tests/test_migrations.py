"""Alembic migrations: reversible on both databases, and no drift from the models."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from core import migrate
from core.db import Base, make_engine
from core.models import import_all_models
from tests.support import BACKENDS, fresh_database


@pytest.fixture(params=BACKENDS)
def empty_database(request: pytest.FixtureRequest, tmp_path: Path):
    with fresh_database(request.param, tmp_path) as url:
        yield url


def tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(sa.inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(empty_database: str) -> None:
    migrate.upgrade(empty_database)
    assert {"organization", "user_account", "audit_event", "prefix", "free_block"} <= tables(empty_database)
    migrate.downgrade(empty_database, "base")
    assert tables(empty_database) == set()
    migrate.upgrade(empty_database)
    assert {"organization", "user_account", "audit_event", "prefix", "free_block"} <= tables(empty_database)


def test_models_and_migrations_do_not_drift(empty_database: str) -> None:
    migrate.upgrade(empty_database)
    import_all_models()
    engine = make_engine(empty_database)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "include_object": migrate.include_object}
            )
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()
