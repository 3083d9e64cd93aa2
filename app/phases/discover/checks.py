"""Gate checks over the Discover records."""

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from app.engine.checks import Params, check, days_between, is_empty, parse_time
from app.phases.discover.schemas import ActivityKind, Role, Stance
from app.phases.catalog import CONTACT_KINDS
from app.phases.records import last_contact


class StakeholderRoleParams(Params):
    """How many stakeholders, with which roles (any role when none is named)."""

    roles: list[Role] = []
    min: int = Field(1, ge=1, le=1000)


class ActivityParams(Params):
    """Which kinds of contact count."""

    kinds: list[ActivityKind] = Field(min_length=1)


class DecisionParams(Params):
    """With `signer`, the decision process must also name who signs (a stakeholder still on the opportunity)."""

    signer: bool = False


class CoveredParams(Params):
    """The roles that decide, and the stances that mean one of them is not yet won over."""

    roles: list[Role] = Field(["decision_maker", "economic_buyer"], min_length=1)
    stances: list[Stance] = Field(["sceptic", "opponent"])


class DaysParams(Params):
    """A number of days; none switches the check off (it always holds)."""

    days: int | None = Field(ge=1, le=3650)


@check("stakeholder_role", StakeholderRoleParams)
def stakeholder_role(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """At least `min` stakeholders hold one of `roles` (any role when none is named)."""
    roles, needed = set(params["roles"]), params["min"]
    found = sum(1 for s in document["stakeholders"] if not roles or s["role"] in roles)
    if found >= needed:
        return None
    return {"roles": sorted(roles), "needed": needed, "found": found}


@check("meeting_objective_set")
def meeting_objective_set(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """A meeting plan states what the meeting is meant to achieve."""
    plans = document["meeting_plans"]
    return None if any(p["objective"].strip() for p in plans) else {"meeting_plans": len(plans)}


@check("activity_logged", ActivityParams)
def activity_logged(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """A contact of one of `kinds` took place (no later than now)."""
    kinds = set(params["kinds"])
    now = parse_time(document["now"])
    logged = [a for a in document["activities"] if a["kind"] in kinds and parse_time(a["occurred_at"]) <= now]
    return None if logged else {"kinds": sorted(kinds), "activities": len(document["activities"])}


@check("activity_recent", DaysParams, settings={"days": "stale_activity_days"})
def activity_recent(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """Some contact with the customer (any record of contact: a meeting, a presentation, an objection heard...)
    within `days` (default: the process's stale-activity threshold), counted from entering the current step."""
    if params["days"] is None:
        return None
    now = document["now"]
    contact = last_contact(CONTACT_KINDS, lambda kind: document[kind.collection], parse_time(now))
    last = contact.isoformat() if contact else None
    since = max(filter(None, (last, document["opportunity"]["step_entered_at"])), key=parse_time)
    idle = days_between(since, now)
    if idle <= params["days"]:
        return None
    return {"days_without_activity": int(idle), "threshold_days": params["days"], "last_activity_at": last}


@check("decision_process_known", DecisionParams)
def decision_process_known(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The decision process names its steps and either a timeline or a decision date; with `signer`, also
    who signs."""
    process = document["decision_process"]
    if process is None:
        return {"recorded": False}
    signs = process["signer_id"] in {s["id"] for s in document["stakeholders"]}
    missing = [name for name, ok in (("steps", bool(process["steps"])),
                                     ("timeline or decision_date",
                                      bool(process["timeline"] or process["decision_date"])),
                                     ("signer_id", signs or not params["signer"])) if not ok]
    return {"recorded": True, "missing": missing} if missing else None


@check("decision_makers_covered", CoveredParams)
def decision_makers_covered(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """Every stakeholder of `roles` has needs recorded and no stance among `stances` (a sceptic or opponent
    who decides is still to be won over)."""
    uncovered = []
    for person in document["stakeholders"]:
        if person["role"] not in params["roles"]:
            continue
        reasons = (["no needs recorded"] if is_empty(person["needs"]) else []) + \
            ([f"stance: {person['stance']}"] if person["stance"] in params["stances"] else [])
        if reasons:
            uncovered.append({"id": person["id"], "name": person["name"], "role": person["role"], "why": reasons})
    return {"stakeholders": uncovered[:20]} if uncovered else None
