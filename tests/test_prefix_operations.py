"""The prefix registry's operations on both databases: hierarchy, strategies, exact free space, rules."""

from __future__ import annotations

import contextlib
import random

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.models import AuditEvent
from core.errors import PermissionDenied, ValidationFailed
from core.policy import OPERATOR
from ipam import freespace
from ipam.errors import NestingViolation, PolicyViolation, PrefixOverlap, SpaceExhausted
from ipam.models import FreeBlock, Prefix
from ipam.operations import (
    AllocationRequest,
    add_prefix,
    allocate_prefixes,
    release_prefix,
    reserve_prefix,
    update_prefix,
)
from ipam.queries import find_available, get_prefix, prefix_utilization
from ipam.space import Strategy, format_net, free_blocks, parse_net


@pytest.fixture
def carrier(create_org):
    return create_org(kind="carrier", code="tel")


@pytest.fixture
def aggregate(db: Session, carrier) -> Prefix:
    return add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=carrier)


def assert_index_exact(db: Session, prefix: Prefix) -> None:
    children = db.scalars(select(Prefix).where(Prefix.parent_id == prefix.id)).all()
    assert freespace.all_blocks(db, prefix.id, prefix.net) == free_blocks(prefix.net, [c.net for c in children])


def nets(prefixes: list[Prefix]) -> list[str]:
    return [p.network for p in prefixes]


def allocate(db: Session, parent: Prefix, length: int, count: int = 1, strategy: str = "first-fit", **kw):
    request = AllocationRequest(length=length, count=count, strategy=Strategy(strategy), **kw)
    return allocate_prefixes(db, parent, request, holder=kw.get("holder"), actor=OPERATOR)


def test_first_fit_takes_the_lowest_addresses(db: Session, aggregate: Prefix) -> None:
    assert nets(allocate(db, aggregate, 48, 3)) == ["2001:db8::/48", "2001:db8:1::/48", "2001:db8:2::/48"]
    assert_index_exact(db, aggregate)


def test_sparse_spreads_allocations_rfc3531(db: Session, carrier) -> None:
    site = add_prefix(db, "2001:db8::/48", actor=OPERATOR, kind="assignment", holder=carrier)
    taken = allocate(db, site, 52, 4, "sparse", kind="subnet")
    assert nets(taken) == ["2001:db8::/52", "2001:db8:0:8000::/52", "2001:db8:0:4000::/52", "2001:db8:0:c000::/52"]
    assert_index_exact(db, site)


def test_best_fit_fills_the_smallest_hole_first(db: Session, aggregate: Prefix) -> None:
    allocate(db, aggregate, 34)  # 2001:db8::/34 used; free: /34 at 4000, /33 at 8000
    hole = allocate(db, aggregate, 36, 1, "best-fit")
    assert nets(hole) == ["2001:db8:4000::/36"]
    assert_index_exact(db, aggregate)


def test_all_or_nothing_says_how_many_fit(db: Session, carrier) -> None:
    small = add_prefix(db, "2001:db8::/44", actor=OPERATOR, kind="aggregate", holder=carrier)
    allocate(db, small, 48, 7)
    before = db.scalar(select(func.count()).select_from(Prefix))
    with pytest.raises(SpaceExhausted) as refused:
        allocate(db, small, 48, 10)
    assert refused.value.fits == 9 and "9" in str(refused.value.message)
    assert db.scalar(select(func.count()).select_from(Prefix)) == before
    assert_index_exact(db, small)
    assert len(allocate(db, small, 48, 9)) == 9
    assert find_available(db, small) == []


def test_add_places_a_prefix_under_the_smallest_container(db: Session, aggregate: Prefix, carrier) -> None:
    allocation = add_prefix(db, "2001:db8:100::/40", actor=OPERATOR, kind="allocation", holder=carrier)
    site = add_prefix(db, "2001:db8:101::/48", actor=OPERATOR, kind="assignment", holder=carrier)
    assert allocation.parent_id == aggregate.id and site.parent_id == allocation.id
    assert_index_exact(db, aggregate)
    assert_index_exact(db, allocation)


def test_adding_in_between_reparents_the_covered_children(db: Session, aggregate: Prefix, carrier) -> None:
    sites = allocate(db, aggregate, 48, 3)
    outside = add_prefix(db, "2001:db8:ff00::/48", actor=OPERATOR, kind="assignment", holder=carrier)
    middle = add_prefix(db, "2001:db8::/40", actor=OPERATOR, kind="allocation", holder=carrier)
    db.expire_all()
    assert {db.get(Prefix, s.id).parent_id for s in sites} == {middle.id}
    assert db.get(Prefix, outside.id).parent_id == aggregate.id
    assert_index_exact(db, aggregate)
    assert_index_exact(db, middle)


def test_duplicates_and_overlaps_name_the_conflicting_prefix(db: Session, aggregate: Prefix, carrier) -> None:
    add_prefix(db, "2001:db8:1::/48", actor=OPERATOR, kind="assignment", holder=carrier)
    with pytest.raises(PrefixOverlap, match="2001:db8:1::/48"):
        add_prefix(db, "2001:db8:1::/48", actor=OPERATOR, kind="assignment", holder=carrier)
    with pytest.raises(PrefixOverlap, match="2001:db8::/32"):
        add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=carrier)


def test_host_bits_and_garbage_are_validation_errors(db: Session, carrier) -> None:
    with pytest.raises(ValidationFailed) as host_bits:
        add_prefix(db, "2001:db8::1/32", actor=OPERATOR, kind="aggregate", holder=carrier)
    assert "2001:db8::/32" in str(host_bits.value.fields["prefix"][0])
    with pytest.raises(ValidationFailed):
        add_prefix(db, "2001:db8::/200", actor=OPERATOR, kind="aggregate", holder=carrier)


def test_kinds_nest_left_to_right(db: Session, aggregate: Prefix, carrier) -> None:
    site = add_prefix(db, "2001:db8:1::/48", actor=OPERATOR, kind="assignment", holder=carrier)
    with pytest.raises(NestingViolation, match="2001:db8:1::/48"):
        add_prefix(db, "2001:db8:1::/56", actor=OPERATOR, kind="allocation", holder=carrier)
    with pytest.raises(NestingViolation):
        add_prefix(db, "2001:db8::/40", actor=OPERATOR, kind="subnet", holder=carrier)  # would contain the site
    lower_tier = add_prefix(db, "2001:db8:100::/40", actor=OPERATOR, kind="allocation", holder=carrier)
    assert (
        add_prefix(db, "2001:db8:100::/44", actor=OPERATOR, kind="allocation", holder=carrier).parent_id
        == lower_tier.id
    )
    assert site.parent_id == aggregate.id


def test_pool_policy_limits_lengths_and_alignment(db: Session, carrier) -> None:
    pool = add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=carrier,
                      child_min_len=40, child_max_len=56, nibble_aligned=True)  # fmt: skip
    with pytest.raises(PolicyViolation):
        allocate(db, pool, 64)
    with pytest.raises(PolicyViolation):
        allocate(db, pool, 47)
    assert nets(allocate(db, pool, 48)) == ["2001:db8::/48"]


def test_reserved_blocks_are_skipped_by_allocation(db: Session, aggregate: Prefix, carrier) -> None:
    reserve_prefix(db, "2001:db8::/48", actor=OPERATOR, holder=carrier, description="future core")
    assert nets(allocate(db, aggregate, 48)) == ["2001:db8:1::/48"]
    with pytest.raises(NestingViolation):
        add_prefix(db, "2001:db8::/56", actor=OPERATOR, kind="subnet", holder=carrier)


def test_release_returns_space_and_merges_buddies(db: Session, aggregate: Prefix) -> None:
    sites = allocate(db, aggregate, 48, 4)
    for site in sites:
        release_prefix(db, site, actor=OPERATOR)
    assert find_available(db, aggregate) == [aggregate.net]
    assert db.scalar(select(func.count()).select_from(FreeBlock).where(FreeBlock.parent_id == aggregate.id)) == 1


def test_release_with_children_needs_recursive(db: Session, aggregate: Prefix, carrier) -> None:
    allocation = add_prefix(db, "2001:db8:100::/40", actor=OPERATOR, kind="allocation", holder=carrier)
    allocate(db, allocation, 48, 2)
    with pytest.raises(PrefixOverlap, match="2"):
        release_prefix(db, allocation, actor=OPERATOR)
    assert release_prefix(db, allocation, actor=OPERATOR, recursive=True) == 3
    assert get_prefix(db, parse_net("2001:db8:100::/48")) is None
    assert find_available(db, aggregate) == [aggregate.net]


def test_available_lists_blocks_or_candidates(db: Session, aggregate: Prefix) -> None:
    allocate(db, aggregate, 48, 1)
    assert [format_net(n) for n in find_available(db, aggregate)][:2] == ["2001:db8:1::/48", "2001:db8:2::/47"]
    assert [format_net(n) for n in find_available(db, aggregate, 48, 3)] == [
        "2001:db8:1::/48", "2001:db8:2::/48", "2001:db8:3::/48",
    ]  # fmt: skip


def test_utilization_counts_children(db: Session, aggregate: Prefix) -> None:
    allocate(db, aggregate, 48, 16)
    usage = prefix_utilization(db, aggregate, unit_length=48)
    assert usage.used_units == 16 and usage.free_units == 65536 - 16


def test_ipv4_works_through_the_same_code(db: Session, carrier) -> None:
    block = add_prefix(db, "198.51.100.0/24", actor=OPERATOR, kind="aggregate", holder=carrier)
    assert nets(allocate(db, block, 26, 2, "sparse")) == ["198.51.100.0/26", "198.51.100.128/26"]
    assert_index_exact(db, block)


def test_every_change_is_audited(db: Session, aggregate: Prefix) -> None:
    site = allocate(db, aggregate, 48)[0]
    update_prefix(db, site, actor=OPERATOR, usage="industrial-network", description="一号厂区")
    release_prefix(db, site, actor=OPERATOR)
    actions = db.scalars(
        select(AuditEvent.action).where(AuditEvent.object_id == "2001:db8::/48").order_by(AuditEvent.id)
    ).all()
    assert actions == ["prefix.allocate", "prefix.update", "prefix.release"]


def test_carriers_allocate_only_from_what_they_hold(db: Session, aggregate: Prefix, create_user, create_org) -> None:
    other = create_user(role="carrier")
    owner = create_user(role="carrier", organization=aggregate.holder)
    with pytest.raises(PermissionDenied):
        allocate_prefixes(db, aggregate, AllocationRequest(length=48), holder=None, actor=other)
    assert allocate_prefixes(db, aggregate, AllocationRequest(length=48), holder=None, actor=owner)
    regulator = create_user(role="regulator")
    with pytest.raises(PermissionDenied):
        add_prefix(db, "2001:db8:ff::/48", actor=regulator, kind="assignment", holder=None)


def test_random_operations_keep_the_index_exact(db: Session, carrier) -> None:
    rng = random.Random(20261127)
    root = add_prefix(db, "2001:db8::/40", actor=OPERATOR, kind="aggregate", holder=carrier)
    live: list[Prefix] = []
    for _ in range(60):
        action = rng.random()
        if action < 0.6 or not live:
            length = rng.choice([44, 46, 48, 52])
            with contextlib.suppress(SpaceExhausted):
                live += allocate(db, root, length, rng.randint(1, 3), rng.choice(list(Strategy)).value)
        else:
            victim = live.pop(rng.randrange(len(live)))
            release_prefix(db, victim, actor=OPERATOR)
        assert_index_exact(db, root)


def test_bulk_add_leaves_keeps_the_index_exact(db: Session, aggregate: Prefix) -> None:
    allocate(db, aggregate, 48, 2)
    leaves = [parse_net(f"2001:db8:{n:x}::/48") for n in range(16, 4096, 7)]
    assert bulk_add_leaves_(db, aggregate, leaves) == len(leaves)
    assert_index_exact(db, aggregate)
    assert all(freespace.all_blocks(db, p.id, p.net) == [p.net] for p in
               db.scalars(select(Prefix).where(Prefix.parent_id == aggregate.id)))  # fmt: skip
    assert nets(allocate(db, aggregate, 48, 1)) == ["2001:db8:2::/48"]


def test_bulk_add_refuses_overlaps_and_changes_nothing(db: Session, aggregate: Prefix) -> None:
    allocate(db, aggregate, 48, 1)
    before = db.scalar(select(func.count()).select_from(Prefix))
    with pytest.raises(PrefixOverlap, match="2001:db8::/48"):
        bulk_add_leaves_(db, aggregate, [parse_net("2001:db8:5::/48"), parse_net("2001:db8::/48")])
    assert db.scalar(select(func.count()).select_from(Prefix)) == before


def bulk_add_leaves_(db: Session, parent: Prefix, leaves: list) -> int:
    from ipam.operations import bulk_add_leaves

    return bulk_add_leaves(db, parent, leaves, actor=OPERATOR, kind="assignment", holder=None)


# -- promises the mutation run found unguarded --------------------------------------------------------------------


def test_get_prefix_finds_exactly_the_network_asked_for(db: Session, aggregate: Prefix) -> None:
    (first,) = allocate(db, aggregate, 48)
    v4 = add_prefix(db, "1.0.0.0/24", actor=OPERATOR, kind="aggregate", holder=None)  # same start bytes as ::100:0
    assert get_prefix(db, parse_net("2001:db8::/48")).id == first.id
    assert get_prefix(db, parse_net("2001:db8::/32")).id == aggregate.id
    assert get_prefix(db, parse_net("2001:db8::/40")) is None
    assert get_prefix(db, parse_net("1.0.0.0/24")).id == v4.id
    assert get_prefix(db, parse_net("::100:0/120")) is None


def test_available_space_at_the_ends_of_the_length_range(db: Session, aggregate: Prefix) -> None:
    assert find_available(db, aggregate, 32, 5) == [aggregate.net]
    assert len(find_available(db, aggregate, 128, 3)) == 3
    with pytest.raises(ValidationFailed):
        find_available(db, aggregate, 31)
    with pytest.raises(ValidationFailed):
        find_available(db, aggregate, 129)


def test_utilization_counts_in_64s_unless_asked(db: Session, aggregate: Prefix) -> None:
    allocate(db, aggregate, 48, 2)
    allocate(db, aggregate, 56, 1)
    usage = prefix_utilization(db, aggregate)
    assert usage.unit_length == 64 and usage.used_units == 2 * 65_536 + 256
    assert prefix_utilization(db, aggregate, unit_length=48).used_units == pytest.approx(2 + 1 / 256)


def test_a_reserved_block_is_kept_as_asked(db: Session, aggregate: Prefix, carrier) -> None:
    reserved = reserve_prefix(db, "2001:db8:ff00::/40", actor=OPERATOR, holder=carrier, description="future PoPs")
    assert (reserved.kind, reserved.status, reserved.holder_id, reserved.description) == (
        "reserved", "reserved", carrier.id, "future PoPs")  # fmt: skip
    assert reserved.parent_id == aggregate.id


def test_a_prefix_change_is_audited_with_before_and_after(db: Session, aggregate: Prefix, create_user) -> None:
    actor = create_user(role="regulator-admin")
    update_prefix(db, aggregate, actor=actor, usage="idc", description="核心")
    event = db.scalars(select(AuditEvent).where(AuditEvent.action == "prefix.update")).one()
    assert event.actor_id == actor.id and event.object_id == "2001:db8::/32"
    assert event.changes["usage"] == [None, "idc"] and event.changes["description"] == [None, "核心"]
    assert aggregate.updated_by_id == actor.id


def test_a_prefix_change_checks_its_fields_and_its_actor(db: Session, aggregate: Prefix, create_user) -> None:
    with pytest.raises(ValidationFailed):
        update_prefix(db, aggregate, actor=OPERATOR, network="2001:db9::/32")
    with pytest.raises(ValidationFailed):
        update_prefix(db, aggregate, actor=OPERATOR, status="lost")
    with pytest.raises(ValidationFailed):
        update_prefix(db, aggregate, actor=OPERATOR, child_min_len=20)
    with pytest.raises(PermissionDenied):
        update_prefix(db, aggregate, actor=create_user(role="enterprise"), description="mine now")
    assert aggregate.description is None


def test_bulk_leaves_check_the_actor_and_the_kind(db: Session, aggregate: Prefix, create_user) -> None:
    from ipam.operations import bulk_add_leaves

    leaves = [parse_net("2001:db8:1::/48")]
    with pytest.raises(PermissionDenied):
        bulk_add_leaves(db, aggregate, leaves, actor=create_user(role="carrier"), kind="assignment", holder=None)
    with pytest.raises(ValidationFailed):
        bulk_add_leaves(db, aggregate, leaves, actor=OPERATOR, kind="galaxy", holder=None)
    assert bulk_add_leaves(db, aggregate, leaves, actor=OPERATOR, kind="assignment", holder=None) == 1
