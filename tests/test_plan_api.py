"""``/api/v1/plans``: a plan previewed without saving (around what the registry holds, keeping a previous plan in
place), saved, read, edited, compared, deleted and applied as nested subnets in the enterprise's assignment.
Another organization's plan is a 404, space taken meanwhile a 409, a document that is not a plan or a plan that
does not fit a 422 naming the place or the node; nothing is written on any error."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.models import AuditEvent, Organization, User
from accounts.operations import create_token
from core.policy import OPERATOR
from ipam import plans
from ipam.models import Prefix, SubnetPlan
from ipam.operations import add_prefix
from tests.querycount import count_statements
from tests.support import csrf_token_in

PLAN = """
parent: 2001:db8:100::/48
nodes:
  - name: site
    count: 2
    length: 52
    nodes: [{name: zone, count: %(zones)d, length: 56}]
"""
TWO_SITES = [
    ("site-1", "2001:db8:100::/52"),
    ("site-1/zone-1", "2001:db8:100::/56"),
    ("site-1/zone-2", "2001:db8:100:100::/56"),
    ("site-2", "2001:db8:100:1000::/52"),
    ("site-2/zone-1", "2001:db8:100:1000::/56"),
    ("site-2/zone-2", "2001:db8:100:1100::/56"),
]
WITH_A_LAB_FIRST = {
    "parent": "2001:db8:100::/48",
    "nodes": [
        {"name": "lab", "length": 52},
        {"name": "site", "count": 2, "length": 52, "nodes": [{"name": "zone", "count": 2, "length": 56}]},
    ],
}


def plan_text(zones: int = 2) -> str:
    return PLAN % {"zones": zones}


@dataclass
class World:
    db: Session
    enterprise: Organization
    engineer: User
    other_engineer: User
    carrier_user: User
    regulator: User
    assignment: Prefix

    def headers(self, user: User) -> dict[str, str]:
        """A bearer token of ``user``, as a script sends it."""
        _, secret = create_token(self.db, user, name="api", days=5, read_only=False, actor=user)
        self.db.commit()
        return {"Authorization": f"Bearer {secret}"}

    def saved(self, text: str | None = None, name: str = "滨海工厂") -> SubnetPlan:
        plan, _ = plans.save_plan(
            self.db, name=name, text=text or plan_text(), parent=self.assignment, actor=self.engineer
        )
        self.db.commit()
        return plan

    def counts(self) -> tuple[int, ...]:
        """Rows of what planning writes: saved plans, prefixes, audit events (but a token's first use)."""
        self.db.expire_all()
        audited = select(func.count()).select_from(AuditEvent).where(AuditEvent.action.not_like("token.%"))
        return (
            *(self.db.scalar(select(func.count()).select_from(model)) or 0 for model in (SubnetPlan, Prefix)),
            self.db.scalar(audited) or 0,
        )

    def below(self, prefix: Prefix) -> list[Prefix]:
        self.db.expire_all()
        return list(
            self.db.scalars(
                select(Prefix)
                .where(Prefix.start >= prefix.start, Prefix.last <= prefix.last, Prefix.prefix_len > prefix.prefix_len)
                .order_by(Prefix.start, Prefix.prefix_len)
            )
        )


@pytest.fixture
def world(db: Session, create_org: Callable[..., Organization], create_user: Callable[..., User]) -> World:
    carrier = create_org(kind="carrier", code="carrier-a")
    enterprise = create_org(kind="enterprise", code="factory")
    add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="allocation", holder=carrier)
    assignment = add_prefix(db, "2001:db8:100::/48", actor=OPERATOR, kind="assignment", holder=enterprise)
    world = World(
        db=db,
        enterprise=enterprise,
        engineer=create_user("enterprise", organization=enterprise),
        other_engineer=create_user("enterprise"),
        carrier_user=create_user("carrier", organization=carrier),
        regulator=create_user("regulator"),
        assignment=assignment,
    )
    db.commit()
    return world


def placed(nodes: list[dict[str, Any]]) -> list[tuple[str, str]]:
    return [(node["path"], node["prefix"]) for node in nodes]


# -- previews ------------------------------------------------------------------------------------------------------


def test_a_preview_places_every_node_and_writes_nothing(client: FlaskClient, world: World) -> None:
    headers = world.headers(world.engineer)
    before = world.counts()
    answer = client.post("/api/v1/plans/preview", json={"document": plan_text()}, headers=headers)
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["parent"] == "2001:db8:100::/48" and placed(body["nodes"]) == TWO_SITES
    assert not any(node["kept"] for node in body["nodes"])
    assert world.counts() == before


def test_a_preview_keeps_the_registered_children_of_the_parent_out(client: FlaskClient, world: World) -> None:
    add_prefix(world.db, "2001:db8:100::/52", actor=OPERATOR, kind="subnet", holder=world.enterprise)
    world.db.commit()
    body = client.post(
        "/api/v1/plans/preview", json={"document": plan_text()}, headers=world.headers(world.engineer)
    ).get_json()
    assert placed(body["nodes"])[0] == ("site-1", "2001:db8:100:1000::/52")


def test_a_preview_given_the_previous_one_keeps_its_nodes_in_place_unless_repacked(
    client: FlaskClient, world: World
) -> None:
    headers = world.headers(world.engineer)
    earlier = client.post("/api/v1/plans/preview", json={"document": plan_text()}, headers=headers).get_json()
    again = client.post(
        "/api/v1/plans/preview", headers=headers, json={"document": WITH_A_LAB_FIRST, "previous": earlier}
    ).get_json()
    assert placed(again["nodes"]) == [("lab", "2001:db8:100:2000::/52"), *TWO_SITES]
    assert [node["kept"] for node in again["nodes"]] == [False] + [True] * len(TWO_SITES)
    repacked = client.post(
        "/api/v1/plans/preview",
        headers=headers,
        json={"document": WITH_A_LAB_FIRST, "previous": earlier, "repack": True},
    ).get_json()
    assert placed(repacked["nodes"])[:2] == [("lab", "2001:db8:100::/52"), ("site-1", "2001:db8:100:1000::/52")]


def test_a_parent_given_replaces_the_documents_own(client: FlaskClient, world: World) -> None:
    document = {"nodes": [{"name": "site", "count": 2, "length": 56}]}
    body = client.post(
        "/api/v1/plans/preview",
        json={"document": document, "parent": "2001:db8:200::/48"},
        headers=world.headers(world.engineer),
    ).get_json()
    assert body == {
        "parent": "2001:db8:200::/48",
        "nodes": [
            {"path": "site-1", "prefix": "2001:db8:200::/56", "kept": False},
            {"path": "site-2", "prefix": "2001:db8:200:100::/56", "kept": False},
        ],
    }


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"document": "parent: 2001:db8:100::/48\nnodes: [{name: a, length: 200}]"}, "nodes[0].length"),
        ({"document": "nodes: [a, b"}, "document"),
        ({"document": ["not", "a", "plan"]}, "document"),
        ({"document": {"nodes": [{"name": "a", "length": 56}]}}, "parent"),
        ({"document": plan_text(), "parent": "2001:db8:100::1/48"}, "parent"),
        ({"document": plan_text(), "previous": {"parent": "2001:db8:100::/48", "nodes": [{"path": "a"}]}},
         "previous.nodes[0].prefix"),
        ({"document": plan_text(), "previous": {"parent": "2001:db8:200::/48", "nodes": []}}, "previous"),
    ],
    ids=["bad-length", "not-yaml", "not-a-mapping", "no-parent", "host-bits", "bad-previous", "other-previous"],
)  # fmt: skip
def test_a_document_that_is_not_a_plan_is_refused_at_its_place(
    client: FlaskClient, world: World, body: dict[str, Any], field: str
) -> None:
    refused = client.post("/api/v1/plans/preview", json=body, headers=world.headers(world.engineer))
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert error["code"] == "validation_failed" and list(error["fields"]) == [field] and error["message"]


def test_a_plan_that_does_not_fit_is_refused_naming_the_node(client: FlaskClient, world: World) -> None:
    refused = client.post(
        "/api/v1/plans/preview", json={"document": plan_text(zones=32)}, headers=world.headers(world.engineer)
    )
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert error["fields"] == {"site-1": [error["message"]]} and "/51" in error["message"]


def test_a_regulator_does_not_plan(client: FlaskClient, world: World) -> None:
    refused = client.post(
        "/api/v1/plans/preview", json={"document": plan_text()}, headers=world.headers(world.regulator)
    )
    assert refused.status_code == 403


# -- saved plans ---------------------------------------------------------------------------------------------------


def test_a_saved_plan_answers_its_placements_and_is_listed_and_read(client: FlaskClient, world: World) -> None:
    headers = world.headers(world.engineer)
    created = client.post(
        "/api/v1/plans",
        headers=headers,
        json={"name": "滨海工厂", "parent": "2001:db8:100::/48", "document": plan_text()},
    )
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert placed(body["placements"]) == TWO_SITES and "problem" not in body
    assert (body["parent"], body["parent_id"], body["applied"]) == ("2001:db8:100::/48", world.assignment.id, None)
    listed = client.get("/api/v1/plans", headers=headers).get_json()
    assert [item["id"] for item in listed["items"]] == [body["id"]] and listed["meta"]["total"] == 1
    assert "document" not in listed["items"][0]
    assert client.get(f"/api/v1/plans/{body['id']}", headers=headers).get_json() == body


def test_the_list_costs_as_many_statements_for_twelve_plans_as_for_three(client: FlaskClient, world: World) -> None:
    headers = world.headers(world.engineer)

    def statements() -> int:
        client.get("/api/v1/plans", headers=headers)
        with count_statements() as log:
            assert client.get("/api/v1/plans", headers=headers).status_code == 200
        return log.count

    for number in range(3):
        world.saved(name=f"方案{number}")
    few = statements()
    for number in range(3, 12):
        world.saved(name=f"方案{number}")
    assert statements() == few


def test_a_plan_that_does_not_fit_yet_is_saved_with_its_problem(client: FlaskClient, world: World) -> None:
    headers = world.headers(world.engineer)
    created = client.post(
        "/api/v1/plans",
        headers=headers,
        json={"name": "太挤", "parent": world.assignment.id, "document": plan_text(zones=32)},
    )
    assert created.status_code == 201
    body = created.get_json()
    assert body["placements"] is None and body["problem_path"] == "site-1" and "/51" in body["problem"]
    assert client.get(f"/api/v1/plans/{body['id']}", headers=headers).get_json()["problem_path"] == "site-1"


def test_a_parent_the_caller_cannot_see_is_not_found_and_one_it_cannot_plan_in_is_a_field_error(
    client: FlaskClient, world: World
) -> None:
    values = {"name": "别人的", "parent": "2001:db8:100::/48", "document": plan_text()}
    stranger, carrier = world.headers(world.other_engineer), world.headers(world.carrier_user)
    before = world.counts()
    assert client.post("/api/v1/plans", json=values, headers=stranger).status_code == 404
    assert (
        client.post("/api/v1/plans", json={**values, "parent": world.assignment.id}, headers=stranger).status_code
        == 404
    )
    assert (
        client.post("/api/v1/plans", json={**values, "parent": "2001:db8:ff::/48"}, headers=stranger).status_code == 404
    )
    # The carrier sees the assignment it handed out, but the enterprise plans inside it.
    refused = client.post("/api/v1/plans", json=values, headers=carrier)
    assert refused.status_code == 422 and set(refused.get_json()["error"]["fields"]) == {"parent"}
    assert world.counts() == before


def test_a_saved_document_that_is_not_a_plan_is_refused_on_the_document_field(
    client: FlaskClient, world: World
) -> None:
    headers = world.headers(world.engineer)
    before = world.counts()
    refused = client.post(
        "/api/v1/plans",
        headers=headers,
        json={
            "name": "坏的",
            "parent": world.assignment.id,
            "document": "parent: 2001:db8:100::/48\nnodes: []",
        },
    )
    assert refused.status_code == 422 and set(refused.get_json()["error"]["fields"]) == {"document"}
    missing = client.post("/api/v1/plans", json={"document": plan_text()}, headers=headers)
    assert missing.status_code == 422 and set(missing.get_json()["error"]["fields"]) == {"name", "parent"}
    assert world.counts() == before


def test_another_organizations_plan_is_not_found_whatever_is_asked(client: FlaskClient, world: World) -> None:
    saved = world.saved()
    mine = world.saved(name="另一个")
    headers = world.headers(world.other_engineer)
    before = world.counts()
    url = f"/api/v1/plans/{saved.id}"
    assert client.get(url, headers=headers).status_code == 404
    assert client.patch(url, json={"name": "改"}, headers=headers).status_code == 404
    assert client.delete(url, headers=headers).status_code == 404
    assert client.post(f"{url}/apply", json={}, headers=headers).status_code == 404
    assert client.get(f"{url}/compare/{mine.id}", headers=headers).status_code == 404
    assert client.get("/api/v1/plans", headers=headers).get_json()["items"] == []
    assert world.counts() == before


def test_a_plan_is_edited_and_a_wrong_edit_changes_nothing(client: FlaskClient, world: World) -> None:
    saved = world.saved()
    headers = world.headers(world.engineer)
    url = f"/api/v1/plans/{saved.id}"
    edited = client.patch(url, json={"name": "三个区", "document": plan_text(zones=3)}, headers=headers)
    assert edited.status_code == 200 and edited.get_json()["name"] == "三个区"
    assert len(edited.get_json()["placements"]) == 2 * (1 + 3)
    before = world.counts()
    refused = client.patch(url, json={"name": " ", "document": "nodes: ["}, headers=headers)
    assert refused.status_code == 422 and set(refused.get_json()["error"]["fields"]) == {"name"}
    world.db.expire_all()
    assert world.counts() == before and world.db.get(SubnetPlan, saved.id).name == "三个区"


def test_a_deleted_plan_is_gone_and_what_it_registered_stays(client: FlaskClient, world: World) -> None:
    saved = world.saved()
    headers = world.headers(world.engineer)
    assert client.post(f"/api/v1/plans/{saved.id}/apply", json={}, headers=headers).status_code == 200
    deleted = client.delete(f"/api/v1/plans/{saved.id}", headers=headers)
    assert deleted.status_code == 204 and deleted.get_data() == b""
    assert client.get(f"/api/v1/plans/{saved.id}", headers=headers).status_code == 404
    assert len(world.below(world.assignment)) == len(TWO_SITES)


def test_comparing_two_plans_shows_each_node_side_by_side(client: FlaskClient, world: World) -> None:
    left = world.saved(text=plan_text(zones=3))
    right = world.saved(text=json.dumps(WITH_A_LAB_FIRST), name="先放实验室")
    answer = client.get(f"/api/v1/plans/{left.id}/compare/{right.id}", headers=world.headers(world.engineer))
    rows = answer.get_json()["rows"]
    assert rows[0] == {
        "path": "site-1",
        "left": "2001:db8:100::/52",
        "right": "2001:db8:100:1000::/52",
        "change": "moved",
    }
    changes = {row["path"]: row["change"] for row in rows}
    assert (changes["site-1/zone-3"], changes["lab"]) == ("removed", "added")


# -- applying ------------------------------------------------------------------------------------------------------


def test_applying_registers_nested_subnets_in_the_enterprises_assignment(client: FlaskClient, world: World) -> None:
    saved = world.saved()
    headers = world.headers(world.engineer)
    applied = client.post(f"/api/v1/plans/{saved.id}/apply", json={}, headers=headers)
    assert applied.status_code == 200, applied.get_json()
    body = applied.get_json()
    assert body["already_registered"] == 0
    assert [(block["path"], block["prefix"]) for block in body["created"]] == TWO_SITES
    registered = {prefix.network: prefix for prefix in world.below(world.assignment)}
    assert {(p.kind, p.holder_id) for p in registered.values()} == {("subnet", world.enterprise.id)}
    assert registered["2001:db8:100::/52"].parent_id == world.assignment.id
    assert registered["2001:db8:100:100::/56"].parent_id == registered["2001:db8:100::/52"].id
    again = client.post(f"/api/v1/plans/{saved.id}/apply", json={}, headers=headers).get_json()
    assert (again["created"], again["already_registered"]) == ([], len(TWO_SITES))
    assert client.get(f"/api/v1/plans/{saved.id}", headers=headers).get_json()["applied_at"]


def test_applying_a_plan_that_does_not_fit_is_refused_and_writes_nothing(client: FlaskClient, world: World) -> None:
    saved = world.saved(text=plan_text(zones=32))
    headers = world.headers(world.engineer)
    before = world.counts()
    refused = client.post(f"/api/v1/plans/{saved.id}/apply", json={}, headers=headers)
    assert refused.status_code == 422 and set(refused.get_json()["error"]["fields"]) == {"document"}
    assert world.counts() == before


def test_applying_after_the_space_was_taken_meanwhile_is_a_conflict_and_writes_nothing(
    client: FlaskClient, world: World
) -> None:
    saved = world.saved()
    headers = world.headers(world.engineer)
    assert client.post(f"/api/v1/plans/{saved.id}/apply", json={}, headers=headers).status_code == 200
    edited = client.patch(f"/api/v1/plans/{saved.id}", json={"document": plan_text(zones=3)}, headers=headers)
    assert ["site-1/zone-3", "2001:db8:100:200::/56"] in [
        [p["path"], p["prefix"]] for p in edited.get_json()["placements"]
    ]
    # Someone registers a subnet by hand where the third zone of the first site was to go.
    add_prefix(world.db, "2001:db8:100:200::/64", actor=OPERATOR, kind="subnet", holder=world.enterprise)
    world.db.commit()
    before = world.counts()
    refused = client.post(f"/api/v1/plans/{saved.id}/apply", json={}, headers=headers)
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "prefix_overlap"
    assert world.counts() == before


def test_a_browser_session_applies_with_its_csrf_token(
    client: FlaskClient, world: World, login_as: Callable[..., User]
) -> None:
    saved = world.saved()
    login_as(world.engineer)
    token = csrf_token_in(client.get("/").get_data(as_text=True))
    applied = client.post(f"/api/v1/plans/{saved.id}/apply", json={}, headers={"X-CSRFToken": token})
    assert applied.status_code == 200 and len(applied.get_json()["created"]) == len(TWO_SITES)


def test_a_preview_in_another_organizations_block_does_not_show_how_it_is_used(
    client: FlaskClient, world: World
) -> None:
    add_prefix(world.db, "2001:db8:100:4000::/50", actor=OPERATOR, kind="subnet", holder=world.enterprise)
    world.db.commit()
    document = {"parent": "2001:db8:100::/48", "nodes": [{"name": "part", "count": 3, "length": 50}]}
    mine = client.post("/api/v1/plans/preview", json={"document": document}, headers=world.headers(world.engineer))
    theirs = client.post(
        "/api/v1/plans/preview", json={"document": document}, headers=world.headers(world.other_engineer)
    )
    assert [n["prefix"] for n in mine.get_json()["nodes"]] == [
        "2001:db8:100::/50", "2001:db8:100:8000::/50", "2001:db8:100:c000::/50",
    ]  # fmt: skip
    # Planned as in an empty block: the holder's /50 at 4000 is not given away.
    assert [n["prefix"] for n in theirs.get_json()["nodes"]] == [
        "2001:db8:100::/50", "2001:db8:100:4000::/50", "2001:db8:100:8000::/50",
    ]  # fmt: skip
