"""Generated API testing: Schemathesis sends what the contract allows, and what it refuses, to every
operation as each role, and checks every answer against the contract (no 5xx, documented status
codes and content types, bodies matching their schemas, invalid input rejected, valid input accepted).

Schemathesis's own check that schema-valid data is accepted takes any 422 as a failure; ours takes a
refusal of valid data only for a reason listed below, which no schema can state (an id of a record
that does not exist, a stale If-Match, a gate refusing a move, a role the route does not allow...)."""

import os
import re
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode, checks

from app.phases.catalog import RECORD_KINDS
from app.phases.records import RecordKind
from tests.conftest import WATER_DEAL, Workplace
from tests.test_access import BODIES

EXAMPLES = int(os.environ.get("DEALGATE_FUZZ_EXAMPLES", "2"))  # per operation, role and mode; `make fuzz` raises it
ACTING = {"rep": "rep.alex", "manager": "rep.kim", "ops": "ops.lee", "admin": "admin", "integration": "crm.sync"}


# `make test` fuzzes as the widest and the narrowest role on both databases, and as the two roles between them
# whose routes differ most (ops: processes; integration: the CRM's routes) on SQLite: the contract is the same
# for every database, what the database adds is its own refusals of values, and the access matrix
# (test_access.py) checks every role on every route. `make fuzz` runs every role on both.
ROLES = {"sqlite": ("admin", "rep"), "postgresql": ("admin", "rep")}
if "DEALGATE_FUZZ_EXAMPLES" in os.environ:
    ROLES = {backend: tuple(ACTING) for backend in ROLES}

# Why the server may refuse a request the contract allows, by problem type; the README lists the same.
REFUSED_TYPES = {
    "precondition-failed": "If-Match names a version other than the current one",
    "precondition-required": "the workspace requires If-Match (a setting one request may have just turned on)",
    "not-found": "an id or step in the path names nothing in the workspace, or a record not recorded yet",
    "forbidden": "the caller's role may not do this (x-policy), nor to this deal, nor this move or owner",
    "gate-blocked": "a gate refuses the move until its data is recorded",
    "move-not-allowed": "the process has no such move from where the deal stands",
    "reason-required": "this move must be explained",
    "deal-closed": "the deal is won, lost or disqualified",
    "complaint-verified": "the complaint was verified with the customer: it no longer changes",
    "handover-incomplete": "a handover plan that names no successor or note for an account",
    "user-still-holds": "a user who still holds deals, accounts, tasks or complaints is not deactivated",
    "conflict": "the write clashes with what is stored: a published version, a key in use, a record others name",
    "limit-exceeded": "a deal or workspace holds as many as it may",
    "idempotency-key-reused": "the Idempotency-Key came before with another request",
    "idempotency-key-in-use": "a request with the Idempotency-Key is still running",
    "busy": "a dry run of the workspace is running",
}
# And why a value the contract allows may be refused (422 validation-error), by the message of each error.
REFUSED_VALUES = {
    r"^no (stakeholder|problem) \S+ under this opportunity$|^no (active )?user .* in this workspace$|^no such team$"
    r"|^no team \S+ in this workspace$|^no such user$|^named twice in the plan$"
    r"|^not a seller of this workspace$|^unknown or unpublished process$":
        "a reference to a record, user, team or process that does not exist",
    r"^unknown cursor$": "a cursor the service did not issue",
    r"^Unknown (phase|step|reason_code) ": "a step or phase no process of the workspace has (processes are data)",
    r"^The process has \d+ problem": "a process whose content breaks its own rules, each error named",
    r"^Input should be a valid integer$": "an integer written with a decimal point: JSON Schema counts 10.0 as "
                                          "an integer, the server never takes a float for a whole number",
    r"objection": "an objection's path: open, qualified (with what lies beneath it), resolved (with how)",
    r"complaint": "a complaint's path: resolved with its root cause and actions, verified with the customer's check, "
                  "dated no later than now; on a deal of its account",
    r"^empty justification$|^applies only to a forward move$": "an override of a move that is not forward",
    r"^address not allowed$": "a webhook URL naming a private address",
    r"names a route": "a process key that names a route",
    r"^no seller for this user$|is not a seller of this workspace$|^a new deal needs its account$":
        "a CRM user in no owner map (and no default owner), or a deal new to the service sent without its account",
    r"^unmapped stage$|^no such step in this process$|is no step of a published process":
        "a CRM stage the stage map does not hold, or a map naming a step no process has",
    r"^too many systems$": "a record would carry the ids of more systems than it may",
    r"^after \d{4}-\d{2}-\d{2} and at most \d+ days ahead$|^empty reason$":
        "a snooze to a day already past or more than a year ahead, or without a reason",
}


def _unexplained(problem: dict[str, Any]) -> list[str]:
    """What in the refusal of a schema-valid request no listed reason covers."""
    if problem["type"].rsplit("/", 1)[-1] in REFUSED_TYPES:
        return []
    if not problem["type"].endswith("/validation-error"):
        return [problem["detail"]]
    whole = re.match(r"The process has", problem["detail"])  # its errors are the process's own
    messages = [problem["detail"]] if whole else [e["message"] for e in problem.get("errors") or []]
    return [m for m in messages if not any(re.search(pattern, m) for pattern in REFUSED_VALUES)]


def valid_data_is_accepted(ctx: Any, response: Any, case: Any) -> None:
    """Schemathesis's positive-data check: a request the contract allows is not refused (4xx) but for a
    listed reason."""
    if case.meta.generation.mode.is_positive and 400 <= response.status_code < 500:
        unexplained = _unexplained(response.json())
        assert not unexplained, f"valid data refused ({response.status_code}): {unexplained}"


def _referred(kind: RecordKind) -> dict[str, RecordKind]:
    """The kinds a kind's single-id fields name, by field."""
    return {name: next(k for k in RECORD_KINDS.values() if k.model is model)
            for name, model in kind.references.items() if name.endswith("_id")}


@pytest.mark.parametrize("role", list(ACTING))
def test_every_answer_matches_the_contract(app: FastAPI, workplace: Workplace, role: str, backend: str) -> None:
    if role not in ROLES[backend]:
        pytest.skip(f"make fuzz runs this role on {backend}; make test runs {', '.join(ROLES[backend])} there")
    admin = TestClient(app, headers=workplace.as_user("admin"))
    deal = admin.post("/v1/opportunities", json={**WATER_DEAL, "owner": "rep.alex"}).json()["id"]
    records = {}  # one record of each listed kind, so record routes reach the code behind the 404
    for kind in RECORD_KINDS.values():  # in the catalog's order: a record's references come before it
        if not kind.singleton:
            body = {**BODIES[kind.path], **{name: records[target.path] for name, target in _referred(kind).items()
                                            if name in BODIES[kind.path]}}
            created = admin.post(f"/v1/opportunities/{deal}/{kind.path}", json=body)
            assert created.status_code == 201, (kind.path, created.text)
            records[kind.path] = created.json()["id"]
    headers = workplace.as_user(ACTING[role])
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 90
    sent = dict.fromkeys(GenerationMode, 0)
    for operation in operations:
        # Ids that exist where an operation takes them, so the deeper code runs (other values are generated).
        segments = operation.path.split("/")
        known = {name: value for name, value in (
            ("opportunity_id", deal), ("record_id", records.get(segments[-2])), ("key", "complex-sale"),
            ("version", 1)) if "{" + name + "}" in operation.path and value is not None} or None
        for mode in GenerationMode:
            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=known))
            @settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def check(case: Any) -> None:
                sent[mode] += 1
                case.call_and_validate(headers=headers, excluded_checks=[checks.positive_data_acceptance],
                                       additional_checks=[valid_data_is_accepted])

            try:
                check()
            except Unsatisfiable:  # nothing in the operation could be made invalid
                assert mode is GenerationMode.NEGATIVE, (operation.method, operation.path)
    print(f"{role}: {sent[GenerationMode.POSITIVE]} valid and {sent[GenerationMode.NEGATIVE]} invalid requests "
          f"over {len(operations)} operations")
    assert sent[GenerationMode.POSITIVE] >= len(operations) and sent[GenerationMode.NEGATIVE] > len(operations) / 2
