"""Every (state, step, role) of a filing's workflow: the table decides, and nothing else lets a step through."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session

from core.errors import PermissionDenied
from core.workflow import IllegalTransition
from filing import operations
from filing.choices import FilingState
from filing.models import Filing
from filing.permissions import Action
from filing.workflow import FILINGS
from tests.filing_support import FilingWorld

STEPS = ("submit", "delete", "approve", "return", "reject", "change", "cancel", "withdraw")
ROLES = ("filer", "other_carrier", "user_organization", "regulator", "admin")
ROLE_MAY = {"filer": Action.FILE, "regulator": Action.REVIEW_FILING, "admin": Action.REVIEW_FILING}


def _filing_in(world: FilingWorld, state: FilingState) -> Filing:
    world.carrier_holding()
    block = "2001:db8:1::/48"
    if state is FilingState.DRAFT:
        return world.draft(world.carrier, "assignment", block)
    if state in (FilingState.SUBMITTED, FilingState.RETURNED, FilingState.REJECTED):
        filing = world.submitted(world.carrier, "assignment", block)
        if state is FilingState.RETURNED:
            operations.return_filing(world.db, filing, actor=world.regulator, comment="more detail")
        if state is FilingState.REJECTED:
            operations.reject_filing(world.db, filing, actor=world.regulator, reason="wrong block")
        return filing
    filing = world.approved(world.carrier, "assignment", block)
    if state is FilingState.CANCELLED:
        operations.cancel_filing(world.db, filing, actor=world.carrier_user, reason="returned")
    if state in (FilingState.CHANGE_SUBMITTED, FilingState.CHANGE_RETURNED):
        operations.change_filing(world.db, filing, {"gateway_ip": "2001:db8:1::1"}, actor=world.carrier_user)
        if state is FilingState.CHANGE_RETURNED:
            operations.return_filing(world.db, filing, actor=world.regulator, comment="which gateway?")
    return filing


def _step(step: str, filing: Filing, world: FilingWorld, actor: Any) -> Callable[[], Any]:
    db = world.db
    return {
        "submit": lambda: operations.submit_filing(db, filing, actor=actor),
        "delete": lambda: operations.delete_draft(db, filing, actor=actor),
        "approve": lambda: operations.approve_filing(db, filing, actor=actor),
        "return": lambda: operations.return_filing(db, filing, actor=actor, comment="fix it"),
        "reject": lambda: operations.reject_filing(db, filing, actor=actor, reason="no"),
        "change": lambda: operations.change_filing(db, filing, {"remarks": "moved"}, actor=actor),
        "cancel": lambda: operations.cancel_filing(db, filing, actor=actor, reason="gone"),
        "withdraw": lambda: operations.withdraw_change(db, filing, actor=actor),
    }[step]


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("state", [s for s in FilingState if s is not FilingState.DELETED])
def test_each_step_is_taken_exactly_when_the_table_and_the_role_allow_it(
    db: Session, world: FilingWorld, state: FilingState, role: str
) -> None:
    filing = _filing_in(world, state)
    assert filing.state == state.value
    actor = {
        "filer": world.carrier_user, "other_carrier": world.other_carrier_user,
        "user_organization": world.enterprise_user, "regulator": world.regulator, "admin": world.admin,
    }[role]  # fmt: skip
    for step in STEPS:
        transition = FILINGS.table.get((state, step))
        expected = transition is not None and transition.permission == ROLE_MAY.get(role)
        with db.begin_nested() as savepoint:
            try:
                _step(step, filing, world, actor)()
            except (IllegalTransition, PermissionDenied):
                taken = False
            else:
                taken = True
                if transition is not None and step != "delete":
                    assert filing.state == transition.target.value, (state, step, role)
            savepoint.rollback()
        db.refresh(filing)
        assert taken == expected, (state.value, step, role)
        assert filing.state == state.value


def test_the_table_has_one_way_out_of_review_for_each_decision() -> None:
    for state in (FilingState.SUBMITTED, FilingState.CHANGE_SUBMITTED):
        assert {step for (source, step) in FILINGS.table if source is state} == {"approve", "return", "reject"}
    finals = {FilingState.REJECTED, FilingState.CANCELLED, FilingState.DELETED}
    assert not [key for key in FILINGS.table if key[0] in finals]
