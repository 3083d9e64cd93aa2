"""Gate checks over the design: the proposition and the scope against the financial parameters."""

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from app.engine.checks import Params, check, days_between, is_empty, parse_time, today
from app.phases.diagnose.checks import confirmed, quantified_cost, stakeholder_ids


class RequiredParams(Params):
    """With `required`, a price that cannot be judged yet (no scope, or no budget known) does not pass."""

    required: bool = False


class HorizonParams(RequiredParams):
    """Months within which the problems' cost must pay the price back."""

    horizon_months: int = Field(ge=1, le=600)

# How many times a cost recurs in a month.
_PER_MONTH = {"month": 1.0, "year": 1 / 12}


def _known_problems(document: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {p["id"]: p for p in document["problems"]}


def _price(items: list[Mapping[str, Any]]) -> tuple[int, set[str]]:
    return sum(i["price"]["amount"] for i in items), {i["price"]["currency"] for i in items}


def budget(document: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The budget the customer has: the qualification's figure, else the account profile's."""
    qualification, profile = document["qualification"], document["account_profile"]
    if qualification and qualification["budget_available"]:
        return qualification["budget_available"]
    return profile["budget"] if profile else None


@check("proposition_tied")
def proposition_tied(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The central proposition exists and names at least one diagnosed problem it solves."""
    proposition = document["proposition"]
    if proposition is None:
        return {"recorded": False}
    tied = [i for i in proposition["problem_ids"] if i in _known_problems(document)]
    return None if tied else {"recorded": True, "problems_tied": 0}


@check("scope_solves_problems")
def scope_solves_problems(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """There is a scope, and every item of it solves at least one diagnosed problem."""
    items, known = document["scope_items"], _known_problems(document)
    if not items:
        return {"scope_items": 0}
    unlinked = [{"id": i["id"], "name": i["name"]} for i in items
                if not any(p in known for p in i["problem_ids"])]
    return {"scope_items": len(items), "unlinked": unlinked} if unlinked else None


class OwnedParams(Params):
    """Whose problems: the proposition's or the scope's; with `basis`, a cost counts only with its basis."""

    collection: Literal["proposition", "scope_items"]
    basis: bool = False


@check("named_problems_owned", OwnedParams)
def named_problems_owned(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """Every problem the proposition (or a scope item) names is quantified (with `basis`, saying how) and
    confirmed by the customer, naming who."""
    value, known = document[params["collection"]], _known_problems(document)
    named = {p for record in ([value] if isinstance(value, dict) else value or []) for p in record["problem_ids"]}
    present = stakeholder_ids(document)
    lacking = []
    for problem in (known[p] for p in sorted(named) if p in known):
        costed = quantified_cost(problem, basis=False)
        missing = [name for name, held in (("cost", costed),
                                           ("basis", not (costed and params["basis"]) or
                                            quantified_cost(problem, basis=True)),
                                           ("confirmation", confirmed(problem, present))) if not held]
        if missing:
            lacking.append({"id": problem["id"], "description": problem["description"][:200], "lacking": missing})
    return {"collection": params["collection"], "problems": lacking[:20]} if lacking else None


@check("options_weighed")
def options_weighed(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The options include a competitor's and doing nothing, and each is chosen or set aside with the reason."""
    options = document["solution_options"]
    missing = sorted({"competitor", "do_nothing"} - {o["provider"] for o in options})
    undecided = [o["id"] for o in options if o["decision"] == "open" or is_empty(o["decision_reason"])]
    return {"missing_providers": missing, "undecided": undecided[:20]} if missing or undecided else None


@check("price_within_budget", RequiredParams)
def price_within_budget(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The solution's price stays within the customer's budget, when a budget is known (with `required`,
    there must be a scope and a known budget)."""
    known_budget, items = budget(document), document["scope_items"]
    if known_budget is None or not items:
        return {"scope_items": len(items), "budget_known": known_budget is not None} if params["required"] else None
    price, currencies = _price(items)
    if currencies != {known_budget["currency"]}:
        return {"reason": "currency_mismatch", "budget_currency": known_budget["currency"],
                "price_currencies": sorted(currencies)}
    if price <= known_budget["amount"]:
        return None
    return {"price": {"amount": price, "currency": known_budget["currency"]}, "budget": known_budget,
            "over_by": price - known_budget["amount"]}


@check("price_paid_back", HorizonParams, settings={"horizon_months": "payback_horizon_months"})
def price_paid_back(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The cost of the problems the scope solves pays its price back within `horizon_months`
    (default: the process's payback horizon); with `required`, there must be a scope."""
    items, known = document["scope_items"], _known_problems(document)
    if not items:
        return {"scope_items": 0} if params["required"] else None
    horizon = params["horizon_months"]
    price, currencies = _price(items)
    solved = [known[p] for p in {p for i in items for p in i["problem_ids"]} if p in known]
    costs = [p["cost"] for p in solved if p["cost"]]
    currencies |= {c["currency"] for c in costs}
    if len(currencies) > 1:
        return {"reason": "currency_mismatch", "currencies": sorted(currencies)}
    currency = currencies.pop()
    monthly = sum(c["amount"] * _PER_MONTH[c["period"]] for c in costs if c["period"] != "once")
    once = sum(c["amount"] for c in costs if c["period"] == "once")
    covered = once + monthly * horizon
    if price <= covered:
        return None
    payback = None if monthly == 0 else round(max(price - once, 0) / monthly, 1)
    return {"price": {"amount": price, "currency": currency},
            "problem_cost_over_horizon": {"amount": round(covered), "currency": currency},
            "horizon_months": horizon, "payback_months": payback,
            "problems_solved": [p["id"] for p in solved]}


class CommitmentParams(Params):
    """The step of the design work, and the days in it or design sessions after which the customer should have
    committed to a dated next step (none switches either bound off)."""

    step: str = Field("solution_design", min_length=1, max_length=50)
    days: int | None = Field(ge=1, le=3650)
    sessions: int | None = Field(ge=1, le=1000)


@check("design_committed", CommitmentParams,
       settings={"days": "design_commitment_days", "sessions": "design_sessions_max"})
def design_committed(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """While the deal stands at `step`, no more than `days` pass and no more than `sessions` contacts are held
    without the customer committing to a next step with a date still ahead (an activity of the step naming both)."""
    opportunity = document["opportunity"]
    if opportunity["step"] != params["step"]:
        return None
    entered, now = parse_time(opportunity["step_entered_at"]), parse_time(document["now"])
    held = [a for a in document["activities"] if entered <= parse_time(a["occurred_at"]) <= now]
    day = today(document)
    if any(not is_empty(a["next_step"]) and a["next_step_on"] and a["next_step_on"] >= day for a in held):
        return None
    waited = days_between(opportunity["step_entered_at"], document["now"])
    days, sessions = params["days"], params["sessions"]
    if (days is None or waited <= days) and (sessions is None or len(held) <= sessions):
        return None
    return {"days_in_step": int(waited), "sessions": len(held), "threshold_days": days,
            "threshold_sessions": sessions, "dated_next_step": False}
