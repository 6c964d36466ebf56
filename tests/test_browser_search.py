"""The search box in the navigation bar, as a carrier uses it: a customer by its name, an upload by its file name."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import sign_in

pytestmark = pytest.mark.browser


def search_from_the_navigation_bar(page: Page, text: str) -> None:
    page.get_by_test_id("nav-search").fill(text)
    page.get_by_test_id("nav-search").press("Enter")


def test_a_carrier_finds_a_customer_by_name_and_opens_its_prefixes(live_server: dict, page: Page) -> None:
    base, carrier = live_server["url"], live_server["logins"]["carrier"]
    sign_in(page, base, carrier["username"], carrier["password"])
    search_from_the_navigation_bar(page, "海河精密")
    expect(page).to_have_url(re.compile(r"/search\?q="))
    customers = page.get_by_test_id("search-group-organizations")
    expect(customers.get_by_test_id("search-hit")).to_have_text(["海河精密机械有限公司"])
    expect(page.get_by_test_id("search-count-organizations")).to_have_text("1")
    expect(page.get_by_text("津辰网络通信有限公司")).to_have_count(0)  # another carrier's, never found

    customers.get_by_test_id("search-hit").click()
    expect(page).to_have_url(f"{base}/prefixes?holder=haihe-jm")
    expect(page.get_by_role("link", name=re.compile(r"^2001:db8:[0-9a-f:]*\/48$"))).to_have_count(1)


def test_a_carrier_finds_its_upload_by_file_name(live_server: dict, page: Page) -> None:
    base, carrier = live_server["url"], live_server["logins"]["carrier"]
    sign_in(page, base, carrier["username"], carrier["password"])
    page.goto(f"{base}/imports")
    rows = "地址段,使用单位名称,分配方式,IP地址使用方式\n2001:db8:3e00::/48,搜索测试客户,指派,静态\n"
    page.set_input_files(
        "#file", files=[{"name": "季度台账-搜索.csv", "mimeType": "text/csv", "buffer": rows.encode()}]
    )
    page.get_by_test_id("check").click()
    expect(page.get_by_test_id("batch-status")).to_have_attribute("data-status", "previewed", timeout=20_000)
    detail = page.url

    search_from_the_navigation_bar(page, "台账-搜索")
    uploads = page.get_by_test_id("search-group-imports")
    expect(uploads.get_by_test_id("search-hit")).to_have_text(["季度台账-搜索.csv"])
    uploads.get_by_test_id("search-hit").click()
    expect(page).to_have_url(detail)

    search_from_the_navigation_bar(page, "季度台账-搜索.csv")  # the whole name: straight to the upload
    expect(page).to_have_url(detail)
