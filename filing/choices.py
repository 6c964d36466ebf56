"""Closed vocabularies of the filing package: a filing's type and its workflow's states."""

from __future__ import annotations

from enum import StrEnum

from flask_babel import lazy_gettext as _l


class FilingType(StrEnum):
    """分配方式: what the filer did with the block."""

    HOLDING = "holding"  # received from the upstream allocator (or, for tier 1, a registry) and held
    ALLOCATION = "allocation"  # handed on to a lower-level allocator
    ASSIGNMENT = "assignment"  # assigned to a user organization
    RESERVED = "reserved"  # kept back by the filer

    @property
    def label(self) -> str:
        return str(TYPE_LABELS[self])

    @property
    def hands_on(self) -> bool:
        """The block goes to another organization (the user organization is not the filer)."""
        return self in (FilingType.ALLOCATION, FilingType.ASSIGNMENT)


TYPE_LABELS = {
    FilingType.HOLDING: _l("Holding"),
    FilingType.ALLOCATION: _l("Allocation onward"),
    FilingType.ASSIGNMENT: _l("Assignment to a user"),
    FilingType.RESERVED: _l("Reserved"),
}
# The national format's words for the types (分配方式), as files and exports write them.
TYPE_CHINESE = {
    FilingType.HOLDING: "持有",
    FilingType.ALLOCATION: "分配",
    FilingType.ASSIGNMENT: "指派",
    FilingType.RESERVED: "保留",
}


class FilingState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    APPROVED = "approved"
    CHANGE_SUBMITTED = "change_submitted"
    CHANGE_RETURNED = "change_returned"
    REJECTED = "rejected"
    CANCELLED = "cancelled"
    DELETED = "deleted"  # a draft its filer deleted: the row goes in the same transaction

    @property
    def label(self) -> str:
        return str(STATE_LABELS[self])

    @property
    def under_review(self) -> bool:
        return self in UNDER_REVIEW

    @property
    def active(self) -> bool:
        """The filing stands (or is about to): it claims its block against other holders' filings."""
        return self in ACTIVE

    @property
    def with_filer(self) -> bool:
        """The filer has the next step (writing, correcting)."""
        return self in (FilingState.DRAFT, FilingState.RETURNED, FilingState.CHANGE_RETURNED)


STATE_LABELS = {
    FilingState.DRAFT: _l("Draft"),
    FilingState.SUBMITTED: _l("Submitted, awaiting review"),
    FilingState.RETURNED: _l("Returned for correction"),
    FilingState.APPROVED: _l("Approved"),
    FilingState.CHANGE_SUBMITTED: _l("Change submitted, awaiting review"),
    FilingState.CHANGE_RETURNED: _l("Change returned for correction"),
    FilingState.REJECTED: _l("Rejected"),
    FilingState.CANCELLED: _l("Cancelled"),
    FilingState.DELETED: _l("Deleted"),
}
UNDER_REVIEW = frozenset({FilingState.SUBMITTED, FilingState.CHANGE_SUBMITTED})
ACTIVE = frozenset({
    FilingState.SUBMITTED, FilingState.RETURNED, FilingState.APPROVED, FilingState.CHANGE_SUBMITTED,
    FilingState.CHANGE_RETURNED,
})  # fmt: skip
# Standing filings: approved once and not cancelled (a change under way does not undo the approval).
STANDING = frozenset({FilingState.APPROVED, FilingState.CHANGE_SUBMITTED, FilingState.CHANGE_RETURNED})


class VersionOutcome(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    RETURNED = "returned"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return str(OUTCOME_LABELS[self])


OUTCOME_LABELS = {
    VersionOutcome.PENDING: _l("Awaiting review"),
    VersionOutcome.APPROVED: _l("Approved"),
    VersionOutcome.RETURNED: _l("Returned"),
    VersionOutcome.REJECTED: _l("Rejected"),
    VersionOutcome.WITHDRAWN: _l("Withdrawn"),
}


class ReportOperation(StrEnum):
    """The national system's upload operations."""

    ADD = "XZBA"  # 新增备案
    CHANGE = "XGBA"  # 修改备案
    DELETE = "SCBA"  # 删除备案


class ChoiceList(StrEnum):
    """The value lists a filing's fields take, kept as data regulator administrators edit (``ChoiceValue``)."""

    NATURE = "nature"  # 单位性质
    INDUSTRY = "industry"  # 行业分类 (GB/T 4754-2017 sections)
    USAGE = "usage"  # IP使用方式

    @property
    def label(self) -> str:
        return str(CHOICE_LIST_LABELS[self])


CHOICE_LIST_LABELS = {
    ChoiceList.NATURE: _l("Nature of the organization"),
    ChoiceList.INDUSTRY: _l("Industry"),
    ChoiceList.USAGE: _l("Use of the addresses"),
}
# GB/T 4754-2017 sections counted as industry (工业) in the statistics: mining, manufacturing, utilities.
INDUSTRIAL_SECTIONS = frozenset({"B", "C", "D"})


class RunScope(StrEnum):
    """What a reconciliation compares: everything, one carrier's records and filings, or one block."""

    ALL = "all"
    CARRIER = "carrier"
    BLOCK = "block"

    @property
    def label(self) -> str:
        return str(RUN_SCOPE_LABELS[self])


RUN_SCOPE_LABELS = {
    RunScope.ALL: _l("The whole city"),
    RunScope.CARRIER: _l("One carrier"),
    RunScope.BLOCK: _l("One block"),
}


class RunState(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"

    @property
    def label(self) -> str:
        return str(RUN_STATE_LABELS[self])


RUN_STATE_LABELS = {
    RunState.QUEUED: _l("Waiting to run"), RunState.RUNNING: _l("Running"), RunState.DONE: _l("Done"),
    RunState.FAILED: _l("Failed"),
}  # fmt: skip


class CaseState(StrEnum):
    """What reviewers did about a finding."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    ASSIGNED = "assigned"

    @property
    def label(self) -> str:
        return str(CASE_STATE_LABELS[self])


CASE_STATE_LABELS = {
    CaseState.OPEN: _l("Open"), CaseState.ACKNOWLEDGED: _l("Acknowledged"), CaseState.ASSIGNED: _l("Assigned"),
}  # fmt: skip


# The finding types of a reconciliation (``filing.reconcile.FindingType``), as the pages name them.
FINDING_TYPE_LABELS = {
    "matched": _l("Matched"),
    "unfiled": _l("Unfiled"),
    "filed-not-assigned": _l("Filed, not assigned"),
    "holder-mismatch": _l("Holder differs"),
    "size-mismatch": _l("Size differs"),
    "overlapping-filings": _l("Overlapping filings"),
    "outside-aggregate": _l("Outside the carrier's blocks"),
}
