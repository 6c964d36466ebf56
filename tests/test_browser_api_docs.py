"""The interactive API reference in a browser: Swagger UI from static/, under the same Content-Security-Policy as
every page (a violation is a console error, which fails the test)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser_support import sign_in

pytestmark = pytest.mark.browser


def test_anyone_reads_the_api_reference_with_its_bearer_authorization(live_server: dict, page: Page) -> None:
    base = live_server["url"]
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{base}/api/v1/docs")
    expect(page.get_by_test_id("api-docs-title")).to_be_visible()
    expect(page.locator(".opblock-summary-path", has_text="/api/v1/organizations").first).to_be_visible()
    page.get_by_role("button", name="Authorize").first.click()
    expect(page.get_by_text("bearer", exact=False).first).to_be_visible()
    assert requested and all(url.startswith(base) for url in requested), "nothing is fetched from another host"


def test_a_signed_in_reader_tries_a_call_with_the_session(live_server: dict, page: Page) -> None:
    base, carrier = live_server["url"], live_server["logins"]["carrier"]
    sign_in(page, base, carrier["username"], carrier["password"])
    page.goto(f"{base}/api/v1/docs")
    operation = page.locator(".opblock", has=page.locator(".opblock-summary-path", has_text="/api/v1/me")).first
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    operation.get_by_role("button", name="Execute").click()
    expect(operation.locator(".live-responses-table tbody .response-col_status").first).to_have_text("200")
    expect(operation.locator(".live-responses-table")).to_contain_text(carrier["username"])
