"""The checklist tells the truth: for every item of the default process with a check, a deal that lacks what
the item names shows it not done, and recording exactly that shows it done; an item whose words no record can
show has no check at all (done is null)."""

import copy
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from app.processes.service import default_process
from tests.conftest import WATER_DEAL, Workplace

DEFAULT = Path(__file__).resolve().parent.parent / "app" / "phases" / "complex_sale.yaml"
EARLIER = (datetime.now(UTC) - timedelta(days=1)).isoformat()
TODAY = date.today().isoformat()
YESTERDAY = (date.today() - timedelta(days=1)).isoformat()
TOMORROW = (date.today() + timedelta(days=1)).isoformat()
IN_30_DAYS = (date.today() + timedelta(days=30)).isoformat()
EUR = "EUR"


@dataclass(frozen=True)
class Write:
    """A write under the deal: `{name}` in the path or in a string value is the id of the record saved as
    `name`; a path ending in /* writes every record of the kind; `saved_as` names the record this write makes."""

    method: str
    path: str
    body: dict[str, Any]
    saved_as: str | None = None


def post(path: str, body: dict[str, Any], saved_as: str | None = None) -> Write:
    """A record created."""
    return Write("POST", path, body, saved_as)


def put(path: str, body: dict[str, Any]) -> Write:
    """A singleton record recorded (or replaced)."""
    return Write("PUT", path, body)


def patch(path: str, body: dict[str, Any]) -> Write:
    """A record changed."""
    return Write("PATCH", path, body)


def person(saved_as: str, role: str = "economic_buyer", **fields: Any) -> Write:
    """A stakeholder."""
    return post("stakeholders", {"name": saved_as.title(), "role": role, **fields}, saved_as)


def cost(amount: int, basis: str | None = "Twelve outages a year") -> dict[str, Any]:
    """A yearly cost, with its basis unless that is None."""
    return {"amount": amount, "currency": EUR, "period": "year", "basis": basis}


def problem(saved_as: str, amount: int | None = 42_000_000, **fields: Any) -> Write:
    """A problem, with a yearly cost (and its basis) unless the amount is None."""
    return post("problems", {"description": f"Problem {saved_as}", "cost": None if amount is None else cost(amount),
                             **fields}, saved_as)


@dataclass(frozen=True)
class Row:
    """An item of a step's checklist: what the deal holds before it is placed at the step (`setup`), what leaves
    the item lacking (shown not done), then what completes it. An item about every record of a kind holds on a
    deal with none (`holds_on_none`) until one is written that lacks it."""

    step: str
    text: str
    lacking: list[Write]
    completing: list[Write]
    setup: list[Write] = field(default_factory=list)
    holds_on_none: bool = False


PROFILE = {"strategic_issues": ["Meet the 2027 water directive"], "priorities": ["Fewer outages"],
           "budget": {"amount": 200_000_000, "currency": EUR}}
UNSURE = {"urgency": "unknown", "resources": "unknown"}
MEETING = {"kind": "meeting", "occurred_at": EARLIER}
SCOPE = {"name": "Filter monitoring", "price": {"amount": 90_000_000, "currency": EUR}}
ROWS = [
    Row("planning", "Research the account before you meet it; the bigger the organisation, the deeper the research.",
        [], [put("account-profile", {"size": "1,200 staff"})]),
    Row("planning", "Learn its strategic issues, priorities and financial parameters: budget and fiscal year end.",
        [put("account-profile", {}), put("account-profile", PROFILE)],
        [put("account-profile", {**PROFILE, "fiscal_year_end": "12-31"})]),
    Row("planning", "Find out who supplies them today and how that supplier will react when its business is at risk.",
        [post("competitors", {"name": "Aqua", "expected_reaction": "Cuts its price"}),
         post("competitors", {"name": "Hydro", "incumbent": True}, "incumbent")],
        [patch("competitors/{incumbent}", {"expected_reaction": "Offers a free service year"})]),
    Row("planning", "Name the decision-makers and influencers you can, with their needs and motives.",
        [person("user", "user", needs="Less overtime", motives="A quiet life"),
         person("buyer", needs="Compliance")],
        [patch("stakeholders/{buyer}", {"motives": "Re-election"})]),
    Row("planning", "Get a feel for the organisation's politics: who relates to whom, and how.",
        [post("politics-notes", {"note": "Procurement and engineering do not talk"})],
        [post("politics-notes", {"note": "The buyer defers to the engineer", "stakeholder_ids": ["{buyer}"]})],
        setup=[person("buyer")]),
    Row("planning", "Decide what you want from the first meeting and write the questions you must ask.",
        [post("meeting-plans", {"objective": "Understand the outages"})],
        [post("meeting-plans", {"objective": "Understand the outages", "questions": ["How often do filters fail?"]})]),
    Row("opening", "Agree the purpose of the meeting with the customer, centred on their situation.",
        [post("activities", {**MEETING, "kind": "call", "purpose_agreed": "Diagnosis"}), post("activities", MEETING)],
        [post("activities", {**MEETING, "purpose_agreed": "Diagnosis"})]),
    Row("opening", "Ask how much time they have and agree when to finish.",
        [post("activities", {**MEETING, "kind": "call", "minutes_agreed": 30}), post("activities", MEETING)],
        [post("activities", {**MEETING, "minutes_agreed": 45})]),
    Row("questioning", "Quantify what each problem costs the customer: an amount, whether once, a month or a year, "
                       "and how the figure was reached.",
        [problem("leaks", None), patch("problems/{leaks}", {"cost": cost(5_000_000, basis=None)})],
        [patch("problems/{leaks}", {"cost": cost(5_000_000, basis="Two burst mains a year")})]),
    Row("questioning", "Have the customer confirm each problem in their own words; it is their problem, not yours.",
        [problem("leaks"), problem("outages", confirmation={"stakeholder_id": "{buyer}"})],
        [patch("problems/{leaks}", {"confirmation": {"stakeholder_id": "{buyer}"}})], setup=[person("buyer")]),
    Row("questioning", "Learn how they decide, when, and who signs.",
        [put("decision-process", {"steps": ["Council vote"]}),
         put("decision-process", {"steps": ["Council vote"], "decision_date": "2027-03-01"})],
        [put("decision-process", {"steps": ["Council vote"], "decision_date": "2027-03-01",
                                  "signer_id": "{buyer}"})], setup=[person("buyer")]),
    Row("questioning", "Establish whether there is an urgent reason to change.",
        [put("qualification", {"urgency": "unknown", "resources": "yes",
                                "budget_available": {"amount": 1, "currency": EUR}})],
        [put("qualification", {"urgency": "no", "resources": "yes",
                               "budget_available": {"amount": 1, "currency": EUR}})]),
    Row("questioning", "Establish whether they have the budget and people to act, and what budget is available.",
        [put("qualification", {"urgency": "yes", "compelling_event": "Directive", "resources": "unknown"}),
         put("qualification", {"urgency": "yes", "compelling_event": "Directive", "resources": "yes"})],
        [put("qualification", {"urgency": "yes", "compelling_event": "Directive", "resources": "yes",
                               "budget_available": {"amount": 100_000_000, "currency": EUR}})]),
    Row("solution_design", "Lay out the options, including the competitors' and doing nothing, and record why each is "
                           "chosen or set aside.",
        [post("solution-options", {"name": "Ours", "provider": "ours", "decision": "chosen",
                                   "decision_reason": "Solves both problems"}),
         post("solution-options", {"name": "Aqua", "provider": "competitor"}, "rival")],
        [patch("solution-options/{rival}", {"decision": "set_aside", "decision_reason": "No monitoring"}),
         post("solution-options", {"name": "Nothing", "provider": "do_nothing", "decision": "set_aside",
                                   "decision_reason": "The outages go on"})]),
    Row("solution_design", "State the central proposition: the one main benefit, tied to the problems it solves.",
        [put("proposition", {"benefit": "No more emergencies"})],
        [put("proposition", {"benefit": "No more emergencies", "problem_ids": ["{outages}"]})],
        setup=[problem("outages")]),
    Row("solution_design", "Tie every scope item to a diagnosed problem; leave out what solves nothing.",
        [post("scope-items", SCOPE, "item")], [patch("scope-items/{item}", {"problem_ids": ["{outages}"]})],
        setup=[problem("outages")]),
    Row("solution_design", "Keep the price within the customer's budget.",
        [post("scope-items", SCOPE), put("qualification", {**UNSURE, "budget_available": {"amount": 1, "currency": EUR}})],
        [put("qualification", {**UNSURE, "budget_available": {"amount": 100_000_000, "currency": EUR}})]),
    Row("solution_design", "Keep the price below what the problems cost the customer over the payback horizon.",
        [problem("outages", 1_000_000), post("scope-items", {**SCOPE, "problem_ids": ["{outages}"]})],
        [patch("problems/{outages}", {"cost": cost(42_000_000)})]),
    Row("solution_design", "Know every decision-maker's needs, and win over any who is a sceptic or an opponent, before "
                           "you present.",
        [person("buyer"), patch("stakeholders/{buyer}", {"needs": "Compliance", "stance": "sceptic"})],
        [patch("stakeholders/{buyer}", {"stance": "supporter"})], setup=[person("user", "user")],
        holds_on_none=True),
    Row("solution_design", "Have the customer commit to a next step with a date: design work without a commitment is "
                           "unpaid consulting.",
        [post("activities", {**MEETING, "next_step": "Site visit"})],
        [post("activities", {**MEETING, "next_step": "Site visit", "next_step_on": TOMORROW})]),
    Row("solution_design", "Rehearse: preview the proposal with a stakeholder before you present it, and adjust it to "
                           "what you hear.",
        [], [post("proposal-previews", {"stakeholder_id": "{buyer}", "previewed_at": EARLIER})],
        setup=[person("buyer")]),
    Row("presentation", "Present to the people who decide, in their language.",
        [post("presentations", {"held_at": EARLIER, "audience_ids": ["{user}"]}),
         post("presentations", {"audience_ids": ["{buyer}"]}, "planned")],
        [patch("presentations/{planned}", {"held_at": EARLIER})], setup=[person("buyer"), person("user", "user")]),
    Row("negotiation", "You have handled the objections when every one you wrote down is resolved or withdrawn.",
        [post("objections", {"statement": "Too dear", "category": "price"}, "price")],
        [patch("objections/{price}", {"status": "qualified", "underlying": "Cash flow this year"}),
         patch("objections/{price}", {"status": "resolved", "resolution": "Phased payments"})], holds_on_none=True),
    Row("negotiation", "Note the buying signals you see.",
        [], [post("buying-signals", {"description": "Asked about delivery dates"})]),
    Row("closing", "Record the formal acceptance: who accepted, when, the order value, products and quantities, the "
                   "paperwork reference.",
        [], [put("acceptance", {"accepted_by_id": "{buyer}", "accepted_at": EARLIER,
                                "order_value": {"amount": 90_000_000, "currency": EUR},
                                "products": [{"product": "Filter monitoring", "quantity": 4}],
                                "paperwork_reference": "PO-118"})], setup=[person("buyer")]),
    Row("follow_up", "Keep every follow-up task on time.",
        [post("tasks", {"title": "Install the sensors", "due_date": YESTERDAY}, "late")],
        [patch("tasks/{late}", {"completed": True})], holds_on_none=True),
    Row("follow_up", "See the back-office work through (account, delivery, installation, invoice, training): "
                     "others do it, you answer for it. The follow-up is marked done only when all of it is.",
        [post("tasks", {"title": "Deliver the order", "kind": "back_office", "due_date": IN_30_DAYS})],
        [patch("tasks/*", {"completed": True})]),  # the win made the plan's back-office tasks: none is done
    Row("follow_up", "Keep every promise made at the close by its date.",
        [post("promises", {"what": "Train the night shift", "due_on": YESTERDAY}, "training")],
        [patch("promises/{training}", {"kept_on": YESTERDAY})], holds_on_none=True),
    Row("follow_up", "At each check-in from day 30, record for every diagnosed problem whether it is solved and what "
                     "it costs now.",
        [post("tasks", {"title": "Check in", "kind": "check_in", "due_date": IN_30_DAYS, "completed": True}, "visit"),
         post("value-reviews", {"problem_id": "{outages}", "task_id": "{visit}", "reviewed_on": TODAY,
                                "solved": False, "cost_now": {"amount": 1_000_000, "currency": EUR}})],
        [post("value-reviews", {"problem_id": "{outages}", "task_id": "{visit}", "reviewed_on": TODAY,
                                "solved": True})], setup=[problem("outages")], holds_on_none=True),
]


def _filled(value: Any, ids: dict[str, str]) -> Any:
    """The value with each `{name}` replaced by the id saved as name."""
    if isinstance(value, str):
        return value.format(**ids) if "{" in value else value
    if isinstance(value, list):
        return [_filled(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _filled(v, ids) for k, v in value.items()}
    return value


def _write(client: TestClient, oid: str, write: Write, ids: dict[str, str]) -> None:
    if write.path.endswith("/*"):  # every record of the kind
        listed = client.get(f"/v1/opportunities/{oid}/{write.path[:-2]}").json()["items"]
        for record in listed:
            _write(client, oid, Write(write.method, f"{write.path[:-2]}/{record['id']}", write.body), ids)
        return
    path = f"/v1/opportunities/{oid}/{_filled(write.path, ids)}"
    answer = client.request(write.method, path, json=_filled(write.body, ids))
    assert answer.status_code in (200, 201), (write, answer.text)
    if write.saved_as:
        ids[write.saved_as] = answer.json()["id"]


def _done(client: TestClient, oid: str, text: str) -> bool | None:
    checklist = {c["text"]: c["done"] for c in client.get(f"/v1/opportunities/{oid}/guidance").json()["checklist"]}
    assert text in checklist, f"{text!r} is not on this step's checklist: {sorted(checklist)}"
    return checklist[text]


def _default_checklist() -> dict[str, dict[str, Any]]:
    """The default process's checklist items, by text."""
    spec = yaml.safe_load(DEFAULT.read_text())
    return {item["text"]: {**item, "step": s["name"]} for s in spec["steps"] for item in s["checklist"]}


def test_every_checked_item_of_the_default_process_is_in_the_table() -> None:
    checked = {text for text, item in _default_checklist().items() if "kind" in item or "rule" in item}
    assert checked == {row.text for row in ROWS}


@pytest.mark.parametrize("row", ROWS, ids=[f"{r.step}:{r.text[:40]}" for r in ROWS])
def test_an_item_is_done_only_when_the_deal_holds_what_it_names(client: TestClient, workplace: Workplace,
                                                                  row: Row) -> None:
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    ids: dict[str, str] = {}
    for write in row.setup:
        _write(client, oid, write, ids)
    if row.step != "planning":
        moved = client.post(f"/v1/opportunities/{oid}/transitions", headers=workplace.as_user("admin"),
                            json={"to": row.step, "override": "Placed here to read its checklist"})
        assert moved.status_code == 200, moved.text
    assert _done(client, oid, row.text) is row.holds_on_none
    for write in row.lacking:
        _write(client, oid, write, ids)
        assert _done(client, oid, row.text) is False, write
    for write in row.completing:
        _write(client, oid, write, ids)
    assert _done(client, oid, row.text) is True


def test_an_item_no_record_can_show_is_never_judged(client: TestClient, opportunity: dict[str, Any]) -> None:
    unchecked = {text for text, item in _default_checklist().items() if item["step"] == "planning"
                 and "kind" not in item and "rule" not in item}
    checklist = client.get(f"/v1/opportunities/{opportunity['id']}/guidance").json()["checklist"]
    assert unchecked and {c["text"] for c in checklist if c["done"] is None} == unchecked


def test_a_completeness_check_naming_a_field_its_records_lack_is_refused(client: TestClient,
                                                                        workplace: Workplace) -> None:
    spec = copy.deepcopy(default_process()[1])
    spec["steps"][0]["checklist"].append({"text": "Needs", "kind": "records_complete",
                                          "params": {"collection": "stakeholders", "fields": ["neds"]}})
    answer = client.post("/v1/processes/complex-sale/versions", json=spec, headers=workplace.as_user("ops.lee"))
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert error["pointer"] == f"/steps/0/checklist/{len(spec['steps'][0]['checklist']) - 1}/params"
    assert "stakeholders has no field neds; its fields are" in error["message"] and "needs" in error["message"]
