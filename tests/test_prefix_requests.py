"""Prefix requests: an enterprise asks its carrier for space; the carrier approves from a pool (allocating in the
same transaction), returns or rejects; the requester withdraws. The workflow × roles, the values, the preview, the
notifications, and that a refused step changes nothing."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.audit import AuditEvent
from accounts.models import Organization, User
from core.errors import Conflict, PermissionDenied, ValidationFailed
from core.policy import OPERATOR
from core.workflow import IllegalTransition
from filing.models import Notification
from ipam import prefix_requests as requests
from ipam.errors import SpaceExhausted
from ipam.models import Prefix, PrefixRequest
from ipam.operations import add_prefix
from ipam.space import Strategy, format_net

VALUES = {
    "site_count": 2, "prefix_len": 48, "purpose": "三个工厂的工业互联网改造", "usage": "industrial-network",
    "locations": "120116, 120104", "justification": "每个厂区一个 /48，按 RIPE-690 规划车间与产线。",
}  # fmt: skip


@dataclass
class World:
    carrier: Organization
    carrier_user: User
    enterprise: Organization
    engineer: User
    other_engineer: User
    regulator: User
    pool: Prefix


@pytest.fixture
def world(db: Session, create_org: Callable[..., Organization], create_user: Callable[..., User]) -> World:
    carrier = create_org(kind="carrier", code="carrier-a")
    enterprise = create_org(kind="enterprise", code="factory")
    pool = add_prefix(db, "2001:db8:4000::/36", actor=OPERATOR, kind="allocation", holder=carrier)
    db.flush()
    return World(
        carrier=carrier,
        carrier_user=create_user("carrier", organization=carrier),
        enterprise=enterprise,
        engineer=create_user("enterprise", organization=enterprise),
        other_engineer=create_user("enterprise"),
        regulator=create_user("regulator"),
        pool=pool,
    )


def submitted(db: Session, world: World, **values: object) -> PrefixRequest:
    request = requests.create_request(db, {**VALUES, "provider": world.carrier, **values}, actor=world.engineer)
    requests.submit_request(db, request, actor=world.engineer)
    return request


def prefix_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Prefix)) or 0


def test_a_draft_keeps_the_values_with_the_locations_as_codes(db: Session, world: World) -> None:
    request = requests.create_request(db, {**VALUES, "provider": world.carrier}, actor=world.engineer)
    assert (request.state, request.requester_id, request.provider_id) == (
        "draft",
        world.enterprise.id,
        world.carrier.id,
    )
    assert request.locations == ["120116", "120104"] and request.asked == "2 × /48"


def test_values_that_are_wrong_are_named_by_field(db: Session, world: World) -> None:
    with pytest.raises(ValidationFailed) as refused:
        requests.create_request(
            db, {**VALUES, "provider": world.enterprise, "site_count": 0, "prefix_len": 47, "locations": "99"},
            actor=world.engineer,
        )  # fmt: skip
    assert set(refused.value.fields) == {"provider", "site_count", "prefix_len", "locations"}
    assert db.scalar(select(func.count()).select_from(PrefixRequest)) == 0


def test_a_plan_attached_that_does_not_fit_is_a_field_error(db: Session, world: World) -> None:
    plan = "parent: 2001:db8::/48\nnodes: [{name: site, count: 300, length: 56}]\n"
    with pytest.raises(ValidationFailed) as refused:
        requests.create_request(db, {**VALUES, "provider": world.carrier, "plan_text": plan}, actor=world.engineer)
    assert set(refused.value.fields) == {"plan_text"}


def test_submitting_tells_the_carrier_and_a_draft_is_not_theirs_to_see(db: Session, world: World) -> None:
    request = submitted(db, world)
    assert request.state == "submitted" and request.submitted_at is not None
    told = db.scalars(select(Notification).where(Notification.request_id == request.id)).all()
    assert [(n.recipient_id, n.kind) for n in told] == [(world.carrier_user.id, "request_submitted")]


def test_an_incomplete_request_cannot_be_submitted(db: Session, world: World) -> None:
    request = requests.create_request(db, {"provider": world.carrier}, actor=world.engineer)
    with pytest.raises(ValidationFailed) as refused:
        requests.submit_request(db, request, actor=world.engineer)
    assert {"purpose", "justification", "locations"} <= set(refused.value.fields)
    assert request.state == "draft"


def test_the_preview_is_exactly_what_approving_allocates_sparse_by_default_for_48s(db: Session, world: World) -> None:
    request = submitted(db, world)
    strategy = requests.default_strategy(request, world.pool)
    assert strategy is Strategy.SPARSE
    before = prefix_count(db)
    preview = requests.preview_approval(db, request, pool=world.pool, strategy=strategy, actor=world.carrier_user)
    assert prefix_count(db) == before and request.state == "submitted"
    # Sparse: the two /48s as far apart as the /36 allows, so that each can grow in place.
    assert [format_net(n) for n in preview] == ["2001:db8:4000::/48", "2001:db8:4800::/48"]
    created = requests.approve_request(db, request, pool=world.pool, strategy=strategy, actor=world.carrier_user,
                                       expected=[format_net(n) for n in preview])  # fmt: skip
    assert [p.net for p in created] == preview
    assert {(p.kind, p.holder_id, p.parent_id) for p in created} == {("assignment", world.enterprise.id, world.pool.id)}
    assert request.state == "approved" and [b.network for b in request.blocks] == [format_net(n) for n in preview]
    told = db.scalars(select(Notification).where(Notification.request_id == request.id,
                                                 Notification.recipient_id == world.engineer.id)).all()  # fmt: skip
    assert [n.kind for n in told] == ["request_approved"] and "2001:db8:4000::/48" in n_text(told[0])


def n_text(notification: Notification) -> str:
    return notification.message % notification.params


def test_approving_after_the_space_changed_since_the_preview_allocates_nothing(db: Session, world: World) -> None:
    request = submitted(db, world)
    preview = requests.preview_approval(
        db, request, pool=world.pool, strategy=Strategy.SPARSE, actor=world.carrier_user
    )
    add_prefix(db, format_net(preview[0]), actor=OPERATOR, kind="assignment", holder=world.carrier)
    before = prefix_count(db)
    with pytest.raises(Conflict):
        requests.approve_request(db, request, pool=world.pool, strategy=Strategy.SPARSE, actor=world.carrier_user,
                                 expected=[format_net(n) for n in preview])  # fmt: skip
    assert prefix_count(db) == before and request.state == "submitted" and request.blocks == []


def test_a_pool_without_room_refuses_and_leaves_the_request_waiting(db: Session, world: World) -> None:
    small = add_prefix(db, "2001:db8:f000::/47", actor=OPERATOR, kind="allocation", holder=world.carrier)
    request = submitted(db, world, site_count=3)
    with pytest.raises(SpaceExhausted):
        requests.approve_request(db, request, pool=small, strategy=Strategy.SPARSE, actor=world.carrier_user)
    assert request.state == "submitted"


def test_a_pool_of_another_organization_is_refused(db: Session, world: World, create_org: Callable[..., Organization]
                                                   ) -> None:  # fmt: skip
    foreign = add_prefix(db, "2001:db8:8000::/36", actor=OPERATOR, kind="allocation", holder=create_org(kind="carrier"))
    request = submitted(db, world)
    with pytest.raises(ValidationFailed) as refused:
        requests.approve_request(db, request, pool=foreign, strategy=Strategy.SPARSE, actor=world.carrier_user)
    assert set(refused.value.fields) == {"pool"}


def test_returning_needs_a_comment_and_the_requester_corrects_and_submits_again(db: Session, world: World) -> None:
    request = submitted(db, world)
    with pytest.raises(ValidationFailed):
        requests.return_request(db, request, actor=world.carrier_user, comment="  ")
    requests.return_request(db, request, actor=world.carrier_user, comment="请说明第三个厂区")
    assert (request.state, request.decision_note) == ("returned", "请说明第三个厂区")
    requests.update_request(db, request, {"site_count": 3}, actor=world.engineer)
    requests.submit_request(db, request, actor=world.engineer)
    assert (request.state, request.site_count, request.decision_note) == ("submitted", 3, None)


def test_rejecting_is_final_and_tells_the_requester_why(db: Session, world: World) -> None:
    request = submitted(db, world)
    requests.reject_request(db, request, actor=world.carrier_user, reason="已有足够地址")
    assert request.state == "rejected"
    with pytest.raises(IllegalTransition):
        requests.submit_request(db, request, actor=world.engineer)
    told = db.scalars(select(Notification).where(Notification.request_id == request.id,
                                                 Notification.kind == "request_rejected")).all()  # fmt: skip
    assert [n.params["comment"] for n in told] == ["已有足够地址"]


@pytest.mark.parametrize("state", ["draft", "submitted", "returned"])
def test_the_requester_may_withdraw_an_open_request(db: Session, world: World, state: str) -> None:
    request = requests.create_request(db, {**VALUES, "provider": world.carrier}, actor=world.engineer)
    if state != "draft":
        requests.submit_request(db, request, actor=world.engineer)
    if state == "returned":
        requests.return_request(db, request, actor=world.carrier_user, comment="补充材料")
    requests.withdraw_request(db, request, actor=world.engineer)
    assert request.state == "withdrawn"


def test_who_may_take_each_step(db: Session, world: World, create_user: Callable[..., User]) -> None:
    request = submitted(db, world)
    other_carrier_user = create_user("carrier")
    for actor in (world.engineer, world.other_engineer, world.regulator, other_carrier_user):
        with pytest.raises(PermissionDenied):
            requests.approve_request(db, request, pool=world.pool, strategy=Strategy.SPARSE, actor=actor)
        with pytest.raises(PermissionDenied):
            requests.return_request(db, request, actor=actor, comment="x")
    for actor in (world.carrier_user, world.other_engineer, world.regulator):
        with pytest.raises(PermissionDenied):
            requests.withdraw_request(db, request, actor=actor)
    assert request.state == "submitted"
    assert requests.action_names(request, world.engineer) == ["withdraw"]
    assert requests.action_names(request, world.carrier_user) == ["approve", "return", "reject"]
    assert requests.action_names(request, world.regulator) == []


def test_every_step_is_audited(db: Session, world: World) -> None:
    request = submitted(db, world)
    requests.approve_request(db, request, pool=world.pool, strategy=Strategy.SPARSE, actor=world.carrier_user)
    actions = db.scalars(
        select(AuditEvent.action).where(AuditEvent.object_type == "prefix_request").order_by(AuditEvent.id)
    ).all()
    assert actions == ["request.create", "request.submit", "request.approve"]


def test_a_draft_withdrawn_before_it_was_sent_stays_the_requesters_own(db: Session, world: World) -> None:
    from core.policy import can
    from ipam.permissions import Action
    from ipam.request_queries import visible_requests

    request = requests.create_request(db, {**VALUES, "provider": world.carrier}, actor=world.engineer)
    requests.withdraw_request(db, request, actor=world.engineer)
    assert not can(world.carrier_user, Action.VIEW_REQUEST, request)
    assert db.scalars(visible_requests(world.carrier_user)).all() == []
    assert db.scalars(visible_requests(world.engineer)).all() == [request]
