"""Gate checks over the buying committee."""

from collections.abc import Mapping
from typing import Any

from app.engine.checks import check


@check("stakeholder_role")
def stakeholder_role(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """At least `min` stakeholders hold one of `roles`."""
    roles = set(params["roles"])
    needed = int(params.get("min", 1))
    found = sum(1 for s in document["stakeholders"] if s["role"] in roles)
    if found >= needed:
        return None
    return {"roles": sorted(roles), "needed": needed, "found": found}
