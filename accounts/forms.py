"""Forms of the accounts package."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, Optional

from accounts.choices import ORG_KIND_LABELS


class LoginForm(FlaskForm):
    username = StringField(_l("Username"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=1024)])


class OrganizationForm(FlaskForm):
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
