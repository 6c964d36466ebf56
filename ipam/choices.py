"""Closed vocabularies of the prefix registry."""

from __future__ import annotations

import functools
from enum import StrEnum

from flask_babel import lazy_gettext as _l


class PrefixKind(StrEnum):
    AGGREGATE = "aggregate"
    ALLOCATION = "allocation"
    ASSIGNMENT = "assignment"
    SUBNET = "subnet"
    RESERVED = "reserved"

    @property
    def label(self) -> str:
        return str(KIND_LABELS[self])


KIND_LABELS = {
    PrefixKind.AGGREGATE: _l("Aggregate"),
    PrefixKind.ALLOCATION: _l("Allocation"),
    PrefixKind.ASSIGNMENT: _l("Assignment"),
    PrefixKind.SUBNET: _l("Subnet"),
    PrefixKind.RESERVED: _l("Reserved block"),
}

# Kinds nest left to right: a prefix never contains one of a kind to its left. Allocations may nest (a
# lower-tier allocator receives an allocation and allocates onward from it), and so may subnets (a site's block
# holds its zones, a zone its VLANs: the levels of a subnet plan); reserved blocks hold nothing.
KIND_RANK = {
    PrefixKind.AGGREGATE: 0,
    PrefixKind.ALLOCATION: 1,
    PrefixKind.ASSIGNMENT: 2,
    PrefixKind.SUBNET: 3,
}


@functools.cache
def may_contain(parent_kind: str, child_kind: str) -> bool:
    parent, child = PrefixKind(parent_kind), PrefixKind(child_kind)
    if parent is PrefixKind.RESERVED:
        return False
    if child is PrefixKind.RESERVED:
        return True
    if parent is child and parent in (PrefixKind.ALLOCATION, PrefixKind.SUBNET):
        return True
    return KIND_RANK[parent] < KIND_RANK[child]


class PrefixStatus(StrEnum):
    ACTIVE = "active"
    RESERVED = "reserved"
    DEPRECATED = "deprecated"

    @property
    def label(self) -> str:
        return str(STATUS_LABELS[self])


STATUS_LABELS = {
    PrefixStatus.ACTIVE: _l("Active"),
    PrefixStatus.RESERVED: _l("Reserved"),
    PrefixStatus.DEPRECATED: _l("Deprecated"),
}


class Usage(StrEnum):
    """使用方式: how the addresses are used, as the filing fields name it."""

    STATIC = "static"
    DYNAMIC = "dynamic"
    LEASED_LINE = "leased-line"
    IDC = "idc"
    ENTERPRISE_NETWORK = "enterprise-network"
    INDUSTRIAL_NETWORK = "industrial-network"
    NAT_POOL = "nat-pool"
    OTHER = "other"

    @property
    def label(self) -> str:
        return str(USAGE_LABELS[self])


USAGE_LABELS = {
    Usage.STATIC: _l("Static"),
    Usage.DYNAMIC: _l("Dynamic"),
    Usage.LEASED_LINE: _l("Leased line"),
    Usage.IDC: _l("IDC"),
    Usage.ENTERPRISE_NETWORK: _l("Enterprise network"),
    Usage.INDUSTRIAL_NETWORK: _l("Industrial network"),
    Usage.NAT_POOL: _l("NAT pool"),
    Usage.OTHER: _l("Other"),
}


class Source(StrEnum):
    MANUAL = "manual"
    API = "api"
    IMPORT = "import"

    @property
    def label(self) -> str:
        return str(SOURCE_LABELS[self])


SOURCE_LABELS = {Source.MANUAL: _l("Entered by hand"), Source.API: _l("Through the API"), Source.IMPORT: _l("Imported")}


class ClaimStatus(StrEnum):
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return str(CLAIM_STATUS_LABELS[self])


CLAIM_STATUS_LABELS = {
    ClaimStatus.PENDING: _l("Awaiting confirmation"),
    ClaimStatus.CONFIRMED: _l("Confirmed"),
    ClaimStatus.REJECTED: _l("Rejected"),
    ClaimStatus.WITHDRAWN: _l("Withdrawn"),
}


class ClaimAction(StrEnum):
    """The steps of a claim's workflow (``ipam.claims.CLAIMS``)."""

    CONFIRM = "confirm"
    REJECT = "reject"
    WITHDRAW = "withdraw"


class RequestState(StrEnum):
    """A prefix request's states (``ipam.prefix_requests.REQUESTS``)."""

    DRAFT = "draft"
    SUBMITTED = "submitted"
    RETURNED = "returned"
    APPROVED = "approved"
    REJECTED = "rejected"
    WITHDRAWN = "withdrawn"

    @property
    def label(self) -> str:
        return str(REQUEST_STATE_LABELS[self])

    @property
    def with_requester(self) -> bool:
        """The requester may edit it (a draft, or returned for correction)."""
        return self in (RequestState.DRAFT, RequestState.RETURNED)

    @property
    def open(self) -> bool:
        return self in (RequestState.DRAFT, RequestState.SUBMITTED, RequestState.RETURNED)


REQUEST_STATE_LABELS = {
    RequestState.DRAFT: _l("Draft"),
    RequestState.SUBMITTED: _l("Awaiting the allocator"),
    RequestState.RETURNED: _l("Returned for correction"),
    RequestState.APPROVED: _l("Approved and allocated"),
    RequestState.REJECTED: _l("Rejected"),
    RequestState.WITHDRAWN: _l("Withdrawn"),
}

# Sizes an enterprise asks for per site: a /48 for a site, a /56 for a small one (RIPE-690), and between.
REQUEST_LENGTHS = (44, 48, 52, 56, 60, 64)
MAX_REQUESTED_SITES = 256
