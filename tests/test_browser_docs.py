"""In a real browser with no internet, /docs shows the whole API: Swagger UI comes from the app, not a CDN."""

import httpx2
from playwright.sync_api import Page, expect

from tests.browser import Live, screenshot


def test_swagger_ui_lists_every_operation_from_files_the_app_serves(live: Live, page: Page) -> None:
    spec = httpx2.get(f"{live.url}/openapi.json").json()
    operations = [(method, path) for path, item in spec["paths"].items() for method in item]
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{live.url}/docs")  # returns once the page has loaded: its scripts and styles have been requested
    assert [url for url in requested if not url.startswith(f"{live.url}/")] == []
    for method, path in [("post", "/v1/opportunities"), ("get", "/v1/reports/funnel"),
                         ("post", "/v1/opportunities/{opportunity_id}/transitions")]:
        summary = page.locator(f'.opblock-{method} .opblock-summary-path[data-path="{path}"]').first
        expect(summary).to_be_visible(timeout=30_000)
    assert page.locator(".opblock").count() >= len(operations) > 70
    screenshot(page, "api-docs")
