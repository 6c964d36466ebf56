"""How the audit trail names filings and the filing settings, their fields, values and actions."""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from flask_babel import lazy_gettext as _l

from accounts.audit import Vocabulary, describe, describe_values, name_actions
from filing.choices import (
    CASE_STATE_LABELS,
    CHOICE_LIST_LABELS,
    RUN_SCOPE_LABELS,
    RUN_STATE_LABELS,
    STATE_LABELS,
    TYPE_LABELS,
    ChoiceList,
)
from filing.notifications import KIND_LABELS as REMINDER_LABELS

FIELD_LABELS = {
    "filing_type": _l("Type of filing"), "block": _l("Address block"), "source_name": _l("Source organization"),
    "user_name": _l("User organization"), "user_uscc": _l("USCC"), "user_nature": _l("Nature of the organization"),
    "user_industry": _l("Industry"), "user_division": _l("Division code"), "user_address": _l("Address of the user organization"),
    "usage": _l("Use of the addresses"), "allocated_on": _l("Date of allocation or use"),
    "gateway_ip": _l("Gateway address"), "gateway_address": _l("Where the gateway is"),
    "contact_name": _l("Contact"), "contact_phone": _l("Phone"), "contact_email": _l("E-mail"),
    "remarks": _l("Remarks"), "state": _l("State"), "number": _l("Filing number"), "version": _l("Version"),
    "field_comments": _l("Comments on fields"), "attachment": _l("Document"), "size": _l("Size"),
    "sha256": _l("SHA-256"), "reminder": _l("Reminder"),
}  # fmt: skip


class ChoiceNames(Mapping[str, str]):
    """A value list's names in the reader's language, read when the trail is shown (the lists are data)."""

    def __init__(self, list_name: ChoiceList) -> None:
        self.list_name = list_name

    def _names(self) -> dict[str, str]:
        from flask import g, has_request_context

        from core.extensions import db
        from core.i18n import current_language
        from filing.queries import choice_names

        if has_request_context() and "audit_choice_names" in g:
            names = g.audit_choice_names
        else:
            names = choice_names(db.session, chinese=current_language() == "zh_CN")
            if has_request_context():
                g.audit_choice_names = names
        return {code: name for (list_name, code), name in names.items() if list_name == self.list_name}

    def __getitem__(self, code: str) -> str:
        return self._names()[code]

    def __iter__(self) -> Iterator[str]:
        return iter(self._names())

    def __len__(self) -> int:
        return len(self._names())


describe("filing", Vocabulary(_l("Filing"), FIELD_LABELS, {
    "filing_type": TYPE_LABELS, "state": STATE_LABELS, "reminder": REMINDER_LABELS,
    "usage": ChoiceNames(ChoiceList.USAGE), "user_nature": ChoiceNames(ChoiceList.NATURE),
    "user_industry": ChoiceNames(ChoiceList.INDUSTRY),
}))  # fmt: skip
# The organization's nature and industry are codes of the value lists the filings keep.
describe_values("organization", "nature", ChoiceNames(ChoiceList.NATURE))
describe_values("organization", "industry", ChoiceNames(ChoiceList.INDUSTRY))
describe("holiday", Vocabulary(_l("Calendar day"), {
    "day": _l("Date"), "working": _l("Working day"), "name": _l("Name"),
}))  # fmt: skip
describe("choice_value", Vocabulary(_l("Value of a list"), {
    "list": _l("List"), "code": _l("Code"), "name_zh": _l("Name (Chinese)"), "name_en": _l("Name (English)"),
    "active": _l("Offered"),
}, {"list": CHOICE_LIST_LABELS}))  # fmt: skip
describe("filing_setting", Vocabulary(_l("Filing setting"), {"name": _l("Setting"), "value": _l("Value")}))
describe("filing_report", Vocabulary(_l("National report"), {"since": _l("Since"), "through": _l("Through")}))

describe("reconciliation_run", Vocabulary(_l("Reconciliation"), {
    "scope": _l("Scope"), "carrier_id": _l("Carrier"), "block": _l("Block"), "state": _l("State"),
    "counts": _l("Findings"), "error": _l("Error"),
}, {"scope": RUN_SCOPE_LABELS, "state": RUN_STATE_LABELS}))  # fmt: skip
describe("finding_case", Vocabulary(_l("Finding"), {
    "state": _l("State"), "comment": _l("Comment"), "assignee_id": _l("Assigned to"), "finding": _l("Finding"),
}, {"state": CASE_STATE_LABELS}))  # fmt: skip

name_actions({
    "reconciliation.create": _l("Reconciliation started"), "reconciliation.start": _l("Reconciliation running"),
    "reconciliation.finish": _l("Reconciliation done"), "reconciliation.fail": _l("Reconciliation failed"),
    "finding.acknowledge": _l("Finding acknowledged"), "finding.assign": _l("Finding assigned"),
    "finding.reopen": _l("Finding reopened"),
}, {"system:reconciler": _l("Reconciliation job")})  # fmt: skip
name_actions({
    "filing.create": _l("Filing drafted"), "filing.update": _l("Filing edited"), "filing.delete": _l("Draft deleted"),
    "filing.submit": _l("Filing submitted"), "filing.resubmit": _l("Filing submitted again"),
    "filing.approve": _l("Filing approved"), "filing.return": _l("Filing returned for correction"),
    "filing.reject": _l("Filing rejected"), "filing.change": _l("Change filed"),
    "filing.approve_change": _l("Change approved"), "filing.reject_change": _l("Change rejected"),
    "filing.withdraw_change": _l("Change withdrawn"), "filing.cancel": _l("Filing cancelled"),
    "filing.attach": _l("Document attached"), "filing.detach": _l("Document removed"),
    "filing.remind": _l("Deadline reminder sent"),
    "holiday.set": _l("Calendar day set"), "holiday.remove": _l("Calendar day removed"),
    "holiday.import": _l("Holiday table imported"), "filing_setting.set": _l("Filing setting changed"),
    "filing_report.create": _l("National report made"), "choice_value.add": _l("Value added to a list"),
    "choice_value.update": _l("Value of a list changed"),
}, {"system:filing-reminder": _l("Deadline reminders")})  # fmt: skip
