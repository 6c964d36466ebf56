"""Applying a subnet plan: every registrable block created under the parent, with the right kind and holder, or
none; a re-plan creates only what is new. The operation and ``flask plan apply``."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from flask.testing import FlaskCliRunner
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.models import AuditEvent, Organization, User
from core.errors import PermissionDenied
from core.policy import OPERATOR
from ipam import freespace, plan_format, planner
from ipam.errors import NestingViolation, PrefixOverlap
from ipam.models import Prefix
from ipam.operations import add_prefix
from ipam.plan_apply import apply_plan
from ipam.queries import find_available
from ipam.space import format_net, parse_net
from tests.test_plan_cli import write

PLAN = """
parent: {parent}
nibble: true
nodes:
  - name: site
    count: {sites}
    nodes:
      - name: zone
        count: 4
        nodes: [{{name: vlan, count: 16, length: 64}}]
"""
LEAVES_PER_SITE = 4 * 16
NODES_PER_SITE = 1 + 4 + LEAVES_PER_SITE  # the site, its zones, their VLANs


def spec_of(sites: int, parent: str = "2001:db8:100::/48") -> planner.PlanSpec:
    return plan_format.read_plan(PLAN.format(parent=parent, sites=sites))


def prefix_count(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(Prefix)) or 0


def registered_below(db: Session, parent: Prefix) -> dict[str, Prefix]:
    return {
        p.network: p
        for p in db.scalars(
            select(Prefix).where(
                Prefix.start >= parent.start, Prefix.last <= parent.last, Prefix.prefix_len > parent.prefix_len
            )
        )
    }


@pytest.fixture
def enterprise(create_org: Callable[..., Organization]) -> Organization:
    return create_org(kind="enterprise", code="factory")


@pytest.fixture
def assignment(db: Session, enterprise: Organization) -> Prefix:
    prefix = add_prefix(db, "2001:db8:100::/48", actor=OPERATOR, kind="assignment", holder=enterprise)
    db.flush()
    return prefix


def test_applying_a_plan_registers_every_level_as_subnets_of_the_holder_nested_in_the_assignment(
    db: Session, enterprise: Organization, assignment: Prefix
) -> None:
    plan = planner.plan(spec_of(3))
    applied = apply_plan(db, plan, parent=assignment, holder=enterprise, actor=OPERATOR)
    db.flush()
    every_node = {p.path: p.net for p in plan.placements}
    assert len(every_node) == 3 + 3 * 4 + 3 * LEAVES_PER_SITE
    assert {b.path: b.net for b in applied.created} == every_node
    below = registered_below(db, assignment)
    assert set(below) == {format_net(net) for net in every_node.values()}
    assert {(p.kind, p.holder_id) for p in below.values()} == {("subnet", enterprise.id)}
    by_id = {p.id: p for p in below.values()}
    for prefix in below.values():  # each level lies in the one above it: a VLAN in its zone, a zone in its site
        path = prefix.description
        above = path.rpartition("/")[0]
        expected = every_node[above] if above else assignment.net
        parent = by_id.get(prefix.parent_id, assignment)
        assert parent.net == expected, path
    assert below["2001:db8:100:12f::/64"].description == "site-2/zone-3/vlan-16"


def test_after_applying_the_free_space_of_the_parent_leaves_out_the_planned_blocks(
    db: Session, enterprise: Organization, assignment: Prefix
) -> None:
    plan = planner.plan(spec_of(3))
    apply_plan(db, plan, parent=assignment, holder=enterprise, actor=OPERATOR)
    db.flush()
    leaves = {p.net for p in plan.placements if p.path.count("/") == 2}
    free = find_available(db, assignment, 64, limit=2000)
    assert len(free) == 2000 and not leaves & set(free)
    assert freespace.take(db, assignment.id, assignment.net, parse_net("2001:db8:100::/64")) is False


def test_applying_leaves_one_audit_event_naming_the_parent_and_the_count(
    db: Session, enterprise: Organization, assignment: Prefix
) -> None:
    apply_plan(db, planner.plan(spec_of(1)), parent=assignment, holder=enterprise, actor=OPERATOR)
    db.flush()
    events = db.scalars(select(AuditEvent).where(AuditEvent.action == "prefix.bulk_add")).all()
    assert [(e.object_id, e.organization_id, e.actor_name) for e in events] == [
        (assignment.network, enterprise.id, OPERATOR.username)
    ]
    assert events[0].summary_params == {"n": 1 + 4 + LEAVES_PER_SITE, "parent": assignment.network}


def test_applying_the_same_plan_again_creates_nothing(
    db: Session, enterprise: Organization, assignment: Prefix
) -> None:
    plan = planner.plan(spec_of(3))
    apply_plan(db, plan, parent=assignment, holder=enterprise, actor=OPERATOR)
    before = prefix_count(db)
    again = apply_plan(db, plan, parent=assignment, holder=enterprise, actor=OPERATOR)
    assert again.created == () and again.already_registered == 3 * NODES_PER_SITE
    assert prefix_count(db) == before


def test_a_replan_with_one_more_site_creates_only_that_sites_blocks(
    db: Session, enterprise: Organization, assignment: Prefix
) -> None:
    first = planner.plan(spec_of(3))
    apply_plan(db, first, parent=assignment, holder=enterprise, actor=OPERATOR)
    replan = planner.plan(spec_of(4), previous=first.prefixes())
    applied = apply_plan(db, replan, parent=assignment, holder=enterprise, actor=OPERATOR)
    assert len(applied.created) == NODES_PER_SITE
    assert {b.path.split("/")[0] for b in applied.created} == {"site-4"}
    assert len(registered_below(db, assignment)) == 4 * NODES_PER_SITE


def test_a_plan_overlapping_a_block_registered_meanwhile_is_refused_and_writes_nothing(
    db: Session, enterprise: Organization, assignment: Prefix
) -> None:
    plan = planner.plan(spec_of(3))
    add_prefix(db, "2001:db8:100:224::/62", actor=OPERATOR, kind="subnet", holder=enterprise)  # in site-3/zone-3
    db.flush()
    before = prefix_count(db)
    with pytest.raises(PrefixOverlap):
        apply_plan(db, plan, parent=assignment, holder=enterprise, actor=OPERATOR)
    assert prefix_count(db) == before


def test_a_carrier_that_may_not_allocate_from_the_parent_is_refused(
    db: Session, enterprise: Organization, assignment: Prefix, create_user: Callable[..., User]
) -> None:
    carrier_user = create_user("carrier")
    before = prefix_count(db)
    with pytest.raises(PermissionDenied):
        apply_plan(db, planner.plan(spec_of(1)), parent=assignment, holder=enterprise, actor=carrier_user)
    assert prefix_count(db) == before


def test_the_enterprise_holding_the_assignment_may_apply_its_plan(
    db: Session, enterprise: Organization, assignment: Prefix, create_user: Callable[..., User]
) -> None:
    engineer = create_user("enterprise", organization=enterprise)
    applied = apply_plan(db, planner.plan(spec_of(1)), parent=assignment, holder=enterprise, actor=engineer)
    assert len(applied.created) == NODES_PER_SITE


def test_under_an_allocation_sites_become_assignments_holding_their_subnets(
    db: Session, enterprise: Organization, create_org: Callable[..., Organization]
) -> None:
    carrier = create_org(kind="carrier")
    allocation = add_prefix(db, "2001:db8:100::/44", actor=OPERATOR, kind="allocation", holder=carrier)
    db.flush()
    plan = planner.plan(spec_of(2, parent="2001:db8:100::/44"))
    apply_plan(db, plan, parent=allocation, holder=enterprise, actor=OPERATOR)
    db.flush()
    below = registered_below(db, allocation)
    sites = {p.path: p.net for p in plan.placements if "/" not in p.path}
    for net in sites.values():
        site = below[format_net(net)]
        assert (site.kind, site.holder_id, site.parent_id) == ("assignment", enterprise.id, allocation.id)
        zones = [p for p in below.values() if p.parent_id == site.id]
        assert len(zones) == 4 and {p.kind for p in zones} == {"subnet"}
        vlans = [p for p in below.values() if p.parent_id in {zone.id for zone in zones}]
        assert len(vlans) == LEAVES_PER_SITE and {p.kind for p in vlans} == {"subnet"}
    assert len(below) == 2 * NODES_PER_SITE


def test_a_plan_in_a_reserved_block_is_refused_by_the_nesting_rule(db: Session, enterprise: Organization) -> None:
    reserved = add_prefix(db, "2001:db8:100::/48", actor=OPERATOR, kind="reserved", holder=enterprise)
    db.flush()
    before = prefix_count(db)
    with pytest.raises(NestingViolation):
        apply_plan(db, planner.plan(spec_of(1)), parent=reserved, holder=enterprise, actor=OPERATOR)
    assert prefix_count(db) == before


# -- flask plan apply ----------------------------------------------------------------------------------------------


def test_cli_apply_prints_the_plan_and_what_it_created_and_a_replan_with_previous_creates_only_the_new_site(
    runner: FlaskCliRunner, db: Session, assignment: Prefix, tmp_path: Path
) -> None:
    first = runner.invoke(
        args=[
            "plan",
            "apply",
            write(tmp_path, PLAN.format(parent=assignment.network, sites=2)),
            "--holder",
            "factory",
            "--json",
        ]
    )
    assert first.exit_code == 0, first.output
    printed = json.loads(first.stdout)
    assert len(printed["created"]) == 2 * NODES_PER_SITE
    assert {node["kind"] for node in printed["created"]} == {"subnet"}
    previous = write(tmp_path, first.stdout, "applied.json")
    grown = write(tmp_path, PLAN.format(parent=assignment.network, sites=3), "grown.yaml")
    second = runner.invoke(args=["plan", "apply", grown, "--holder", "factory", "--previous", previous, "--json"])
    assert second.exit_code == 0, second.output
    created = json.loads(second.stdout)["created"]
    assert len(created) == NODES_PER_SITE and {node["path"].split("/")[0] for node in created} == {"site-3"}
    assert len(registered_below(db, assignment)) == 3 * NODES_PER_SITE


def test_cli_apply_of_a_plan_that_does_not_fit_exits_1_and_writes_nothing(
    runner: FlaskCliRunner, db: Session, assignment: Prefix, tmp_path: Path
) -> None:
    before = prefix_count(db)
    result = runner.invoke(
        args=[
            "plan",
            "apply",
            write(tmp_path, PLAN.format(parent=assignment.network, sites=257)),
            "--holder",
            "factory",
        ]
    )
    assert result.exit_code == 1
    assert prefix_count(db) == before


def test_cli_apply_when_the_rules_refuse_exits_1_and_writes_nothing(
    runner: FlaskCliRunner, db: Session, enterprise: Organization, tmp_path: Path
) -> None:
    add_prefix(db, "2001:db8:100::/48", actor=OPERATOR, kind="reserved", holder=enterprise)
    db.flush()
    before = prefix_count(db)
    result = runner.invoke(
        args=["plan", "apply", write(tmp_path, PLAN.format(parent="2001:db8:100::/48", sites=1)), "--holder", "factory"]
    )
    assert result.exit_code == 1, result.output
    assert prefix_count(db) == before


def test_cli_apply_in_an_unregistered_parent_or_for_an_unknown_holder_exits_1(
    runner: FlaskCliRunner, assignment: Prefix, tmp_path: Path
) -> None:
    unregistered = write(tmp_path, PLAN.format(parent="2001:db8:200::/48", sites=1), "elsewhere.yaml")
    assert runner.invoke(args=["plan", "apply", unregistered, "--holder", "factory"]).exit_code == 1
    plan = write(tmp_path, PLAN.format(parent=assignment.network, sites=1))
    assert runner.invoke(args=["plan", "apply", plan, "--holder", "nobody"]).exit_code == 1


def test_cli_apply_of_a_malformed_plan_exits_2(runner: FlaskCliRunner, assignment: Prefix, tmp_path: Path) -> None:
    result = runner.invoke(args=["plan", "apply", write(tmp_path, "parent: [\n"), "--holder", "factory"])
    assert result.exit_code == 2


def test_a_preview_with_the_applied_plan_as_previous_keeps_every_node_in_place(
    runner: FlaskCliRunner, assignment: Prefix, tmp_path: Path
) -> None:
    # The applied leaves lie straight in the parent: they are the plan's own nodes, not space to plan around.
    plan = write(tmp_path, PLAN.format(parent=assignment.network, sites=2))
    applied = runner.invoke(args=["plan", "apply", plan, "--holder", "factory", "--json"])
    assert applied.exit_code == 0, applied.output
    previous = write(tmp_path, applied.stdout, "applied.json")
    result = runner.invoke(args=["plan", "preview", plan, "--previous", previous, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["nodes"] == json.loads(applied.stdout)["nodes"]
