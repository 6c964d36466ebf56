"""The filing settings page (``/filings/settings``), for regulator administrators: the deadline settings and the
filing number's prefix, the holiday table of a chosen year (add, remove, import, export), and a due-date
calculator that shows whether a deadline is provisional."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime

from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.wrappers import Response

from core.extensions import db
from core.security import allow
from core.web import CHINA_TIME, csv_response, run_form_operation
from filing.blueprint import bp
from filing.calendar import (
    FIRST_YEAR,
    HEADER,
    LAST_YEAR,
    export_rows,
    get_settings,
    import_holidays,
    list_holidays,
    load_calendar,
    remove_holiday,
    set_holiday,
    table_years,
    update_settings,
)
from filing.calendar_forms import DueCalculatorForm, HolidayForm, HolidayImportForm, SettingsForm
from filing.permissions import Action
from filing.workdays import PACKAGE_YEARS, Due, package_is_working_day, package_knows, package_schedule

MANAGE = Action.MANAGE_FILING_SETTINGS.value


def _this_year() -> int:
    return datetime.now(CHINA_TIME).year


def _chosen_year() -> int:
    raw = request.args.get("year", "")
    if raw.isascii() and raw.isdigit() and len(raw) == 4 and FIRST_YEAR <= int(raw) <= LAST_YEAR:
        return int(raw)
    return _this_year()


def _page(
    *,
    settings_form: SettingsForm | None = None,
    holiday_form: HolidayForm | None = None,
    import_form: HolidayImportForm | None = None,
) -> str:
    session = db.session
    year = _chosen_year()
    calendar = load_calendar(session)
    settings_form = settings_form or SettingsForm(formdata=None, data=asdict(get_settings(session)))
    holiday_form = holiday_form or HolidayForm(formdata=None)
    import_form = import_form or HolidayImportForm(formdata=None)
    calculator = DueCalculatorForm(request.args)
    due: Due | None = None
    if "days" in request.args and calculator.validate():
        due = calendar.add_working_days(calculator.start.data, calculator.days.data)
    entries = [(h, package_is_working_day(h.day)) for h in list_holidays(session, year)]
    return render_template(
        "filing/calendar.html",
        year=year,
        years=sorted({*table_years(session), _this_year() - 1, _this_year(), _this_year() + 1, year}),
        first_year=FIRST_YEAR,
        last_year=LAST_YEAR,
        entries=entries,
        in_table=bool(entries),
        in_package=package_knows(year),
        package_years=PACKAGE_YEARS,
        official=package_schedule(year),
        next_year=_this_year() + 1,
        next_year_known=calendar.knows_year(_this_year() + 1),
        settings_form=settings_form,
        holiday_form=holiday_form,
        import_form=import_form,
        calculator=calculator,
        due=due,
    )


@bp.route("/settings", methods=["GET", "POST"])
@allow(MANAGE)
def settings() -> str | Response:
    form = SettingsForm(data=asdict(get_settings(db.session)))
    if form.validate_on_submit():
        values = {name: getattr(form, name).data for name in ("filing_deadline_days", "review_deadline_days",
                                                              "number_prefix")}  # fmt: skip
        if run_form_operation(form, update_settings, db.session, values, actor=current_user) is not None:
            flash(_("The settings are saved."), "success")
            return redirect(url_for("filing.settings", year=_chosen_year()))
    return _page(settings_form=form)


@bp.post("/settings/holidays")
@allow(MANAGE)
def holiday_add() -> str | Response:
    form = HolidayForm()
    if form.validate_on_submit():
        working = form.working.data == "1"
        holiday = run_form_operation(
            form, set_holiday, db.session, form.day.data, working, form.name.data or "", actor=current_user
        )
        if holiday is not None:
            flash(_("%(day)s is in the holiday table.", day=holiday.day.isoformat()), "success")
            return redirect(url_for("filing.settings", year=holiday.day.year))
    return _page(holiday_form=form)


@bp.post("/settings/holidays/<day>/remove")
@allow(MANAGE)
def holiday_remove(day: str) -> Response:
    try:
        entry_day = date.fromisoformat(day)
    except ValueError:
        abort(404)
    remove_holiday(db.session, entry_day, actor=current_user)
    flash(_("%(day)s is no longer in the holiday table.", day=entry_day.isoformat()), "success")
    return redirect(url_for("filing.settings", year=entry_day.year))


@bp.post("/settings/holidays/import")
@allow(MANAGE)
def holiday_import() -> str | Response:
    form = HolidayImportForm()
    if form.validate_on_submit():
        count = run_form_operation(form, import_holidays, db.session, form.file.data.stream, actor=current_user)
        if count is not None:
            flash(_("%(count)d days imported into the holiday table", count=count), "success")
            return redirect(url_for("filing.settings", year=_chosen_year()))
    return _page(import_form=form)


@bp.get("/settings/holidays.csv")
@allow(MANAGE)
def holiday_export() -> Response:
    """The chosen year's table as a file the import reads back."""
    year = _chosen_year()
    return csv_response(f"holidays-{year}.csv", HEADER, export_rows(list_holidays(db.session, year)))
