"""The subnet planner's pages: an enterprise writes a plan of its assignment, previews it live (the nodes, a picture of
the parent, the node that does not fit), saves it (mistakes beside the field, by their place in the document),
applies it (confirming how many blocks it creates), re-applies it after a change, exports and compares it; another
organization's plans are not found, and the preview writes nothing."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from accounts.models import AuditEvent, Organization, User
from core.policy import OPERATOR
from ipam import plans
from ipam.models import Prefix, SubnetPlan
from ipam.operations import add_prefix
from tests.conftest import post_form
from tests.support import csrf_token_in

ASSIGNMENT = "2001:db8:100::/48"
SITES = 3
NODES_PER_SITE = 1 + 4 + 4 * 16  # the site, its zones, their subnets


def plan_text(sites: int = SITES, parent: str = ASSIGNMENT) -> str:
    return json.dumps(
        {
            "parent": parent,
            "nibble": True,
            "nodes": [
                {
                    "name": "site",
                    "count": sites,
                    "nodes": [{"name": "zone", "count": 4, "nodes": [{"name": "vlan", "count": 16, "length": 64}]}],
                }
            ],
        },
        indent=2,
    )


@dataclass
class World:
    enterprise: Organization
    engineer: User
    assignment: Prefix
    other_engineer: User
    other_assignment: Prefix


@pytest.fixture
def world(db: Session, create_org: Callable[..., Organization], create_user: Callable[..., User]) -> World:
    enterprise = create_org(kind="enterprise", code="factory")
    other = create_org(kind="enterprise", code="elsewhere")
    assignment = add_prefix(db, ASSIGNMENT, actor=OPERATOR, kind="assignment", holder=enterprise)
    other_assignment = add_prefix(db, "2001:db8:200::/48", actor=OPERATOR, kind="assignment", holder=other)
    db.flush()
    return World(
        enterprise=enterprise,
        engineer=create_user("enterprise", organization=enterprise),
        assignment=assignment,
        other_engineer=create_user("enterprise", organization=other),
        other_assignment=other_assignment,
    )


def saved_plan(db: Session, world: World, text: str | None = None, name: str = "一号工厂") -> SubnetPlan:
    saved, _preview = plans.save_plan(
        db, name=name, text=text or plan_text(), parent=world.assignment, actor=world.engineer
    )
    db.flush()
    return saved


def preview(client: FlaskClient, page: str, body: dict[str, Any]) -> Any:
    token = csrf_token_in(client.get(page).get_data(as_text=True))
    return client.post("/plans/preview", json=body, headers={"X-CSRFToken": token})


def field_errors(html: str, name: str) -> list[str]:
    return re.findall(rf'data-field-error="{name}">([^<]*)<', html)


def count(db: Session, model: Any) -> int:
    return db.scalar(select(func.count()).select_from(model)) or 0


def apply(client: FlaskClient, plan_id: int) -> str:
    """Press Apply, read the number the confirmation shows, confirm it; the confirmation page's text."""
    first = post_form(client, f"/plans/{plan_id}/apply", {}, form_page=f"/plans/{plan_id}")
    assert first.status_code == 200
    html = first.get_data(as_text=True)
    expected = re.search(r'name="expected"[^>]*value="([0-9a-f]+)"|value="([0-9a-f]+)"[^>]*name="expected"', html)
    assert expected is not None
    confirmed = post_form(client, f"/plans/{plan_id}/apply", {"expected": expected.group(1) or expected.group(2)},
                          form_page=f"/plans/{plan_id}")  # fmt: skip
    assert confirmed.status_code == 302
    return html


# -- writing and saving -----------------------------------------------------------------------------------------


def test_a_new_plan_starts_in_the_block_asked_for_and_saving_opens_the_planner(
    client: FlaskClient, login_as: Callable[..., User], world: World, db: Session
) -> None:
    login_as(world.engineer)
    page = client.get(f"/plans/new?parent={world.assignment.id}").get_data(as_text=True)
    assert f'<option selected value="{world.assignment.id}">' in page
    assert f'"parent": "{ASSIGNMENT}"' in page  # the starting text is in the block chosen
    response = post_form(client, "/plans/new", {"name": "一号工厂", "parent": world.assignment.id,
                                                "text": plan_text()})  # fmt: skip
    assert response.status_code == 302
    saved = db.scalars(select(SubnetPlan)).one()
    assert response.headers["Location"] == f"/plans/{saved.id}"
    assert (saved.organization_id, saved.parent_network) == (world.enterprise.id, ASSIGNMENT)
    assert len(saved.placements or []) == SITES * NODES_PER_SITE


def test_text_that_is_not_yaml_is_an_error_beside_the_text_naming_the_line(
    client: FlaskClient, login_as: Callable[..., User], world: World, db: Session
) -> None:
    login_as(world.engineer)
    response = post_form(client, "/plans/new", {"name": "x", "parent": world.assignment.id,
                                                "text": "nodes:\n  - name: [a\n"})  # fmt: skip
    assert response.status_code == 200
    errors = field_errors(response.get_data(as_text=True), "text")
    assert len(errors) == 1 and "3" in errors[0]  # the line YAML stopped at
    assert count(db, SubnetPlan) == 0


def test_a_mistake_in_the_document_is_named_by_its_place_beside_the_text(
    client: FlaskClient, login_as: Callable[..., User], world: World, db: Session
) -> None:
    login_as(world.engineer)
    text = json.dumps({"nodes": [{"name": "site", "nodes": [{"name": "vlan", "length": 300}]}]})
    response = post_form(client, "/plans/new", {"name": "x", "parent": world.assignment.id, "text": text})
    errors = field_errors(response.get_data(as_text=True), "text")
    assert len(errors) == 1 and errors[0].startswith("nodes[0].nodes[0].length")
    assert count(db, SubnetPlan) == 0


def test_a_block_the_user_may_not_plan_in_is_an_error_beside_the_parent(
    client: FlaskClient, login_as: Callable[..., User], world: World, db: Session
) -> None:
    login_as(world.engineer)
    response = post_form(client, "/plans/new", {"name": "x", "parent": world.other_assignment.id,
                                                "text": plan_text()})  # fmt: skip
    assert response.status_code == 200
    assert field_errors(response.get_data(as_text=True), "parent")
    assert count(db, SubnetPlan) == 0


def test_the_parent_offered_are_the_organizations_blocks_only(
    client: FlaskClient, login_as: Callable[..., User], world: World
) -> None:
    login_as(world.engineer)
    page = client.get("/plans/new").get_data(as_text=True)
    assert ASSIGNMENT in page and "2001:db8:200::/48" not in page


def test_saving_the_planner_updates_the_plan(
    client: FlaskClient, login_as: Callable[..., User], world: World, db: Session
) -> None:
    saved = saved_plan(db, world)
    login_as(world.engineer)
    response = post_form(client, f"/plans/{saved.id}", {"name": "改名", "parent": world.assignment.id,
                                                          "text": plan_text(sites=2)})  # fmt: skip
    assert response.status_code == 302
    db.expire_all()
    assert saved.name == "改名" and len(saved.placements or []) == 2 * NODES_PER_SITE


def test_the_planner_shows_the_saved_plan_without_scripts(
    client: FlaskClient, login_as: Callable[..., User], world: World, db: Session
) -> None:
    saved = saved_plan(db, world)
    login_as(world.engineer)
    html = client.get(f"/plans/{saved.id}").get_data(as_text=True)
    assert html.count('data-path="') == SITES * NODES_PER_SITE
    assert 'data-path="site-3/zone-4/vlan-16"' in html
    assert html.count('class="plan-cell ') == 256
    assert "<script>" not in html and "style=" not in html  # the CSP allows neither


def test_the_list_shows_the_organizations_plans_only(
    client: FlaskClient, login_as: Callable[..., User], world: World, db: Session
) -> None:
    saved_plan(db, world, name="一号工厂")
    plans.save_plan(db, name="别人的", text=plan_text(parent="2001:db8:200::/48"), parent=world.other_assignment,
                    actor=world.other_engineer)  # fmt: skip
    db.flush()
    login_as(world.engineer)
    html = client.get("/plans").get_data(as_text=True)
    assert "一号工厂" in html and "别人的" not in html


def test_deleting_a_plan_keeps_what_it_registered(
    client: FlaskClient, login_as: Callable[..., User], world: World, db: Session
) -> None:
    saved = saved_plan(db, world)
    login_as(world.engineer)
    apply(client, saved.id)
    before = count(db, Prefix)
    response = post_form(client, f"/plans/{saved.id}/delete", {}, form_page=f"/plans/{saved.id}")
    assert response.status_code == 302 and response.headers["Location"] == "/plans"
    assert count(db, SubnetPlan) == 0 and count(db, Prefix) == before


# -- the live preview ------------------------------------------------------------------------------------------


def test_the_preview_of_a_plan_that_fits_lists_its_nodes_and_pictures_the_sites(
    client: FlaskClient, login_as: Callable[..., User], world: World
) -> None:
    login_as(world.engineer)
    response = preview(client, "/plans/new", {"text": plan_text(), "parent_id": world.assignment.id})
    assert response.status_code == 200
    body = response.get_json()
    assert body["ok"] is True and body["problem"] is None
    assert len(body["nodes"]) == body["total"] == SITES * NODES_PER_SITE
    first = body["nodes"][0]
    assert (first["path"], first["prefix"], first["size_64s"], first["kept"]) == (
        "site-1", "2001:db8:100::/56", 256, False,
    )  # fmt: skip
    assert body["tree"]["nodes"][0]["count"] == SITES
    picture = body["map"]
    assert picture["length"] == 56 and len(picture["cells"]) == 256
    assert [cell["owner"] for cell in picture["cells"][:4]] == ["site-1", "site-2", "site-3", None]
    assert picture["sites"] == ["site-1", "site-2", "site-3"]


def test_the_preview_of_a_plan_that_does_not_fit_names_the_node(
    client: FlaskClient, login_as: Callable[..., User], world: World
) -> None:
    login_as(world.engineer)
    text = json.dumps({"nodes": [{"name": "site", "count": 2, "length": 52},
                                 {"name": "big", "count": 2, "length": 49}]})  # fmt: skip
    body = preview(client, "/plans/new", {"text": text, "parent_id": world.assignment.id}).get_json()
    assert body["ok"] is False and body["nodes"] == []
    assert body["path"] == "big-2" and "big-2" in body["problem"] and body["in_document"] is False


def test_the_preview_of_a_broken_document_names_the_place(
    client: FlaskClient, login_as: Callable[..., User], world: World
) -> None:
    login_as(world.engineer)
    text = json.dumps({"nodes": [{"name": "site", "lenght": 52}]})
    body = preview(client, "/plans/new", {"text": text, "parent_id": world.assignment.id}).get_json()
    assert (body["ok"], body["path"], body["in_document"]) == (False, "nodes[0].lenght", True)
    assert body["tree"]["nodes"][0]["lenght"] == 52  # the editor still shows what was written


def test_the_preview_shows_registered_blocks_that_are_not_the_plans_in_grey_and_reserved_ones(
    client: FlaskClient, login_as: Callable[..., User], world: World, db: Session
) -> None:
    add_prefix(db, "2001:db8:100:ff00::/56", actor=OPERATOR, kind="subnet", holder=world.enterprise)
    db.flush()
    login_as(world.engineer)
    text = json.dumps({"reserve": ["2001:db8:100:fe00::/56"], "nodes": [{"name": "site", "length": 52}]})
    cells = preview(client, "/plans/new", {"text": text, "parent_id": world.assignment.id}).get_json()["map"]["cells"]
    assert [cell["owner"] for cell in cells[-2:]] == ["reserved", "existing"]
    assert cells[16]["owner"] is None


def test_the_preview_writes_nothing(
    client: FlaskClient, login_as: Callable[..., User], world: World, db: Session
) -> None:
    saved = saved_plan(db, world)
    login_as(world.engineer)
    before = (count(db, SubnetPlan), count(db, Prefix), count(db, AuditEvent))
    response = preview(client, f"/plans/{saved.id}", {"text": plan_text(sites=5), "parent_id": world.assignment.id,
                                                      "plan_id": saved.id})  # fmt: skip
    assert response.status_code == 200 and response.get_json()["total"] == 5 * NODES_PER_SITE
    db.expire_all()
    assert (count(db, SubnetPlan), count(db, Prefix), count(db, AuditEvent)) == before
    assert len(saved.placements or []) == SITES * NODES_PER_SITE


def test_the_preview_in_a_block_of_another_organization_is_refused(
    client: FlaskClient, login_as: Callable[..., User], world: World
) -> None:
    login_as(world.engineer)
    response = preview(client, "/plans/new", {"text": plan_text(), "parent_id": world.other_assignment.id})
    assert response.status_code == 422 and "parent_id" in response.get_json()["error"]["fields"]


def test_the_preview_needs_the_csrf_header(client: FlaskClient, login_as: Callable[..., User], world: World) -> None:
    login_as(world.engineer)
    response = client.post("/plans/preview", json={"text": plan_text(), "parent_id": world.assignment.id})
    assert response.status_code == 400


# -- applying --------------------------------------------------------------------------------------------------


def test_applying_creates_the_nested_subnets_in_the_assignment_and_the_page_shows_them_applied(
    client: FlaskClient, login_as: Callable[..., User], world: World, db: Session
) -> None:
    saved = saved_plan(db, world)
    login_as(world.engineer)
    before = count(db, Prefix)
    confirmation = apply(client, saved.id)
    assert f'data-created="{SITES * NODES_PER_SITE}"' in confirmation
    assert count(db, Prefix) == before + SITES * NODES_PER_SITE
    vlan = db.scalars(select(Prefix).where(Prefix.description == "site-1/zone-1/vlan-1")).one()
    zone = db.scalars(select(Prefix).where(Prefix.description == "site-1/zone-1")).one()
    site = db.scalars(select(Prefix).where(Prefix.description == "site-1")).one()
    assert (vlan.parent_id, zone.parent_id, site.parent_id) == (zone.id, site.id, world.assignment.id)
    assert {vlan.kind, zone.kind, site.kind} == {"subnet"} and vlan.holder_id == world.enterprise.id
    page = client.get(f"/plans/{saved.id}").get_data(as_text=True)
    assert 'data-testid="applied"' in page and page.count("data-kept") == SITES * NODES_PER_SITE


def test_the_confirmation_writes_nothing(
    client: FlaskClient, login_as: Callable[..., User], world: World, db: Session
) -> None:
    saved = saved_plan(db, world)
    login_as(world.engineer)
    before = (count(db, Prefix), count(db, AuditEvent))
    response = post_form(client, f"/plans/{saved.id}/apply", {}, form_page=f"/plans/{saved.id}")
    assert response.status_code == 200
    db.expire_all()
    assert (count(db, Prefix), count(db, AuditEvent)) == before and saved.applied is None


def test_a_confirmation_the_registry_no_longer_matches_asks_again(
    client: FlaskClient, login_as: Callable[..., User], world: World, db: Session
) -> None:
    saved = saved_plan(db, world)
    login_as(world.engineer)
    before = count(db, Prefix)
    response = post_form(client, f"/plans/{saved.id}/apply", {"expected": "0" * 32}, form_page=f"/plans/{saved.id}")
    assert response.status_code == 200 and 'data-testid="apply-changed"' in response.get_data(as_text=True)
    assert count(db, Prefix) == before


def test_re_applying_after_adding_a_site_creates_only_the_new_sites_blocks(
    client: FlaskClient, login_as: Callable[..., User], world: World, db: Session
) -> None:
    saved = saved_plan(db, world)
    login_as(world.engineer)
    apply(client, saved.id)
    placed = {p.description: p.network for p in db.scalars(select(Prefix).where(Prefix.description.is_not(None)))}
    post_form(client, f"/plans/{saved.id}", {"name": saved.name, "parent": world.assignment.id,
                                              "text": plan_text(sites=SITES + 1)})  # fmt: skip
    before = count(db, Prefix)
    confirmation = apply(client, saved.id)
    assert f'data-created="{NODES_PER_SITE}"' in confirmation
    assert count(db, Prefix) == before + NODES_PER_SITE
    after = {p.description: p.network for p in db.scalars(select(Prefix).where(Prefix.description.is_not(None)))}
    assert {path: after[path] for path in placed} == placed
    assert "site-4/zone-4/vlan-16" in after


def test_a_plan_that_does_not_fit_is_not_applied(
    client: FlaskClient, login_as: Callable[..., User], world: World, db: Session
) -> None:
    saved = saved_plan(db, world, text=json.dumps({"nodes": [{"name": "site", "count": 3, "length": 47}]}))
    login_as(world.engineer)
    before = count(db, Prefix)
    response = post_form(client, f"/plans/{saved.id}/apply", {}, form_page=f"/plans/{saved.id}")
    assert response.status_code == 302 and response.headers["Location"] == f"/plans/{saved.id}"
    assert count(db, Prefix) == before


# -- exports and comparing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "mimetype"),
    [("csv", "text/csv"), ("json", "application/json"), ("yaml", "application/yaml"), ("arpa", "text/plain"),
     ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")],
)  # fmt: skip
def test_a_plan_exports_in_each_format(
    client: FlaskClient, login_as: Callable[..., User], world: World, db: Session, fmt: str, mimetype: str
) -> None:
    saved = saved_plan(db, world)
    login_as(world.engineer)
    response = client.get(f"/plans/{saved.id}/export/{fmt}")
    assert response.status_code == 200 and response.mimetype == mimetype
    assert "attachment" in response.headers["Content-Disposition"]
    body = response.get_data()
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
        assert rows[0][:2] == ["path", "prefix"] and rows[1][:2] == ["site-1", "2001:db8:100::/56"]
        assert len(rows) == 1 + SITES * NODES_PER_SITE
    elif fmt in {"json", "yaml"}:
        document = json.loads(body) if fmt == "json" else yaml.safe_load(body)
        assert document["parent"] == ASSIGNMENT and len(document["nodes"]) == SITES * NODES_PER_SITE
    elif fmt == "arpa":
        assert body.decode().splitlines()[0] == "0.0.0.0.1.0.8.b.d.0.1.0.0.2.ip6.arpa\tsite-1"
    else:
        assert body[:2] == b"PK"


def test_comparing_two_plans_marks_each_node(
    client: FlaskClient, login_as: Callable[..., User], world: World, db: Session
) -> None:
    left = saved_plan(db, world, name="三个厂区")
    right = saved_plan(db, world, name="四个厂区", text=plan_text(sites=4).replace('"nibble": true', '"nibble": false'))
    login_as(world.engineer)
    html = client.get(f"/plans/compare?left={left.id}&right={right.id}").get_data(as_text=True)
    changes = re.findall(r'<tr data-change="(\w+)">', html)
    assert changes.count("added") == NODES_PER_SITE
    assert "moved" in changes and "removed" not in changes
    assert len(changes) == 4 * NODES_PER_SITE


# -- who may --------------------------------------------------------------------------------------------------


def test_another_organizations_plan_is_not_found(
    client: FlaskClient, login_as: Callable[..., User], world: World, db: Session
) -> None:
    saved = saved_plan(db, world)
    mine = plans.save_plan(db, name="mine", text=plan_text(parent="2001:db8:200::/48"),
                           parent=world.other_assignment, actor=world.other_engineer)[0]  # fmt: skip
    db.flush()
    login_as(world.other_engineer)
    for url in [
        f"/plans/{saved.id}",
        f"/plans/{saved.id}/export/csv",
        f"/plans/compare?left={mine.id}&right={saved.id}",
    ]:
        assert client.get(url).status_code == 404, url
    for url in [f"/plans/{saved.id}/apply", f"/plans/{saved.id}/delete"]:
        assert post_form(client, url, {}, form_page="/plans").status_code == 404, url
    body = {"text": plan_text(), "parent_id": world.other_assignment.id, "plan_id": saved.id}
    assert preview(client, "/plans", body).status_code == 404
    assert count(db, SubnetPlan) == 2


def test_regulators_have_no_planner(client: FlaskClient, login_as: Callable[..., User]) -> None:
    login_as("regulator")
    assert client.get("/plans").status_code == 403
    assert client.get("/plans/new").status_code == 403


@pytest.mark.parametrize("action", ["apply", "delete", "save"])
def test_forms_without_the_csrf_token_are_refused(
    client: FlaskClient, login_as: Callable[..., User], world: World, db: Session, action: str
) -> None:
    saved = saved_plan(db, world)
    login_as(world.engineer)
    url = f"/plans/{saved.id}" if action == "save" else f"/plans/{saved.id}/{action}"
    response = client.post(url, data={"name": "x", "parent": world.assignment.id, "text": plan_text()})
    assert response.status_code == 400
    db.expire_all()
    assert saved.name == "一号工厂" and saved.applied is None
