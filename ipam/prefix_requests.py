"""Prefix requests: an enterprise asks one of its allocators for IPv6 space; the allocator approves (allocating the
blocks from a pool of its own in the same transaction), returns it with comments, or rejects it.

    draft ──submit──► submitted ──approve──► approved (the blocks are the enterprise's assignments)
      │                  │ ──return──► returned ──submit──► submitted
      │                  └ ──reject──► rejected (final, with a reason)
      └──────────── withdraw (draft, submitted, returned) ──► withdrawn

The states are one table on the shared engine (``core.workflow``). Operations take the session and the acting
user, check the policy and the values, flush and never commit. The requester's organization and the allocator's
users are told of each step that concerns them (``filing.notifications``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.audit import record_event, snapshot
from accounts.choices import OrgKind
from accounts.models import Organization
from accounts.validators import division_error
from core import policy
from core.db import utcnow
from core.errors import Conflict, ValidationFailed
from core.messages import message as _l
from core.workflow import IllegalTransition, Transition, Workflow
from filing import notifications
from ipam import freespace, operations
from ipam.choices import MAX_REQUESTED_SITES, REQUEST_LENGTHS, PrefixKind, RequestState, Usage, may_contain
from ipam.models import Prefix, PrefixRequest, PrefixRequestBlock
from ipam.permissions import Action
from ipam.plan_format import PlanFormatError, read_plan
from ipam.planner import PlanError, node_count, plan
from ipam.space import Net, Strategy, format_net

OBJECT_TYPE = "prefix_request"
PROVIDER_KINDS = (OrgKind.CARRIER.value, OrgKind.ALLOCATOR.value)
POOL_KINDS = (PrefixKind.AGGREGATE.value, PrefixKind.ALLOCATION.value)
MAX_TEXT = 4000
MAX_PURPOSE = 500
MAX_PLAN_TEXT = 200_000
MAX_PLAN_NODES = 20_000  # the request's page lays the attached plan out on every view
VALUE_FIELDS = ("provider", "site_count", "prefix_len", "purpose", "usage", "locations", "justification", "plan_text")

S = RequestState
ASK, DECIDE = Action.REQUEST_PREFIXES, Action.DECIDE_REQUEST
REQUESTS = Workflow(
    PrefixRequest,
    object_type=OBJECT_TYPE,
    states=RequestState,
    audit=record_event,
    organization_of=lambda request: request.requester_id,
    state_attribute="state",
    transitions=[
        Transition(S.DRAFT, "submit", S.SUBMITTED, ASK, "request.submit", label=_l("Submit to the allocator")),
        Transition(S.DRAFT, "withdraw", S.WITHDRAWN, ASK, "request.withdraw", label=_l("Withdraw the request")),
        Transition(S.SUBMITTED, "approve", S.APPROVED, DECIDE, "request.approve", label=_l("Approve and allocate")),
        Transition(S.SUBMITTED, "return", S.RETURNED, DECIDE, "request.return", label=_l("Return for correction")),
        Transition(S.SUBMITTED, "reject", S.REJECTED, DECIDE, "request.reject", label=_l("Reject")),
        Transition(S.SUBMITTED, "withdraw", S.WITHDRAWN, ASK, "request.withdraw", label=_l("Withdraw the request")),
        Transition(S.RETURNED, "submit", S.SUBMITTED, ASK, "request.resubmit", label=_l("Submit again")),
        Transition(S.RETURNED, "withdraw", S.WITHDRAWN, ASK, "request.withdraw", label=_l("Withdraw the request")),
    ],
)  # fmt: skip

# The steps whose text the allocator must give (the requester reads it beside the request).
NEEDS_TEXT = {"return": True, "reject": True, "approve": False, "withdraw": False, "submit": False}


def action_names(request: PrefixRequest, user: Any) -> list[str]:
    """What ``user`` may do with ``request`` now, as the API names it (editing a draft is ``update``)."""
    names = [t.action for t in REQUESTS.available(request, user)]
    if request.state_enum.with_requester and policy.can(user, ASK, request):
        names.insert(0, "update")
    return names


# -- values ----------------------------------------------------------------------------------------------------


def default_strategy(request: PrefixRequest, pool: Prefix) -> Strategy:
    """Sparse for sites of a /48 or larger (each can grow in place, RFC 3531); else the pool's own choice."""
    return Strategy.SPARSE if request.prefix_len <= 48 else pool.default_strategy_enum


def clean_values(values: Mapping[str, Any]) -> dict[str, Any]:
    """The request's fields as stored: text stripped (blank is None), the locations a list of codes."""
    cleaned: dict[str, Any] = {}
    for name in VALUE_FIELDS:
        if name not in values:
            continue
        value = values[name]
        if isinstance(value, str):
            value = value.strip() or None
        if name == "locations":
            if isinstance(value, str):
                value = value.replace(",", " ").replace("，", " ").replace("、", " ").split()
            value = list(dict.fromkeys(code.strip() for code in value or () if code and code.strip()))
        cleaned[name] = value
    return cleaned


def field_errors(values: Mapping[str, Any], *, complete: bool) -> dict[str, list[Any]]:
    """What is wrong with the request's values (``complete``: also what a submitted request must hold)."""
    errors: dict[str, list[Any]] = {}

    def add(name: str, message: Any) -> None:
        errors.setdefault(name, []).append(message)

    provider = values.get("provider")
    if provider is not None and provider.kind not in PROVIDER_KINDS:
        add("provider", _l("Ask a carrier or an allocator."))
    count = values.get("site_count")
    if count is not None and not (isinstance(count, int) and 1 <= count <= MAX_REQUESTED_SITES):
        add("site_count", _l("Between 1 and %(n)d sites.", n=MAX_REQUESTED_SITES))
    length = values.get("prefix_len")
    if length is not None and length not in REQUEST_LENGTHS:
        add("prefix_len", _l("Ask for one of /%(lengths)s.", lengths=", /".join(map(str, REQUEST_LENGTHS))))
    if values.get("usage") is not None and values["usage"] not in set(Usage):
        add("usage", _l("Not a usage this platform knows."))
    if len(values.get("purpose") or "") > MAX_PURPOSE:
        add("purpose", _l("At most %(n)d characters.", n=MAX_PURPOSE))
    if len(values.get("justification") or "") > MAX_TEXT:
        add("justification", _l("At most %(n)d characters.", n=MAX_TEXT))
    for code in values.get("locations") or ():
        problem = division_error(code)
        if problem is not None:
            add("locations", _l("%(code)s: %(problem)s", code=code, problem=problem))
    if values.get("plan_text"):
        problem = _plan_problem(values["plan_text"])
        if problem is not None:
            add("plan_text", problem)
    if complete:
        for name in ("provider", "site_count", "prefix_len", "purpose", "justification", "locations"):
            if not values.get(name) and name not in errors:
                add(name, _l("This field is required."))
    return errors


def _plan_problem(text: str) -> Any:
    """Why the attached plan cannot be read or laid out in its parent (None: it can)."""
    if len(text) > MAX_PLAN_TEXT:
        return _l("At most %(n)d characters.", n=MAX_PLAN_TEXT)
    try:
        spec = read_plan(text)
        if node_count(spec.nodes) > MAX_PLAN_NODES:
            return _l("A plan attached to a request has at most %(n)d nodes; save a larger one in the planner.",
                      n=MAX_PLAN_NODES)  # fmt: skip
        plan(spec)
    except PlanFormatError as problem:
        return problem.located
    except PlanError as problem:
        return problem.message
    return None


def _check(values: Mapping[str, Any], *, complete: bool) -> None:
    errors = field_errors(values, complete=complete)
    if values.get("provider") is None and "provider" not in errors:  # whom the request is for, from the draft on
        errors["provider"] = [_l("This field is required.")]
    if errors:
        raise ValidationFailed(_l("Please correct the marked fields."), fields=errors)


def _current_values(request: PrefixRequest) -> dict[str, Any]:
    return {
        "provider": request.provider, "site_count": request.site_count, "prefix_len": request.prefix_len,
        "purpose": request.purpose, "usage": request.usage, "locations": list(request.locations or ()),
        "justification": request.justification, "plan_text": request.plan_text,
    }  # fmt: skip


def _write(request: PrefixRequest, values: Mapping[str, Any]) -> None:
    for name, value in values.items():
        if name == "provider":
            request.provider_id, request.provider = value.id, value
        elif name in ("purpose", "justification"):
            setattr(request, name, value or "")
        elif name == "locations":
            request.locations = list(value or ())
        else:
            setattr(request, name, value)


# -- the requester -----------------------------------------------------------------------------------------------


def create_request(session: Session, values: Mapping[str, Any], *, actor: Any) -> PrefixRequest:
    """A draft request of the actor's organization. Every field given must be well-formed; the allocator asked is
    needed from the start (it is whom the draft is for)."""
    policy.require(actor, ASK)
    cleaned = clean_values(values)
    cleaned.setdefault("site_count", 1)
    cleaned.setdefault("prefix_len", 48)
    _check(cleaned, complete=False)
    request = PrefixRequest(requester_id=actor.organization_id, state=RequestState.DRAFT.value,
                            created_by_id=getattr(actor, "id", None), purpose="", justification="", locations=[])  # fmt: skip
    _write(request, cleaned)
    session.add(request)
    session.flush()
    record_event(session, actor=actor, action="request.create", object_type=OBJECT_TYPE, object_id=request.id,
                 organization_id=request.requester_id, after=snapshot(request), summary=request.asked)  # fmt: skip
    return request


def update_request(session: Session, request: PrefixRequest, values: Mapping[str, Any], *, actor: Any) -> PrefixRequest:
    """Edit a draft, or correct a returned request."""
    policy.require(actor, ASK, request)
    if not request.state_enum.with_requester:
        raise IllegalTransition(_l("Only a draft or a returned request can be edited."))
    cleaned = clean_values(values)
    _check({**_current_values(request), **cleaned}, complete=False)
    returned = request.state_enum is RequestState.RETURNED
    if returned and "provider" in cleaned and cleaned["provider"].id != request.provider_id:
        raise ValidationFailed.on("provider", _l("A returned request goes back to the allocator that returned it."))
    before = snapshot(request)
    _write(request, cleaned)
    session.flush()
    record_event(session, actor=actor, action="request.update", object_type=OBJECT_TYPE, object_id=request.id,
                 organization_id=request.requester_id, before=before, after=snapshot(request),
                 summary=request.asked)  # fmt: skip
    return request


def submit_request(session: Session, request: PrefixRequest, *, actor: Any) -> PrefixRequest:
    """Send the request (again) to the allocator, complete; the allocator's users are told."""
    REQUESTS.check(request, "submit", actor=actor)
    _check(_current_values(request), complete=True)
    now = utcnow()
    values = {"submitted_at": request.submitted_at or now, "decision_note": None}
    REQUESTS.apply(session, request, "submit", actor=actor, comment=request.asked, values=values)
    notifications.notify_request(session, request, notifications.REQUEST_SUBMITTED, comment=None)
    return request


def withdraw_request(session: Session, request: PrefixRequest, *, actor: Any) -> PrefixRequest:
    REQUESTS.apply(session, request, "withdraw", actor=actor, comment=request.asked)
    return request


# -- the allocator -------------------------------------------------------------------------------------------------


def _check_pool(request: PrefixRequest, pool: Prefix) -> None:
    """The pool is the allocator's, can hold assignments, and is large enough for one of the blocks."""
    problems = []
    if pool.holder_id != request.provider_id or pool.kind not in POOL_KINDS:
        problems.append(_l("Choose one of your organization's aggregates or allocations."))
    elif not may_contain(pool.kind, PrefixKind.ASSIGNMENT.value) or pool.prefix_len >= request.prefix_len:
        problems.append(_l("%(pool)s cannot hold a /%(length)d.", pool=pool.network, length=request.prefix_len))
    elif pool.family != 6:
        problems.append(_l("Choose an IPv6 block."))
    if problems:
        raise ValidationFailed(_l("Please correct the marked fields."), fields={"pool": problems})


def _allocation(request: PrefixRequest, strategy: Strategy) -> operations.AllocationRequest:
    description = f"#{request.id} {request.purpose}"[:500]
    return operations.AllocationRequest(
        length=request.prefix_len, count=request.site_count, strategy=strategy,
        kind=PrefixKind.ASSIGNMENT.value, usage=request.usage, description=description,
    )  # fmt: skip


def preview_approval(session: Session, request: PrefixRequest, *, pool: Prefix, strategy: Strategy, actor: Any
                     ) -> list[Net]:  # fmt: skip
    """Exactly the blocks approving would allocate now: the very allocation, run in a savepoint and rolled back."""
    REQUESTS.check(request, "approve", actor=actor)
    _check_pool(request, pool)
    savepoint = session.begin_nested()
    try:
        created = operations.allocate_prefixes(
            session, pool, _allocation(request, strategy), holder=request.requester, actor=actor
        )
        return [prefix.net for prefix in created]
    finally:
        savepoint.rollback()


def approve_request(
    session: Session,
    request: PrefixRequest,
    *,
    pool: Prefix,
    strategy: Strategy,
    actor: Any,
    expected: Sequence[str] | None = None,
    comment: str | None = None,
) -> list[Prefix]:
    """Allocate the requested blocks from ``pool`` to the requester and approve the request, in one transaction.
    ``expected``: the blocks a preview showed; if the space changed since, nothing is allocated (Conflict)."""
    REQUESTS.check(request, "approve", actor=actor)
    _check_pool(request, pool)
    previewed = None if expected is None else [format_net(operations.parse_prefix(n, "expected")) for n in expected]
    savepoint = session.begin_nested()
    created = operations.allocate_prefixes(
        session, pool, _allocation(request, strategy), holder=request.requester, actor=actor
    )
    networks = [prefix.network for prefix in created]
    if previewed is not None and previewed != networks:
        savepoint.rollback()
        raise Conflict(_l("The free space of %(pool)s changed since the preview; preview again.", pool=pool.network))
    savepoint.commit()
    for prefix in created:
        session.add(PrefixRequestBlock(request_id=request.id, prefix_id=prefix.id, network=prefix.network))
    decision = {"pool_id": pool.id, "strategy": strategy.value, "decided_at": utcnow(),
                "decided_by_id": getattr(actor, "id", None), "decision_note": _text(comment)}  # fmt: skip
    REQUESTS.apply(session, request, "approve", actor=actor, comment=request.asked, values=decision,
                   audit_data={"pool": pool.network, "strategy": strategy.value, "blocks": networks})  # fmt: skip
    session.expire(request, ["blocks"])
    notifications.notify_request(session, request, notifications.REQUEST_APPROVED, comment=comment,
                                 blocks=networks)  # fmt: skip
    return created


def return_request(session: Session, request: PrefixRequest, *, actor: Any, comment: str | None) -> PrefixRequest:
    return _decide(session, request, "return", notifications.REQUEST_RETURNED, actor=actor, text=comment)


def reject_request(session: Session, request: PrefixRequest, *, actor: Any, reason: str | None) -> PrefixRequest:
    return _decide(session, request, "reject", notifications.REQUEST_REJECTED, actor=actor, text=reason)


def _decide(session: Session, request: PrefixRequest, action: str, kind: str, *, actor: Any, text: str | None
            ) -> PrefixRequest:  # fmt: skip
    REQUESTS.check(request, action, actor=actor)
    note = _text(text)
    if note is None:
        field = "reason" if action == "reject" else "comment"
        raise ValidationFailed.on(field, _l("Say why, for the requester."))
    values = {"decision_note": note, "decided_at": utcnow(), "decided_by_id": getattr(actor, "id", None)}
    REQUESTS.apply(session, request, action, actor=actor, comment=request.asked, values=values,
                   audit_data={"decision_note": note})  # fmt: skip
    notifications.notify_request(session, request, kind, comment=note)
    return request


def _text(value: str | None) -> str | None:
    return (value or "").strip()[:MAX_TEXT] or None


# -- what the pages read -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pool:
    """One of the allocator's blocks a request can be served from, with the room it has for the size asked."""

    prefix: Prefix
    fits: int

    @property
    def enough(self) -> bool:
        return self.fits > 0


def pools_for(session: Session, request: PrefixRequest, *, limit: int = 50) -> list[Pool]:
    """The allocator's IPv6 aggregates and allocations that could hold the requested size, the roomiest first
    (room counted from the free-space index, never from the children)."""
    candidates = session.scalars(
        select(Prefix)
        .where(Prefix.holder_id == request.provider_id, Prefix.kind.in_(POOL_KINDS), Prefix.family == 6,
               Prefix.prefix_len < request.prefix_len)
        .order_by(Prefix.prefix_len, Prefix.start)
        .limit(limit)
    ).all()  # fmt: skip
    pools = [Pool(p, freespace.count_fitting(session, p.id, p.net, request.prefix_len)) for p in candidates]
    return sorted(pools, key=lambda pool: (not pool.fits >= request.site_count, pool.prefix.prefix_len))


def providers(session: Session) -> list[Organization]:
    """The organizations a request can go to: carriers and allocators, by name."""
    return list(
        session.scalars(select(Organization).where(Organization.kind.in_(PROVIDER_KINDS)).order_by(Organization.name))
    )
