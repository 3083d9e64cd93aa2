"""Gate checks over the design: the proposition and the scope against the financial parameters."""

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from app.engine.checks import Params, check, is_empty


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
