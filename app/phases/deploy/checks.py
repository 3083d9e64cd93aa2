"""Gate checks over the deployment: presentations, objections, acceptance, follow-up tasks."""

from collections.abc import Mapping
from typing import Any

from pydantic import Field

from app.engine.checks import Params, check, days_between, parse_time
from app.phases.deploy.schemas import ObjectionStatus
from app.phases.discover.checks import DaysParams
from app.phases.discover.schemas import Role

UNSETTLED = ["open", "qualified"]


class RolesParams(Params):
    """The stakeholder roles that decide."""

    roles: list[Role] = Field(min_length=1)


class ObjectionStatusParams(Params):
    """The objection statuses that count as unsettled."""

    statuses: list[ObjectionStatus] = Field(UNSETTLED, min_length=1)


def _deciders(document: Mapping[str, Any], roles: list[str]) -> set[str]:
    return {s["id"] for s in document["stakeholders"] if s["role"] in roles}


def _held(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The presentations delivered by now."""
    now = parse_time(document["now"])
    return [p for p in document["presentations"] if p["held_at"] and parse_time(p["held_at"]) <= now]


@check("presented_to_decision_maker", RolesParams)
def presented_to_decision_maker(document: Mapping[str, Any],
                                params: Mapping[str, Any]) -> dict[str, Any] | None:
    """A presentation was delivered to an audience including one of `roles`."""
    deciders, delivered = _deciders(document, params["roles"]), _held(document)
    if any(deciders & set(p["audience_ids"]) for p in delivered):
        return None
    return {"presentations_delivered": len(delivered), "roles": params["roles"]}


@check("audiences_include_decision_maker", RolesParams)
def audiences_include_decision_maker(document: Mapping[str, Any],
                                     params: Mapping[str, Any]) -> dict[str, Any] | None:
    """Every presentation held so far had one of `roles` in its audience (one still planned does not count)."""
    deciders = _deciders(document, params["roles"])
    lacking = [p["id"] for p in _held(document) if not deciders & set(p["audience_ids"])]
    return {"presentations": lacking} if lacking else None


def _unsettled(document: Mapping[str, Any], statuses: list[str] = UNSETTLED) -> list[Mapping[str, Any]]:
    return [o for o in document["objections"] if o["status"] in statuses]


@check("objections_settled", ObjectionStatusParams)
def objections_settled(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """No objection has a status in `statuses` (by default: still open or merely qualified)."""
    unsettled = [{"id": o["id"], "statement": o["statement"], "status": o["status"]}
                 for o in _unsettled(document, params["statuses"])]
    return {"objections": unsettled} if unsettled else None


@check("objections_fresh", DaysParams, settings={"days": "objection_open_days"})
def objections_fresh(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """No unsettled objection is older than `days`."""
    if params["days"] is None:
        return None
    stale = [{"id": o["id"], "statement": o["statement"],
              "days_open": int(days_between(o["raised_at"], document["now"]))}
             for o in _unsettled(document) if days_between(o["raised_at"], document["now"]) > params["days"]]
    return {"objections": stale, "threshold_days": params["days"]} if stale else None


@check("acceptance_complete")
def acceptance_complete(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The customer's acceptance names who accepted (still a stakeholder), when, the order and its paperwork."""
    acceptance = document["acceptance"]
    if acceptance is None:
        return {"recorded": False}
    stakeholders = {s["id"] for s in document["stakeholders"]}
    missing = [name for name, ok in (
        ("accepted_by_id", acceptance["accepted_by_id"] in stakeholders),
        ("order_value", acceptance["order_value"]["amount"] > 0),
        ("products", bool(acceptance["products"])),
        ("paperwork_reference", bool(acceptance["paperwork_reference"].strip()))) if not ok]
    return {"recorded": True, "missing": missing} if missing else None


@check("tasks_on_time")
def tasks_on_time(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """No task is past its due date and still open."""
    today = parse_time(document["now"]).date().isoformat()
    overdue = [{"id": t["id"], "title": t["title"], "due_date": t["due_date"], "owner": t["owner"]}
               for t in document["tasks"] if not t["completed"] and t["due_date"] < today]
    return {"tasks": overdue} if overdue else None
