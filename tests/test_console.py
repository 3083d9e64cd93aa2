"""The web console over HTTP: signing in with a key, form tokens, who sees which deal, and a rep's work on a deal
through the generated forms, checked against what the API stores."""

import html
import re
import time
import uuid
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from httpx2 import Response
from sqlalchemy import update

from app.console.forms import form_for
from app.console.pages import ConsoleRoute
from app.console.router import public as sign_in_pages
from app.console.router import router as pages
from app.db import utcnow
from app.opportunities.models import Opportunity
from app.phases.catalog import RECORD_KINDS
from tests.conftest import WATER_DEAL, Workplace, dump

CONSOLE = "/console"


def api(app: FastAPI, workplace: Workplace, handle: str) -> TestClient:
    """A client of the API acting as that person."""
    return TestClient(app, headers=workplace.as_user(handle))


def signed_in(app: FastAPI, workplace: Workplace, handle: str) -> TestClient:
    """A browser-like client signed in to the console as that person (its cookie jar holds the key)."""
    browser = TestClient(app, follow_redirects=False)
    answer = browser.post(f"{CONSOLE}/sign-in", data={"key": workplace.keys[handle], "next": CONSOLE})
    assert answer.status_code == 303, answer.text
    return browser


def token(page: Response) -> str:
    """The form token a page carries."""
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page.text)
    assert found, page.text[:500]
    return found.group(1)


def text_of(page: Response) -> str:
    """A page's text as a person reads it (tags dropped, entities decoded, spaces collapsed)."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", page.text)).split())


def deal_at_questioning(client: Any, name: str = WATER_DEAL["name"]) -> dict[str, Any]:
    """A deal at questioning, through the API, lacking only a problem with its cost confirmed and a decision-maker
    for the gate into solution design."""
    def ok(response: Any) -> dict[str, Any]:
        assert response.status_code in (200, 201), response.text
        return response.json()  # type: ignore[no-any-return]

    deal = ok(client.post("/v1/opportunities", json={**WATER_DEAL, "name": name}))
    under = f"/v1/opportunities/{deal['id']}"
    user = ok(client.post(f"{under}/stakeholders", json={"name": "Sam Ruiz", "role": "user"}))
    ok(client.post(f"{under}/meeting-plans", json={"objective": "Learn what the outages cost"}))
    ok(client.post(f"{under}/transitions", json={"to": "opening"}))
    ok(client.post(f"{under}/activities", json={"kind": "meeting", "occurred_at": "2026-01-05T09:00:00Z",
                                                "attendee_ids": [user["id"]]}))
    ok(client.post(f"{under}/transitions", json={"to": "questioning"}))
    ok(client.put(f"{under}/decision-process", json={"steps": ["Technical review", "Council vote"],
                                                     "timeline": "A council vote in the spring"}))
    ok(client.put(f"{under}/qualification", json={"urgency": "yes", "resources": "yes",
                                                  "budget_available": {"amount": 130000000, "currency": "EUR"}}))
    return deal


# Signing in ------------------------------------------------------------------------------------------------------


def test_signing_in_keeps_the_key_in_an_http_only_same_site_cookie_of_the_console(app: FastAPI,
                                                                                 workplace: Workplace) -> None:
    browser = TestClient(app, follow_redirects=False)
    answer = browser.post(f"{CONSOLE}/sign-in", data={"key": workplace.keys["rep.alex"],
                                                      "next": f"{CONSOLE}/tasks"})
    assert answer.status_code == 303 and answer.headers["location"] == f"{CONSOLE}/tasks"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"dealgate_console={workplace.keys['rep.alex']};")
    attributes = {part.strip().lower() for part in cookie.split(";")[1:]}
    assert {"httponly", "samesite=strict", "path=/console"} <= attributes
    assert "secure" not in attributes  # plain http here; over https it is Secure (below)
    page = browser.get(CONSOLE)
    assert page.status_code == 200 and "rep.alex" in page.text
    assert page.headers["cache-control"] == "no-store" and "frame-ancestors 'none'" in page.headers[
        "content-security-policy"]

    secure = TestClient(app, base_url="https://testserver", follow_redirects=False)
    answer = secure.post(f"{CONSOLE}/sign-in", data={"key": workplace.keys["rep.alex"]})
    assert "secure" in {part.strip().lower() for part in answer.headers["set-cookie"].split(";")}


def test_a_wrong_key_gets_the_sign_in_page_again_and_no_cookie(app: FastAPI, workplace: Workplace) -> None:
    browser = TestClient(app, follow_redirects=False)
    for wrong in ("", "dg_nonsense", workplace.keys["rep.alex"][:-4] + "AAAA"):
        answer = browser.post(f"{CONSOLE}/sign-in", data={"key": wrong})
        assert answer.status_code == 401, answer.text
        assert "That key is unknown or revoked" in answer.text and 'id="key"' in answer.text
        assert "set-cookie" not in answer.headers
    assert browser.get(CONSOLE).status_code == 303


def test_pages_without_a_sign_in_send_the_visitor_to_sign_in_and_back(app: FastAPI, workplace: Workplace) -> None:
    browser = TestClient(app, follow_redirects=False)
    answer = browser.get(f"{CONSOLE}/tasks?whose=all")
    assert answer.status_code == 303
    assert answer.headers["location"] == f"{CONSOLE}/sign-in?next=%2Fconsole%2Ftasks%3Fwhose%3Dall"
    signed = browser.post(f"{CONSOLE}/sign-in", data={"key": workplace.keys["rep.alex"],
                                                      "next": "/console/tasks?whose=all"})
    assert signed.headers["location"] == "/console/tasks?whose=all"
    elsewhere = browser.post(f"{CONSOLE}/sign-in", data={"key": workplace.keys["rep.alex"],
                                                         "next": "https://evil.example/"})
    assert elsewhere.headers["location"] == CONSOLE  # never to another site


def test_signing_out_clears_the_cookie(app: FastAPI, workplace: Workplace) -> None:
    browser = signed_in(app, workplace, "rep.alex")
    page = browser.get(CONSOLE)
    assert browser.post(f"{CONSOLE}/sign-out", data={"csrf": "0" * 64}).status_code == 403
    answer = browser.post(f"{CONSOLE}/sign-out", data={"csrf": token(page)})
    assert answer.status_code == 303 and "Max-Age=0" in answer.headers["set-cookie"]
    assert browser.get(CONSOLE).status_code == 303


def test_a_revoked_keys_cookie_is_refused_at_once(app: FastAPI, workplace: Workplace) -> None:
    browser = signed_in(app, workplace, "rep.alex")
    page = browser.get(CONSOLE)
    assert page.status_code == 200
    admin = api(app, workplace, "admin")
    alex = next(u for u in admin.get("/v1/admin/users").json()["items"] if u["handle"] == "rep.alex")
    key = admin.get(f"/v1/admin/users/{alex['id']}/keys").json()["items"][0]
    assert admin.delete(f"/v1/admin/keys/{key['id']}").status_code == 204
    before = dump(app)

    refused = browser.get(CONSOLE)
    assert refused.status_code == 303 and refused.headers["location"].endswith("why=expired")
    assert "Max-Age=0" in refused.headers["set-cookie"]
    browser.cookies.set("dealgate_console", workplace.keys["rep.alex"], path=CONSOLE)  # kept by a tampered browser
    posted = browser.post(f"{CONSOLE}/deals", data={"csrf": token(page), "name": "Late", "account.name": "Late"})
    assert posted.status_code == 303 and "sign-in" in posted.headers["location"]
    assert dump(app) == before
    assert "no longer works" in browser.get(refused.headers["location"]).text


# Form tokens ----------------------------------------------------------------------------------------------------


def test_a_form_without_its_token_is_refused_and_changes_nothing(app: FastAPI, workplace: Workplace) -> None:
    deal = api(app, workplace, "rep.alex").post("/v1/opportunities", json=WATER_DEAL).json()
    browser = signed_in(app, workplace, "rep.alex")
    others = signed_in(app, workplace, "rep.sam")
    stolen = token(others.get(CONSOLE))  # a valid token, but of another key
    before = dump(app)
    forms = [(f"{CONSOLE}/deals", {"name": "Forged", "account.name": "Forged Ltd"}),
             (f"{CONSOLE}/deals/{deal['id']}/records/stakeholders", {"name": "Forged", "role": "decision_maker"}),
             (f"{CONSOLE}/deals/{deal['id']}/move", {"to": "lost", "reason": "forged"})]
    for path, fields in forms:
        for sent in ({}, {"csrf": ""}, {"csrf": "f" * 64}, {"csrf": stolen}):
            answer = browser.post(path, data={**fields, **sent})
            assert answer.status_code == 403, (path, sent, answer.text)
            assert "Nothing was changed" in answer.text
    json_body = browser.post(f"{CONSOLE}/deals", json={"name": "Forged", "account": {"name": "Forged"}})
    assert json_body.status_code == 403
    assert dump(app) == before
    assert browser.post(f"{CONSOLE}/deals", data={"csrf": token(browser.get(CONSOLE)), "name": "Real",
                                                  "account.name": "Real Ltd"}).status_code == 303


# Who sees which deal --------------------------------------------------------------------------------------------


def test_a_rep_cannot_open_another_reps_deal_which_is_not_found(app: FastAPI, workplace: Workplace) -> None:
    admin = api(app, workplace, "admin")
    zoes = admin.post("/v1/opportunities", json={**WATER_DEAL, "name": "Zoe's energy deal", "owner": "rep.zoe"}).json()
    sams = admin.post("/v1/opportunities", json={**WATER_DEAL, "name": "Sam's water deal", "owner": "rep.sam"}).json()
    alex = signed_in(app, workplace, "rep.alex")
    listing = alex.get(f"{CONSOLE}?status=any").text
    assert "Zoe&#39;s energy deal" not in listing and "Sam&#39;s water deal" not in listing
    before = dump(app)
    for deal in (zoes, sams):
        page = alex.get(f"{CONSOLE}/deals/{deal['id']}")
        assert page.status_code == 404, page.text
        assert deal["name"] not in html.unescape(page.text) and deal["owner"] not in page.text
        posted = alex.post(f"{CONSOLE}/deals/{deal['id']}/records/stakeholders",
                           data={"csrf": token(page), "name": "Pat", "role": "user"})
        assert posted.status_code == 404
        moved = alex.post(f"{CONSOLE}/deals/{deal['id']}/move", data={"csrf": token(page), "to": "lost",
                                                                      "reason": "not mine"})
        assert moved.status_code == 404
    assert dump(app) == before
    assert alex.get(f"{CONSOLE}/deals/not-a-deal").status_code == 404


def test_a_manager_sees_and_works_the_deals_of_their_team_only(app: FastAPI, workplace: Workplace) -> None:
    admin = api(app, workplace, "admin")
    alexs = admin.post("/v1/opportunities", json={**WATER_DEAL, "name": "Alex's deal", "owner": "rep.alex"}).json()
    zoes = admin.post("/v1/opportunities", json={**WATER_DEAL, "name": "Zoe's deal", "owner": "rep.zoe"}).json()
    kim = signed_in(app, workplace, "rep.kim")
    listing = text_of(kim.get(CONSOLE))
    assert "Alex's deal" in listing and "Zoe's deal" not in listing
    page = kim.get(f"{CONSOLE}/deals/{alexs['id']}")
    assert page.status_code == 200 and "owner rep.alex" in text_of(page)
    added = kim.post(f"{CONSOLE}/deals/{alexs['id']}/records/stakeholders",
                     data={"csrf": token(page), "name": "Dana Okafor", "role": "economic_buyer"})
    assert added.status_code == 303, added.text
    stored = admin.get(f"/v1/opportunities/{alexs['id']}/stakeholders").json()["items"]
    assert [(s["name"], s["created_by"]) for s in stored] == [("Dana Okafor", "rep.kim")]
    assert kim.get(f"{CONSOLE}/deals/{zoes['id']}").status_code == 404


def test_ops_read_a_deal_but_get_no_forms_and_may_not_post(app: FastAPI, workplace: Workplace) -> None:
    deal = api(app, workplace, "rep.alex").post("/v1/opportunities", json=WATER_DEAL).json()
    ops = signed_in(app, workplace, "ops.lee")
    page = ops.get(f"{CONSOLE}/deals/{deal['id']}")
    assert page.status_code == 200
    assert 'action="/console/deals/' not in page.text and "Open a new deal" not in ops.get(CONSOLE).text
    before = dump(app)
    refused = ops.post(f"{CONSOLE}/deals/{deal['id']}/records/stakeholders",
                       data={"csrf": token(page), "name": "Pat", "role": "user"})
    assert refused.status_code == 403 and "may not do this" in refused.text
    assert dump(app) == before


# A rep's work on a deal -----------------------------------------------------------------------------------------


def test_opening_a_deal_through_the_form_stores_it_as_the_api_would(app: FastAPI, workplace: Workplace) -> None:
    browser = signed_in(app, workplace, "rep.alex")
    answer = browser.post(f"{CONSOLE}/deals", data={
        "csrf": token(browser.get(CONSOLE)), "name": "Harbour desalination", "account.name": "Port Authority",
        "account.industry": "public_sector", "value.amount": "1,250,000.50", "value.currency": "eur",
        "expected_close_date": ""})
    assert answer.status_code == 303
    deal_id = re.fullmatch(r"/console/deals/([0-9a-f-]{36})\?saved=deal", answer.headers["location"]).group(1)
    stored = api(app, workplace, "rep.alex").get(f"/v1/opportunities/{deal_id}").json()
    assert (stored["name"], stored["account"]["name"], stored["account"]["industry"], stored["value"], stored["step"],
            stored["owner"]) == ("Harbour desalination", "Port Authority", "public_sector",
                                 {"amount": 125000050, "currency": "EUR"}, "planning", "rep.alex")
    assert "The deal is open, at its first step." in text_of(browser.get(answer.headers["location"]))


def test_a_form_with_mistakes_is_shown_again_with_each_error_beside_its_field(app: FastAPI,
                                                                                workplace: Workplace) -> None:
    deal = api(app, workplace, "rep.alex").post("/v1/opportunities", json=WATER_DEAL).json()
    browser = signed_in(app, workplace, "rep.alex")
    page = browser.get(f"{CONSOLE}/deals/{deal['id']}")
    before = dump(app)
    answer = browser.post(f"{CONSOLE}/deals/{deal['id']}/records/problems", data={
        "csrf": token(page), "description": "Leaking filters", "cost.amount": "12.345", "cost.currency": "EUR",
        "cost.period": "year"})
    assert answer.status_code == 422
    assert re.search(r'id="add-problems-cost-amount"[^>]*aria-invalid="true"', answer.text)
    assert "has at most 2 digits after the decimal point in EUR" in answer.text
    assert 'value="Leaking filters"' in answer.text or ">Leaking filters</textarea>" in answer.text  # kept as typed
    missing = browser.post(f"{CONSOLE}/deals/{deal['id']}/records/stakeholders",
                           data={"csrf": token(page), "title": "Director"})
    assert missing.status_code == 422
    assert re.search(r'id="add-stakeholders-name-error">Field required', missing.text)
    assert re.search(r'id="add-stakeholders-role-error">Field required', missing.text)
    assert dump(app) == before


def test_recording_a_costed_problem_and_a_decision_maker_then_moving_shows_in_the_history(
        app: FastAPI, workplace: Workplace) -> None:
    rest = api(app, workplace, "rep.alex")
    deal = deal_at_questioning(rest)
    url = f"{CONSOLE}/deals/{deal['id']}"
    browser = signed_in(app, workplace, "rep.alex")
    page = browser.get(url)
    shown = text_of(page)
    assert "The gate into solution design needs 2 more things" in shown

    added = browser.post(f"{url}/records/stakeholders", data={
        "csrf": token(page), "name": "Dana Okafor", "title": "Director of Public Works", "role": "decision_maker",
        "needs": "No more emergency call-outs"})
    assert added.status_code == 303 and added.headers["location"] == f"{url}?saved=stakeholders#records-stakeholders"
    dana = next(s for s in rest.get(f"/v1/opportunities/{deal['id']}/stakeholders").json()["items"]
                if s["name"] == "Dana Okafor")
    page = browser.get(added.headers["location"])
    assert f'<option value="{dana["id"]}">Dana Okafor (decision maker)</option>' in page.text
    recorded = browser.post(f"{url}/records/problems", data={
        "csrf": token(page), "description": "Unplanned filter outages force bottled-water deliveries",
        "indicators": "Twelve outages last year\n\nComplaints from the east district\n",
        "cost.amount": "420000", "cost.currency": "EUR", "cost.period": "year",
        "cost.basis": "Twelve outages a year at 35,000 EUR each", "confirmation.stakeholder_id": dana["id"]})
    assert recorded.status_code == 303, recorded.text
    problem = rest.get(f"/v1/opportunities/{deal['id']}/problems").json()["items"][0]
    assert problem["cost"] == {"amount": 42000000, "currency": "EUR", "period": "year",
                               "basis": "Twelve outages a year at 35,000 EUR each", "assumptions": None}
    assert problem["indicators"] == ["Twelve outages last year", "Complaints from the east district"]
    assert problem["confirmed_by_customer"] and problem["confirmation"]["stakeholder_id"] == dana["id"]

    page = browser.get(url)
    assert "The gate into solution design is met" in text_of(page)
    assert "420,000.00 EUR per year" in text_of(page)
    tag = re.search(r'name="if_match" value="(&#34;|")([^"&]+)(&#34;|")"', page.text)
    assert tag is not None
    moved = browser.post(f"{url}/move", data={"csrf": token(page), "to": "solution_design",
                                              "if_match": f'"{tag.group(2)}"'})
    assert moved.status_code == 303, moved.text
    history = rest.get(f"/v1/opportunities/{deal['id']}/history").json()["items"]
    assert (history[-1]["kind"], history[-1]["from_step"], history[-1]["to_step"], history[-1]["actor"]) == \
        ("forward", "questioning", "solution_design", "rep.alex")
    shown = text_of(browser.get(moved.headers["location"]))
    assert "Moved: the deal is now at solution design (open)." in shown
    assert "rep.alex moved it forward to solution design from questioning." in shown


def test_a_stale_form_cannot_move_a_deal_someone_changed_since(app: FastAPI, workplace: Workplace) -> None:
    rest = api(app, workplace, "rep.alex")
    deal = rest.post("/v1/opportunities", json=WATER_DEAL).json()
    browser = signed_in(app, workplace, "rep.alex")
    page = browser.get(f"{CONSOLE}/deals/{deal['id']}")
    rest.post(f"/v1/opportunities/{deal['id']}/competitors", json={"name": "AquaServ"})  # the deal's version rises
    answer = browser.post(f"{CONSOLE}/deals/{deal['id']}/move", data={
        "csrf": token(page), "to": "lost", "reason": "gone quiet",
        "if_match": f'"{deal["version"]}.{deal["id"].replace("-", "")}"'})  # the version the page was made from
    assert answer.status_code == 412 and "does not match the current version" in text_of(answer)
    assert rest.get(f"/v1/opportunities/{deal['id']}").json()["status"] == "open"


def test_a_refused_move_lists_every_missing_requirement_and_changes_nothing(app: FastAPI,
                                                                            workplace: Workplace) -> None:
    rest = api(app, workplace, "rep.alex")
    deal = deal_at_questioning(rest)
    refusal = rest.post(f"/v1/opportunities/{deal['id']}/transitions", json={"to": "presentation"})
    assert refusal.status_code == 409
    messages = [f["message"] for f in refusal.json()["unmet"]]
    assert len([f for f in refusal.json()["unmet"] if f["severity"] == "block"]) >= 4
    browser = signed_in(app, workplace, "rep.alex")
    page = browser.get(f"{CONSOLE}/deals/{deal['id']}")
    before = rest.get(f"/v1/opportunities/{deal['id']}").json()
    answer = browser.post(f"{CONSOLE}/deals/{deal['id']}/move", data={"csrf": token(page), "to": "presentation"})
    assert answer.status_code == 409
    box = text_of(answer).split("The move to presentation was refused", 1)[1].split("DISCOVER", 1)[0]
    assert box.startswith(" The gate into solution design is not met, nor are others on the way.")
    for message in messages:
        assert message in box, message
    assert re.search(r'<a href="#gate-problems">Record it<', answer.text)  # the gate's own form, beside it
    assert re.search(r'<a href="#add-proposition">Record it<', answer.text)  # a form further on the way
    after = rest.get(f"/v1/opportunities/{deal['id']}").json()
    assert (after["step"], after["version"]) == ("questioning", before["version"])
    without_reason = browser.post(f"{CONSOLE}/deals/{deal['id']}/move", data={"csrf": token(page), "to": "planning"})
    assert without_reason.status_code == 422 and "must say why" in text_of(without_reason)


# The forms are the API's schemas ---------------------------------------------------------------------------------


class _Controls(HTMLParser):
    """The controls of a page (name, id, type) with the form each is in, and the ids that labels name."""

    def __init__(self) -> None:
        super().__init__()
        self.form: str | None = None
        self.controls: list[tuple[str | None, dict[str, str | None]]] = []
        self.labelled: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "form":
            self.form = found.get("id")
        elif tag in ("input", "select", "textarea") and found.get("type") != "hidden":
            self.controls.append((self.form, found))
        elif tag == "label" and found.get("for"):
            self.labelled.add(found["for"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.form = None


def test_every_record_kind_has_a_form_with_every_field_of_its_schema_each_labelled(app: FastAPI,
                                                                                 workplace: Workplace) -> None:
    rest = api(app, workplace, "rep.alex")
    deal = rest.post("/v1/opportunities", json=WATER_DEAL).json()
    for path, body in (("stakeholders", {"name": "Pat", "role": "user"}), ("problems", {"description": "Leaks"}),
                       ("tasks", {"title": "Call", "due_date": "2027-01-01"})):  # something each reference may name
        assert rest.post(f"/v1/opportunities/{deal['id']}/{path}", json=body).status_code == 201
    page = signed_in(app, workplace, "rep.alex").get(f"{CONSOLE}/deals/{deal['id']}")
    parsed = _Controls()
    parsed.feed(page.text)
    unlabelled = [c for _, c in parsed.controls if c.get("id") not in parsed.labelled]
    assert unlabelled == []
    names: dict[str | None, set[str]] = {}
    for form, control in parsed.controls:
        names.setdefault(form, set()).add((control.get("name") or "").split(".")[0])
    for kind in RECORD_KINDS.values():
        assert set(kind.create.model_fields) == names[f"add-{kind.collection}"], kind.collection
        assert len(form_for(kind.create)) == len(kind.create.model_fields)


# Lists: my deals, my tasks ---------------------------------------------------------------------------------------


def test_my_deals_filter_by_step_stale_and_overdue_tasks_and_page_with_the_api_cursor(
        app: FastAPI, workplace: Workplace) -> None:
    rest = api(app, workplace, "rep.alex")
    quiet, late, fresh = (rest.post("/v1/opportunities", json={**WATER_DEAL, "name": name}).json()
                          for name in ("Quiet deal", "Late deal", "Fresh deal"))
    with app.state.database.writer() as session:  # nobody has spoken to the customer for 30 days
        session.execute(update(Opportunity).where(Opportunity.id == uuid.UUID(quiet["id"])).values(
            step_entered_at=utcnow() - timedelta(days=30)))
        session.commit()
    yesterday = (utcnow() - timedelta(days=1)).date().isoformat()
    rest.post(f"/v1/opportunities/{late['id']}/tasks", json={"title": "Send the minutes", "due_date": yesterday})
    rest.post(f"/v1/opportunities/{fresh['id']}/stakeholders", json={"name": "Pat", "role": "user"})
    rest.post(f"/v1/opportunities/{fresh['id']}/meeting-plans", json={"objective": "Meet"})
    assert rest.post(f"/v1/opportunities/{fresh['id']}/transitions", json={"to": "opening"}).status_code == 200
    browser = signed_in(app, workplace, "rep.alex")

    def listed(query: str) -> list[str]:
        page = browser.get(f"{CONSOLE}?{query}")
        assert page.status_code == 200, page.text
        return re.findall(r'<a href="/console/deals/[0-9a-f-]+">([^<]+)</a>', page.text)

    assert listed("") == ["Quiet deal", "Late deal", "Fresh deal"]
    assert listed("stale=on") == ["Quiet deal"]
    assert listed("overdue=on") == ["Late deal"]
    assert listed("step=opening") == ["Fresh deal"]
    assert listed("step=planning&stale=on&overdue=on") == []
    assert "stale: 30 days without contact" in text_of(browser.get(CONSOLE))
    assert "1 overdue task" in text_of(browser.get(CONSOLE))
    assert browser.get(f"{CONSOLE}?sort=name").status_code == 400  # an unknown parameter, as the API refuses it

    for number in range(50):
        rest.post("/v1/opportunities", json={**WATER_DEAL, "name": f"Deal {number:02}"})
    first = browser.get(CONSOLE)
    following = re.search(r'href="/console\?([^"]*cursor=[^"]+)" rel="next"', first.text)
    assert following is not None
    second = listed(html.unescape(following.group(1)))
    assert second == ["Deal 47", "Deal 48", "Deal 49"]


def test_my_tasks_by_due_date_overdue_marked_and_completed_with_a_button(app: FastAPI,
                                                                           workplace: Workplace) -> None:
    rest = api(app, workplace, "rep.alex")
    deal = rest.post("/v1/opportunities", json=WATER_DEAL).json()
    today = utcnow().date()
    for title, due in (("Later call", today + timedelta(days=5)), ("Overdue minutes", today - timedelta(days=2))):
        rest.post(f"/v1/opportunities/{deal['id']}/tasks", json={"title": title, "due_date": due.isoformat()})
    browser = signed_in(app, workplace, "rep.alex")
    page = browser.get(f"{CONSOLE}/tasks")
    rows = re.findall(r"<tr( class=\"late\")?>\s*<td>([0-9-]+)", page.text)
    assert [(bool(late), day) for late, day in rows] == [(True, (today - timedelta(days=2)).isoformat()),
                                                         (False, (today + timedelta(days=5)).isoformat())]
    task = next(t for t in rest.get("/v1/tasks").json()["items"] if t["title"] == "Overdue minutes")
    done = browser.post(f"{CONSOLE}/tasks/{task['id']}/complete",
                        data={"csrf": token(page), "next": "/console/tasks?whose=mine"})
    assert done.status_code == 303 and done.headers["location"] == "/console/tasks?whose=mine&saved=task"
    stored = rest.get(f"/v1/opportunities/{deal['id']}/tasks/{task['id']}").json()
    assert stored["completed"] and stored["completed_by"] == "rep.alex"
    after = text_of(browser.get(done.headers["location"]))
    assert "Marked the task done." in after and "Overdue minutes" not in after and "Later call" in after


@pytest.mark.parametrize("path", ["", "/tasks", "/deals/{id}", "/deals/{id}/records/stakeholders/{record}"])
def test_every_page_answers_as_html_for_each_role(app: FastAPI, workplace: Workplace, path: str) -> None:
    rest = api(app, workplace, "rep.alex")
    deal = rest.post("/v1/opportunities", json=WATER_DEAL).json()
    record = rest.post(f"/v1/opportunities/{deal['id']}/stakeholders", json={"name": "Pat", "role": "user"}).json()
    for handle in ("rep.alex", "rep.kim", "ops.lee", "admin", "crm.sync"):
        page = signed_in(app, workplace, handle).get(CONSOLE + path.format(id=deal["id"], record=record["id"]))
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), (handle, page.text)


def test_a_record_is_changed_through_its_form_guarded_by_the_version_it_was_read_at(app: FastAPI,
                                                                                   workplace: Workplace) -> None:
    rest = api(app, workplace, "rep.alex")
    deal = rest.post("/v1/opportunities", json=WATER_DEAL).json()
    objection = rest.post(f"/v1/opportunities/{deal['id']}/objections",
                          json={"statement": "Too expensive", "category": "price"}).json()
    browser = signed_in(app, workplace, "rep.alex")
    url = f"{CONSOLE}/deals/{deal['id']}/records/objections/{objection['id']}"
    page = browser.get(url)
    assert ">Too expensive</textarea>" in page.text and '<option value="open" selected>' in page.text
    read_at = f'"{objection["version"]}.{objection["id"].replace("-", "")}"'
    fields = {"csrf": token(page), "if_match": read_at, "statement": "Too expensive", "category": "price",
              "status": "resolved", "resolution": "Phased payments over three years"}
    skipped = browser.post(url, data=fields)  # the record's own rule: qualify an objection before resolving it
    assert skipped.status_code == 422
    assert re.search(r'id="edit-objections-status-error">qualify the objection', skipped.text)
    qualified = browser.post(url, data={**fields, "status": "qualified", "underlying": "The budget is annual"})
    assert qualified.status_code == 303
    stale = browser.post(url, data={**fields, "underlying": "The budget is annual"})  # read at version 1
    assert stale.status_code == 412 and "does not match the current version" in text_of(stale)
    resolved = browser.post(url, data={**fields, "underlying": "The budget is annual",
                                       "if_match": f'"2.{objection["id"].replace("-", "")}"'})
    assert resolved.status_code == 303
    stored = rest.get(f"/v1/opportunities/{deal['id']}/objections/{objection['id']}").json()
    assert (stored["status"], stored["resolution"], stored["version"]) == ("resolved", fields["resolution"], 3)
    current = f'"3.{objection["id"].replace("-", "")}"'
    deleted = browser.post(f"{url}/delete", data={"csrf": token(page), "if_match": current})
    assert deleted.status_code == 303
    assert rest.get(f"/v1/opportunities/{deal['id']}/objections").json()["items"] == []


def test_every_console_page_declares_its_policy_and_stays_out_of_the_api_contract(app: FastAPI) -> None:
    public = {(route.path, method) for route in sign_in_pages.routes for method in getattr(route, "methods", ())}
    assert public == {("/console/sign-in", "GET"), ("/console/sign-in", "POST"), ("/console/sign-out", "POST")}
    assert len(pages.routes) >= 10
    for route in pages.routes:
        assert isinstance(route, ConsoleRoute) and route.openapi_extra["x-policy"]["roles"], route
    assert not [path for path in app.openapi()["paths"] if path.startswith(CONSOLE)]


def test_a_deal_closed_as_lost_is_reopened_by_a_manager_only(app: FastAPI, workplace: Workplace) -> None:
    rest = api(app, workplace, "rep.alex")
    deal = rest.post("/v1/opportunities", json=WATER_DEAL).json()
    url = f"{CONSOLE}/deals/{deal['id']}"
    alex, kim = signed_in(app, workplace, "rep.alex"), signed_in(app, workplace, "rep.kim")
    page = alex.get(url)
    assert alex.post(f"{url}/move", data={"csrf": token(page), "to": "lost", "reason": ""}).status_code == 422
    closed = alex.post(f"{url}/move", data={"csrf": token(page), "to": "lost", "reason": "Budget frozen"})
    assert closed.status_code == 303
    page = alex.get(url)
    assert "The deal is lost" in text_of(page) and 'id="reopen"' not in page.text
    assert 'id="add-stakeholders"' not in page.text  # a closed deal's records no longer change
    page = kim.get(url)
    assert 'id="reopen"' in page.text
    reopened = kim.post(f"{url}/move", data={"csrf": token(page), "to": "planning", "reason": "Budget released"})
    assert reopened.status_code == 303
    history = rest.get(f"/v1/opportunities/{deal['id']}/history").json()["items"]
    assert [(h["kind"], h["actor"], h["reason"]) for h in history[1:]] == [
        ("lost", "rep.alex", "Budget frozen"), ("reopen", "rep.kim", "Budget released")]
    assert "rep.kim reopened it at planning" in text_of(alex.get(url))


def test_bad_numbers_and_row_indices_in_a_form_are_refused_quickly_and_change_nothing(app: FastAPI,
                                                                                        workplace: Workplace) -> None:
    browser = signed_in(app, workplace, "rep.alex")
    csrf = token(browser.get(CONSOLE))
    before = dump(app)
    for amount in ("1e999990", "1e5000", "1e2000000", "9" * 5000):
        started = time.monotonic()
        answer = browser.post(f"{CONSOLE}/deals", data={"csrf": csrf, "name": "Huge", "account.name": "Acme",
                                                        "value.amount": amount, "value.currency": "EUR"})
        assert answer.status_code == 422 and time.monotonic() - started < 5, (amount, answer.status_code)
    deal = api(app, workplace, "rep.alex").post("/v1/opportunities", json=WATER_DEAL).json()
    before = dump(app)
    for index in ("²", "9" * 5000):
        answer = browser.post(f"{CONSOLE}/deals/{deal['id']}/records/acceptance",
                              data={"csrf": csrf, f"products.{index}.product": "Kit"})
        assert answer.status_code == 422, (index[:5], answer.status_code)
    assert dump(app) == before


def test_my_tasks_never_name_a_deal_the_caller_may_not_read(app: FastAPI, workplace: Workplace) -> None:
    rest = api(app, workplace, "rep.alex")
    deal = rest.post("/v1/opportunities", json={**WATER_DEAL, "name": "Secret Riverton expansion"}).json()
    rest.post(f"/v1/opportunities/{deal['id']}/tasks", json={"title": "Lend a hand", "owner": "rep.zoe",
                                                              "due_date": "2099-01-01"})
    page = text_of(signed_in(app, workplace, "rep.zoe").get(f"{CONSOLE}/tasks"))
    assert "Lend a hand" in page and "Secret Riverton expansion" not in page and "a deal of another team" in page


def test_buttons_and_the_account_form_carry_the_version_a_workspace_requiring_if_match_asks_for(
        app: FastAPI, workplace: Workplace) -> None:
    assert api(app, workplace, "admin").patch("/v1/admin/workspace", json={"require_if_match": True}).status_code == 200
    rest = api(app, workplace, "rep.alex")
    deal = rest.post("/v1/opportunities", json=WATER_DEAL).json()
    task = rest.post(f"/v1/opportunities/{deal['id']}/tasks", json={"title": "Call back", "due_date": "2099-01-01"},
                     headers={"If-Match": rest.get(f"/v1/opportunities/{deal['id']}").headers["etag"]}).json()
    browser = signed_in(app, workplace, "rep.alex")
    page = browser.get(f"{CONSOLE}/deals/{deal['id']}")
    tags = dict(re.findall(r'action="/console/(tasks/[^/"]+/complete|deals/[^/"]+/account)"[^>]*>.*?'
                           r'name="if_match" value="([^"]+)"', page.text, re.S))
    done = browser.post(f"{CONSOLE}/tasks/{task['id']}/complete",
                        data={"csrf": token(page), "if_match": html.unescape(tags[f"tasks/{task['id']}/complete"]),
                              "next": f"/console/deals/{deal['id']}"})
    assert done.status_code == 303, done.text
    account = browser.post(f"{CONSOLE}/deals/{deal['id']}/account", data={
        "csrf": token(page), "industry": "utilities", "if_match": html.unescape(tags[f"deals/{deal['id']}/account"])})
    assert account.status_code == 303, account.text
    assert rest.get(f"/v1/accounts/{deal['account']['id']}").json()["industry"] == "utilities"


def test_a_snoozed_deal_is_not_stale_in_the_console_either(app: FastAPI, workplace: Workplace) -> None:
    rest = api(app, workplace, "rep.alex")
    deal = rest.post("/v1/opportunities", json=WATER_DEAL).json()
    with app.state.database.writer() as session:
        session.execute(update(Opportunity).where(Opportunity.id == uuid.UUID(deal["id"])).values(
            step_entered_at=utcnow() - timedelta(days=40)))
        session.commit()
    browser = signed_in(app, workplace, "rep.alex")
    assert deal["id"] in browser.get(f"{CONSOLE}?stale=on").text
    until = (utcnow().date() + timedelta(days=30)).isoformat()
    rest.post(f"/v1/opportunities/{deal['id']}/snooze", json={"until": until, "reason": "Budget round"})
    assert deal["id"] not in browser.get(f"{CONSOLE}?stale=on").text
    assert "without contact" not in text_of(browser.get(f"{CONSOLE}/deals/{deal['id']}"))


def test_a_sign_in_posted_from_another_site_is_refused(app: FastAPI, workplace: Workplace) -> None:
    browser = TestClient(app, follow_redirects=False)
    for headers in ({"Origin": "https://evil.example"}, {"Referer": "https://evil.example/x"},
                    {"Sec-Fetch-Site": "cross-site"}):
        answer = browser.post(f"{CONSOLE}/sign-in", data={"key": workplace.keys["rep.alex"]}, headers=headers)
        assert answer.status_code == 403 and "set-cookie" not in answer.headers, headers
