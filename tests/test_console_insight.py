"""The console's pages for managers and ops over HTTP: the reports drawn as charts with the API's figures, who may
read them, a manager's deals by owner, the processes with a version drawn, a draft's problems at their pointers,
and a dry run whose counts are the API's."""

import html
import re
import shutil
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from sqlalchemy import select, update

from app.console import insight, ops
from app.console.charts import Figure, bar_chart
from app.console.pages import ConsoleRoute
from app.db import utcnow
from app.opportunities.models import HistoryEntry, Opportunity
from app.processes.models import ProcessVersion
from app.processes.service import default_process
from app.reports.router import READERS
from tests.conftest import WATER_DEAL, Workplace
from tests.test_console import CONSOLE, _Controls, api, deal_at_questioning, signed_in, text_of, token

REPORTS = ("pipeline", "funnel", "time-in-step", "blockers", "forecast")
OVERRIDE = "Agreed in the steering meeting"


class _Tables(HTMLParser):
    """The rows of a page's tables of a class, each row its cells' text."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.kind, self.depth, self.tables = kind, 0, []
        self.row: list[str] | None = None
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self.depth += 1
            if self.kind in (dict(attrs).get("class") or "").split():
                self.tables.append([])
        elif tag == "tr" and self.tables and self.depth:
            self.row = []
        elif tag in ("td", "th") and self.row is not None:
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.depth -= 1
        elif tag in ("td", "th") and self.cell is not None and self.row is not None:
            self.row.append(" ".join("".join(self.cell).split()))
            self.cell = None
        elif tag == "tr" and self.row is not None:
            self.tables[-1].append(self.row)
            self.row = None

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def tables(page: Any, kind: str) -> list[list[list[str]]]:
    """The tables of a class on a page: each a list of rows (the header row first), each row its cells' text."""
    parsed = _Tables(kind)
    parsed.feed(page.text)
    return parsed.tables


def _pipeline_of_deals(app: FastAPI, workplace: Workplace) -> None:
    """Deals of alex and sam (Water) and zoe (Energy) moved forward by overrides, some lost or disqualified, one
    refused a move, one walked to questioning with its records."""
    admin = api(app, workplace, "admin")
    deal_at_questioning(api(app, workplace, "rep.alex"), "Walked deal")
    plan = [("rep.alex", "opening", None), ("rep.alex", "solution_design", None), ("rep.sam", "presentation", None),
            ("rep.sam", "opening", "lost"), ("rep.alex", "planning", "disqualified"), ("rep.zoe", "negotiation", None),
            ("rep.zoe", "planning", None), ("rep.sam", "planning", None)]
    for number, (owner, step, closed) in enumerate(plan):
        body = {**WATER_DEAL, "name": f"Deal {number}", "owner": owner, "expected_close_date": "2027-03-01",
                "value": {"amount": (number + 1) * 1_000_000, "currency": "EUR" if number % 3 else "USD"}}
        deal = admin.post("/v1/opportunities", json=body).json()
        moves = f"/v1/opportunities/{deal['id']}/transitions"
        if step != "planning":
            assert admin.post(moves, json={"to": step, "override": OVERRIDE}).status_code == 200
        if closed:
            assert admin.post(moves, json={"to": closed, "reason": "Budget went elsewhere",
                                           **({"reason_code": "no_resources"} if closed == "disqualified" else {})}
                              ).status_code == 200
    refused = api(app, workplace, "rep.sam").post(f"/v1/opportunities/{deal['id']}/transitions", json={"to": "next"})
    assert refused.status_code == 409
    _days_apart(app)


def _days_apart(app: FastAPI) -> None:
    """Each deal's history spread over the last weeks, its moves days apart, so that every stay in a step lasts
    days (and no open deal crosses a percentile between two requests)."""
    now = utcnow()
    with app.state.database.writer() as session:
        deals = session.scalars(select(Opportunity).order_by(Opportunity.created_at)).all()
        for number, deal in enumerate(deals):
            at = now - timedelta(days=40 - number)
            for entry in session.scalars(select(HistoryEntry).where(HistoryEntry.opportunity_id == deal.id)
                                         .order_by(HistoryEntry.seq)):
                entry.at = at
                if entry.kind in ("create", "forward", "back"):
                    deal.step_entered_at = at
                at += timedelta(days=2 + number % 3, hours=number)
            deal.created_at = now - timedelta(days=40 - number)
        session.commit()


# What each report's table shows of an API row: the same figures, as the page writes them.
def _share(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def _money(amount: int | None, currency: str | None) -> str:
    return "—" if amount is None or currency is None else f"{amount / 100:,.2f} {currency}"


CELLS = {
    "pipeline": lambda r: [r["step"].replace("_", " "), r["process"], r["phase"], r["currency"] or "no value",
                           str(r["deals"]), _money(r["value"], r["currency"])],
    "funnel": lambda r: [r["step"].replace("_", " "), r["process"], *(str(r[k]) for k in (
        "entered", "reached_next", "won", "lost", "disqualified")), *(_share(r[k]) for k in (
            "reached_next_share", "won_share", "lost_share", "disqualified_share"))],
    "time-in-step": lambda r: [r["step"].replace("_", " "), r["process"], str(r["stays"]),
                               "—" if r["median_days"] is None else f"{r['median_days']:g}",
                               "—" if r["p90_days"] is None else f"{r['p90_days']:g}", str(r["open_now"]),
                               str(r["past_p90_now"])],
    "blockers": lambda r: [r["code"], str(r["open_deals"]), str(r["refusals"]), str(r["refused_deals"])],
    "forecast": lambda r: [r["step"].replace("_", " "), r["process"], r["currency"] or "no value", str(r["deals"]),
                           _money(r["value"], r["currency"]), _share(r["probability"]), r["source"],
                           str(r["sample"]), str(r["wins"]), _money(r["weighted_value"], r["currency"])],
}


# The reports -----------------------------------------------------------------------------------------------------


def test_a_managers_funnel_chart_and_table_hold_the_figures_of_the_api_funnel(app: FastAPI,
                                                                             workplace: Workplace) -> None:
    _pipeline_of_deals(app, workplace)
    expected = api(app, workplace, "rep.kim").get("/v1/reports/funnel")
    assert expected.status_code == 200
    rows = expected.json()["rows"]
    planning = next(r for r in rows if r["step"] == "planning")
    assert planning["entered"] == 7  # the Water team's deals; zoe's two are not the manager's
    page = signed_in(app, workplace, "rep.kim").get(f"{CONSOLE}/reports/funnel")
    assert page.status_code == 200, page.text
    [table] = tables(page, "figures")
    assert table[1:] == [CELLS["funnel"](r) for r in rows]
    svg = re.search(r"<svg [^>]*role=\"img\" aria-labelledby=\"funnel-0-title funnel-0-desc\"[^>]*>(.*?)</svg>",
                    page.text, re.S)
    assert svg is not None
    drawn = html.unescape(svg.group(1))
    assert "<title id=\"funnel-0-title\">Deals entering each step and moving on</title>" in drawn
    for row in rows:  # every step is drawn with its figures, and its figures are said in the description
        step = row["step"].replace("_", " ")
        assert '<text class="label" x="0" y=' in drawn and f">{step}</text>" in drawn
        assert f"{step}: {row['entered']} entered, {row['reached_next']} moved on" in drawn
    assert "Over the deals of your team." in text_of(page)


@pytest.mark.parametrize("name", REPORTS)
def test_each_report_page_draws_labelled_charts_over_a_table_of_the_api_rows(app: FastAPI, workplace: Workplace,
                                                                            name: str) -> None:
    _pipeline_of_deals(app, workplace)
    for handle in ("ops.lee", "rep.kim", "admin"):
        expected = api(app, workplace, handle).get(f"/v1/reports/{name}").json()
        page = signed_in(app, workplace, handle).get(f"{CONSOLE}/reports/{name}")
        assert page.status_code == 200, page.text
        [table] = tables(page, "figures")
        assert table[1:] == [CELLS[name](r) for r in expected["rows"]], handle
        charts = re.findall(r'<svg [^>]*role="img" aria-labelledby="([\w-]+)-title \1-desc"', page.text)
        assert charts, handle
        for chart in charts:
            assert f'<title id="{chart}-title">' in page.text and f'<desc id="{chart}-desc">' in page.text
        assert '<a href="/console/reports/' + name + '" aria-current="page">' in page.text


def test_the_report_filters_are_the_apis_and_a_wrong_one_is_said_beside_its_field(app: FastAPI,
                                                                                 workplace: Workplace) -> None:
    _pipeline_of_deals(app, workplace)
    kim = signed_in(app, workplace, "rep.kim")
    rest = api(app, workplace, "rep.kim")
    today = utcnow().date()
    for query in ("owner=rep.sam", f"team=Water&since={today - timedelta(days=37)}",
                  f"process=complex-sale&until={today}"):
        expected = rest.get(f"/v1/reports/funnel?{query}").json()["rows"]
        assert expected, query
        [table] = tables(kim.get(f"{CONSOLE}/reports/funnel?{query}"), "figures")
        assert table[1:] == [CELLS["funnel"](r) for r in expected], query
    blank = kim.get(f"{CONSOLE}/reports/pipeline?team=&owner=&process=&since=&until=")  # a form sent as it is
    assert blank.status_code == 200
    page = kim.get(f"{CONSOLE}/reports/funnel")
    assert re.findall(r'<option value="([^"]*)"', page.text.split('id="filter-owner"')[1].split("</select>")[0]) == [
        "", "rep.alex", "rep.kim", "rep.sam"]  # the manager's team, not rep.zoe
    assert re.findall(r'<option value="([^"]*)"', page.text.split('id="filter-team"')[1].split("</select>")[0]) == [
        "", "Water"]

    wrong = kim.get(f"{CONSOLE}/reports/funnel?since=last+week")
    assert wrong.status_code == 422
    assert re.search(r'id="filter-since"[^>]*aria-describedby="filter-since-error" aria-invalid="true"', wrong.text)
    assert 'id="filter-since-error">Input should be a valid date' in wrong.text
    far = kim.get(f"{CONSOLE}/reports/funnel?until=9999-12-31")
    assert far.status_code == 422 and 'id="filter-until-error">a day from 1970-01-01 to 9998-12-31' in far.text
    backwards = kim.get(f"{CONSOLE}/reports/funnel?since=2026-05-01&until=2026-04-01")
    assert backwards.status_code == 422 and "the period starts after it ends" in text_of(backwards)
    unknown = kim.get(f"{CONSOLE}/reports/blockers?team=Nowhere")
    assert unknown.status_code == 422 and 'id="filter-team-error">no such team' in unknown.text
    assert kim.get(f"{CONSOLE}/reports/funnel?sort=step").status_code == 400  # as the API refuses it
    assert kim.get(f"{CONSOLE}/reports/outcomes").status_code == 404  # a report without a page


def test_reps_and_integrations_get_a_403_page_on_every_report_and_no_link_to_them(app: FastAPI,
                                                                                  workplace: Workplace) -> None:
    for handle in ("rep.alex", "crm.sync"):
        browser = signed_in(app, workplace, handle)
        assert api(app, workplace, handle).get("/v1/reports/funnel").status_code == 403
        for name in REPORTS:
            page = browser.get(f"{CONSOLE}/reports/{name}")
            assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
            shown = text_of(page)
            assert "Not for your role" in shown and "This page is for: manager, ops, admin." in shown
            assert "<svg" not in page.text
        assert ">Reports<" not in browser.get(CONSOLE).text
    assert '<a href="/console/reports/pipeline">Reports</a>' in signed_in(app, workplace, "rep.kim").get(CONSOLE).text


def test_a_manager_narrows_the_teams_deals_to_one_owner(app: FastAPI, workplace: Workplace) -> None:
    admin = api(app, workplace, "admin")
    for owner in ("rep.alex", "rep.sam", "rep.zoe"):
        admin.post("/v1/opportunities", json={**WATER_DEAL, "name": f"Deal of {owner}", "owner": owner})
    kim = signed_in(app, workplace, "rep.kim")

    def listed(query: str) -> list[str]:
        page = kim.get(f"{CONSOLE}?{query}")
        assert page.status_code == 200, page.text
        return re.findall(r'<a href="/console/deals/[0-9a-f-]+">([^<]+)</a>', page.text)

    assert listed("") == ["Deal of rep.alex", "Deal of rep.sam"]
    assert listed("owner=rep.sam") == ["Deal of rep.sam"]
    assert listed("owner=rep.zoe") == []  # another team's rep: nothing, as the API answers
    page = kim.get(CONSOLE)
    assert re.findall(r'<option value="([^"]*)"', page.text.split('id="filter-owner"')[1].split("</select>")[0]) == [
        "", "rep.alex", "rep.kim", "rep.sam"]
    assert 'id="filter-owner"' not in signed_in(app, workplace, "rep.alex").get(CONSOLE).text  # a rep has only theirs
    assert [d["name"] for d in api(app, workplace, "rep.kim").get("/v1/opportunities?owner=rep.sam").json()[
        "items"]] == ["Deal of rep.sam"]


def test_a_chart_scales_its_bars_to_the_largest_figure_and_says_every_figure() -> None:
    chart = bar_chart("c", "Deals", "Deals by step.", ["entered", "moved on"],
                      [Figure("planning", [10, 5], ["10 entered", "5 moved on"]),
                       Figure("opening", [4, None], ["4 entered", "none"])])
    widths = [[bar.width for bar in row.bars] for row in chart.rows]
    assert widths == [[400.0, 200.0], [160.0, 0.0]]
    assert chart.description == "Deals by step. planning: 10 entered, 5 moved on; opening: 4 entered, none."
    assert chart.rows[1].y > chart.rows[0].bars[-1].y and chart.height > chart.rows[1].bars[-1].y


# The processes ---------------------------------------------------------------------------------------------------


def test_ops_see_the_processes_and_their_versions(app: FastAPI, workplace: Workplace) -> None:
    ops_api = api(app, workplace, "ops.lee")
    assert ops_api.post("/v1/processes/complex-sale/versions", json=default_process()[1]).status_code == 201
    browser = signed_in(app, workplace, "ops.lee")
    listing = browser.get(f"{CONSOLE}/processes")
    assert listing.status_code == 200
    [table] = tables(listing, "processes")
    assert table[1] == ["Complex sale", "complex-sale", "version 1", "version 2 draft version 1 published"]
    process = browser.get(f"{CONSOLE}/processes/complex-sale")
    [versions] = tables(process, "versions")
    assert [(row[0], row[1]) for row in versions[1:]] == [("version 2", "draft"), ("version 1", "published")]
    stored = browser.get(f"{CONSOLE}/processes/complex-sale/versions/2/yaml")
    assert stored.status_code == 200 and stored.headers["content-type"] == "text/plain; charset=utf-8"
    with app.state.database.reader() as session:
        spec = session.scalars(select(ProcessVersion.spec).where(ProcessVersion.version == 2)).one()
    assert yaml.safe_load(stored.text) == {"key": "complex-sale", **spec}
    assert browser.get(f"{CONSOLE}/processes/no-such").status_code == 404
    assert browser.get(f"{CONSOLE}/processes/complex-sale/versions/9").status_code == 404


def test_a_published_version_is_drawn_as_the_api_draws_it(app: FastAPI, workplace: Workplace,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    rest = api(app, workplace, "ops.lee")
    browser = signed_in(app, workplace, "ops.lee")
    url = f"{CONSOLE}/processes/complex-sale/versions/1"
    mermaid = rest.get("/v1/processes/complex-sale/versions/1/diagram", headers={"Accept": "text/vnd.mermaid"}).text
    if shutil.which("dot") is not None:
        page = browser.get(url)
        assert page.status_code == 200
        image = re.search(r'<img src="(/console/processes/complex-sale/versions/1/diagram\.svg)" alt="([^"]+)"',
                          page.text)
        assert image is not None and "discover: planning, opening" in image.group(2)
        drawn = browser.get(image.group(1))
        assert drawn.status_code == 200 and drawn.headers["content-type"].startswith("image/svg+xml")
        assert drawn.text == rest.get("/v1/processes/complex-sale/versions/1/diagram",
                                      headers={"Accept": "image/svg+xml"}).text
    monkeypatch.setattr(shutil, "which", lambda name: None)  # a server without Graphviz: the Mermaid text
    page = browser.get(url)
    assert page.status_code == 200 and "<img" not in page.text
    shown = re.search(r'<pre class="mermaid-text" aria-label="[^"]+">(.*?)</pre>', page.text, re.S)
    assert shown is not None and html.unescape(shown.group(1)) == mermaid
    assert "is not installed on the server, so the process is shown as the Mermaid flowchart text" in text_of(page)


def test_a_draft_lists_each_problem_publishing_would_refuse_at_its_pointer(app: FastAPI, workplace: Workplace) -> None:
    rest = api(app, workplace, "ops.lee")
    spec = default_process()[1]
    assert rest.post("/v1/processes/complex-sale/versions", json=spec).status_code == 201
    browser = signed_in(app, workplace, "ops.lee")
    url = f"{CONSOLE}/processes/complex-sale/versions/2"
    assert "No problems: it can be published." in text_of(browser.get(url))

    # A draft stored before a check existed: what the API refuses on saving, and on publishing it.
    broken = {**spec, "gates": {**spec["gates"], "presentation": [
        *spec["gates"]["presentation"], {"code": "ops.two_deciders", "rule": 'stakeholders.size() >= "two"',
                                         "message": "Two people."}]}}
    refused = rest.put("/v1/processes/complex-sale/versions/2", json=broken)
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    with app.state.database.writer() as session:
        session.execute(update(ProcessVersion).where(ProcessVersion.version == 2).values(spec=broken))
        session.commit()
    publish = rest.post("/v1/processes/complex-sale/versions/2/publish")
    assert publish.status_code == 422 and publish.json()["errors"] == [error]
    page = browser.get(url)
    assert page.status_code == 200
    problems = re.findall(r"<li><code>([^<]+)</code>: ([^<(]+)", page.text.split('id="problems"')[1])
    assert [(pointer, html.unescape(message).strip()) for pointer, message in problems] == [
        (error["pointer"], error["message"])]
    assert error["pointer"] == f"/gates/presentation/{len(spec['gates']['presentation'])}/rule"
    assert "This draft cannot be published: 1 problem" in text_of(page)


def _deals_for_a_dry_run(app: FastAPI, workplace: Workplace) -> list[dict[str, Any]]:
    """Open deals at planning of alex, sam and zoe, one of them with two stakeholders; one deal at opening."""
    admin = api(app, workplace, "admin")
    owners = ("rep.alex", "rep.alex", "rep.sam", "rep.zoe", "rep.zoe", "rep.sam", "rep.alex")
    deals = [admin.post("/v1/opportunities", json={**WATER_DEAL, "name": f"Deal {n}", "owner": owner}).json()
             for n, owner in enumerate(owners)]
    for name in ("Pat", "Lou"):
        admin.post(f"/v1/opportunities/{deals[0]['id']}/stakeholders", json={"name": name, "role": "user"})
    assert admin.post(f"/v1/opportunities/{deals[1]['id']}/transitions",
                      json={"to": "opening", "override": OVERRIDE}).status_code == 200
    return deals


def _two_people_draft() -> dict[str, Any]:
    """complex-sale with a rule at the gate into opening: two people on record."""
    spec = default_process()[1]
    return {**spec, "gates": {**spec["gates"], "opening": [
        *spec["gates"]["opening"], {"code": "ops.two_people", "rule": "stakeholders.size() >= 2",
                                    "message": "Name two people before opening."}]}}


def test_a_dry_run_in_the_console_counts_what_the_apis_dry_run_counts(app: FastAPI, workplace: Workplace) -> None:
    deals = _deals_for_a_dry_run(app, workplace)
    rest = api(app, workplace, "ops.lee")
    assert rest.post("/v1/processes/complex-sale/versions", json=_two_people_draft()).status_code == 201
    expected = rest.post("/v1/processes/complex-sale/versions/2/dry-run", json={}).json()
    [requirement] = expected["requirements"]
    assert (requirement["code"], requirement["newly_blocked"]["count"]) == ("ops.two_people", 5)

    browser = signed_in(app, workplace, "ops.lee")
    url = f"{CONSOLE}/processes/complex-sale/versions/2"
    page = browser.get(url)
    answer = browser.post(f"{url}/dry-run", data={"csrf": token(page), "step": "", "owner": ""})
    assert answer.status_code == 200, answer.text
    assert f"Looked at {expected['evaluated']} open deals; nothing was changed." in text_of(answer)
    impact, gate = tables(answer, "impact")
    assert [(row[0], row[1], int(row[2].split()[0]), int(row[3].split()[0])) for row in impact[1:]] == [
        (r["code"], r["step"].replace("_", " "), r["newly_blocked"]["count"], r["released"]["count"])
        for r in expected["requirements"]]
    assert [int(row[1].split()[0]) for row in gate[1:]] == [
        expected["next_gate"]["newly_blocked"]["count"], expected["next_gate"]["released"]["count"],
        expected["step_missing"]["count"]]
    cell = answer.text.split('class="newly-blocked">')[1].split("</td>")[0]
    linked = re.findall(r'<a href="/console/deals/([0-9a-f-]+)">([^<]+)</a>', cell)
    assert [deal_id for deal_id, _ in linked] == requirement["newly_blocked"]["ids"][:ops.SHOWN_IDS]
    names = {d["id"]: d["name"] for d in deals}
    assert all(names[deal_id] == name for deal_id, name in linked) and "and 0 more" not in cell

    narrowed = browser.post(f"{url}/dry-run", data={"csrf": token(page), "step": "planning", "owner": "rep.zoe"})
    expected = rest.post("/v1/processes/complex-sale/versions/2/dry-run",
                         json={"step": "planning", "owner": "rep.zoe"}).json()
    [impact, _] = tables(narrowed, "impact")
    assert int(impact[1][2].split()[0]) == expected["requirements"][0]["newly_blocked"]["count"] == 2


def test_only_ops_and_admins_may_run_a_dry_run_and_a_bad_one_is_said(app: FastAPI, workplace: Workplace) -> None:
    _deals_for_a_dry_run(app, workplace)
    assert api(app, workplace, "ops.lee").post("/v1/processes/complex-sale/versions",
                                                 json=_two_people_draft()).status_code == 201
    url = f"{CONSOLE}/processes/complex-sale/versions/2"
    for handle in ("rep.alex", "rep.kim", "crm.sync"):
        browser = signed_in(app, workplace, handle)
        page = browser.get(url)
        assert page.status_code == 200 and 'id="dry-run-form"' not in page.text
        refused = browser.post(f"{url}/dry-run", data={"csrf": token(page)})
        assert refused.status_code == 403 and "This page is for: ops, admin." in text_of(refused)
    admin = signed_in(app, workplace, "admin")
    page = admin.get(url)
    assert admin.post(f"{url}/dry-run", data={"csrf": "0" * 64}).status_code == 403  # no token, no run
    wrong = admin.post(f"{url}/dry-run", data={"csrf": token(page), "step": "Planning!"})
    assert wrong.status_code == 422 and 'id="dry-run-form-step-error"' in wrong.text
    missing = admin.post(f"{CONSOLE}/processes/complex-sale/versions/7/dry-run", data={"csrf": token(page)})
    assert missing.status_code == 404


# Every page ----------------------------------------------------------------------------------------------------


def test_every_control_of_the_new_pages_has_a_label(app: FastAPI, workplace: Workplace) -> None:
    _deals_for_a_dry_run(app, workplace)
    assert api(app, workplace, "ops.lee").post("/v1/processes/complex-sale/versions",
                                                 json=_two_people_draft()).status_code == 201
    kim, lee = signed_in(app, workplace, "rep.kim"), signed_in(app, workplace, "ops.lee")
    version = f"{CONSOLE}/processes/complex-sale/versions/2"
    pages = [kim.get(CONSOLE), kim.get(f"{CONSOLE}/reports/funnel?since=nonsense"), lee.get(version),
             lee.get(f"{CONSOLE}/processes/complex-sale/versions/1")]
    pages += [kim.get(f"{CONSOLE}/reports/{name}") for name in REPORTS]
    pages.append(lee.post(f"{version}/dry-run", data={"csrf": token(pages[2])}))
    for page in pages:
        assert page.status_code in (200, 422), page.text
        parsed = _Controls()
        parsed.feed(page.text)
        assert parsed.controls, page.url
        assert [c for _, c in parsed.controls if c.get("id") not in parsed.labelled] == [], page.url


def test_the_new_pages_declare_the_apis_policies_and_stay_out_of_the_contract(app: FastAPI) -> None:
    contract = app.openapi()["paths"]
    for route in [*insight.router.routes, *ops.router.routes]:
        assert isinstance(route, ConsoleRoute) and route.openapi_extra["x-policy"]["roles"], route
    [reports] = insight.router.routes
    assert reports.openapi_extra["x-policy"]["roles"] == list(READERS) == contract[
        "/v1/reports/funnel"]["get"]["x-policy"]["roles"]
    dry_run = next(r for r in ops.router.routes if r.path.endswith("/dry-run"))
    assert dry_run.openapi_extra["x-policy"]["roles"] == contract[
        "/v1/processes/{key}/versions/{version}/dry-run"]["post"]["x-policy"]["roles"]
    assert not [path for path in contract if path.startswith(CONSOLE)]


@pytest.mark.parametrize("path", ["/processes", "/processes/complex-sale", "/processes/complex-sale/versions/1"])
def test_the_process_pages_answer_as_html_for_each_role(app: FastAPI, workplace: Workplace, path: str) -> None:
    for handle in ("rep.alex", "rep.kim", "ops.lee", "admin", "crm.sync"):
        page = signed_in(app, workplace, handle).get(CONSOLE + path)
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), (handle, page.text)
