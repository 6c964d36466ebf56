"""The working-day calendar's database side: the holiday table, the deadline settings and the filing number's
prefix. Reads take no actor; every change takes one, checks ``MANAGE_FILING_SETTINGS``, is audited and flushed
(the caller commits).

Deadlines of many filings at once (a bulk import's drafts) load the rules once with ``deadline_rules`` and ask
them per filing: the calendar caches its answers per date.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import IO, Any

from flask import current_app, has_app_context
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from accounts.audit import diff, record_event, record_events
from core import policy
from core.errors import NotFound, ValidationFailed
from core.messages import Message
from core.messages import message as _l
from filing.models import FilingSetting, Holiday
from filing.permissions import Action
from filing.workdays import Due, WorkingCalendar

log = logging.getLogger(__name__)

FILING_DEADLINE_DAYS = "filing_deadline_days"
REVIEW_DEADLINE_DAYS = "review_deadline_days"
NUMBER_PREFIX = "number_prefix"
SETTING_NAMES = (FILING_DEADLINE_DAYS, REVIEW_DEADLINE_DAYS, NUMBER_PREFIX)
DEFAULT_FILING_DEADLINE_DAYS = 20  # the decree's number, unless the deployment configures FILING_DEADLINE_DAYS
DEFAULT_REVIEW_DEADLINE_DAYS = 10
DEFAULT_NUMBER_PREFIX = "津IP备"
MAX_DEADLINE_DAYS = 365
MAX_DUE_DAYS = 1000  # the due-date calculator and ``calendar due``: years ahead, never near date.max
MAX_PREFIX_LENGTH = 16
MAX_NAME_LENGTH = 100  # Holiday.name
# A holiday file is a year's schedule or a few: a few dozen rows each.
MAX_FILE_BYTES = 256 * 1024
MAX_FILE_ROWS = 1000
FIRST_YEAR, LAST_YEAR = 2000, 2099


# --- the calendar ----------------------------------------------------------------------------------------


# Filing operations keep the calendar and the settings for the rest of their session (``Session.info``).
CACHE_KEY = "filing.cache"


def forget_cached(session: Session) -> None:
    """The calendar or the settings changed: the session's filing work reads them again."""
    session.info.pop(CACHE_KEY, None)


@event.listens_for(Session, "after_commit")
@event.listens_for(Session, "after_rollback")
def _forget_at_the_end_of_a_transaction(session: Session) -> None:
    # Another transaction may change them next: a long-lived session (a worker's) reads them again.
    forget_cached(session)


def load_calendar(session: Session) -> WorkingCalendar:
    """The official calendar with the holiday table on top (one query; the table is small)."""
    return WorkingCalendar({day: working for day, working in session.execute(select(Holiday.day, Holiday.working))})


def due_date(session: Session, start: date, days: int) -> Due:
    """The ``days``-th working day after ``start`` (day 0)."""
    return load_calendar(session).add_working_days(start, days)


@dataclass(frozen=True)
class FilingSettings:
    filing_deadline_days: int
    review_deadline_days: int
    number_prefix: str


@dataclass(frozen=True)
class DeadlineRules:
    """The calendar and the settings, loaded once for many deadlines."""

    calendar: WorkingCalendar
    settings: FilingSettings

    def filing_due(self, allocated_or_changed_on: date) -> Due:
        return self.calendar.add_working_days(allocated_or_changed_on, self.settings.filing_deadline_days)

    def review_due(self, submitted_on: date) -> Due:
        return self.calendar.add_working_days(submitted_on, self.settings.review_deadline_days)


def deadline_rules(session: Session) -> DeadlineRules:
    return DeadlineRules(load_calendar(session), get_settings(session))


# --- the holiday table -----------------------------------------------------------------------------------


def list_holidays(session: Session, year: int | None = None) -> list[Holiday]:
    statement = select(Holiday).order_by(Holiday.day)
    if year is not None:
        statement = statement.where(Holiday.day.between(date(year, 1, 1), date(year, 12, 31)))
    return list(session.scalars(statement))


def table_years(session: Session) -> list[int]:
    """The years the table holds entries for: their official calendar counts as known."""
    return sorted({day.year for day in session.scalars(select(Holiday.day))})


def _holiday_state(holiday: Holiday | None) -> dict[str, Any]:
    return {} if holiday is None else {"working": holiday.working, "name": holiday.name}


def _name_problem(name: str) -> Message | None:
    if len(name) > MAX_NAME_LENGTH:
        return _l("At most %(max)d characters.", max=MAX_NAME_LENGTH)
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        return _l("The name holds a control character.")
    return None


def _year_problem(day: date) -> Message | None:
    if not FIRST_YEAR <= day.year <= LAST_YEAR:
        return _l("Give a date from %(first)d to %(last)d.", first=FIRST_YEAR, last=LAST_YEAR)
    return None


def set_holiday(session: Session, day: date, working: bool, name: str, *, actor: policy.Actor) -> Holiday:
    """Enter ``day`` in the table as a working day (a make-up day, 调休) or a day off; it wins over the package."""
    policy.require(actor, Action.MANAGE_FILING_SETTINGS)
    name = name.strip()
    checks = (("day", _year_problem(day)), ("name", _name_problem(name)))
    problems = {field_name: [problem] for field_name, problem in checks if problem is not None}
    if problems:
        raise ValidationFailed(next(iter(problems.values()))[0], fields=problems)
    holiday = session.get(Holiday, day)
    before = _holiday_state(holiday)
    if holiday is None:
        holiday = Holiday(day=day)
        session.add(holiday)
    holiday.working, holiday.name, holiday.updated_by = working, name, actor.username
    after = _holiday_state(holiday)
    if before != after:
        record_event(session, actor=actor, action="holiday.set", object_type="holiday", object_id=day.isoformat(),
                     organization_id=None, before=before, after=after, summary=day.isoformat())  # fmt: skip
    session.flush()
    forget_cached(session)
    return holiday


def remove_holiday(session: Session, day: date, *, actor: policy.Actor) -> None:
    """Take ``day`` out of the table: the package (or Monday to Friday) decides it again."""
    policy.require(actor, Action.MANAGE_FILING_SETTINGS)
    holiday = session.get(Holiday, day)
    if holiday is None:
        raise NotFound(_l("The holiday table has no entry for %(day)s.", day=day.isoformat()))
    record_event(session, actor=actor, action="holiday.remove", object_type="holiday", object_id=day.isoformat(),
                 organization_id=None, before=_holiday_state(holiday), summary=day.isoformat())  # fmt: skip
    session.delete(holiday)
    session.flush()
    forget_cached(session)


# --- importing a schedule --------------------------------------------------------------------------------

# Accepted headers (compared without case): the English ones, or the Chinese ones 日期,类型,名称.
HEADERS = {"date": "date", "日期": "date", "working": "working", "类型": "working", "name": "name", "名称": "name"}
WORKING_WORDS = {"1": True, "true": True, "班": True, "上班": True, "0": False, "false": False, "休": False,
                 "休息": False}  # fmt: skip
_DATE = re.compile(r"(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})|(\d{4})(\d{2})(\d{2})|(\d{4})年(\d{1,2})月(\d{1,2})日")


class UnreadableHolidayFile(ValidationFailed):
    """The file is not text the import can read (too large, not UTF-8 or GB18030)."""

    code = "unreadable_file"


class HolidayFileInvalid(ValidationFailed):
    """Rows of a holiday file that cannot be taken, each with its line number; nothing was saved."""

    code = "invalid_holiday_file"
    SHOWN = 20  # problems listed beside the form field; ``problems`` holds them all

    def __init__(self, problems: list[tuple[int, Message]]) -> None:
        self.problems = problems
        shown = [_l("Line %(line)d: %(problem)s", line=line, problem=problem) for line, problem in problems]
        if len(shown) > self.SHOWN:
            shown = [*shown[: self.SHOWN], _l("… and %(count)d more problems.", count=len(shown) - self.SHOWN)]
        super().__init__(
            _l("The file has %(count)d problems; nothing was imported.", count=len(problems)), fields={"file": shown}
        )


@dataclass
class _ParsedFile:
    entries: dict[date, tuple[bool, str]] = field(default_factory=dict)
    problems: list[tuple[int, Message]] = field(default_factory=list)


def parse_date(text: str) -> date | None:
    """2027-01-01, 2027/1/1, 2027.1.1, 20270101 or 2027年1月1日; None for anything else (or no such day)."""
    match = _DATE.fullmatch(text.strip())
    if match is None:
        return None
    year, month, day = (int(part) for part in match.groups() if part is not None)
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _decode(source: str | bytes | IO[str] | IO[bytes]) -> str:
    raw: str | bytes = source if isinstance(source, str | bytes) else source.read(MAX_FILE_BYTES + 1)
    if len(raw) > MAX_FILE_BYTES:
        raise UnreadableHolidayFile.on("file", _l("The file is larger than %(kb)d KB.", kb=MAX_FILE_BYTES // 1024))
    if isinstance(raw, str):
        return raw.removeprefix("\ufeff")
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise UnreadableHolidayFile.on("file", _l("The file is neither UTF-8 nor GB18030 text."))


def _parse(text: str) -> _ParsedFile:
    parsed = _ParsedFile()
    if "\x00" in text:
        parsed.problems.append((1, _l("The file holds a NUL character; it is not a CSV file.")))
        return parsed
    first_line = text.split("\n", 1)[0]
    delimiter = "\t" if "\t" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    columns: dict[str, int] | None = None
    seen: dict[date, int] = {}
    try:
        for row in reader:
            line = reader.line_num
            cells = [cell.strip() for cell in row]
            if not any(cells):
                continue
            if columns is None:
                columns = _columns(cells, line, parsed.problems)
                if columns is None:
                    return parsed
                continue
            if len(parsed.entries) + len(parsed.problems) >= MAX_FILE_ROWS:
                too_many = _l("More than %(max)d rows: import one year at a time.", max=MAX_FILE_ROWS)
                parsed.problems.append((line, too_many))
                return parsed
            _parse_row(cells, columns, line, seen, parsed)
    except csv.Error as exc:  # a field too long for the reader, a stray quote at the end of the file …
        parsed.problems.append((reader.line_num, _l("The file is not CSV here: %(reason)s", reason=str(exc))))
        return parsed
    if columns is None:
        parsed.problems.append((1, _l("The file is empty: it needs the header date,working,name and a row a day.")))
    elif not parsed.entries and not parsed.problems:
        parsed.problems.append((reader.line_num, _l("The file has a header but no days.")))
    return parsed


def _columns(cells: list[str], line: int, problems: list[tuple[int, Message]]) -> dict[str, int] | None:
    columns: dict[str, int] = {}
    for index, cell in enumerate(cells):
        if not cell:
            continue
        column = HEADERS.get(cell.lower())
        if column is None or column in columns:
            problems.append((line, _l("Unknown or repeated column %(column)s.", column=cell)))
            continue
        columns[column] = index
    missing = [name for name in ("date", "working") if name not in columns]
    if missing:
        problems.append((line, _l("The header must name the columns date,working,name (or 日期,类型,名称).")))
    return None if problems else columns


def _parse_row(
    cells: list[str], columns: dict[str, int], line: int, seen: dict[date, int], parsed: _ParsedFile
) -> None:
    def cell(name: str) -> str:
        index = columns.get(name)
        return cells[index] if index is not None and index < len(cells) else ""

    problems: list[Message] = []
    day = parse_date(cell("date"))
    if day is None:
        problems.append(_l("%(value)s is not a date (write 2027-01-01).", value=cell("date") or "—"))
    elif (year_problem := _year_problem(day)) is not None:
        problems.append(year_problem)
    elif day in seen:
        problems.append(_l("%(day)s is already on line %(line)d.", day=day.isoformat(), line=seen[day]))
    working = WORKING_WORDS.get(cell("working").lower())
    if working is None:
        problems.append(
            _l("%(value)s is neither a working day nor a day off (write 1 or 0, 班 or 休, 上班 or 休息).",
               value=cell("working") or "—")
        )  # fmt: skip
    name = cell("name")
    if (name_problem := _name_problem(name)) is not None:
        problems.append(name_problem)
    if problems:
        parsed.problems.extend((line, problem) for problem in problems)
        return
    assert day is not None and working is not None
    seen[day] = line
    parsed.entries[day] = (working, name)


def import_holidays(session: Session, source: str | bytes | IO[str] | IO[bytes], *, actor: policy.Actor) -> int:
    """Enter every day of a CSV file (``date,working,name`` or ``日期,类型,名称``) in the table, replacing the
    entries of the same days; the table's other days stay. All or nothing: any bad row raises
    ``HolidayFileInvalid`` listing every problem by line. Returns the number of days in the file."""
    policy.require(actor, Action.MANAGE_FILING_SETTINGS)
    parsed = _parse(_decode(source))
    if parsed.problems:
        raise HolidayFileInvalid(parsed.problems)
    existing = {h.day: h for h in session.scalars(select(Holiday).where(Holiday.day.in_(list(parsed.entries))))}
    events: list[tuple[str, object, int | None, dict[str, Any]]] = []
    for day, (working, name) in sorted(parsed.entries.items()):
        holiday = existing.get(day)
        before = _holiday_state(holiday)
        if holiday is None:
            holiday = Holiday(day=day)
            session.add(holiday)
        holiday.working, holiday.name, holiday.updated_by = working, name, actor.username
        changes = diff(before, _holiday_state(holiday))
        if changes:
            events.append(("holiday.import", day.isoformat(), None, changes))
    session.flush()
    forget_cached(session)
    summary = _l("%(count)d days imported into the holiday table", count=len(parsed.entries))
    record_events(session, actor=actor, object_type="holiday", summary=summary, events=events)
    log.info("holiday table: %d days imported, %d changed, by %s", len(parsed.entries), len(events), actor.username)
    return len(parsed.entries)


def export_rows(holidays: Iterable[Holiday]) -> list[list[object]]:
    """Rows of a file ``import_holidays`` reads back (header ``HEADER``)."""
    return [[h.day.isoformat(), 1 if h.working else 0, h.name] for h in holidays]


HEADER = ["date", "working", "name"]


# --- settings --------------------------------------------------------------------------------------------


def _configured_filing_days() -> int:
    configured = current_app.config.get("FILING_DEADLINE_DAYS") if has_app_context() else None
    return int(configured) if configured else DEFAULT_FILING_DEADLINE_DAYS


def _clean_setting(name: str, value: object) -> tuple[str | None, Message | None]:
    """(the value as stored, None) or (None, the problem)."""
    if name in (FILING_DEADLINE_DAYS, REVIEW_DEADLINE_DAYS):
        text = str(value).strip()
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_DEADLINE_DAYS:
            return None, _l("Give a whole number of working days from 1 to %(max)d.", max=MAX_DEADLINE_DAYS)
        return str(int(text)), None
    if name == NUMBER_PREFIX:
        text = str(value).strip()
        if not 1 <= len(text) <= MAX_PREFIX_LENGTH:
            return None, _l("Give 1 to %(max)d characters.", max=MAX_PREFIX_LENGTH)
        if any(ch.isspace() or not ch.isprintable() for ch in text):
            return None, _l("The prefix may not hold spaces or control characters.")
        return text, None
    return None, _l("There is no setting %(name)s.", name=name)


def get_settings(session: Session) -> FilingSettings:
    """The settings in force: the stored ones, else the defaults (a stored value that is no longer valid is
    logged and replaced by its default rather than stopping every deadline)."""
    stored = {name: value for name, value in session.execute(select(FilingSetting.name, FilingSetting.value))}
    values: dict[str, str] = {
        FILING_DEADLINE_DAYS: str(_configured_filing_days()),
        REVIEW_DEADLINE_DAYS: str(DEFAULT_REVIEW_DEADLINE_DAYS),
        NUMBER_PREFIX: DEFAULT_NUMBER_PREFIX,
    }
    for name in SETTING_NAMES:
        if name in stored:
            cleaned, problem = _clean_setting(name, stored[name])
            if cleaned is None:
                log.warning("filing setting %s holds %r (%s); using %r", name, stored[name], problem, values[name])
            else:
                values[name] = cleaned
    return FilingSettings(int(values[FILING_DEADLINE_DAYS]), int(values[REVIEW_DEADLINE_DAYS]), values[NUMBER_PREFIX])


def filing_deadline_days(session: Session) -> int:
    return get_settings(session).filing_deadline_days


def review_deadline_days(session: Session) -> int:
    return get_settings(session).review_deadline_days


def number_prefix(session: Session) -> str:
    return get_settings(session).number_prefix


def set_setting(session: Session, name: str, value: object, *, actor: policy.Actor) -> FilingSettings:
    """Change one setting (``filing_deadline_days``, ``review_deadline_days``: 1–365 working days;
    ``number_prefix``: 1–16 characters). Returns the settings now in force."""
    return update_settings(session, {name: value}, actor=actor)


def update_settings(session: Session, values: Mapping[str, object], *, actor: policy.Actor) -> FilingSettings:
    """Change several settings at once (the settings form): every value is checked first, and a problem with
    any leaves all of them as they were."""
    policy.require(actor, Action.MANAGE_FILING_SETTINGS)
    cleaned: dict[str, str] = {}
    problems: dict[str, list[Message]] = {}
    for name, value in values.items():
        text, problem = _clean_setting(name, value)
        if problem is not None:
            problems[name] = [problem]
        elif text is not None:
            cleaned[name] = text
    if problems:
        raise ValidationFailed(next(iter(problems.values()))[0], fields=problems)
    current = get_settings(session)
    rows = {s.name: s for s in session.scalars(select(FilingSetting).where(FilingSetting.name.in_(list(cleaned))))}
    for name, text in cleaned.items():
        before = str(getattr(current, name))
        if text == before:
            continue
        row = rows.get(name)
        if row is None:
            row = FilingSetting(name=name)
            session.add(row)
        row.value, row.updated_by = text, actor.username
        record_event(session, actor=actor, action="filing_setting.set", object_type="filing_setting",
                     object_id=name, organization_id=None, before={"value": before}, after={"value": text},
                     summary=name)  # fmt: skip
    session.flush()
    forget_cached(session)
    return get_settings(session)
