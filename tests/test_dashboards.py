"""Each role's dashboard answers its first question, recent changes read as sentences with names and links, and the
holders imports named are badged, filtered and verified (by a regulator or the carrier that named them), audited."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts import operations, trail
from accounts.models import AuditEvent, Organization, User
from accounts.operations import NamedHolder, create_named_holders
from core.errors import PermissionDenied
from core.policy import OPERATOR
from importers.permissions import IMPORT_WORKER
from ipam.operations import AllocationRequest, add_prefix, allocate_prefixes
from tests.conftest import post_form
from tests.filing_support import FilingWorld
from tests.querycount import count_statements
from tests.support import run_import


def page_of(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def element(page: str, test_id: str, **attributes: str) -> str:
    """The HTML of the first element with this data-testid (and these data- attributes), up to its closing tag."""
    attrs = "".join(rf'[^>]*data-{name}="{re.escape(value)}"' for name, value in attributes.items())
    match = re.search(rf'<(\w+)[^>]*data-testid="{re.escape(test_id)}"{attrs}[^>]*>', page)
    assert match is not None, (test_id, attributes)
    tag, start = match.group(1), match.start()
    depth, position = 0, start
    for found in re.finditer(rf"<(/?){tag}\b[^>]*>", page[start:]):
        depth += -1 if found.group(1) else 1
        if depth == 0:
            position = start + found.end()
            break
    return page[start:position]


def named_holder(db: Session, carrier: Organization, code: str, name: str) -> Organization:
    """A holder ``carrier``'s import named, as the import creates it: unverified."""
    ids = create_named_holders(db, [NamedHolder(code, name)], actor=IMPORT_WORKER, named_by=carrier)
    db.flush()
    holder = db.get(Organization, ids[code])
    assert holder is not None and not holder.verified
    return holder


# -- what each dashboard answers -------------------------------------------------------------------------------


def test_a_carriers_dashboard_shows_its_blocks_with_utilization_free_space_and_what_is_unfiled(
    client: FlaskClient, login_as: Callable[..., User], world: FilingWorld
) -> None:
    world.db.commit()
    login_as(world.carrier_user)
    block = element(page_of(client, "/"), "holding", prefix="2001:db8::/32")
    assert 'data-testid="utilization">0.00%<' in block  # two /48s of a /32
    assert element(block, "free", unit="48").endswith("65,534 个 /48</td>")  # "%(amount)s × /%(unit)d", in Chinese
    assert 'data-state="unfiled"' in element(block, "filing-state")  # its own holding is not filed yet
    assert 'data-count="2"' in element(block, "unfiled-inside")  # nor are the two sites it handed on

    world.site_assignment()  # the holding and one site's assignment, filed and approved
    world.db.commit()
    block = element(page_of(client, "/"), "holding", prefix="2001:db8::/32")
    assert 'data-state="approved"' in element(block, "filing-state")
    assert 'data-count="1"' in element(block, "unfiled-inside")


def test_ipv4_blocks_count_their_free_space_in_addresses(
    client: FlaskClient, login_as: Callable[..., User], world: FilingWorld
) -> None:
    world.db.commit()
    login_as(world.other_carrier_user)
    block = element(page_of(client, "/"), "holding", prefix="192.0.2.0/24")
    assert element(block, "free", unit="32").endswith("256 个 /32</td>")


def test_an_enterprises_dashboard_shows_its_prefixes_with_utilization_and_filing_state(
    client: FlaskClient, login_as: Callable[..., User], world: FilingWorld
) -> None:
    allocate_prefixes(world.db, world.site, AllocationRequest(64, 2, kind="subnet"), holder=world.enterprise,
                      actor=OPERATOR)  # fmt: skip
    world.db.commit()
    login_as(world.enterprise_user)
    page = page_of(client, "/")
    site = element(page, "holding", prefix="2001:db8:1::/48")
    assert "2001:db8:1::/64" not in element(page, "holdings")  # its subnets are inside its site, not beside it
    assert element(site, "inside").endswith(">2</td>")
    assert element(site, "free", unit="64").endswith("65,534 个 /64</td>")
    assert 'data-state="unfiled"' in element(site, "filing-state")

    world.draft(world.enterprise, "holding", "2001:db8:1::/48")
    world.db.commit()
    site = element(page_of(client, "/"), "holding", prefix="2001:db8:1::/48")
    assert 'data-state="draft"' in element(site, "filing-state")


def test_a_regulators_dashboard_shows_organizations_by_kind_and_recent_imports(
    client: FlaskClient, login_as: Callable[..., User], db: Session, create_org: Callable[..., Organization],
    tmp_path: Path,
) -> None:  # fmt: skip
    carrier = create_org(kind="carrier", code="hx-imports", name="海星导入测试")
    add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=carrier)
    book = tmp_path / "book.csv"
    book.write_text("地址段,使用单位名称,分配方式\n2001:db8:1::/48,导入客户甲,指派\n", encoding="utf-8")
    batch = run_import(db, carrier, book, "csv")
    db.commit()
    login_as("regulator")
    page = page_of(client, "/")
    imported = element(page, "recent-import")
    assert (
        f'href="/imports/{batch.id}"' in imported and "海星导入测试" in imported and 'data-status="loaded"' in imported
    )
    assert element(page, "count-unverified").endswith(">1</div>")
    assert 'href="/organizations?kind=enterprise&amp;verified=no">1<' in element(page, "count-unverified-enterprise")
    assert 'href="/filings/dashboard"' in page


def test_recent_changes_read_as_sentences_naming_and_linking_what_they_are_about(
    client: FlaskClient, login_as: Callable[..., User], world: FilingWorld
) -> None:
    (site,) = allocate_prefixes(world.db, world.aggregate, AllocationRequest(48), holder=world.other_enterprise,
                                actor=world.carrier_user)  # fmt: skip
    world.db.commit()
    login_as(world.regulator)
    page = page_of(client, "/")
    line = element(page, "history-line", action="prefix.allocate")
    assert world.carrier_user.username in line
    assert f'<a href="/prefixes?q={site.network}">{site.network}</a>' in line
    assert f'<a href="/organizations/{world.other_enterprise.code}">{world.other_enterprise.name}</a>' in line
    details = line[line.index("<details") :]  # the new prefix's values, folded
    assert f'<a href="/organizations/{world.other_enterprise.code}">' in details  # its holder, by name
    assert f"{world.aggregate.network}</a>" in details  # its parent, by its network
    assert "holder_id" not in page and "parent_id" not in page
    assert f": {world.other_enterprise.id}<" not in line and f": {world.aggregate.id}<" not in line


def test_a_member_reads_the_names_of_organizations_it_may_not_open_without_a_link(
    client: FlaskClient, login_as: Callable[..., User], world: FilingWorld
) -> None:
    allocate_prefixes(world.db, world.aggregate, AllocationRequest(48), holder=world.other_enterprise,
                      actor=world.carrier_user)  # fmt: skip
    world.db.commit()
    login_as(world.carrier_user)
    line = element(page_of(client, "/"), "history-line", action="prefix.allocate")
    assert world.other_enterprise.name in line
    assert f'href="/organizations/{world.other_enterprise.code}"' not in line


def test_sign_ins_are_no_recent_changes(client: FlaskClient, login_as: Callable[..., User]) -> None:
    user = login_as("carrier")
    changes = element(page_of(client, "/"), "history")
    assert "已登录" not in changes  # "Signed in"
    assert 'data-action="user.create"' in changes and user.username in changes


def test_long_values_are_shortened_with_the_whole_value_in_their_title(
    client: FlaskClient, login_as: Callable[..., User], db: Session, create_org: Callable[..., Organization],
    tmp_path: Path,
) -> None:  # fmt: skip
    carrier = create_org(kind="carrier", code="hx-long")
    add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=carrier)
    book = tmp_path / ("allocation-records-of-the-carrier-exported-for-the-regulator-" + "x" * 40 + ".csv")
    book.write_text("地址段,使用单位名称,分配方式\n2001:db8:1::/48,导入客户乙,指派\n", encoding="utf-8")
    batch = run_import(db, carrier, book, "csv")
    db.commit()
    login_as("regulator")
    page = page_of(client, "/")
    for long in (batch.sha256, book.name):
        assert f'title="{long}"' in page
        assert f">{long}<" not in page and f" {long}" not in page


def test_unbreakable_runs_are_shortened_and_text_that_wraps_is_kept_whole() -> None:
    checksum = "0123456789abcdef" * 4
    assert trail.shortened(checksum) == f'<span title="{checksum}">0123456789abcdef…89abcdef</span>'
    description = "天津市滨海新区示例路一号工业互联网标识解析二级节点机房及其配套的汇聚交换设备所在的位置"
    assert trail.shortened(description) == description
    assert trail.shortened("<b>") == "&lt;b&gt;"


def test_the_names_a_page_of_changes_needs_are_read_in_one_query(app: Flask, db: Session, world: FilingWorld) -> None:
    allocate_prefixes(world.db, world.aggregate, AllocationRequest(56, 6), holder=world.other_enterprise,
                      actor=world.carrier_user)  # fmt: skip
    world.db.commit()
    events = list(db.scalars(select(AuditEvent).order_by(AuditEvent.id)))
    assert len(events) > 12
    counts = []
    for some in (events[-3:], events):
        with app.test_request_context("/"), count_statements() as log:
            assert len(trail.lines(db, some)) == len(some)
        counts.append(sum("organization" in statement for statement in log.statements))
    assert counts == [1, 1]


def test_a_dashboard_reads_in_as_many_statements_for_many_blocks_as_for_one(
    client: FlaskClient, login_as: Callable[..., User], db: Session, create_user: Callable[..., User]
) -> None:
    user = create_user(role="carrier")

    def add_blocks(numbers: range) -> None:
        for n in numbers:
            block = add_prefix(
                db, f"2001:db8:{n:x}00::/40", actor=OPERATOR, kind="allocation", holder=user.organization
            )
            allocate_prefixes(db, block, AllocationRequest(48, 2), holder=None, actor=OPERATOR)
            named_holder(db, user.organization, f"named-{n}", f"客户{n}")
        db.commit()

    add_blocks(range(1))
    login_as(user)
    page_of(client, "/")
    with count_statements() as few:
        page_of(client, "/")
    add_blocks(range(1, 8))
    with count_statements() as many:
        page = page_of(client, "/")
    assert page.count('data-testid="holding"') == page.count('data-testid="unverified-holder"') == 8
    assert many.count == few.count, f"{few}\n---\n{many}"


# -- holders imports named: badge, filter, verification --------------------------------------------------------


def test_holders_an_import_named_are_badged_and_listed_apart(
    client: FlaskClient, login_as: Callable[..., User], db: Session, create_org: Callable[..., Organization]
) -> None:
    carrier = create_org(kind="carrier", code="hx-named")
    holder = named_holder(db, carrier, "named-one", "导入客户丙")
    known = create_org(kind="enterprise", code="known-one")
    db.commit()
    login_as("regulator")
    unverified = page_of(client, "/organizations?verified=no")
    assert holder.code in unverified and known.code not in unverified
    assert 'data-testid="unverified-badge"' in unverified
    verified = page_of(client, "/organizations?verified=yes")
    assert known.code in verified and holder.code not in verified and 'data-testid="unverified-badge"' not in verified
    detail = page_of(client, f"/organizations/{holder.code}")
    assert 'data-testid="unverified-badge"' in detail and carrier.name in element(detail, "unverified-note")


def test_a_regulator_verifies_a_holder_and_the_act_is_audited(
    client: FlaskClient, login_as: Callable[..., User], db: Session, create_org: Callable[..., Organization]
) -> None:
    holder = named_holder(db, create_org(kind="carrier", code="hx-reg"), "named-two", "导入客户丁")
    db.commit()
    regulator = login_as("regulator")
    url = f"/organizations/{holder.code}"
    response = post_form(client, f"{url}/verify", {"next": url}, form_page=url)
    assert (response.status_code, response.headers["Location"]) == (302, url)
    db.refresh(holder)
    assert holder.verified
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "organization.verify"))
    assert event is not None
    assert (event.actor_id, event.object_id, event.changes) == (regulator.id, holder.code, {"verified": [False, True]})
    detail = page_of(client, url)
    assert 'data-testid="unverified-badge"' not in detail and 'data-testid="verify"' not in detail
    assert 'data-action="organization.verify"' in element(detail, "history")


def test_the_carrier_that_named_a_holder_verifies_it_from_its_dashboard(
    client: FlaskClient, login_as: Callable[..., User], db: Session, create_user: Callable[..., User]
) -> None:
    user = create_user(role="carrier")
    holder = named_holder(db, user.organization, "named-three", "导入客户戊")
    db.commit()
    login_as(user)
    row = element(page_of(client, "/"), "unverified-holder", code=holder.code)
    assert 'data-testid="verify"' in row
    response = post_form(client, f"/organizations/{holder.code}/verify", {"next": "/"}, form_page="/")
    assert (response.status_code, response.headers["Location"]) == (302, "/")
    db.refresh(holder)
    assert holder.verified
    assert 'data-testid="unverified-holder"' not in page_of(client, "/")


def test_another_carrier_may_not_verify_a_holder_it_did_not_name(
    client: FlaskClient, login_as: Callable[..., User], db: Session, create_org: Callable[..., Organization],
    create_user: Callable[..., User],
) -> None:  # fmt: skip
    holder = named_holder(db, create_org(kind="carrier", code="hx-other"), "named-four", "导入客户己")
    other_carrier = create_user(role="carrier")
    db.commit()
    with pytest.raises(PermissionDenied):
        operations.verify_organization(db, holder, actor=other_carrier)
    login_as(other_carrier)
    assert 'data-testid="unverified-holder"' not in page_of(client, "/")
    assert post_form(client, f"/organizations/{holder.code}/verify", {}, form_page="/").status_code == 404
    db.refresh(holder)
    assert not holder.verified
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "organization.verify")) is None


def test_an_enterprise_may_not_verify_a_holder(
    client: FlaskClient, login_as: Callable[..., User], db: Session, create_org: Callable[..., Organization]
) -> None:
    holder = named_holder(db, create_org(kind="carrier", code="hx-ent"), "named-five", "导入客户辛")
    db.commit()
    login_as("enterprise")
    assert post_form(client, f"/organizations/{holder.code}/verify", {}, form_page="/").status_code == 403
    db.refresh(holder)
    assert not holder.verified


def test_verifying_a_verified_organization_changes_nothing(
    db: Session, create_org: Callable[..., Organization], create_user: Callable[..., User]
) -> None:
    org = create_org(kind="enterprise")
    operations.verify_organization(db, org, actor=create_user(role="regulator"))
    assert org.verified
    assert db.scalar(select(AuditEvent).where(AuditEvent.action == "organization.verify")) is None


def test_a_holder_named_by_a_real_import_is_verifiable_by_its_carrier(
    db: Session, create_org: Callable[..., Organization], create_user: Callable[..., User], tmp_path: Path
) -> None:
    carrier = create_org(kind="carrier", code="hx-real")
    add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=carrier)
    book = tmp_path / "book.csv"
    book.write_text("地址段,使用单位名称,分配方式\n2001:db8:1::/48,导入客户庚,指派\n", encoding="utf-8")
    run_import(db, carrier, book, "csv")
    holder = db.scalar(select(Organization).where(Organization.name == "导入客户庚"))
    assert holder is not None and not holder.verified
    operations.verify_organization(db, holder, actor=create_user(role="carrier", organization=carrier))
    assert holder.verified


# -- the trail's summaries ---------------------------------------------------------------------------------------


def test_a_failed_sign_in_is_summarized_in_the_readers_language(client: FlaskClient, db: Session) -> None:
    post_form(client, "/login", {"username": "nobody-at-all", "password": "not the password"})
    event = db.scalar(select(AuditEvent).where(AuditEvent.action == "auth.login_failed"))
    assert event is not None
    assert (event.summary, event.summary_params) == ("from the address %(address)s", {"address": "127.0.0.1"})


def test_the_audit_log_tells_each_event_as_a_sentence(
    client: FlaskClient, login_as: Callable[..., User], world: FilingWorld, db: Session
) -> None:
    world.db.commit()
    login_as("regulator-admin")
    page = page_of(client, "/audit?object_type=prefix")
    line = element(page, "audit-line", action="prefix.create")
    assert "</a>" in line and "holder_id" not in page
