"""A 30-requirement gate (15 built-in, 15 CEL) against the same checks as plain Python functions.

The deal has 50 stakeholders and 100 problems. The gate is compiled from a written process like any
version sales ops publish, and evaluated as the API evaluates it, in two cases:
- cold: the deal's data was never evaluated in this process, so CEL converts what its rules read
  (the first evaluation after any change to the deal);
- warm: the deal has not changed since its last evaluation, so the binding kept from it serves.
The baseline calls the same 30 checks as plain functions on the same document, in the same run.

Usage, from the repository root: .venv/bin/python -m bench.gates [--repeat 5] [--number 2000]
"""

import argparse
import sys
from collections.abc import Callable, Mapping
from typing import Any

from app.engine.checks import CHECKS
from app.engine.gates import Facts, evaluate_gate
from app.opportunities.schemas import OpportunityRead
from app.phases.catalog import RECORD_KINDS
from app.processes.service import compile_spec
from bench.engine import OPPORTUNITY_ID, STAMP, best_microseconds, stored

ROLES = ["user", "technical", "influencer", "coach", "decision_maker", "economic_buyer"]
PERIODS = ["once", "month", "year"]
DECIDERS = ("decision_maker", "economic_buyer")

BUILT_IN = [  # (kind, params)
    ("stakeholder_role", {}), ("stakeholder_role", {"roles": list(DECIDERS)}),
    ("stakeholder_role", {"roles": ["influencer"], "min": 3}), ("stakeholder_role", {"roles": ["technical", "user"], "min": 10}),
    ("problem_cost_quantified", {}), ("problem_cost_quantified", {"confirmed": True}),
    ("records_present", {"collection": "problems", "min": 50}), ("records_present", {"collection": "stakeholders", "min": 20}),
    ("decision_process_known", {}), ("qualification_answer", {"field": "urgency", "reason_code": "no_urgency"}),
    ("qualification_answer", {"field": "resources", "reason_code": "no_resources"}), ("objections_settled", {}),
    ("proposition_tied", {}), ("scope_solves_problems", {}), ("price_within_budget", {}),
]

Doc = Mapping[str, Any]
CEL: list[tuple[str, Callable[[Doc], bool]]] = [  # each rule, and the same check in plain Python
    ("stakeholders.exists(s, s.role == 'economic_buyer')",
     lambda d: any(s["role"] == "economic_buyer" for s in d["stakeholders"])),
    ("stakeholders.filter(s, s.role in ['decision_maker', 'economic_buyer']).size() >= 2",
     lambda d: len([s for s in d["stakeholders"] if s["role"] in DECIDERS]) >= 2),
    ("problems.exists(p, p.cost != null && p.cost.amount > 1000000)",
     lambda d: any(p["cost"] is not None and p["cost"]["amount"] > 1000000 for p in d["problems"])),
    ("problems.filter(p, p.cost != null && p.cost.period == 'year').size() >= 10",
     lambda d: len([p for p in d["problems"] if p["cost"] is not None and p["cost"]["period"] == "year"]) >= 10),
    ("problems.all(p, p.description != '')", lambda d: all(p["description"] != "" for p in d["problems"])),
    ("stakeholders.all(s, s.name.size() > 0)", lambda d: all(len(s["name"]) > 0 for s in d["stakeholders"])),
    ("opportunity.value != null && opportunity.value.amount > 0",
     lambda d: d["opportunity"]["value"] is not None and d["opportunity"]["value"]["amount"] > 0),
    ("qualification != null && qualification.urgency == 'yes'",
     lambda d: d["qualification"] is not None and d["qualification"]["urgency"] == "yes"),
    ("decision_process != null && decision_process.steps.size() >= 2",
     lambda d: d["decision_process"] is not None and len(d["decision_process"]["steps"]) >= 2),
    ("scope_items.all(i, i.problem_ids.size() > 0)", lambda d: all(len(i["problem_ids"]) > 0 for i in d["scope_items"])),
    ("objections.all(o, o.status in ['resolved', 'withdrawn'])",
     lambda d: all(o["status"] in ("resolved", "withdrawn") for o in d["objections"])),
    ("problems.exists(p, p.confirmation != null)", lambda d: any(p["confirmation"] is not None for p in d["problems"])),
    ("stakeholders.exists(s, s.role == 'coach')", lambda d: any(s["role"] == "coach" for s in d["stakeholders"])),
    ("problems.exists(p, (p.cost == null ? 0 : p.cost.amount) > 40000000)",
     lambda d: any((0 if p["cost"] is None else p["cost"]["amount"]) > 40000000 for p in d["problems"])),
    ("opportunity.account.industry != null", lambda d: d["opportunity"]["account"]["industry"] is not None),
]


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed repeats; the best one counts")
    parser.add_argument("--number", type=int, default=2_000, help="evaluations per repeat")
    return parser.parse_args()


def big_document() -> dict[str, Any]:
    """Every record kind, with 50 stakeholders and 100 problems (most quantified, some confirmed)."""
    stakeholders = [stored("stakeholders", 1000 + i, {"name": f"Person {i}", "role": ROLES[i % len(ROLES)]})
                    for i in range(50)]
    problems = [stored("problems", 2000 + i, {
        "description": f"Problem {i}",
        "cost": None if i % 4 == 0 else {"amount": 100000 * (i + 1), "currency": "EUR", "period": PERIODS[i % 3]},
        "confirmation": {"stakeholder_id": stakeholders[i % 50]["id"], "at": STAMP} if i % 7 == 0 else None})
        for i in range(100)]
    solved = [problems[1]["id"], problems[2]["id"]]
    opportunity = OpportunityRead.model_validate({
        "id": OPPORTUNITY_ID, "name": "Water", "account": {"name": "Riverton", "industry": "public_sector"},
        "owner": "bench", "value": {"amount": 125000000, "currency": "EUR"}, "expected_close_date": None,
        "status": "open", "phase": "diagnose", "step": "questioning", "step_entered_at": STAMP, "days_in_step": 3,
        "last_activity_at": None, "outcome_reason_code": None, "process": {"key": "bench", "version": 1},
        "version": 1, "created_at": STAMP, "created_by": "bench", "updated_at": STAMP, "updated_by": "bench",
    }).model_dump(mode="json")
    document: dict[str, Any] = {kind.collection: kind.empty for kind in RECORD_KINDS.values()}
    document.update({
        "now": STAMP, "opportunity": opportunity, "stakeholders": stakeholders, "problems": problems,
        "decision_process": stored("decision_process", 300, {"steps": ["Review", "Vote"], "decision_date": "2027-03-01"}),
        "qualification": stored("qualification", 301, {"urgency": "yes", "resources": "yes", "budget_available": {
            "amount": 130000000, "currency": "EUR"}}),
        "proposition": stored("proposition", 302, {"benefit": "No outages", "problem_ids": solved}),
        "scope_items": [stored("scope_items", 303, {"name": "Monitoring", "price": {"amount": 90000000, "currency": "EUR"},
                                                    "problem_ids": solved})],
    })
    return document


def gate_spec() -> dict[str, Any]:
    """A two-step process whose gate holds the 30 requirements."""
    gate = [{"code": f"bench.builtin_{i}", "kind": kind, "params": params, "message": "m"}
            for i, (kind, params) in enumerate(BUILT_IN)]
    gate += [{"code": f"bench.cel_{i}", "rule": rule, "message": "m"} for i, (rule, _) in enumerate(CEL)]
    return {"title": "Bench", "phases": ["p"], "steps": [{"name": "a", "phase": "p"}, {"name": "b", "phase": "p"}],
            "gates": {"b": gate}}


def main() -> int:
    """Time the engine's gate and the plain functions, check they agree, print µs and the ratio."""
    args = parse_args()
    definition = compile_spec(gate_spec(), key="bench", version=1)
    step = definition.step("b")
    document = big_document()
    built_in = [(CHECKS[r.kind].run, r.params) for r in step.gate if r.rule is None]
    plain_cel = [check for _, check in CEL]

    def cold() -> Any:
        return evaluate_gate(step, Facts(document, definition.rules))

    def warm() -> Any:
        return evaluate_gate(step, Facts(document, definition.rules, lambda name: ("unchanged deal", name)))

    def plain() -> list[bool]:
        return [run(document, params) is None for run, params in built_in] + [check(document) for check in plain_cel]

    expected = plain()
    for result in (cold(), warm(), warm()):
        if [r.code in result.met for r in step.gate] != expected or len(step.gate) != 30:
            raise SystemExit("the engine and the plain functions disagree on which requirements are met")
    cold_us = best_microseconds(cold, args.repeat, args.number)
    warm_us = best_microseconds(warm, args.repeat, args.number)
    plain_us = best_microseconds(plain, args.repeat, args.number)
    print(f"best of {args.repeat} repeats of {args.number} evaluations; 50 stakeholders, 100 problems; "
          f"{sum(expected)} of 30 requirements met")
    print(f"engine gate, 15 built-in + 15 CEL, cold  {cold_us:9.1f} µs/evaluation")
    print(f"engine gate, 15 built-in + 15 CEL, warm  {warm_us:9.1f} µs/evaluation")
    print(f"the same 30 checks as plain Python       {plain_us:9.1f} µs/evaluation")
    print(f"ratio warm/plain {warm_us / plain_us:.2f} (goal: 3 or less); cold/plain {cold_us / plain_us:.2f}")
    print(f"RESULT|a 30-requirement gate (15 built-in, 15 CEL), 50 stakeholders and 100 problems, vs plain Python|"
          f"warm {warm_us:.0f} vs {plain_us:.0f} µs, ratio {warm_us / plain_us:.2f}; cold {cold_us:.0f} µs, "
          f"ratio {cold_us / plain_us:.2f}|<= 3|{'yes' if warm_us / plain_us <= 3 else 'no'}")
    return 0 if warm_us / plain_us <= 3 else 1


if __name__ == "__main__":
    sys.exit(main())
