"""Gate checks over the diagnosis."""

from collections.abc import Mapping
from typing import Any

from typing import Literal

from app.engine.checks import Params, check


class CostParams(Params):
    """With `confirmed`, only a cost the customer confirmed counts."""

    confirmed: bool = False


class QualificationParams(Params):
    """The question, the reason code a no suggests, and whether only a no counts against it."""

    field: Literal["urgency", "resources"]
    reason_code: Literal["no_urgency", "no_resources", "no_decision_maker_access", "not_a_fit", "other"]
    only_no: bool = False


@check("problem_cost_quantified", CostParams)
def problem_cost_quantified(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """At least one problem carries a cost above zero; with `confirmed`, one the customer confirmed,
    naming who (a stakeholder still on the opportunity)."""
    problems = document["problems"]
    must_confirm = params["confirmed"]
    quantified = [p for p in problems if p["cost"] is not None and p["cost"]["amount"] > 0]
    stakeholders = {s["id"] for s in document["stakeholders"]} if must_confirm else set()
    counted = [p for p in quantified
               if not must_confirm or (p["confirmation"] and p["confirmation"]["stakeholder_id"] in stakeholders)]
    if counted:
        return None
    details = {"problems": len(problems), "quantified": len(quantified)}
    if must_confirm:
        details["confirmed"] = 0
    return details


@check("qualification_answer", QualificationParams)
def qualification_answer(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The qualification answers `field` (urgency or resources) with yes; a no recommends disqualifying.

    With `only_no`, only a no counts against it (an open question is not yet a reason to walk away).
    """
    qualification = document["qualification"]
    answer = qualification[params["field"]] if qualification else "unknown"
    if answer == "yes" or (answer == "unknown" and params["only_no"]):
        return None
    if answer == "no":
        return {"answer": "no", "recommendation": "disqualify", "reason_code": params["reason_code"]}
    return {"answer": "unknown", "recommendation": "assess"}
