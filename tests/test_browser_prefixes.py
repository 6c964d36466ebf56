"""The prefix registry in a browser, as the demo's carrier and enterprise use it: each prefix once in the tree,
only the forms one may use, holders picked by searching, and a block released with what lies inside it after
seeing the list. The tests share one live server and run in order (the release comes last)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import sign_in

pytestmark = pytest.mark.browser


def tree_networks(page: Page) -> list[str]:
    return page.locator("tr.tree-row a.font-monospace").all_inner_texts()


def expand(page: Page, network: str) -> None:
    row = page.locator("tr.tree-row", has=page.get_by_role("link", name=network, exact=True))
    row.locator(".tree-toggle").click()
    expect(row.locator(".tree-toggle")).to_have_attribute("aria-expanded", "true")


def test_a_carrier_and_an_enterprise_see_each_prefix_of_their_tree_once(live_server: dict, page: Page) -> None:
    base, logins = live_server["url"], live_server["logins"]
    sign_in(page, base, logins["carrier"]["username"], logins["carrier"]["password"])
    page.goto(f"{base}/prefixes")
    expect(page.locator("tr.tree-row")).to_have_count(1)
    expect(page.locator("tr.depth-0").get_by_role("link", name="2001:db8::/34", exact=True)).to_be_visible()
    expand(page, "2001:db8::/34")
    expect(page.locator("tr.depth-1").get_by_role("link", name="2001:db8::/48", exact=True)).to_be_visible()
    networks = tree_networks(page)
    assert len(networks) == len(set(networks)) and "2001:db8:2000::/48" in networks
    page.get_by_test_id("logout").click()

    sign_in(page, base, logins["enterprise"]["username"], logins["enterprise"]["password"])
    page.goto(f"{base}/prefixes")
    expect(page.locator("tr.tree-row")).to_have_count(1)
    expand(page, "2001:db8::/48")
    expect(page.locator("tr.depth-1")).to_have_count(4)
    networks = tree_networks(page)
    assert networks[0] == "2001:db8::/48" and len(networks) == len(set(networks)) == 5


def test_an_enterprise_is_offered_only_the_forms_it_may_use(live_server: dict, page: Page) -> None:
    base, enterprise = live_server["url"], live_server["logins"]["enterprise"]
    sign_in(page, base, enterprise["username"], enterprise["password"])
    page.goto(f"{base}/prefixes")
    expect(page.get_by_test_id("prefix-search")).to_be_visible()
    expect(page.get_by_test_id("register-prefix")).to_have_count(0)
    expect(page.get_by_test_id("claim-link")).to_have_count(0)
    response = page.goto(f"{base}/prefixes/new")
    assert response is not None and response.status == 403
    page.console_errors.clear()  # type: ignore[attr-defined]  (the browser logs the 403 it was meant to get)

    page.goto(f"{base}/prefixes?q=2001:db8::/48")
    expect(page.get_by_test_id("prefix-title")).to_contain_text("2001:db8::/48")
    expect(page.get_by_test_id("edit")).to_have_count(0)
    expect(page.locator("[data-testid^=release]")).to_have_count(0)
    page.get_by_test_id("allocate").click()
    expect(page.locator("#kind option")).to_have_count(2)  # subnets (and reserved blocks) inside a site
    expect(page.locator("#holder")).to_have_value("jingu-zn")
    expect(page.locator("[data-holder-chosen]")).to_contain_text("津沽智能装备制造有限公司")


def test_a_carrier_picks_the_holder_by_typing_part_of_its_name(live_server: dict, page: Page) -> None:
    base, carrier = live_server["url"], live_server["logins"]["carrier"]
    sign_in(page, base, carrier["username"], carrier["password"])
    page.goto(f"{base}/prefixes?q=2001:db8::/34")
    page.get_by_test_id("allocate").click()
    # The picker is the page script's: type once it has taken the field (as a person would, a moment later).
    expect(page.locator("#holder")).to_have_attribute("role", "combobox")
    page.locator("#holder").press_sequentially("武清")
    option = page.get_by_role("listbox").get_by_role("option").filter(has_text="武清汽车零部件有限公司")
    expect(option).to_be_visible(timeout=15_000)  # the suggestions are fetched as one types: slow on a busy machine
    option.click()
    expect(page.locator("#holder")).to_have_value("wuqing-qp")
    expect(page.locator("[data-holder-chosen]")).to_contain_text("武清汽车零部件有限公司")
    page.locator("#holder").fill("")
    page.locator("#holder").press_sequentially("jingu")
    expect(page.get_by_role("listbox").get_by_role("option").first).to_contain_text("津沽智能装备制造有限公司")
    page.locator("#holder").press("Enter")
    expect(page.locator("#holder")).to_have_value("jingu-zn")
    page.get_by_test_id("preview").click()
    expect(page.get_by_test_id("preview-list").locator("li")).to_have_count(1)


def test_a_carrier_releases_a_customers_site_with_its_subnets_after_seeing_them(live_server: dict, page: Page) -> None:
    base, carrier = live_server["url"], live_server["logins"]["carrier"]
    sign_in(page, base, carrier["username"], carrier["password"])
    page.goto(f"{base}/prefixes?q=2001:db8::/48")
    expect(page.get_by_test_id("layout-hidden")).to_be_visible()  # the subnets are the enterprise's layout
    page.get_by_test_id("release-with-children").click()
    expect(page.get_by_test_id("release-list").locator("tr[data-release-item]")).to_have_count(4)
    expect(page.get_by_test_id("release-list")).to_contain_text("2001:db8:0:3::/64")
    page.get_by_test_id("release-confirm").click()
    expect(page.get_by_test_id("prefix-title")).to_contain_text("2001:db8::/34")
    expect(page.locator(".alert-success")).to_contain_text("2001:db8::/48")
    expect(page.get_by_role("link", name="2001:db8::/48", exact=True)).to_have_count(0)
    page.goto(f"{base}/prefixes?q=2001:db8:0:3::1")
    expect(page.get_by_test_id("prefix-title")).to_contain_text("2001:db8::/34")
