"""Reads of prefix requests, shaped for the pages and the API: who sees which, the queues, the requester's
holdings with their utilization, and the turnaround the regulators' dashboard shows."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from statistics import median
from typing import Any

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from accounts.models import Organization
from accounts.permissions import Action as AccountAction
from core import policy
from ipam import queries
from ipam.choices import PrefixKind, RequestState
from ipam.models import Prefix, PrefixRequest
from ipam.permissions import Action
from ipam.space import Utilization

HOLDING_KINDS = (PrefixKind.ALLOCATION.value, PrefixKind.ASSIGNMENT.value)


@dataclass(frozen=True)
class RequestFilter:
    state: str | None = None
    requester_id: int | None = None
    provider_id: int | None = None
    queue: bool = False  # the requests waiting for the caller's organization's decision


def visible_requests(user: Any, flt: RequestFilter = RequestFilter()) -> Select[tuple[PrefixRequest]]:
    """The requests ``user`` may see (every one for regulators; else its organization's own, and those made to it
    once submitted), filtered, the oldest waiting first in the queue, else the latest first."""
    stmt = select(PrefixRequest)
    if not policy.can(user, AccountAction.OVERSEE_ALL):
        mine = user.organization_id
        stmt = stmt.where(
            or_(
                PrefixRequest.requester_id == mine,
                and_(PrefixRequest.provider_id == mine, PrefixRequest.submitted_at.is_not(None)),
            )
        )
    if flt.queue:
        stmt = stmt.where(
            PrefixRequest.provider_id == user.organization_id, PrefixRequest.state == RequestState.SUBMITTED.value
        )
    if flt.state:
        stmt = stmt.where(PrefixRequest.state == flt.state)
    if flt.requester_id is not None:
        stmt = stmt.where(PrefixRequest.requester_id == flt.requester_id)
    if flt.provider_id is not None:
        stmt = stmt.where(PrefixRequest.provider_id == flt.provider_id)
    if flt.queue:
        return stmt.order_by(PrefixRequest.submitted_at, PrefixRequest.id)
    return stmt.order_by(PrefixRequest.updated_at.desc(), PrefixRequest.id.desc())


def visible_request(session: Session, user: Any, request_id: int) -> PrefixRequest | None:
    found = session.get(PrefixRequest, request_id)
    if found is None or not policy.can(user, Action.VIEW_REQUEST, found):
        return None
    return found


@dataclass(frozen=True)
class Holding:
    prefix: Prefix
    utilization: Utilization


def holdings(session: Session, organization_id: int, *, limit: int = 100) -> list[Holding]:
    """What the organization holds (allocations and assignments), with how much of each is used, in two queries:
    the allocator reads it beside the request."""
    held = session.scalars(
        select(Prefix)
        .where(Prefix.holder_id == organization_id, Prefix.kind.in_(HOLDING_KINDS))
        .order_by(Prefix.family.desc(), Prefix.start, Prefix.prefix_len)
        .limit(limit)
    ).all()
    used = queries.utilizations(session, held)
    return [Holding(prefix, used[prefix.id]) for prefix in held]


def requesters(session: Session, ids: Sequence[int]) -> dict[int, Organization]:
    if not ids:
        return {}
    return {o.id: o for o in session.scalars(select(Organization).where(Organization.id.in_(set(ids))))}


@dataclass(frozen=True)
class Turnaround:
    """How fast allocators answer: per allocator, the requests decided in the window and the median time from the
    first submission to the decision, and what is still waiting and since when."""

    provider: Organization
    decided: int
    median_hours: float | None
    waiting: int
    oldest_waiting: datetime | None


def turnaround(session: Session, *, now: datetime, days: int = 90) -> list[Turnaround]:
    """Every allocator with a request decided in the last ``days`` days or waiting now, the slowest first."""
    since = now - timedelta(days=days)
    decided_states = (RequestState.APPROVED.value, RequestState.REJECTED.value, RequestState.RETURNED.value)
    decided = session.execute(
        select(PrefixRequest.provider_id, PrefixRequest.submitted_at, PrefixRequest.decided_at).where(
            PrefixRequest.state.in_(decided_states),
            PrefixRequest.decided_at >= since,
            PrefixRequest.submitted_at.is_not(None),
        )
    ).all()
    waiting = session.execute(
        select(PrefixRequest.provider_id, func.count(), func.min(PrefixRequest.submitted_at))
        .where(PrefixRequest.state == RequestState.SUBMITTED.value)
        .group_by(PrefixRequest.provider_id)
    ).all()
    hours: dict[int, list[float]] = {}
    for provider_id, submitted_at, decided_at in decided:
        hours.setdefault(provider_id, []).append((decided_at - submitted_at).total_seconds() / 3600)
    open_by = {provider_id: (count, oldest) for provider_id, count, oldest in waiting}
    providers = requesters(session, list(hours.keys() | open_by.keys()))
    rows = [
        Turnaround(
            provider=providers[provider_id],
            decided=len(hours.get(provider_id, ())),
            median_hours=median(hours[provider_id]) if provider_id in hours else None,
            waiting=open_by.get(provider_id, (0, None))[0],
            oldest_waiting=open_by.get(provider_id, (0, None))[1],
        )
        for provider_id in providers
    ]
    return sorted(rows, key=lambda row: (-(row.median_hours or 0), row.provider.name))


@dataclass(frozen=True)
class RequestCounts:
    """The dashboard's request cards of one organization."""

    waiting_for_us: int  # made to the organization, waiting for its decision
    ours_waiting: int  # the organization's own, with the allocator
    ours_returned: int  # the organization's own, returned for correction


def counts_for(session: Session, organization_id: int) -> RequestCounts:
    submitted, returned = RequestState.SUBMITTED.value, RequestState.RETURNED.value
    row = session.execute(
        select(
            func.count().filter(PrefixRequest.provider_id == organization_id, PrefixRequest.state == submitted),
            func.count().filter(PrefixRequest.requester_id == organization_id, PrefixRequest.state == submitted),
            func.count().filter(PrefixRequest.requester_id == organization_id, PrefixRequest.state == returned),
        ).where(or_(PrefixRequest.provider_id == organization_id, PrefixRequest.requester_id == organization_id))
    ).one()
    return RequestCounts(*row)
