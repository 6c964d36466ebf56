"""The dashboards in a browser: each role's first question answered, recent changes told as sentences with names
and links, nothing wider than the window, and the holders an import named verified by the carrier that named them
and by a regulator."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

# The fixtures of tests/test_browser.py, requested by their names (which the tests' arguments then rebind).
from tests.browser_support import sign_in

pytestmark = pytest.mark.browser

LONG_NAME = "allocation-records-exported-for-the-communications-administration-2026-first-quarter.csv"


def fits_the_window(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def load_file(page: Page, base: str, name: str, rows: str, *, carrier: str | None = None) -> None:
    """Upload ``rows`` (after the header) as the signed-in user, check them and load them."""
    page.goto(f"{base}/imports")
    if carrier is not None:
        page.fill("#carrier", carrier)
    text = "地址段,使用单位名称,分配方式,IP地址使用方式\n" + rows
    page.set_input_files("#file", files=[{"name": name, "mimeType": "text/csv", "buffer": text.encode()}])
    page.get_by_test_id("check").click()
    expect(page.get_by_test_id("batch-status")).to_have_attribute("data-status", "previewed", timeout=20_000)
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("batch-status")).to_have_attribute("data-status", "loaded", timeout=20_000)


def test_a_carrier_sees_its_blocks_and_verifies_the_customers_its_import_named(live_server: dict, page: Page) -> None:
    base, carrier = live_server["url"], live_server["logins"]["carrier"]
    sign_in(page, base, carrier["username"], carrier["password"])
    load_file(
        page, base, LONG_NAME, "2001:db8:3e00::/48,仪表盘客户甲,指派,静态\n2001:db8:3e01::/48,仪表盘客户乙,指派,动态\n"
    )

    page.goto(f"{base}/")
    block = page.locator('[data-testid=holding][data-prefix="2001:db8::/34"]')
    expect(block.get_by_test_id("utilization")).to_contain_text("%")
    expect(block.get_by_test_id("free")).to_have_attribute("data-unit", "48")
    expect(block.get_by_test_id("filing-state")).to_be_visible()
    named = page.get_by_test_id("unverified-holder")
    first = named.filter(has_text="仪表盘客户甲")
    expect(first).to_have_count(1)
    expect(named.filter(has_text="仪表盘客户乙")).to_have_count(1)

    # What happened reads as sentences: the file by its (shortened) name, linked to its import, never an id.
    loaded = page.locator('[data-testid=history-line][data-action="import.load"]').first
    expect(loaded.locator(f'a[href^="/imports/"] span[title="{LONG_NAME}"]')).to_be_visible()
    expect(page.get_by_test_id("history")).not_to_contain_text("holder_id")
    assert fits_the_window(page)
    page.set_viewport_size({"width": 760, "height": 900})
    assert fits_the_window(page)

    first.get_by_test_id("verify").click()
    expect(page).to_have_url(f"{base}/")
    expect(page.locator(".alert-success")).to_contain_text("仪表盘客户甲")
    expect(named.filter(has_text="仪表盘客户甲")).to_have_count(0)
    expect(named.filter(has_text="仪表盘客户乙")).to_have_count(1)


def test_a_regulator_finds_the_holders_an_import_named_and_verifies_one(live_server: dict, page: Page) -> None:
    base, admin = live_server["url"], live_server["logins"]["regulator-admin"]
    sign_in(page, base, admin["username"], admin["password"])
    load_file(page, base, "haixing-book.csv", "2001:db8:3e10::/48,仪表盘客户丙,指派,静态\n", carrier="haixing")

    page.goto(f"{base}/")
    expect(page.get_by_test_id("count-kind-enterprise")).not_to_have_text("0")
    imported = page.get_by_test_id("recent-import").filter(has_text="haixing-book.csv")
    expect(imported).to_contain_text("海星通信有限公司天津分公司")
    expect(page.get_by_test_id("filing-dashboard-link")).to_be_visible()
    expect(page.locator('[data-testid=history-line][data-action="organization.create"]').first).to_contain_text(
        "仪表盘客户丙"
    )
    assert fits_the_window(page)

    page.get_by_test_id("count-unverified").click()
    expect(page).to_have_url(f"{base}/organizations?verified=no")
    row = page.locator("tr", has_text="仪表盘客户丙")
    expect(row.get_by_test_id("unverified-badge")).to_be_visible()
    row.locator("a").first.click()
    expect(page.get_by_test_id("unverified-note")).to_contain_text("海星通信有限公司天津分公司")
    page.get_by_test_id("verify").click()
    expect(page.locator(".alert-success")).to_contain_text("仪表盘客户丙")
    expect(page.get_by_test_id("unverified-badge")).to_have_count(0)
    expect(page.get_by_test_id("verify")).to_have_count(0)
    expect(page.locator('[data-testid=history-line][data-action="organization.verify"]')).to_contain_text(
        admin["username"]
    )


def test_an_enterprise_sees_its_prefixes_with_their_filing_and_how_they_came(live_server: dict, page: Page) -> None:
    base, enterprise = live_server["url"], live_server["logins"]["enterprise"]
    sign_in(page, base, enterprise["username"], enterprise["password"])
    site = page.get_by_test_id("holding")
    expect(site).to_have_count(1)  # its site, with its subnets inside
    expect(site.get_by_test_id("inside")).to_have_text("4")
    expect(site.get_by_test_id("free")).to_have_attribute("data-unit", "64")
    expect(site.get_by_test_id("filing-state")).to_be_visible()
    allocated = page.locator('[data-testid=history-line][data-action="prefix.allocate"]').first
    expect(allocated).to_contain_text("津沽智能装备制造有限公司")
    expect(allocated.locator('a[href^="/prefixes?q="]').first).to_be_visible()
    assert fits_the_window(page)
