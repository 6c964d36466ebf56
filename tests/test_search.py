"""The one search box: prefixes by address, organizations by name, code or USCC, imports by file name and filings,
each only as far as the user may see them."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from accounts.demo import demo_uscc
from accounts.models import Organization
from core.policy import OPERATOR
from importers.models import ImportBatch
from importers.operations import start_batch
from tests.filing_support import FilingWorld
from tests.querycount import count_statements


def upload(db: Any, tmp_path: Path, carrier: Any, file_name: str) -> ImportBatch:
    path = tmp_path / f"upload-{len(list(tmp_path.iterdir()))}.csv"
    path.write_text("地址段,使用单位名称\n2001:db8:9::/48,客户\n", encoding="utf-8")
    batch = start_batch(db, actor=OPERATOR, carrier=carrier, path=path, file_name=file_name, file_format="csv")
    db.flush()
    return batch


def results(client: FlaskClient, q: str, **args: Any) -> str:
    response = client.get("/search", query_string={"q": q, **args})
    assert response.status_code == 200, response.headers.get("Location")
    return response.get_data(as_text=True)


def counts(html: str) -> dict[str, int]:
    """The number of hits the page reports for each group it shows."""
    return {group: int(n) for group, n in re.findall(r'data-testid="search-count-(\w+)">(\d+)<', html)}


def test_signed_in_pages_carry_the_search_box_in_the_navigation_bar(client: FlaskClient, login_as) -> None:
    assert 'data-testid="nav-search"' not in client.get("/login").get_data(as_text=True)
    login_as("enterprise")
    html = client.get("/").get_data(as_text=True)
    assert 'data-testid="nav-search"' in html and 'action="/search"' in html


def test_an_empty_search_explains_what_the_box_finds(client: FlaskClient, login_as) -> None:
    login_as("carrier")
    html = results(client, "   ")
    assert 'data-testid="search-hint"' in html and "search-count-" not in html


def test_a_carrier_finds_its_customer_by_name(client: FlaskClient, login_as, world: FilingWorld) -> None:
    login_as(world.carrier_user)
    html = results(client, "津沽")
    assert counts(html) == {"organizations": 1}
    assert world.enterprise.name in html and 'href="/prefixes?holder=jg"' in html


def test_a_customers_exact_code_or_uscc_leads_straight_to_its_prefixes(
    client: FlaskClient, login_as, world: FilingWorld
) -> None:
    login_as(world.carrier_user)
    for q in ("jg", "JG", world.enterprise.uscc):
        response = client.get("/search", query_string={"q": q})
        assert response.status_code == 302 and response.headers["Location"] == "/prefixes?holder=jg", q


def test_an_organizations_own_code_leads_to_its_page(client: FlaskClient, login_as, world: FilingWorld) -> None:
    login_as(world.carrier_user)
    response = client.get("/search", query_string={"q": "hx"})
    assert response.status_code == 302 and response.headers["Location"] == "/organizations/hx"


def test_a_regulator_finds_any_organization_by_code_name_or_uscc(
    client: FlaskClient, login_as, world: FilingWorld, create_org
) -> None:
    create_org(
        kind="enterprise", code="yq-zz", name="远桥制造测试", name_en="Yuanqiao Works", uscc=demo_uscc("120115", 95)
    )
    login_as(world.regulator)
    assert client.get("/search?q=yq-zz").headers["Location"] == "/organizations/yq-zz"
    assert (
        client.get("/search", query_string={"q": demo_uscc("120115", 95)}).headers["Location"] == "/organizations/yq-zz"
    )
    assert "远桥制造测试" in results(client, "yuanqiao")
    every_one = world.db.scalar(select(func.count()).where(Organization.name.contains("测试")))
    assert counts(results(client, "测试"))["organizations"] == every_one >= 5


def test_other_tenants_organizations_are_not_found(client: FlaskClient, login_as, world: FilingWorld) -> None:
    login_as(world.carrier_user)
    for q in ("津辰", "jc", world.other_carrier.uscc):
        assert 'data-testid="search-empty"' in results(client, q), q


def test_an_enterprise_finds_no_other_customer_of_its_carrier(
    client: FlaskClient, login_as, world: FilingWorld
) -> None:
    login_as(world.enterprise_user)
    assert counts(results(client, "测试")) == {"organizations": 1}
    assert 'data-testid="search-empty"' in results(client, world.other_enterprise.uscc)


def test_like_wildcards_match_only_themselves(
    client: FlaskClient, login_as, world: FilingWorld, tmp_path: Path
) -> None:
    upload(world.db, tmp_path, world.carrier, "book_2024.csv")
    upload(world.db, tmp_path, world.carrier, "book-2024.csv")
    login_as(world.regulator)
    for q in ("%", "_", "%测试%"):
        assert "organizations" not in counts(results(client, q)), q
    assert counts(results(client, "k_2"))["imports"] == 1


def test_an_address_finds_the_most_specific_prefix_the_user_sees(
    client: FlaskClient, login_as, world: FilingWorld
) -> None:
    login_as(world.carrier_user)
    response = client.get("/search", query_string={"q": "2001:db8:1::5"})
    assert response.status_code == 302 and response.headers["Location"] == f"/prefixes/{world.site.id}"


def test_an_address_in_another_tenants_space_finds_nothing(client: FlaskClient, login_as, world: FilingWorld) -> None:
    login_as(world.other_carrier_user)
    assert 'data-testid="search-empty"' in results(client, "2001:db8:1::5")


def test_an_address_lists_the_prefix_with_its_blocks_and_the_filings_covering_it(
    client: FlaskClient, login_as, world: FilingWorld
) -> None:
    world.site_assignment()
    login_as(world.carrier_user)
    html = results(client, "2001:db8:1::5")
    assert counts(html) == {"prefixes": 1, "filings": 2}
    assert f'href="/prefixes/{world.site.id}"' in html and f'href="/prefixes/{world.aggregate.id}"' in html


def test_imports_are_found_by_file_name_by_those_who_see_them(
    client: FlaskClient, login_as, world: FilingWorld, tmp_path: Path
) -> None:
    batch = upload(world.db, tmp_path, world.carrier, "客户台账-2024.csv")
    login_as(world.carrier_user)
    html = results(client, "台账")
    assert counts(html) == {"imports": 1} and f'href="/imports/{batch.id}"' in html
    assert client.get("/search", query_string={"q": "客户台账-2024.csv"}).headers["Location"] == f"/imports/{batch.id}"


def test_another_carriers_imports_are_not_found(
    client: FlaskClient, login_as, world: FilingWorld, tmp_path: Path
) -> None:
    upload(world.db, tmp_path, world.carrier, "客户台账-2024.csv")
    login_as(world.other_carrier_user)
    assert 'data-testid="search-empty"' in results(client, "台账")


def test_filings_are_found_by_number_by_the_organizations_they_concern(
    client: FlaskClient, login_as, world: FilingWorld
) -> None:
    filing = world.site_assignment()
    login_as(world.enterprise_user)
    assert client.get("/search", query_string={"q": filing.number}).headers["Location"] == f"/filings/{filing.id}"


def test_another_tenants_filings_are_not_found(client: FlaskClient, login_as, world: FilingWorld) -> None:
    filing = world.site_assignment()
    login_as(world.other_enterprise_user)
    assert 'data-testid="search-empty"' in results(client, filing.number)


def test_a_long_group_shows_its_first_hits_and_pages_through_the_rest(
    app: Flask, client: FlaskClient, login_as, create_org
) -> None:
    for n in range(12):
        create_org(kind="enterprise", code=f"page-{n:02d}", name=f"分页单位{n:02d}")
    app.config["PAGE_SIZE"] = 5
    login_as("regulator")
    overview = results(client, "分页单位")
    assert counts(overview) == {"organizations": 12} and overview.count('data-testid="search-hit"') == 10
    assert 'href="/search?q=%E5%88%86%E9%A1%B5%E5%8D%95%E4%BD%8D&amp;group=organizations"' in overview
    last = results(client, "分页单位", group="organizations", page=3)
    assert last.count('data-testid="search-hit"') == 2 and "分页单位11" in last


def test_the_results_page_reads_a_constant_number_of_statements(
    client: FlaskClient, login_as, world: FilingWorld, create_org, tmp_path: Path
) -> None:
    login_as(world.regulator)

    def statements() -> int:
        with count_statements() as log:
            results(client, "常数")
        return log.count

    create_org(kind="carrier", code="cs-0", name="常数运营商0")
    upload(world.db, tmp_path, world.carrier, "常数-0.csv")
    few = statements()
    for n in range(1, 8):
        carrier = create_org(kind="carrier", code=f"cs-{n}", name=f"常数运营商{n}")
        upload(world.db, tmp_path, carrier, f"常数-{n}.csv")
    assert statements() == few
