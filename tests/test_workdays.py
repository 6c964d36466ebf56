"""The pure working-day calendar against ``chinese-calendar`` itself and a brute-force day-by-day oracle."""

from __future__ import annotations

from datetime import date, timedelta

import chinese_calendar
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from filing.workdays import PACKAGE_YEARS, Due, WorkingCalendar, package_schedule

ONE_DAY = timedelta(days=1)


def days_of(year: int) -> list[date]:
    first = date(year, 1, 1)
    return [first + timedelta(days=n) for n in range((date(year + 1, 1, 1) - first).days)]


def oracle_day(day: date, overrides: dict[date, bool]) -> tuple[bool, bool]:
    """(working?, provisional?) straight from the rules: the table, else the package, else Monday to Friday."""
    if day in overrides:
        return overrides[day], False
    try:
        return chinese_calendar.is_workday(day), False
    except NotImplementedError:
        return day.weekday() < 5, all(d.year != day.year for d in overrides)


def oracle_due(start: date, days: int, overrides: dict[date, bool]) -> Due:
    day, provisional = start, False
    for _ in range(days):
        while True:
            day += ONE_DAY
            working, unknown = oracle_day(day, overrides)
            provisional = provisional or unknown
            if working:
                break
    return Due(day, provisional)


def oracle_between(first: date, second: date, overrides: dict[date, bool]) -> int:
    low, high = sorted((first, second))
    count = sum(oracle_day(low + timedelta(days=n), overrides)[0] for n in range(1, (high - low).days + 1))
    return count if second >= first else -count


# Days around the end of the package's years: 2025 and 2026 it knows, 2027 and 2028 it does not.
edge_days = st.dates(min_value=date(2025, 10, 1), max_value=date(2028, 3, 31))
overrides_near_the_edge = st.dictionaries(edge_days, st.booleans(), max_size=8)


def test_every_day_of_2026_is_what_chinese_calendar_says() -> None:
    calendar = WorkingCalendar()
    assert [calendar.is_working_day(d) for d in days_of(2026)] == [(chinese_calendar.is_workday(d), False)
                                                                   for d in days_of(2026)]  # fmt: skip


def test_the_2026_spring_festival_is_nine_days_off_between_two_make_up_saturdays() -> None:
    # The package's schedule: days off Sunday 15 to Monday 23 February, working Saturdays 14 and 28 February.
    days_off = [date(2026, 2, d) for d in range(15, 24)]
    make_up = [date(2026, 2, 14), date(2026, 2, 28)]
    assert not any(chinese_calendar.is_workday(d) for d in days_off)
    assert all(chinese_calendar.is_workday(d) and d.weekday() == 5 for d in make_up)
    calendar = WorkingCalendar()
    assert [calendar.is_working_day(d)[0] for d in days_off] == [False] * 9
    assert [calendar.is_working_day(d)[0] for d in make_up] == [True, True]


def test_a_deadline_counts_the_make_up_saturday_and_skips_the_spring_festival() -> None:
    calendar = WorkingCalendar()
    assert calendar.add_working_days(date(2026, 2, 13), 1) == Due(date(2026, 2, 14), False)
    assert calendar.add_working_days(date(2026, 2, 14), 1) == Due(date(2026, 2, 24), False)
    assert calendar.add_working_days(date(2026, 2, 12), 5) == Due(date(2026, 2, 26), False)


@given(start=st.dates(min_value=date(PACKAGE_YEARS.start, 1, 1), max_value=date(2026, 10, 31)),
       days=st.integers(0, 40))  # fmt: skip
def test_deadlines_from_a_working_day_match_chinese_calendars_find_workday(start: date, days: int) -> None:
    # find_workday(n, d) is the n-th working day after the first working day from d on: ours when d works.
    assume(chinese_calendar.is_workday(start))
    assert WorkingCalendar().add_working_days(start, days).on == chinese_calendar.find_workday(days, start)


def test_day_zero_is_the_start_itself() -> None:
    assert WorkingCalendar().add_working_days(date(2026, 2, 15), 0) == Due(date(2026, 2, 15), False)
    assert WorkingCalendar().add_working_days(date(2031, 5, 1), 0) == Due(date(2031, 5, 1), False)


def test_a_deadline_cannot_count_backwards() -> None:
    with pytest.raises(ValueError):
        WorkingCalendar().add_working_days(date(2026, 3, 2), -1)


def test_a_year_past_the_package_without_table_entries_counts_monday_to_friday_provisionally() -> None:
    calendar = WorkingCalendar()
    assert not calendar.knows_year(2027)
    assert calendar.is_working_day(date(2027, 1, 1)) == (True, True)  # a Friday: no New Year's Day known
    assert calendar.is_working_day(date(2027, 1, 2)) == (False, True)
    # 24 December 2026 + 20: five days of 2026, then fifteen weekdays of 2027 including 1 January.
    assert calendar.add_working_days(date(2026, 12, 24), 20) == Due(date(2027, 1, 21), True)


def test_a_table_entry_makes_its_year_known_and_the_deadline_firm() -> None:
    calendar = WorkingCalendar({date(2027, 1, 1): False})
    assert calendar.knows_year(2027)
    assert calendar.is_working_day(date(2027, 1, 1)) == (False, False)
    assert calendar.is_working_day(date(2027, 7, 1)) == (True, False)  # the rest of the year: its weekdays
    assert calendar.add_working_days(date(2026, 12, 24), 20) == Due(date(2027, 1, 22), False)


def test_a_deadline_inside_known_years_is_firm_even_when_later_years_are_unknown() -> None:
    assert WorkingCalendar().add_working_days(date(2026, 12, 1), 10) == Due(date(2026, 12, 15), False)


def test_the_table_wins_over_the_package() -> None:
    calendar = WorkingCalendar({date(2026, 2, 16): True, date(2026, 2, 14): False})
    assert calendar.is_working_day(date(2026, 2, 16)) == (True, False)
    assert calendar.is_working_day(date(2026, 2, 14)) == (False, False)
    assert calendar.is_working_day(date(2026, 2, 17)) == (False, False)  # the package still decides the rest


@given(start=edge_days, days=st.integers(0, 60), overrides=overrides_near_the_edge)
def test_add_working_days_matches_the_day_by_day_oracle(start: date, days: int, overrides: dict[date, bool]) -> None:
    assert WorkingCalendar(overrides).add_working_days(start, days) == oracle_due(start, days, overrides)


@given(day=edge_days, overrides=overrides_near_the_edge)
def test_each_day_matches_the_oracle(day: date, overrides: dict[date, bool]) -> None:
    assert WorkingCalendar(overrides).is_working_day(day) == oracle_day(day, overrides)


@given(first=edge_days, second=edge_days, overrides=overrides_near_the_edge)
def test_working_days_between_matches_the_oracle(first: date, second: date, overrides: dict[date, bool]) -> None:
    assert WorkingCalendar(overrides).working_days_between(first, second) == oracle_between(first, second, overrides)


@given(start=edge_days, days=st.integers(0, 60), overrides=overrides_near_the_edge)
def test_working_days_between_undoes_add_working_days(start: date, days: int, overrides: dict[date, bool]) -> None:
    calendar = WorkingCalendar(overrides)
    assert calendar.working_days_between(start, calendar.add_working_days(start, days).on) == days


def test_asking_again_gives_the_same_answer_from_the_cache() -> None:
    calendar = WorkingCalendar()
    first = calendar.add_working_days(date(2026, 9, 24), 20)
    assert calendar.add_working_days(date(2026, 9, 24), 20) is first
    assert first == oracle_due(date(2026, 9, 24), 20, {})


def test_the_package_schedule_of_2026_names_the_spring_festival_days() -> None:
    schedule = {entry.day: entry for entry in package_schedule(2026)}
    assert schedule[date(2026, 2, 14)].working and schedule[date(2026, 2, 14)].name == "春节"
    assert not schedule[date(2026, 2, 16)].working
    assert package_schedule(2027) == []
