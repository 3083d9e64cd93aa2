"""Sales ops configure the process: versions, CEL rules, validation, dry runs, migrations, overrides."""

import copy
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.processes.service import default_process
from tests.conftest import ECONOMIC_BUYER, WATER_DEAL, Workplace, count_rows
from tests.method import post, prepare

PROCESSES = "/v1/processes"
BIG_DEAL_RULE = {  # only for deals above 100,000.00 EUR: two decision-makers
    "code": "ops.two_deciders_on_big_deals",
    "rule": "stakeholders.filter(s, s.role in ['decision_maker', 'economic_buyer']).size() >= 2",
    "when": "opportunity.value != null && opportunity.value.currency == 'EUR' && opportunity.value.amount > 10000000",
    "message": "Deals above 100,000.00 EUR need two decision-makers on record.",
    "fix": "/v1/opportunities/{opportunity_id}/stakeholders",
}


def default_spec() -> dict[str, Any]:
    """A fresh copy of the default process's content."""
    return copy.deepcopy(default_process()[1])


@pytest.fixture
def ops(app: FastAPI, workplace: Workplace) -> TestClient:
    """Sales ops, who configure processes."""
    return TestClient(app, headers=workplace.as_user("ops.lee"))


@pytest.fixture
def manager(app: FastAPI, workplace: Workplace) -> TestClient:
    """The Water team's manager."""
    return TestClient(app, headers=workplace.as_user("rep.kim"))


def publish_version(ops: TestClient, spec: dict[str, Any], key: str = "complex-sale") -> int:
    """Store a draft and publish it; returns its number."""
    created = ops.post(f"{PROCESSES}/{key}/versions", json=spec)
    assert created.status_code == 201, created.text
    number = created.json()["version"]
    assert ops.post(f"{PROCESSES}/{key}/versions/{number}/publish").status_code == 200
    return int(number)


def with_gate_rule(spec: dict[str, Any], step: str, requirement: dict[str, Any]) -> dict[str, Any]:
    """The spec with one more requirement in the gate into a step."""
    spec = copy.deepcopy(spec)
    spec["gates"].setdefault(step, []).append(requirement)
    return spec


def opened(client: TestClient) -> dict[str, Any]:
    """A deal moved to opening, with what its gate needs."""
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    prepare(client, oid, "opening")
    moved = client.post(f"/v1/opportunities/{oid}/transitions", json={"to": "opening"})
    assert moved.status_code == 200, moved.text
    return dict(moved.json())


def test_every_workspace_starts_with_the_default_process_published_as_version_1(client: TestClient) -> None:
    [process] = client.get(PROCESSES).json()["items"]
    assert (process["key"], process["latest_published"], process["title"]) == ("complex-sale", 1, "Complex sale")
    version = client.get(f"{PROCESSES}/complex-sale/versions/1")
    assert version.status_code == 200 and version.headers["ETag"]
    spec = version.json()["spec"]
    assert spec["settings"]["payback_horizon_months"] == 36 and spec["overrides"]["roles"] == ["manager", "admin"]
    assert [r["code"] for r in spec["gates"]["presentation"]][:2] == [
        "diagnose.problem_cost_quantified", "diagnose.problem_cost_confirmed"]
    created = client.post("/v1/opportunities", json=WATER_DEAL).json()
    assert created["process"] == {"key": "complex-sale", "version": 1}


def test_context_schema_and_kinds_tell_ops_what_rules_can_read(client: TestClient) -> None:
    schema = client.get(f"{PROCESSES}/context-schema").json()
    assert {"now", "opportunity", "stakeholders", "problems", "qualification", "acceptance"} <= set(schema["properties"])
    problem = schema["$defs"]["ProblemRead"]["properties"]
    assert "cost" in problem and "confirmation" in problem
    kinds = {k["kind"]: k for k in client.get(f"{PROCESSES}/kinds").json()["items"]}
    assert kinds["stakeholder_role"]["params"]["properties"]["min"]["default"] == 1
    assert kinds["price_paid_back"]["settings"] == {"horizon_months": "payback_horizon_months"}


def test_publishing_pins_new_deals_and_leaves_running_deals_on_their_version(
        client: TestClient, ops: TestClient) -> None:
    before = client.post("/v1/opportunities", json=WATER_DEAL).json()
    spec = with_gate_rule(default_spec(), "opening", {"code": "ops.two_stakeholders", "rule": "stakeholders.size() >= 2",
                                                      "message": "Name two people before opening."})
    draft = ops.post(f"{PROCESSES}/complex-sale/versions", json=spec)
    assert draft.status_code == 201 and draft.json()["status"] == "draft" and draft.json()["version"] == 2
    assert client.post("/v1/opportunities", json=WATER_DEAL).json()["process"]["version"] == 1  # a draft runs nothing
    assert ops.post(f"{PROCESSES}/complex-sale/versions/2/publish").json()["status"] == "published"
    after = client.post("/v1/opportunities", json=WATER_DEAL).json()
    assert after["process"] == {"key": "complex-sale", "version": 2}

    for deal in (before, after):  # each deal is judged by its own version
        post(client, deal["id"], "stakeholders", ECONOMIC_BUYER)
        post(client, deal["id"], "meeting-plans", {"objective": "Learn the outage history"})
    assert client.post(f"/v1/opportunities/{before['id']}/transitions", json={"to": "opening"}).status_code == 200
    refused = client.post(f"/v1/opportunities/{after['id']}/transitions", json={"to": "opening"})
    assert refused.status_code == 409
    assert [u["code"] for u in refused.json()["unmet"]] == ["ops.two_stakeholders"]
    assert refused.json()["unmet"][0]["details"] == {"rule": "stakeholders.size() >= 2"}


def test_a_published_version_never_changes(ops: TestClient) -> None:
    spec = default_spec()
    assert ops.put(f"{PROCESSES}/complex-sale/versions/1", json=spec).status_code == 409
    assert ops.post(f"{PROCESSES}/complex-sale/versions/1/publish").status_code == 409
    draft = ops.post(f"{PROCESSES}/complex-sale/versions", json=spec)
    etag = draft.headers["ETag"]
    spec["title"] = "Complex sale, revised"
    edited = ops.put(f"{PROCESSES}/complex-sale/versions/2", json=spec, headers={"If-Match": etag})
    assert edited.status_code == 200 and edited.json()["spec"]["title"] == "Complex sale, revised"
    stale = ops.put(f"{PROCESSES}/complex-sale/versions/2", json=spec, headers={"If-Match": etag})
    assert stale.status_code == 412
    assert ops.post(f"{PROCESSES}/complex-sale/versions/2/publish").status_code == 200
    assert ops.put(f"{PROCESSES}/complex-sale/versions/2", json=spec).status_code == 409
    assert ops.get(f"{PROCESSES}/complex-sale/versions/1").json()["spec"]["title"] == "Complex sale"


def test_only_ops_and_admins_change_processes(client: TestClient, manager: TestClient) -> None:
    for caller in (client, manager):
        assert caller.post(f"{PROCESSES}/complex-sale/versions", json=default_spec()).status_code == 403
        assert caller.post(f"{PROCESSES}/complex-sale/versions/1/dry-run", json={}).status_code == 403


def test_saving_a_draft_reports_every_error_at_once_and_stores_nothing(app: FastAPI, ops: TestClient) -> None:
    spec = default_spec()
    spec["steps"].append({"name": "audit", "phase": "deploy"})
    first = len(spec["gates"]["opening"])  # the pointers below count from the first requirement added
    spec["gates"]["opening"] += [
        {"code": "ops.syntax", "rule": "stakeholders.exists(s, s.role ==", "message": "m"},
        {"code": "ops.unknown_field", "rule": "problems.exists(p, p.price.amount > 0)", "message": "m"},
        {"code": "ops.not_boolean", "rule": "stakeholders.size() >= 1", "when": "opportunity.value.amount",
         "message": "m"},
        {"code": "ops.mixed_types", "rule": "opportunity.value.amount > 2.5", "message": "m"},
        {"code": "discover.industry_known", "kind": "opportunity_field", "params": {"field": "name"}, "message": "m"},
        {"code": "ops.both", "kind": "records_present", "rule": "true", "params": {"collection": "competitors"},
         "message": "m"},
        {"code": "ops.bad_params", "kind": "stakeholder_role", "params": {"min": 0, "roles": ["boss"]}, "message": "m"},
        {"code": "ops.unknown_kind", "kind": "crystal_ball", "message": "m"},
        {"code": "ops.bad_fix", "kind": "meeting_objective_set", "message": "m", "fix": "/v1/{opportunity_id:>999999}"},
        {"code": "ops.rule_params", "rule": "stakeholders.size() > 0", "params": {"min": 1}, "message": "m"},
    ]
    spec["steps"][1]["checklist"].append({"text": "Both", "kind": "meeting_objective_set", "rule": "true"})
    spec["gates"]["negotiation"] += [{"code": "ops.never", "rule": "1 > 2", "overridable": False, "message": "m"},
                                     {"code": "discover.stakeholder_identified", "kind": "meeting_objective_set",
                                      "message": "m"}]
    spec["gates"]["nowhere"] = []
    spec["gates"]["planning"] = [{"code": "ops.first", "kind": "meeting_objective_set", "message": "m"}]
    before = count_rows(app)
    answer = ops.post(f"{PROCESSES}/complex-sale/versions", json=spec)
    assert answer.status_code == 422 and answer.headers["content-type"] == "application/problem+json"
    errors = {(e["pointer"], e["message"].split(":")[0]) for e in answer.json()["errors"]}

    def at(added: int) -> str:
        return f"/gates/opening/{first + added}"

    assert errors == {
        (at(0) + "/rule", "rule"), (at(1) + "/rule", "rule"), (at(2) + "/when", "condition"), (at(3) + "/rule", "rule"),
        (at(4) + "/code", "duplicate code 'discover.industry_known' in the gate into opening"), (at(5), "a requirement has either a built-in "
                                                                      "'kind' or a CEL 'rule', not both or neither"),
        (at(9) + "/params", "params belong to a built-in kind; a CEL rule takes none"),
        ("/steps/1/checklist/4", "a checklist item has a built-in 'kind' or a CEL 'rule', not both"),
        (at(6) + "/params/min", "stakeholder_role"),
        (at(6) + "/params/roles/0", "stakeholder_role"), (at(7) + "/kind", "unknown requirement kind 'crystal_ball'"),
        (at(8) + "/fix", "a fix may hold {opportunity_id} and {account_id}, and no other braces"),
        ("/gates/negotiation/1/rule", "ops.never is never met and cannot be overridden, so no deal can reach "
                                      "negotiation, closing, follow_up, audit"),
        ("/gates/negotiation/2/code", "duplicate code 'discover.stakeholder_identified'"),
        ("/gates/nowhere", "unknown step 'nowhere'"),
        ("/gates/planning", "'planning' is where every deal starts; the first step has no gate"),
    }
    by_pointer = {e["pointer"]: e for e in answer.json()["errors"]}
    assert (by_pointer[at(0) + "/rule"]["line"], by_pointer[at(0) + "/rule"]["column"]) == (1, 33)
    assert "p.price: no such field" in by_pointer[at(1) + "/rule"]["message"]
    assert by_pointer[at(1) + "/rule"]["column"] == 21
    assert "must be true or false, not int" in by_pointer[at(2) + "/when"]["message"]
    assert "compares an integer with a decimal number" in by_pointer[at(3) + "/rule"]["message"]
    assert count_rows(app) == before


def test_a_condition_limits_a_cel_rule_to_the_deals_it_names(client: TestClient, ops: TestClient) -> None:
    publish_version(ops, with_gate_rule(default_spec(), "presentation", BIG_DEAL_RULE))
    small = client.post("/v1/opportunities", json={**WATER_DEAL, "value": {"amount": 9000000, "currency": "EUR"}})
    big = client.post("/v1/opportunities", json=WATER_DEAL)  # 1,250,000.00 EUR
    for deal in (small.json(), big.json()):
        prepare(client, deal["id"], "presentation")
    small_gate = client.get(f"/v1/opportunities/{small.json()['id']}/gates/presentation").json()
    big_gate = client.get(f"/v1/opportunities/{big.json()['id']}/gates/presentation").json()
    assert small_gate["skipped"] == ["ops.two_deciders_on_big_deals"]
    assert "ops.two_deciders_on_big_deals" not in small_gate["met"] + [u["code"] for u in small_gate["unmet"]]
    assert [u["code"] for u in big_gate["unmet"] if u["severity"] == "block"] == ["ops.two_deciders_on_big_deals"]
    post(client, big.json()["id"], "stakeholders", {"name": "Dana Ruiz", "role": "decision_maker"})
    big_gate = client.get(f"/v1/opportunities/{big.json()['id']}/gates/presentation").json()
    assert "ops.two_deciders_on_big_deals" in big_gate["met"] and big_gate["passed"]


def test_a_dry_run_counts_what_a_draft_would_newly_block_and_release(app: FastAPI, client: TestClient,
                                                                     ops: TestClient) -> None:
    def deal(name: str, industry: str | None, people: int) -> str:
        oid = client.post("/v1/opportunities", json={**WATER_DEAL, "name": name,
                                                      "account": {"name": name, "industry": industry}}).json()["id"]
        for i in range(people):
            post(client, oid, "stakeholders", {"name": f"Person {i}", "role": "user"})
        return oid

    two_people = deal("two people", "utilities", 2)
    one_person = deal("one person", "utilities", 1)
    no_industry = deal("no industry", None, 2)
    nobody = deal("nobody", None, 0)
    lost = deal("lost", None, 1)
    client.post(f"/v1/opportunities/{lost}/transitions", json={"to": "lost", "reason": "went elsewhere"})
    spec = with_gate_rule(default_spec(), "opening", {"code": "ops.two_people", "rule": "stakeholders.size() >= 2",
                                                      "message": "Name two people."})
    spec["gates"]["opening"] = [r for r in spec["gates"]["opening"] if r["code"] != "discover.industry_known"]
    draft = ops.post(f"{PROCESSES}/complex-sale/versions", json=spec).json()["version"]
    before = count_rows(app)

    result = ops.post(f"{PROCESSES}/complex-sale/versions/{draft}/dry-run", json={})
    assert result.status_code == 200, result.text
    report = result.json()
    assert report["evaluated"] == 4  # the open deals
    impact = {r["code"]: r for r in report["requirements"]}
    assert set(impact) == {"ops.two_people", "discover.industry_known"}
    assert impact["ops.two_people"]["step"] == "opening"
    assert sorted(impact["ops.two_people"]["newly_blocked"]["ids"]) == sorted([one_person, nobody])
    assert impact["ops.two_people"]["released"]["count"] == 0
    assert sorted(impact["discover.industry_known"]["released"]["ids"]) == sorted([no_industry, nobody])
    assert impact["discover.industry_known"]["newly_blocked"]["count"] == 0
    assert report["step_missing"]["count"] == 0
    assert two_people not in str(report["requirements"])
    assert count_rows(app) == before  # a dry run changes nothing

    limited = ops.post(f"{PROCESSES}/complex-sale/versions/{draft}/dry-run",
                       json={"ids": [one_person, two_people], "max_ids": 0}).json()
    assert limited["evaluated"] == 2
    assert [(r["code"], r["newly_blocked"]["count"], r["newly_blocked"]["truncated"])
            for r in limited["requirements"]] == [("ops.two_people", 1, True)]


def test_migrating_moves_open_deals_and_reports_whether_their_gate_still_holds(client: TestClient,
                                                                               ops: TestClient) -> None:
    ready, thin = (opened(client) for _ in range(2))
    post(client, ready["id"], "stakeholders", {"name": "Second", "role": "user"})
    untouched = client.post("/v1/opportunities", json=WATER_DEAL).json()
    spec = with_gate_rule(default_spec(), "opening", {"code": "ops.two_people", "rule": "stakeholders.size() >= 2",
                                                      "message": "Name two people."})
    draft = ops.post(f"{PROCESSES}/complex-sale/versions", json=spec).json()["version"]
    assert ops.post(f"{PROCESSES}/complex-sale/versions/{draft}/migrate", json={}).status_code == 409  # a draft
    ops.post(f"{PROCESSES}/complex-sale/versions/{draft}/publish")

    thin = client.get(f"/v1/opportunities/{thin['id']}").json()
    answer = ops.post(f"{PROCESSES}/complex-sale/versions/{draft}/migrate", json={"ids": [ready["id"], thin["id"]]})
    assert answer.status_code == 200, answer.text
    report = {e["id"]: e for e in answer.json()["opportunities"]}
    assert answer.json()["migrated"] == 2
    assert (report[ready["id"]]["gate_holds"], report[ready["id"]]["unmet"]) == (True, [])
    assert (report[thin["id"]]["gate_holds"], report[thin["id"]]["unmet"]) == (False, ["ops.two_people"])
    moved = client.get(f"/v1/opportunities/{thin['id']}").json()
    assert (moved["step"], moved["process"]["version"], moved["version"]) == ("opening", draft, thin["version"] + 1)
    history = client.get(f"/v1/opportunities/{thin['id']}/history").json()["items"]
    assert history[-1]["kind"] == "migrate" and history[-1]["seq"] == moved["version"]
    assert client.get(f"/v1/opportunities/{untouched['id']}").json()["process"]["version"] == 1
    assert ops.post(f"{PROCESSES}/complex-sale/versions/{draft}/migrate",
                    json={"ids": [thin["id"]]}).json()["migrated"] == 0  # already there


def test_overrides_need_a_named_role_and_an_overridable_requirement(client: TestClient, manager: TestClient,
                                                                    ops: TestClient) -> None:
    oid = opened(client)["id"]
    justification = {"to": "questioning", "override": "Met them at the trade fair; minutes follow."}
    assert client.post(f"/v1/opportunities/{oid}/transitions", json=justification).status_code == 403  # a rep
    assert manager.post(f"/v1/opportunities/{oid}/transitions",
                        json={"to": "planning", "reason": "x", "override": "y"}).status_code == 422
    moved = manager.post(f"/v1/opportunities/{oid}/transitions", json=justification)
    assert moved.status_code == 200 and moved.json()["step"] == "questioning"
    entry = client.get(f"/v1/opportunities/{oid}/history").json()["items"][-1]
    assert entry["overridden"] == ["opening.first_meeting_logged"]
    assert entry["override_justification"] == justification["override"]
    assert entry["gates"][0]["passed"] is False

    spec = default_spec()
    for requirement in spec["gates"]["solution_design"] + spec["gates"]["presentation"]:  # one code, one meaning
        requirement["overridable"] = requirement["code"] != "diagnose.problem_cost_confirmed"
    spec["overrides"]["roles"] = ["manager"]
    publish_version(ops, spec)
    ops.post(f"{PROCESSES}/complex-sale/versions/2/migrate", json={"ids": [oid]})
    refused = manager.post(f"/v1/opportunities/{oid}/transitions", json={"to": "solution_design",
                                                                          "override": "Trust me."})
    assert refused.status_code == 409
    assert "diagnose.problem_cost_confirmed" in refused.json()["detail"]
    assert [u["overridable"] for u in refused.json()["unmet"] if u["code"] == "diagnose.problem_cost_confirmed"] == [False]


def test_processes_live_side_by_side_and_a_deal_picks_one(client: TestClient, ops: TestClient) -> None:
    renewal = {"key": "renewal", "title": "Renewal", "phases": ["review", "renew"],
               "steps": [{"name": "review", "phase": "review"}, {"name": "offer", "phase": "renew"},
                         {"name": "renewed", "phase": "renew"}],
               "gates": {"offer": [{"code": "renewal.usage_known", "kind": "records_present",
                                    "params": {"collection": "account_profile"}, "message": "Record the usage."}]}}
    created = ops.post(PROCESSES, json=renewal)
    assert created.status_code == 201 and created.json()["status"] == "draft"
    assert ops.post(PROCESSES, json=renewal).status_code == 409
    assert client.post("/v1/opportunities", json={**WATER_DEAL, "process": "renewal"}).status_code == 422
    ops.post(f"{PROCESSES}/renewal/versions/1/publish")
    deal = client.post("/v1/opportunities", json={**WATER_DEAL, "process": "renewal"}).json()
    assert (deal["process"], deal["step"], deal["phase"]) == ({"key": "renewal", "version": 1}, "review", "review")
    refused = client.post(f"/v1/opportunities/{deal['id']}/transitions", json={"to": "next"})
    assert [u["code"] for u in refused.json()["unmet"]] == ["renewal.usage_known"]
    assert [p["key"] for p in client.get(PROCESSES).json()["items"]] == ["complex-sale", "renewal"]
    assert client.get("/v1/opportunities", params={"step": "offer"}).status_code == 200


def test_settings_of_the_version_feed_the_built_in_kinds(client: TestClient, ops: TestClient) -> None:
    spec = default_spec()
    spec["settings"]["stale_activity_days"] = 1
    spec["settings"]["follow_up_plan"] = [{"kind": "check_in", "due_days": 3, "title": "Call on day 3"}]
    publish_version(ops, spec)
    definition = ops.get(f"{PROCESSES}/complex-sale/versions/2").json()["spec"]
    assert definition["settings"]["stale_activity_days"] == 1
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    prepare(client, oid, "follow_up")
    assert client.post(f"/v1/opportunities/{oid}/transitions", json={"to": "follow_up"}).json()["status"] == "won"
    tasks = client.get("/v1/tasks", params={"owner": "rep.alex"}).json()["items"]
    assert [t["title"] for t in tasks] == ["Call on day 3"]


def test_migrations_move_deals_forward_in_batches_and_leave_deals_at_missing_steps(client: TestClient,
                                                                                  ops: TestClient) -> None:
    deals = [client.post("/v1/opportunities", json=WATER_DEAL).json()["id"] for _ in range(3)]
    stays = opened(client)["id"]  # at opening, which version 2 renames
    spec = default_spec()
    spec["steps"][1]["name"] = "first_meeting"
    spec["gates"]["first_meeting"] = spec["gates"].pop("opening")
    version = publish_version(ops, spec)
    first = ops.post(f"{PROCESSES}/complex-sale/versions/{version}/migrate", json={"limit": 2}).json()
    assert (first["migrated"], first["remaining"], first["not_migrated"]) == (2, 1, 1)
    assert [e["id"] for e in first["opportunities"] if not e["migrated"]] == [stays]
    second = ops.post(f"{PROCESSES}/complex-sale/versions/{version}/migrate", json={"limit": 2}).json()
    assert (second["migrated"], second["remaining"]) == (1, 0)
    assert {client.get(f"/v1/opportunities/{d}").json()["process"]["version"] for d in deals} == {version}
    assert client.get(f"/v1/opportunities/{stays}").json()["process"]["version"] == 1
    back = ops.post(f"{PROCESSES}/complex-sale/versions/1/migrate", json={}).json()
    assert back["migrated"] == 0  # deals only move forward
    assert client.get("/v1/opportunities", params={"step": "opening"}).json()["items"][0]["id"] == stays
    dry = ops.post(f"{PROCESSES}/complex-sale/versions/{version}/dry-run", json={}).json()
    assert dry["step_missing"]["ids"] == [stays]


def test_override_refusals_name_the_role_first_and_need_a_justification(client: TestClient, manager: TestClient,
                                                                       ops: TestClient) -> None:
    spec = default_spec()
    spec["gates"]["questioning"][0]["overridable"] = False
    publish_version(ops, spec)
    oid = opened(client)["id"]
    assert client.post(f"/v1/opportunities/{oid}/transitions", json={"to": "questioning", "override": "x"}
                       ).status_code == 403
    assert manager.post(f"/v1/opportunities/{oid}/transitions", json={"to": "questioning", "override": "x"}
                        ).status_code == 409
    blank = manager.post(f"/v1/opportunities/{oid}/transitions", json={"to": "questioning", "override": "   "})
    assert blank.status_code == 422 and blank.json()["errors"][0]["pointer"] == "/override"


def test_process_names_that_would_break_routes_or_columns_are_refused(ops: TestClient) -> None:
    spec = default_spec()
    assert ops.post(PROCESSES, json={"key": "kinds", **spec}).status_code == 422
    spec["steps"][0]["name"] = "p" * 51
    answer = ops.post(f"{PROCESSES}/complex-sale/versions", json=spec)
    assert answer.status_code == 422 and answer.json()["errors"][0]["pointer"] == "/steps/0/name"
