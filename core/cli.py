"""CLI plumbing: one unit of work per command, one clear line on error, tables or JSON on output."""

from __future__ import annotations

import contextlib
import json
import logging
import sys
from collections.abc import Iterator, Sequence
from typing import Any

import click
from flask.cli import AppGroup
from flask_babel import gettext as _
from sqlalchemy.orm import Session

from core.context import Origin, origin
from core.errors import DomainError
from core.extensions import db

json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")


class CommandError(click.ClickException):
    """Printed as one line on stderr; exit status 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def fail(message: str) -> CommandError:
    return CommandError(message)


log = logging.getLogger("v6beian.cli")


class _OneLineErrors:
    """Every command errs in one line: an unexpected exception becomes ``error: …`` on stderr and exit status 1,
    its traceback going to the debug log instead of the terminal."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)  # type: ignore[misc]
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except DomainError as exc:
            raise fail(_field_message(exc)) from None
        except Exception as exc:
            log.debug("command failed", exc_info=True)
            raise fail(f"{type(exc).__name__}: {_first_line(exc)}") from None


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else _("unexpected failure (set LOG_LEVEL=DEBUG for details)")


class CommandGroup(_OneLineErrors, AppGroup):
    """A Flask command group whose commands err in one line."""


class OneLineCommand(_OneLineErrors, click.Command):
    """A stand-alone command that errs in one line."""


# Database ids are 32-bit; a larger number names nothing (and must not overflow the driver).
object_id = click.IntRange(1, 2**31 - 1)


@contextlib.contextmanager
def unit_of_work() -> Iterator[Session]:
    """A CLI command's session: commits when the command succeeds, leaves nothing behind when it fails."""
    with origin(Origin(channel="cli")):
        try:
            with db.session_scope() as session:
                yield session
        except DomainError as exc:
            raise fail(_field_message(exc)) from None


def _field_message(exc: DomainError) -> str:
    if exc.fields:
        details = "; ".join(f"{name}: {' '.join(str(m) for m in msgs)}" for name, msgs in exc.fields.items())
        return details
    return str(exc.message)


def emit(rows: Sequence[dict[str, Any]], columns: Sequence[str], *, as_json: bool) -> None:
    """Print rows as a JSON list or as an aligned table."""
    if as_json:
        click.echo(json.dumps(list(rows), ensure_ascii=False, indent=2, default=str))
        return
    if not rows:
        click.echo(_("(none)"))
        return
    table = [[("" if row.get(c) is None else str(row.get(c))) for c in columns] for row in rows]
    widths = [max(_width(c), *(_width(r[i]) for r in table)) for i, c in enumerate(columns)]
    click.echo("  ".join(_pad(c, w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in table:
        click.echo("  ".join(_pad(v, w) for v, w in zip(row, widths, strict=True)).rstrip())


def emit_one(obj: dict[str, Any], *, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(obj, ensure_ascii=False, indent=2, default=str))
    else:
        for key, value in obj.items():
            click.echo(f"{key}: {'' if value is None else value}")


def _width(value: str) -> int:
    # CJK characters take two columns in a terminal.
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in value)


def _pad(value: str, width: int) -> str:
    return value + " " * (width - _width(value))


def read_secret_from_stdin() -> str:
    value = sys.stdin.readline().rstrip("\r\n")
    if not value:
        raise fail(_("no password on standard input"))
    return value
