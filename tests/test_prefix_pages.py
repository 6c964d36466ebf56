"""The prefix registry's pages as each role uses them: the tree shows each visible prefix once, a release says
what goes with it, free blocks are counted and paged, imported records say where they come from, allocations
name what they made, the holder picker offers whom one may name, and no form is offered that the viewer may
not use. On both databases."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from accounts.models import AuditEvent, Organization, User
from core.policy import OPERATOR
from ipam import queries
from ipam.choices import USAGE_LABELS, PrefixKind, Source, Usage
from ipam.models import Prefix
from ipam.operations import AllocationRequest, add_prefix, allocate_prefixes
from ipam.queries import find_available, get_prefix
from ipam.space import Strategy, format_net, parse_net
from tests.conftest import post_form
from tests.support import csrf_token_in, run_import

ROW = re.compile(
    r'<tr class="tree-row depth-(\d+)[^"]*" data-prefix-id="\d+">\s*<td[^>]*>(.*?)</td>', re.DOTALL
)  # a row of the prefix tree: its depth and its first cell
LINK = re.compile(r'<a class="font-monospace" href="/prefixes/\d+">([^<]+)</a>')


def tree_rows(html: str) -> list[tuple[int, str, bool]]:
    """(depth, network, opens onto a level below) of each row of the tree in a page or fragment."""
    rows = []
    for depth, cell in ROW.findall(html):
        link = LINK.search(cell)
        assert link is not None, cell
        rows.append((int(depth), link.group(1), "tree-toggle" in cell))
    return rows


def children_url(html: str, network: str) -> str:
    """The address a row's toggle fetches its level from."""
    for _, cell in ROW.findall(html):
        if f">{network}</a>" in cell:
            found = re.search(r'data-children-url="([^"]+)"', cell)
            assert found is not None, f"{network} opens onto nothing"
            return found.group(1).replace("&amp;", "&")
    raise AssertionError(f"{network} is not a row")


def sign_out(client: FlaskClient) -> None:
    """Before signing in as someone else."""
    assert post_form(client, "/logout", {}, form_page="/").status_code == 302


def fetch(client: FlaskClient, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


@pytest.fixture
def registry(db: Session, create_org: Callable[..., Organization], create_user: Callable[..., User]) -> dict[str, Any]:
    """A carrier's /32 with two customers' /48s, one of them cut into two /64 subnets, and an allocator's /40."""
    carrier = create_org(kind="carrier", code="pp-tel", name="示例电信")
    factory = create_org(
        kind="enterprise",
        code="pp-factory",
        name="示例工厂",
        division_code="120116",
        contact_name="赵工",
        contact_phone="022-5550199",
    )
    shop = create_org(kind="enterprise", code="pp-shop", name="示例商店")
    allocator = create_org(kind="allocator", code="pp-idc", name="示例数据中心")
    aggregate = add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=carrier)
    site = add_prefix(db, "2001:db8:1::/48", actor=OPERATOR, kind="assignment", holder=factory)
    subnets = allocate_prefixes(db, site, AllocationRequest(64, 2, kind="subnet"), holder=factory, actor=OPERATOR)
    shop_site = add_prefix(db, "2001:db8:2::/48", actor=OPERATOR, kind="assignment", holder=shop)
    idc = add_prefix(db, "2001:db8:100::/40", actor=OPERATOR, kind="allocation", holder=allocator)
    db.flush()
    return {
        "carrier": carrier, "factory": factory, "shop": shop, "allocator": allocator, "aggregate": aggregate,
        "site": site, "subnets": subnets, "shop_site": shop_site, "idc": idc,
        "carrier_user": create_user(role="carrier", organization=carrier),
        "factory_user": create_user(role="enterprise", organization=factory),
        "allocator_user": create_user(role="allocator", organization=allocator),
    }  # fmt: skip


# -- 1. the tree: each visible prefix once, under its nearest visible ancestor ---------------------------------


def test_a_carriers_list_starts_at_its_block_and_its_customers_show_once_below_it(
    client: FlaskClient, login_as, registry: dict[str, Any]
) -> None:
    login_as(registry["carrier_user"])
    page = fetch(client, "/prefixes")
    assert tree_rows(page) == [(0, "2001:db8::/32", True)]
    level = fetch(client, children_url(page, "2001:db8::/32"))
    # The customers' blocks, once each; the factory's subnets are the factory's layout, not the carrier's.
    assert tree_rows(level) == [
        (1, "2001:db8:1::/48", False),
        (1, "2001:db8:2::/48", False),
        (1, "2001:db8:100::/40", False),
    ]


def test_an_enterprises_list_starts_at_its_site_and_opens_onto_its_subnets(
    client: FlaskClient, login_as, registry: dict[str, Any]
) -> None:
    login_as(registry["factory_user"])
    page = fetch(client, "/prefixes")
    assert tree_rows(page) == [(0, "2001:db8:1::/48", True)]
    level = fetch(client, children_url(page, "2001:db8:1::/48"))
    assert tree_rows(level) == [(1, "2001:db8:1::/64", False), (1, "2001:db8:1:1::/64", False)]


def test_a_block_one_holds_inside_a_customers_block_shows_below_the_customers_block(
    client: FlaskClient, db: Session, login_as, registry: dict[str, Any]
) -> None:
    # The allocator hands a /48 of its /40 back to the carrier: the carrier sees the /40 (it handed it out) but
    # not its layout, and its own /48 inside it is one level below the /40, nowhere else.
    (back,) = allocate_prefixes(db, registry["idc"], AllocationRequest(48), holder=registry["carrier"], actor=OPERATOR)
    allocate_prefixes(db, registry["idc"], AllocationRequest(48), holder=registry["shop"], actor=OPERATOR)
    allocate_prefixes(db, back, AllocationRequest(56, kind="subnet"), holder=registry["shop"], actor=OPERATOR)
    db.flush()
    login_as(registry["carrier_user"])
    page = fetch(client, "/prefixes")
    assert tree_rows(page) == [(0, "2001:db8::/32", True)]
    level = fetch(client, children_url(page, "2001:db8::/32"))
    assert (1, "2001:db8:100::/40", True) in tree_rows(level)
    inside = fetch(client, children_url(level, "2001:db8:100::/40"))
    assert tree_rows(inside) == [(2, back.network, True)]
    assert tree_rows(fetch(client, children_url(inside, back.network))) == [(3, "2001:db8:100::/56", False)]


def test_a_regulators_list_starts_at_the_top_level_blocks(client: FlaskClient, login_as, registry) -> None:
    login_as("regulator")
    page = fetch(client, "/prefixes")
    assert tree_rows(page) == [(0, "2001:db8::/32", True)]
    level = fetch(client, children_url(page, "2001:db8::/32"))
    assert [network for _, network, _ in tree_rows(level)] == [
        "2001:db8:1::/48",
        "2001:db8:2::/48",
        "2001:db8:100::/40",
    ]


def test_a_filtered_list_shows_each_match_once_without_a_tree_to_open(
    client: FlaskClient, login_as, registry: dict[str, Any]
) -> None:
    login_as(registry["carrier_user"])
    page = fetch(client, "/prefixes?kind=assignment")
    assert tree_rows(page) == [(0, "2001:db8:1::/48", False), (0, "2001:db8:2::/48", False)]
    assert 'data-testid="filtered-hint"' in page


def test_the_detail_page_lists_the_level_below_as_the_tree_does(
    client: FlaskClient, db: Session, login_as, registry: dict[str, Any]
) -> None:
    (back,) = allocate_prefixes(db, registry["idc"], AllocationRequest(48), holder=registry["carrier"], actor=OPERATOR)
    db.flush()
    login_as(registry["carrier_user"])
    detail = fetch(client, f"/prefixes/{registry['idc'].id}")
    assert tree_rows(detail) == [(0, back.network, False)]
    assert 'data-testid="layout-hidden"' in detail


def test_a_level_pages_through_every_child_in_address_order_on_the_page_and_in_the_tree(
    client: FlaskClient, db: Session, login_as, create_org
) -> None:
    block = add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=create_org(kind="carrier"))
    made = allocate_prefixes(
        db, block, AllocationRequest(48, 120, strategy=Strategy.SPARSE), holder=None, actor=OPERATOR
    )
    allocate_prefixes(db, made[0], AllocationRequest(56, 3, kind="subnet"), holder=None, actor=OPERATOR)  # not listed
    db.flush()
    expected = sorted(made, key=lambda p: p.net)
    login_as("regulator")
    for url, more in (
        (f"/prefixes/{block.id}", r'href="([^"]+)">[^<]*</a>\s*<h2 class="h5 mt-4">'),
        (f"/prefixes/{block.id}/children?depth=1", r'data-more-url="([^"]+)"'),
    ):
        seen: list[str] = []
        while url:
            page = fetch(client, url)
            seen += [network for _, network, _ in tree_rows(page)]
            following = re.search(more, page)
            url = following.group(1).replace("&amp;", "&") if following else ""
        assert seen == [p.network for p in expected]


@pytest.fixture
def nested(db: Session, registry: dict[str, Any]) -> dict[str, Any]:
    """The registry with holdings inside holdings: the factory's own /56 and /64s below its subnets and its /48,
    a /56 of its own inside the shop's /48, and a /48 of the carrier's inside the allocator's /40."""
    factory, shop, carrier = registry["factory"], registry["shop"], registry["carrier"]
    (inner,) = allocate_prefixes(db, registry["subnets"][0], AllocationRequest(72, kind="subnet"), holder=factory,
                                 actor=OPERATOR)  # fmt: skip
    allocate_prefixes(db, registry["shop_site"], AllocationRequest(56, 1, kind="subnet"), holder=shop, actor=OPERATOR)
    (inside_shop,) = allocate_prefixes(db, registry["shop_site"], AllocationRequest(56, kind="subnet"),
                                       holder=factory, actor=OPERATOR)  # fmt: skip
    allocate_prefixes(db, inside_shop, AllocationRequest(64, 2, kind="subnet"), holder=shop, actor=OPERATOR)
    (back,) = allocate_prefixes(db, registry["idc"], AllocationRequest(48), holder=carrier, actor=OPERATOR)
    allocate_prefixes(db, back, AllocationRequest(56, kind="subnet"), holder=factory, actor=OPERATOR)
    db.flush()
    return {**registry, "inner": inner, "inside_shop": inside_shop, "back": back}


def visible_by_policy(db: Session, user: User) -> set[str]:
    """The oracle: every prefix the policy lets ``user`` see, one by one."""
    from core import policy
    from ipam.permissions import Action

    return {p.network for p in db.scalars(select(Prefix)) if policy.can(user, Action.VIEW_PREFIX, p)}


def roots_by_policy(db: Session, user: User) -> set[str]:
    """The oracle: visible prefixes none of whose ancestors (up the parent chain) is visible."""
    visible = visible_by_policy(db, user)
    roots = set()
    for prefix in db.scalars(select(Prefix)):
        above = prefix.parent
        while above is not None and above.network not in visible:
            above = above.parent
        if prefix.network in visible and above is None:
            roots.add(prefix.network)
    return roots


@pytest.mark.parametrize("who", ["factory_user", "carrier_user", "allocator_user", "shop_user", "regulator"])
def test_the_list_and_the_tree_show_what_the_policy_lets_each_role_see_with_holdings_inside_holdings(
    db: Session, create_user: Callable[..., User], nested: dict[str, Any], who: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    users = {**nested, "shop_user": create_user(role="enterprise", organization=nested["shop"])}
    user = create_user(role="regulator") if who == "regulator" else users[who]
    expected = visible_by_policy(db, user)
    # The holdings asked as a subquery, named (read first), and asked again once there are too many to name.
    assert {p.network for p in db.scalars(queries.visible_prefixes(user))} == expected
    assert {p.network for p in db.scalars(queries.visible_prefixes(user, db))} == expected
    monkeypatch.setattr(queries, "HOLDINGS_NAMED", 0)
    assert {p.network for p in db.scalars(queries.visible_prefixes(user, db))} == expected
    roots = [p.network for p in db.scalars(queries.tree_roots(user))]
    assert len(roots) == len(set(roots)) and set(roots) == roots_by_policy(db, user)


def test_an_enterprises_roots_are_its_outermost_holdings_wherever_they_lie(db: Session, nested: dict[str, Any]) -> None:
    # Its /48 (with its subnets and their /72 below it), its /56 in the shop's /48 and its /56 in the carrier's
    # /48 inside the allocator's /40: each a root once; nothing held inside its own holdings is one.
    roots = db.scalars(queries.tree_roots(nested["factory_user"]).order_by(Prefix.start, Prefix.prefix_len))
    assert [p.network for p in roots] == [
        "2001:db8:1::/48",
        nested["inside_shop"].network,
        "2001:db8:100::/56",
    ]


# -- 2. releasing a block with what lies inside it -------------------------------------------------------------


def test_a_carrier_releases_a_customers_block_with_its_subnets_after_seeing_each_one(
    client: FlaskClient, db: Session, login_as, registry: dict[str, Any]
) -> None:
    site = registry["site"]
    login_as(registry["carrier_user"])
    detail = fetch(client, f"/prefixes/{site.id}")
    assert f'href="/prefixes/{site.id}/release" data-testid="release-with-children"' in detail
    listing = fetch(client, f"/prefixes/{site.id}/release")
    assert re.findall(r'data-release-item="([^"]+)"', listing) == ["2001:db8:1::/64", "2001:db8:1:1::/64"]
    assert "示例工厂" in listing
    done = client.post(
        f"/prefixes/{site.id}/release", data={"csrf_token": csrf_token_in(listing), "recursive": "1", "expected": "2"}
    )
    assert done.status_code == 302 and done.headers["Location"] == f"/prefixes/{registry['aggregate'].id}"
    db.expire_all()
    for network in ("2001:db8:1::/48", "2001:db8:1::/64", "2001:db8:1:1::/64"):
        assert get_prefix(db, parse_net(network)) is None
    released = db.scalar(
        select(AuditEvent).where(AuditEvent.action == "prefix.release", AuditEvent.object_id == "2001:db8:1::/48")
    )
    assert released is not None and released.actor_id == registry["carrier_user"].id


def test_a_release_with_children_stops_when_what_lies_inside_changed_since_the_list(
    client: FlaskClient, db: Session, login_as, registry: dict[str, Any]
) -> None:
    site = registry["site"]
    login_as(registry["carrier_user"])
    listing = fetch(client, f"/prefixes/{site.id}/release")
    allocate_prefixes(db, site, AllocationRequest(64, kind="subnet"), holder=registry["factory"], actor=OPERATOR)
    db.flush()
    again = client.post(
        f"/prefixes/{site.id}/release", data={"csrf_token": csrf_token_in(listing), "recursive": "1", "expected": "2"}
    )
    assert again.status_code == 200
    body = again.get_data(as_text=True)
    assert 'data-testid="release-changed"' in body and len(re.findall(r"data-release-item=", body)) == 3
    db.expire_all()
    assert get_prefix(db, parse_net("2001:db8:1::/48")) is not None


def test_releasing_a_block_with_children_without_the_list_leads_to_the_list(
    client: FlaskClient, login_as, registry: dict[str, Any]
) -> None:
    site = registry["site"]
    login_as(registry["carrier_user"])
    response = post_form(client, f"/prefixes/{site.id}/release", {}, form_page=f"/prefixes/{site.id}/release")
    assert response.status_code == 302 and response.headers["Location"] == f"/prefixes/{site.id}/release"


def test_only_whoever_may_release_a_block_sees_what_releasing_it_takes(
    client: FlaskClient, login_as, create_user, registry: dict[str, Any]
) -> None:
    login_as(registry["factory_user"])  # the holder of an assignment: its carrier releases it, not the holder
    assert client.get(f"/prefixes/{registry['site'].id}/release").status_code == 403
    assert 'data-testid="release' not in fetch(client, f"/prefixes/{registry['site'].id}")
    sign_out(client)
    login_as(create_user(role="carrier"))
    assert client.get(f"/prefixes/{registry['site'].id}/release").status_code == 404


def test_a_prefix_without_children_is_released_from_its_page_at_once(
    client: FlaskClient, db: Session, login_as, registry: dict[str, Any]
) -> None:
    shop_site = registry["shop_site"]
    login_as(registry["carrier_user"])
    response = post_form(client, f"/prefixes/{shop_site.id}/release", {}, form_page=f"/prefixes/{shop_site.id}")
    assert response.status_code == 302
    db.expire_all()
    assert get_prefix(db, parse_net("2001:db8:2::/48")) is None


# -- 6. free blocks: counted and paged -------------------------------------------------------------------------


def test_free_blocks_show_their_count_and_page_through_all_of_them(
    client: FlaskClient, db: Session, login_as, create_org
) -> None:
    holder = create_org(kind="carrier")
    block = add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=holder)
    add_prefix(db, "2001:db8::/64", actor=OPERATOR, kind="assignment", holder=holder)  # leaves 32 free blocks
    db.flush()
    expected = [format_net(n) for n in find_available(db, block)]
    assert len(expected) == 32
    login_as("regulator")
    seen: list[str] = []
    url = f"/prefixes/{block.id}"
    while url:
        page = fetch(client, url)
        assert re.search(r'data-testid="free-count">(\d+)<', page).group(1) == "32"
        listed = re.search(r'data-testid="free-blocks">(.*?)</ul>', page, re.DOTALL).group(1)
        shown = re.findall(r"<li>([^<]+)</li>", listed)
        assert f"{len(seen) + 1}–{len(seen) + len(shown)}" in page
        seen += shown
        following = re.search(r'href="([^"]+)" data-testid="free-next"', page)
        url = following.group(1).replace("&amp;", "&") if following else ""
    assert seen == expected


def test_a_prefix_without_children_is_one_free_block(client: FlaskClient, db: Session, login_as, create_org) -> None:
    block = add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=create_org(kind="carrier"))
    db.flush()
    login_as("regulator")
    page = fetch(client, f"/prefixes/{block.id}")
    assert re.search(r'data-testid="free-count">(\d+)<', page).group(1) == "1"
    assert "<li>2001:db8::/32</li>" in page and 'data-testid="free-pager"' not in page


def test_past_the_count_limit_free_blocks_say_more_than_it_and_still_page_through_all(
    client: FlaskClient, db: Session, login_as, create_org, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(queries, "FREE_COUNT_LIMIT", 25)
    block = add_prefix(db, "2001:db8::/32", actor=OPERATOR, kind="aggregate", holder=create_org(kind="carrier"))
    add_prefix(db, "2001:db8::/64", actor=OPERATOR, kind="assignment", holder=None)  # leaves 32 free blocks
    db.flush()
    expected = [format_net(n) for n in find_available(db, block)]
    login_as("regulator")
    seen: list[str] = []
    positions: list[str | None] = []
    url = f"/prefixes/{block.id}"
    while url:
        page = fetch(client, url)
        assert re.search(r'data-testid="free-count">([^<]+)<', page).group(1).split()[-1] == "25"
        listed = re.search(r'data-testid="free-blocks">(.*?)</ul>', page, re.DOTALL).group(1)
        seen += re.findall(r"<li>([^<]+)</li>", listed)
        found = re.search(r'data-testid="free-pager">\s*<span class="text-muted">([^<]*)</span>', page)
        positions.append(found.group(1) if found else None)
        following = re.search(r'href="([^"]+)" data-testid="free-next"', page)
        url = following.group(1).replace("&amp;", "&") if following else ""
    assert seen == expected
    # The first page knows where it lies (nothing before it); the second, with 20 before it, too; none the total.
    assert positions[0] is not None and "1–20" in positions[0] and "25" in positions[0]
    assert positions[1] is not None and "21–32" in positions[1]


# -- 10. where an imported record comes from -------------------------------------------------------------------


BOOK = (
    "地址段,使用单位名称,统一社会信用代码,客户编号,分配方式,IP地址使用方式,分配使用时间,所在地区代码,联系人,联系电话\n"
    "2001:db8:5::/48,导入示例厂,91120000103100784F,KH-0042,指派,工业网络,2024-03-01,120116,钱工,022-5550123\n"
)


@pytest.fixture
def imported(db: Session, registry: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "book-2024.csv"
    path.write_text(BOOK, encoding="utf-8")
    batch = run_import(db, registry["carrier"], path, "csv")
    assert batch.status == "loaded", batch.message
    prefix = get_prefix(db, parse_net("2001:db8:5::/48"))
    assert prefix is not None
    return {**registry, "batch": batch, "prefix": prefix}


def test_an_imported_prefix_links_its_import_and_shows_the_files_date_customer_id_region_and_contact(
    client: FlaskClient, login_as, imported: dict[str, Any]
) -> None:
    batch, prefix = imported["batch"], imported["prefix"]
    login_as(imported["carrier_user"])
    page = fetch(client, f"/prefixes/{prefix.id}")
    assert f'href="/imports/{batch.id}" data-testid="import-link"' in page and "book-2024.csv" in page
    assert re.search(r'data-testid="assigned-on">2024-03-01<', page)
    assert re.search(r'data-testid="customer-ids">KH-0042<', page)
    assert re.search(r'data-testid="holder-division">120116 ', page)
    assert "钱工" in page and "022-5550123" in page
    assert "91120000103100784F" in page


def test_an_imported_prefix_has_the_load_of_its_import_in_its_history(
    client: FlaskClient, login_as, imported: dict[str, Any]
) -> None:
    batch, prefix = imported["batch"], imported["prefix"]
    login_as(imported["carrier_user"])
    history = re.search(r'data-testid="history">(.*?)</table>', fetch(client, f"/prefixes/{prefix.id}"), re.DOTALL)
    assert history is not None
    assert f'href="/imports/{batch.id}"' in history.group(1)
    assert 'colspan="4"' not in history.group(1)  # not "no recorded changes"


def test_the_holder_sees_where_its_record_comes_from_but_not_the_carriers_file(
    client: FlaskClient, db: Session, login_as, create_user, imported: dict[str, Any]
) -> None:
    prefix = imported["prefix"]
    login_as(create_user(role="enterprise", organization=prefix.holder))
    page = fetch(client, f"/prefixes/{prefix.id}")
    assert 'data-testid="provenance"' in page and "示例电信" in page
    assert "book-2024.csv" not in page and 'data-testid="import-link"' not in page


def read_csv(client: FlaskClient, url: str) -> list[list[str]]:
    response = client.get(url)
    assert response.status_code == 200 and response.mimetype == "text/csv"
    return list(csv.reader(io.StringIO(response.get_data(as_text=True).lstrip("\ufeff"))))


def test_the_export_names_holder_uscc_division_assigned_date_source_and_import_in_chinese(
    app: Flask, client: FlaskClient, login_as, imported: dict[str, Any]
) -> None:
    batch = imported["batch"]
    login_as(imported["carrier_user"])
    header, *rows = read_csv(client, "/prefixes/export.csv")
    assert header[:6] == ["地址段", "类型", "状态", "持有单位", "简称代码", "统一社会信用代码"]
    by_network = {row[0]: dict(zip(header, row, strict=True)) for row in rows}
    assert "2001:db8:1::/64" not in by_network  # the factory's layout is not the carrier's
    row = by_network["2001:db8:5::/48"]
    assert row["持有单位"] == "导入示例厂" and row["统一社会信用代码"] == "91120000103100784F"
    assert row["所在地区代码"] == "120116" and row["分配使用时间"] == "2024-03-01"
    with app.test_request_context():  # the labels in the reader's language (Chinese by default)
        labels = [PrefixKind.ASSIGNMENT.label, str(USAGE_LABELS[Usage.INDUSTRIAL_NETWORK]), Source.IMPORT.label]
    assert [row["类型"], row["使用方式"], row["来源"]] == labels and labels[0] != "Assignment"
    assert str(batch.id) in row.values() and "book-2024.csv" in row.values()
    assert by_network["2001:db8::/32"]["来源"] != "manual"


def test_the_export_of_one_prefix_holds_what_lies_inside_it_as_the_viewer_sees_it(
    client: FlaskClient, login_as, registry: dict[str, Any]
) -> None:
    login_as(registry["factory_user"])
    _, *rows = read_csv(client, f"/prefixes/export.csv?within={registry['site'].id}")
    assert [row[0] for row in rows] == ["2001:db8:1::/48", "2001:db8:1::/64", "2001:db8:1:1::/64"]
    assert client.get(f"/prefixes/export.csv?within={registry['shop_site'].id}").status_code == 404


# -- 11. allocations name and link what they made --------------------------------------------------------------


def test_after_allocating_the_new_prefixes_are_named_and_linked(
    client: FlaskClient, db: Session, login_as, registry: dict[str, Any]
) -> None:
    aggregate = registry["aggregate"]
    login_as(registry["carrier_user"])
    url = f"/prefixes/{aggregate.id}/allocate"
    form = {
        "length": "48",
        "count": "2",
        "strategy": Strategy.SPARSE.value,
        "holder": "pp-shop",
        "kind": "assignment",
        "confirm": "1",
    }
    done = post_form(client, url, form)
    assert done.status_code == 302
    page = fetch(client, done.headers["Location"])
    new = ["2001:db8::/48", "2001:db8:8000::/48"]
    alert = re.search(r'class="alert alert-success[^"]*"[^>]*>(.*?)</div>', page, re.DOTALL).group(1)
    assert all(network in alert for network in new)
    for network in new:
        created = get_prefix(db, parse_net(network))
        assert created is not None and f'href="/prefixes/{created.id}">{network}</a>' in page
    assert page.count('data-testid="just-allocated"') == 2


def test_new_prefixes_beyond_the_first_page_of_the_level_are_linked_above_it(
    client: FlaskClient, db: Session, login_as, registry: dict[str, Any]
) -> None:
    aggregate = registry["aggregate"]
    add_prefix(db, "2001:db8::/48", actor=OPERATOR, kind="assignment", holder=registry["shop"])
    for n in range(60):  # a full first page of the level below, before the new one
        add_prefix(db, f"2001:db8:{0x10 + n:x}::/48", actor=OPERATOR, kind="assignment", holder=registry["shop"])
    db.flush()
    login_as(registry["carrier_user"])
    done = post_form(
        client,
        f"/prefixes/{aggregate.id}/allocate",
        {
            "length": "48",
            "count": "1",
            "strategy": Strategy.SPARSE.value,
            "holder": "pp-shop",
            "kind": "assignment",
            "confirm": "1",
        },
    )
    page = fetch(client, done.headers["Location"])
    created = get_prefix(db, parse_net("2001:db8:8000::/48"))
    listed = re.search(r'data-testid="allocated-list">(.*?)</ul>', page, re.DOTALL).group(1)
    assert f'href="/prefixes/{created.id}">2001:db8:8000::/48</a>' in listed


# -- 12. the holder picker -------------------------------------------------------------------------------------


def test_the_holder_picker_finds_organizations_by_name_code_or_uscc(
    client: FlaskClient, login_as, create_org, registry: dict[str, Any]
) -> None:
    create_org(kind="enterprise", code="pp-mill", name="滨海示例钢厂", uscc="91120000103100784F")
    login_as(registry["carrier_user"])
    for text in ("钢厂", "PP-MILL", "103100784"):
        found = client.get("/prefixes/holders", query_string={"q": text}).get_json()["items"]
        assert [org["code"] for org in found] == ["pp-mill"], text
    assert found[0]["name"] == "滨海示例钢厂" and found[0]["uscc"] == "91120000103100784F"
    assert client.get("/prefixes/holders?q=100%").get_json()["items"] == []  # a wildcard is a character


def test_an_enterprise_finds_only_itself_in_the_holder_picker(
    client: FlaskClient, login_as, registry: dict[str, Any]
) -> None:
    login_as(registry["factory_user"])
    found = client.get("/prefixes/holders?q=pp-").get_json()["items"]
    assert [org["code"] for org in found] == ["pp-factory"]


def test_a_regulator_who_names_no_holder_gets_no_picker(client: FlaskClient, login_as, registry) -> None:
    login_as("regulator")
    assert client.get("/prefixes/holders?q=pp").status_code == 403


def test_the_holder_fields_are_pickers_that_send_the_code(
    client: FlaskClient, login_as, registry: dict[str, Any]
) -> None:
    login_as("regulator-admin")
    for url in (
        "/prefixes/new",
        f"/prefixes/{registry['aggregate'].id}/allocate",
        f"/prefixes/{registry['site'].id}/edit",
    ):
        page = fetch(client, url)
        field = re.search(r"<input[^>]*name=\"holder\"[^>]*>", page)
        assert field is not None and 'data-holder-picker="/prefixes/holders"' in field.group(0), url
    assert 'value="pp-factory"' in fetch(client, f"/prefixes/{registry['site'].id}/edit")


# -- 13. only what the viewer may do ---------------------------------------------------------------------------


def test_an_enterprise_is_not_offered_registering_a_block(client: FlaskClient, login_as, registry) -> None:
    login_as(registry["factory_user"])
    assert 'data-testid="register-prefix"' not in fetch(client, "/prefixes")
    assert client.get("/prefixes/new").status_code == 403
    assert (
        post_form(
            client,
            "/prefixes/new",
            {"prefix": "2001:db8:9::/48", "kind": "subnet", "holder": "pp-factory"},
            form_page="/prefixes",
        ).status_code
        == 403
    )


def test_a_carrier_is_not_offered_an_aggregate_it_may_not_register(client: FlaskClient, login_as, registry) -> None:
    login_as(registry["carrier_user"])
    page = fetch(client, "/prefixes/new")
    assert 'value="assignment"' in page and 'value="aggregate"' not in page
    sign_out(client)
    login_as("regulator-admin")
    assert 'value="aggregate"' in fetch(client, "/prefixes/new")


def test_the_holder_field_is_offered_only_to_whoever_allocated_the_prefix(
    client: FlaskClient, db: Session, login_as, registry: dict[str, Any]
) -> None:
    login_as(registry["carrier_user"])
    assert 'name="holder"' in fetch(client, f"/prefixes/{registry['site'].id}/edit")  # its customer's block
    assert 'name="holder"' not in fetch(client, f"/prefixes/{registry['aggregate'].id}/edit")  # its own block
    sign_out(client)
    login_as(registry["factory_user"])
    subnet = registry["subnets"][0]
    assert 'name="holder"' not in fetch(client, f"/prefixes/{subnet.id}/edit")
    saved = post_form(client, f"/prefixes/{subnet.id}/edit", {"status": "active", "usage": "static"})
    assert saved.status_code == 302
    db.expire_all()
    assert db.get(Prefix, subnet.id).usage == "static" and db.get(Prefix, subnet.id).holder_id == subnet.holder_id


def test_the_buttons_on_a_prefix_page_are_those_the_viewer_may_use(
    client: FlaskClient, login_as, registry: dict[str, Any]
) -> None:
    site, subnet = registry["site"], registry["subnets"][0]
    login_as(registry["factory_user"])
    page = fetch(client, f"/prefixes/{site.id}")
    assert 'data-testid="allocate"' in page and 'data-testid="edit"' not in page
    assert client.get(f"/prefixes/{site.id}/edit").status_code == 403
    assert 'data-testid="edit"' in fetch(client, f"/prefixes/{subnet.id}")
    sign_out(client)
    login_as(registry["carrier_user"])
    page = fetch(client, f"/prefixes/{site.id}")
    assert 'data-testid="allocate"' not in page and 'data-testid="space-map-link"' not in page
    assert client.get(f"/prefixes/{site.id}/allocate").status_code == 403
    sign_out(client)
    login_as("regulator")
    page = fetch(client, f"/prefixes/{site.id}")
    assert not re.search(r'data-testid="(allocate|edit|release[^"]*)"', page)
    assert 'data-testid="space-map-link"' in page


def test_the_allocate_form_offers_only_kinds_that_fit_inside_the_block(
    client: FlaskClient, login_as, registry: dict[str, Any]
) -> None:
    login_as(registry["factory_user"])
    page = fetch(client, f"/prefixes/{registry['site'].id}/allocate")
    kinds = re.findall(
        r'<option (?:selected )?value="([a-z]+)"',
        re.search(r'<select[^>]*id="kind".*?</select>', page, re.DOTALL).group(0),
    )
    assert kinds == ["subnet", "reserved"]
    assert re.search(r'id="holder"[^>]*value="pp-factory"|value="pp-factory"[^>]*id="holder"', page)


def test_an_enterprise_is_not_offered_claims(client: FlaskClient, login_as, registry: dict[str, Any]) -> None:
    login_as(registry["factory_user"])
    assert 'data-testid="claim-link"' not in fetch(client, "/prefixes")
    assert client.get("/prefixes/claims").status_code == 403
    sign_out(client)
    login_as(registry["carrier_user"])
    assert 'data-testid="claim-link"' in fetch(client, "/prefixes")
    assert 'data-testid="claim-form"' in fetch(client, "/prefixes/claims")


def test_a_reserved_block_offers_no_allocation(client: FlaskClient, db: Session, login_as, create_org) -> None:
    reserved = add_prefix(db, "2001:db8:c000::/34", actor=OPERATOR, kind="reserved", holder=None, status="reserved")
    db.flush()
    login_as("regulator-admin")
    assert 'data-testid="allocate"' not in fetch(client, f"/prefixes/{reserved.id}")
    assert client.get(f"/prefixes/{reserved.id}/allocate").status_code == 403
