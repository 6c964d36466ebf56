"""Tenancy and the registry: refusals never reveal others' space, top-level blocks and holders change hands
only by those who allocate them, and an upstream carrier does not see a downstream allocator's layout."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.errors import PermissionDenied, ValidationFailed
from core.policy import OPERATOR
from importers.operations import Meter, run_batch, start_batch
from ipam import operations
from ipam.errors import PrefixOverlap
from ipam.models import Prefix
from ipam.operations import AllocationRequest, add_prefix, allocate_prefixes, bulk_add_leaves
from ipam.space import parse_net, utilization


def bearer(db: Session, user: Any) -> dict[str, str]:
    from accounts.operations import create_token

    _, secret = create_token(db, user, name="t", days=5, read_only=False, actor=user)
    db.commit()
    return {"Authorization": f"Bearer {secret}"}


@pytest.fixture
def world(db: Session, create_org, create_user) -> dict[str, Any]:
    carrier = create_org(kind="carrier", code="up-carrier")
    other = create_org(kind="carrier", code="other-carrier")
    allocator = create_org(kind="allocator", code="down-alloc")
    factory = create_org(kind="enterprise", code="factory")
    block = add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=carrier)
    (downstream,) = allocate_prefixes(
        db, block, AllocationRequest(40, kind="allocation"), holder=allocator, actor=OPERATOR
    )
    (site,) = allocate_prefixes(db, downstream, AllocationRequest(48), holder=factory, actor=OPERATOR)
    db.commit()
    return {
        "carrier": carrier, "other": other, "allocator": allocator, "factory": factory, "block": block,
        "downstream": downstream, "site": site,
        "carrier_user": create_user(role="carrier", organization=carrier),
        "other_user": create_user(role="carrier", organization=other),
        "allocator_user": create_user(role="allocator", organization=allocator),
        "factory_user": create_user(role="enterprise", organization=factory),
    }  # fmt: skip


# -- registration probes --------------------------------------------------------------------------------------


def test_registering_in_others_space_answers_the_same_whether_it_is_taken_or_free(
    client: FlaskClient, db: Session, world: dict[str, Any]
) -> None:
    headers = bearer(db, world["other_user"])
    taken = client.post("/api/v1/prefixes", headers=headers, json={
        "prefix": world["site"].network, "kind": "assignment", "holder": "other-carrier"})  # fmt: skip
    free = client.post("/api/v1/prefixes", headers=headers, json={
        "prefix": "2001:db8:ff00::/48", "kind": "assignment", "holder": "other-carrier"})  # fmt: skip
    assert taken.status_code == free.status_code == 403
    assert taken.get_json()["error"]["code"] == free.get_json()["error"]["code"]
    covering = client.post("/api/v1/prefixes", headers=headers, json={
        "prefix": "2001:db8::/31", "kind": "aggregate", "holder": "other-carrier"})  # fmt: skip
    assert covering.status_code == 403 and "2001:db8::/32" not in covering.get_data(as_text=True)


@pytest.mark.parametrize("prefix", ["::/0", "0.0.0.0/0", "::1/128", "ff00::/8", "fe80::/10", "::ffff:0:0/96"])
def test_special_purpose_space_is_refused_even_for_administrators(db: Session, create_user, prefix: str) -> None:
    admin = create_user(role="regulator-admin")
    with pytest.raises(ValidationFailed) as refused:
        add_prefix(db, prefix, actor=admin, kind="aggregate", holder=admin.organization)
    assert "prefix" in refused.value.fields


def test_documentation_space_only_where_the_setting_allows_it(db: Session, create_org) -> None:
    holder = create_org(kind="registry")
    operations.configure(operations.RegistryRules(allow_documentation=False))
    try:
        with pytest.raises(ValidationFailed):
            add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=holder)
    finally:
        operations.configure(operations.RegistryRules(allow_documentation=True))
    assert add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=holder)


def test_top_level_blocks_are_for_regulator_administrators_and_registries(db: Session, create_org, create_user) -> None:
    carrier = create_org(kind="carrier")
    with pytest.raises(PermissionDenied):
        add_prefix(db, "2001:db9::/32", actor=create_user(role="carrier", organization=carrier), kind="aggregate",
                   holder=carrier)  # fmt: skip
    registry = create_org(kind="registry")
    registrar = create_user(role="carrier", organization=registry)
    assert add_prefix(db, "2001:db9::/32", actor=registrar, kind="aggregate", holder=registry)
    with pytest.raises(PermissionDenied):
        add_prefix(db, "2001:dba::/32", actor=registrar, kind="aggregate", holder=carrier)
    admin = create_user(role="regulator-admin")
    assert add_prefix(db, "2001:dba::/32", actor=admin, kind="aggregate", holder=carrier)


# -- holders ----------------------------------------------------------------------------------------------------


def test_a_holder_cannot_hand_its_block_to_another_organization(
    client: FlaskClient, db: Session, world: dict[str, Any]
) -> None:
    target = f"/api/v1/prefixes/{world['downstream'].id}"
    refused = client.patch(target, headers=bearer(db, world["allocator_user"]), json={"holder": "other-carrier"})
    assert refused.status_code == 403
    allowed = client.patch(target, headers=bearer(db, world["carrier_user"]), json={"holder": "other-carrier"})
    assert allowed.status_code == 200 and allowed.get_json()["holder"] == "other-carrier"


# -- layout of a downstream allocator ---------------------------------------------------------------------------


def test_an_upstream_carrier_sees_the_block_it_allocated_but_not_the_layout_inside(
    client: FlaskClient, db: Session, world: dict[str, Any], login_as
) -> None:
    downstream = world["downstream"]
    headers = bearer(db, world["carrier_user"])
    assert client.get(f"/api/v1/prefixes/{downstream.id}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/prefixes/{downstream.id}/available", headers=headers).status_code == 403
    usage = client.get(f"/api/v1/prefixes/{downstream.id}/utilization", headers=headers).get_json()
    assert usage["children"] == 0
    own = client.get(f"/api/v1/prefixes/{downstream.id}/utilization", headers=bearer(db, world["allocator_user"]))
    assert own.get_json()["children"] == 1
    login_as(world["carrier_user"])
    assert 'data-testid="layout-hidden"' in client.get(f"/prefixes/{downstream.id}").get_data(as_text=True)
    assert 'data-testid="space-map"' not in client.get(f"/prefixes/{downstream.id}/map").get_data(as_text=True)


# -- promises the mutation run found unguarded ----------------------------------------------------------------


def test_an_enterprise_cannot_allocate_inside_another_organizations_assignment(
    db: Session, world: dict[str, Any], create_org, create_user
) -> None:
    stranger = create_user(role="enterprise", organization=create_org(kind="enterprise"))
    with pytest.raises(PermissionDenied):
        allocate_prefixes(db, world["site"], AllocationRequest(64, kind="subnet"), holder=stranger.organization,
                          actor=stranger)  # fmt: skip
    own = allocate_prefixes(db, world["site"], AllocationRequest(64, kind="subnet"), holder=world["factory"],
                            actor=world["factory_user"])  # fmt: skip
    assert own and own[0].kind == "subnet"


def test_one_carriers_import_cannot_touch_another_carriers_blocks(
    db: Session, world: dict[str, Any], tmp_path: Any
) -> None:
    other = world["other"]
    add_prefix(db, "2001:db9::/32", actor=OPERATOR, kind="aggregate", holder=other)
    header = "地址段,使用单位名称\n"
    into_theirs = tmp_path / "theirs.csv"
    into_theirs.write_text(header + "2001:db8:ff00::/48,甲\n2001:db9:1::/48,乙\n", encoding="utf-8")
    batch = start_batch(db, actor=OPERATOR, carrier=other, path=into_theirs, file_name="t.csv", file_format="csv",
                        allow_partial=True)  # fmt: skip
    run_batch(db, batch, actor=OPERATOR, meter=Meter(batch.size))
    assert (batch.created, batch.errors) == (1, 1)
    assert db.scalar(select(func.count()).select_from(Prefix).where(Prefix.network == "2001:db8:ff00::/48")) == 0
    empty = tmp_path / "empty.csv"
    empty.write_text(header + "2001:db9:2::/48,丙\n", encoding="utf-8")
    snapshot = start_batch(db, actor=OPERATOR, carrier=other, path=empty, file_name="s.csv", file_format="csv",
                           mode="snapshot")  # fmt: skip
    run_batch(db, snapshot, actor=OPERATOR, meter=Meter(snapshot.size))
    assert db.get(Prefix, world["site"].id) is not None and db.get(Prefix, world["downstream"].id) is not None


@pytest.mark.own_app
def test_a_route_without_a_rule_is_refused_at_run_time(app: Flask, client: FlaskClient, login_as) -> None:
    @app.get("/_ruleless")
    def ruleless() -> str:
        return "should never be served"

    login_as("regulator-admin")
    assert client.get("/_ruleless").status_code == 403


def test_allocating_the_parents_own_length_is_a_field_error(db: Session, world: dict[str, Any]) -> None:
    with pytest.raises(ValidationFailed) as refused:
        allocate_prefixes(db, world["block"], AllocationRequest(32), holder=world["carrier"], actor=OPERATOR)
    assert "length" in refused.value.fields


def test_bulk_leaves_refuse_a_prefix_starting_at_the_previous_ones_last_address(
    db: Session, world: dict[str, Any]
) -> None:
    parent = add_prefix(db, "10.0.0.0/16", actor=OPERATOR, kind="aggregate", holder=world["carrier"])
    before = db.scalar(select(func.count()).select_from(Prefix))
    with pytest.raises(PrefixOverlap):
        bulk_add_leaves(db, parent, [parse_net("10.0.0.0/24"), parse_net("10.0.0.255/32")], actor=OPERATOR,
                        kind="assignment", holder=None)  # fmt: skip
    assert db.scalar(select(func.count()).select_from(Prefix)) == before


def test_the_hd_ratio_needs_more_than_one_used_unit() -> None:
    parent = parse_net("2001:db8::/32")
    assert utilization(parent, [(48, 1)], unit_length=48).hd_ratio is None
    assert utilization(parent, [(48, 2)], unit_length=48).hd_ratio == pytest.approx(1 / 16)


def test_a_command_that_fails_midway_leaves_the_database_unchanged(app: Flask, db: Session) -> None:
    from accounts.models import Organization
    from accounts.operations import create_organization
    from core.cli import CommandError, unit_of_work
    from core.errors import DomainError

    with app.app_context(), pytest.raises(CommandError), unit_of_work() as session:
        create_organization(session, actor=OPERATOR, kind="carrier", code="midway", name="半途")
        session.flush()
        raise DomainError("stopped halfway")
    assert db.scalar(select(Organization).where(Organization.code == "midway")) is None


def test_an_import_job_that_fails_midway_changes_nothing(
    app: Flask, db: Session, world: dict[str, Any], tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from importers.models import ImportBatch
    from importers.tasks import execute
    from ipam.changes import ChangeSet

    path = tmp_path / "book.csv"
    path.write_text("地址段,使用单位名称\n2001:db8:ff00::/48,甲\n", encoding="utf-8")
    batch = start_batch(db, actor=OPERATOR, carrier=world["carrier"], path=path, file_name="b.csv", file_format="csv")
    db.commit()
    before = db.scalar(select(func.count()).select_from(Prefix))

    def fail_after_loading(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the disk filled up while indexing")

    monkeypatch.setattr(ChangeSet, "_rebuild_free_space", fail_after_loading)
    with app.app_context():
        execute(batch.id, None)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(Prefix)) == before
    assert db.get(ImportBatch, batch.id).status == "failed"
