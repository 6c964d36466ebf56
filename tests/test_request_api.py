"""``/api/v1/requests``: an enterprise drafts, edits, submits and withdraws its requests; the carrier asked previews
the approval from a pool, approves (allocating), returns or rejects. Another tenant's request is a 404, a step the
state or the role does not allow a 409, a wrong value a 422 named by the body's field; nothing is written on any
error."""

from __future__ import annotations

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
from ipam import prefix_requests
from ipam.models import Prefix, PrefixRequest
from ipam.operations import add_prefix
from ipam.space import Strategy
from tests.querycount import count_statements
from tests.support import csrf_token_in

VALUES = {
    "provider": "carrier-a",
    "site_count": 2,
    "prefix_len": 48,
    "purpose": "两个工厂的工业互联网改造",
    "usage": "industrial-network",
    "locations": ["120116", "120104"],
    "justification": "每个厂区一个 /48，按 RIPE-690 规划车间与产线。",
}
SPARSE_PAIR = ["2001:db8:4000::/48", "2001:db8:4800::/48"]  # two /48s as far apart as the /36 pool allows


@dataclass
class World:
    db: Session
    carrier: Organization
    carrier_user: User
    enterprise: Organization
    engineer: User
    other_engineer: User
    regulator: User
    pool: Prefix

    def headers(self, user: User) -> dict[str, str]:
        """A bearer token of ``user``, as a script sends it."""
        _, secret = create_token(self.db, user, name="api", days=5, read_only=False, actor=user)
        self.db.commit()
        return {"Authorization": f"Bearer {secret}"}

    def draft(self, **values: Any) -> PrefixRequest:
        request = prefix_requests.create_request(
            self.db, {**VALUES, "provider": self.carrier, **values}, actor=self.engineer
        )
        self.db.commit()
        return request

    def submitted(self, **values: Any) -> PrefixRequest:
        request = self.draft(**values)
        prefix_requests.submit_request(self.db, request, actor=self.engineer)
        self.db.commit()
        return request

    def counts(self) -> tuple[int, ...]:
        """Rows of what a request's steps write: requests, prefixes, audit events (but a token's first use)."""
        self.db.expire_all()
        audited = select(func.count()).select_from(AuditEvent).where(AuditEvent.action.not_like("token.%"))
        return (
            *(self.db.scalar(select(func.count()).select_from(model)) or 0 for model in (PrefixRequest, Prefix)),
            self.db.scalar(audited) or 0,
        )

    def state_of(self, request: PrefixRequest) -> str:
        self.db.expire_all()
        return self.db.get(PrefixRequest, request.id).state


@pytest.fixture
def world(db: Session, create_org: Callable[..., Organization], create_user: Callable[..., User]) -> World:
    carrier = create_org(kind="carrier", code="carrier-a", name="甲运营商")
    enterprise = create_org(kind="enterprise", code="factory", name="滨海工厂")
    pool = add_prefix(db, "2001:db8:4000::/36", actor=OPERATOR, kind="allocation", holder=carrier)
    world = World(
        db=db,
        carrier=carrier,
        carrier_user=create_user("carrier", organization=carrier),
        enterprise=enterprise,
        engineer=create_user("enterprise", organization=enterprise),
        other_engineer=create_user("enterprise"),
        regulator=create_user("regulator"),
        pool=pool,
    )
    db.commit()
    return world


# -- drafting ------------------------------------------------------------------------------------------------------


def test_an_enterprise_drafts_a_request_and_reads_it_back_with_what_it_may_do(
    client: FlaskClient, world: World
) -> None:
    headers = world.headers(world.engineer)
    created = client.post("/api/v1/requests", json=VALUES, headers=headers)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["state"] == "draft" and body["asked"] == "2 × /48"
    assert body["requester"]["code"] == "factory" and body["provider"] == {
        "code": "carrier-a",
        "kind": "carrier",
        "name": "甲运营商",
        "name_en": None,
    }
    assert body["locations"] == ["120116", "120104"] and body["usage"] == "industrial-network"
    assert (body["plan"], body["pool"], body["blocks"], body["submitted_at"]) == (None, None, [], None)
    assert body["actions"] == ["update", "submit", "withdraw"]
    assert client.get(f"/api/v1/requests/{body['id']}", headers=headers).get_json() == body


def test_an_unknown_provider_is_refused_on_the_provider_field_and_nothing_is_written(
    client: FlaskClient, world: World
) -> None:
    headers = world.headers(world.engineer)
    before = world.counts()
    refused = client.post("/api/v1/requests", json={**VALUES, "provider": "nobody"}, headers=headers)
    assert refused.status_code == 422
    assert set(refused.get_json()["error"]["fields"]) == {"provider"}
    assert world.counts() == before


def test_wrong_values_are_named_by_the_fields_of_the_body(client: FlaskClient, world: World) -> None:
    headers = world.headers(world.engineer)
    before = world.counts()
    crowded = "parent: 2001:db8::/48\nnodes: [{name: site, count: 300, length: 56}]\n"
    refused = client.post(
        "/api/v1/requests",
        headers=headers,
        json={
            **VALUES,
            "site_count": 0,
            "prefix_len": 47,
            "locations": ["99"],
            "plan": crowded,
        },
    )
    assert refused.status_code == 422
    error = refused.get_json()["error"]
    assert error["code"] == "validation_failed"
    assert set(error["fields"]) == {"site_count", "prefix_len", "locations", "plan"}
    assert world.counts() == before


def test_a_plan_may_be_attached_as_text_or_as_a_json_object(client: FlaskClient, world: World) -> None:
    headers = world.headers(world.engineer)
    plan = {"parent": "2001:db8::/48", "nodes": [{"name": "site", "count": 2, "length": 56}]}
    created = client.post("/api/v1/requests", json={**VALUES, "plan": plan}, headers=headers)
    assert created.status_code == 201, created.get_json()
    assert '"count": 2' in created.get_json()["plan"]


def test_only_an_enterprise_drafts_requests(client: FlaskClient, world: World) -> None:
    refused = client.post("/api/v1/requests", json=VALUES, headers=world.headers(world.carrier_user))
    assert refused.status_code == 403 and refused.get_json()["error"]["code"] == "forbidden"


def test_a_browser_session_drafts_with_its_csrf_token_and_is_refused_without_it(
    client: FlaskClient, world: World, login_as: Callable[..., User]
) -> None:
    login_as(world.engineer)
    before = world.counts()
    assert client.post("/api/v1/requests", json=VALUES).status_code == 400
    assert world.counts() == before
    token = csrf_token_in(client.get("/").get_data(as_text=True))
    created = client.post("/api/v1/requests", json=VALUES, headers={"X-CSRFToken": token})
    assert created.status_code == 201 and created.get_json()["state"] == "draft"


# -- reading -------------------------------------------------------------------------------------------------------


def test_the_requester_lists_its_requests_filtered_and_a_page_at_a_time(client: FlaskClient, world: World) -> None:
    drafts = [world.draft(), world.draft()]
    sent = world.submitted(site_count=1)
    headers = world.headers(world.engineer)
    listed = client.get("/api/v1/requests", headers=headers).get_json()
    assert listed["meta"]["total"] == 3 and {item["id"] for item in listed["items"]} == {
        *(d.id for d in drafts),
        sent.id,
    }
    assert all(item["actions"] for item in listed["items"])
    only_sent = client.get("/api/v1/requests?state=submitted", headers=headers).get_json()
    assert [item["id"] for item in only_sent["items"]] == [sent.id]
    page = client.get("/api/v1/requests?per_page=2&page=2", headers=headers).get_json()
    assert len(page["items"]) == 1 and page["meta"] == {"page": 2, "per_page": 2, "total": 3, "pages": 2}
    assert client.get("/api/v1/requests?provider=carrier-a", headers=headers).get_json()["meta"]["total"] == 3
    assert client.get("/api/v1/requests?requester=nobody", headers=headers).get_json()["items"] == []


def test_the_allocators_queue_holds_what_waits_for_it_and_no_draft(client: FlaskClient, world: World) -> None:
    world.draft()
    sent = world.submitted()
    headers = world.headers(world.carrier_user)
    queue = client.get("/api/v1/requests?view=queue", headers=headers).get_json()
    assert [item["id"] for item in queue["items"]] == [sent.id]
    assert queue["items"][0]["actions"] == ["approve", "return", "reject"]
    assert client.get("/api/v1/requests?requester=factory", headers=headers).get_json()["meta"]["total"] == 1


def test_another_organizations_request_is_not_found_whatever_is_asked(client: FlaskClient, world: World) -> None:
    request = world.submitted()
    headers = world.headers(world.other_engineer)
    before = world.counts()
    url = f"/api/v1/requests/{request.id}"
    assert client.get(url, headers=headers).status_code == 404
    assert client.patch(url, json={"site_count": 1}, headers=headers).status_code == 404
    assert client.post(f"{url}/withdraw", json={}, headers=headers).status_code == 404
    assert client.post(f"{url}/approve", json={"pool": world.pool.id}, headers=headers).status_code == 404
    assert client.get("/api/v1/requests", headers=headers).get_json()["items"] == []
    assert world.counts() == before and world.state_of(request) == "submitted"


def test_a_draft_is_not_found_for_the_allocator_asked(client: FlaskClient, world: World) -> None:
    draft = world.draft()
    answer = client.get(f"/api/v1/requests/{draft.id}", headers=world.headers(world.carrier_user))
    assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "not_found"


def test_a_regulator_reads_every_request_and_may_take_no_step(client: FlaskClient, world: World) -> None:
    request = world.submitted()
    headers = world.headers(world.regulator)
    shown = client.get(f"/api/v1/requests/{request.id}", headers=headers).get_json()
    assert shown["state"] == "submitted" and shown["actions"] == []
    assert (
        client.post(f"/api/v1/requests/{request.id}/reject", json={"reason": "x"}, headers=headers).status_code == 409
    )


def test_the_list_costs_as_many_statements_for_twelve_requests_as_for_three(client: FlaskClient, world: World) -> None:
    headers = world.headers(world.carrier_user)

    def statements() -> int:
        client.get("/api/v1/requests", headers=headers)
        with count_statements() as log:
            assert client.get("/api/v1/requests", headers=headers).status_code == 200
        return log.count

    def approved() -> None:
        request = world.submitted(site_count=1)
        prefix_requests.approve_request(
            world.db, request, pool=world.pool, strategy=Strategy.SPARSE, actor=world.carrier_user
        )
        world.db.commit()

    world.submitted()
    world.submitted()
    approved()
    few = statements()
    for _ in range(6):
        world.submitted()
    for _ in range(3):
        approved()
    assert statements() == few


# -- editing and the requester's steps -----------------------------------------------------------------------------


def test_a_draft_is_edited_and_a_submitted_request_is_a_conflict(client: FlaskClient, world: World) -> None:
    request = world.draft()
    headers = world.headers(world.engineer)
    url = f"/api/v1/requests/{request.id}"
    edited = client.patch(url, json={"site_count": 3, "plan": None}, headers=headers)
    assert edited.status_code == 200 and edited.get_json()["asked"] == "3 × /48"
    assert client.post(f"{url}/submit", json={}, headers=headers).get_json()["state"] == "submitted"
    before = world.counts()
    refused = client.patch(url, json={"site_count": 1}, headers=headers)
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "illegal_transition"
    assert world.counts() == before and world.db.get(PrefixRequest, request.id).site_count == 3


def test_a_wrong_value_in_an_edit_changes_nothing(client: FlaskClient, world: World) -> None:
    request = world.draft()
    refused = client.patch(
        f"/api/v1/requests/{request.id}",
        json={"prefix_len": 47, "purpose": "改过"},
        headers=world.headers(world.engineer),
    )
    assert refused.status_code == 422 and set(refused.get_json()["error"]["fields"]) == {"prefix_len"}
    world.db.expire_all()
    assert world.db.get(PrefixRequest, request.id).purpose == VALUES["purpose"]


def test_the_allocator_asked_cannot_edit_the_request(client: FlaskClient, world: World) -> None:
    request = world.submitted()
    refused = client.patch(
        f"/api/v1/requests/{request.id}", json={"site_count": 1}, headers=world.headers(world.carrier_user)
    )
    assert refused.status_code == 409


def test_an_incomplete_request_is_not_submitted_and_the_missing_fields_are_named(
    client: FlaskClient, world: World
) -> None:
    headers = world.headers(world.engineer)
    created = client.post("/api/v1/requests", json={"provider": "carrier-a"}, headers=headers).get_json()
    before = world.counts()
    refused = client.post(f"/api/v1/requests/{created['id']}/submit", json={}, headers=headers)
    assert refused.status_code == 422
    assert {"purpose", "justification", "locations"} <= set(refused.get_json()["error"]["fields"])
    assert world.counts() == before and world.state_of(world.db.get(PrefixRequest, created["id"])) == "draft"


def test_a_step_the_state_does_not_allow_is_a_conflict(client: FlaskClient, world: World) -> None:
    request = world.submitted()
    before = world.counts()
    again = client.post(f"/api/v1/requests/{request.id}/submit", json={}, headers=world.headers(world.engineer))
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "illegal_transition"
    assert world.counts() == before


def test_the_requester_withdraws_and_then_may_do_nothing_more(client: FlaskClient, world: World) -> None:
    request = world.submitted()
    withdrawn = client.post(f"/api/v1/requests/{request.id}/withdraw", json={}, headers=world.headers(world.engineer))
    assert withdrawn.status_code == 200
    assert (withdrawn.get_json()["state"], withdrawn.get_json()["actions"]) == ("withdrawn", [])


def test_a_step_the_callers_role_does_not_allow_is_a_conflict(client: FlaskClient, world: World) -> None:
    request = world.submitted()
    before = world.counts()
    url = f"/api/v1/requests/{request.id}"
    by_requester = client.post(
        f"{url}/approve", json={"pool": world.pool.network}, headers=world.headers(world.engineer)
    )
    assert by_requester.status_code == 409 and by_requester.get_json()["error"]["code"] == "illegal_transition"
    by_carrier = client.post(f"{url}/withdraw", json={}, headers=world.headers(world.carrier_user))
    assert by_carrier.status_code == 409
    assert world.counts() == before and world.state_of(request) == "submitted"


# -- the allocator's steps -----------------------------------------------------------------------------------------


def test_returning_needs_a_comment_and_rejecting_a_reason(client: FlaskClient, world: World) -> None:
    request = world.submitted()
    headers = world.headers(world.carrier_user)
    url = f"/api/v1/requests/{request.id}"
    before = world.counts()
    bare_return = client.post(f"{url}/return", json={"comment": "  "}, headers=headers)
    assert bare_return.status_code == 422 and set(bare_return.get_json()["error"]["fields"]) == {"comment"}
    bare_reject = client.post(f"{url}/reject", json={}, headers=headers)
    assert bare_reject.status_code == 422 and set(bare_reject.get_json()["error"]["fields"]) == {"reason"}
    assert world.counts() == before
    returned = client.post(f"{url}/return", json={"comment": "请说明第二个厂区"}, headers=headers).get_json()
    assert (returned["state"], returned["decision_note"]) == ("returned", "请说明第二个厂区")


def test_rejecting_is_final(client: FlaskClient, world: World) -> None:
    request = world.submitted()
    url = f"/api/v1/requests/{request.id}"
    rejected = client.post(f"{url}/reject", json={"reason": "已有足够地址"}, headers=world.headers(world.carrier_user))
    assert rejected.get_json()["state"] == "rejected" and rejected.get_json()["decided_at"]
    assert client.post(f"{url}/submit", json={}, headers=world.headers(world.engineer)).status_code == 409


def test_the_approval_preview_writes_nothing_and_approving_allocates_exactly_what_it_showed(
    client: FlaskClient, world: World
) -> None:
    request = world.submitted()
    headers = world.headers(world.carrier_user)
    url = f"/api/v1/requests/{request.id}/approve"
    before = world.counts()
    preview = client.post(url, json={"pool": world.pool.network, "preview": True}, headers=headers)
    assert preview.status_code == 200 and preview.get_json() == {"prefixes": SPARSE_PAIR}
    assert world.counts() == before and world.state_of(request) == "submitted"
    approved = client.post(
        url,
        headers=headers,
        json={
            "pool": world.pool.id,
            "expected": SPARSE_PAIR,
            "comment": "按稀疏分配",
        },
    )
    assert approved.status_code == 200, approved.get_json()
    body = approved.get_json()
    assert (body["state"], body["pool"], body["strategy"], body["decision_note"]) == (
        "approved",
        "2001:db8:4000::/36",
        "sparse",
        "按稀疏分配",
    )
    assert [block["network"] for block in body["blocks"]] == SPARSE_PAIR
    allocated = [world.db.get(Prefix, block["prefix_id"]) for block in body["blocks"]]
    assert {(p.kind, p.holder_id, p.parent_id) for p in allocated} == {
        ("assignment", world.enterprise.id, world.pool.id)
    }


def test_approving_after_the_space_changed_since_the_preview_is_a_conflict_and_allocates_nothing(
    client: FlaskClient, world: World
) -> None:
    request = world.submitted()
    headers = world.headers(world.carrier_user)
    url = f"/api/v1/requests/{request.id}/approve"
    shown = client.post(url, json={"pool": world.pool.id, "preview": True}, headers=headers).get_json()["prefixes"]
    add_prefix(world.db, shown[0], actor=OPERATOR, kind="assignment", holder=world.carrier)
    world.db.commit()
    before = world.counts()
    refused = client.post(url, json={"pool": world.pool.id, "expected": shown}, headers=headers)
    assert refused.status_code == 409 and refused.get_json()["error"]["code"] == "conflict"
    assert world.counts() == before and world.state_of(request) == "submitted"


def test_the_strategy_may_be_chosen_instead_of_the_default(client: FlaskClient, world: World) -> None:
    request = world.submitted()
    preview = client.post(
        f"/api/v1/requests/{request.id}/approve",
        headers=world.headers(world.carrier_user),
        json={"pool": world.pool.id, "strategy": "first-fit", "preview": True},
    )
    assert preview.get_json() == {"prefixes": ["2001:db8:4000::/48", "2001:db8:4001::/48"]}


@pytest.mark.parametrize(
    "pool",
    [None, "not a prefix", "2001:db8:ffff::/48", 2147483647, True],
    ids=["missing", "not-a-prefix", "unregistered", "unknown-id", "not-an-id"],
)
def test_a_pool_that_is_missing_or_unknown_is_refused_on_the_pool_field(
    client: FlaskClient, world: World, pool: object
) -> None:
    request = world.submitted()
    before = world.counts()
    body = {} if pool is None else {"pool": pool}
    refused = client.post(
        f"/api/v1/requests/{request.id}/approve", json=body, headers=world.headers(world.carrier_user)
    )
    assert refused.status_code == 422 and set(refused.get_json()["error"]["fields"]) == {"pool"}
    assert world.counts() == before and world.state_of(request) == "submitted"


def test_a_pool_of_another_carrier_is_refused_as_an_unknown_one(
    client: FlaskClient, world: World, create_org: Callable[..., Organization]
) -> None:
    foreign = add_prefix(
        world.db, "2001:db8:8000::/36", actor=OPERATOR, kind="allocation", holder=create_org(kind="carrier")
    )
    request = world.submitted()
    headers = world.headers(world.carrier_user)
    url = f"/api/v1/requests/{request.id}/approve"
    by_network = client.post(url, json={"pool": foreign.network}, headers=headers)
    by_id = client.post(url, json={"pool": foreign.id}, headers=headers)
    assert by_network.status_code == by_id.status_code == 422
    assert by_network.get_json() == by_id.get_json()


def test_an_expected_list_that_is_not_prefixes_is_named_by_its_place(client: FlaskClient, world: World) -> None:
    request = world.submitted()
    refused = client.post(
        f"/api/v1/requests/{request.id}/approve",
        headers=world.headers(world.carrier_user),
        json={"pool": world.pool.id, "expected": ["2001:db8:4000::/48", "nonsense"]},
    )
    assert refused.status_code == 422 and set(refused.get_json()["error"]["fields"]) == {"expected.1"}
