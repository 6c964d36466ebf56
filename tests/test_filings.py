"""The filing rules on submission, versions and their diffs, numbers, drafts from the registry, and who sees what
through the pages, the API, the search and the CLI."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from flask.testing import FlaskClient
from sqlalchemy import func, select

from accounts.demo import demo_uscc
from core.errors import Conflict, ValidationFailed
from filing import history, operations, queries
from filing.blocks import parse_block
from filing.models import Filing, FilingVersion
from tests.conftest import post_form
from tests.filing_support import FilingWorld
from tests.querycount import count_statements
from tests.support import csrf_token_in


def _fields(failure: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, list[str]]:
    return {name: [str(m) for m in messages] for name, messages in failure.value.fields.items()}


# -- the chain, the registry, overlaps --------------------------------------------------------------------------


def test_a_first_tier_holding_is_approved_without_a_source_filing_and_gets_the_first_number(world: FilingWorld) -> None:
    holding = world.carrier_holding()
    assert holding.state == "approved" and holding.source_filing_id is None
    assert holding.number == f"津IP备{date.today().year}000001"
    assert world.approved(world.carrier, "assignment", "2001:db8:1::/48").number.endswith("000002")


def test_nothing_is_filed_onward_before_the_block_it_comes_from_is_approved(world: FilingWorld) -> None:
    filing = world.draft(world.carrier, "assignment", "2001:db8:1::/48")
    with pytest.raises(ValidationFailed) as failure:
        operations.submit_filing(world.db, filing, actor=world.carrier_user)
    assert "block" in failure.value.fields and filing.state == "draft"
    world.submitted(world.carrier, "holding", "2001:db8::/32")  # submitted is not enough: it must be approved
    with pytest.raises(ValidationFailed):
        operations.submit_filing(world.db, filing, actor=world.carrier_user)


def test_the_enterprise_files_the_use_of_its_block_once_its_carrier_filed_the_assignment(world: FilingWorld) -> None:
    use = world.draft(
        world.enterprise, "holding", "2001:db8:1::/48", source=world.carrier.name, usage="industrial-network"
    )
    with pytest.raises(ValidationFailed) as failure:
        operations.submit_filing(world.db, use, actor=world.enterprise_user)
    assert any(world.carrier.name in m for m in _fields(failure)["block"])
    assignment = world.site_assignment()
    operations.submit_filing(world.db, use, actor=world.enterprise_user)
    assert use.state == "submitted" and use.source_filing_id == assignment.id


def test_a_block_outside_the_filers_space_is_refused_beside_the_block(world: FilingWorld) -> None:
    world.carrier_holding()
    foreign = world.draft(world.carrier, "assignment", "192.0.2.0/25")
    with pytest.raises(ValidationFailed) as failure:
        operations.submit_filing(world.db, foreign, actor=world.carrier_user)
    assert "not in space your organization holds" in " ".join(_fields(failure)["block"])


def test_the_same_space_filed_for_two_users_is_refused_and_a_block_inside_the_chain_is_not(world: FilingWorld) -> None:
    world.site_assignment()
    twice = world.draft(world.carrier, "assignment", "2001:db8:1::/48", user=world.other_enterprise)
    inside = world.draft(world.carrier, "assignment", "2001:db8:1:100::/56", user=world.other_enterprise)
    for filing in (twice, inside):
        with pytest.raises(ValidationFailed) as failure, world.db.begin_nested():
            operations.submit_filing(world.db, filing, actor=world.carrier_user)
        assert "overlaps 2001:db8:1::/48" in " ".join(_fields(failure)["block"])
    use = world.draft(world.enterprise, "holding", "2001:db8:1::/48", source=world.carrier.name)
    operations.submit_filing(world.db, use, actor=world.enterprise_user)  # its own block, from its carrier
    assert use.state == "submitted"


def test_the_allocator_and_the_user_must_differ(world: FilingWorld) -> None:
    world.carrier_holding()
    to_itself = world.draft(world.carrier, "assignment", "2001:db8:5::/48", user=world.carrier)
    with pytest.raises(ValidationFailed) as failure:
        operations.submit_filing(world.db, to_itself, actor=world.carrier_user)
    assert "user_name" in failure.value.fields


def test_another_holder_in_the_registry_and_a_late_filing_are_warnings_not_refusals(world: FilingWorld) -> None:
    world.carrier_holding()
    filing = world.draft(world.carrier, "assignment", "2001:db8:2::/48",
                         allocated_on=date.today() - timedelta(days=90))  # fmt: skip
    outcome = operations.submit_filing(world.db, filing, actor=world.carrier_user)
    texts = " ".join(str(w) for w in outcome.warnings)
    assert filing.state == "submitted"
    assert world.other_enterprise.name in texts and "late" in texts


@pytest.mark.parametrize(
    ("field", "value"),
    [("user_uscc", "91120000103100784X"), ("user_division", "999999"), ("contact_phone", "call me"),
     ("contact_email", "nobody"), ("allocated_on", date.today() + timedelta(days=1)), ("gateway_ip", "10.0.0.1"),
     ("block", "2001:db8:1::1/48"), ("user_nature", "nonsense")],
)  # fmt: skip
def test_each_malformed_field_is_named(world: FilingWorld, field: str, value: object) -> None:
    values = {**world.values("assignment", "2001:db8:1::/48"), field: value}
    with pytest.raises(ValidationFailed) as failure:
        operations.create_filing(world.db, values, filer=world.carrier, actor=world.carrier_user)
    assert list(failure.value.fields) == [field]


def test_submission_names_each_field_the_type_requires(world: FilingWorld) -> None:
    world.carrier_holding()
    filing = operations.create_filing(world.db, {"filing_type": "assignment", "block": "2001:db8:1::/48"},
                                      filer=world.carrier, actor=world.carrier_user)  # fmt: skip
    with pytest.raises(ValidationFailed) as failure:
        operations.submit_filing(world.db, filing, actor=world.carrier_user)
    assert {"user_name", "user_uscc", "usage", "allocated_on", "contact_phone"} <= set(failure.value.fields)


def test_ranges_are_stored_exactly_and_found_by_any_address_inside(world: FilingWorld) -> None:
    world.approved(world.other_carrier, "holding", "192.0.2.0-192.0.2.255", user_name=world.other_carrier.name)
    odd = world.draft(world.other_carrier, "assignment", "192.0.2.10 - 192.0.2.20", user=world.enterprise)
    assert odd.block == "192.0.2.10-192.0.2.20" and odd.span_bits == 4
    found = queries.filings_at_address(world.db, "192.0.2.15")
    assert [f.block for f in found] == ["192.0.2.0/24", "192.0.2.10-192.0.2.20"]
    assert [f.block for f in queries.covering(world.db, parse_block("192.0.2.21"))] == ["192.0.2.0/24"]


# -- versions, changes, decisions ---------------------------------------------------------------------------------


def test_a_change_is_a_new_version_and_the_history_shows_each_field_that_changed(world: FilingWorld) -> None:
    filing = world.site_assignment()
    number = filing.number
    operations.change_filing(world.db, filing, {"gateway_ip": "2001:db8:1::1", "remarks": "new gateway"},
                             actor=world.carrier_user)  # fmt: skip
    assert filing.state == "change_submitted" and filing.version == 2 and filing.approved_version == 1
    operations.approve_filing(world.db, filing, actor=world.regulator)
    assert filing.number == number and filing.approved_version == 2
    newest, first = history.version_diffs(world.db, filing)
    assert {name for name, _, _ in newest.changes} == {"gateway_ip", "remarks"}
    assert ("gateway_ip", None, "2001:db8:1::1") in newest.changes
    assert newest.version.decided_by == world.regulator.username and first.version.outcome == "approved"


def test_a_rejected_change_leaves_the_approved_version_standing(world: FilingWorld) -> None:
    filing = world.site_assignment()
    operations.change_filing(world.db, filing, {"user_address": "天津市别处"}, actor=world.carrier_user)
    operations.reject_filing(world.db, filing, actor=world.regulator, reason="the address did not change")
    assert filing.state == "approved" and filing.user_address == "天津市滨海新区示例路 1 号" and filing.version == 1
    outcomes = world.db.scalars(select(FilingVersion.outcome).where(FilingVersion.filing_id == filing.id)
                                .order_by(FilingVersion.version)).all()  # fmt: skip
    assert outcomes == ["approved", "rejected"]


def test_a_returned_filing_carries_the_comments_by_field_and_its_correction_is_the_next_version(
    world: FilingWorld,
) -> None:
    world.carrier_holding()
    filing = world.submitted(world.carrier, "assignment", "2001:db8:1::/48")
    operations.return_filing(world.db, filing, actor=world.regulator, comment="see the address",
                             field_comments={"user_address": "give the street number"})  # fmt: skip
    assert filing.state == "returned" and filing.field_comments == {"user_address": "give the street number"}
    operations.update_filing(world.db, filing, {"user_address": "天津市滨海新区示例路 8 号"}, actor=world.carrier_user)
    operations.submit_filing(world.db, filing, actor=world.carrier_user)
    assert filing.version == 2 and filing.field_comments is None
    with pytest.raises(ValidationFailed):
        operations.return_filing(world.db, filing, actor=world.regulator, comment=" ")


def test_approving_several_is_all_or_nothing_and_names_each_refusal(world: FilingWorld) -> None:
    world.carrier_holding()
    good = world.submitted(world.carrier, "assignment", "2001:db8:1::/48")
    draft = world.draft(world.carrier, "assignment", "2001:db8:2::/48", user=world.other_enterprise)
    with pytest.raises(Conflict) as failure:
        operations.approve_filings(world.db, [good.id, draft.id], actor=world.regulator)
    assert set(failure.value.fields) == {str(draft.id)} and good.state == "submitted"
    assert [f.state for f in operations.approve_filings(world.db, [good.id], actor=world.regulator)] == ["approved"]


def test_file_all_unfiled_blocks_makes_prefilled_drafts_once(world: FilingWorld) -> None:
    assert queries.count_unfiled(world.db, world.carrier.id) == 3  # its aggregate and the two /48 it assigned
    assert operations.file_unfiled_blocks(world.db, filer=world.carrier, actor=world.carrier_user) == 3
    drafts = world.db.scalars(select(Filing).where(Filing.filer_id == world.carrier.id).order_by(Filing.start)).all()
    assert [(f.filing_type, f.block) for f in drafts] == [
        ("holding", "2001:db8::/32"),
        ("assignment", "2001:db8:1::/48"),
        ("assignment", "2001:db8:2::/48"),
    ]
    assert drafts[1].user_name == world.enterprise.name and drafts[1].user_uscc == world.enterprise.uscc
    assert drafts[1].user_organization_id == world.enterprise.id and drafts[1].due_on is not None
    assert queries.count_unfiled(world.db, world.carrier.id) == 0
    assert operations.file_unfiled_blocks(world.db, filer=world.carrier, actor=world.carrier_user) == 0
    assert queries.count_unfiled(world.db, world.enterprise.id) == 1


# -- pages, API, search, CLI: who sees what ------------------------------------------------------------------------


def _login(client: FlaskClient, user) -> None:  # type: ignore[no-untyped-def]
    """Sign in; the client then sends the page's CSRF token with its API calls, as the pages' scripts do."""
    response = post_form(client, "/login", {"username": user.username, "password": "correct horse battery staple"})
    assert response.status_code == 302
    token = csrf_token_in(client.get("/").get_data(as_text=True))
    client.environ_base["HTTP_X_CSRFTOKEN"] = token


def test_another_carrier_sees_nothing_of_a_filing_through_pages_api_and_search(
    client: FlaskClient, world: FilingWorld
) -> None:
    filing = world.site_assignment()
    world.db.commit()
    _login(client, world.other_carrier_user)
    assert client.get(f"/filings/{filing.id}").status_code == 404
    assert client.get(f"/api/v1/filings/{filing.id}").status_code == 404
    assert client.get(f"/filings/{filing.id}/print").status_code == 404
    assert client.get("/api/v1/filings?q=2001:db8:1::5").get_json()["items"] == []
    assert "2001:db8:1::/48" not in client.get("/filings?q=2001:db8:1::5").get_data(as_text=True)


def test_the_user_organization_sees_the_filings_about_it_once_submitted(
    client: FlaskClient, world: FilingWorld
) -> None:
    world.carrier_holding()
    draft = world.draft(world.carrier, "assignment", "2001:db8:1::/48")
    world.db.commit()
    _login(client, world.enterprise_user)
    assert client.get(f"/api/v1/filings/{draft.id}").status_code == 404
    operations.submit_filing(world.db, draft, actor=world.carrier_user)
    world.db.commit()
    shown = client.get(f"/api/v1/filings/{draft.id}").get_json()
    assert shown["state"] == "submitted" and shown["actions"] == []


def test_the_api_runs_the_whole_loop_with_409_and_422_where_due(client: FlaskClient, world: FilingWorld) -> None:
    world.carrier_holding()
    world.db.commit()
    _login(client, world.carrier_user)
    values = {**world.values("assignment", "2001:db8:1::/48"), "allocated_on": str(date.today())}
    created = client.post("/api/v1/filings", json=values)
    assert created.status_code == 201, created.get_json()
    body = created.get_json()
    assert body["state"] == "draft" and body["actions"] == ["update", "submit", "delete"] and body["due_on"]
    bad = client.patch(f"/api/v1/filings/{body['id']}", json={"user_uscc": "91120000103100784X"})
    assert bad.status_code == 422 and "user_uscc" in bad.get_json()["error"]["fields"]
    assert client.post(f"/api/v1/filings/{body['id']}/approve", json={}).status_code == 409
    submitted = client.post(f"/api/v1/filings/{body['id']}/submit", json={})
    assert submitted.status_code == 200 and submitted.get_json()["filing"]["state"] == "submitted"
    assert client.post(f"/api/v1/filings/{body['id']}/submit", json={}).status_code == 409
    regulator_client = client.application.test_client()
    _login(regulator_client, world.regulator)
    approved = regulator_client.post("/api/v1/filings/approve", json={"ids": [body["id"]]})
    assert approved.status_code == 200 and approved.get_json()["items"][0]["number"].startswith("津IP备")
    assert world.db.scalar(select(func.count()).select_from(FilingVersion)) == 2  # the holding, this one


def test_a_refused_step_through_the_api_changes_nothing(client: FlaskClient, world: FilingWorld) -> None:
    world.carrier_holding()
    filing = world.draft(world.carrier, "assignment", "2001:db9:1::/48")  # space the carrier does not hold
    world.db.commit()
    _login(client, world.carrier_user)
    before = world.db.scalar(select(func.count()).select_from(FilingVersion))
    answer = client.post(f"/api/v1/filings/{filing.id}/submit", json={})
    assert answer.status_code == 422 and "block" in answer.get_json()["error"]["fields"]
    world.db.expire_all()
    assert world.db.scalar(select(func.count()).select_from(FilingVersion)) == before
    assert world.db.get(Filing, filing.id).state == "draft"


def test_a_regulator_reviews_on_one_page_and_returns_with_field_comments(
    client: FlaskClient, world: FilingWorld
) -> None:
    world.carrier_holding()
    filing = world.submitted(world.carrier, "assignment", "2001:db8:1::/48")
    world.db.commit()
    _login(client, world.regulator)
    page = client.get(f"/filings/{filing.id}").get_data(as_text=True)
    assert 'data-testid="registry-view"' in page and "2001:db8::/32" in page and world.enterprise.name in page
    answer = post_form(client, f"/filings/{filing.id}/return", {"comment": "请补充", "comment_user_address": "门牌号"},
                       form_page=f"/filings/{filing.id}")  # fmt: skip
    assert answer.status_code == 302
    world.db.expire_all()
    returned = world.db.get(Filing, filing.id)
    assert returned.state == "returned" and returned.field_comments == {"user_address": "门牌号"}
    queue = client.get("/filings?view=queue").get_data(as_text=True)
    assert "2001:db8:1::/48" not in queue


def test_the_cli_lists_and_shows_filings_with_their_versions(runner, world: FilingWorld) -> None:  # type: ignore[no-untyped-def]
    filing = world.site_assignment()
    world.db.commit()
    listed = runner.invoke(args=["filing", "list", "--state", "approved", "--json"])
    assert listed.exit_code == 0, listed.output
    assert {row["block"] for row in json.loads(listed.output)} == {"2001:db8::/32", "2001:db8:1::/48"}
    shown = runner.invoke(args=["filing", "show", str(filing.id), "--json"])
    assert json.loads(shown.output)["versions"][0]["outcome"] == "approved"
    assert runner.invoke(args=["filing", "show", "999999"]).exit_code == 1


def test_the_dashboards_count_each_roles_filing_work(client: FlaskClient, world: FilingWorld) -> None:
    world.carrier_holding()
    world.submitted(world.carrier, "assignment", "2001:db8:1::/48")
    world.db.commit()
    _login(client, world.carrier_user)
    page = client.get("/").get_data(as_text=True)
    assert 'data-testid="count-unfiled">1<' in page  # the /48 handed on to the other enterprise
    regulator = client.application.test_client()
    _login(regulator, world.regulator)
    assert 'data-testid="count-awaiting-review">1<' in regulator.get("/").get_data(as_text=True)


def test_the_queue_and_a_filing_page_send_as_many_statements_for_many_rows_as_for_few(
    client: FlaskClient, world: FilingWorld
) -> None:
    world.carrier_holding()
    for n in range(1, 4):
        world.submitted(world.carrier, "assignment", f"2001:db8:{n}::/48")
    world.db.commit()
    _login(client, world.regulator)

    def statements(url: str) -> int:
        client.get(url)  # warm caches (the value lists, the calendar)
        with count_statements() as log:
            assert client.get(url).status_code == 200
        return log.count

    few = statements("/filings?view=queue")
    for n in range(4, 10):
        world.submitted(world.carrier, "assignment", f"2001:db8:{n}::/48")
    world.db.commit()
    assert statements("/filings?view=queue") == few
    assert statements("/filings") == statements("/filings?state=submitted")


def test_an_administrator_keeps_the_value_lists_and_a_value_no_longer_offered_is_refused(
    client: FlaskClient, world: FilingWorld
) -> None:
    from filing.models import ChoiceValue

    world.db.commit()
    _login(client, world.admin)
    page = client.get("/filings/settings/values")
    assert page.status_code == 200 and "工业网络" in page.get_data(as_text=True)
    added = post_form(client, "/filings/settings/values",
                      {"list": "usage", "code": "5g-private", "name_zh": "5G 专网", "name_en": "5G private network"})  # fmt: skip
    assert added.status_code == 302
    world.db.expire_all()
    value = world.db.scalar(select(ChoiceValue).where(ChoiceValue.code == "5g-private"))
    assert value is not None and value.active
    world.draft(world.carrier, "assignment", "2001:db8:1::/48", usage="5g-private")
    static = world.db.scalar(select(ChoiceValue).where(ChoiceValue.list == "usage", ChoiceValue.code == "static"))
    saved = post_form(client, f"/filings/settings/values/{static.id}", {"name_zh": "静态地址", "name_en": "Static"},
                      form_page="/filings/settings/values")  # fmt: skip
    assert saved.status_code == 302, saved.get_data(as_text=True)[:2000]
    world.db.commit()  # (ends the session's work: it reads the lists again)
    world.db.expire_all()
    assert world.db.get(ChoiceValue, static.id).active is False
    with pytest.raises(ValidationFailed) as failure:
        world.draft(world.carrier, "assignment", "2001:db8:2::/48", usage="static", user=world.other_enterprise)
    assert list(failure.value.fields) == ["usage"]
    carrier = client.application.test_client()
    _login(carrier, world.carrier_user)
    assert carrier.get("/filings/settings/values").status_code == 403


def test_a_user_organization_the_form_names_stands_only_while_it_matches_what_was_filed(world: FilingWorld) -> None:
    world.carrier_holding()
    # The filed USCC and name are the enterprise's; a link to another organization (stale, or typed) is not kept.
    filing = world.draft(world.carrier, "assignment", "2001:db8:1::/48", user_organization_id=world.other_enterprise.id)
    assert filing.user_organization_id == world.enterprise.id
    operations.update_filing(world.db, filing, {"user_organization_id": world.other_enterprise.id},
                             actor=world.carrier_user)  # fmt: skip
    assert filing.user_organization_id == world.enterprise.id


def test_a_change_with_a_malformed_block_is_a_field_error(world: FilingWorld) -> None:
    filing = world.site_assignment()
    with pytest.raises(ValidationFailed) as failure:
        operations.change_filing(world.db, filing, {"block": "not a block"}, actor=world.carrier_user)
    assert list(failure.value.fields) == ["block"] and filing.state == "approved"


def test_withdrawing_a_change_restores_the_approved_values_with_their_diff_in_the_trail(world: FilingWorld) -> None:
    from accounts.models import AuditEvent

    filing = world.site_assignment()
    operations.change_filing(world.db, filing, {"gateway_ip": "2001:db8:1::1"}, actor=world.carrier_user)
    operations.return_filing(world.db, filing, actor=world.regulator, comment="which gateway?")
    operations.withdraw_change(world.db, filing, actor=world.carrier_user)
    assert (
        filing.state == "approved" and filing.gateway_ip is None and filing.user_organization_id == world.enterprise.id
    )
    restored = world.db.scalars(
        select(AuditEvent).where(AuditEvent.object_id == str(filing.id), AuditEvent.action == "filing.update")
        .order_by(AuditEvent.id.desc())
    ).first()  # fmt: skip
    assert restored.changes["gateway_ip"] == ["2001:db8:1::1", None]


def test_the_api_list_sends_as_many_statements_for_many_user_organizations_as_for_few(
    client: FlaskClient, world: FilingWorld, create_org
) -> None:
    world.carrier_holding()

    def file_for_new_enterprise(n: int) -> None:
        user = create_org(
            kind="enterprise", code=f"api-e{n}", name=f"接口测试企业{n}", uscc=demo_uscc("120116", 200 + n)
        )
        world.submitted(world.carrier, "assignment", f"2001:db8:{n:x}::/48", user=user)

    for n in range(10, 13):
        file_for_new_enterprise(n)
    world.db.commit()
    _login(client, world.regulator)

    def statements() -> int:
        client.get("/api/v1/filings")
        with count_statements() as log:
            assert client.get("/api/v1/filings").status_code == 200
        return log.count

    few = statements()
    for n in range(13, 19):
        file_for_new_enterprise(n)
    world.db.commit()
    assert statements() == few
