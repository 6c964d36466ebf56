"""From "we need IPv6 for our factories" to an applied plan, in a browser against the live demo server: an
enterprise requests two /48s, its carrier previews and approves them sparse, the enterprise plans one of them as
3 sites × 4 zones × 16 subnets, applies the plan and finds it in the registry; another enterprise sees none of it.
Then the planner's editor, its text and its live preview following each other."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import flask, sign_in, sign_out
from tests.test_plan_pages import NODES_PER_SITE, SITES, plan_text

pytestmark = pytest.mark.browser

OTHER_ENTERPRISE = ("haihe-engineer", "haihe-Passw0rd-2026")


def test_an_enterprise_requests_two_48s_the_carrier_approves_them_and_the_enterprise_plans_and_applies_one(
    live_server: dict, page: Page
) -> None:
    base, logins = live_server["url"], live_server["logins"]
    enterprise, carrier = logins["enterprise"], logins["carrier"]

    sign_in(page, base, enterprise["username"], enterprise["password"])
    page.goto(f"{base}/requests/new")
    page.select_option("#provider", label="海星通信有限公司天津分公司")
    page.fill("#site_count", "2")
    page.select_option("#prefix_len", "48")
    page.fill("#purpose", "滨海与武清两个新厂区")
    page.select_option("#usage", "industrial-network")
    page.fill("#locations", "120116 120114")
    page.fill("#justification", "每个厂区一个 /48，按车间、产线和 OT/IT 区规划。")
    page.click("#save_and_submit")
    expect(page.get_by_test_id("request-title")).to_be_visible()
    request_url = page.url
    assert re.search(r"/requests/\d+$", request_url), request_url
    sign_out(page)

    sign_in(page, base, carrier["username"], carrier["password"])
    page.goto(f"{base}/requests")
    page.get_by_test_id("request-list").locator(f'a[href$="{request_url.removeprefix(base)}"]').first.click()
    expect(page.get_by_test_id("holdings")).to_contain_text("2001:db8::/48")
    expect(page.locator("#strategy")).to_have_value("sparse")
    page.get_by_test_id("preview").click()
    previewed = page.get_by_test_id("preview-list").locator("li")
    expect(previewed).to_have_count(2)
    blocks = previewed.all_inner_texts()
    page.get_by_test_id("step-approve").click()
    expect(page.get_by_test_id("allocated-blocks")).to_contain_text(blocks[0])
    expect(page.get_by_test_id("allocated-blocks")).to_contain_text(blocks[1])
    expect(page.get_by_test_id("draft-filing").first).to_be_visible()
    sign_out(page)

    sign_in(page, base, enterprise["username"], enterprise["password"])
    page.goto(request_url)
    page.get_by_test_id("plan-block").first.click()
    page.fill("#name", "滨海厂区网络规划")
    page.fill("#text", plan_text(parent=blocks[0]))
    expect(page.locator("[data-plan-rows] tr")).to_have_count(SITES * NODES_PER_SITE)
    page.get_by_test_id("plan-save").click()
    expect(page).to_have_url(re.compile(r"/plans/\d+$"))
    plan_url = page.url
    page.get_by_test_id("plan-apply").click()
    expect(page.get_by_test_id("apply-count")).to_contain_text(str(SITES * NODES_PER_SITE))
    page.get_by_test_id("apply-confirm").click()
    expect(page.get_by_test_id("applied")).to_be_visible()

    page.goto(f"{base}/prefixes?q={blocks[0]}")
    expect(page.get_by_test_id("prefix-title")).to_contain_text(blocks[0])
    block_url = page.url
    for site in range(1, SITES + 1):
        expect(page.get_by_text(f"site-{site}", exact=True)).to_be_visible()
    sign_out(page)

    username, password = OTHER_ENTERPRISE
    flask(live_server["env"], "user", "add", username, "--org", "haihe-jm", "--role", "enterprise",
          "--password-stdin", stdin=password + "\n")  # fmt: skip
    sign_in(page, base, username, password)
    for url in (request_url, plan_url, block_url):
        response = page.goto(url)
        assert response is not None and response.status == 404, url
    page.console_errors.clear()  # type: ignore[attr-defined]  (the 404s above are the point)
    page.goto(f"{base}/requests")
    expect(page.get_by_test_id("request-link")).to_have_count(0)
    page.goto(f"{base}/plans")
    expect(page.get_by_test_id("plan-row")).to_have_count(0)


def test_the_editor_and_the_text_follow_each_other_and_the_preview_follows_both(live_server: dict, page: Page) -> None:
    base, enterprise = live_server["url"], live_server["logins"]["enterprise"]
    sign_in(page, base, enterprise["username"], enterprise["password"])
    page.goto(f"{base}/plans/new")
    page.fill("#name", "三个厂区")
    page.fill("#text", plan_text(parent="2001:db8::/48"))  # by hand: the editor is rebuilt from the text
    expect(page.locator("[data-plan-rows] tr")).to_have_count(SITES * NODES_PER_SITE)
    expect(page.locator(".plan-node .plan-name")).to_have_count(3)
    expect(page.locator(".plan-cell.plan-tone-2")).to_have_count(1)

    site = page.locator(".plan-node").first
    site.locator(".plan-length").fill("60")  # too small for its zones: the message stands beside it
    expect(site).to_have_class(re.compile("plan-failing"))
    expect(site.locator(".plan-node-problem")).to_contain_text("site-1")
    expect(page.locator("[data-plan-rows] tr")).to_have_count(0)

    site.locator(".plan-length").fill("")
    site.locator("[data-action=add-sibling]").click()  # the editor writes the text
    expect(page.locator("#text")).to_have_value(re.compile('"name": "node2"'))
    expect(page.locator("[data-plan-rows] tr")).to_have_count(SITES * NODES_PER_SITE + 1)

    page.get_by_test_id("plan-save").click()
    expect(page).to_have_url(re.compile(r"/plans/\d+$"))
    expect(page.locator("[data-plan-rows] tr")).to_have_count(SITES * NODES_PER_SITE + 1)


def test_a_regulator_reconciles_the_city_follows_an_unfiled_finding_to_the_assignment_and_acknowledges_it(
    live_server: dict, page: Page
) -> None:
    base, regulator = live_server["url"], live_server["logins"]["regulator"]
    sign_in(page, base, regulator["username"], regulator["password"])
    page.goto(f"{base}/filings/reconciliations")
    page.select_option("#scope", "all")
    page.get_by_test_id("start-run").click()
    expect(page).to_have_url(re.compile(r"/filings/reconciliations/\d+$"))
    run_url = page.url
    # The job queue runs it; the page reloads itself until it is done.
    expect(page.locator("[data-testid=run-state][data-state=done]")).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("count-unfiled")).not_to_have_text("0")

    page.locator("[data-testid=finding-row][data-type=unfiled] [data-testid=finding-link]").first.click()
    expect(page.get_by_test_id("finding-title")).to_be_visible()
    finding_url = page.url
    block = page.locator("[data-testid=finding-sides] [data-field=block] code").first.inner_text()
    expect(page.get_by_test_id("missing-filing")).to_be_visible()

    page.get_by_test_id("open-record").click()
    expect(page.get_by_test_id("prefix-title")).to_contain_text(block)
    page.go_back()
    expect(page).to_have_url(finding_url)

    page.fill("#comment", "合同在办理中，下周补备案")
    page.get_by_test_id("case-acknowledge").click()
    expect(page).to_have_url(finding_url)
    expect(page.locator("[data-testid=case-state]").first).to_have_attribute("data-state", "acknowledged")
    expect(page.get_by_test_id("case-comment")).to_have_text("合同在办理中，下周补备案")
    expect(page.locator("[data-testid=history-line][data-action='finding.acknowledge']")).to_have_count(1)
    page.get_by_test_id("back-to-run").click()
    expect(page).to_have_url(re.compile(re.escape(run_url) + r"#findings$"))
