"""Claims to top-level blocks: a carrier or allocator files one, a regulator administrator confirms or rejects
it, the claimant may withdraw it while it waits. The transitions are one table; the pages, the API and the tests
read it. Operations take the session and the acting user, flush, and leave the commit to their caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.audit import record_event, snapshot
from accounts.models import User
from core import policy
from core.db import utcnow
from core.errors import Conflict, PermissionDenied, ValidationFailed
from core.messages import message as _l
from ipam import operations
from ipam.choices import ClaimStatus, PrefixKind
from ipam.models import PrefixClaim
from ipam.permissions import Action
from ipam.space import format_net

CLAIMABLE_KINDS = (PrefixKind.AGGREGATE.value, PrefixKind.ALLOCATION.value)


class ClaimAction(StrEnum):
    CONFIRM = "confirm"
    REJECT = "reject"
    WITHDRAW = "withdraw"


@dataclass(frozen=True)
class Transition:
    to: ClaimStatus
    allowed: policy.Action  # asked of the actor with the claim's claimant (withdraw) or the claim


# (state, action) -> transition. Anything not here is refused.
TRANSITIONS: dict[tuple[ClaimStatus, ClaimAction], Transition] = {
    (ClaimStatus.PENDING, ClaimAction.CONFIRM): Transition(ClaimStatus.CONFIRMED, Action.DECIDE_CLAIM),
    (ClaimStatus.PENDING, ClaimAction.REJECT): Transition(ClaimStatus.REJECTED, Action.DECIDE_CLAIM),
    (ClaimStatus.PENDING, ClaimAction.WITHDRAW): Transition(ClaimStatus.WITHDRAWN, Action.CLAIM_PREFIX),
}


class IllegalTransition(Conflict):
    code = "illegal_transition"


def available_actions(claim: PrefixClaim, user: User | None) -> list[ClaimAction]:
    """What ``user`` may do with the claim now, in the table's order."""
    return [
        action for (state, action), step in TRANSITIONS.items()
        if state is claim.status_enum and policy.can(user, step.allowed, claim.claimant)
    ]  # fmt: skip


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
    step = TRANSITIONS.get((claim.status_enum, action))
    if step is None:
        raise IllegalTransition(_l("A claim that is %(status)s cannot be changed.", status=claim.status_enum.label))
    if not policy.can(actor, step.allowed, claim.claimant):
        raise PermissionDenied(_l("You do not have permission to do that."))
    before = snapshot(claim)
    if action is ClaimAction.CONFIRM:
        created = operations.add_prefix(session, claim.network, actor=actor, kind=claim.kind, holder=claim.claimant,
                                        description=claim.reason)  # fmt: skip
        claim.prefix_id = created.id
    claim.status, claim.decided_at = step.to.value, utcnow()
    claim.decided_by_id = actor.id if actor is not None else None
    claim.decision_note = (note or "").strip()[:2000] or None
    session.flush()
    _audit(session, actor, f"claim.{action.value}", claim, before=before, after=snapshot(claim))
    return claim


def _audit(session: Session, actor: User | None, action: str, claim: PrefixClaim, **values: object) -> None:
    record_event(
        session, actor=actor, action=action, object_type="prefix_claim", object_id=claim.id,
        organization_id=claim.claimant_id, summary=claim.network, **values,  # type: ignore[arg-type]
    )  # fmt: skip
