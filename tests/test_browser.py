"""What a person does in a browser: Playwright drives Debian's chromium against a live server started the way
`make run` starts it (migrate, load the demo, serve)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import sign_in, sign_out

pytestmark = pytest.mark.browser


def test_regulator_signs_in_sees_chinese_dashboard_switches_to_english_and_signs_out(
    live_server: dict, page: Page
) -> None:
    base, regulator = live_server["url"], live_server["logins"]["regulator"]
    page.goto(base + "/")
    expect(page).to_have_url(f"{base}/login?next=/")
    expect(page.locator("h1")).to_have_text("登录")

    sign_in(page, base, regulator["username"], regulator["password"])
    expect(page).to_have_url(f"{base}/")
    expect(page.get_by_test_id("dashboard-title")).to_have_text("管理局工作台")
    expect(page.get_by_test_id("count-organizations")).to_have_text("9")
    expect(page.get_by_test_id("count-kind-enterprise")).to_have_text("4")

    page.get_by_test_id("language-en").click()
    expect(page.get_by_test_id("dashboard-title")).to_have_text("Regulator dashboard")
    expect(page.locator("html")).to_have_attribute("lang", "en")

    page.get_by_test_id("logout").click()
    expect(page).to_have_url(f"{base}/login")
    expect(page.locator(".alert")).to_contain_text("You have signed out.")
    page.goto(base + "/")
    expect(page).to_have_url(f"{base}/login?next=/")


def test_wrong_password_shows_an_error_and_no_session(live_server: dict, page: Page) -> None:
    base, regulator = live_server["url"], live_server["logins"]["regulator"]
    sign_in(page, base, regulator["username"], "definitely-not-the-password")
    expect(page.get_by_test_id("form-errors")).to_have_text("用户名或密码错误。")
    page.goto(base + "/")
    expect(page).to_have_url(f"{base}/login?next=/")


def test_admin_creates_an_organization_and_sees_the_error_beside_the_field(live_server: dict, page: Page) -> None:
    base, admin = live_server["url"], live_server["logins"]["regulator-admin"]
    sign_in(page, base, admin["username"], admin["password"])
    page.goto(f"{base}/organizations/new")
    page.select_option("#kind", "enterprise")
    page.fill("#code", "browser-test")
    page.fill("#name", "浏览器测试有限公司")
    page.fill("#uscc", "91120000103100784A")
    page.get_by_test_id("save").click()
    expect(page.locator('[data-field-error="uscc"]')).to_contain_text("校验位错误")
    page.fill("#uscc", "91120000103100784F")
    page.get_by_test_id("save").click()
    expect(page).to_have_url(f"{base}/organizations/browser-test")
    expect(page.locator("h1")).to_have_text("浏览器测试有限公司")


def test_carrier_previews_and_allocates_a_site_then_sees_it_on_the_map(live_server: dict, page: Page) -> None:
    base, carrier = live_server["url"], live_server["logins"]["carrier"]
    sign_in(page, base, carrier["username"], carrier["password"])
    page.goto(f"{base}/prefixes?q=2001:db8::/34")
    expect(page.get_by_test_id("prefix-title")).to_contain_text("2001:db8::/34")
    page.get_by_test_id("allocate").click()
    expect(page.locator("#length")).to_have_value("48")  # the pool policy's default length
    page.fill("#holder", "wuqing-qp")
    page.get_by_test_id("preview").click()
    preview = page.get_by_test_id("preview-list").locator("li")
    expect(preview).to_have_count(1)
    chosen = preview.first.inner_text()
    page.get_by_test_id("confirm").click()
    expect(page.locator(".alert-success")).to_contain_text("2001:db8::/34")
    expect(page.get_by_role("link", name=chosen, exact=True)).to_be_visible()
    page.goto(f"{base}/prefixes?q={chosen.split('/')[0]}")
    expect(page.get_by_test_id("prefix-title")).to_contain_text(chosen)


def test_carrier_uploads_a_file_sees_the_check_and_loads_it(live_server: dict, page: Page) -> None:
    base, carrier = live_server["url"], live_server["logins"]["carrier"]
    sign_in(page, base, carrier["username"], carrier["password"])
    page.goto(f"{base}/imports")
    rows = "地址段,使用单位名称,分配方式,IP地址使用方式\n2001:db8:3f00::/48,浏览器测试客户,指派,静态\n2001:db8:3f01::/48,另一客户,指派,动态\n"
    page.set_input_files("#file", files=[{"name": "book.csv", "mimeType": "text/csv", "buffer": rows.encode()}])
    page.get_by_test_id("check").click()
    # The worker checks the file; the page follows its progress and shows the result.
    expect(page.get_by_test_id("batch-status")).to_have_attribute("data-status", "previewed", timeout=20_000)
    expect(page.locator("[data-count=created]")).to_have_text("2")
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("batch-status")).to_have_attribute("data-status", "loaded", timeout=20_000)
    page.goto(f"{base}/prefixes?q=2001:db8:3f01::1")
    expect(page.get_by_test_id("prefix-title")).to_contain_text("2001:db8:3f01::/48")


def test_regulator_expands_and_collapses_the_prefix_tree(live_server: dict, page: Page) -> None:
    base, regulator = live_server["url"], live_server["logins"]["regulator"]
    sign_in(page, base, regulator["username"], regulator["password"])
    page.goto(f"{base}/prefixes")
    aggregate = page.locator("tr.tree-row", has=page.get_by_role("link", name="2001:db8::/34", exact=True))
    aggregate.locator(".tree-toggle").click()
    allocation = page.locator("tr.depth-1", has=page.get_by_role("link", name="2001:db8:100::/40", exact=True))
    expect(allocation).to_be_visible()
    allocation.locator(".tree-toggle").click()
    expect(page.locator("tr.depth-2").first).to_be_visible()
    aggregate.locator(".tree-toggle").click()
    expect(page.locator("tr.depth-1")).to_have_count(0)


def test_regulator_signs_in_with_the_directory_account_and_an_enterprise_cannot_open_regulator_pages(
    live_server: dict, page: Page
) -> None:
    base = live_server["url"]
    page.goto(f"{base}/login")
    expect(page.get_by_test_id("directory-hint")).to_be_visible()
    sign_in(page, base, "alice", "alice-directory-pw")
    expect(page.get_by_test_id("dashboard-title")).to_have_text("管理局工作台")
    expect(page.get_by_test_id("current-user")).to_contain_text("审核员 爱丽丝")
    page.get_by_test_id("logout").click()
    enterprise = live_server["logins"]["enterprise"]
    sign_in(page, base, enterprise["username"], enterprise["password"])
    response = page.goto(f"{base}/organizations")
    assert response is not None and response.status == 403
    expect(page.get_by_test_id("error-message")).to_contain_text("权限")
    page.console_errors.clear()  # type: ignore[attr-defined]  (the browser logs the 403 it was meant to get)


def test_an_enterprise_files_the_use_of_its_block_and_the_regulator_returns_then_approves_it(
    live_server: dict, page: Page
) -> None:
    base, logins = live_server["url"], live_server["logins"]
    enterprise, regulator = logins["enterprise"], logins["regulator"]
    sign_in(page, base, regulator["username"], regulator["password"])
    page.goto(f"{base}/filings/dashboard")
    awaiting_before = int(page.get_by_test_id("count-awaiting-review").inner_text())
    sign_out(page)

    # The enterprise starts the use filing of its /48 from the registry: a draft, pre-filled.
    sign_in(page, base, enterprise["username"], enterprise["password"])
    page.get_by_test_id("nav-filings").click()
    expect(page.get_by_test_id("unfiled-banner")).to_be_visible()
    page.goto(f"{base}/filings/unfiled")
    page.get_by_test_id("file-one").first.click()
    expect(page.locator("#block")).to_have_value("2001:db8::/48")
    expect(page.locator("#source_name")).to_have_value("海星通信有限公司天津分公司")
    page.fill("#contact_name", "赵工")
    page.fill("#contact_phone", "022-5550777")
    page.fill("#gateway_address", "滨海新区")
    page.get_by_test_id("save").click()
    page.get_by_test_id("step-submit").click()
    expect(page.locator("[data-state]").first).to_have_attribute("data-state", "submitted")
    filing_url = page.url
    sign_out(page)

    # The regulator finds it in the queue and returns it with a comment on one field.
    sign_in(page, base, regulator["username"], regulator["password"])
    page.goto(f"{base}/filings/dashboard")
    expect(page.get_by_test_id("count-awaiting-review")).to_have_text(str(awaiting_before + 1))
    page.get_by_test_id("nav-queue").click()
    expect(page.get_by_test_id("filing-list")).to_contain_text("2001:db8::/48")
    page.goto(filing_url)
    expect(page.get_by_test_id("registry-view")).to_contain_text("2001:db8::/34")
    page.fill("[name=comment_gateway_address]", "请写明具体楼宇")
    page.fill("#comment", "网关所在地址不完整")
    page.get_by_test_id("review-return").click()
    expect(page.locator("[data-state]").first).to_have_attribute("data-state", "returned")
    sign_out(page)

    # The enterprise reads the comment, corrects the field and submits again.
    sign_in(page, base, enterprise["username"], enterprise["password"])
    page.goto(filing_url)
    expect(page.get_by_test_id("review-comments")).to_contain_text("请写明具体楼宇")
    page.get_by_test_id("edit").click()
    page.fill("#gateway_address", "滨海新区示例路 1 号 3 号楼")
    page.get_by_test_id("save").click()
    page.get_by_test_id("step-submit").click()
    expect(page.locator("[data-state]").first).to_have_attribute("data-state", "submitted")
    sign_out(page)

    # The regulator approves: the number shows on both sides, and the dashboard counts it.
    sign_in(page, base, regulator["username"], regulator["password"])
    page.goto(filing_url)
    page.get_by_test_id("review-approve").click()
    expect(page.get_by_test_id("filing-number")).to_contain_text("津IP备")
    number = page.get_by_test_id("filing-number").inner_text()
    page.goto(f"{base}/filings/dashboard")
    expect(page.get_by_test_id("count-awaiting-review")).to_have_text(str(awaiting_before))
    sign_out(page)
    sign_in(page, base, enterprise["username"], enterprise["password"])
    page.goto(filing_url)
    expect(page.get_by_test_id("filing-number")).to_have_text(number)
    expect(page.get_by_test_id("version")).to_have_count(2)
