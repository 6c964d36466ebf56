"""Forms of the calendar and settings page. The operations check the values again (the CLI takes the same
ones); the forms only make sure each field has the right type."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf.file import FileField, FileRequired
from wtforms import DateField, Field, IntegerField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Length, NumberRange, Optional, ValidationError

from core.forms import Form
from filing.calendar import FIRST_YEAR, LAST_YEAR, MAX_DEADLINE_DAYS, MAX_DUE_DAYS, MAX_NAME_LENGTH, MAX_PREFIX_LENGTH


class SettingsForm(Form):
    filing_deadline_days = IntegerField(
        _l("Filing deadline (working days)"),
        validators=[InputRequired(), NumberRange(1, MAX_DEADLINE_DAYS)],
        description=_l("Counted from the allocation or change date, which is day 0."),
    )
    review_deadline_days = IntegerField(
        _l("Review target (working days)"),
        validators=[InputRequired(), NumberRange(1, MAX_DEADLINE_DAYS)],
        description=_l("Counted from the day a filing or its change is submitted."),
    )
    number_prefix = StringField(
        _l("Filing number prefix"),
        validators=[InputRequired(), Length(1, MAX_PREFIX_LENGTH)],
        description=_l("Numbers are the prefix, the year and a sequence, e.g. 津IP备2026000001."),
    )


class HolidayForm(Form):
    day = DateField(_l("Date"), validators=[InputRequired()])
    working = SelectField(
        _l("The day is"),
        choices=[SelectChoice("0", _l("a day off")), SelectChoice("1", _l("a make-up working day (调休)"))],
        default="0",
    )
    name = StringField(
        _l("Name"), validators=[Optional(), Length(max=MAX_NAME_LENGTH)], description=_l("E.g. 春节, 国庆节.")
    )


class HolidayImportForm(Form):
    file = FileField(
        _l("CSV file"),
        validators=[FileRequired(_l("Choose a file."))],
        description=_l(
            "Header date,working,name (or 日期,类型,名称); working is 1 or 0, 班 or 休, 上班 or 休息; dates like "
            "2027-01-01. UTF-8 or GB18030. Days already in the table are replaced; the others stay."
        ),
    )


class DueCalculatorForm(Form):
    class Meta:
        csrf = False  # a GET calculation, changes nothing

    start = DateField(_l("Start date (day 0)"), validators=[InputRequired()])
    days = IntegerField(_l("Working days"), validators=[InputRequired(), NumberRange(0, MAX_DUE_DAYS)])

    def validate_start(self, field: Field) -> None:
        if field.data is not None and not FIRST_YEAR <= field.data.year <= LAST_YEAR:
            raise ValidationError(_l("Give a date from %(first)d to %(last)d.", first=FIRST_YEAR, last=LAST_YEAR))
