"""The holiday table, the deadline settings, ``flask calendar …`` and the settings page: the table completes the
official calendar for the years ``chinese-calendar`` does not know, and only regulator administrators change it."""

from __future__ import annotations

import io
import json
import re
from datetime import date
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import AuditEvent
from core.errors import NotFound, PermissionDenied, ValidationFailed
from core.policy import OPERATOR
from filing.calendar import (
    HolidayFileInvalid,
    UnreadableHolidayFile,
    deadline_rules,
    due_date,
    get_settings,
    import_holidays,
    list_holidays,
    load_calendar,
    remove_holiday,
    set_holiday,
    set_setting,
    update_settings,
)
from filing.models import FilingSetting, Holiday
from filing.workdays import Due
from tests.conftest import post_form
from tests.support import csrf_token_in


def holidays_in(db: Session) -> dict[date, tuple[bool, str]]:
    return {h.day: (h.working, h.name) for h in db.scalars(select(Holiday))}


def audit_actions(db: Session, object_type: str) -> list[str]:
    statement = select(AuditEvent.action).where(AuditEvent.object_type == object_type).order_by(AuditEvent.id)
    return list(db.scalars(statement))


# --- the calendar ----------------------------------------------------------------------------------------


def test_a_deadline_past_the_package_years_is_provisional_without_a_table_entry(db: Session) -> None:
    assert due_date(db, date(2026, 12, 24), 20) == Due(date(2027, 1, 21), True)


def test_a_table_entry_for_the_unknown_year_makes_the_deadline_firm_and_counts_its_holiday(db: Session) -> None:
    set_holiday(db, date(2027, 1, 1), False, "元旦", actor=OPERATOR)
    assert due_date(db, date(2026, 12, 24), 20) == Due(date(2027, 1, 22), False)


def test_the_table_wins_over_the_package(db: Session) -> None:
    assert load_calendar(db).is_working_day(date(2026, 2, 16)) == (False, False)
    set_holiday(db, date(2026, 2, 16), True, "补班", actor=OPERATOR)
    assert load_calendar(db).is_working_day(date(2026, 2, 16)) == (True, False)


def test_deadline_rules_count_the_configured_days(db: Session) -> None:
    set_setting(db, "filing_deadline_days", 5, actor=OPERATOR)
    set_setting(db, "review_deadline_days", 2, actor=OPERATOR)
    rules = deadline_rules(db)
    assert rules.filing_due(date(2026, 2, 12)) == Due(date(2026, 2, 26), False)
    assert rules.review_due(date(2026, 2, 13)) == Due(date(2026, 2, 24), False)


# --- the holiday table -----------------------------------------------------------------------------------


def test_setting_and_removing_a_day_is_audited(db: Session) -> None:
    set_holiday(db, date(2027, 2, 6), True, "春节调休", actor=OPERATOR)
    set_holiday(db, date(2027, 2, 6), True, "春节调休", actor=OPERATOR)  # no change, no second event
    set_holiday(db, date(2027, 2, 6), False, "春节", actor=OPERATOR)
    assert holidays_in(db) == {date(2027, 2, 6): (False, "春节")}
    remove_holiday(db, date(2027, 2, 6), actor=OPERATOR)
    assert holidays_in(db) == {}
    assert audit_actions(db, "holiday") == ["holiday.set", "holiday.set", "holiday.remove"]
    last = db.scalar(select(AuditEvent).where(AuditEvent.action == "holiday.remove"))
    assert last is not None and last.object_id == "2027-02-06" and last.changes == {"name": ["春节", None],
                                                                                    "working": [False, None]}  # fmt: skip


def test_removing_a_day_the_table_does_not_hold_is_not_found(db: Session) -> None:
    with pytest.raises(NotFound):
        remove_holiday(db, date(2027, 3, 1), actor=OPERATOR)


def test_a_day_name_too_long_or_a_date_out_of_range_is_refused_beside_its_field(db: Session) -> None:
    with pytest.raises(ValidationFailed) as refused:
        set_holiday(db, date(2027, 1, 1), False, "节" * 101, actor=OPERATOR)
    assert set(refused.value.fields) == {"name"}
    with pytest.raises(ValidationFailed) as refused:
        set_holiday(db, date(1999, 1, 1), False, "", actor=OPERATOR)
    assert set(refused.value.fields) == {"day"}
    assert holidays_in(db) == {}


def test_only_regulator_administrators_change_the_table_and_the_settings(db: Session, create_user) -> None:
    regulator, admin = create_user(role="regulator"), create_user(role="regulator-admin")
    with pytest.raises(PermissionDenied):
        set_holiday(db, date(2027, 1, 1), False, "元旦", actor=regulator)
    with pytest.raises(PermissionDenied):
        import_holidays(db, "date,working,name\n2027-01-01,0,元旦\n", actor=regulator)
    with pytest.raises(PermissionDenied):
        set_setting(db, "filing_deadline_days", 30, actor=regulator)
    assert holidays_in(db) == {} and get_settings(db).filing_deadline_days == 20
    set_holiday(db, date(2027, 1, 1), False, "元旦", actor=admin)
    assert holidays_in(db) == {date(2027, 1, 1): (False, "元旦")}
    assert db.get(Holiday, date(2027, 1, 1)).updated_by == admin.username


def test_list_holidays_of_one_year_in_date_order(db: Session) -> None:
    for day in (date(2027, 10, 1), date(2027, 1, 1), date(2028, 1, 1)):
        set_holiday(db, day, False, "", actor=OPERATOR)
    assert [h.day for h in list_holidays(db, 2027)] == [date(2027, 1, 1), date(2027, 10, 1)]
    assert len(list_holidays(db)) == 3


# --- importing a schedule --------------------------------------------------------------------------------


def test_import_reads_the_english_header(db: Session) -> None:
    text = "date,working,name\n2027-02-06,1,春节调休\n2027-02-10,0,春节\n2027-02-11,false,\n2027/2/20,true,春节调休\n"
    assert import_holidays(db, text, actor=OPERATOR) == 4
    assert holidays_in(db) == {
        date(2027, 2, 6): (True, "春节调休"), date(2027, 2, 10): (False, "春节"), date(2027, 2, 11): (False, ""),
        date(2027, 2, 20): (True, "春节调休"),
    }  # fmt: skip


def test_import_reads_the_chinese_header_in_gb18030_with_ban_and_xiu(db: Session) -> None:
    text = "日期,类型,名称\r\n2027-10-01,休息,国庆节\r\n2027-10-09,上班,国庆节调休\r\n2027-10-02,休,国庆节\r\n20271010,班,\r\n"
    assert import_holidays(db, io.BytesIO(text.encode("gb18030")), actor=OPERATOR) == 4
    assert holidays_in(db)[date(2027, 10, 9)] == (True, "国庆节调休")
    assert holidays_in(db)[date(2027, 10, 10)] == (True, "")
    assert holidays_in(db)[date(2027, 10, 2)] == (False, "国庆节")


def test_import_reads_utf8_with_a_byte_order_mark(db: Session) -> None:
    assert import_holidays(db, "\ufeff日期,类型\n2027-01-01,休息\n".encode(), actor=OPERATOR) == 1


def test_import_replaces_the_days_it_names_and_keeps_the_others(db: Session) -> None:
    set_holiday(db, date(2027, 1, 1), True, "错", actor=OPERATOR)
    set_holiday(db, date(2027, 5, 1), False, "劳动节", actor=OPERATOR)
    import_holidays(db, "date,working,name\n2027-01-01,0,元旦\n", actor=OPERATOR)
    assert holidays_in(db) == {date(2027, 1, 1): (False, "元旦"), date(2027, 5, 1): (False, "劳动节")}
    imported = db.scalar(select(AuditEvent).where(AuditEvent.action == "holiday.import"))
    assert imported is not None and imported.object_id == "2027-01-01"
    assert imported.changes == {"name": ["错", "元旦"], "working": [True, False]}


def test_import_lists_every_bad_row_by_line_and_saves_nothing(db: Session) -> None:
    set_holiday(db, date(2027, 5, 1), False, "劳动节", actor=OPERATOR)
    text = (
        "date,working,name\n"  # line 1
        "2027-01-01,0,元旦\n"  # 2: fine
        "2027-02-30,0,春节\n"  # 3: no such day
        "\n"  # 4: blank, skipped
        "2027-02-06,maybe,春节调休\n"  # 5: neither
        "2027-01-01,1,again\n"  # 6: twice
        "2027-05-01,1,劳动节调休\n"  # 7: fine
    )
    with pytest.raises(HolidayFileInvalid) as refused:
        import_holidays(db, text, actor=OPERATOR)
    assert [line for line, _problem in refused.value.problems] == [3, 5, 6]
    assert set(refused.value.fields) == {"file"}
    assert holidays_in(db) == {date(2027, 5, 1): (False, "劳动节")}
    assert "holiday.import" not in audit_actions(db, "holiday")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "date,name\n2027-01-01,元旦\n",
        "day,working\n2027-01-01,0\n",
        "date,working,name\n",
        "date,working\n\x00",
        'date,working,name\n2027-01-01,0,"' + "长" * 140_000 + '"\n',
    ],
    ids=["empty", "no-working-column", "unknown-column", "header-only", "nul", "field-too-long"],
)
def test_import_refuses_a_file_that_is_not_a_schedule_and_saves_nothing(db: Session, text: str) -> None:
    with pytest.raises(HolidayFileInvalid):
        import_holidays(db, text, actor=OPERATOR)
    assert holidays_in(db) == {}


def test_import_refuses_bytes_that_are_not_text(db: Session) -> None:
    with pytest.raises(UnreadableHolidayFile):
        import_holidays(db, b"\xff\xfe\x00\x81\x30\xff" * 10, actor=OPERATOR)


# --- settings --------------------------------------------------------------------------------------------


def test_settings_default_to_twenty_and_ten_working_days_and_the_tianjin_prefix(db: Session) -> None:
    settings = get_settings(db)
    assert (settings.filing_deadline_days, settings.review_deadline_days, settings.number_prefix) == (20, 10, "津IP备")


def test_the_filing_deadline_default_comes_from_the_configuration(app: Flask, db: Session) -> None:
    app.config["FILING_DEADLINE_DAYS"] = 15
    with app.app_context():
        assert get_settings(db).filing_deadline_days == 15


def test_a_setting_change_is_stored_and_audited(db: Session) -> None:
    set_setting(db, "number_prefix", " 津IPv6备 ", actor=OPERATOR)
    assert get_settings(db).number_prefix == "津IPv6备"
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "filing_setting.set"))
    assert event is not None and event.object_id == "number_prefix"
    assert event.changes == {"value": ["津IP备", "津IPv6备"]}


@pytest.mark.parametrize(
    ("name", "value"),
    [("filing_deadline_days", 0), ("filing_deadline_days", 366), ("review_deadline_days", "ten"),
     ("number_prefix", ""), ("number_prefix", "津" * 17), ("number_prefix", "津 IP备")],
)  # fmt: skip
def test_a_setting_out_of_bounds_is_refused_beside_its_field(db: Session, name: str, value: object) -> None:
    with pytest.raises(ValidationFailed) as refused:
        set_setting(db, name, value, actor=OPERATOR)
    assert set(refused.value.fields) == {name}
    assert db.scalar(select(FilingSetting)) is None


def test_one_bad_value_leaves_every_setting_as_it_was(db: Session) -> None:
    with pytest.raises(ValidationFailed):
        update_settings(db, {"filing_deadline_days": 30, "review_deadline_days": 0}, actor=OPERATOR)
    assert get_settings(db).filing_deadline_days == 20


def test_a_stored_value_no_longer_valid_falls_back_to_its_default(db: Session) -> None:
    db.add(FilingSetting(name="review_deadline_days", value="soon"))
    db.flush()
    assert get_settings(db).review_deadline_days == 10


# --- flask calendar … ------------------------------------------------------------------------------------


def test_calendar_due_prints_the_date_and_json_across_the_spring_festival(runner: FlaskCliRunner) -> None:
    text = runner.invoke(args=["calendar", "due", "2026-02-12", "5"])
    assert text.exit_code == 0 and text.output.strip() == "2026-02-26"
    result = runner.invoke(args=["calendar", "due", "2026-02-12", "5", "--json"])
    assert result.exit_code == 0 and json.loads(result.output) == {"due": "2026-02-26", "provisional": False}


def test_calendar_due_marks_a_provisional_deadline(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["calendar", "due", "2026-12-24", "20", "--json"])
    assert json.loads(result.output) == {"due": "2027-01-21", "provisional": True}
    text = runner.invoke(args=["calendar", "due", "2026-12-24", "20"]).output.strip()
    assert text.startswith("2027-01-21 ") and len(text) > len("2027-01-21 ")


@pytest.mark.parametrize("args", [["2026-02-30", "5"], ["soon", "5"], ["2026-02-12", "-1"], ["2026-02-12", "x"],
                                  ["2026-02-12", "1001"], ["9999-12-31", "5"]])  # fmt: skip
def test_calendar_due_with_a_bad_date_or_number_is_a_one_line_usage_error(
    runner: FlaskCliRunner, args: list[str]
) -> None:
    result = runner.invoke(args=["calendar", "due", *args])
    assert result.exit_code == 2
    assert result.output.startswith("error: ") and len(result.output.strip().splitlines()) == 1


def test_calendar_holidays_import_set_list_and_remove(runner: FlaskCliRunner, tmp_path: Path, db: Session) -> None:
    schedule = tmp_path / "2027.csv"
    schedule.write_text("日期,类型,名称\n2027-01-01,休息,元旦\n2027-02-06,上班,春节调休\n", encoding="utf-8")
    imported = runner.invoke(args=["calendar", "holidays", "import", str(schedule)])
    assert imported.exit_code == 0 and re.search(r"\b2\b", imported.output)
    assert runner.invoke(args=["calendar", "holidays", "set", "2027-02-07", "--off", "--name", "春节"]).exit_code == 0
    listed = json.loads(runner.invoke(args=["calendar", "holidays", "list", "--year", "2027", "--json"]).output)
    assert [(row["date"], row["working"], row["name"]) for row in listed] == [
        ("2027-01-01", False, "元旦"), ("2027-02-06", True, "春节调休"), ("2027-02-07", False, "春节"),
    ]  # fmt: skip
    assert runner.invoke(args=["calendar", "holidays", "remove", "2027-02-07"]).exit_code == 0
    assert set(holidays_in(db)) == {date(2027, 1, 1), date(2027, 2, 6)}
    assert json.loads(runner.invoke(args=["calendar", "due", "2026-12-31", "1", "--json"]).output) == {
        "due": "2027-01-04", "provisional": False,
    }  # fmt: skip


def test_calendar_holidays_import_prints_each_bad_row_with_its_line_and_saves_nothing(
    runner: FlaskCliRunner, tmp_path: Path, db: Session
) -> None:
    schedule = tmp_path / "bad.csv"
    schedule.write_text("date,working,name\n2027-01-01,0,元旦\n2027-13-01,0,x\n2027-01-02,2,y\n", encoding="utf-8")
    result = runner.invoke(args=["calendar", "holidays", "import", str(schedule)])
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 2 and re.search(r"\b3\b", errors[0]) and re.search(r"\b4\b", errors[1])
    assert holidays_in(db) == {}


def test_calendar_holidays_import_of_an_unreadable_file_is_a_usage_error(
    runner: FlaskCliRunner, tmp_path: Path
) -> None:
    missing = runner.invoke(args=["calendar", "holidays", "import", str(tmp_path / "missing.csv")])
    assert missing.exit_code == 2 and len(missing.output.strip().splitlines()) == 1
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00\x81\x30\xff" * 10)
    assert runner.invoke(args=["calendar", "holidays", "import", str(binary)]).exit_code == 2


def test_calendar_holidays_set_needs_working_or_off_and_remove_needs_an_entry(runner: FlaskCliRunner) -> None:
    assert runner.invoke(args=["calendar", "holidays", "set", "2027-01-01"]).exit_code == 2
    removed = runner.invoke(args=["calendar", "holidays", "remove", "2027-01-01"])
    assert removed.exit_code == 1 and removed.output.startswith("error: ")


# --- the settings page -----------------------------------------------------------------------------------


def test_a_regulator_administrator_sees_the_settings_page_with_csrf_protected_forms(
    client: FlaskClient, login_as
) -> None:
    login_as("regulator-admin")
    response = client.get("/filings/settings?year=2026")
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    for form in ("settings-form", "holiday-form", "import-form"):
        start = page.index(f'data-testid="{form}"')
        assert 'name="csrf_token"' in page[start : page.index("</form>", start)]
    assert 'data-testid="official-calendar"' in page and "2026-02-14" in page
    assert 'value="20"' in page and "津IP备" in page


@pytest.mark.parametrize("role", ["regulator", "carrier"])
def test_the_settings_page_is_forbidden_to_others(client: FlaskClient, login_as, role: str) -> None:
    login_as(role)
    assert client.get("/filings/settings").status_code == 403
    assert client.post("/filings/settings/holidays/2027-01-01/remove").status_code == 403
    assert client.get("/filings/settings/holidays.csv").status_code == 403


def test_a_post_without_the_csrf_token_changes_nothing(client: FlaskClient, login_as, db: Session) -> None:
    login_as("regulator-admin")
    response = client.post("/filings/settings/holidays", data={"day": "2027-01-01", "working": "0", "name": "元旦"})
    assert response.status_code == 400 and holidays_in(db) == {}


def test_the_page_saves_the_settings(client: FlaskClient, login_as, db: Session) -> None:
    login_as("regulator-admin")
    data = {"filing_deadline_days": "25", "review_deadline_days": "7", "number_prefix": "津IP备"}
    response = post_form(client, "/filings/settings", data)
    assert response.status_code == 302
    settings = get_settings(db)
    assert (settings.filing_deadline_days, settings.review_deadline_days) == (25, 7)


def test_the_page_shows_a_bad_setting_beside_its_field_and_saves_nothing(
    client: FlaskClient, login_as, db: Session
) -> None:
    login_as("regulator-admin")
    data = {"filing_deadline_days": "25", "review_deadline_days": "7", "number_prefix": "津 IP 备"}
    response = post_form(client, "/filings/settings", data)
    assert response.status_code == 200
    assert 'data-field-error="number_prefix"' in response.get_data(as_text=True)
    assert db.scalar(select(FilingSetting)) is None


def test_the_page_adds_and_removes_a_day(client: FlaskClient, login_as, db: Session) -> None:
    login_as("regulator-admin")
    added = post_form(client, "/filings/settings/holidays", {"day": "2027-02-06", "working": "1", "name": "春节调休"},
                      form_page="/filings/settings")  # fmt: skip
    assert added.status_code == 302 and added.headers["Location"].endswith("year=2027")
    assert holidays_in(db) == {date(2027, 2, 6): (True, "春节调休")}
    page = client.get("/filings/settings?year=2027").get_data(as_text=True)
    assert 'data-day="2027-02-06"' in page
    removed = client.post("/filings/settings/holidays/2027-02-06/remove", data={"csrf_token": csrf_token_in(page)})
    assert removed.status_code == 302 and holidays_in(db) == {}


def test_the_page_imports_a_schedule_and_shows_bad_rows_beside_the_file(
    client: FlaskClient, login_as, db: Session
) -> None:
    login_as("regulator-admin")
    token = csrf_token_in(client.get("/filings/settings").get_data(as_text=True))
    bad = client.post("/filings/settings/holidays/import", content_type="multipart/form-data",
                      data={"csrf_token": token, "file": (io.BytesIO(b"date,working\n2027-01-01,0\nx,0\n"), "h.csv")})  # fmt: skip
    assert bad.status_code == 200 and 'data-field-error="file"' in bad.get_data(as_text=True)
    assert holidays_in(db) == {}
    good = client.post("/filings/settings/holidays/import", content_type="multipart/form-data",
                       data={"csrf_token": token, "file": (io.BytesIO("日期,类型\n2027-01-01,休息\n".encode()), "h.csv")})  # fmt: skip
    assert good.status_code == 302 and holidays_in(db) == {date(2027, 1, 1): (False, "")}


def test_the_calculator_shows_a_provisional_deadline(client: FlaskClient, login_as) -> None:
    login_as("regulator-admin")
    page = client.get("/filings/settings?start=2026-12-24&days=20").get_data(as_text=True)
    assert 'data-testid="due-result"' in page and "2027-01-21" in page and 'data-testid="provisional"' in page
    firm = client.get("/filings/settings?start=2026-02-12&days=5").get_data(as_text=True)
    assert "2026-02-26" in firm and 'data-testid="provisional"' not in firm


def test_the_export_is_a_file_the_import_reads_back(client: FlaskClient, login_as, db: Session) -> None:
    set_holiday(db, date(2027, 1, 1), False, "元旦", actor=OPERATOR)
    set_holiday(db, date(2027, 2, 6), True, "春节调休", actor=OPERATOR)
    login_as("regulator-admin")
    exported = client.get("/filings/settings/holidays.csv?year=2027").get_data()
    remove_holiday(db, date(2027, 1, 1), actor=OPERATOR)
    assert import_holidays(db, exported, actor=OPERATOR) == 2
    assert holidays_in(db) == {date(2027, 1, 1): (False, "元旦"), date(2027, 2, 6): (True, "春节调休")}
