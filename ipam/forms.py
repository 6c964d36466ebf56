"""Forms of the prefix registry."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask import url_for
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from wtforms import BooleanField, Field, HiddenField, IntegerField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length, NumberRange, Optional
from wtforms.widgets import TextInput

from core.forms import Form
from ipam.choices import KIND_LABELS, STATUS_LABELS, USAGE_LABELS, PrefixKind
from ipam.operations import MAX_ALLOCATION_COUNT
from ipam.space import Strategy

STRATEGY_LABELS = {
    Strategy.FIRST_FIT: _l("First fit (lowest address)"),
    Strategy.BEST_FIT: _l("Best fit (smallest free block)"),
    Strategy.SPARSE: _l("Sparse (RFC 3531, room to grow)"),
}


HOLDER_HELP = _l("Type part of a name, short code or Unified Social Credit Code and choose; the short code is sent.")


class HolderPickerInput(TextInput):
    """The holder's short code as text; static/app.js turns it into a picker that searches as one types (the
    organizations the user may name, from ``ipam.holder_choices``). Without scripts it stays a text field."""

    def __call__(self, field: Field, **kwargs: Any) -> Markup:
        kwargs.setdefault("data-holder-picker", url_for("ipam.holder_choices"))
        kwargs.setdefault("data-holder-none", gettext("No organization you may name matches."))
        kwargs.setdefault("autocomplete", "off")
        kwargs.setdefault("spellcheck", "false")
        return super().__call__(field, **kwargs)


def kind_choices(kinds: Iterable[PrefixKind]) -> list[SelectChoice]:
    return [SelectChoice(k.value, KIND_LABELS[k]) for k in kinds]


def usage_choices() -> list[SelectChoice]:
    return [SelectChoice("", _l("(not set)")), *(SelectChoice(u.value, label) for u, label in USAGE_LABELS.items())]


class PrefixForm(Form):
    prefix = StringField(_l("Prefix"), validators=[DataRequired(), Length(max=43)],
                         description=_l("CIDR notation, e.g. 2001:db8:100::/40."))  # fmt: skip
    kind = SelectField(_l("Kind"), choices=kind_choices(KIND_LABELS))
    holder = StringField(
        _l("Holder"), validators=[DataRequired(), Length(max=32)], description=HOLDER_HELP, widget=HolderPickerInput()
    )
    usage = SelectField(_l("Usage"), choices=usage_choices(), validators=[Optional()])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])


class PrefixEditForm(Form):
    status = SelectField(_l("Status"), choices=[SelectChoice(s.value, label) for s, label in STATUS_LABELS.items()])
    holder = StringField(
        _l("Holder"), validators=[Optional(), Length(max=32)], description=HOLDER_HELP, widget=HolderPickerInput()
    )
    usage = SelectField(_l("Usage"), choices=usage_choices(), validators=[Optional()])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    child_min_len = IntegerField(_l("Shortest child length"), validators=[Optional(), NumberRange(0, 128)])
    child_max_len = IntegerField(_l("Longest child length"), validators=[Optional(), NumberRange(0, 128)])
    child_default_len = IntegerField(_l("Default child length"), validators=[Optional(), NumberRange(0, 128)])
    default_strategy = SelectField(
        _l("Default strategy"),
        choices=[
            SelectChoice("", _l("(not set)")),
            *(SelectChoice(s.value, label) for s, label in STRATEGY_LABELS.items()),
        ],
        validators=[Optional()],
    )
    nibble_aligned = BooleanField(_l("Nibble-aligned children only"))
    pool_strict = BooleanField(
        _l("Imports must keep this policy too"),
        description=_l("Otherwise an imported record against the policy is loaded and listed as a warning."),
    )


class AllocateForm(Form):
    length = IntegerField(_l("Length"), validators=[DataRequired(), NumberRange(0, 128)],
                          description=_l("Prefix length of each new prefix, e.g. 48 for a site."))  # fmt: skip
    count = IntegerField(_l("How many"), default=1, validators=[DataRequired(), NumberRange(1, MAX_ALLOCATION_COUNT)])
    strategy = SelectField(
        _l("Strategy"), choices=[SelectChoice(s.value, label) for s, label in STRATEGY_LABELS.items()]
    )
    holder = StringField(
        _l("Holder"), validators=[DataRequired(), Length(max=32)], description=HOLDER_HELP, widget=HolderPickerInput()
    )
    kind = SelectField(_l("Kind"), choices=kind_choices(KIND_LABELS))
    usage = SelectField(_l("Usage"), choices=usage_choices(), validators=[Optional()])
    description = TextAreaField(_l("Description"), validators=[Optional(), Length(max=2000)])
    preview = SubmitField(_l("Preview"))
    confirm = SubmitField(_l("Allocate"))


class ReleaseForm(Form):
    """Releasing a prefix; with its children, the count the person saw (the release stops if it changed)."""

    recursive = HiddenField()
    expected = HiddenField()


class ClaimForm(Form):
    prefix = StringField(_l("Block"), validators=[DataRequired(), Length(max=43)],
                         description=_l("The block your organization holds from a registry, e.g. 2001:db8::/32."))  # fmt: skip
    kind = SelectField(_l("Kind"), choices=[SelectChoice(PrefixKind.AGGREGATE.value, KIND_LABELS[PrefixKind.AGGREGATE]),
                                            SelectChoice(PrefixKind.ALLOCATION.value, KIND_LABELS[PrefixKind.ALLOCATION])])  # fmt: skip
    reason = TextAreaField(_l("Where it comes from"), validators=[DataRequired(), Length(max=2000)],
                           description=_l("Who allocated it to you, when, and their reference."))  # fmt: skip


class ClaimDecisionForm(Form):
    note = TextAreaField(_l("Note"), validators=[Optional(), Length(max=2000)])
