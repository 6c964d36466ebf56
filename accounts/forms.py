"""Forms of the accounts package."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, DateField, IntegerField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, EqualTo, Length, NumberRange, Optional

from accounts.choices import ORG_KIND_LABELS, ROLE_LABELS
from core.forms import Form


class LoginForm(Form):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])


class OrganizationForm(Form):
    kind = SelectField(_l("Kind"), choices=[SelectChoice(k.value, label) for k, label in ORG_KIND_LABELS.items()])
    code = StringField(
        _l("Short code"),
        validators=[DataRequired(), Length(max=32)],
        description=_l("Lower-case letters, digits and hyphens; used in addresses and on the command line."),
    )
    name = StringField(_l("Name (Chinese)"), validators=[DataRequired(), Length(max=200)])
    name_en = StringField(_l("Name (English)"), validators=[Optional(), Length(max=200)])
    uscc = StringField(
        _l("Unified Social Credit Code"),
        validators=[Optional(), Length(max=18)],
        description=_l("18 characters, GB 32100-2015."),
    )
    division_code = StringField(
        _l("Administrative division code"),
        validators=[Optional(), Length(max=6)],
        description=_l("Six digits, GB/T 2260, e.g. 120116 for Binhai New Area."),
    )
    address = StringField(_l("Address"), validators=[Optional(), Length(max=300)])
    contact_name = StringField(_l("Contact person"), validators=[Optional(), Length(max=100)])
    contact_phone = StringField(_l("Contact phone"), validators=[Optional(), Length(max=40)])
    contact_email = StringField(_l("Contact e-mail"), validators=[Optional(), Email(), Length(max=254)])
    nature = SelectField(_l("Nature of the organization"), validators=[Optional()])
    industry = SelectField(_l("Industry (GB/T 4754 section)"), validators=[Optional()])
    above_designated_size = BooleanField(
        _l("Above designated size (规模以上)"),
        description=_l("Annual main-business revenue of at least 20 million yuan; counted in the policy's progress."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The value lists are data the regulator keeps with the filings' (filing.models.ChoiceValue).
        from filing.choices import ChoiceList
        from filing.forms import value_choices

        self.nature.choices = value_choices(ChoiceList.NATURE)
        self.industry.choices = value_choices(ChoiceList.INDUSTRY)


class PageForm(Form):
    """A form that shares its page with others: it knows whether it was the one submitted."""

    def submit_pressed(self) -> bool:
        from flask import request

        return request.method == "POST" and any(key.startswith(f"{self._prefix}") for key in request.form)


class PasswordChangeForm(PageForm):
    current = PasswordField(_l("Current password"), validators=[DataRequired(), Length(max=1024)])
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=1024)],
                        description=_l("At least 12 characters, not containing the username."))  # fmt: skip
    confirm = PasswordField(
        _l("New password again"), validators=[DataRequired(), EqualTo("new", _l("The passwords differ."))]
    )


class TokenForm(PageForm):
    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=100)],
                       description=_l("What the token is for, e.g. the carrier's sync job."))  # fmt: skip
    days = IntegerField(_l("Valid for (days)"), default=90, validators=[DataRequired(), NumberRange(1, 366)])
    read_only = BooleanField(_l("Read only"))


class UserCreateForm(Form):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    display_name = StringField(_l("Display name"), validators=[Optional(), Length(max=200)])
    email = StringField(_l("E-mail"), validators=[Optional(), Email(), Length(max=254)])
    organization = StringField(_l("Organization"), validators=[DataRequired(), Length(max=32)],
                               description=_l("Short code of the user's organization."))  # fmt: skip
    role = SelectField(_l("Role"), choices=[SelectChoice(r.value, label) for r, label in ROLE_LABELS.items()])
    password = PasswordField(_l("Initial password"), validators=[DataRequired(), Length(max=1024)],
                             description=_l("At least 12 characters, not containing the username."))  # fmt: skip


class PasswordResetForm(Form):
    new = PasswordField(_l("New password"), validators=[DataRequired(), Length(max=1024)],
                        description=_l("At least 12 characters, not containing the username."))  # fmt: skip


class AuditFilterForm(Form):
    class Meta:
        csrf = False  # a GET filter, changes nothing

    actor = StringField(_l("Who"), validators=[Optional(), Length(max=64)])
    organization = StringField(_l("Organization"), validators=[Optional(), Length(max=32)])
    object_type = StringField(_l("Object type"), validators=[Optional(), Length(max=64)])
    object_id = StringField(_l("Object"), validators=[Optional(), Length(max=64)])
    action = StringField(_l("Action"), validators=[Optional(), Length(max=64)])
    since = DateField(_l("From"), validators=[Optional()])
    until = DateField(_l("Until"), validators=[Optional()])
