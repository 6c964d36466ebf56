"""Forms of the reconciliation pages: starting a run, the findings' filters (a GET form: a value that names nothing
is left out, so a stale link shows more, never an error) and what a reviewer does about a finding. The operations
check the values again; the forms make sure each field has the right type and names something offered."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask_babel import lazy_gettext as _l
from wtforms import BooleanField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import AnyOf, Length, NumberRange, Optional, Regexp

from accounts.models import Organization, User
from core.forms import Form
from filing.choices import CASE_STATE_LABELS, FINDING_TYPE_LABELS, RUN_SCOPE_LABELS, RunScope
from filing.reconcile import FindingType
from filing.reconciliation import CASES
from filing.reconciliation_queries import FindingFilter

MAX_COMMENT = 2000  # what the case keeps (``act_on_finding`` cuts there too)
MAX_HOLDER_SEARCH = 200
MAX_WORKING_DAYS = 100_000
DISCREPANCIES = tuple(kind.value for kind in FindingType if kind is not FindingType.MATCHED)  # stored, listable


def _any() -> SelectChoice:
    return SelectChoice("", _l("(any)"))


class StartRunForm(Form):
    """A regulator's choice of scope (everything, one carrier or allocator, one registered block). A carrier's
    form has no fields: its run is always of its own records and filings."""

    scope = SelectField(_l("Scope"), choices=[SelectChoice(s.value, label) for s, label in RUN_SCOPE_LABELS.items()],
                        default=RunScope.ALL.value)  # fmt: skip
    carrier = SelectField(_l("Carrier"), validators=[Optional()],
                          description=_l("Carriers and allocators: the records they handed on and their filings."))  # fmt: skip
    block = StringField(_l("Block"), validators=[Optional(), Length(max=43)],
                        description=_l("A registered block, e.g. 2001:db8::/32: the records and filings inside it."))  # fmt: skip

    def __init__(self, carriers: Sequence[Organization], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.carriers = {str(org.id): org for org in carriers}
        self.carrier.choices = [SelectChoice("", _l("(choose)")),
                                *(SelectChoice(key, org.name) for key, org in self.carriers.items())]  # fmt: skip

    @property
    def scope_value(self) -> RunScope:
        return RunScope(self.scope.data)

    @property
    def chosen_carrier(self) -> Organization | None:
        return self.carriers.get(self.carrier.data or "")

    @property
    def block_text(self) -> str:
        return (self.block.data or "").strip()


class FindingFilterForm(Form):
    """The findings table's filters, read from the query string."""

    class Meta:
        csrf = False  # a GET filter, changes nothing

    type = SelectField(_l("Type"), validators=[Optional(), AnyOf(DISCREPANCIES)],
                       choices=[_any(), *(SelectChoice(k, FINDING_TYPE_LABELS[k]) for k in DISCREPANCIES)])  # fmt: skip
    carrier = SelectField(_l("Carrier"), validators=[Optional()])
    district = StringField(_l("District"), validators=[Optional(), Regexp(r"^\d{1,6}$")],
                           description=_l("A division code or its beginning, e.g. 1201."))  # fmt: skip
    holder = StringField(_l("Holder"), validators=[Optional(), Length(max=MAX_HOLDER_SEARCH)],
                         description=_l("Part of the name, or the USCC, of the holder or the filing's user."))  # fmt: skip
    min_days = IntegerField(_l("Working days ≥"), validators=[Optional(), NumberRange(0, MAX_WORKING_DAYS)])
    late = BooleanField(_l("Late only"))
    case = SelectField(_l("Case"), validators=[Optional(), AnyOf(list(CASE_STATE_LABELS))],
                       choices=[_any(), *(SelectChoice(s.value, label) for s, label in CASE_STATE_LABELS.items())])  # fmt: skip
    change = StringField(validators=[Optional(), AnyOf(("new", "resolved", "still_open"))])  # the diff's lists

    def __init__(self, carriers: dict[int, str], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.carrier.choices = [_any(), *(SelectChoice(str(i), name) for i, name in
                                          sorted(carriers.items(), key=lambda item: item[1]))]  # fmt: skip

    def _valid(self, name: str) -> Any:
        field = self[name]
        return field.data if field.data not in (None, "") and not field.errors else None

    def finding_filter(self) -> FindingFilter:
        """The filter of the fields that hold a valid value (``validate()`` first)."""
        carrier = self._valid("carrier")
        holder = self._valid("holder")
        return FindingFilter(
            type=self._valid("type"),
            carrier_id=int(carrier) if carrier else None,
            district=self._valid("district"),
            holder=holder.strip() or None if holder else None,
            min_working_days=self._valid("min_days"),
            late=True if self.late.data else None,
            case_state=self._valid("case"),
        )

    @property
    def change_value(self) -> str | None:
        return self._valid("change")

    def query_args(self) -> dict[str, str]:
        """The valid filters as query arguments, for the export links and the counts' links."""
        return {name: str(self[name].data) for name in ("type", "carrier", "district", "holder", "min_days", "case",
                                                         "change") if self._valid(name) is not None} | (
            {"late": "y"} if self.late.data else {}
        )  # fmt: skip


class CaseForm(Form):
    """Acknowledge, assign or reopen a finding: the action is the button pressed; a comment says why."""

    action = StringField(validators=[AnyOf(CASES.actions)])
    comment = TextAreaField(_l("Comment"), validators=[Optional(), Length(max=MAX_COMMENT)],
                            description=_l("Needed to acknowledge or assign: why, for whoever reads this finding next."))  # fmt: skip
    assignee = SelectField(_l("Assign to"), validators=[Optional()])

    def __init__(self, assignees: Sequence[User], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.assignees = {str(user.id): user for user in assignees}
        self.assignee.choices = [SelectChoice("", _l("(choose)")), *(
            SelectChoice(key, f"{user.display_name} · {user.organization.name}") for key, user in self.assignees.items()
        )]  # fmt: skip

    @property
    def chosen_assignee(self) -> User | None:
        return self.assignees.get(self.assignee.data or "")
