"""Forms of the prefix request pages. The operations (``ipam.prefix_requests``) judge the values; these forms only
carry them (and offer the choices: the allocators one may ask, the sizes, the pools one may allocate from)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from markupsafe import Markup
from wtforms import Field, IntegerField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import InputRequired, Optional

from accounts.models import Organization
from core.forms import Form
from ipam.choices import MAX_REQUESTED_SITES, REQUEST_LENGTHS
from ipam.forms import STRATEGY_LABELS, usage_choices
from ipam.models import Prefix, PrefixRequest
from ipam.prefix_requests import Pool
from ipam.space import Strategy

MAX_NETWORK = 43  # the longest IPv6 prefix written out


class CodeListField(StringField):
    """Division codes typed on one line, separated by commas or spaces (the operation splits them); a request's
    stored list shows the same way."""

    def _value(self) -> str:
        if isinstance(self.data, list | tuple):
            return " ".join(self.data)
        return super()._value()


def hidden_inputs(field: Field, **kwargs: Any) -> Markup:
    return Markup("").join(
        Markup('<input type="hidden" name="{}" value="{}">').format(field.name, value) for value in field.data or ()
    )


class PrefixListField(Field):
    """The prefixes a preview showed, carried back as one hidden input each: approving allocates only if they are
    still exactly what it would take."""

    widget = staticmethod(hidden_inputs)

    def process_formdata(self, valuelist: list[Any]) -> None:
        self.data = [value.strip()[:MAX_NETWORK] for value in valuelist[:MAX_REQUESTED_SITES] if value.strip()]


class RequestForm(Form):
    provider = SelectField(_l("Allocator"), description=_l("The carrier or allocator you ask for the space."))
    site_count = IntegerField(_l("Sites"), default=1, validators=[InputRequired()],
                              description=_l("How many sites need a block each."))  # fmt: skip
    prefix_len = SelectField(
        _l("Size per site"), coerce=int, default=48,
        choices=[SelectChoice(length, f"/{length}") for length in REQUEST_LENGTHS],
        description=_l("A /48 for each site, as RIPE-690 advises (room for 65,536 subnets); a /56 for a small "
                       "site such as a shop or a branch office."),
    )  # fmt: skip
    purpose = StringField(_l("Purpose"), description=_l("What the addresses are for, in one line."))
    usage = SelectField(_l("Usage"), choices=usage_choices(), validators=[Optional()])
    locations = CodeListField(_l("Locations"), description=_l(
        "The division codes (GB/T 2260) of the sites, separated by commas or spaces, e.g. 120116 120104."
    ))  # fmt: skip
    justification = TextAreaField(_l("Justification"), render_kw={"rows": 4},
                                  description=_l("Why you need this much space: the sites, their networks, growth."))  # fmt: skip
    plan_text = TextAreaField(_l("Subnet plan (optional)"), render_kw={"rows": 8, "spellcheck": "false"},
                              description=_l("A subnet plan in YAML or JSON showing the need."))  # fmt: skip
    save = SubmitField(_l("Save the draft"))
    save_and_submit = SubmitField(_l("Save and submit"))

    def __init__(self, providers: Sequence[Organization], *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._providers = {str(org.id): org for org in providers}
        self.provider.choices = [SelectChoice("", _l("(choose)")),
                                 *(SelectChoice(str(org.id), org.name) for org in providers)]  # fmt: skip

    @staticmethod
    def data_of(request: PrefixRequest) -> dict[str, Any]:
        """The request's values as the form shows them (editing a draft or a returned request)."""
        return {
            "provider": str(request.provider_id), "site_count": request.site_count, "prefix_len": request.prefix_len,
            "purpose": request.purpose, "usage": request.usage or "", "locations": list(request.locations or ()),
            "justification": request.justification, "plan_text": request.plan_text,
        }  # fmt: skip

    @property
    def submitting(self) -> bool:
        return bool(self.save_and_submit.data)

    def values(self) -> dict[str, Any]:
        """The values for ``create_request``/``update_request`` (an allocator not offered is none chosen)."""
        return {
            "provider": self._providers.get(self.provider.data or ""), "site_count": self.site_count.data,
            "prefix_len": self.prefix_len.data, "purpose": self.purpose.data or "", "usage": self.usage.data or None,
            "locations": self.locations.data or "", "justification": self.justification.data or "",
            "plan_text": self.plan_text.data or None,
        }  # fmt: skip


class ApprovalForm(Form):
    """The allocator's approval: the pool and strategy previewed, then confirmed with the blocks the preview
    showed (``expected``)."""

    pool = SelectField(_l("Pool"), description=_l("Your organization's aggregates and allocations that can hold the "
                                                  "size asked, with the room each has."))  # fmt: skip
    strategy = SelectField(_l("Strategy"),
                           choices=[SelectChoice(s.value, label) for s, label in STRATEGY_LABELS.items()])  # fmt: skip
    note = TextAreaField(_l("Note for the requester (optional)"), render_kw={"rows": 2})
    expected = PrefixListField()

    def __init__(self, pools: Sequence[Pool], length: int, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pools = {str(pool.prefix.id): pool.prefix for pool in pools}
        self.pool.choices = [
            SelectChoice(str(pool.prefix.id),
                         _l("%(pool)s (fits %(n)d more /%(length)d)", pool=pool.prefix.network, n=pool.fits,
                            length=length))
            for pool in pools
        ]  # fmt: skip

    @property
    def chosen_pool(self) -> Prefix:
        return self._pools[self.pool.data]

    @property
    def chosen_strategy(self) -> Strategy:
        return Strategy(self.strategy.data)


class ReturnForm(Form):
    comment = TextAreaField(_l("What to correct"), render_kw={"rows": 3},
                            description=_l("Required: the requester reads it beside the request."))  # fmt: skip


class RejectForm(Form):
    reason = TextAreaField(_l("Why it is rejected"), render_kw={"rows": 3},
                           description=_l("Required: the requester reads it beside the request."))  # fmt: skip
