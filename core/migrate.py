"""``flask db …``: a thin wrapper over Alembic's command API, configured from the app."""

from __future__ import annotations

from pathlib import Path

import click
from alembic import command
from alembic.config import Config
from flask import current_app

from core.backup import backup_command
from core.cli import CommandGroup

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """What autogenerate compares. The GiST index behind PostgreSQL's exclusion constraint is created by raw
    SQL in migration 0002 and has no model counterpart."""
    return not (type_ == "index" and name == "ex_prefix_siblings_overlap")


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # Alembic's ini syntax interpolates %; escape it so passwords with % survive.
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


db_cli = CommandGroup("db", help="The database: migrations (Alembic), backups and the registry's consistency check.")


def _config() -> Config:
    return alembic_config(current_app.config["DATABASE_URL"])


@db_cli.command("upgrade")
@click.argument("revision", default="head")
def upgrade_command(revision: str) -> None:
    """Upgrade the schema to REVISION (default: head)."""
    command.upgrade(_config(), revision)


@db_cli.command("downgrade")
@click.argument("revision", default="-1")
def downgrade_command(revision: str) -> None:
    """Downgrade the schema to REVISION (default: one step back; 'base' removes everything)."""
    command.downgrade(_config(), revision)


@db_cli.command("current")
def current_command() -> None:
    """Show the schema revision the database is at."""
    command.current(_config(), verbose=False)


@db_cli.command("revision")
@click.option("-m", "--message", required=True, help="What the migration does.")
@click.option("--autogenerate/--empty", default=True, help="Compare the models with the database.")
def revision_command(message: str, autogenerate: bool) -> None:
    """Create a new migration script in migrations/versions."""
    command.revision(_config(), message=message, autogenerate=autogenerate)


db_cli.add_command(backup_command)
