"""The console's pages for managers and ops in a real browser: a manager reads the funnel drawn as a chart, ops
open a version's diagram and try a draft on the open deals."""

import shutil

import httpx2
from playwright.sync_api import Page, expect

from app.processes.service import default_process
from tests.browser import Live, screenshot
from tests.conftest import WATER_DEAL
from tests.test_browser_console import _sign_in

OVERRIDE = "Agreed in the steering meeting"
WALKS = [("rep.alex", "questioning"), ("rep.alex", "opening"), ("rep.sam", "solution_design"),
         ("rep.sam", "planning"), ("rep.alex", "presentation"), ("rep.sam", "opening"), ("rep.zoe", "negotiation")]


def _deals(live: Live) -> None:
    """Deals of the Water team (and one of Energy) moved forward by the administrator, each past its gates."""
    with httpx2.Client(base_url=live.url, headers=live.as_user("admin"), timeout=30) as api:
        for number, (owner, step) in enumerate(WALKS):
            deal = api.post("/v1/opportunities", json={**WATER_DEAL, "name": f"Deal {number}", "owner": owner})
            assert deal.status_code == 201, deal.text
            if step != "planning":
                moved = api.post(f"/v1/opportunities/{deal.json()['id']}/transitions",
                                 json={"to": step, "override": OVERRIDE})
                assert moved.status_code == 200, moved.text


def test_a_manager_reads_the_funnel_of_the_team_as_a_chart(page: Page, live: Live) -> None:
    _deals(live)
    _sign_in(page, live, "rep.kim")
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Reports").click()
    expect(page.get_by_role("heading", name="Pipeline", level=2)).to_be_visible()
    page.get_by_role("navigation", name="Reports").get_by_role("link", name="Funnel").click()
    expect(page.get_by_role("heading", name="Funnel", level=2)).to_be_visible()
    chart = page.get_by_role("img", name="Deals entering each step and moving on")
    expect(chart).to_be_visible()
    for step in ("planning", "opening", "questioning", "solution design", "presentation"):
        expect(chart.locator("text.label", has_text=step)).to_have_count(1)
    expect(chart.locator("text.figure", has_text="6 entered")).to_have_count(1)  # the Water team's six deals
    table = page.get_by_role("table", name="Deals entering each step in the period")
    expect(table.get_by_role("row", name="planning")).to_contain_text("6")
    screenshot(page, "console-funnel")

    page.get_by_label("Owner").select_option("rep.sam")
    page.get_by_role("button", name="Show").click()
    expect(page).to_have_url(f"{live.url}/console/reports/funnel?team=&owner=rep.sam&process=&since=&until=")
    expect(page.get_by_role("img", name="Deals entering each step and moving on").locator(
        "text.figure", has_text="3 entered")).to_have_count(1)

    # At a phone's width the page does not scroll sideways: a chart keeps its text readable and scrolls in its box.
    page.set_viewport_size({"width": 390, "height": 844})
    page.reload()
    expect(page.get_by_role("img", name="Deals entering each step and moving on")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_ops_open_a_version_drawn_and_try_a_draft_on_the_open_deals(page: Page, live: Live) -> None:
    _deals(live)
    spec = default_process()[1]
    draft = {**spec, "gates": {**spec["gates"], "opening": [
        *spec["gates"]["opening"], {"code": "ops.two_people", "rule": "stakeholders.size() >= 2",
                                    "message": "Name two people before opening."}]}}
    with httpx2.Client(base_url=live.url, headers=live.as_user("ops.lee"), timeout=30) as api:
        assert api.post("/v1/processes/complex-sale/versions", json=draft).status_code == 201
    _sign_in(page, live, "ops.lee")
    page.get_by_role("navigation", name="Console").get_by_role("link", name="Processes").click()
    page.get_by_role("link", name="version 1").first.click()
    expect(page.get_by_role("heading", name="Complex sale, version 1")).to_be_visible()
    if shutil.which("dot") is not None:
        diagram = page.get_by_role("img", name="Complex sale, version 1, drawn.")
        expect(diagram).to_be_visible()
        assert diagram.evaluate("image => image.complete && image.naturalWidth > 0")
    else:
        expect(page.locator("pre.mermaid-text").first).to_contain_text("flowchart LR")
    screenshot(page, "console-process")

    page.get_by_role("link", name="Processes", exact=True).first.click()
    page.get_by_role("link", name="version 2").first.click()
    expect(page.get_by_text("No problems: it can be published.")).to_be_visible()
    page.get_by_role("button", name="Try it on the open deals").click()
    expect(page.get_by_role("status")).to_contain_text("Looked at 7 open deals; nothing was changed.")
    impact = page.get_by_role("table", name="Per requirement that is new or changed")
    expect(impact.get_by_role("row", name="ops.two_people")).to_contain_text("1")  # the one deal at planning
    impact.get_by_role("link", name="Deal 3").click()
    expect(page.get_by_role("heading", name="Deal 3", level=1)).to_be_visible()
