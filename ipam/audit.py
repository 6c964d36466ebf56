"""How the audit trail names prefixes, claims, prefix requests and subnet plans, their fields, values and actions
(see ``accounts.audit.describe``)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from accounts.audit import Vocabulary, describe, name_actions
from ipam.choices import (
    CLAIM_STATUS_LABELS,
    KIND_LABELS,
    REQUEST_STATE_LABELS,
    SOURCE_LABELS,
    STATUS_LABELS,
    USAGE_LABELS,
)
from ipam.forms import STRATEGY_LABELS

describe("prefix", Vocabulary(_l("Prefix"), {
    "network": _l("Prefix"), "kind": _l("Kind"), "status": _l("Status"), "holder_id": _l("Holder"),
    "parent_id": _l("Parent"), "usage": _l("Usage"), "description": _l("Description"), "source": _l("Source"),
    "assigned_on": _l("Assigned on"), "child_min_len": _l("Shortest child length"),
    "child_max_len": _l("Longest child length"), "child_default_len": _l("Default child length"),
    "default_strategy": _l("Default strategy"), "nibble_aligned": _l("Nibble-aligned children only"),
    "pool_strict": _l("Imports must keep this policy too"),
}, {
    "kind": KIND_LABELS, "status": STATUS_LABELS, "usage": USAGE_LABELS, "source": SOURCE_LABELS,
    "default_strategy": STRATEGY_LABELS,
}))  # fmt: skip
describe("prefix_claim", Vocabulary(_l("Claim"), {
    "network": _l("Prefix"), "kind": _l("Kind"), "claimant_id": _l("Claimant"), "reason": _l("Where it comes from"),
    "status": _l("Status"), "decision_note": _l("Note"), "prefix_id": _l("Registered prefix"),
}, {"kind": KIND_LABELS, "status": CLAIM_STATUS_LABELS}))  # fmt: skip
describe("prefix_request", Vocabulary(_l("Prefix request"), {
    "provider_id": _l("Allocator asked"), "site_count": _l("Sites"), "prefix_len": _l("Size per site"),
    "purpose": _l("Purpose"), "usage": _l("Usage"), "locations": _l("Locations"), "justification": _l("Justification"),
    "plan_text": _l("Subnet plan"), "state": _l("State"), "decision_note": _l("Note"), "pool": _l("Pool"),
    "strategy": _l("Strategy"), "blocks": _l("Allocated blocks"),
}, {"usage": USAGE_LABELS, "state": REQUEST_STATE_LABELS, "strategy": STRATEGY_LABELS}))  # fmt: skip
describe("subnet_plan", Vocabulary(_l("Subnet plan"), {
    "name": _l("Name"), "parent_network": _l("Parent block"), "text": _l("Plan"), "created": _l("Blocks created"),
    "already_registered": _l("Already registered"),
}))  # fmt: skip

name_actions({
    "request.create": _l("Prefix request drafted"), "request.update": _l("Prefix request edited"),
    "request.submit": _l("Prefix request submitted"), "request.resubmit": _l("Prefix request submitted again"),
    "request.approve": _l("Prefix request approved, blocks allocated"),
    "request.return": _l("Prefix request returned for correction"), "request.reject": _l("Prefix request rejected"),
    "request.withdraw": _l("Prefix request withdrawn"),
    "plan.create": _l("Subnet plan saved"), "plan.update": _l("Subnet plan changed"),
    "plan.delete": _l("Subnet plan deleted"), "plan.apply": _l("Subnet plan applied to the registry"),
})  # fmt: skip
