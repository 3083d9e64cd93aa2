"""Gate checks over the deployment: presentations, objections, acceptance, follow-up tasks, value delivered."""

from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from pydantic import Field

from app.engine.checks import Params, check, days_between, parse_time, today
from app.phases.design.checks import budget
from app.phases.deploy.schemas import ObjectionStatus, TaskKind
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


@check("acceptance_within_budget")
def acceptance_within_budget(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The accepted order's value stays within the customer's budget, when one is known."""
    acceptance, known_budget = document["acceptance"], budget(document)
    if acceptance is None or known_budget is None:
        return None
    value = acceptance["order_value"]
    if value["currency"] != known_budget["currency"]:
        return {"reason": "currency_mismatch", "budget_currency": known_budget["currency"],
                "order_currency": value["currency"]}
    if value["amount"] <= known_budget["amount"]:
        return None
    return {"order_value": value, "budget": known_budget, "over_by": value["amount"] - known_budget["amount"]}


@check("promises_kept")
def promises_kept(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """Every promise made at the close and still owed is not yet past its date, and no open back-office task
    falls due after it."""
    day = today(document)
    owed = [p for p in document["promises"] if not p["kept_on"]]
    back_office = [t for t in document["tasks"] if t["kind"] == "back_office" and not t["completed"]]
    late = []
    for promise in owed:
        after = [t["id"] for t in back_office if t["due_date"] > promise["due_on"]]
        if promise["due_on"] < day or after:
            late.append({"what": promise["what"][:200], "due_on": promise["due_on"],
                         "overdue": promise["due_on"] < day, "tasks_due_after": after[:20]})
    return {"promises": late[:20]} if late else None


class ReviewParams(Params):
    """Check-in tasks due this many days or more after the acceptance record whether each problem is solved."""

    from_days: int = Field(ge=0, le=3650)


@check("value_delivered", ReviewParams, settings={"from_days": "value_review_from_days"})
def value_delivered(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """On a won deal, each completed check-in task due `from_days` or more after the acceptance has a value
    review of every diagnosed problem, and no problem's latest review finds it unsolved."""
    if document["opportunity"]["status"] != "won":
        return None
    acceptance, problems, reviews = document["acceptance"], document["problems"], document["value_reviews"]
    start = parse_time(acceptance["accepted_at"] if acceptance else document["opportunity"]["step_entered_at"])
    from_day = (start.date() + timedelta(days=params["from_days"])).isoformat()
    reviewed = {(r["task_id"], r["problem_id"]) for r in reviews}
    unreviewed = [{"task_id": t["id"], "title": t["title"],
                   "problems": [p["id"] for p in problems if (t["id"], p["id"]) not in reviewed][:20]}
                  for t in document["tasks"] if t["kind"] == "check_in" and t["completed"] and t["due_date"] >= from_day]
    unreviewed = [u for u in unreviewed if u["problems"]]
    latest: dict[str, Mapping[str, Any]] = {}
    for review in sorted(reviews, key=lambda r: (r["reviewed_on"], r["created_at"])):
        latest[review["problem_id"]] = review
    unsolved = [{"problem_id": r["problem_id"], "reviewed_on": r["reviewed_on"], "cost_now": r["cost_now"]}
                for r in latest.values() if not r["solved"]]
    if not unreviewed and not unsolved:
        return None
    return {"unreviewed": unreviewed[:20], "unsolved": unsolved[:20]}


class TaskKindsParams(Params):
    """The kinds of task the check reads: those of `kinds` (every kind when empty) but those of `other_than`."""

    kinds: list[TaskKind] = Field(default_factory=list)
    other_than: list[TaskKind] = Field(default_factory=list)


def _of_kinds(document: Mapping[str, Any], params: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The deal's tasks of the kinds asked for."""
    kinds, other_than = params.get("kinds") or (), params.get("other_than") or ()
    return [t for t in document["tasks"] if (not kinds or t["kind"] in kinds) and t["kind"] not in other_than]


def _task_shown(task: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": task["id"], "title": task["title"], "due_date": task["due_date"], "owner": task["owner"],
            "team_id": task["team_id"]}


@check("tasks_on_time", TaskKindsParams)
def tasks_on_time(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """No task (of the kinds asked for) is past its due date and still open."""
    day = today(document)
    overdue = [_task_shown(t) for t in _of_kinds(document, params) if not t["completed"] and t["due_date"] < day]
    return {"tasks": overdue[:20], "count": len(overdue)} if overdue else None


@check("tasks_done", TaskKindsParams)
def tasks_done(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
    """Every task (of the kinds asked for) is done."""
    open_tasks = [_task_shown(t) for t in _of_kinds(document, params) if not t["completed"]]
    return {"tasks": open_tasks[:20], "count": len(open_tasks)} if open_tasks else None
