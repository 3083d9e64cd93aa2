"""No rule can stall the service: every rule is priced when saved, and a gate's rules have a time budget."""

import copy
import time
import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.db import utcnow
from app.engine.gates import BUDGET_EXCEEDED, Facts, evaluate_gate
from app.engine.rules import RuleEnvironment
from app.engine.spec import ProcessSpec
from app.engine.definition import compile_definition
from app.processes.context import context_schema, rule_environment
from app.processes.models import ProcessVersion
from app.processes.service import default_process
from tests.conftest import WATER_DEAL, Workplace, count_rows
from tests.method import prepare

PROCESSES = "/v1/processes"
NUMBERS = "[" + ",".join(str(i) for i in range(99)) + "]"
# The rule that froze the service: a pathological pattern on a long literal inside two nested loops.
STALLING_RULE = f'{NUMBERS}.all(y, {NUMBERS}.all(x, "{"a" * 1500}".matches("(a{{1,50}}){{1,20}}z") == false))'


def spec_with(step: str, *requirements: dict[str, Any]) -> dict[str, Any]:
    """The default process with requirements added to the gate into a step."""
    spec = copy.deepcopy(default_process()[1])
    spec["gates"].setdefault(step, []).extend(requirements)
    return spec


def rule(code: str, source: str, **extra: Any) -> dict[str, Any]:
    """A blocking, non-overridable CEL requirement."""
    return {"code": code, "rule": source, "message": "m", "overridable": False, **extra}


@pytest.fixture
def ops(app: FastAPI, workplace: Workplace) -> TestClient:
    """Sales ops, who configure processes."""
    return TestClient(app, headers=workplace.as_user("ops.lee"))


def test_the_rule_that_stalled_the_service_is_refused_at_once_and_nothing_is_stored(
        app: FastAPI, ops: TestClient) -> None:
    assert len(STALLING_RULE) == 2133
    before = count_rows(app)
    started = time.monotonic()
    refused = ops.post(f"{PROCESSES}/complex-sale/versions", json=spec_with("opening", rule("ops.stall", STALLING_RULE)))
    assert time.monotonic() - started < 1.0
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    [error] = refused.json()["errors"]
    assert error["pointer"] == f"/gates/opening/{len(default_process()[1]['gates']['opening'])}/rule"
    assert "cannot be bounded" in error["message"] and error["line"] == 1
    assert count_rows(app) == before


@pytest.mark.parametrize(("source", "reason", "column"), [
    ("stakeholders.all(s, s.name.matches(s.role))", "a pattern written in the rule", 37),
    ("stakeholders.all(s, s.name.matches('(a{1,50}){1,20}z'))", "instructions; at most 200", 36),
    ("stakeholders.all(s, s.name != '" + "x" * 1001 + "')", "1001 characters", 31),
    ("[" + ",".join(["1"] * 101) + "].size() > 0", "101 elements", 1),
    ("problems.all(p, problems.all(q, problems.all(r, r.id != q.id)))", "nest more than 2 deep", 45),
    ("problems.all(p, stakeholders.exists(s, s.name != p.description))", "over the limit of 100,000", None),
    ("activities.map(a, a.notes).size() > 0", "over the limit of 100,000", None),
])
def test_a_rule_that_cannot_be_bounded_is_refused_with_its_pointer_and_reason(
        ops: TestClient, source: str, reason: str, column: int | None) -> None:
    refused = ops.post(f"{PROCESSES}/complex-sale/versions", json=spec_with("opening", rule("ops.costly", source)))
    assert refused.status_code == 422, refused.text
    [error] = refused.json()["errors"]
    assert error["pointer"].startswith("/gates/opening/") and error["pointer"].endswith("/rule")
    assert reason in error["message"], error["message"]
    assert error["column"] == column


def test_conditions_and_checklist_rules_are_priced_too(ops: TestClient) -> None:
    spec = spec_with("opening", {"code": "ops.when", "kind": "records_present",
                                 "params": {"collection": "stakeholders", "min": 1},
                                 "when": "problems.all(p, problems.all(q, problems.all(r, true)))", "message": "m"})
    spec["steps"][0]["checklist"].append({"text": "t", "rule": "stakeholders.all(s, s.name.matches(s.role))"})
    refused = ops.post(f"{PROCESSES}/complex-sale/versions", json=spec)
    assert refused.status_code == 422
    assert sorted(e["pointer"] for e in refused.json()["errors"]) == [
        f"/gates/opening/{len(spec['gates']['opening']) - 1}/when", f"/steps/0/checklist/{len(spec['steps'][0]['checklist']) - 1}/rule"]


def test_rules_a_real_process_writes_stay_within_the_limits(ops: TestClient) -> None:
    sources = [
        "stakeholders.filter(s, s.role in ['decision_maker', 'economic_buyer']).size() >= 2",
        "problems.filter(p, p.cost != null && p.cost.period == 'year').size() >= 10",
        "problems.exists(p, (p.cost == null ? 0 : p.cost.amount) > 40000000)",
        "scope_items.all(i, i.problem_ids.size() > 0)",
        "acceptance != null && acceptance.paperwork_reference.matches('^PO-[0-9]{4}-[0-9]+$')",
        "activities.exists(a, a.kind == 'meeting')",
        "timestamp(now) - timestamp(opportunity.step_entered_at) > duration('720h')",
        NUMBERS + ".all(x, " + NUMBERS + ".all(y, y >= 0))",
    ]
    spec = spec_with("opening", *[rule(f"ops.rule_{i}", s) for i, s in enumerate(sources)])
    created = ops.post(f"{PROCESSES}/complex-sale/versions", json=spec)
    assert created.status_code == 201, created.text


def test_saving_tries_a_rule_for_never_true_only_once_it_is_bounded(ops: TestClient) -> None:
    never = ops.post(f"{PROCESSES}/complex-sale/versions", json=spec_with("opening", rule("ops.never", "1 > 2")))
    assert never.status_code == 422 and "never met" in never.json()["errors"][0]["message"]
    started = time.monotonic()
    costly = ops.post(f"{PROCESSES}/complex-sale/versions",
                      json=spec_with("opening", rule("ops.never", STALLING_RULE.replace("== false", "== true"))))
    assert time.monotonic() - started < 1.0
    assert costly.status_code == 422 and "cannot be bounded" in costly.json()["errors"][0]["message"]


def _store_published_version(app: FastAPI, workspace_id: uuid.UUID, spec: dict[str, Any]) -> None:
    """Publish a version as an earlier release could have: straight into the store, never priced."""
    now = utcnow()
    with app.state.database.writer() as session:
        session.add(ProcessVersion(workspace_id=workspace_id, process_key="complex-sale", version=2,
                                   status="published", spec=ProcessSpec.model_validate(spec).model_dump(
                                       mode="json", exclude_none=True), revision=1, created_at=now,
                                   created_by="admin", updated_at=now, updated_by="admin", published_at=now,
                                   published_by="admin"))
        session.commit()


def test_a_rule_that_runs_past_the_gate_budget_is_unmet_with_its_own_code_and_then_held_back(
        app: FastAPI, workplace: Workplace, client: TestClient) -> None:
    slow = f'"{"a" * 3500}".matches("(a{{1,50}}){{1,20}}z") == false'  # one match: about a quarter of a second
    spec = spec_with("opening", rule("ops.slow", slow))
    spec["steps"][0]["checklist"].append({"text": "Judged by a slow rule", "rule": slow})
    _store_published_version(app, workplace.workspace_id, spec)
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    prepare(client, oid, "opening")
    for _ in range(2):
        started = time.monotonic()
        gate = client.get(f"/v1/opportunities/{oid}/gates/opening").json()
        [finding] = [u for u in gate["unmet"] if u["details"].get("requirement") == "ops.slow"]
        assert finding["code"] == BUDGET_EXCEEDED and finding["severity"] == "block" and not gate["passed"]
    # The second time the rule was held back: it did not run at all.
    assert finding["details"]["spent_ms"] == 0.0 and time.monotonic() - started < 0.2
    refused = client.post(f"/v1/opportunities/{oid}/transitions", json={"to": "opening"})
    assert refused.status_code == 409 and BUDGET_EXCEEDED in [u["code"] for u in refused.json()["unmet"]]
    checklist = client.get(f"/v1/opportunities/{oid}/guidance").json()["checklist"]
    assert [c["done"] for c in checklist if c["text"] == "Judged by a slow rule"] == [None]  # not judged: unknown


def test_a_gate_that_has_spent_its_budget_runs_no_more_rules() -> None:
    rules = RuleEnvironment(context_schema(), budget=0.0)
    spec = spec_with("opening")
    spec["gates"]["opening"] = [rule("ops.first", "stakeholders.size() >= 0"),
                                rule("ops.second", "stakeholders.size() >= 0")]
    definition = compile_definition(ProcessSpec.model_validate(spec), key="k", version=1, rules=rules)
    document = {**{name: [] for name in rules.variables}, "now": utcnow().isoformat(), "opportunity": {"id": "x"}}
    gate = evaluate_gate(definition.step("opening"), Facts(document, rules))
    over = [f.details["requirement"] for f in gate.unmet if f.code == BUDGET_EXCEEDED]
    assert over == ["ops.first", "ops.second"]
    assert gate.unmet[-1].details["spent_ms"] == gate.unmet[-2].details["spent_ms"]  # the second never ran


def test_a_version_holds_a_bounded_number_of_rules(ops: TestClient) -> None:
    limit = rule_environment().limits.per_version
    spec = spec_with("opening")
    spec["gates"]["solution_design"] += [{"code": f"ops.rule_{i}", "rule": f"stakeholders.size() >= {i % 5}",
                                          "message": "m"} for i in range(90)]
    for step in ("presentation", "negotiation", "closing"):
        spec["gates"][step] += [{"code": f"ops.{step}_{i}", "rule": f"problems.size() >= {i % 5}",
                                 "when": "opportunity.value != null", "message": "m"} for i in range(limit // 4)]
    refused = ops.post(f"{PROCESSES}/complex-sale/versions", json=spec)
    assert refused.status_code == 422
    [error] = refused.json()["errors"]
    assert f"at most {limit} CEL rules" in error["message"]
