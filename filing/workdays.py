"""Working days by China's official calendar: holidays and their make-up working days (调休).

Pure: dates in, dates out; no Flask, no database. A day's answer comes from, in order: the holiday table the
regulator administrators keep (``overrides``: its entries win), the ``chinese-calendar`` package for the years it
knows, and Monday to Friday for a year neither knows. A year is *known* when the package covers it or the table
holds at least one entry in it (administrators enter a year's schedule as a whole, once the State Council has
published it); a deadline that counted a day of an unknown year is *provisional* and is shown as such.

Deadlines count the start date as day 0: the deadline of N working days is the N-th working day after it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType

import chinese_calendar

ONE_DAY = timedelta(days=1)
RANK_MARGIN = timedelta(days=400)  # how far before the first day asked about the running count starts
_PACKAGE_OFF: Mapping[date, str] = MappingProxyType(dict(chinese_calendar.holidays))
_PACKAGE_WORKING: Mapping[date, str] = MappingProxyType(dict(chinese_calendar.workdays))
# The years the package has the State Council's schedule for (2004–2026 in version 1.11).
PACKAGE_YEARS = range(min(day.year for day in _PACKAGE_OFF), max(day.year for day in _PACKAGE_OFF) + 1)
_CHINESE_NAMES = {holiday.value: holiday.chinese for holiday in chinese_calendar.Holiday}


@dataclass(frozen=True)
class Due:
    """A deadline: the day, and whether it counted days of a year whose official calendar is not known yet."""

    on: date
    provisional: bool


@dataclass(frozen=True)
class CalendarDay:
    """A day the calendar treats unlike its weekday (a holiday, or a make-up working day), with its name."""

    day: date
    working: bool
    name: str


def package_knows(year: int) -> bool:
    return year in PACKAGE_YEARS


def package_schedule(year: int) -> list[CalendarDay]:
    """The days ``chinese-calendar`` marks in ``year`` (days off, make-up working days), by date, named in
    Chinese; empty for a year it does not know."""
    days = [CalendarDay(d, False, _CHINESE_NAMES.get(name, name)) for d, name in _PACKAGE_OFF.items() if d.year == year]
    days += [
        CalendarDay(d, True, _CHINESE_NAMES.get(name, name)) for d, name in _PACKAGE_WORKING.items() if d.year == year
    ]
    return sorted(days, key=lambda entry: entry.day)


def package_is_working_day(day: date) -> bool | None:
    """The package's answer (``chinese_calendar.is_workday``, which rescans its tables on every call); None for a
    year it does not know."""
    if not package_knows(day.year):
        return None
    if day in _PACKAGE_WORKING:
        return True
    return day.weekday() < 5 and day not in _PACKAGE_OFF


class WorkingCalendar:
    """The official calendar with the holiday table's entries on top. Immutable; answers are cached per date,
    since every draft of a bulk import asks for its deadline."""

    def __init__(self, overrides: Mapping[date, bool] | None = None) -> None:
        self._overrides: Mapping[date, bool] = MappingProxyType(dict(overrides or {}))
        self._table_years = frozenset(day.year for day in self._overrides)
        self._answers: dict[date, tuple[bool, bool]] = {}
        self._due: dict[tuple[date, int], Due] = {}
        self._origin: date | None = None
        self._ranks: list[int] = [0]

    @property
    def overrides(self) -> Mapping[date, bool]:
        return self._overrides

    def knows_year(self, year: int) -> bool:
        """Whether the official schedule of ``year`` is known (from the package or the table)."""
        return year in self._table_years or package_knows(year)

    def is_working_day(self, day: date) -> tuple[bool, bool]:
        """(working?, provisional?): provisional when ``day``'s year is known to neither the table nor the
        package, and the answer is only Monday to Friday."""
        answer = self._answers.get(day)
        if answer is None:
            answer = self._answers[day] = self._answer(day)
        return answer

    def _answer(self, day: date) -> tuple[bool, bool]:
        override = self._overrides.get(day)
        if override is not None:
            return override, False
        official = package_is_working_day(day)
        if official is not None:
            return official, False
        return day.weekday() < 5, day.year not in self._table_years

    def add_working_days(self, start: date, days: int) -> Due:
        """The ``days``-th working day after ``start`` (``start`` itself is day 0 and is not counted; 0 gives
        ``start``). Provisional when any day counted lies in a year whose calendar is not known."""
        if days < 0:
            raise ValueError("a deadline counts forward: days must not be negative")
        key = (start, days)
        due = self._due.get(key)
        if due is None:
            due = self._due[key] = self._count_forward(start, days)
        return due

    def _count_forward(self, start: date, days: int) -> Due:
        day, counted, provisional = start, 0, False
        while counted < days:
            day += ONE_DAY
            working, unknown = self.is_working_day(day)
            provisional = provisional or unknown
            counted += working
        return Due(day, provisional)

    def working_days_between(self, first: date, second: date) -> int:
        """Working days after ``first`` up to and including ``second`` ("the review took N working days", "N
        working days overdue"); negative when ``second`` is before ``first``."""
        earliest = min(first, second)
        if self._origin is None or earliest < self._origin:
            self._origin, self._ranks = earliest - RANK_MARGIN, [0]
        return self._rank(second) - self._rank(first)

    def _rank(self, day: date) -> int:
        """Working days after the table's origin up to and including ``day``: a running count kept for the span
        asked about, so that a bulk import's thousands of "how late" questions cost a lookup each."""
        assert self._origin is not None and day >= self._origin
        offset = (day - self._origin).days
        ranks = self._ranks
        while len(ranks) <= offset:
            ranks.append(ranks[-1] + self.is_working_day(self._origin + timedelta(days=len(ranks)))[0])
        return ranks[offset]
