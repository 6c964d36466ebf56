"""Alembic environment: the metadata of every domain package, the URL from the app's configuration."""

from __future__ import annotations

from alembic import context

from core.db import Base, UTCDateTime, make_engine
from core.migrate import include_object
from core.models import import_all_models
from ipam.models import CidrType

import_all_models()
target_metadata = Base.metadata
config = context.config


def render_item(type_: str, obj: object, autogen_context) -> str | bool:  # type: ignore[no-untyped-def]
    """Render the project's column types by their import path in generated migrations."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        autogen_context.imports.add("import core.db")
        return "core.db.UTCDateTime()"
    if type_ == "type" and isinstance(obj, CidrType):
        autogen_context.imports.add("import ipam.models")
        return "ipam.models.CidrType()"
    return False


def run_migrations_offline() -> None:
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        render_item=render_item,
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
