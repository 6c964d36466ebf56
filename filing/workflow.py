"""The filing's workflow, as a table on the shared engine (``core.workflow``).

    draft ──submit──► submitted ──approve──► approved ──change──► change_submitted ──approve──► approved
      │                  │ ──return──► returned ──submit──► submitted     │ ──return──► change_returned
      └─delete─► deleted └ ──reject──► rejected (final)                    │      ├─submit─► change_submitted
                                        approved ──cancel──► cancelled     │      └─withdraw─► approved
                                                                           └ ──reject──► approved (the change is
                                                                             refused; the approved version stands)

Filers (``FILE``, their own organization's filings) write, submit, correct, change, withdraw a change and cancel;
regulators (``REVIEW_FILING``) approve, return and reject. Approval gives the filing its number the first time.
"""

from __future__ import annotations

from typing import Any

from accounts.audit import record_event
from core.messages import message as _l
from core.workflow import Transition, Workflow
from filing.choices import FilingState
from filing.models import Filing
from filing.permissions import Action

S = FilingState
FILE, REVIEW = Action.FILE, Action.REVIEW_FILING

FILINGS = Workflow(
    Filing,
    object_type="filing",
    states=FilingState,
    audit=record_event,
    organization_of=lambda filing: filing.filer_id,
    state_attribute="state",
    transitions=[
        Transition(S.DRAFT, "submit", S.SUBMITTED, FILE, "filing.submit", label=_l("Submit for review")),
        Transition(S.DRAFT, "delete", S.DELETED, FILE, "filing.delete", label=_l("Delete the draft")),
        Transition(S.SUBMITTED, "approve", S.APPROVED, REVIEW, "filing.approve", label=_l("Approve")),
        Transition(S.SUBMITTED, "return", S.RETURNED, REVIEW, "filing.return", label=_l("Return for correction")),
        Transition(S.SUBMITTED, "reject", S.REJECTED, REVIEW, "filing.reject", label=_l("Reject")),
        Transition(S.RETURNED, "submit", S.SUBMITTED, FILE, "filing.resubmit", label=_l("Submit again")),
        Transition(S.APPROVED, "change", S.CHANGE_SUBMITTED, FILE, "filing.change", label=_l("File a change")),
        Transition(S.APPROVED, "cancel", S.CANCELLED, FILE, "filing.cancel", label=_l("Cancel the filing")),
        Transition(S.CHANGE_SUBMITTED, "approve", S.APPROVED, REVIEW, "filing.approve_change", label=_l("Approve")),
        Transition(S.CHANGE_SUBMITTED, "return", S.CHANGE_RETURNED, REVIEW, "filing.return",
                   label=_l("Return for correction")),
        Transition(S.CHANGE_SUBMITTED, "reject", S.APPROVED, REVIEW, "filing.reject_change", label=_l("Reject")),
        Transition(S.CHANGE_RETURNED, "submit", S.CHANGE_SUBMITTED, FILE, "filing.resubmit",
                   label=_l("Submit again")),
        Transition(S.CHANGE_RETURNED, "withdraw", S.APPROVED, FILE, "filing.withdraw_change",
                   label=_l("Withdraw the change")),
    ],
)  # fmt: skip

# The steps that take a filer's edited values with them (the form is the step's page).
EDITING_ACTIONS = frozenset({"change"})
# Steps whose audit and notification carry a reviewer's text, and whether it is required.
NEEDS_TEXT = {"return": True, "reject": True, "cancel": False, "approve": False}


def offered(filing: Filing, user: Any) -> list[Transition]:
    return FILINGS.available(filing, user)


def action_names(filing: Filing, user: Any) -> list[str]:
    """What ``user`` may do with ``filing`` now, as the API names it (editing a draft is ``update``)."""
    names = [t.action for t in FILINGS.available(filing, user)]
    from core import policy

    if filing.state_enum.with_filer and policy.can(user, FILE, filing):
        names.insert(0, "update")
    return names
