"""The console in a real browser: a rep signs in, is refused a premature move, records what the gate asks for
through the generated forms, moves on and sees it in the history; another team's rep finds nothing."""

from typing import Any

import httpx2
from playwright.sync_api import Page, expect

from tests.browser import Live, screenshot
from tests.test_console import deal_at_questioning

DEAL = "Riverton filter renewal"


def _deal_at_questioning(live: Live) -> dict[str, Any]:
    """rep.alex's deal at questioning, through the API: it lacks a costed problem and a decision-maker."""
    with httpx2.Client(base_url=live.url, headers=live.as_user("rep.alex"), timeout=30) as api:
        return deal_at_questioning(api, DEAL)


def _sign_in(page: Page, live: Live, handle: str) -> None:
    page.goto(f"{live.url}/console")
    expect(page).to_have_url(f"{live.url}/console/sign-in?next=%2Fconsole")
    page.get_by_label("API key").fill(live.keys[handle])
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="My deals")).to_be_visible()


def test_a_rep_is_refused_records_what_is_missing_and_moves_on(page: Page, live: Live) -> None:
    deal = _deal_at_questioning(live)
    _sign_in(page, live, "rep.alex")
    expect(page.get_by_role("row", name=DEAL)).to_contain_text("questioning")
    screenshot(page, "console-my-deals")

    page.get_by_role("link", name=DEAL).click()
    expect(page.get_by_role("heading", name=DEAL, level=1)).to_be_visible()
    expect(page.locator("[aria-current=step]")).to_contain_text("questioning")

    # Straight to presentation: refused, and the page lists what is missing, each with where to record it.
    moves = page.locator("#move-other")
    moves.get_by_label("Move to").select_option("presentation")
    moves.get_by_role("button", name="Move").click()
    refusal = page.locator("#refusal")
    expect(refusal).to_contain_text("The move to presentation was refused")
    expect(refusal).to_contain_text("record at least one customer problem with its cost quantified")
    expect(refusal).to_contain_text("identify at least one stakeholder who is a decision-maker")
    expect(refusal.get_by_role("link", name="Record it").first).to_be_visible()
    screenshot(page, "console-refusal")

    # The gate into the next step offers its forms right there: a decision-maker, then the problem and its cost.
    gate = page.locator("#gate")
    stakeholder = gate.locator("#gate-stakeholders")
    stakeholder.get_by_label("Name").fill("Dana Okafor")
    stakeholder.get_by_label("Role").select_option("decision_maker")
    stakeholder.get_by_label("Needs").fill("No more emergency call-outs")
    stakeholder.get_by_role("button", name="Save the stakeholder").click()
    expect(page.get_by_role("status")).to_contain_text("Saved the stakeholder")

    problem = page.locator("#gate-problems")
    problem.get_by_label("Description").fill("Unplanned filter outages force bottled-water deliveries")
    cost = problem.get_by_role("group", name="Cost")
    cost.get_by_label("Amount").fill("420000")
    cost.get_by_label("Currency").fill("EUR")
    cost.get_by_label("Period").select_option("year")
    cost.get_by_label("Basis").fill("Twelve outages a year at 35,000 EUR of bottled water each")
    problem.get_by_role("group", name="Confirmation").get_by_label("Stakeholder").select_option(
        label="Dana Okafor (decision maker)")  # the customer confirms it, in the person of the decision-maker
    problem.get_by_role("button", name="Save the problem").click()
    expect(page.get_by_role("status")).to_contain_text("Saved the problem")
    expect(page.locator("#records-problems")).to_contain_text("420,000.00 EUR per year")

    expect(gate).to_contain_text("is met")
    page.get_by_role("button", name="Move to solution design").click()
    expect(page.get_by_role("status")).to_contain_text("the deal is now at solution design")
    expect(page.locator("[aria-current=step]")).to_contain_text("solution design")
    history = page.locator("#history")
    expect(history.get_by_role("listitem").last).to_contain_text("rep.alex moved it forward to solution design")
    screenshot(page, "console-deal")

    # At a phone's width the same page reads in one column, without sideways scrolling.
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(f"{live.url}/console/deals/{deal['id']}")
    expect(page.get_by_role("heading", name=DEAL, level=1)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(page, "console-deal-phone")


def test_keyboard_reaches_the_content_and_shows_where_focus_is(page: Page, live: Live) -> None:
    _sign_in(page, live, "rep.alex")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to the content")
    expect(skip).to_be_focused()
    outline = skip.evaluate("element => getComputedStyle(element).outlineStyle")
    assert outline == "solid"
    page.keyboard.press("Tab")
    expect(page.get_by_role("link", name="dealgate")).to_be_focused()


def test_a_rep_of_another_team_finds_no_such_deal(page: Page, live: Live) -> None:
    deal = _deal_at_questioning(live)
    _sign_in(page, live, "rep.zoe")
    expect(page.get_by_role("link", name=DEAL)).to_have_count(0)
    response = page.goto(f"{live.url}/console/deals/{deal['id']}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    expect(page.get_by_role("main")).not_to_contain_text(DEAL)

