"""Gate checks over the account's complaints not yet verified with the customer, as the deal's document holds
them."""

from collections.abc import Mapping
from typing import Any

from app.accounts.complaints import Severity
from app.engine.checks import Params, check

SHOWN = 20  # complaints a finding names; `count` says how many there are


class ComplaintParams(Params):
    """Which severities count (every one when none is named)."""

    severities: list[Severity] = []


@check("complaints_settled", ComplaintParams)
def complaints_settled(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The deal's account has no complaint of `severities` (any severity when none is named) that is not yet
    verified with the customer; a finding names them, the most severe first."""
    severities = set(params["severities"])
    unsettled = [c for c in document["complaints"] if not severities or c["severity"] in severities]
    if not unsettled:
        return None
    return {"count": len(unsettled), "complaints": [
        {name: c[name] for name in ("id", "summary", "category", "severity", "status", "received_at", "repeat_of_id")}
        for c in unsettled[:SHOWN]]}
