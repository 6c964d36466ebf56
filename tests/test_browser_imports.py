"""A carrier's imports in a browser, against the live server `make run` starts (the demo data, the import worker):
the downloaded template loads as it is, and the upload is one line of the list, linked to its check."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import sign_in

pytestmark = pytest.mark.browser


def test_carrier_loads_the_template_unchanged_and_finds_the_upload_once_in_the_list(
    live_server: dict,
    page: Page,
) -> None:
    base, carrier = live_server["url"], live_server["logins"]["carrier"]
    sign_in(page, base, carrier["username"], carrier["password"])
    page.goto(f"{base}/imports")
    with page.expect_download() as download:
        page.get_by_test_id("template-zh").click()
    template = download.value.path()
    page.set_input_files("#file", str(template))
    page.get_by_test_id("check").click()
    expect(page.get_by_test_id("batch-status")).to_have_attribute("data-status", "previewed", timeout=20_000)
    expect(page.locator("[data-count=errors]")).to_have_text("0")
    expect(page.locator("[data-count=created]")).to_have_text("1")
    check_url = page.url
    page.get_by_test_id("confirm").click()
    expect(page.get_by_test_id("batch-status")).to_have_attribute("data-status", "loaded", timeout=20_000)
    expect(page.get_by_test_id("earlier-batch")).to_have_attribute("href", check_url.removeprefix(base))
    load_url = page.url

    page.goto(f"{base}/imports")
    rows = page.get_by_test_id("import-list").locator("tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-batch", load_url.rsplit("/", 1)[-1])
    expect(rows.first.locator("td[data-status]")).to_have_attribute("data-status", "loaded")
    rows.first.get_by_test_id("earlier-batch").click()
    expect(page).to_have_url(check_url)
    expect(page.get_by_test_id("next-batch")).to_have_attribute("data-status", "loaded")
