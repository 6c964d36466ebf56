"""Who may file, see, review and report filings, registered with ``core.policy``."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from accounts.permissions import allocates, is_administrator, is_enterprise, is_regulator
from core.policy import rule, system_actor


class Action(StrEnum):
    VIEW_FILING = "view_filing"
    FILE = "file"  # write, submit, correct, change and cancel one's own organization's filings
    REVIEW_FILING = "review_filing"  # approve, return, reject
    REPORT_FILINGS = "report_filings"  # the national report
    VIEW_FILING_STATISTICS = "view_filing_statistics"
    MANAGE_FILING_SETTINGS = "manage_filing_settings"  # the calendar, deadlines, the number, value lists
    REMIND_FILERS = "remind_filers"  # the daily deadline reminders: the job's
    VIEW_RECONCILIATION = "view_reconciliation"  # runs and their findings
    START_RECONCILIATION = "start_reconciliation"
    EXECUTE_RECONCILIATION = "execute_reconciliation"  # a run's own steps (running, done, failed): the job's
    ACT_ON_FINDING = "act_on_finding"  # acknowledge, assign, reopen


def files_for(user: Any, filing: Any) -> bool:
    return filing.filer_id == user.organization_id


@rule(Action.VIEW_FILING)
def _view_filing(user: Any, filing: Any) -> bool:
    # obj: a filing (None: may see filings at all). The filer sees its filings; the user organization sees the
    # filings about itself once they are submitted (a draft is the filer's own business).
    if is_regulator(user) or filing is None:
        return True
    if files_for(user, filing):
        return True
    return filing.user_organization_id == user.organization_id and filing.state != "draft"


@rule(Action.FILE)
def _file(user: Any, filing: Any) -> bool:
    # obj: a filing (None: may file at all). Allocators file what they hold and hand on; enterprises file the
    # use of the blocks assigned to them.
    if not (allocates(user) or is_enterprise(user)):
        return False
    return filing is None or files_for(user, filing)


@rule(Action.REVIEW_FILING, Action.REPORT_FILINGS, Action.VIEW_FILING_STATISTICS)
def _regulators(user: Any, obj: Any) -> bool:
    return is_regulator(user)


@rule(Action.MANAGE_FILING_SETTINGS)
def _administrators(user: Any, obj: Any) -> bool:
    return is_administrator(user)


@rule(Action.REMIND_FILERS)
def _job_only(user: Any, obj: Any) -> bool:
    return False  # the daily job (or the operator's `filing remind`) sends the reminders


@rule(Action.VIEW_RECONCILIATION, Action.ACT_ON_FINDING)
def _reconciliation_reader(user: Any, obj: Any) -> bool:
    # obj: a run, a finding or a finding's case (None: the pages at all). Regulators see every run; a carrier or
    # allocator the runs of its own scope and the findings about its own records and filings.
    if is_regulator(user):
        return True
    return allocates(user) and (obj is None or getattr(obj, "carrier_id", None) == user.organization_id)


@rule(Action.START_RECONCILIATION)
def _start_reconciliation(user: Any, carrier: Any) -> bool:
    # obj: the carrier the run is scoped to (None: everything, or a block). Regulators run any scope; a carrier
    # or allocator checks its own records against its own filings.
    if is_regulator(user):
        return True
    return allocates(user) and carrier is not None and carrier.id == user.organization_id


@rule(Action.EXECUTE_RECONCILIATION)
def _reconciler_only(user: Any, obj: Any) -> bool:
    return False  # the job queue (or the operator's `flask reconcile`) runs the comparison


FILING_REMINDER = system_actor("filing-reminder", [Action.REMIND_FILERS, Action.VIEW_FILING])
RECONCILER = system_actor(
    "reconciler", [Action.EXECUTE_RECONCILIATION, Action.START_RECONCILIATION, Action.VIEW_RECONCILIATION]
)
