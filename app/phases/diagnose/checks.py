"""Gate checks over the diagnosis."""

from collections.abc import Mapping
from typing import Any

from app.engine.checks import check


@check("problem_cost_quantified")
def problem_cost_quantified(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """At least one problem carries a cost above zero (optionally: confirmed by the customer)."""
    problems = document["problems"]
    must_confirm = bool(params.get("confirmed", False))
    quantified = [p for p in problems if p["cost"] is not None and p["cost"]["amount"] > 0]
    counted = [p for p in quantified if p["confirmed_by_customer"] or not must_confirm]
    if counted:
        return None
    return {"problems": len(problems), "quantified": len(quantified)}
