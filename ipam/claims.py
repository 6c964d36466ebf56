"""Claims to top-level blocks: a carrier or allocator files one, a regulator administrator confirms or rejects
it, the claimant may withdraw it while it waits. The transitions are one table; the pages, the API and the tests
read it. Operations take the session and the acting user, flush, and leave the commit to their caller.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.audit import record_event, snapshot
from accounts.models import User
from core import policy
from core.db import utcnow
from core.errors import ValidationFailed
from core.messages import message as _l
from core.workflow import Transition, Workflow, apply_transition
from ipam import operations
from ipam.choices import ClaimAction, ClaimStatus, PrefixKind
from ipam.models import PrefixClaim
from ipam.permissions import Action
from ipam.space import format_net

CLAIMABLE_KINDS = (PrefixKind.AGGREGATE.value, PrefixKind.ALLOCATION.value)


S = ClaimStatus
# The claim's workflow on the shared engine: anything not in the table is refused.
CLAIMS = Workflow(
    PrefixClaim,
    object_type="prefix_claim",
    states=ClaimStatus,
    audit=record_event,
    organization_of=lambda claim: claim.claimant_id,
    subject_of=lambda claim: claim.claimant,
    transitions=[
        Transition(S.PENDING, ClaimAction.CONFIRM, S.CONFIRMED, Action.DECIDE_CLAIM, "claim.confirm"),
        Transition(S.PENDING, ClaimAction.REJECT, S.REJECTED, Action.DECIDE_CLAIM, "claim.reject"),
        Transition(S.PENDING, ClaimAction.WITHDRAW, S.WITHDRAWN, Action.CLAIM_PREFIX, "claim.withdraw"),
    ],
)  # fmt: skip


def available_actions(claim: PrefixClaim, user: User | None) -> list[ClaimAction]:
    """What ``user`` may do with the claim now, in the table's order."""
    return [ClaimAction(t.action) for t in CLAIMS.available(claim, user)]


def claim_prefix(session: Session, prefix: str, *, kind: str, reason: str, actor: User) -> PrefixClaim:
    """File the actor's organization's claim to a top-level block. Nothing about others' space is checked or
    told here: overlaps are for the administrator who decides."""
    claimant = actor.organization
    policy.require(actor, Action.CLAIM_PREFIX, claimant)
    net = operations.parse_prefix(prefix)
    operations.check_holdable(net)
    errors: dict[str, list[object]] = {}
    if kind not in CLAIMABLE_KINDS:
        errors["kind"] = [_l("Claim an aggregate or an allocation.")]
    if not reason.strip() or len(reason) > 2000:
        errors["reason"] = [_l("Say where the block comes from (who allocated it, when, their reference).")]
    if errors:
        raise ValidationFailed(_l("The claim could not be filed."), fields=errors)  # type: ignore[arg-type]
    network = format_net(net)
    waiting = session.scalar(
        select(PrefixClaim.id).where(
            PrefixClaim.claimant_id == claimant.id, PrefixClaim.network == network,
            PrefixClaim.status == ClaimStatus.PENDING.value,
        )
    )  # fmt: skip
    if waiting is not None:
        raise ValidationFailed.on("prefix", _l("%(prefix)s is already claimed and waiting.", prefix=network))
    claim = PrefixClaim(network=network, kind=kind, claimant_id=claimant.id, reason=reason.strip(),
                        requested_by_id=actor.id, status=ClaimStatus.PENDING.value)  # fmt: skip
    session.add(claim)
    session.flush()
    _audit(session, actor, "claim.create", claim, after=snapshot(claim))
    return claim


def decide_claim(
    session: Session, claim: PrefixClaim, action: ClaimAction, *, actor: User | None, note: str | None = None
) -> PrefixClaim:
    """Move the claim along the table. Confirming registers the block for the claimant (every registry rule
    applies; a block that overlaps others' is refused here, to the administrator)."""
    CLAIMS.check(claim, action, actor=actor)
    prefix_id = claim.prefix_id
    if action is ClaimAction.CONFIRM:
        created = operations.add_prefix(session, claim.network, actor=actor, kind=claim.kind, holder=claim.claimant,
                                        description=claim.reason)  # fmt: skip
        prefix_id = created.id
    decision = {"decided_at": utcnow(), "decided_by_id": actor.id if actor is not None else None,
                "decision_note": (note or "").strip()[:2000] or None, "prefix_id": prefix_id}  # fmt: skip
    apply_transition(session, claim, action, actor=actor, comment=claim.network, values=decision,
                     audit_data={"decision_note": decision["decision_note"], "prefix_id": prefix_id})  # fmt: skip
    return claim


def _audit(session: Session, actor: User | None, action: str, claim: PrefixClaim, **values: object) -> None:
    record_event(
        session, actor=actor, action=action, object_type="prefix_claim", object_id=claim.id,
        organization_id=claim.claimant_id, summary=claim.network, **values,  # type: ignore[arg-type]
    )  # fmt: skip
