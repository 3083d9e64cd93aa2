"""Gate checks over the diagnosis."""

from collections.abc import Mapping
from typing import Any

from typing import Literal

from pydantic import Field, model_validator

from app.engine.checks import Params, check, days_between, is_empty


class CostParams(Params):
    """With `confirmed`, only a cost the customer confirmed counts; with `basis`, only one that says how it was
    reached; with `every`, every problem must count."""

    confirmed: bool = False
    basis: bool = False
    every: bool = False


class QualificationParams(Params):
    """The question, the reason code a no suggests, and whether only a no counts against it."""

    field: Literal["urgency", "resources"]
    reason_code: Literal["no_urgency", "no_resources", "no_decision_maker_access", "not_a_fit", "other"]
    only_no: bool = False
    answered: bool = False
    budget: bool = False

    @model_validator(mode="after")
    def _budget_of_resources(self) -> "QualificationParams":
        if self.budget and self.field != "resources":
            raise ValueError("budget applies to the resources question only")
        return self


@check("problem_cost_quantified", CostParams)
def problem_cost_quantified(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """At least one problem carries a cost above zero (with `basis`, saying how it was reached); with
    `confirmed`, one the customer confirmed, naming who (a stakeholder still on the opportunity); with `every`,
    every problem does."""
    problems = document["problems"]
    must_confirm = params["confirmed"]
    quantified = [p for p in problems if quantified_cost(p, basis=params["basis"])]
    present = stakeholder_ids(document)
    counted = [p for p in quantified if not must_confirm or confirmed(p, present)]
    if counted and (not params["every"] or len(counted) == len(problems)):
        return None
    details: dict[str, Any] = {"problems": len(problems), "quantified": len(quantified)}
    if params["basis"]:
        details["without_basis"] = sum(1 for p in problems if quantified_cost(p, basis=False)) - len(quantified)
    if must_confirm:
        details["confirmed"] = len(counted)
    if params["every"]:
        details["lacking"] = [p["id"] for p in problems if p not in counted][:20]
    return details


def quantified_cost(problem: Mapping[str, Any], *, basis: bool) -> bool:
    """The problem carries a cost above zero; with `basis`, one that says how the figure was reached."""
    cost = problem["cost"]
    return cost is not None and cost["amount"] > 0 and not (basis and is_empty(cost["basis"]))


def stakeholder_ids(document: Mapping[str, Any]) -> set[str]:
    """The ids of the deal's stakeholders."""
    return {s["id"] for s in document["stakeholders"]}


def confirmed(problem: Mapping[str, Any], stakeholders: set[str]) -> bool:
    """The customer confirmed the problem, naming who (one of the deal's stakeholders)."""
    confirmation = problem["confirmation"]
    return bool(confirmation) and confirmation["stakeholder_id"] in stakeholders


@check("problems_confirmed")
def problems_confirmed(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """There is a problem, and the customer confirmed every one, naming who (a stakeholder still on the
    opportunity)."""
    problems = document["problems"]
    present = stakeholder_ids(document)
    unconfirmed = [p["id"] for p in problems if not confirmed(p, present)]
    if problems and not unconfirmed:
        return None
    return {"problems": len(problems), "unconfirmed": unconfirmed[:20]}


class QualifyParams(Params):
    """The step in which the qualification should be settled, and within how many days of entering it (none
    switches the check off)."""

    step: str = Field("questioning", min_length=1, max_length=50)
    days: int | None = Field(ge=1, le=3650)


@check("qualified_in_time", QualifyParams, settings={"days": "qualify_within_days"})
def qualified_in_time(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """While the deal stands at `step`, urgency and resources are answered (yes or no) within `days` of
    entering it (default: the process's qualify-within setting)."""
    opportunity, days = document["opportunity"], params["days"]
    if days is None or opportunity["step"] != params["step"]:
        return None
    waited = days_between(opportunity["step_entered_at"], document["now"])
    qualification = document["qualification"] or {}
    open_questions = [f for f in ("urgency", "resources") if qualification.get(f, "unknown") == "unknown"]
    if waited <= days or not open_questions:
        return None
    return {"unknown": open_questions, "days_in_step": int(waited), "threshold_days": days}


@check("qualification_answer", QualificationParams)
def qualification_answer(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The qualification answers `field` (urgency or resources) with yes; a no recommends disqualifying.

    With `only_no`, only a no counts against it (an open question is not yet a reason to walk away); with
    `answered`, a no counts for it too (the question is settled either way); with `budget`, a yes to resources
    counts only with the budget available recorded.
    """
    qualification = document["qualification"]
    answer = qualification[params["field"]] if qualification else "unknown"
    if answer == "yes" and params["budget"] and params["field"] == "resources" \
            and qualification["budget_available"] is None:
        return {"answer": "yes", "budget_available": None, "recommendation": "record the budget available"}
    if answer == "yes" or (answer == "unknown" and params["only_no"]) or (answer == "no" and params["answered"]):
        return None
    if answer == "no":
        return {"answer": "no", "recommendation": "disqualify", "reason_code": params["reason_code"]}
    return {"answer": "unknown", "recommendation": "assess"}
