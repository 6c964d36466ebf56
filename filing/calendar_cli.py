"""``flask calendar …``: due dates by working days, and the holiday table that completes the official calendar.

Exit status: 0 done; 1 refused (a row of a holiday file, an unknown day), nothing changed; 2 a bad argument or
an unreadable file, in one line.
"""

from __future__ import annotations

import json
import sys
from datetime import date
from pathlib import Path

import click
from flask_babel import gettext as _

from core.cli import CommandGroup, emit, json_option, unit_of_work
from core.extensions import db
from core.messages import N_
from core.policy import OPERATOR
from filing.calendar import (
    FIRST_YEAR,
    LAST_YEAR,
    MAX_DUE_DAYS,
    HolidayFileInvalid,
    UnreadableHolidayFile,
    due_date,
    import_holidays,
    list_holidays,
    parse_date,
    remove_holiday,
    set_holiday,
)
from filing.cli import calendar_cli, usage_error
from filing.models import Holiday

PROVISIONAL_NOTE = N_(
    "%(day)s PROVISIONAL: it counts days of a year whose official calendar is not known yet (Monday to Friday "
    "were counted); enter that year's holidays to fix it."
)
EXIT_REFUSED = 1


def _date_argument(text: str) -> date:
    day = parse_date(text)
    if day is None or not FIRST_YEAR <= day.year <= LAST_YEAR:
        message = _("%(value)s is not a date from %(first)d to %(last)d (write YYYY-MM-DD).", value=text,
                    first=FIRST_YEAR, last=LAST_YEAR)  # fmt: skip
        usage_error(message)
    return day


def _days_argument(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 6) or int(text) > MAX_DUE_DAYS:
        usage_error(_("%(value)s is not a number of working days from 0 to %(max)d.", value=text, max=MAX_DUE_DAYS))
    return int(text)


# A negative number of days is an argument to refuse in one line, not an unknown option.
@calendar_cli.command("due", context_settings={"ignore_unknown_options": True})
@click.argument("start")
@click.argument("days")
@json_option
def due(start: str, days: str, as_json: bool) -> None:
    """The DAYS-th working day after START (START itself is day 0)."""
    start_day, count = _date_argument(start), _days_argument(days)
    with db.session_scope(write=False) as session:
        result = due_date(session, start_day, count)
    if as_json:
        click.echo(json.dumps({"due": result.on.isoformat(), "provisional": result.provisional}))
    elif result.provisional:
        click.echo(_(PROVISIONAL_NOTE, day=result.on.isoformat()))
    else:
        click.echo(result.on.isoformat())


@calendar_cli.group("holidays", cls=CommandGroup)
def holidays() -> None:
    """The holiday table: days off and make-up working days (调休) entered by hand; they win over the package."""


def _holiday_row(holiday: Holiday) -> dict[str, object]:
    return {"date": holiday.day.isoformat(), "working": holiday.working, "name": holiday.name,
            "updated_by": holiday.updated_by}  # fmt: skip


def _kind(working: bool) -> str:
    return _("working day") if working else _("day off")


@holidays.command("list")
@click.option("--year", type=click.IntRange(1, 9999), default=None, help="Only this year's days.")
@json_option
def list_command(year: int | None, as_json: bool) -> None:
    """The table's days, by date."""
    with db.session_scope(write=False) as session:
        rows = [_holiday_row(h) for h in list_holidays(session, year)]
    if not as_json:
        rows = [{**row, "working": _kind(bool(row["working"]))} for row in rows]
    emit(rows, ["date", "working", "name", "updated_by"], as_json=as_json)


@holidays.command("import")
@click.argument("file")
def import_command(file: str) -> None:
    """Enter every day of FILE, a CSV with the header date,working,name (or 日期,类型,名称); all or nothing."""
    try:
        data = Path(file).read_bytes()
    except OSError as exc:
        usage_error(_("cannot read %(file)s: %(reason)s", file=file, reason=exc.strerror or type(exc).__name__))
    with unit_of_work() as session:
        try:
            count = import_holidays(session, data, actor=OPERATOR)
        except UnreadableHolidayFile as exc:
            usage_error(f"{file}: {exc.fields['file'][0]}")
        except HolidayFileInvalid as exc:
            for line, problem in exc.problems:
                click.echo("error: " + _("Line %(line)d: %(problem)s", line=line, problem=problem), err=True)
            click.echo(_("nothing was imported"), err=True)
            sys.exit(EXIT_REFUSED)
    click.echo(_("%(count)d days imported into the holiday table", count=count))


@holidays.command("set")
@click.argument("day")
@click.option("--working/--off", "working", default=None, help="A make-up working day (调休), or a day off.")
@click.option("--name", default="", help="What the day is, e.g. 春节.")
def set_command(day: str, working: bool | None, name: str) -> None:
    """Enter DAY in the table as a working day or a day off."""
    entry_day = _date_argument(day)
    if working is None:
        usage_error(_("say --working or --off"))
    with unit_of_work() as session:
        holiday = set_holiday(session, entry_day, working, name, actor=OPERATOR)
        line = f"{holiday.day.isoformat()} {_kind(holiday.working)} {holiday.name}".rstrip()
    click.echo(line)


@holidays.command("remove")
@click.argument("day")
def remove_command(day: str) -> None:
    """Take DAY out of the table (the package or Monday to Friday decide it again)."""
    entry_day = _date_argument(day)
    with unit_of_work() as session:
        remove_holiday(session, entry_day, actor=OPERATOR)
    click.echo(_("%(day)s removed", day=entry_day.isoformat()))
