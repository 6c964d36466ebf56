"""The registry through its interfaces: CLI, API and pages, on both databases, with tenant isolation."""

from __future__ import annotations

import json

import pytest
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy.orm import Session

from core.policy import OPERATOR
from ipam.operations import AllocationRequest, add_prefix, allocate_prefixes
from ipam.space import Strategy
from tests.conftest import post_form
from tests.support import csrf_token_in


@pytest.fixture
def tree(db: Session, create_org):
    carrier = create_org(kind="carrier", code="tel")
    factory = create_org(kind="enterprise", code="factory")
    other = create_org(kind="enterprise", code="other-ent")
    aggregate = add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=carrier)
    (site,) = allocate_prefixes(db, aggregate, AllocationRequest(48), holder=factory, actor=OPERATOR)
    (elsewhere,) = allocate_prefixes(db, aggregate, AllocationRequest(48), holder=other, actor=OPERATOR)
    db.flush()
    return {"carrier": carrier, "factory": factory, "other": other, "aggregate": aggregate, "site": site,
            "elsewhere": elsewhere}  # fmt: skip


# --- CLI -------------------------------------------------------------------------------------------------


def test_cli_allocate_prints_json_in_allocation_order(runner: FlaskCliRunner, tree) -> None:
    result = runner.invoke(args=["prefix", "allocate", "2001:db8::/32", "--length", "33", "--count", "1",
                                 "--strategy", "sparse", "--holder", "tel", "--kind", "allocation", "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == [
        {"prefix": "2001:db8:8000::/33", "kind": "allocation", "status": "active", "holder": "tel", "usage": None,
         "parent": "2001:db8::/32", "description": None}
    ]  # fmt: skip


def test_cli_available_lists_blocks_and_candidates(runner: FlaskCliRunner, tree) -> None:
    blocks = json.loads(runner.invoke(args=["prefix", "available", "2001:db8::/32", "--json"]).output)
    assert blocks[0] == {"prefix": "2001:db8:2::/47"}
    candidates = json.loads(runner.invoke(args=["prefix", "available", "2001:db8::/32", "--length", "48",
                                                "--limit", "2", "--json"]).output)  # fmt: skip
    assert candidates == [{"prefix": "2001:db8:2::/48"}, {"prefix": "2001:db8:3::/48"}]


def test_cli_add_show_list_release(runner: FlaskCliRunner, tree) -> None:
    added = runner.invoke(
        args=["prefix", "add", "2001:db8:100::/40", "--kind", "allocation", "--holder", "tel", "--json"]
    )
    assert added.exit_code == 0, added.output
    shown = json.loads(runner.invoke(args=["prefix", "show", "2001:db8::/32", "--json"]).output)
    assert shown["kind"] == "aggregate" and float(shown["utilization_percent"]) > 0
    listed = json.loads(
        runner.invoke(args=["prefix", "list", "--within", "2001:db8::/32", "--holder", "tel", "--json"]).output
    )
    assert [row["prefix"] for row in listed] == ["2001:db8::/32", "2001:db8:100::/40"]
    released = runner.invoke(args=["prefix", "release", "2001:db8:100::/40", "--json"])
    assert json.loads(released.output)["released"] == 1


def test_cli_errors_are_one_line(runner: FlaskCliRunner, tree) -> None:
    exhausted = runner.invoke(args=["prefix", "allocate", "2001:db8::/48", "--length", "49", "--count", "3",
                                    "--holder", "factory", "--kind", "subnet"])  # fmt: skip
    assert exhausted.exit_code == 1 and len(exhausted.output.strip().splitlines()) == 1
    assert "2" in exhausted.output
    host_bits = runner.invoke(args=["prefix", "add", "2001:db8::1/64", "--kind", "subnet", "--holder", "factory"])
    assert host_bits.exit_code == 1 and "2001:db8::/64" in host_bits.output


# --- API -------------------------------------------------------------------------------------------------


def api_token(client: FlaskClient) -> dict[str, str]:
    return {"X-CSRFToken": csrf_token_in(client.get("/").get_data(as_text=True))}


def test_api_allocate_and_conflicts(client: FlaskClient, login_as, create_user, tree) -> None:
    login_as(create_user(role="carrier", organization=tree["carrier"]))
    headers = api_token(client)
    url = f"/api/v1/prefixes/{tree['aggregate'].id}/allocate"
    created = client.post(
        url, json={"length": 48, "count": 2, "holder": "factory", "strategy": "first-fit"}, headers=headers
    )
    assert created.status_code == 201, created.get_json()
    assert [p["prefix"] for p in created.get_json()] == ["2001:db8:2::/48", "2001:db8:3::/48"]
    invalid = client.post(url, json={"length": 200, "holder": "factory"}, headers=headers)
    assert invalid.status_code == 422 and invalid.get_json()["error"]["code"] == "validation_failed"
    exhausted = client.post(
        url, json={"length": 33, "count": 3, "holder": "factory", "kind": "allocation"}, headers=headers
    )
    assert exhausted.status_code == 409
    assert exhausted.get_json()["error"]["code"] == "space_exhausted" and exhausted.get_json()["error"]["fits"] == 1
    duplicate = client.post("/api/v1/prefixes", json={"prefix": "2001:db8::/48", "kind": "assignment", "holder": "factory"},
                            headers=headers)  # fmt: skip
    assert duplicate.status_code == 409 and duplicate.get_json()["error"]["code"] == "prefix_overlap"


def test_api_lists_with_cursor_and_finds_the_most_specific(client: FlaskClient, login_as, tree) -> None:
    login_as("regulator")
    first = client.get("/api/v1/prefixes?limit=2").get_json()
    assert [p["prefix"] for p in first["items"]] == ["2001:db8::/32", "2001:db8::/48"]
    rest = client.get(f"/api/v1/prefixes?limit=2&cursor={first['next_cursor']}").get_json()
    assert [p["prefix"] for p in rest["items"]] == ["2001:db8:1::/48"] and rest["next_cursor"] is None
    found = client.get("/api/v1/prefixes?q=2001:db8:1::42").get_json()
    assert [p["prefix"] for p in found["items"]] == ["2001:db8:1::/48"]
    within = client.get("/api/v1/prefixes?within=2001:db8::/47&kind=assignment").get_json()
    assert len(within["items"]) == 2
    assert client.get("/api/v1/prefixes?within=nonsense").status_code == 422


def test_api_patch_delete_and_utilization(client: FlaskClient, login_as, create_user, tree) -> None:
    login_as(create_user(role="carrier", organization=tree["carrier"]))
    headers = api_token(client)
    site = tree["site"]
    patched = client.patch(f"/api/v1/prefixes/{site.id}", json={"usage": "industrial-network"}, headers=headers)
    assert patched.status_code == 200 and patched.get_json()["usage"] == "industrial-network"
    usage = client.get(f"/api/v1/prefixes/{tree['aggregate'].id}/utilization?unit=48").get_json()
    assert usage["used_units"] == "2" and usage["total_units"] == "65536" and usage["children"] == 2
    assert client.delete(f"/api/v1/prefixes/{site.id}", headers=headers).status_code == 204
    assert client.get(f"/api/v1/prefixes/{site.id}").status_code == 404


def test_tenants_see_only_their_own_prefixes(client: FlaskClient, login_as, create_user, tree) -> None:
    login_as(create_user(role="enterprise", organization=tree["factory"]))
    listed = client.get("/api/v1/prefixes").get_json()
    assert [p["prefix"] for p in listed["items"]] == ["2001:db8::/48"]
    for prefix in (tree["elsewhere"], tree["aggregate"]):
        assert client.get(f"/api/v1/prefixes/{prefix.id}").status_code == 404
        assert client.get(f"/api/v1/prefixes/{prefix.id}/available").status_code == 404
        assert client.get(f"/prefixes/{prefix.id}").status_code == 404
    headers = api_token(client)
    assert client.post(f"/api/v1/prefixes/{tree['elsewhere'].id}/allocate", json={"length": 64, "holder": "factory"},
                       headers=headers).status_code == 404  # fmt: skip
    own = client.post(f"/api/v1/prefixes/{tree['site'].id}/allocate",
                      json={"length": 64, "count": 2, "holder": "factory", "kind": "subnet"}, headers=headers)  # fmt: skip
    assert own.status_code == 201
    refused = client.delete(f"/api/v1/prefixes/{tree['site'].id}", headers=headers)
    assert refused.status_code == 403


def test_regulators_read_but_do_not_change(client: FlaskClient, login_as, tree) -> None:
    login_as("regulator")
    assert client.get(f"/prefixes/{tree['site'].id}").status_code == 200
    headers = api_token(client)
    assert (
        client.patch(f"/api/v1/prefixes/{tree['site'].id}", json={"usage": "idc"}, headers=headers).status_code == 403
    )
    assert client.get(f"/prefixes/{tree['aggregate'].id}/allocate").status_code == 403


# --- pages -----------------------------------------------------------------------------------------------


def test_allocate_page_previews_then_allocates(client: FlaskClient, login_as, create_user, tree, db: Session) -> None:
    login_as(create_user(role="carrier", organization=tree["carrier"]))
    url = f"/prefixes/{tree['aggregate'].id}/allocate"
    form = {"length": "48", "count": "2", "strategy": Strategy.SPARSE.value, "holder": "factory", "kind": "assignment"}
    preview = post_form(client, url, {**form, "preview": "1"}).get_data(as_text=True)
    assert "2001:db8:8000::/48" in preview and "2001:db8:4000::/48" in preview
    assert client.get("/api/v1/prefixes?q=2001:db8:8000::").get_json()["items"][0]["prefix"] == "2001:db8::/32"
    done = post_form(client, url, {**form, "confirm": "1"})
    assert done.status_code == 302
    assert client.get("/api/v1/prefixes?q=2001:db8:8000::").get_json()["items"][0]["prefix"] == "2001:db8:8000::/48"


def test_allocate_page_shows_errors_beside_fields(client: FlaskClient, login_as, create_user, tree) -> None:
    login_as(create_user(role="carrier", organization=tree["carrier"]))
    url = f"/prefixes/{tree['aggregate'].id}/allocate"
    body = post_form(client, url, {"length": "48", "count": "1", "strategy": "first-fit", "holder": "nobody",
                                   "kind": "assignment", "confirm": "1"}).get_data(as_text=True)  # fmt: skip
    assert 'data-field-error="holder"' in body


def test_detail_tree_map_and_search_pages(client: FlaskClient, login_as, tree) -> None:
    login_as("regulator")
    detail = client.get(f"/prefixes/{tree['aggregate'].id}").get_data(as_text=True)
    assert "2001:db8::/48" in detail and "2001:db8:2::/47" in detail
    space = client.get(f"/prefixes/{tree['aggregate'].id}/map?length=40").get_data(as_text=True)
    assert space.count('class="cell ') == 256 and "cell-partial" in space
    found = client.get("/prefixes?q=2001:db8:1::9")
    assert found.status_code == 302 and found.headers["Location"] == f"/prefixes/{tree['elsewhere'].id}"
    assert "2001:db8::/32" in client.get("/prefixes").get_data(as_text=True)


def test_release_with_children_is_refused_with_a_message(client: FlaskClient, login_as, tree) -> None:
    login_as("regulator-admin")
    response = post_form(
        client, f"/prefixes/{tree['aggregate'].id}/release", {}, form_page=f"/prefixes/{tree['aggregate'].id}"
    )
    assert response.status_code == 302
    assert "2001:db8::/32" in client.get(response.headers["Location"]).get_data(as_text=True)
    assert client.get(f"/prefixes/{tree['aggregate'].id}").status_code == 200


def test_tree_level_fragment_lists_children_with_counts(client: FlaskClient, login_as, tree) -> None:
    login_as("regulator")
    rows = client.get(f"/prefixes/{tree['aggregate'].id}/children?depth=1").get_data(as_text=True)
    assert rows.count('class="tree-row depth-1"') == 2 and "2001:db8:1::/48" in rows
    page = client.get("/prefixes").get_data(as_text=True)
    assert f"/prefixes/{tree['aggregate'].id}/children" in page
