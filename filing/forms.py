"""Forms of the filing pages. The rule set (``filing.rules``) judges the values; these forms only carry them."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Session
from wtforms import BooleanField, DateField, HiddenField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, Optional

from core.forms import Form
from core.i18n import current_language
from filing import queries
from filing.choices import CHOICE_LIST_LABELS, TYPE_LABELS, ChoiceList
from filing.models import FILED_FIELDS

# What each field asks for, shown under it (the national format's name in brackets).
HELP = {
    "block": _l("A prefix (2001:db8:1::/48) or a range of addresses (起始IP-终止IP), IPv6 or IPv4."),
    "source_name": _l("Where your organization got the block (来源单位): its upstream allocator."),
    "user_uscc": _l("18 characters (统一社会信用代码)."),
    "user_division": _l("Six digits, GB/T 2260, e.g. 120116 for Binhai New Area."),
    "allocated_on": _l("The deadline counts from this date in working days."),
}


def value_choices(list_name: ChoiceList, session: Session | None = None) -> list[SelectChoice]:
    """A value list as a select's options, named in the reader's language."""
    from core.extensions import db

    session = session or db.session
    chinese = current_language() == "zh_CN"
    return [
        SelectChoice("", _l("(choose)")),
        *(SelectChoice(v.code, v.name_zh if chinese else v.name_en) for v in queries.choice_values(session, list_name)),
    ]


class FilingForm(Form):
    filing_type = SelectField(_l("Type of filing"))
    block = StringField(_l("Address block"), validators=[Length(max=90)], description=HELP["block"])
    source_name = StringField(_l("Source organization"), validators=[Optional(), Length(max=200)],
                              description=HELP["source_name"])  # fmt: skip
    user_name = StringField(_l("User organization"), validators=[Optional(), Length(max=200)])
    user_uscc = StringField(_l("USCC"), validators=[Optional(), Length(max=18)], description=HELP["user_uscc"])
    user_nature = SelectField(_l("Nature of the organization"), validators=[Optional()])
    user_industry = SelectField(_l("Industry"), validators=[Optional()])
    user_division = StringField(_l("Division code"), validators=[Optional(), Length(max=6)],
                                description=HELP["user_division"])  # fmt: skip
    user_address = StringField(_l("Address of the user organization"), validators=[Optional(), Length(max=300)])
    usage = SelectField(_l("Use of the addresses"), validators=[Optional()])
    allocated_on = DateField(_l("Date of allocation or use"), validators=[Optional()],
                             description=HELP["allocated_on"])  # fmt: skip
    gateway_ip = StringField(_l("Gateway address"), validators=[Optional(), Length(max=45)])
    gateway_address = StringField(_l("Where the gateway is"), validators=[Optional(), Length(max=300)])
    contact_name = StringField(_l("Contact"), validators=[Optional(), Length(max=100)])
    contact_phone = StringField(_l("Phone"), validators=[Optional(), Length(max=40)])
    contact_email = StringField(_l("E-mail"), validators=[Optional(), Length(max=254)])
    remarks = TextAreaField(_l("Remarks"), validators=[Optional(), Length(max=2000)])
    # Set when the draft was started from a registry prefix (the user organization it names).
    user_organization_id = HiddenField()

    def __init__(self, session: Session, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filing_type.choices = [SelectChoice(t.value, label) for t, label in TYPE_LABELS.items()]
        self.user_nature.choices = value_choices(ChoiceList.NATURE, session)
        self.user_industry.choices = value_choices(ChoiceList.INDUSTRY, session)
        self.usage.choices = value_choices(ChoiceList.USAGE, session)

    def values(self) -> dict[str, Any]:
        values = {name: getattr(self, name).data for name in FILED_FIELDS}
        organization = (self.user_organization_id.data or "").strip()
        if organization.isdigit() and len(organization) < 10:
            values["user_organization_id"] = int(organization)
        return values


class ReviewForm(Form):
    """The reviewer's decision: approve (a note optional), return (comments, overall or per field), reject (a
    reason). Per-field comments arrive as ``comment_<field>`` inputs beside each field of the review page."""

    comment = TextAreaField(_l("Comments for the filer"), validators=[Optional(), Length(max=2000)])

    def field_comments(self, form_data: Any) -> dict[str, str]:
        return {
            name: form_data.get(f"comment_{name}", "")[:1000]
            for name in FILED_FIELDS
            if form_data.get(f"comment_{name}", "").strip()
        }


class StepForm(Form):
    """A step without values (submit, cancel, withdraw, delete), with an optional note; CSRF-protected."""

    comment = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])


class ValueForm(Form):
    """A new value of a value list."""

    list = SelectField(_l("List"), choices=[SelectChoice(c.value, label) for c, label in CHOICE_LIST_LABELS.items()])
    code = StringField(_l("Code"), validators=[DataRequired(), Length(max=32)],
                       description=_l("As files and exports write it: letters, digits, dots, hyphens."))  # fmt: skip
    name_zh = StringField(_l("Name (Chinese)"), validators=[DataRequired(), Length(max=100)])
    name_en = StringField(_l("Name (English)"), validators=[DataRequired(), Length(max=100)])


class ValueEditForm(Form):
    """A value's names, and whether forms still offer it (a value filings use is never deleted)."""

    name_zh = StringField(_l("Name (Chinese)"), validators=[DataRequired(), Length(max=100)])
    name_en = StringField(_l("Name (English)"), validators=[DataRequired(), Length(max=100)])
    active = BooleanField(_l("Offered"))
