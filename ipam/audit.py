"""How the audit trail names prefixes and claims, their fields and values (see ``accounts.audit.describe``)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from accounts.audit import Vocabulary, describe
from ipam.choices import CLAIM_STATUS_LABELS, KIND_LABELS, SOURCE_LABELS, STATUS_LABELS, USAGE_LABELS
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
