"""``/api/v1/reconciliations``: a regulator (or a carrier, for itself) starts a run and polls it until it is done;
reads its findings filtered like the pages, the diff with the previous run, and acknowledges, assigns or reopens a
finding. A carrier sees only its own runs and findings, an enterprise nothing (403); another tenant's run or finding
is a 404, a step the case's state does not allow a 409, a wrong value a 422 named by its field; nothing is written
on any error."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from accounts.models import User
from accounts.operations import create_token
from core.policy import OPERATOR
from filing.choices import RunScope
from filing.models import FindingCase, ReconciliationFinding, ReconciliationRun
from filing.permissions import RECONCILER
from filing.reconciliation import fail_run, start_run
from ipam.operations import add_prefix
from tests.filing_support import FilingWorld
from tests.querycount import count_statements

URL = "/api/v1/reconciliations"
POLLS = 5


def bearer(world: FilingWorld, user: User) -> dict[str, str]:
    """A bearer token of ``user``, as a script sends it."""
    _, secret = create_token(world.db, user, name="api", days=5, read_only=False, actor=user)
    world.db.commit()
    return {"Authorization": f"Bearer {secret}"}


def finished(client: FlaskClient, url: str, headers: dict[str, str]) -> dict[str, Any]:
    """Poll a run until it is done or failed (the test app's queue runs it as the starting request commits)."""
    for _ in range(POLLS):
        body = client.get(url, headers=headers).get_json()
        if body["state"] in ("done", "failed"):
            return body
    raise AssertionError(f"the run at {url} did not finish: {body}")


def started(client: FlaskClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post(URL, json={"scope": "all", **body}, headers=headers)
    assert response.status_code == 202, response.get_json()
    return finished(client, response.get_json()["url"], headers)


def runs_stored(world: FilingWorld) -> int:
    return world.db.scalar(select(func.count()).select_from(ReconciliationRun)) or 0


def blocks(page: dict[str, Any]) -> list[str]:
    return [item["block"] for item in page["items"]]


def a_finding(world: FilingWorld, run: dict[str, Any], block: str) -> ReconciliationFinding:
    statement = select(ReconciliationFinding).where(ReconciliationFinding.run_id == run["id"])
    found = world.db.scalar(statement.where(ReconciliationFinding.block == block))
    assert found is not None
    return found


# -- starting and polling ------------------------------------------------------------------------------------------


def test_a_started_run_is_answered_queued_with_where_to_poll_it(client: FlaskClient, world: FilingWorld) -> None:
    headers = bearer(world, world.regulator)
    response = client.post(URL, json={"scope": "all"}, headers=headers)
    assert response.status_code == 202
    body = response.get_json()
    assert body["state"] == "queued" and body["scope"] == "all" and body["started_by"]
    assert body["url"] == f"{URL}/{body['id']}" and response.headers["Location"] == body["url"]


def test_a_polled_run_ends_done_with_its_counts_by_type_and_by_carrier_code(
    client: FlaskClient, world: FilingWorld
) -> None:
    run = started(client, bearer(world, world.regulator))
    assert run["state"] == "done" and run["finished_at"] and run["failure"] is None and run["previous"] is None
    assert (run["records"], run["filings"]) == (2, 0)
    assert {kind: n for kind, n in run["counts"].items() if n} == {"unfiled": 2}
    assert run["carrier_counts"] == {"hx": {"unfiled": 2}}


def test_a_failed_run_says_what_went_wrong(client: FlaskClient, world: FilingWorld) -> None:
    run = start_run(world.db, scope=RunScope.ALL, actor=world.regulator)
    fail_run(world.db, run, actor=RECONCILER, error="OperationalError: the disk is full")
    world.db.commit()
    body = client.get(f"{URL}/{run.id}", headers=bearer(world, world.regulator)).get_json()
    assert body["state"] == "failed" and body["failure"] == "OperationalError: the disk is full"


def test_a_run_names_the_previous_run_of_its_scope(client: FlaskClient, world: FilingWorld) -> None:
    headers = bearer(world, world.regulator)
    first = started(client, headers)
    started(client, headers, scope="carrier", carrier="hx")
    assert started(client, headers)["previous"] == first["id"]


def test_a_carrier_reconciles_its_own_records_and_filings(client: FlaskClient, world: FilingWorld) -> None:
    run = started(client, bearer(world, world.carrier_user), scope="carrier", carrier="hx")
    assert run["state"] == "done" and run["carrier"] == "hx" and run["records"] == 2


def test_a_block_is_reconciled_by_its_network(client: FlaskClient, world: FilingWorld) -> None:
    run = started(client, bearer(world, world.regulator), scope="block", block="2001:db8:1::/48")
    assert run["block"] == "2001:db8:1::/48" and run["records"] == 0
    other = started(client, bearer(world, world.regulator), scope="block", block=world.aggregate.id)
    assert other["block"] == "2001:db8::/32" and other["records"] == 2


@pytest.mark.parametrize(
    "body",
    [{"scope": "all"}, {"scope": "carrier", "carrier": "jc"}, {"scope": "block", "block": "2001:db8::/32"}],
    ids=["the city", "another carrier", "a block"],
)
def test_a_carrier_may_not_reconcile_another_scope(client: FlaskClient, world: FilingWorld, body: dict) -> None:
    response = client.post(URL, json=body, headers=bearer(world, world.carrier_user))
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"
    assert runs_stored(world) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"scope": "carrier", "carrier": "no-such"}, "carrier"),
        ({"scope": "carrier"}, "carrier"),
        ({"scope": "block", "block": "2001:db8:77::/48"}, "block"),
        ({"scope": "block", "block": "not a block"}, "block"),
        ({"scope": "block"}, "block"),
        ({"scope": "everything"}, "scope"),
        ({}, "scope"),
    ],
    ids=["unknown carrier", "no carrier", "unregistered block", "not a block", "no block", "bad scope", "no scope"],
)
def test_a_scope_that_names_nothing_is_refused_on_its_field(
    client: FlaskClient, world: FilingWorld, body: dict, field: str
) -> None:
    response = client.post(URL, json=body, headers=bearer(world, world.regulator))
    assert response.status_code == 422
    assert list(response.get_json()["error"]["fields"]) == [field]
    assert runs_stored(world) == 0


def test_a_block_the_carrier_may_not_see_is_as_unknown_as_an_unregistered_one(
    client: FlaskClient, world: FilingWorld
) -> None:
    response = client.post(URL, json={"scope": "block", "block": "192.0.2.0/24"},
                           headers=bearer(world, world.carrier_user))  # fmt: skip
    assert response.status_code == 422 and list(response.get_json()["error"]["fields"]) == ["block"]


# -- who sees which runs -------------------------------------------------------------------------------------------


def test_an_enterprise_may_neither_start_nor_list_runs(client: FlaskClient, world: FilingWorld) -> None:
    headers = bearer(world, world.enterprise_user)
    assert client.get(URL, headers=headers).status_code == 403
    assert client.post(URL, json={"scope": "carrier", "carrier": "hx"}, headers=headers).status_code == 403
    assert runs_stored(world) == 0


def test_a_carrier_lists_only_its_own_runs_and_a_regulator_every_run(client: FlaskClient, world: FilingWorld) -> None:
    regulator = bearer(world, world.regulator)
    city = started(client, regulator)
    own = started(client, regulator, scope="carrier", carrier="hx")
    others = started(client, regulator, scope="carrier", carrier="jc")
    listed = client.get(URL, headers=bearer(world, world.carrier_user)).get_json()
    assert [run["id"] for run in listed["items"]] == [own["id"]] and listed["meta"]["total"] == 1
    every = client.get(f"{URL}?per_page=2", headers=regulator).get_json()
    assert [run["id"] for run in every["items"]] == [others["id"], own["id"]] and every["meta"]["total"] == 3
    assert city["id"] not in [run["id"] for run in every["items"]]


@pytest.mark.parametrize("tail", ["", "/findings", "/diff", "/diff/new"])
def test_another_carriers_run_is_not_found(client: FlaskClient, world: FilingWorld, tail: str) -> None:
    run = started(client, bearer(world, world.regulator), scope="carrier", carrier="jc")
    response = client.get(f"{URL}/{run['id']}{tail}", headers=bearer(world, world.carrier_user))
    assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found"


def test_a_carrier_does_not_see_the_city_run(client: FlaskClient, world: FilingWorld) -> None:
    run = started(client, bearer(world, world.regulator))
    assert client.get(f"{URL}/{run['id']}", headers=bearer(world, world.carrier_user)).status_code == 404


# -- findings ------------------------------------------------------------------------------------------------------


def test_a_finding_shows_both_sides_its_carrier_and_no_case_yet(client: FlaskClient, world: FilingWorld) -> None:
    world.carrier_holding()
    record = add_prefix(world.db, "2001:db8:4::/48", actor=OPERATOR, kind="assignment", holder=world.enterprise)
    filing = world.approved(world.carrier, "assignment", "2001:db8:4::/48", user=world.other_enterprise)
    headers = bearer(world, world.regulator)
    run = started(client, headers)
    page = client.get(f"{URL}/{run['id']}/findings?type=holder-mismatch", headers=headers).get_json()
    assert page["meta"]["total"] == 1
    finding = page["items"][0]
    stored = a_finding(world, run, "2001:db8:4::/48")
    enterprise, other = world.enterprise, world.other_enterprise
    assert finding == {
        "id": stored.id, "type": "holder-mismatch", "block": "2001:db8:4::/48",
        "record": {"prefix_id": record.id, "block": "2001:db8:4::/48",
                   "holder": {"id": enterprise.id, "name": enterprise.name, "uscc": enterprise.uscc}},
        "filing": {"filing_id": filing.id, "block": "2001:db8:4::/48",
                   "user": {"id": other.id, "name": other.name, "uscc": other.uscc},
                   "filer": {"id": world.carrier.id, "name": world.carrier.name, "uscc": world.carrier.uscc}},
        "other_filing": None, "extra": [], "missing": [], "others": [], "carrier": "hx", "district": "120116",
        "allocated_on": stored.allocated_on.isoformat(), "working_days": None, "late": False,
        "fingerprint": stored.fingerprint, "case": None,
    }  # fmt: skip


def test_an_unfiled_finding_says_how_long_since_the_allocation(client: FlaskClient, world: FilingWorld) -> None:
    headers = bearer(world, world.regulator)
    run = started(client, headers)
    items = client.get(f"{URL}/{run['id']}/findings", headers=headers).get_json()["items"]
    assert [(item["type"], item["block"]) for item in items] == [
        ("unfiled", "2001:db8:1::/48"), ("unfiled", "2001:db8:2::/48"),
    ]  # fmt: skip
    assert all(item["working_days"] is not None and item["late"] is False for item in items)
    assert items[0]["filing"] is None and items[0]["record"]["prefix_id"] == world.site.id


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("type=unfiled", ["2001:db8:1::/48", "2001:db8:2::/48"]),
        ("type=size-mismatch", []),
        ("carrier=hx", ["2001:db8:1::/48", "2001:db8:2::/48"]),
        ("carrier=jc", []),
        ("carrier=no-such", []),
        ("district=1201", ["2001:db8:1::/48"]),
        ("holder=津沽", ["2001:db8:1::/48"]),
        ("min_working_days=0", ["2001:db8:1::/48", "2001:db8:2::/48"]),
        ("min_working_days=1000", []),
        ("late=true", []),
        ("late=false", ["2001:db8:1::/48", "2001:db8:2::/48"]),
        ("case=open", ["2001:db8:1::/48", "2001:db8:2::/48"]),
        ("case=acknowledged", []),
        ("per_page=1&page=2", ["2001:db8:2::/48"]),
    ],
)
def test_findings_are_filtered_as_on_the_pages(
    client: FlaskClient, world: FilingWorld, query: str, expected: list[str]
) -> None:
    headers = bearer(world, world.regulator)
    run = started(client, headers)
    assert blocks(client.get(f"{URL}/{run['id']}/findings?{query}", headers=headers).get_json()) == expected


@pytest.mark.parametrize("query", ["type=matched", "district=x", "late=maybe", "case=closed", "min_working_days=-1"])
def test_a_wrong_filter_is_refused_on_its_field(client: FlaskClient, world: FilingWorld, query: str) -> None:
    headers = bearer(world, world.regulator)
    run = started(client, headers)
    response = client.get(f"{URL}/{run['id']}/findings?{query}", headers=headers)
    assert response.status_code == 422 and list(response.get_json()["error"]["fields"]) == [query.split("=")[0]]


def test_a_carrier_reads_the_findings_of_its_own_run(client: FlaskClient, world: FilingWorld) -> None:
    run = started(client, bearer(world, world.regulator), scope="carrier", carrier="hx")
    page = client.get(f"{URL}/{run['id']}/findings", headers=bearer(world, world.carrier_user)).get_json()
    assert page["meta"]["total"] == 2 and {item["carrier"] for item in page["items"]} == {"hx"}


def test_a_page_of_findings_is_read_in_as_many_statements_for_many_as_for_few(
    client: FlaskClient, world: FilingWorld
) -> None:
    headers = bearer(world, world.regulator)
    few = started(client, headers)
    for n in range(16, 26):
        add_prefix(world.db, f"2001:db8:{n:x}::/48", actor=OPERATOR, kind="assignment", holder=world.enterprise)
    world.db.commit()
    many = started(client, headers)
    finding = a_finding(world, many, "2001:db8:10::/48")
    client.post(f"{URL}/findings/{finding.id}/acknowledge", json={"comment": "已知"}, headers=headers)

    def statements(run: dict[str, Any]) -> int:
        with count_statements() as log:
            assert client.get(f"{URL}/{run['id']}/findings", headers=headers).status_code == 200
        return log.count

    assert statements(few) == statements(many)


# -- the diff with the previous run --------------------------------------------------------------------------------


def test_the_diff_counts_what_is_new_resolved_and_still_open_since_the_previous_run(
    client: FlaskClient, world: FilingWorld
) -> None:
    headers = bearer(world, world.regulator)
    first = started(client, headers)
    world.site_assignment()
    add_prefix(world.db, "2001:db8:9::/48", actor=OPERATOR, kind="assignment", holder=world.enterprise)
    world.db.commit()
    second = started(client, headers)
    diff = client.get(f"{URL}/{second['id']}/diff", headers=headers).get_json()
    assert diff == {"previous": first["id"], "new": 1, "resolved": 1, "still_open": 1}


@pytest.mark.parametrize(
    ("change", "expected"),
    [("new", ["2001:db8:9::/48"]), ("resolved", ["2001:db8:1::/48"]), ("still_open", ["2001:db8:2::/48"])],
)
def test_the_diff_lists_the_findings_of_each_change(
    client: FlaskClient, world: FilingWorld, change: str, expected: list[str]
) -> None:
    headers = bearer(world, world.regulator)
    started(client, headers)
    world.site_assignment()
    add_prefix(world.db, "2001:db8:9::/48", actor=OPERATOR, kind="assignment", holder=world.enterprise)
    world.db.commit()
    second = started(client, headers)
    assert blocks(client.get(f"{URL}/{second['id']}/diff/{change}", headers=headers).get_json()) == expected


def test_without_a_previous_run_every_finding_is_new(client: FlaskClient, world: FilingWorld) -> None:
    headers = bearer(world, world.regulator)
    run = started(client, headers)
    assert client.get(f"{URL}/{run['id']}/diff", headers=headers).get_json() == {
        "previous": None, "new": 2, "resolved": 0, "still_open": 0,
    }  # fmt: skip
    assert len(client.get(f"{URL}/{run['id']}/diff/new", headers=headers).get_json()["items"]) == 2
    assert client.get(f"{URL}/{run['id']}/diff/resolved", headers=headers).get_json()["items"] == []


# -- acting on a finding -------------------------------------------------------------------------------------------


@pytest.fixture
def finding(client: FlaskClient, world: FilingWorld) -> ReconciliationFinding:
    """An unfiled finding of the carrier's, from a run of the whole city."""
    return a_finding(world, started(client, bearer(world, world.regulator)), "2001:db8:1::/48")


def act(client: FlaskClient, world: FilingWorld, user: User, finding: ReconciliationFinding, step: str, **body: Any):
    return client.post(f"{URL}/findings/{finding.id}/{step}", json=body, headers=bearer(world, user))


def test_acknowledging_a_finding_answers_its_case(client: FlaskClient, world: FilingWorld, finding) -> None:
    response = act(client, world, world.regulator, finding, "acknowledge", comment="合同在办理中")
    assert response.status_code == 200
    assert {k: v for k, v in response.get_json().items() if k != "updated_at"} == {
        "state": "acknowledged", "assignee": None, "comment": "合同在办理中",
    }  # fmt: skip


def test_an_acknowledged_finding_shows_its_case_in_the_findings(
    client: FlaskClient, world: FilingWorld, finding
) -> None:
    act(client, world, world.regulator, finding, "acknowledge", comment="合同在办理中")
    headers = bearer(world, world.regulator)
    page = client.get(f"{URL}/{finding.run_id}/findings?case=acknowledged", headers=headers).get_json()
    assert blocks(page) == ["2001:db8:1::/48"] and page["items"][0]["case"]["comment"] == "合同在办理中"


def test_a_carrier_assigns_its_finding_to_one_of_its_users(client: FlaskClient, world: FilingWorld, finding) -> None:
    response = act(client, world, world.carrier_user, finding, "assign", comment="请核对",
                   assignee=world.carrier_user.username)  # fmt: skip
    assert response.status_code == 200
    assert response.get_json()["state"] == "assigned"
    assert response.get_json()["assignee"] == world.carrier_user.username


def test_reopening_clears_the_assignee(client: FlaskClient, world: FilingWorld, finding) -> None:
    act(client, world, world.regulator, finding, "assign", comment="请核对", assignee=world.carrier_user.username)
    response = act(client, world, world.regulator, finding, "reopen", comment="再看看")
    assert response.status_code == 200 and response.get_json()["state"] == "open"
    assert response.get_json()["assignee"] is None


@pytest.mark.parametrize(
    ("step", "body", "field"),
    [
        ("acknowledge", {}, "comment"),
        ("acknowledge", {"comment": "  "}, "comment"),
        ("assign", {"comment": "请核对"}, "assignee"),
        ("assign", {"assignee": "__carrier__"}, "comment"),
        ("assign", {"comment": "请核对", "assignee": "no-such-user"}, "assignee"),
        ("assign", {"comment": "请核对", "assignee": "__other_carrier__"}, "assignee"),
        ("assign", {"comment": "请核对", "assignee": "__enterprise__"}, "assignee"),
    ],
    ids=[
        "no comment",
        "blank comment",
        "no assignee",
        "no comment to assign",
        "unknown",
        "another carrier's",
        "an enterprise's",
    ],
)
def test_a_step_without_what_it_needs_is_refused_on_the_field_and_writes_nothing(
    client: FlaskClient, world: FilingWorld, finding, step: str, body: dict, field: str
) -> None:
    names = {"__carrier__": world.carrier_user.username, "__other_carrier__": world.other_carrier_user.username,
             "__enterprise__": world.enterprise_user.username}  # fmt: skip
    body = {key: names.get(value, value) for key, value in body.items()}
    response = act(client, world, world.regulator, finding, step, **body)
    assert response.status_code == 422 and list(response.get_json()["error"]["fields"]) == [field]
    assert world.db.scalar(select(func.count()).select_from(FindingCase)) == 0


def test_a_step_the_case_does_not_allow_is_a_conflict_and_writes_nothing(
    client: FlaskClient, world: FilingWorld, finding
) -> None:
    response = act(client, world, world.regulator, finding, "reopen", comment="还没处理")
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "illegal_transition"
    assert world.db.scalar(select(func.count()).select_from(FindingCase)) == 0


def test_acknowledging_twice_is_a_conflict(client: FlaskClient, world: FilingWorld, finding) -> None:
    assert act(client, world, world.regulator, finding, "acknowledge", comment="已知").status_code == 200
    assert act(client, world, world.regulator, finding, "acknowledge", comment="再次").status_code == 409


def test_another_carriers_finding_is_not_found(client: FlaskClient, world: FilingWorld, finding) -> None:
    response = act(client, world, world.other_carrier_user, finding, "acknowledge", comment="不是我们的")
    assert response.status_code == 404


def test_an_enterprise_may_not_act_on_findings(client: FlaskClient, world: FilingWorld, finding) -> None:
    assert act(client, world, world.enterprise_user, finding, "acknowledge", comment="企业").status_code == 403


def test_a_finding_that_does_not_exist_is_not_found(client: FlaskClient, world: FilingWorld) -> None:
    response = client.post(f"{URL}/findings/999999/acknowledge", json={"comment": "?"},
                           headers=bearer(world, world.regulator))  # fmt: skip
    assert response.status_code == 404
